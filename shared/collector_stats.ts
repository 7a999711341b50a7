/**
 * The collector's own health, in a small SharedArrayBuffer of 64-bit counters and gauges
 * (layout: the "Collector stats" section of shared/shm_layout.ts). The collector's main thread
 * counts (collector/server.ts, and the alert and webhook wiring); the dashboard worker attaches
 * to the same buffer and reads a snapshot for /metrics.
 *
 * Like shared/shm_store.ts for the slots, this is the one module that touches these bytes. Each
 * field is updated with one Atomics operation and read with Atomics.load, so no value is ever
 * torn; fields are read one by one, so a snapshot is not a single instant (fine for counters
 * scraped every few seconds). A counter only grows, by Atomics.add; a gauge is set or moved.
 */
import { ERROR_CODES, ShmError, type ErrorCode } from './errors.ts';
import {
  STATS_BYTES, STATS_CODE_SLOTS, STATS_LAYOUT_VERSION, STATS_MAGIC, STATS_OFF_ALERTS_FIRING, STATS_OFF_CONNECTED_AGENTS,
  STATS_OFF_CONNECTIONS_ACCEPTED, STATS_OFF_CONNECTIONS_REFUSED, STATS_OFF_FRAMES_RECEIVED, STATS_OFF_FRAMES_REJECTED,
  STATS_OFF_LAYOUT_VERSION, STATS_OFF_MAGIC, STATS_OFF_SESSIONS_CLOSED_BY_PEER, STATS_OFF_SESSIONS_ENDED,
  STATS_OFF_STARTED_AT_MS, STATS_OFF_WEBHOOK_DELIVERED, STATS_OFF_WEBHOOK_DROPPED, STATS_OFF_WEBHOOK_FAILED,
} from './shm_layout.ts';

/** Every error code, in the order of shared/errors.ts: a code's position is its counter slot. */
export const STATS_CODES: readonly ErrorCode[] = Object.freeze(Object.values(ERROR_CODES));
if (STATS_CODES.length > STATS_CODE_SLOTS) {
  throw new RangeError(`${STATS_CODES.length} error codes do not fit the ${STATS_CODE_SLOTS} counter slots of the stats layout`);
}
const CODE_INDEX: ReadonlyMap<string, number> = new Map(STATS_CODES.map((c, i) => [c, i]));

/** How a webhook delivery ended: answered 2xx; given up after its retries; never sent (queue full). */
export const WEBHOOK_RESULTS = Object.freeze(['delivered', 'failed', 'dropped'] as const);
export type WebhookResult = (typeof WEBHOOK_RESULTS)[number];
const WEBHOOK_OFFSET: Readonly<Record<WebhookResult, number>> = Object.freeze({
  delivered: STATS_OFF_WEBHOOK_DELIVERED, failed: STATS_OFF_WEBHOOK_FAILED, dropped: STATS_OFF_WEBHOOK_DROPPED,
});

/** The key of sessions_ended_total for a session the agent ended by closing its connection (no error code). */
export const PEER_CLOSED = 'peer_closed';

/** The store facts a snapshot can carry besides the counters (ShmStore has them). */
export interface StoreFacts {
  readonly capacity: number;
  slotsUsed(): number;
}

/** Every field as a plain number; by-code maps hold every code of ERROR_CODES, zeros included. */
export interface CollectorStatsSnapshot {
  /** When the collector started, ms since the epoch (collector clock). */
  started_at_ms: number;
  /** Sessions welcomed and not yet ended. */
  connected_agents: number;
  /** Connections that passed admission (before any TLS handshake or hello). */
  connections_accepted_total: number;
  /** Frames decoded from agents, every type. */
  frames_received_total: number;
  /** Sessions ended because of what the agent sent (bad frame, bad message, refused hello), by error code. */
  frames_rejected_total: Record<string, number>;
  /** Every session that ended, by the error code it ended with, plus PEER_CLOSED. */
  sessions_ended_total: Record<string, number>;
  /** Connections refused at admission (too many, rate limited, shutting down), by error code. */
  connections_refused_total: Record<string, number>;
  /** Alerts in the firing state now. */
  alerts_firing: number;
  webhook_deliveries_total: Record<WebhookResult, number>;
  /** Slots in the store, and slots handed out so far: null unless snapshot() was given the store. */
  capacity: number | null;
  slots_used: number | null;
}

export class CollectorStats {
  readonly buffer: SharedArrayBuffer;
  private readonly i64: BigInt64Array;

  /** A new, zeroed stats buffer; `nowMs` is the collector's start time. */
  static create(nowMs = Date.now()): CollectorStats {
    const sab = new SharedArrayBuffer(STATS_BYTES);
    const i64 = new BigInt64Array(sab);
    i64[STATS_OFF_MAGIC >> 3] = BigInt(STATS_MAGIC);
    i64[STATS_OFF_LAYOUT_VERSION >> 3] = BigInt(STATS_LAYOUT_VERSION);
    i64[STATS_OFF_STARTED_AT_MS >> 3] = BigInt(Math.trunc(nowMs));
    // Handing the buffer to a worker (postMessage) publishes these plain stores.
    return new CollectorStats(sab);
  }

  /** Attaches to an existing stats buffer (in the dashboard worker). Throws ShmError if it is not one. */
  constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError('collector stats need a SharedArrayBuffer');
    if (buffer.byteLength !== STATS_BYTES) throw new ShmError(`stats buffer of ${buffer.byteLength} bytes, this code reads ${STATS_BYTES}`);
    this.buffer = buffer;
    this.i64 = new BigInt64Array(buffer);
    const magic = Atomics.load(this.i64, STATS_OFF_MAGIC >> 3);
    const version = Atomics.load(this.i64, STATS_OFF_LAYOUT_VERSION >> 3);
    if (magic !== BigInt(STATS_MAGIC)) throw new ShmError(`bad stats magic 0x${magic.toString(16)}`);
    if (version !== BigInt(STATS_LAYOUT_VERSION)) throw new ShmError(`stats layout version ${version}, this code reads ${STATS_LAYOUT_VERSION}`);
  }

  // Writers: the collector's main thread. One Atomics operation each, so cheap on the hot path.

  connectionAccepted(): void {
    Atomics.add(this.i64, STATS_OFF_CONNECTIONS_ACCEPTED >> 3, 1n);
  }

  connectionRefused(code: ErrorCode): void {
    this.addByCode(STATS_OFF_CONNECTIONS_REFUSED, code);
  }

  /** A session was welcomed. Pair every call with one agentDisconnected(). */
  agentConnected(): void {
    Atomics.add(this.i64, STATS_OFF_CONNECTED_AGENTS >> 3, 1n);
  }

  agentDisconnected(): void {
    Atomics.sub(this.i64, STATS_OFF_CONNECTED_AGENTS >> 3, 1n);
  }

  /** `n` frames decoded (one call per chunk, not per frame). */
  framesReceived(n: number): void {
    if (n > 0) Atomics.add(this.i64, STATS_OFF_FRAMES_RECEIVED >> 3, BigInt(n));
  }

  frameRejected(code: ErrorCode): void {
    this.addByCode(STATS_OFF_FRAMES_REJECTED, code);
  }

  /** A session ended: with the error code it was told, or null when the agent closed the connection. */
  sessionEnded(code: ErrorCode | null): void {
    if (code === null) Atomics.add(this.i64, STATS_OFF_SESSIONS_CLOSED_BY_PEER >> 3, 1n);
    else this.addByCode(STATS_OFF_SESSIONS_ENDED, code);
  }

  setAlertsFiring(n: number): void {
    Atomics.store(this.i64, STATS_OFF_ALERTS_FIRING >> 3, BigInt(checkCount(n, 'alerts firing')));
  }

  /** Counts `n` more webhook deliveries that ended as `result`. */
  webhookDeliveries(result: WebhookResult, n = 1): void {
    Atomics.add(this.i64, webhookIndex(result), BigInt(checkCount(n, 'webhook deliveries')));
  }

  /** Sets a webhook total outright, for a sender that keeps its own totals. */
  setWebhookDeliveries(result: WebhookResult, total: number): void {
    Atomics.store(this.i64, webhookIndex(result), BigInt(checkCount(total, 'webhook deliveries')));
  }

  /** Every field as a plain number; `store` adds its capacity and slots in use. Any thread. */
  snapshot(store?: StoreFacts): CollectorStatsSnapshot {
    const webhooks = {} as Record<WebhookResult, number>;
    for (const r of WEBHOOK_RESULTS) webhooks[r] = this.load(WEBHOOK_OFFSET[r]);
    const sessions = this.byCode(STATS_OFF_SESSIONS_ENDED);
    sessions[PEER_CLOSED] = this.load(STATS_OFF_SESSIONS_CLOSED_BY_PEER);
    return {
      started_at_ms: this.load(STATS_OFF_STARTED_AT_MS),
      connected_agents: this.load(STATS_OFF_CONNECTED_AGENTS),
      connections_accepted_total: this.load(STATS_OFF_CONNECTIONS_ACCEPTED),
      frames_received_total: this.load(STATS_OFF_FRAMES_RECEIVED),
      frames_rejected_total: this.byCode(STATS_OFF_FRAMES_REJECTED),
      sessions_ended_total: sessions,
      connections_refused_total: this.byCode(STATS_OFF_CONNECTIONS_REFUSED),
      alerts_firing: this.load(STATS_OFF_ALERTS_FIRING),
      webhook_deliveries_total: webhooks,
      capacity: store ? store.capacity : null,
      slots_used: store ? store.slotsUsed() : null,
    };
  }

  private load(offset: number): number {
    return Number(Atomics.load(this.i64, offset >> 3));
  }

  private byCode(base: number): Record<string, number> {
    const out: Record<string, number> = {};
    STATS_CODES.forEach((code, i) => { out[code] = this.load(base + i * 8); });
    return out;
  }

  private addByCode(base: number, code: ErrorCode): void {
    const i = CODE_INDEX.get(code);
    // Codes come from ERROR_CODES by type; an unknown one is not worth failing a session over.
    if (i !== undefined) Atomics.add(this.i64, (base >> 3) + i, 1n);
  }
}

function webhookIndex(result: WebhookResult): number {
  if (!Object.hasOwn(WEBHOOK_OFFSET, result)) throw new TypeError(`unknown webhook result ${JSON.stringify(result)}`);
  return WEBHOOK_OFFSET[result] >> 3;
}

function checkCount(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a whole number >= 0, got ${n}`);
  return n;
}
