/**
 * The dashboard's routes, on a hand-rolled node:http server. Only GET and HEAD; every response
 * carries security headers; the API is never cached.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CollectorStats } from '../shared/collector_stats.ts';
import { ShmStore } from '../shared/shm_store.ts';
import { hostDetail, type HostDetail } from '../shared/host_view.ts';
import { alertsPayload, historyPayload, hostDetailPayload, sparklinesPayload, type AlertFeed, type EnergyInfo } from './api.ts';
import { hostsJsonOf } from './hosts_json.ts';
import type { EnergyQuery } from '../collector/energy_report.ts';
import { MAX_PROJECTION_DAYS } from '../collector/projection.ts';
import type { EventHub } from './events.ts';
import { METRIC_TABLES, metricsText } from './metrics.ts';
import { readProcessStats } from './process_stats.ts';
import { PROM_CONTENT_TYPE } from './prom_text.ts';
import { SLOT_FLAG_USED } from '../shared/shm_layout.ts';
import type { PageAssets } from './page.ts';
import { installAssets, InstallUnavailableError } from './install_bundle.ts';
import { parseSlotList } from './slot_list.ts';
import { favicon } from './favicon.ts';
import { hostAllowed } from './host_check.ts';

export interface RouteContext {
  store: ShmStore;
  assets: PageAssets;
  now: () => number;
  /** Password for every route but /healthz; '' for none. */
  httpToken: string;
  /** Without a password, the Host names answered besides IP addresses and localhost (dashboard/host_check.ts). */
  allowedHosts: readonly string[];
  /** The alerts as the collector last reported them. */
  feed: () => AlertFeed;
  /** The /api/events streams: each host as /api/hosts lists it. */
  events: EventHub;
  /** The /api/events?view=overview streams (the page's): each host with what the overview shows. */
  overviewEvents: EventHub;
  /** The collector's counters; null when the dashboard runs without a collector (tests). */
  stats: CollectorStats | null;
  /** Recent /api/sparklines answers by query, reused for a short while: every open page asks. */
  sparkCache: Map<string, { atMs: number; body: string }>;
  /** The collector's energy settings. */
  energy: EnergyInfo;
  /** Asks the collector for /api/energy; null when there is none (tests): 503. */
  energyQuery: ((q: EnergyQuery) => Promise<{ status: number; body: unknown }>) | null;
}

/** How long one /api/sparklines answer is reused, ms (pages ask every 15 s; buckets are 15 s wide). */
export const SPARK_CACHE_MS = 2000;
/** Most points per sparkline. */
export const MAX_SPARK_POINTS = 300;

/**
 * Routes anyone may read even when a password is set: health checks carry no reading, and the
 * agent's install files carry no secret (a joining machine has no password; its token travels
 * in its command line).
 */
// The tab icon is open too: it says nothing, and a browser asks for it before any password.
const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/favicon.ico', '/install/agent.sh', '/install/agent.tar.gz']);

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Whether the request carries the password: `Authorization: Bearer TOKEN` (scripts, Prometheus)
 * or `Basic` with any user name and TOKEN as password (browsers). Compared in constant time.
 */
export function authorized(header: string | undefined, token: string): boolean {
  if (token === '') return true;
  if (!header) return false;
  let presented: string | null = null;
  const m = /^(Bearer|Basic)\s+(\S+)\s*$/i.exec(header);
  if (m && m[1]!.toLowerCase() === 'bearer') presented = m[2]!;
  if (m && m[1]!.toLowerCase() === 'basic') {
    const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) presented = decoded.slice(colon + 1);
  }
  return presented !== null && timingSafeEqual(digest(presented), digest(token));
}

const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  // Nothing may run or load from API answers; the page overrides this with its own hashes.
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
});

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(buf.length), ...extra });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

function sendJson(req: IncomingMessage, res: ServerResponse, status: number, value: unknown, extra: Record<string, string> = {}): void {
  send(req, res, status, 'application/json; charset=utf-8', JSON.stringify(value), { 'cache-control': 'no-store', ...extra });
}

const ALLOWED_METHODS = 'GET, HEAD';

/** Serves an install file (dashboard/install_bundle.ts) once it is ready, or 503 saying why not. */
function sendInstallFile(req: IncomingMessage, res: ServerResponse, body: Promise<Buffer>, type: string, extra: Record<string, string> = {}): void {
  body.then(
    (buf) => { if (!res.destroyed) send(req, res, 200, type, buf, { 'cache-control': 'no-store', ...extra }); },
    (err: unknown) => {
      if (res.destroyed) return;
      const message = err instanceof InstallUnavailableError ? err.message : `cannot serve this file: ${err instanceof Error ? err.message : String(err)}`;
      send(req, res, 503, 'text/plain; charset=utf-8', `${message}\n`, { 'cache-control': 'no-store' });
    },
  );
}

type Route = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => void;

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/', (req, res, ctx) => send(req, res, 200, 'text/html; charset=utf-8', ctx.assets.html, { 'cache-control': 'no-cache', 'content-security-policy': ctx.assets.csp })],
  ['/api/hosts', (req, res, ctx) => send(req, res, 200, 'application/json; charset=utf-8', hostsJsonOf(ctx.store).payloadJson(ctx.now(), ctx.feed(), ctx.energy), { 'cache-control': 'no-store' })],
  ['/api/energy', (req, res, ctx) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const days = intParam(url, 'days', ctx.energy.projectionDays, 1, MAX_PROJECTION_DAYS);
    const host = url.searchParams.get('host');
    if (days === null) {
      sendJson(req, res, 400, { error: `days must be a whole number from 1 to ${MAX_PROJECTION_DAYS}` });
      return;
    }
    if (host !== null && (host === '' || Buffer.byteLength(host, 'utf8') > 253)) {
      sendJson(req, res, 400, { error: 'host must be a host name of 1 to 253 bytes' });
      return;
    }
    if (!ctx.energyQuery) {
      sendJson(req, res, 503, { error: 'energy is not tracked here (no collector behind this dashboard)' });
      return;
    }
    ctx.energyQuery({ host: host === null ? null : host.normalize('NFC'), days }).then(
      (a) => { if (!res.destroyed) sendJson(req, res, a.status, a.body); },
      (err: unknown) => { if (!res.destroyed) sendJson(req, res, 503, { error: err instanceof Error ? err.message : String(err) }); },
    );
  }],
  ['/api/events', (req, res, ctx) => {
    const view = new URL(req.url ?? '/', 'http://localhost').searchParams.get('view');
    if (view !== null && view !== 'full' && view !== 'overview') {
      sendJson(req, res, 400, { error: 'view must be full (each host as /api/hosts lists it; the default) or overview (what the page shows)' });
      return;
    }
    (view === 'overview' ? ctx.overviewEvents : ctx.events).accept(req, res, { ...SECURITY_HEADERS });
  }],
  ['/api/alerts', (req, res, ctx) => sendJson(req, res, 200, alertsPayload(ctx.feed(), ctx.now()))],
  ['/api/sparklines', (req, res, ctx) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const seconds = intParam(url, 'seconds', ctx.store.historyPoints, 1, MAX_HISTORY_SECONDS);
    const points = intParam(url, 'points', 60, 1, MAX_SPARK_POINTS);
    if (seconds === null || points === null) {
      sendJson(req, res, 400, { error: `seconds must be a whole number from 1 to ${MAX_HISTORY_SECONDS}, points from 1 to ${MAX_SPARK_POINTS}` });
      return;
    }
    const slotsText = url.searchParams.get('slots');
    const slots = slotsText === null ? null : parseSlotList(slotsText, ctx.store.capacity);
    if (typeof slots === 'string') {
      sendJson(req, res, 400, { error: slots });
      return;
    }
    const key = `${seconds}/${points}/${slotsText ?? '*'}`;
    const now = ctx.now();
    let hit = ctx.sparkCache.get(key);
    if (!hit || now - hit.atMs > SPARK_CACHE_MS || now < hit.atMs) {
      hit = { atMs: now, body: JSON.stringify(sparklinesPayload(ctx.store, seconds, points, now, slots)) };
      // A handful of distinct queries at most in practice; a client cycling through many only
      // replaces old entries.
      if (ctx.sparkCache.size >= 16) ctx.sparkCache.clear();
      ctx.sparkCache.set(key, hit);
    }
    send(req, res, 200, 'application/json; charset=utf-8', hit.body, { 'cache-control': 'no-store' });
  }],
  ['/metrics', (req, res, ctx) => {
    const now = ctx.now();
    const hosts: HostDetail[] = [];
    const used = ctx.store.slotsUsed();
    for (let i = 0; i < used; i++) {
      const slot = ctx.store.readSlotPart(i, METRIC_TABLES);
      if (slot && (slot.flags & SLOT_FLAG_USED) !== 0) hosts.push(hostDetail(slot, now));
    }
    send(req, res, 200, PROM_CONTENT_TYPE, metricsText(hosts, now, ctx.stats ? ctx.stats.snapshot(ctx.store) : null, { currency: ctx.energy.currency, ...(ctx.stats ? { process: readProcessStats() } : {}) }), { 'cache-control': 'no-store' });
  }],
  ['/install/agent.sh', (req, res) => sendInstallFile(req, res, installAssets().script(), 'text/plain; charset=utf-8')],
  ['/install/agent.tar.gz', (req, res) => sendInstallFile(req, res, installAssets().bundle(), 'application/gzip', { 'content-disposition': 'attachment; filename="cluster-sentinel-agent.tar.gz"' })],
  ['/favicon.ico', (req, res) => send(req, res, 200, 'image/x-icon', favicon(), { 'cache-control': 'public, max-age=86400' })],
  ['/healthz', (req, res, ctx) => {
    // Healthy while the buffer still reads as this layout (attaching re-checks the header).
    try {
      const probe = new ShmStore(ctx.store.buffer);
      sendJson(req, res, 200, { ok: true, capacity: probe.capacity, slots_used: probe.slotsUsed() });
    } catch (err) {
      sendJson(req, res, 503, { ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  }],
]);

/** Most seconds of history one request may ask for. */
export const MAX_HISTORY_SECONDS = 86_400;

/** Query parameter `name` as a whole number in [min, max], `fallback` when absent, null when invalid. */
function intParam(url: URL, name: string, fallback: number, min: number, max: number): number | null {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const v = Number(raw);
  return raw.trim() !== '' && Number.isInteger(v) && v >= min && v <= max ? v : null;
}

/**
 * Routes with a host name in the path: /api/hosts/NAME and /api/hosts/NAME/history?seconds=N.
 * NAME is percent-encoded (encodeURIComponent). Returns false when the path is not one of them.
 */
function hostRoute(req: IncomingMessage, res: ServerResponse, ctx: RouteContext, url: URL): boolean {
  // Matched on the raw request target: URL parsing would drop a host named "." or ".." (or
  // "%2E") as a dot segment. Its name is still only ever used to look up a slot.
  const rawPath = (req.url ?? '/').split('?', 1)[0]!;
  const m = /^\/api\/hosts\/([^/]+)(\/history)?$/.exec(rawPath);
  if (!m) return false;
  let name: string;
  try {
    name = decodeURIComponent(m[1]!);
  } catch {
    sendJson(req, res, 400, { error: 'host name in the path is not valid percent-encoding' });
    return true;
  }
  const now = ctx.now();
  if (m[2] === undefined) {
    const detail = hostDetailPayload(ctx.store, name, now, ctx.energy, ctx.feed());
    if (detail) sendJson(req, res, 200, detail);
    else sendJson(req, res, 404, { error: 'no such host' });
    return true;
  }
  const seconds = intParam(url, 'seconds', ctx.store.historyPoints, 1, MAX_HISTORY_SECONDS);
  if (seconds === null) {
    sendJson(req, res, 400, { error: `seconds must be a whole number from 1 to ${MAX_HISTORY_SECONDS}` });
    return true;
  }
  const history = historyPayload(ctx.store, name, seconds, now);
  if (history) sendJson(req, res, 200, history);
  else sendJson(req, res, 404, { error: 'no such host' });
  return true;
}

export function handleRequest(req: IncomingMessage, res: ServerResponse, ctx: RouteContext): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(req, res, 405, { error: 'method not allowed' }, { allow: ALLOWED_METHODS });
    return;
  }
  // Only the path and query matter; the host part of this URL is a placeholder and never trusted.
  let url: URL;
  let path: string;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
    path = url.pathname;
  } catch {
    sendJson(req, res, 400, { error: 'bad request target' });
    return;
  }
  // The open routes carry nothing secret (a machine joining the fleet fetches the install files by
  // the collector's name); every other one, without a password, only under a name no page can rebind.
  if (!OPEN_ROUTES.has(path) && ctx.httpToken === '' && !hostAllowed(req.headers.host, ctx.allowedHosts)) {
    sendJson(req, res, 403, { error: `the dashboard has no password, so it answers only to IP addresses and localhost (a guard against DNS rebinding); to reach it as ${JSON.stringify(String(req.headers.host).slice(0, 100))}, add that name with --http-allowed-hosts or set a password with --http-token` });
    return;
  }
  if (!OPEN_ROUTES.has(path) && !authorized(req.headers.authorization, ctx.httpToken)) {
    sendJson(req, res, 401, { error: 'authentication required' }, { 'www-authenticate': 'Basic realm="Cluster Sentinel", charset="UTF-8"' });
    return;
  }
  const route = ROUTES.get(path);
  if (!route && hostRoute(req, res, ctx, url)) return;
  // The host page: its script reads the name from the path, so one document serves every host.
  if (!route && path.startsWith('/hosts/')) {
    send(req, res, 200, 'text/html; charset=utf-8', ctx.assets.detail.html, { 'cache-control': 'no-cache', 'content-security-policy': ctx.assets.detail.csp });
    return;
  }
  if (!route) {
    sendJson(req, res, 404, { error: 'not found' });
    return;
  }
  route(req, res, ctx);
}
