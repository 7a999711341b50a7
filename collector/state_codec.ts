/**
 * The collector's state file: its shared memory (latest readings, history rings, which host owns
 * which slot) as a snapshot, so that a restart, even after kill -9, loses at most one save
 * period. Pure: bytes in, bytes out; collector/state_saver.ts does the file I/O.
 *
 *   gzip(  0 MAGIC u32 BE 'CSST' | 4 FORMAT u32 BE | 8 SAVED_AT_MS f64 BE | 16 BODY_BYTES f64 BE
 *         | 24 EXTRA_BYTES f64 BE | 32 body: ShmStore.snapshot() (its own header names its layout)
 *         | 32 + BODY_BYTES: extra, EXTRA_BYTES of UTF-8 JSON (format 2: the energy counters) )
 *
 * Format 1 (no extra section; bytes 24..31 were reserved and zero) is still read.
 *
 * gzip carries a CRC-32 and the length of what it holds, so a torn or truncated write is found
 * on reading, and the mostly empty table space of each slot costs almost nothing on disk.
 */
import { constants as bufferConstants } from 'node:buffer';
import { gunzipSync, gzipSync } from 'node:zlib';
import { StateFileError } from '../shared/errors.ts';
import { ShmStore, type SnapshotStream } from '../shared/shm_store.ts';

/** 'CSST' as a big-endian 32-bit integer. */
export const STATE_MAGIC = 0x43535354;
/** Bumped when the file's own header changes; the snapshot inside carries the shared-memory layout version. */
export const STATE_FORMAT = 2;
/** Formats this code reads. */
const READABLE_FORMATS: ReadonlySet<number> = new Set([1, 2]);
/**
 * Largest extra section the collector reads back, bytes: the energy counters of a full store at
 * the largest history settings come to about 0.7 GB; at the defaults, 8 KB a host.
 */
export const MAX_EXTRA_BYTES = 1 << 30;
/** The gzip level of every state file: the fastest; the empty table space compresses well at any level. */
export const STATE_GZIP_LEVEL = 1;
export const STATE_HEADER_BYTES = 32;
/** Fast compression: the file is rewritten every few seconds, and level 1 already removes the empty space. */

export interface DecodedState {
  store: ShmStore;
  savedAtMs: number;
  /** The extra section (format 2), null when the file has none. */
  extra: Buffer | null;
}

/** A state file's extra section: one array of bytes, or several in order (EnergyService.stateBytes). */
export type ExtraSection = Uint8Array | readonly Uint8Array[];

function extraParts(extra: ExtraSection | null): readonly Uint8Array[] {
  return extra === null ? [] : extra instanceof Uint8Array ? [extra] : extra;
}

function stateHeader(bodyBytes: number, savedAtMs: number, extra: ExtraSection | null): Buffer {
  const header = Buffer.alloc(STATE_HEADER_BYTES);
  header.writeUInt32BE(STATE_MAGIC, 0);
  header.writeUInt32BE(STATE_FORMAT, 4);
  header.writeDoubleBE(savedAtMs, 8);
  header.writeDoubleBE(bodyBytes, 16);
  header.writeDoubleBE(extraParts(extra).reduce((n, p) => n + p.byteLength, 0), 24);
  return header;
}

function stateBytes(snapshot: Uint8Array, savedAtMs: number, extra: Uint8Array | null): Buffer {
  const header = stateHeader(snapshot.byteLength, savedAtMs, extra);
  return Buffer.concat(extra ? [header, snapshot, extra] : [header, snapshot]);
}

/** The state file's bytes for a snapshot taken at `savedAtMs`, with an optional extra section. */
export function encodeState(snapshot: Uint8Array, savedAtMs: number, extra: Uint8Array | null = null): Buffer {
  return gzipSync(stateBytes(snapshot, savedAtMs, extra), { level: STATE_GZIP_LEVEL });
}

/**
 * The uncompressed bytes of a state file, in order, for a saver that streams them through gzip
 * to disk: the file header, the snapshot's chunks as the stream copies them, then the extra
 * section. gzip(concatenation) is a file decodeState reads, as encodeState's is.
 */
export function* stateChunks(snapshot: SnapshotStream, savedAtMs: number, extra: ExtraSection | null = null): Generator<Uint8Array> {
  yield stateHeader(snapshot.byteLength, savedAtMs, extra);
  yield* snapshot.chunks();
  for (const part of extraParts(extra)) if (part.byteLength > 0) yield part;
}


/**
 * Reads a state file's bytes. `maxBytes` bounds what decompression may produce, checked while
 * inflating, before the memory is spent. Throws StateFileError for anything that is not a whole,
 * intact file of this format and layout. `maxExtraBytes` bounds the extra section the same way.
 */
export function decodeState(file: Uint8Array, maxBytes: number, maxExtraBytes = maxBytes): DecodedState {
  let raw: Buffer;
  try {
    raw = gunzipSync(file, { maxOutputLength: Math.min(maxBytes + STATE_HEADER_BYTES + maxExtraBytes, bufferConstants.MAX_LENGTH) });
  } catch (err) {
    throw new StateFileError(`not an intact state file: ${(err as Error).message}`, { cause: err });
  }
  if (raw.length < STATE_HEADER_BYTES) throw new StateFileError(`state file holds ${raw.length} bytes, less than its header`);
  if (raw.readUInt32BE(0) !== STATE_MAGIC) throw new StateFileError('not a state file (bad magic)');
  const format = raw.readUInt32BE(4);
  if (!READABLE_FORMATS.has(format)) throw new StateFileError(`state file format ${format}, this collector reads ${[...READABLE_FORMATS].join(' and ')}`);
  const savedAtMs = raw.readDoubleBE(8);
  const bodyBytes = raw.readDoubleBE(16);
  const extraBytes = format >= 2 ? raw.readDoubleBE(24) : 0;
  if (!Number.isSafeInteger(bodyBytes) || bodyBytes < 0 || bodyBytes > maxBytes || !Number.isSafeInteger(extraBytes) || extraBytes < 0 || extraBytes > maxExtraBytes) {
    throw new StateFileError(`state file header names impossible sizes (${bodyBytes} + ${extraBytes} bytes)`);
  }
  if (bodyBytes + extraBytes !== raw.length - STATE_HEADER_BYTES) {
    throw new StateFileError(`state file says ${bodyBytes} + ${extraBytes} bytes of snapshot and extra, holds ${raw.length - STATE_HEADER_BYTES}`);
  }
  // A fresh copy: the store needs its own 8-byte aligned buffer.
  const body = new ArrayBuffer(bodyBytes);
  new Uint8Array(body).set(raw.subarray(STATE_HEADER_BYTES, STATE_HEADER_BYTES + bodyBytes));
  const extra = extraBytes > 0 ? raw.subarray(STATE_HEADER_BYTES + bodyBytes) : null;
  try {
    return { store: new ShmStore(body), savedAtMs, extra };
  } catch (err) {
    throw new StateFileError(`state file snapshot unreadable: ${(err as Error).message}`, { cause: err });
  }
}
