/**
 * The dashboard worker thread: attaches to the collector's SharedArrayBuffer (read only, through
 * the store) and serves HTTP or HTTPS. It reports `listening` or `failed` to the collector's
 * main thread.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { CollectorStats } from '../shared/collector_stats.ts';
import { ShmStore } from '../shared/shm_store.ts';
import { EMPTY_ALERT_FEED, type AlertFeed } from './api.ts';
import { createDashboardServer, type HttpLimits } from './server.ts';

export interface DashboardWorkerData {
  buffer: SharedArrayBuffer;
  /** The collector's counters (shared/collector_stats.ts), for /metrics. */
  statsBuffer?: SharedArrayBuffer;
  host: string;
  port: number;
  /** Password for every route but /healthz; '' for none. */
  httpToken?: string;
  limits?: Partial<HttpLimits>;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string; key: string };
}

/** What the collector's main thread sends the worker. */
export type WorkerCommand = { type: 'alerts'; feed: AlertFeed };

export type WorkerReport = { type: 'listening'; host: string; port: number } | { type: 'failed'; error: string };

function report(m: WorkerReport): void {
  parentPort?.postMessage(m);
}

if (!isMainThread && parentPort) {
  const data = workerData as DashboardWorkerData;
  const store = new ShmStore(data.buffer);
  let feed: AlertFeed = EMPTY_ALERT_FEED;
  parentPort.on('message', (m: WorkerCommand) => {
    if (m && m.type === 'alerts') feed = m.feed;
  });
  const server = createDashboardServer(store, { httpToken: data.httpToken ?? '', limits: data.limits ?? {}, feed: () => feed, ...(data.statsBuffer ? { stats: new CollectorStats(data.statsBuffer) } : {}), ...(data.tls ? { tls: data.tls } : {}) });
  server.once('error', (err) => {
    report({ type: 'failed', error: `dashboard cannot listen on ${data.host}:${data.port}: ${err.message}` });
    process.exit(1);
  });
  server.listen(data.port, data.host, () => {
    const addr = server.address();
    if (addr && typeof addr === 'object') report({ type: 'listening', host: addr.address, port: addr.port });
  });
}
