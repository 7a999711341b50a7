/**
 * What the dashboard worker pays per answer at fleet scale: one /api/hosts snapshot (built once
 * per SSE push for every client), its JSON, one /api/sparklines answer (every ring read in
 * place), one /metrics scrape, and the change check the SSE hub runs every 200 ms.
 * Hosts are written through the collector's own write path with 900 s of history each.
 *
 * `npm run bench -- api [--hosts 500]`
 */
import { hostsPayload, sparklinesPayload } from '../../dashboard/api.ts';
import { metricsText } from '../../dashboard/metrics.ts';
import { hostDetail } from '../../shared/host_view.ts';
import type { Readings } from '../../shared/protocol.ts';
import { FIXTURE_READINGS, makeStore } from '../../test/helpers/store_fixture.ts';
import { machine, table, writeResult } from './common.ts';

const GIB = 1024 ** 3;
const argv = process.argv.slice(2);
const at = argv.indexOf('--hosts');
const HOSTS = at >= 0 ? Number(argv[at + 1]) : 500;
const HISTORY_S = 900;
const ROUNDS = 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median ms of `fn` over ROUNDS runs, after one warm-up; and its last result. */
function time<T>(fn: () => T): { ms: number; result: T } {
  let result = fn();
  const ms: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    result = fn();
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), result };
}

const now = Date.now();
const start = now - HISTORY_S * 1000;
const readings = (i: number, s: number): Readings => ({
  ...FIXTURE_READINGS, cpu_pct: (s + i) % 100, net_rx_bps: 1e6, net_tx_bps: 2e5, temp_max_c: 55, power_w: 120,
  fs: [
    { mount: '/', type: 'ext4', size_bytes: 100 * GIB, used_bytes: 50 * GIB, free_bytes: 45 * GIB },
    { mount: '/var', type: 'xfs', size_bytes: 10 * GIB, used_bytes: 9 * GIB, free_bytes: 0.5 * GIB },
  ],
  net: [{ name: 'eth0', rx_bps: 1e6, tx_bps: 2e5 }],
  cpu_cores_pct: new Array(8).fill(25),
} as Readings);
const fx = makeStore([], { capacity: HOSTS, nowMs: start });
for (let i = 0; i < HOSTS; i++) fx.add({ name: `host-${i}`, status: 'online', intervalMs: 1000, readings: readings(i, 0) }, start);
for (let s = 1; s <= HISTORY_S; s++) for (let i = 0; i < HOSTS; i++) fx.sample(`host-${i}`, readings(i, s), start + s * 1000);

const snapshot = time(() => hostsPayload(fx.store, now));
const json = time(() => JSON.stringify(snapshot.result));
const spark = time(() => JSON.stringify(sparklinesPayload(fx.store, HISTORY_S, 60, now)));
const metrics = time(() => {
  const details = [];
  for (let i = 0; i < fx.store.slotsUsed(); i++) {
    const slot = fx.store.readSlot(i, true);
    if (slot) details.push(hostDetail(slot, now));
  }
  return metricsText(details, now, null);
});
const mark = time(() => fx.store.changeMark());

const rows = [
  { what: `/api/hosts snapshot of ${HOSTS} hosts (with tables)`, 'median ms': snapshot.ms.toFixed(1), size: '' },
  { what: 'its JSON.stringify (once per push, all clients)', 'median ms': json.ms.toFixed(1), size: `${(json.result.length / 1024).toFixed(0)} KiB` },
  { what: `/api/sparklines, ${HOSTS} hosts x ${HISTORY_S} s into 60 points`, 'median ms': spark.ms.toFixed(1), size: `${(spark.result.length / 1024).toFixed(0)} KiB` },
  { what: '/metrics scrape', 'median ms': metrics.ms.toFixed(1), size: `${(metrics.result.length / 1024).toFixed(0)} KiB` },
  { what: 'SSE change check (every 200 ms)', 'median ms': mark.ms.toFixed(3), size: '' },
];
const m = machine();
console.log(`api: ${HOSTS} hosts, ${HISTORY_S} s of history each, medians of ${ROUNDS}; ${m.cores} cores, ${m.model}, Node ${m.node}\n`);
console.log(table(rows));
console.log(`written: ${writeResult('api', { machine: m, hosts: HOSTS, rows })}`);
