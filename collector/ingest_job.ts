/**
 * The messages between the collector's main thread and its ingest workers
 * (collector/ingest_pool.ts, collector/ingest_worker.ts), and the placing of one batch, which a
 * worker runs and a test can run on any thread. Pure apart from the store it writes.
 */
import { frameLength } from '../shared/frame_codec.ts';
import type { GuardLimits } from '../shared/msgpack_guard.ts';
import type { Sample } from '../shared/protocol.ts';
import { decodeSampleFast } from '../shared/sample_decoder.ts';
import type { ShmStore } from '../shared/shm_store.ts';
import { placeSample, PLACED_IN_HISTORY, STORED_AS_LATEST, writeLatest, type PlacementState } from './sample_placement.ts';

/** One connection's frames of one read, for a worker to decode and place. */
export interface IngestJob {
  /** The frames' bodies, each behind its 4-byte big-endian length, as on the wire. Transferred. */
  frames: Uint8Array;
  /** The host's placement state when the batch began (HostTable.placementOf). */
  slot: number;
  clockOffsetMs: number;
  newestMs: number;
  samples: number;
  /** The connection's last sample seq: seq must keep rising. */
  lastSeq: number;
  /** When the frames were received (collector clock), ms. */
  nowMs: number;
  limits: GuardLimits;
}

/** What a worker did with a job. Frames from `offset` on are the main thread's, in order. */
export interface IngestResult {
  /** The job's buffer, handed back. */
  frames: Uint8Array;
  /** Frames decoded and placed, from the start. */
  handled: number;
  /** Byte offset in `frames` of the first frame not handled (frames.length when all were). */
  offset: number;
  lastSeq: number;
  newestMs: number;
  /** Samples that became the latest reading. */
  stored: number;
  /** Some sample was older than the latest reading: placed in the history only. */
  history: boolean;
  /** Pairs of placed time and power_w (NaN when absent), one per sample placed in the history. */
  placed: Float64Array;
  /** The last sample that became the latest reading. */
  latest: Sample | null;
  /** Set when placing threw (a defect): the main thread takes the frames from `offset`. */
  error?: string;
}

/**
 * Decodes and places the job's samples in order, stopping at the first frame that is not a
 * sample of the usual shape (decodeSampleFast declines it: a facts message, a malformed frame, an
 * unusual sample) or whose seq does not rise: the main thread handles that frame and the rest
 * exactly as it handles any frame, errors included. So a batch changes where frames are
 * decoded, never what a frame does.
 */
export function runIngestJob(store: ShmStore, job: IngestJob): IngestResult {
  const frames = job.frames;
  const st: PlacementState = { slot: job.slot, clockOffsetMs: job.clockOffsetMs, newestMs: job.newestMs, samples: job.samples };
  const placed: number[] = [];
  let lastSeq = job.lastSeq;
  let offset = 0;
  let handled = 0;
  let history = false;
  let latest: Sample | null = null;
  let error: string | undefined;
  try {
    while (offset + 4 <= frames.length) {
      const len = frameLength(frames, offset);
      if (offset + 4 + len > frames.length) break;
      const sample = decodeSampleFast(frames.subarray(offset + 4, offset + 4 + len), job.limits);
      if (sample === null || sample.seq <= lastSeq) break;
      lastSeq = sample.seq;
      // The slot is written once, with the newest sample stored as latest, after the loop.
      const done = placeSample(store, st, sample, job.nowMs, true);
      if ((done & PLACED_IN_HISTORY) !== 0) placed.push(sample.ts + st.clockOffsetMs, sample.power_w ?? Number.NaN);
      if ((done & STORED_AS_LATEST) !== 0) latest = sample;
      else history = true;
      offset += 4 + len;
      handled++;
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  try {
    if (latest !== null) writeLatest(store, st.slot, latest, st.samples, job.nowMs);
  } catch (err) {
    error ??= err instanceof Error ? err.message : String(err);
  }
  return {
    frames, handled, offset, lastSeq, newestMs: st.newestMs, stored: st.samples - job.samples, history,
    placed: Float64Array.from(placed), latest, ...(error === undefined ? {} : { error }),
  };
}

/** Lays `bodies` out as length-prefixed frames in one new buffer (an IngestJob's `frames`). */
export function packFrames(bodies: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const b of bodies) total += 4 + b.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const b of bodies) {
    const n = b.length;
    out[at] = n >>> 24;
    out[at + 1] = (n >>> 16) & 0xff;
    out[at + 2] = (n >>> 8) & 0xff;
    out[at + 3] = n & 0xff;
    out.set(b, at + 4);
    at += 4 + n;
  }
  return out;
}

/** The bodies of length-prefixed frames in `frames` from byte `offset` on (views, not copies). */
export function unpackFrames(frames: Uint8Array, offset: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = offset;
  while (at + 4 <= frames.length) {
    const len = frameLength(frames, at);
    if (at + 4 + len > frames.length) break;
    out.push(frames.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}
