/**
 * The dashboard worker thread: attaches to the collector's SharedArrayBuffer (read only, through
 * the store) and serves HTTP or HTTPS. It reports `listening` or `failed` to the collector's
 * main thread.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { CollectorStats } from '../shared/collector_stats.ts';
import { formatHostPort, listenAdvice } from '../shared/config.ts';
import { ShmStore } from '../shared/shm_store.ts';
import { EMPTY_ALERT_FEED, NO_ENERGY_INFO, type AlertFeed, type EnergyInfo } from './api.ts';
import type { EnergyQuery } from '../collector/energy_report.ts';
import { createDashboardServer, type HttpLimits } from './server.ts';

export interface DashboardWorkerData {
  buffer: SharedArrayBuffer;
  /** The collector's counters (shared/collector_stats.ts), for /metrics. */
  statsBuffer?: SharedArrayBuffer;
  host: string;
  port: number;
  /** Password for every route but /healthz; '' for none. */
  httpToken?: string;
  /** Without a password, the Host names answered besides IP addresses and localhost (dashboard/host_check.ts). */
  allowedHosts?: readonly string[];
  limits?: Partial<HttpLimits>;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string; key: string };
  /** The collector's energy settings (currency, zone, projection horizon). */
  energy?: EnergyInfo;
}

/** What the collector's main thread sends the worker. */
export type WorkerCommand =
  | { type: 'alerts'; feed: AlertFeed }
  | { type: 'energy-answer'; id: number; status: number; body: unknown };

export type WorkerReport =
  | { type: 'listening'; host: string; port: number }
  | { type: 'failed'; error: string }
  | { type: 'energy-query'; id: number; query: EnergyQuery };

/** How long /api/energy waits for the main thread, ms; then 503. */
export const ENERGY_QUERY_TIMEOUT_MS = 5000;
/** Questions waiting at once; beyond, 503 at once (the main thread is busy enough). */
const MAX_PENDING_ENERGY = 16;

function report(m: WorkerReport): void {
  parentPort?.postMessage(m);
}

if (!isMainThread && parentPort) {
  const data = workerData as DashboardWorkerData;
  const store = new ShmStore(data.buffer);
  let feed: AlertFeed = EMPTY_ALERT_FEED;
  const pending = new Map<number, { resolve: (a: { status: number; body: unknown }) => void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  parentPort.on('message', (m: WorkerCommand) => {
    if (m && m.type === 'alerts') feed = m.feed;
    if (m && m.type === 'energy-answer') {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      clearTimeout(p.timer);
      p.resolve({ status: m.status, body: m.body });
    }
  });
  const energyQuery = (query: EnergyQuery): Promise<{ status: number; body: unknown }> => new Promise((resolve) => {
    if (pending.size >= MAX_PENDING_ENERGY) {
      resolve({ status: 503, body: { error: 'too many energy questions at once; try again' } });
      return;
    }
    const id = nextId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      resolve({ status: 503, body: { error: 'the collector did not answer in time' } });
    }, ENERGY_QUERY_TIMEOUT_MS);
    pending.set(id, { resolve, timer });
    report({ type: 'energy-query', id, query });
  });
  const server = createDashboardServer(store, { httpToken: data.httpToken ?? '', allowedHosts: data.allowedHosts ?? [], limits: data.limits ?? {}, feed: () => feed, energy: data.energy ?? NO_ENERGY_INFO, energyQuery, ...(data.statsBuffer ? { stats: new CollectorStats(data.statsBuffer) } : {}), ...(data.tls ? { tls: data.tls } : {}) });
  server.once('error', (err: NodeJS.ErrnoException) => {
    report({ type: 'failed', error: `dashboard cannot listen on ${formatHostPort({ host: data.host, port: data.port })}: ${err.message}${listenAdvice(err, 'http')}` });
    process.exit(1);
  });
  server.listen(data.port, data.host, () => {
    const addr = server.address();
    if (addr && typeof addr === 'object') report({ type: 'listening', host: addr.address, port: addr.port });
  });
}
