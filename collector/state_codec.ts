/**
 * The collector's state file: its shared memory (latest readings, history rings, which host owns
 * which slot) as a snapshot, so that a restart, even after kill -9, loses at most one save
 * period. Pure: bytes in, bytes out; collector/state_saver.ts does the file I/O.
 *
 *   gzip(  0 MAGIC u32 BE 'CSST' | 4 FORMAT u32 BE | 8 SAVED_AT_MS f64 BE | 16 BODY_BYTES f64 BE
 *         | 24..31 reserved | 32 body: ShmStore.snapshot() (its own header names its layout) )
 *
 * gzip carries a CRC-32 and the length of what it holds, so a torn or truncated write is found
 * on reading, and the mostly empty table space of each slot costs almost nothing on disk.
 */
import { constants as bufferConstants } from 'node:buffer';
import { promisify } from 'node:util';
import { gunzipSync, gzip, gzipSync } from 'node:zlib';

const gzipAsync = promisify(gzip);
import { StateFileError } from '../shared/errors.ts';
import { ShmStore } from '../shared/shm_store.ts';

/** 'CSST' as a big-endian 32-bit integer. */
export const STATE_MAGIC = 0x43535354;
/** Bumped when the file's own header changes; the snapshot inside carries the shared-memory layout version. */
export const STATE_FORMAT = 1;
export const STATE_HEADER_BYTES = 32;
/** Fast compression: the file is rewritten every few seconds, and level 1 already removes the empty space. */
const GZIP_LEVEL = 1;

export interface DecodedState {
  store: ShmStore;
  savedAtMs: number;
}

function stateBytes(snapshot: Uint8Array, savedAtMs: number): Buffer {
  const header = Buffer.alloc(STATE_HEADER_BYTES);
  header.writeUInt32BE(STATE_MAGIC, 0);
  header.writeUInt32BE(STATE_FORMAT, 4);
  header.writeDoubleBE(savedAtMs, 8);
  header.writeDoubleBE(snapshot.byteLength, 16);
  return Buffer.concat([header, snapshot]);
}

/** The state file's bytes for a snapshot taken at `savedAtMs`. */
export function encodeState(snapshot: Uint8Array, savedAtMs: number): Buffer {
  return gzipSync(stateBytes(snapshot, savedAtMs), { level: GZIP_LEVEL });
}

/** encodeState, compressed on libuv's thread pool so that the collector's event loop is not held. */
export function encodeStateAsync(snapshot: Uint8Array, savedAtMs: number): Promise<Buffer> {
  return gzipAsync(stateBytes(snapshot, savedAtMs), { level: GZIP_LEVEL });
}

/**
 * Reads a state file's bytes. `maxBytes` bounds what decompression may produce, checked while
 * inflating, before the memory is spent. Throws StateFileError for anything that is not a whole,
 * intact file of this format and layout.
 */
export function decodeState(file: Uint8Array, maxBytes: number): DecodedState {
  let raw: Buffer;
  try {
    raw = gunzipSync(file, { maxOutputLength: Math.min(maxBytes + STATE_HEADER_BYTES, bufferConstants.MAX_LENGTH) });
  } catch (err) {
    throw new StateFileError(`not an intact state file: ${(err as Error).message}`, { cause: err });
  }
  if (raw.length < STATE_HEADER_BYTES) throw new StateFileError(`state file holds ${raw.length} bytes, less than its header`);
  if (raw.readUInt32BE(0) !== STATE_MAGIC) throw new StateFileError('not a state file (bad magic)');
  const format = raw.readUInt32BE(4);
  if (format !== STATE_FORMAT) throw new StateFileError(`state file format ${format}, this collector reads ${STATE_FORMAT}`);
  const savedAtMs = raw.readDoubleBE(8);
  const bodyBytes = raw.readDoubleBE(16);
  if (bodyBytes !== raw.length - STATE_HEADER_BYTES) throw new StateFileError(`state file says ${bodyBytes} bytes of snapshot, holds ${raw.length - STATE_HEADER_BYTES}`);
  // A fresh copy: the store needs its own 8-byte aligned buffer.
  const body = new ArrayBuffer(bodyBytes);
  new Uint8Array(body).set(raw.subarray(STATE_HEADER_BYTES));
  try {
    return { store: new ShmStore(body), savedAtMs };
  } catch (err) {
    throw new StateFileError(`state file snapshot unreadable: ${(err as Error).message}`, { cause: err });
  }
}
