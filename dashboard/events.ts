/**
 * Server-Sent Events for the overview (GET /api/events). Two kinds of event:
 * - `hosts`: the whole /api/hosts payload, on connect, then when anything changed but not more
 *   often than minGapMs, and at least every maxGapMs (statuses age by the clock alone, the
 *   summary and alerts ride on it; it doubles as a keep-alive).
 * - `delta` (with a DeltaSource): every tick, the hosts whose slot changed since the last tick,
 *   `{"now_ms":N,"hosts":[...]}`, each host as /api/hosts lists it. A sample reaches the page
 *   within one tick (25 ms) instead of a snapshot's second.
 *
 * Each event is built once per tick, whatever the number of clients. A slow client never
 * makes the server queue without bound: while its socket is still draining, a newer snapshot
 * replaces whatever was waiting for it (at most one snapshot behind), deltas for it are merged
 * into a set of slots (bounded by the fleet) and built fresh when it drains, or replaced by a
 * snapshot when they cover most of the fleet; a client that drains nothing for `stallMs` is
 * dropped.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface EventHubOptions {
  /** How often the store is checked for changes, ms. */
  tickMs: number;
  /** Least time between two pushes, ms: a busy fleet changes on every tick. */
  minGapMs: number;
  /** Most time between two pushes, ms, changed or not. */
  maxGapMs: number;
  /** Streams held at once; one more is answered 503. */
  maxClients: number;
  /** A client whose socket accepted nothing for this long is closed, ms. */
  stallMs: number;
  /**
   * With deltas on, snapshots are also spaced so that they cost a client at most this many
   * bytes a second: at 10,000 hosts a snapshot is ~13 MiB, and one every 2 s would keep every
   * client (and its deltas) seconds behind. The gaps become size / rate when that is longer.
   */
  snapshotBytesPerS: number;
  now: () => number;
}

export const DEFAULT_EVENT_HUB_OPTIONS: Readonly<EventHubOptions> = Object.freeze({
  // Sample to page within a tick: 25 ms, plus the time to send ~250 hosts at 10,000 agents.
  tickMs: 25,
  // Deltas carry the samples; snapshots (1.3 MiB per 1,000 hosts) only the summary, statuses
  // and alerts: every 2 s is enough for them and halves what a client downloads.
  minGapMs: 2000,
  maxGapMs: 5000,
  // Each busy client holds at most two snapshots (one in its socket buffer, one waiting), about
  // 1.3 MiB each at 1,000 hosts, and a set of slot numbers: 32 streams stay well inside the
  // worker's heap.
  maxClients: 32,
  stallMs: 20_000,
  // 1,000 hosts (1.3 MiB): every 2 s as above; 10,000 hosts: every ~13 s.
  snapshotBytesPerS: 1024 * 1024,
  now: Date.now,
});

/** Reconnection delay the browser is told to use, ms (the `retry:` field). */
export const RETRY_MS = 2000;

/** Where delta events come from (dashboard/server.ts: the store's slot sequences). */
export interface DeltaSource {
  /** Takes every slot as seen (before the snapshot a first client gets). */
  reset(): void;
  /** Slots whose content changed since the last call (or reset), taken as seen. */
  changed(): number[];
  /** The whole `delta` event (framing included) for these slots, read now. */
  build(slots: Iterable<number>): string | Buffer;
  /** Slots in use: a slow client owed more than half of them gets a snapshot instead. */
  size(): number;
}

interface Client {
  res: ServerResponse;
  /** The socket refused more: wait for 'drain' before writing. */
  busy: boolean;
  /** The newest event not yet written to a busy client; replaced, never queued. */
  pending: string | Buffer | null;
  /** Slots changed since that event while the client was busy: one delta, built when it drains. */
  pendingSlots: Set<number> | null;
  busySinceMs: number;
}

/** The text of one SSE event: `data` must be one line (JSON is). */
export function formatEvent(event: string, data: string): string {
  if (/[\r\n]/.test(event) || /[\r\n]/.test(data)) throw new TypeError('SSE event names and data must be single lines');
  return `event: ${event}\ndata: ${data}\n\n`;
}

export class EventHub {
  private readonly clients = new Set<Client>();
  private readonly opts: EventHubOptions;
  private timer: NodeJS.Timeout | null = null;
  private lastMark: number | string = Number.NaN;
  private lastPushMs = 0;
  /** Events pushed (each to every client), for tests and diagnostics. */
  pushes = 0;
  /** Snapshots that replaced an unsent one of a slow client, and deltas merged for one. */
  dropped = 0;
  /** Delta events built (each sent to every ready client). */
  deltas = 0;

  /**
   * @param snapshot the payload to send, as one line of JSON (a string, framed here as a `hosts`
   *   event), or as the whole framed event (a Buffer); called once per push
   * @param changeMark a number that changes whenever the payload may have changed
   * @param delta where `delta` events come from; none: snapshots only
   */
  private lastSnapshotBytes = 0;

  constructor(
    private readonly snapshot: () => string | Buffer,
    private readonly changeMark: () => number | string,
    opts: Partial<EventHubOptions> = {},
    private readonly delta: DeltaSource | null = null,
  ) {
    this.opts = { ...DEFAULT_EVENT_HUB_OPTIONS, ...opts };
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a GET /api/events request; answers 503 when full. `headers` are added to the response's. */
  accept(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): void {
    if (this.clients.size >= this.opts.maxClients) {
      const body = JSON.stringify({ error: 'too many event streams; poll /api/hosts instead' });
      res.writeHead(503, { ...headers, 'content-type': 'application/json; charset=utf-8', 'retry-after': '15', 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
      return;
    }
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Proxies such as nginx buffer responses unless told not to.
      'x-accel-buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // The stream is long-lived by design: no socket inactivity timeout on it.
    req.socket.setTimeout(0);
    req.socket.setNoDelay(true);
    const client: Client = { res, busy: false, pending: null, pendingSlots: null, busySinceMs: 0 };
    // The first client starts the deltas and the snapshot gaps from here: the snapshot below
    // holds everything before.
    if (this.clients.size === 0) {
      this.delta?.reset();
      this.lastMark = this.changeMark();
      this.lastPushMs = this.opts.now();
    }
    this.clients.add(client);
    const drop = (): void => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stopTimer();
    };
    res.once('close', drop);
    this.write(client, `retry: ${RETRY_MS}\n\n`);
    this.write(client, this.snapshotEvent());
    this.startTimer();
  }

  private snapshotEvent(): string | Buffer {
    const s = this.snapshot();
    const text = typeof s === 'string' ? formatEvent('hosts', s) : s;
    this.lastSnapshotBytes = typeof text === 'string' ? text.length : text.byteLength;
    return text;
  }

  /** The gap before the next snapshot may go out (min) or must (max), ms: see snapshotBytesPerS. */
  snapshotGapsMs(): { min: number; max: number } {
    const bySize = this.delta ? (this.lastSnapshotBytes / this.opts.snapshotBytesPerS) * 1000 : 0;
    return { min: Math.max(this.opts.minGapMs, bySize), max: Math.max(this.opts.maxGapMs, bySize) };
  }

  /** Ends every stream and stops the timer. */
  close(): void {
    this.stopTimer();
    for (const c of this.clients) c.res.destroy();
    this.clients.clear();
  }

  /**
   * One tick: a snapshot when the store changed (not sooner than minGap) or when maxGap passed;
   * otherwise a delta of the slots changed since the last tick, if any.
   */
  tick(): void {
    const now = this.opts.now();
    for (const c of this.clients) {
      if (c.busy && now - c.busySinceMs > this.opts.stallMs) c.res.destroy();
    }
    if (this.clients.size === 0) return;
    // Taken every tick, so a snapshot's slots are not sent again as the next tick's delta.
    const changed = this.delta ? this.delta.changed() : [];
    const since = now - this.lastPushMs;
    const gaps = this.snapshotGapsMs();
    let due = since >= gaps.max;
    if (!due && since >= gaps.min) due = this.changeMark() !== this.lastMark;
    if (due) {
      this.lastMark = this.changeMark();
      this.lastPushMs = now;
      this.pushes++;
      const text = this.snapshotEvent();
      for (const c of this.clients) this.write(c, text);
      return;
    }
    if (changed.length === 0 || !this.delta) return;
    let text: string | Buffer | null = null;
    for (const c of this.clients) {
      if (c.busy) {
        // Merged by slot: built from the store when the client drains, so it is never older.
        const set = (c.pendingSlots ??= new Set());
        if (set.size > 0) this.dropped++;
        for (const i of changed) set.add(i);
        continue;
      }
      if (text === null) {
        text = this.delta.build(changed);
        this.deltas++;
      }
      this.write(c, text);
    }
  }

  private write(c: Client, text: string | Buffer): void {
    if (c.busy) {
      if (c.pending !== null) this.dropped++;
      // Only snapshots wait here (deltas for a busy client are merged as slots), and a snapshot
      // holds everything a merged delta would.
      c.pending = text;
      c.pendingSlots = null;
      return;
    }
    if (c.res.write(text)) return;
    c.busy = true;
    c.busySinceMs = this.opts.now();
    c.res.once('drain', () => this.drained(c));
  }

  /** The client's socket took everything: its waiting snapshot, then one delta of the slots it missed. */
  private drained(c: Client): void {
    c.busy = false;
    if (c.res.destroyed) return;
    const next = c.pending;
    c.pending = null;
    if (next !== null) this.write(c, next);
    if (c.busy || c.pendingSlots === null || !this.delta) return;
    const slots = c.pendingSlots;
    c.pendingSlots = null;
    this.write(c, slots.size > this.delta.size() / 2 ? this.snapshotEvent() : this.delta.build(slots));
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.opts.tickMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
