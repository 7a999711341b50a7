/**
 * What the dashboard worker pays per answer at fleet scale, beside issue 7's targets:
 * /api/hosts (built and serialised, cold: every slot changed since the last answer, and warm:
 * fragments cached; and through a real HTTP request to a real server over loopback), /metrics,
 * /api/sparklines, the SSE snapshot, one delta tick (hosts / 40 changed: one sample a second
 * each, a 25 ms tick; full, and as the page's view) and one status event (summary, statuses,
 * alerts), and sample-to-delta latency, bytes a second and the worker's load on the page's
 * stream (?view=overview) and on the full one, in turn, with the dashboard in its own worker
 * thread while the main thread
 * writes every host once a second, as the collector does. Hosts are written through the
 * collector's own write path (test/helpers/store_fixture.ts).
 *
 * `npm run bench -- dashboard [--hosts 1000,10000] [--quick]`; --quick: 1,000 hosts, 60 s of
 * history, a 3 s latency window (about 20 s in all; 20 s windows otherwise). History: 900 s at
 * 1,000 hosts, 60 s at 10,000 (900 s would take minutes to write; the rings are 900 buckets
 * either way, so reading them costs the same).
 */
import { request } from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { EnergyService } from '../../collector/energy_service.ts';
import { parseTariff } from '../../collector/tariff.ts';
import { EMPTY_ALERT_FEED, NO_ENERGY_INFO, sparklinesPayload, statusJson } from '../../dashboard/api.ts';
import { HostsJson, type HostsView, SlotChanges } from '../../dashboard/hosts_json.ts';
import { METRIC_TABLES, metricsText } from '../../dashboard/metrics.ts';
import { createDashboardServer } from '../../dashboard/server.ts';
import { PAGE_ROWS } from '../../dashboard/static/overview.js';
import { hostDetail } from '../../shared/host_view.ts';
import { createLogger } from '../../shared/log.ts';
import type { Readings } from '../../shared/protocol.ts';
import { HISTORY_SERIES, SLOT_FLAG_USED } from '../../shared/shm_layout.ts';
import { closeServer, listenLoopback } from '../../test/helpers/http_client.ts';
import { FIXTURE_READINGS, makeStore, type StoreFixture } from '../../test/helpers/store_fixture.ts';
import { machine, table, writeResult } from './common.ts';

const { values: opts } = parseArgs({ options: { hosts: { type: 'string', default: '1000,10000' }, quick: { type: 'boolean', default: false } }, strict: false, allowPositionals: true });
const QUICK = opts.quick === true;
const FLEETS = QUICK ? [1000] : String(opts.hosts).split(',').map(Number);
if (FLEETS.some((n) => !Number.isInteger(n) || n < 1 || n > 20_000)) {
  console.error(`dashboard: --hosts takes whole numbers from 1 to 20000, comma-separated, got ${String(opts.hosts)}`);
  process.exit(2);
}
const ROUNDS = QUICK ? 5 : 7;
// Longer than the gap between two periodic snapshots of a 10,000-host fleet had it been sent
// them (~13 s at 1 MiB/s): a window that never holds one says nothing about them.
const LATENCY_S = QUICK ? 3 : 20;
const GIB = 1024 ** 3;
/** Targets of issue 7, ms, at the fleet size each names. */
const TARGET = { hosts10k: 50, metrics1k: 100, deltaP99: 50 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.max(0, Math.ceil(q * s.length) - 1)]!;
}

/** Median ms of `fn` over ROUNDS runs after one warm-up (`before` runs untimed before each). */
async function time<T>(fn: () => T | Promise<T>, before: () => void = () => undefined): Promise<{ ms: number; result: T }> {
  before();
  let result = await fn();
  const ms: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    before();
    const t0 = performance.now();
    result = await fn();
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), result };
}

const readings = (i: number, s: number): Readings => ({
  ...FIXTURE_READINGS, cpu_pct: (s + i) % 100, net_rx_bps: 1e6, net_tx_bps: 2e5, temp_max_c: 55, power_w: 120,
  fs: [
    { mount: '/', type: 'ext4', size_bytes: 100 * GIB, used_bytes: 50 * GIB, free_bytes: 45 * GIB },
    { mount: '/var', type: 'xfs', size_bytes: 10 * GIB, used_bytes: 9 * GIB, free_bytes: 0.5 * GIB },
  ],
  net: [{ name: 'eth0', rx_bps: 1e6, tx_bps: 2e5 }],
  cpu_cores_pct: new Array(8).fill(25),
} as Readings);

/**
 * The store, and the time of its last samples: the figures are taken as of then, every host
 * online. Each host's power goes through the collector's energy service as it lands, so every
 * host has its energy block (kWh and cost today, this month, in all, and a projection), as in a
 * collector whose agents send power, which they all do.
 */
function build(hosts: number, historyS: number): { fx: StoreFixture; now: number } {
  const start = Date.now() - historyS * 1000;
  const fx = makeStore([], { capacity: hosts, nowMs: start });
  const energy = new EnergyService({
    tariff: parseTariff('0.2516 EUR', 'tariff', 'UTC'), timeZone: 'UTC', maxGapMs: 60_000, historyDays: 62, hourlyDays: 2,
    projectionDays: 30, store: fx.store, log: createLogger('bench', 'error'),
  });
  fx.table.onPlaced = (host, slot, placedMs, watts, intervalMs) => energy.onSample(host, slot, placedMs, watts, intervalMs);
  for (let i = 0; i < hosts; i++) fx.add({ name: `host-${i}`, status: 'online', intervalMs: 1000, readings: readings(i, 0) }, start);
  for (let s = 1; s <= historyS; s++) for (let i = 0; i < hosts; i++) fx.sample(`host-${i}`, readings(i, s), start + s * 1000);
  energy.refresh(start + historyS * 1000);
  return { fx, now: start + historyS * 1000 };
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => { n += c.length; });
      res.on('end', () => resolve(n));
    }).on('error', reject).end();
  });
}

/**
 * The dashboard in a worker thread of its own over the store; the main thread writes every host
 * once a second (spread over 25 ms steps) and reads /api/events: per delta host, arrival time
 * minus the sample's time. The worker's event-loop use stands for its CPU.
 */
async function latency(fx: StoreFixture, hosts: number, view: 'overview' | 'full'): Promise<{ p50: number; p99: number; max: number; n: number; workerBusyPct: number; deltaHostsPerEvent: number; snapshots: number; snapshotBytes: number; statuses: number; statusBytes: number; deltaBytesPerS: number; mainStallMaxMs: number; connectMs: number }> {
  const worker = new Worker(new URL('../../dashboard/worker_boot.mjs', import.meta.url), { workerData: { buffer: fx.store.buffer, host: '127.0.0.1', port: 0 } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.on('message', (m: { type: string; port?: number; error?: string }) => { if (m.type === 'listening') resolve(m.port!); if (m.type === 'failed') reject(new Error(m.error)); });
    worker.once('error', reject);
  });
  const lat: number[] = [];
  let events = 0;
  let deltaHosts = 0;
  let deltaBytes = 0;
  let snapshots = 0;
  let snapshotBytes = 0;
  /** `status` events (summary, statuses, alerts: what deltas do not carry) and their bytes. */
  let statuses = 0;
  let statusBytes = 0;
  let firstSnapshotAt: number | null = null;
  const req = request(`http://127.0.0.1:${port}/api/events?view=${view}`);
  req.on('response', (res) => {
    // The current event's text so far, in the chunks it came in: only each new chunk is searched
    // for the event's end, and the parts are joined once. (Appending to one string and searching
    // it made V8 copy the whole of a 13 MiB snapshot at every 64 KiB chunk, stalling this thread,
    // and with it the writer, for a second or more: a cost of this client, not of the stream.)
    let parts: string[] = [];
    const onBlock = (block: string): void => {
      const at = Date.now();
      if (block.startsWith('event: hosts')) { snapshots++; snapshotBytes += block.length; firstSnapshotAt ??= at; return; }
      if (block.startsWith('event: status')) { statuses++; statusBytes += block.length; return; }
      if (!block.startsWith('event: delta')) return;
      const d = JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { hosts: Array<{ sample_ts_ms: number }> };
      events++;
      deltaBytes += block.length + 2;
      deltaHosts += d.hosts.length;
      for (const h of d.hosts) lat.push(at - h.sample_ts_ms);
    };
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      let from = 0;
      // An end split across chunks: the text so far ends with one newline, this chunk starts with the other.
      if (parts.length > 0 && parts[parts.length - 1]!.endsWith('\n') && c.startsWith('\n')) {
        const text = parts.join('');
        parts = [];
        onBlock(text.slice(0, -1));
        from = 1;
      }
      let end: number;
      while ((end = c.indexOf('\n\n', from)) >= 0) {
        parts.push(c.slice(from, end));
        const text = parts.join('');
        parts = [];
        onBlock(text);
        from = end + 2;
      }
      if (from < c.length) parts.push(from === 0 ? c : c.slice(from));
    });
  });
  req.end();
  const STEP_MS = 25;
  const perStep = Math.ceil(hosts / (1000 / STEP_MS));
  let next = 0;
  let seq = 1_000_000;
  const writer = setInterval(() => {
    const now = Date.now();
    for (let k = 0; k < perStep; k++) { fx.sample(`host-${next}`, readings(next, seq++), now); next = (next + 1) % hosts; }
  }, STEP_MS);
  // The window opens 1.5 s after the snapshot sent on connect has arrived (at 10,000 hosts it is
  // ~13 MiB, built cold): what it measures is the stream once connected, not the connect.
  const connectAt = Date.now();
  while (firstSnapshotAt === null && Date.now() - connectAt < 30_000) await new Promise((r) => setTimeout(r, 20));
  const connectMs = (firstSnapshotAt ?? Number.NaN) - connectAt;
  await new Promise((r) => setTimeout(r, 1500));
  lat.length = 0;
  events = deltaHosts = deltaBytes = snapshots = snapshotBytes = statuses = statusBytes = 0;
  // The writer and this client share the main thread: its stalls show up as latency too.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const elu0 = worker.performance.eventLoopUtilization();
  await new Promise((r) => setTimeout(r, LATENCY_S * 1000));
  const elu = worker.performance.eventLoopUtilization(elu0);
  loop.disable();
  const mainStallMaxMs = loop.max / 1e6;
  clearInterval(writer);
  req.destroy();
  await worker.terminate();
  return { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: quantile(lat, 1), n: lat.length, workerBusyPct: elu.utilization * 100, deltaHostsPerEvent: events ? deltaHosts / events : 0, snapshots, snapshotBytes, statuses, statusBytes, deltaBytesPerS: deltaBytes / LATENCY_S, mainStallMaxMs, connectMs };
}

async function fleet(hosts: number): Promise<Record<string, unknown>> {
  const historyS = QUICK ? 60 : hosts > 2000 ? 60 : 900;
  const t0 = performance.now();
  const { fx, now } = build(hosts, historyS);
  const buildS = (performance.now() - t0) / 1000;
  const store = fx.store;
  // First: a new cache each round, so every slot is read and every fragment allocated (the
  // first request after a start).
  const first = await time(() => new HostsJson(store).payloadJson(now, EMPTY_ALERT_FEED, NO_ENERGY_INFO));
  const hj = new HostsJson(store);
  // Cold: the dashboard's one cache, with a new sample written to every host before each round,
  // as a request a second after the last finds it at 1 sample/s with no event stream open.
  let round = 0;
  const cold = await time(() => hj.payloadJson(now, EMPTY_ALERT_FEED, NO_ENERGY_INFO), () => {
    round++;
    for (let i = 0; i < hosts; i++) fx.sample(`host-${i}`, readings(i, round), now);
  });
  const warm = await time(() => hj.payloadJson(now, EMPTY_ALERT_FEED, NO_ENERGY_INFO));
  // A delta tick at one sample a second per host and a 25 ms tick: hosts / 40 slots changed.
  const perTick = Math.ceil(hosts / 40);
  let from = 0;
  const changes = new SlotChanges(store);
  const tickOf = (view: HostsView) => time(() => {
    const slots = changes.changed();
    return hj.deltaJson(slots, now, EMPTY_ALERT_FEED, 'event: delta\ndata: ', '\n\n', view);
  }, () => {
    changes.reset();
    for (let k = 0; k < perTick; k++) { fx.sample(`host-${(from + k) % hosts}`, readings(from + k, 7), now); }
    from += perTick;
  });
  const tick = await tickOf('full');
  // The page's view, facts unchanged (as nearly every tick finds them).
  const overviewTick = await tickOf({ facts: () => false });
  const status = await time(() => statusJson(store, now, EMPTY_ALERT_FEED, NO_ENERGY_INFO, true, 'event: status\ndata: ', '\n\n'));
  // The sparklines read whole rings (the page asks for 900 s): the seconds before the samples
  // above are written straight into each ring, so every ring is full however short the history.
  const fillStart = performance.now();
  const fill = new Float64Array(HISTORY_SERIES.length);
  for (let s = historyS; s < store.historyPoints; s++) {
    for (let i = 0; i < hosts; i++) {
      fill.fill(1e6);
      fill[HISTORY_SERIES.indexOf('cpu_pct')] = ((i * 37 + s * 11) % 1000) / 10;
      fill[HISTORY_SERIES.indexOf('mem_used_bytes')] = (4 + (s % 7)) * 2 ** 30;
      store.writeHistory(i, now - s * 1000, fill);
    }
  }
  const fillS = (performance.now() - fillStart) / 1000;
  const spark = await time(() => JSON.stringify(sparklinesPayload(store, 900, 60, now)));
  // What the page asks for when it draws PAGE_ROWS rows of more: their slots, spread over the fleet as a sorted view finds them.
  const pageSlots = Int32Array.from({ length: Math.min(PAGE_ROWS, hosts) }, (_, k) => Math.floor((k * hosts) / Math.min(PAGE_ROWS, hosts)));
  const sparkPage = await time(() => JSON.stringify(sparklinesPayload(store, 900, 60, now, pageSlots)));
  const metrics = await time(() => {
    const details = [];
    for (let i = 0; i < store.slotsUsed(); i++) {
      const slot = store.readSlotPart(i, METRIC_TABLES);
      if (slot && (slot.flags & SLOT_FLAG_USED) !== 0) details.push(hostDetail(slot, now));
    }
    return metricsText(details, now, null);
  });
  const server = createDashboardServer(store, { now: () => now + 500 });
  const base = await listenLoopback(server);
  // Through HTTP, cold (a sample for every host before each request, as 1 s apart at 1 sample/s) and warm.
  let s = 100;
  const httpCold = await time(() => get(`${base}/api/hosts`), () => { s++; for (let i = 0; i < hosts; i++) fx.sample(`host-${i}`, readings(i, s), now + s); });
  const httpWarm = await time(() => get(`${base}/api/hosts`));
  const httpMetrics = await time(() => get(`${base}/metrics`));
  await closeServer(server);
  // The page's stream, then the full one, in turn in the same run.
  const lat = await latency(fx, hosts, 'overview');
  const latFull = await latency(fx, hosts, 'full');
  const mib = (b: number): string => (b / 2 ** 20).toFixed(2);
  const rows = [
    { what: `/api/hosts build + JSON, first request (cache empty)`, ms: first.ms.toFixed(1), target: '', size: '' },
    { what: `/api/hosts build + JSON, cold (every slot changed)`, ms: cold.ms.toFixed(1), target: hosts === 10_000 ? `< ${TARGET.hosts10k}` : '', size: `${(cold.result.length / 2 ** 20).toFixed(1)} MiB` },
    { what: `/api/hosts build + JSON, warm (fragments cached)`, ms: warm.ms.toFixed(1), target: hosts === 10_000 ? `< ${TARGET.hosts10k}` : '', size: '' },
    { what: `GET /api/hosts over loopback, cold / warm`, ms: `${httpCold.ms.toFixed(1)} / ${httpWarm.ms.toFixed(1)}`, target: '', size: '' },
    { what: `/metrics build`, ms: metrics.ms.toFixed(1), target: hosts === 1000 ? `< ${TARGET.metrics1k}` : '', size: `${(metrics.result.length / 2 ** 20).toFixed(1)} MiB` },
    { what: `GET /metrics over loopback`, ms: httpMetrics.ms.toFixed(1), target: hosts === 1000 ? `< ${TARGET.metrics1k}` : '', size: '' },
    { what: `/api/sparklines, 900 s into 60 points, every host (rings filled in ${fillS.toFixed(0)} s)`, ms: spark.ms.toFixed(1), target: '', size: `${(spark.result.length / 2 ** 20).toFixed(1)} MiB` },
    { what: `/api/sparklines?slots= of the ${pageSlots.length} rows the page draws`, ms: sparkPage.ms.toFixed(1), target: '', size: `${(sparkPage.result.length / 2 ** 20).toFixed(2)} MiB` },
    { what: `SSE snapshot (= warm /api/hosts, framed)`, ms: warm.ms.toFixed(1), target: '', size: '' },
    { what: `SSE delta tick, ${perTick} hosts changed (seq scan + build): full / the page's view`, ms: `${tick.ms.toFixed(2)} / ${overviewTick.ms.toFixed(2)}`, target: '', size: `${(tick.result.length / 1024).toFixed(0)} / ${(overviewTick.result.length / 1024).toFixed(0)} KiB` },
    { what: `SSE status event (summary, statuses, alerts)`, ms: status.ms.toFixed(2), target: '', size: `${(status.result.length / 1024).toFixed(1)} KiB` },
    { what: `connect -> its snapshot received`, ms: lat.connectMs.toFixed(0), target: '', size: '' },
    { what: `sample -> delta on the page's stream (?view=overview), p50 / p99 / max`, ms: `${lat.p50.toFixed(0)} / ${lat.p99.toFixed(0)} / ${lat.max.toFixed(0)}`, target: hosts === 10_000 ? `p99 < ${TARGET.deltaP99}` : '', size: `${lat.n} samples` },
    { what: `the same on the full stream (/api/events)`, ms: `${latFull.p50.toFixed(0)} / ${latFull.p99.toFixed(0)} / ${latFull.max.toFixed(0)}`, target: '', size: `${latFull.n} samples` },
    { what: `deltas, MiB a second: the page's stream / the full one`, ms: `${mib(lat.deltaBytesPerS)} / ${mib(latFull.deltaBytesPerS)}`, target: '', size: `${(lat.deltaBytesPerS / latFull.deltaBytesPerS).toFixed(2)}x` },
    { what: `longest stall of the writer + client thread meanwhile`, ms: lat.mainStallMaxMs.toFixed(0), target: '', size: '' },
    { what: `events in the window: snapshots / status events`, ms: `${lat.snapshots} / ${lat.statuses}`, target: '', size: `${(lat.snapshotBytes / 2 ** 20).toFixed(1)} MiB / ${(lat.statusBytes / 1024).toFixed(0)} KiB` },
    { what: `dashboard worker busy while streaming (1 client): the page's stream / the full one`, ms: `${lat.workerBusyPct.toFixed(1)} / ${latFull.workerBusyPct.toFixed(1)} %`, target: '', size: `${lat.deltaHostsPerEvent.toFixed(0)} hosts/delta` },
  ];
  const m = machine();
  console.log(`\ndashboard: ${hosts} hosts, ${historyS} s of history each (written in ${buildS.toFixed(0)} s), medians of ${ROUNDS}; ${m.cores} cores, ${m.model}, Node ${m.node}\n`);
  console.log(table(rows));
  return {
    hosts, history_s: historyS, hosts_first_ms: first.ms, hosts_cold_ms: cold.ms, hosts_warm_ms: warm.ms, hosts_bytes: cold.result.length, http_hosts_cold_ms: httpCold.ms, http_hosts_warm_ms: httpWarm.ms,
    metrics_ms: metrics.ms, http_metrics_ms: httpMetrics.ms, metrics_bytes: metrics.result.length, sparklines_ms: spark.ms, sparklines_page_ms: sparkPage.ms, sparklines_page_bytes: sparkPage.result.length, status_event_ms: status.ms, status_event_bytes: status.result.length, delta_tick_ms: tick.ms, delta_tick_overview_ms: overviewTick.ms, delta_tick_bytes: tick.result.length, delta_tick_overview_bytes: overviewTick.result.length, delta_tick_hosts: perTick,
    delta_latency_ms: { p50: lat.p50, p99: lat.p99, max: lat.max, n: lat.n }, worker_busy_pct: lat.workerBusyPct, main_thread_stall_max_ms: lat.mainStallMaxMs, connect_to_snapshot_ms: lat.connectMs, snapshots_in_window: lat.snapshots, snapshot_bytes_in_window: lat.snapshotBytes, status_events_in_window: lat.statuses, status_bytes_in_window: lat.statusBytes,
    delta_bytes_per_s: lat.deltaBytesPerS, full_stream: { delta_latency_ms: { p50: latFull.p50, p99: latFull.p99, max: latFull.max, n: latFull.n }, worker_busy_pct: latFull.workerBusyPct, delta_bytes_per_s: latFull.deltaBytesPerS }, rows,
  };
}

const results = [];
for (const n of FLEETS) results.push(await fleet(n));
console.log(`\nwritten: ${writeResult('dashboard', { quick: QUICK, targets_ms: TARGET, fleets: results })}`);
