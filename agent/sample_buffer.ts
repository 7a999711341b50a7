/**
 * The samples the agent holds for the collector: those not yet written on the current
 * connection, and those written but not yet acknowledged. Oldest first, bounded by a count and
 * by encoded bytes. Pure: no sockets; the sender writes what `takeNext()` hands it.
 *
 *   head                      written (unacked)     unsent
 *    |  oldest ...  [ seq a+1 .. seq a+sent ]  [ not yet on this connection ... newest ]
 *
 * `seq` belongs to the connection: `rewind()` (a new connection) puts every unacked sample back
 * among the unsent, in its place at the front, and the next one written gets seq 1 again.
 */
import { encodeFrame, type Message } from '../shared/frame_codec.ts';
import { MSG_SAMPLE } from '../shared/protocol.ts';

/** Default time the agent keeps samples while the collector is away, seconds (10 minutes). */
export const DEFAULT_BUFFER_SECONDS = 600;
/** Default bound on the bytes of samples held, as encoded frames (8 MiB). */
export const DEFAULT_BUFFER_MAX_BYTES = 8 * 1024 * 1024;

/** How many samples cover `seconds` at one sample every `intervalMs`. */
export function samplesFor(seconds: number, intervalMs: number): number {
  return Math.floor((seconds * 1000) / intervalMs);
}

/** Room left in a sample's byte count for its seq: up to 9 bytes on the wire, 1 when measured (seq 0). */
const SEQ_SLACK_BYTES = 8;
/** Compact the array once this many slots at its head are spent (and they are over half of it). */
const COMPACT_AFTER = 1024;

export interface BufferedSample {
  /** Push order, from 1: tells what was queued before a given moment from what came after. */
  readonly id: number;
  /** When the sample was taken, ms since the epoch (agent's clock); travels unchanged on every resend. */
  readonly ts: number;
  /** The sample's fields except `type` and `seq`, `ts` first. */
  readonly body: Message;
  /** Its frame's size on the wire, bytes (header included). */
  readonly bytes: number;
}

/** One sample as written on the current connection. */
export interface SampleFrame {
  seq: number;
  sample: BufferedSample;
}

/** The frame of `sample` with `seq`; fields in wire order: type, seq, ts, readings, missing. */
export function sampleFrame(sample: BufferedSample, seq: number): Buffer {
  return encodeFrame({ type: MSG_SAMPLE, seq, ...sample.body });
}

export class SampleBuffer {
  /** Spent slots before `head` are cleared (undefined) so their samples can be freed at once. */
  private items: Array<BufferedSample | undefined> = [];
  private head = 0;
  /** How many samples from the head are written on this connection and wait for an ack. */
  private sent = 0;
  /** seq of the last sample written on this connection (0: none yet). */
  private lastSeq = 0;
  private heldBytes = 0;
  private nextId = 1;

  /**
   * `maxSamples` (0: keep nothing that is not written at once) and `maxBytes` bound what is held;
   * `trim()` enforces them.
   */
  constructor(readonly maxSamples: number, readonly maxBytes: number) {
    if (!Number.isSafeInteger(maxSamples) || maxSamples < 0) throw new RangeError(`maxSamples must be a whole number >= 0, got ${maxSamples}`);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a whole number >= 0, got ${maxBytes}`);
  }

  /** Samples held: unsent and unacknowledged. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Bytes held, as encoded frames. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Samples not yet written on this connection. */
  get unsent(): number {
    return this.size - this.sent;
  }

  /** id of the newest sample pushed so far (0: none). */
  get lastId(): number {
    return this.nextId - 1;
  }

  /**
   * Appends a sample (newest). Call `trim()` after: the bounds are not enforced here.
   * `frameBytes`: the size of its frame with seq 0, when the caller has just encoded it (fitSampleSized).
   */
  push(ts: number, body: Message, frameBytes?: number): BufferedSample {
    const bytes = (frameBytes ?? encodeFrame({ type: MSG_SAMPLE, seq: 0, ...body }).length) + SEQ_SLACK_BYTES;
    const sample: BufferedSample = { id: this.nextId++, ts, body, bytes };
    this.items.push(sample);
    this.heldBytes += bytes;
    return sample;
  }

  /** The oldest unsent sample with the next seq of this connection; it now waits for an ack. */
  takeNext(): SampleFrame | undefined {
    const sample = this.items[this.head + this.sent];
    if (sample === undefined) return undefined;
    this.sent++;
    this.lastSeq++;
    return { seq: this.lastSeq, sample };
  }

  /** The collector accepted everything up to `seq` on this connection: those are let go. Returns how many. */
  ack(seq: number): number {
    const firstSeq = this.lastSeq - this.sent + 1;
    const n = Math.max(0, Math.min(this.sent, Math.floor(seq) - firstSeq + 1));
    for (let i = 0; i < n; i++) this.shift();
    return n;
  }

  /**
   * Lets go of every written sample without an ack: for a collector that sends none, or one that
   * refused one of them (it would be refused again on every resend). Returns how many.
   */
  releaseWritten(): number {
    const n = this.sent;
    while (this.sent > 0) this.shift();
    return n;
  }

  /** A new connection: unacked samples become unsent again, at the front, and seq restarts at 1. */
  rewind(): void {
    this.sent = 0;
    this.lastSeq = 0;
  }

  /**
   * Drops the oldest samples until both bounds hold. A written one goes first (it most likely
   * arrived: it merely will not be resent); returns how many *unsent* ones were lost.
   */
  trim(): number {
    let lost = 0;
    while (this.size > 0 && (this.size > this.maxSamples || this.heldBytes > this.maxBytes)) {
      if (this.sent === 0) lost++;
      this.shift();
    }
    return lost;
  }

  /** Bytes of unsent samples pushed after `id`: what queued up behind a backlog. */
  unsentBytesAfter(id: number): number {
    let bytes = 0;
    for (let i = this.items.length - 1; i >= this.head + this.sent; i--) {
      const sample = this.items[i]!;
      if (sample.id <= id) break;
      bytes += sample.bytes;
    }
    return bytes;
  }

  /** Drops everything; returns how many were held. */
  clear(): number {
    const n = this.size;
    this.items = [];
    this.head = 0;
    this.sent = 0;
    this.heldBytes = 0;
    return n;
  }

  /** Removes the oldest sample, written or not; the seq of the written ones after it stays as it was. */
  private shift(): void {
    const sample = this.items[this.head];
    if (sample === undefined) return;
    this.heldBytes -= sample.bytes;
    this.items[this.head] = undefined;
    this.head++;
    if (this.sent > 0) this.sent--;
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
