/**
 * Server-Sent Events for the overview (GET /api/events): every client gets the /api/hosts
 * payload within about a second of a sample landing, and at least every few seconds while
 * nothing lands (statuses age by the clock alone; the snapshot doubles as a keep-alive).
 *
 * One snapshot is built and serialised per push, whatever the number of clients. A slow client
 * never makes the server queue without bound: while its socket is still draining the previous
 * snapshot, a newer one replaces whatever was waiting for it (so it is at most one snapshot
 * behind), and a client that drains nothing for `stallMs` is dropped.
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
  now: () => number;
}

export const DEFAULT_EVENT_HUB_OPTIONS: Readonly<EventHubOptions> = Object.freeze({
  tickMs: 200,
  // minGap + tickMs stays under a second: a sample reaches every page within a second of landing.
  minGapMs: 750,
  maxGapMs: 5000,
  // Each busy client holds at most two snapshots (one in its socket buffer, one waiting), about
  // 1.3 MiB each at 1,000 hosts: 32 streams stay well inside the worker's heap.
  maxClients: 32,
  stallMs: 20_000,
  now: Date.now,
});

/** Reconnection delay the browser is told to use, ms (the `retry:` field). */
export const RETRY_MS = 2000;

interface Client {
  res: ServerResponse;
  /** The socket refused more: wait for 'drain' before writing. */
  busy: boolean;
  /** The newest event not yet written to a busy client; replaced, never queued. */
  pending: string | null;
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
  /** Snapshots that replaced an unsent one of a slow client. */
  dropped = 0;

  /**
   * @param snapshot the payload to send, as one line of JSON; called once per push
   * @param changeMark a number that changes whenever the payload may have changed
   */
  constructor(
    private readonly snapshot: () => string,
    private readonly changeMark: () => number | string,
    opts: Partial<EventHubOptions> = {},
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
    const client: Client = { res, busy: false, pending: null, busySinceMs: 0 };
    this.clients.add(client);
    const drop = (): void => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stopTimer();
    };
    res.once('close', drop);
    this.write(client, `retry: ${RETRY_MS}\n\n${formatEvent('hosts', this.snapshot())}`);
    this.startTimer();
  }

  /** Ends every stream and stops the timer. */
  close(): void {
    this.stopTimer();
    for (const c of this.clients) c.res.destroy();
    this.clients.clear();
  }

  /** One tick: push when the store changed (not sooner than minGap) or when maxGap passed. */
  tick(): void {
    const now = this.opts.now();
    for (const c of this.clients) {
      if (c.busy && now - c.busySinceMs > this.opts.stallMs) c.res.destroy();
    }
    if (this.clients.size === 0) return;
    const mark = this.changeMark();
    const since = now - this.lastPushMs;
    const changed = mark !== this.lastMark;
    if (!(changed && since >= this.opts.minGapMs) && since < this.opts.maxGapMs) return;
    this.lastMark = mark;
    this.lastPushMs = now;
    this.pushes++;
    const text = formatEvent('hosts', this.snapshot());
    for (const c of this.clients) this.write(c, text);
  }

  private write(c: Client, text: string): void {
    if (c.busy) {
      if (c.pending !== null) this.dropped++;
      c.pending = text;
      return;
    }
    if (c.res.write(text)) return;
    c.busy = true;
    c.busySinceMs = this.opts.now();
    c.res.once('drain', () => {
      c.busy = false;
      const next = c.pending;
      c.pending = null;
      if (next !== null && !c.res.destroyed) this.write(c, next);
    });
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
