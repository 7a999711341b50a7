/**
 * Server-Sent Events for the overview (GET /api/events). Three kinds of event:
 * - `hosts`: the whole /api/hosts payload, on connect. Without a status source (below) also
 *   when anything changed but not more often than minGapMs, and at least every maxGapMs
 *   (statuses age by the clock alone, the summary and alerts ride on it; a keep-alive too).
 * - `delta` (with a DeltaSource): every tick, the hosts whose slot changed since the last tick,
 *   `{"now_ms":N,"hosts":[...]}`, each host as /api/hosts lists it. A sample reaches the page
 *   within one tick (25 ms) instead of a snapshot's second.
 * - `status` (with a DeltaSource that has a StatusSource): every statusGapMs, what deltas do not
 *   carry: the summary, each host's status by slot as it ages by the clock, and the alerts when
 *   they changed (dashboard/api.ts StatusPayload). It replaces the periodic snapshot: at 10,000
 *   hosts a snapshot is ~13 MiB, and building, sending and parsing it held the worker and the
 *   page for long enough that deltas queued behind it (p99 sample-to-page 1.45 s); a status
 *   event is ~10 KiB there. The snapshot then goes only to a client that connects or fell too
 *   far behind to be sent a delta.
 *
 * Each event is built once per tick, whatever the number of clients (a status event at most
 * twice: with and without the alerts). A slow client never makes the server queue without
 * bound: while its socket is still draining, a newer snapshot or status event replaces whatever
 * of its kind was waiting for it (at most one behind), deltas for it are merged into a set of
 * slots (bounded by the fleet) and built fresh when it drains, maxDeltaHosts at a time (without
 * a status source: replaced by a snapshot when they cover most of the fleet); a client that
 * drains nothing for `stallMs` is dropped.
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
  /**
   * With a status source: a `status` event this often, ms, changed or not (statuses age by the
   * clock; it is the stream's keep-alive too). Its cost grows by a byte per host.
   */
  statusGapMs: number;
  /**
   * Most hosts in one delta event (~1.3 KiB each): a tick where more changed, or a slow client's
   * missed slots, go as several events, so no single event holds the worker, the socket or the
   * page for long.
   */
  maxDeltaHosts: number;
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
  // A host turns stale 3 intervals (3 s by default) after its last sample: the page shows it
  // within a second of that, for ~10 KiB/s per client at 10,000 hosts.
  statusGapMs: 1000,
  // ~650 KiB: twice a 25 ms tick's worth at 20,000 hosts sampling once a second.
  maxDeltaHosts: 500,
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
  /**
   * The whole `delta` event (framing included) for these slots, read now. `shared`: the event of
   * a tick, sent to every client that is ready (each has had every such event since its
   * snapshot); otherwise it is built for one client catching up.
   */
  build(slots: Iterable<number>, shared: boolean): string | Buffer;
  /** Slots in use: a slow client owed more than half of them gets a snapshot instead. */
  size(): number;
  /** With one: `status` events every statusGapMs and a snapshot only on connect; none: periodic snapshots. */
  status?: StatusSource;
}

/** Where `status` events come from (dashboard/server.ts: dashboard/api.ts statusJson). */
export interface StatusSource {
  /** Changes whenever the alerts or thresholds may have (the alert feed's version). */
  alertsVersion(): number | string;
  /** The whole `status` event (framing included) as of now; with the alerts and thresholds when `withAlerts`. */
  build(withAlerts: boolean): string | Buffer;
}

/** What a write carries: a snapshot holds everything; a status event holds no host's readings. */
type Kind = 'snapshot' | 'status' | 'other';

interface Outgoing {
  text: string | Buffer;
  kind: Kind;
  /** The alerts version a snapshot or a status event with alerts carries; null: none. */
  alertsVersion: number | string | null;
}

interface Client {
  res: ServerResponse;
  /** The socket refused more: wait for 'drain' before writing. */
  busy: boolean;
  /** The newest snapshot not yet written to a busy client; replaced, never queued. */
  pending: Outgoing | null;
  /** Slots changed since that snapshot while the client was busy: one delta, built when it drains. */
  pendingSlots: Set<number> | null;
  /** The newest status event not yet written to a busy client; replaced, never queued. */
  pendingStatus: Outgoing | null;
  /** The alerts version the client was last sent (in a snapshot or a status event); null: none yet. */
  alertsVersion: number | string | null;
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
  private lastSnapshotBytes = 0;
  /** Events pushed (each to every client): snapshots, and status events. For tests and diagnostics. */
  pushes = 0;
  /** Snapshots or status events that replaced an unsent one of a slow client, and deltas merged for one. */
  dropped = 0;
  /** Delta events built (each sent to every ready client). */
  deltas = 0;
  /** Status events pushed. */
  statuses = 0;

  /**
   * @param snapshot the payload to send, as one line of JSON (a string, framed here as a `hosts`
   *   event), or as the whole framed event (a Buffer); called once per push
   * @param changeMark a number that changes whenever the payload may have changed
   * @param delta where `delta` (and `status`) events come from; none: snapshots only
   */
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
    const client: Client = { res, busy: false, pending: null, pendingSlots: null, pendingStatus: null, alertsVersion: null, busySinceMs: 0 };
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
    this.write(client, { text: `retry: ${RETRY_MS}\n\n`, kind: 'other', alertsVersion: null });
    this.write(client, this.snapshotEvent());
    this.startTimer();
  }

  private snapshotEvent(): Outgoing {
    // Read before the build: the snapshot carries the alerts of this version (or newer).
    const alertsVersion = this.delta?.status ? this.delta.status.alertsVersion() : null;
    const s = this.snapshot();
    const text = typeof s === 'string' ? formatEvent('hosts', s) : s;
    this.lastSnapshotBytes = typeof text === 'string' ? text.length : text.byteLength;
    return { text, kind: 'snapshot', alertsVersion };
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
   * One tick: a delta of the slots changed since the last tick, if any; then, with a status
   * source, a status event when statusGap passed. Without one: a snapshot when the store changed
   * (not sooner than minGap) or when maxGap passed, else the delta.
   */
  tick(): void {
    const now = this.opts.now();
    for (const c of this.clients) {
      if (c.busy && now - c.busySinceMs > this.opts.stallMs) c.res.destroy();
    }
    if (this.clients.size === 0) return;
    // Taken every tick, so a snapshot's slots are not sent again as the next tick's delta.
    const changed = this.delta ? this.delta.changed() : [];
    const status = this.delta?.status;
    if (status) {
      // The delta first: the status event is read at the same moment, so it never says a host
      // is stale after a delta that showed it fresh.
      this.pushDelta(changed);
      if (now - this.lastPushMs >= this.opts.statusGapMs) {
        this.lastPushMs = now;
        this.pushes++;
        this.statuses++;
        this.pushStatus(status);
      }
      return;
    }
    const since = now - this.lastPushMs;
    const gaps = this.snapshotGapsMs();
    let due = since >= gaps.max;
    if (!due && since >= gaps.min) due = this.changeMark() !== this.lastMark;
    if (due) {
      this.lastMark = this.changeMark();
      this.lastPushMs = now;
      this.pushes++;
      const ev = this.snapshotEvent();
      for (const c of this.clients) this.write(c, ev);
      return;
    }
    this.pushDelta(changed);
  }

  /**
   * Deltas of `changed`, maxDeltaHosts slots each, to every ready client; merged into the slots
   * a busy one is owed (a client that the first part made busy is owed the rest).
   */
  private pushDelta(changed: readonly number[]): void {
    if (changed.length === 0 || !this.delta) return;
    const step = this.opts.maxDeltaHosts;
    for (let from = 0; from < changed.length; from += step) {
      const part = changed.length <= step ? changed : changed.slice(from, from + step);
      let ev: Outgoing | null = null;
      for (const c of this.clients) {
        if (c.busy) {
          // Merged by slot: built from the store when the client drains, so it is never older.
          const set = (c.pendingSlots ??= new Set());
          if (set.size > 0) this.dropped++;
          for (const i of part) set.add(i);
          continue;
        }
        if (ev === null) {
          ev = { text: this.delta.build(part, true), kind: 'other', alertsVersion: null };
          this.deltas++;
        }
        this.write(c, ev);
      }
    }
  }

  /**
   * One status event to every client: with the alerts to a client whose last alerts are of
   * another version (the feed changed, or it never had any), without to the others. Each
   * variant is built at most once.
   */
  private pushStatus(status: StatusSource): void {
    const version = status.alertsVersion();
    let full: Outgoing | null = null;
    let lean: Outgoing | null = null;
    for (const c of this.clients) {
      // A client's version moves only when an event with alerts reaches its socket, so a lean
      // event never replaces an unsent one that had them.
      if (c.alertsVersion !== version) this.write(c, (full ??= { text: status.build(true), kind: 'status', alertsVersion: version }));
      else this.write(c, (lean ??= { text: status.build(false), kind: 'status', alertsVersion: null }));
    }
  }

  private write(c: Client, ev: Outgoing): void {
    if (c.busy) {
      if (ev.kind === 'snapshot') {
        if (c.pending !== null) this.dropped++;
        // A snapshot holds everything a merged delta or a status event would.
        c.pending = ev;
        c.pendingSlots = null;
        c.pendingStatus = null;
      } else if (ev.kind === 'status') {
        if (c.pendingStatus !== null) this.dropped++;
        c.pendingStatus = ev;
      }
      // Deltas never get here busy (pushDelta merges them); 'other' is the retry line, written first.
      return;
    }
    if (ev.alertsVersion !== null) c.alertsVersion = ev.alertsVersion;
    if (c.res.write(ev.text)) return;
    c.busy = true;
    c.busySinceMs = this.opts.now();
    c.res.once('drain', () => this.drained(c));
  }

  /**
   * The client's socket took everything: its waiting snapshot, its waiting status event (read
   * before the delta, so older than it), then the slots it missed, as deltas of at most
   * maxDeltaHosts built now, until its socket is full again (the rest wait for the next drain,
   * and slots that change meanwhile join them, once each).
   *
   * Without a status source, a client owed more than half the fleet gets a snapshot instead, as
   * before status events. With one, never: at 10,000 hosts that snapshot is ~13 MiB in one
   * event, and a client slow to take it (most are: one parse of the whole) was owed most of
   * the fleet again by the time it had, and got another, never catching up. Deltas of the same
   * hosts in parts cost the same bytes, reach it as they are built, and the status events
   * carry the rest.
   */
  private drained(c: Client): void {
    c.busy = false;
    if (c.res.destroyed) return;
    const next = c.pending;
    c.pending = null;
    if (next !== null) this.write(c, next);
    if (c.busy) return;
    const status = c.pendingStatus;
    c.pendingStatus = null;
    if (status !== null) this.write(c, status);
    const slots = c.pendingSlots;
    if (c.busy || slots === null || !this.delta) return;
    if (!this.delta.status && slots.size > this.delta.size() / 2) {
      c.pendingSlots = null;
      this.write(c, this.snapshotEvent());
      return;
    }
    while (!c.busy && slots.size > 0) {
      const part: number[] = [];
      // A Set iterates in insertion order: the slots owed longest go first.
      for (const i of slots) {
        part.push(i);
        slots.delete(i);
        if (part.length === this.opts.maxDeltaHosts) break;
      }
      this.deltas++;
      this.write(c, { text: this.delta.build(part, false), kind: 'other', alertsVersion: null });
    }
    if (slots.size === 0) c.pendingSlots = null;
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
