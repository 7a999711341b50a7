/**
 * The dashboard's server: node:http (or node:https) with timeouts and a connection cap; routes
 * in routes.ts. Slow clients are closed at their deadlines: Node checks them every
 * `connectionsCheckingInterval`, which is set from the headers timeout (Node's default is 30 s).
 */
import { createServer as createHttpServer, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { CollectorStats } from '../shared/collector_stats.ts';
import type { ShmStore } from '../shared/shm_store.ts';
import { EMPTY_ALERT_FEED, NO_ENERGY_INFO, statusJson, type AlertFeed, type EnergyInfo } from './api.ts';
import { type HostEntry, type HostsView, hostsJsonOf, SlotChanges } from './hosts_json.ts';
import { FactsMemo } from './hosts_json_entry.ts';
import type { EnergyQuery } from '../collector/energy_report.ts';
import { type DeltaSource, EventHub, type EventHubOptions } from './events.ts';
import { loadPageAssets } from './page.ts';
import { handleRequest } from './routes.ts';

export interface HttpLimits {
  maxConnections: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Request line and headers together, bytes; more is answered 431. */
  maxHeaderBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = Object.freeze({
  maxConnections: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 16 * 1024,
});

export interface DashboardServerOptions {
  /** Password for every route but /healthz; '' for none. */
  httpToken?: string;
  /** Without a password, the Host names answered besides IP addresses and localhost (dashboard/host_check.ts). */
  allowedHosts?: readonly string[];
  limits?: Partial<HttpLimits>;
  tls?: { cert: string; key: string };
  now?: () => number;
  /** The alerts as the collector last reported them (default: none). */
  feed?: () => AlertFeed;
  /** The collector's counters, for /metrics. */
  stats?: CollectorStats;
  /** Tuning of /api/events (tests shorten the gaps). */
  events?: Partial<EventHubOptions>;
  /** The collector's energy settings (default: no tariff). */
  energy?: EnergyInfo;
  /** Asks the collector's main thread for /api/energy; absent: 503. */
  energyQuery?: (q: EnergyQuery) => Promise<{ status: number; body: unknown }>;
}

/**
 * The overview stream's rules over one memo (see createDashboardServer): `shared` for a tick's
 * delta, facts where they differ from what the memo says was said; `catchUp` for one client's,
 * every host's facts, and the memo forgets those hosts; `snapshot` before a snapshot is built,
 * which clears the memo.
 */
export function overviewViews(memo: FactsMemo): { shared: HostsView; catchUp: HostsView; snapshot: () => void } {
  return {
    shared: { facts: (e: HostEntry): boolean => memo.changed(e) },
    catchUp: { facts: (e: HostEntry): boolean => { memo.forget(e.slot); return true; } },
    snapshot: () => memo.clear(),
  };
}

export function createDashboardServer(store: ShmStore, opts: DashboardServerOptions = {}): Server {
  const assets = loadPageAssets();
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...opts.limits };
  const now = opts.now ?? Date.now;
  const httpToken = opts.httpToken ?? '';
  const allowedHosts = opts.allowedHosts ?? [];
  const feed = opts.feed ?? ((): AlertFeed => EMPTY_ALERT_FEED);
  const energy = opts.energy ?? NO_ENERGY_INFO;
  const hosts = hostsJsonOf(store);
  const statusSource = {
    alertsVersion: () => feed().version,
    build: (withAlerts: boolean) => statusJson(store, now(), feed(), energy, withAlerts, 'event: status\ndata: ', '\n\n'),
  };
  /** A stream hub over its own slot changes: `snapshot` and `build` give the events' whole text. */
  const hub = (snapshot: () => Buffer, build: DeltaSource['build']): EventHub => {
    const changes = new SlotChanges(store);
    return new EventHub(snapshot, () => `${store.changeMark()}/${feed().version}`, { now, ...opts.events }, {
      reset: () => changes.reset(),
      changed: () => changes.changed(),
      build,
      size: () => store.slotsUsed(),
      status: statusSource,
    });
  };
  // Deltas carry every written slot, and status events what changes without a write (statuses
  // by the clock, the summary, the alerts): the ~1.3 KiB-a-host snapshot goes only to a client
  // that connects or falls too far behind (dashboard/events.ts).
  const events = hub(
    () => hosts.payloadJson(now(), feed(), energy, 'event: hosts\ndata: ', '\n\n'),
    (slots) => hosts.deltaJson(slots, now(), feed(), 'event: delta\ndata: ', '\n\n'),
  );
  // The page's stream (?view=overview): each host with only what the overview shows, and its
  // facts and note (the longest part, and the one that seldom changes) only in the snapshot and
  // in a tick's delta where they differ from what the last tick's delta that listed the host
  // said (dashboard/hosts_json_entry.ts FactsMemo). Every client that got that delta has them;
  // one that missed it (busy) catches up with every host's facts; a snapshot clears the memo,
  // so the next deltas say them again for the client it went to. A catch-up build forgets its
  // hosts: that client now has facts newer than the memo's, and were they to change back to the
  // memo's, the next tick's delta would otherwise leave them out and the client keep the newer.
  const views = overviewViews(new FactsMemo());
  const overviewEvents = hub(
    () => {
      views.snapshot();
      return hosts.payloadJson(now(), feed(), energy, 'event: hosts\ndata: ', '\n\n', 'overview');
    },
    (slots, shared) => hosts.deltaJson(slots, now(), feed(), 'event: delta\ndata: ', '\n\n', shared ? views.shared : views.catchUp),
  );
  const sparkCache = new Map<string, { atMs: number; body: string }>();
  const options: ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  };
  const handler: Parameters<typeof createHttpServer>[1] = (req, res) => {
    try {
      handleRequest(req, res, { store, assets, now, httpToken, allowedHosts, feed, events, overviewEvents, sparkCache, stats: opts.stats ?? null, energy, energyQuery: opts.energyQuery ?? null });
    } catch (err) {
      // A bug in one route answers 500 and leaves the server up.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-security-policy': "default-src 'none'", 'x-content-type-options': 'nosniff' });
      res.end('internal error\n');
      process.emitWarning(`dashboard route failed: ${err instanceof Error ? err.stack : String(err)}`);
    }
  };
  const server: Server = opts.tls
    ? (createHttpsServer({ ...options, cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2', handshakeTimeout: limits.headersTimeoutMs }, handler) as unknown as Server)
    : createHttpServer(options, handler);
  server.maxConnections = limits.maxConnections;
  server.on('close', () => { events.close(); overviewEvents.close(); });
  return server;
}
