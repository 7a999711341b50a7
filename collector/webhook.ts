/**
 * Delivers alert transitions to webhook receivers: one JSON POST per transition per URL.
 * notify() only queues, so ingestion never waits on a receiver. Each URL has its own FIFO queue,
 * sent one request at a time, so a receiver sees an alert's firing before its resolved and a slow
 * receiver never delays another. Failures are logged with the URL's origin only: a path or query
 * string may hold a secret token.
 *
 * A full queue drops the oldest transition of the host with the most waiting, not the oldest of
 * all: one agent whose alerts churn (64 filesystems renamed each second fire and resolve 128
 * transitions a second) then drops its own, and every other host's alerts still go out.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from '../shared/log.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import type { AlertTransition } from './alerts.ts';

export interface WebhookOptions {
  /** Whole exchange (connect, send, response, body), ms. */
  timeoutMs?: number;
  /** Further attempts after the first, for 408, 429, 5xx, network errors and timeouts. */
  retries?: number;
  /** Wait before the first retry, ms; doubled for each next one, with up to 10% jitter. */
  backoffMs?: number;
  /** Transitions waiting per URL; beyond, the oldest of the host with the most waiting is dropped. */
  maxQueue?: number;
  /** Clock for `sent_at_ms`, ms since the epoch. */
  now?: () => number;
}

export interface WebhookStats {
  delivered: number;
  failed: number;
  dropped: number;
  /** Waiting or in flight, all URLs. */
  queued: number;
}

/** Most response bytes read before the connection is cut: the body is never used. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
export const WEBHOOK_USER_AGENT = `cluster-sentinel/${SENTINEL_VERSION}`;

type Outcome = { ok: true } | { ok: false; retry: boolean; reason: string; status?: number };

interface Target {
  readonly url: URL;
  /** Scheme, host and port only: what logs may show. */
  readonly origin: string;
  readonly queue: AlertTransition[];
  /** Transitions in `queue` by host. */
  readonly queuedByHost: Map<string, number>;
  /** A transition is in flight or waiting for its retry; it stays out of `queue` meanwhile. */
  busy: boolean;
  /** Overflow has been logged since the queue was last empty (one line per episode, not per drop). */
  overflowLogged: boolean;
  retryTimer: NodeJS.Timeout | null;
  /** Settles the request in flight with a failure (used by close()). */
  abort: (() => void) | null;
  inFlight: Promise<void> | null;
}

export class WebhookNotifier {
  private readonly targets: Target[];
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxQueue: number;
  private readonly now: () => number;
  private closed = false;
  private readonly counts = { delivered: 0, failed: 0, dropped: 0 };

  constructor(urls: readonly string[], private readonly log: Logger, options: WebhookOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 1000;
    this.maxQueue = options.maxQueue ?? 1000;
    this.now = options.now ?? Date.now;
    if (this.maxQueue < 1 || this.retries < 0 || this.timeoutMs <= 0) throw new RangeError('WebhookNotifier: bad options');
    this.targets = urls.map((u) => {
      const url = new URL(u);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('WebhookNotifier: http or https URLs only');
      return { url, origin: url.origin, queue: [], queuedByHost: new Map(), busy: false, overflowLogged: false, retryTimer: null, abort: null, inFlight: null };
    });
  }

  /** Queues `transition` for every URL and returns at once; never throws. */
  notify(transition: AlertTransition): void {
    if (this.closed) {
      this.counts.dropped += this.targets.length;
      return;
    }
    for (const t of this.targets) {
      if (t.queue.length >= this.maxQueue) {
        dropFromBusiestHost(t, transition.alert.host);
        this.counts.dropped++;
        if (!t.overflowLogged) {
          t.overflowLogged = true;
          this.log.warn('webhook queue full, dropping the oldest alerts of the host with the most waiting', { url: t.origin, max_queue: this.maxQueue });
        }
      }
      t.queue.push(transition);
      t.queuedByHost.set(transition.alert.host, (t.queuedByHost.get(transition.alert.host) ?? 0) + 1);
      // The request starts on a later turn: notify() itself does no I/O work at all.
      if (!t.busy) {
        t.busy = true;
        setImmediate(() => this.next(t));
      }
    }
  }

  stats(): WebhookStats {
    let queued = 0;
    for (const t of this.targets) queued += t.queue.length + (t.inFlight !== null || t.retryTimer !== null ? 1 : 0);
    return { ...this.counts, queued };
  }

  /**
   * Stops: no new request, no retry; transitions still queued (and any notified after) are counted
   * dropped, a retry not made counts failed. Waits at most
   * `timeoutMs` for requests in flight, then cuts them (counted failed).
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const waits: Promise<void>[] = [];
    for (const t of this.targets) {
      this.counts.dropped += t.queue.length;
      t.queue.length = 0;
      t.queuedByHost.clear();
      if (t.retryTimer) {
        clearTimeout(t.retryTimer);
        t.retryTimer = null;
        t.busy = false;
        this.counts.failed++; // its retry will not happen
      }
      if (t.inFlight) waits.push(t.inFlight);
    }
    if (waits.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
    await Promise.race([Promise.all(waits).then(() => undefined), deadline]);
    clearTimeout(timer);
    for (const t of this.targets) t.abort?.();
    // Aborted requests settle at once; waiting lets their counts land before close() returns.
    await Promise.all(waits);
  }

  /** Sends the head of the queue, if any; called with t.busy set. */
  private next(t: Target): void {
    const transition = t.queue.shift();
    if (transition) forgetQueued(t, transition.alert.host);
    if (transition === undefined || this.closed) {
      t.busy = false;
      t.overflowLogged = false;
      return;
    }
    this.attempt(t, transition, 0);
  }

  private attempt(t: Target, transition: AlertTransition, attempt: number): void {
    t.inFlight = this.send(t, transition).then((outcome) => {
      t.inFlight = null;
      t.abort = null;
      if (outcome.ok) {
        this.counts.delivered++;
      } else if (outcome.retry && attempt < this.retries && !this.closed) {
        // Exponential backoff with jitter, so that receivers coming back are not hit in step.
        const delay = this.backoffMs * 2 ** attempt * (1 + Math.random() * 0.1);
        this.log.debug('webhook attempt failed, will retry', { url: t.origin, reason: outcome.reason, attempt: attempt + 1, retry_in_ms: Math.round(delay) });
        t.retryTimer = setTimeout(() => {
          t.retryTimer = null;
          this.attempt(t, transition, attempt + 1);
        }, delay);
        return;
      } else {
        this.counts.failed++;
        this.log.warn('webhook delivery failed', {
          url: t.origin, reason: outcome.reason, attempts: attempt + 1, alert: transition.alert.rule, host: transition.alert.host, status: transition.status,
        });
      }
      this.next(t);
    });
  }

  /** One POST; settles with its outcome and never rejects. */
  private send(t: Target, transition: AlertTransition): Promise<Outcome> {
    const body = JSON.stringify({
      status: transition.status, alert: transition.alert, collector: { version: SENTINEL_VERSION }, sent_at_ms: this.now(),
    });
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      let status: number | undefined;
      const finish = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        resolve(outcome);
      };
      const byStatus = (code: number): Outcome => {
        if (code >= 200 && code < 300) return { ok: true };
        const retry = code === 408 || code === 429 || code >= 500;
        return { ok: false, retry, reason: `HTTP ${code}`, status: code };
      };
      const request = t.url.protocol === 'https:' ? httpsRequest : httpRequest;
      // agent: false, one connection per request: transitions are rare, and no idle kept-alive
      // socket is left to go stale between them or to hold the process open at close.
      const req = request(t.url, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'user-agent': WEBHOOK_USER_AGENT, 'content-length': Buffer.byteLength(body) },
      });
      // One timer for the whole exchange: a receiver that trickles its answer is cut too.
      const timer = setTimeout(() => finish({ ok: false, retry: true, reason: `timeout after ${this.timeoutMs} ms` }), this.timeoutMs);
      t.abort = () => finish({ ok: false, retry: false, reason: 'stopped' });
      req.on('error', (err: NodeJS.ErrnoException) => finish(status === undefined ? { ok: false, retry: true, reason: err.code ?? err.message } : byStatus(status)));
      req.on('response', (res: IncomingMessage) => {
        status = res.statusCode ?? 0;
        let bytes = 0;
        // Drained and discarded; a receiver that sends more than the bound is cut, its status stands.
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > MAX_RESPONSE_BYTES) finish(byStatus(status!));
        });
        res.on('end', () => finish(byStatus(status!)));
        res.on('error', () => finish(byStatus(status!)));
      });
      req.end(body);
    });
  }
}

/** Counts one transition of `host` out of `t`'s queue. */
function forgetQueued(t: Target, host: string): void {
  const n = (t.queuedByHost.get(host) ?? 0) - 1;
  if (n > 0) t.queuedByHost.set(host, n);
  else t.queuedByHost.delete(host);
}

/**
 * Makes room in `t`'s full queue for one more transition of `incoming`: drops the oldest queued
 * transition of the host with the most queued, counting the incoming one (ties: the incoming host,
 * else the first found). O(queue) a drop, and drops happen only while a receiver lags a flood.
 */
function dropFromBusiestHost(t: Target, incoming: string): void {
  let busiest = incoming;
  let most = (t.queuedByHost.get(incoming) ?? 0) + 1;
  for (const [host, n] of t.queuedByHost) {
    if (n > most) {
      busiest = host;
      most = n;
    }
  }
  const at = t.queue.findIndex((q) => q.alert.host === busiest);
  // The incoming host has none queued yet and is the busiest (a queue of one per host): the oldest of all goes.
  const drop = at >= 0 ? at : 0;
  const [gone] = t.queue.splice(drop, 1);
  if (gone) forgetQueued(t, gone.alert.host);
}
