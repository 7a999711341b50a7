/**
 * What energy and cost cost the collector's main thread (collector/energy_service.ts):
 * - per power sample: integrating it (tariff split by period and local hour) and writing the
 *   host's today/month/total into its slot, beside the slot write every sample already costs
 *   (the readings, ShmStore.write), as a ratio;
 * - per host and refresh round (every 10 s): the projection and the day/month figures;
 * - memory per host that reports power, at the default history (62 days, 2 days of hours);
 * - the state file's energy section at each save: the longest event-loop stall while it is made.
 * Hosts carry 8 days of samples before timing starts, so every ring holds data.
 * `--hosts N` (default 10000), `--quick` (1000).
 */
import { EnergyService, STATE_SLICE } from '../../collector/energy_service.ts';
import { parseTariff } from '../../collector/tariff.ts';
import { createLogger } from '../../shared/log.ts';
import { NUM, READING_NUM } from '../../shared/shm_layout.ts';
import { ShmStore } from '../../shared/shm_store.ts';
import { READINGS } from '../../shared/protocol.ts';
import { machine, table, writeResult } from './common.ts';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const hostsAt = argv.indexOf('--hosts');
const N = hostsAt >= 0 ? Number(argv[hostsAt + 1]) : quick ? 1000 : 10_000;
const ZONE = 'Europe/Paris';
const tariff = parseTariff('EUR; peak 0.2700 mon-fri 06:00-22:00; offpeak 0.2068 mon-fri 22:00-06:00; offpeak 0.2068 sat-sun', 'tariff', ZONE);
const store = ShmStore.create(N, 0, 60);
for (let i = 0; i < N; i++) store.allocateSlot();
const service = new EnergyService({ tariff, timeZone: ZONE, maxGapMs: 60_000, historyDays: 62, hourlyDays: 2, projectionDays: 30, store, log: createLogger('bench', 'error') });
const names = Array.from({ length: N }, (_, i) => `host-${i}`);
const now = Date.UTC(2026, 10, 22, 13, 30);

const heapBefore = process.memoryUsage().heapUsed;
for (let t = now - 8 * 86_400_000; t < now; t += 600_000) for (let i = 0; i < N; i++) service.onSample(names[i]!, i, t, 100, 600_000);
global.gc?.();
const heapAfter = process.memoryUsage().heapUsed;

/** Median over `rounds` of ns per item of `fn(round)` doing `items` items. */
function nsPerItem(items: number, rounds: number, fn: (round: number) => void): number {
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    fn(r);
    out.push(Number(process.hrtime.bigint() - t0) / items);
  }
  out.sort((a, b) => a - b);
  return out[Math.floor(out.length / 2)]!;
}

const SECONDS = quick ? 3 : 10;
// The slot write of a sample's readings, as HostTable.recordSample does it (numbers only).
const readingsWrite = nsPerItem(N * SECONDS, 3, (r) => {
  for (let s = 0; s < SECONDS; s++) {
    for (let i = 0; i < N; i++) {
      const numbers: Array<readonly [number, number]> = [[NUM.LAST_WRITE_MS, now], [NUM.RECEIVED_AT_MS, now], [NUM.SAMPLE_TS_MS, now], [NUM.SAMPLE_SEQ, s], [NUM.SAMPLES_TOTAL, r]];
      for (const x of READINGS) numbers.push([READING_NUM[x.name], 1.5]);
      store.write(i, { numbers });
    }
  }
});
let second = 0;
const onSample = nsPerItem(N * SECONDS, 3, () => {
  for (let s = 0; s < SECONDS; s++, second++) for (let i = 0; i < N; i++) service.onSample(names[i]!, i, now + second * 1000, 100 + (i % 7), 1000);
});
const refresh = nsPerItem(N, 5, (r) => service.refresh(now + second * 1000 + r));

// The state file's energy section at each save: once made in one turn (JSON.stringify of every
// host's counters), now a slice of hosts a turn (EnergyService.stateBytes). What matters to the
// agents is the longest turn: the event loop reads no sample meanwhile.
function oneTurnMs(): number {
  const t0 = performance.now();
  Buffer.from(JSON.stringify(service.toJSON()), 'utf8');
  return performance.now() - t0;
}
async function slicedMs(): Promise<{ longest: number; total: number; bytes: number }> {
  let longest = 0;
  let last = performance.now();
  let ticking = true;
  const tick = (): void => {
    const t = performance.now();
    longest = Math.max(longest, t - last);
    last = t;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const t0 = performance.now();
  const parts = await service.stateBytes();
  const total = performance.now() - t0;
  ticking = false;
  longest = Math.max(longest, performance.now() - last);
  return { longest, total, bytes: parts.reduce((n, p) => n + p.length, 0) };
}
const oneTurn = [oneTurnMs(), oneTurnMs(), oneTurnMs()].sort((a, b) => a - b)[1]!;
const slicedRuns = [await slicedMs(), await slicedMs(), await slicedMs()].sort((a, b) => a.longest - b.longest);
const sliced = slicedRuns[1]!;

const rows = [
  { what: 'energy per power sample (integrate + slot write)', 'µs': (onSample / 1000).toFixed(2), 'vs readings write': (onSample / readingsWrite).toFixed(2) },
  { what: 'readings slot write per sample (for scale)', 'µs': (readingsWrite / 1000).toFixed(2), 'vs readings write': '1.00' },
  { what: 'refresh per host (every 10 s, in slices)', 'µs': (refresh / 1000).toFixed(2), 'vs readings write': (refresh / readingsWrite).toFixed(2) },
];
const saveRows = [
  { 'state save, energy section': 'made in one turn (before)', 'longest event-loop stall, ms': oneTurn.toFixed(1), 'in all, ms': oneTurn.toFixed(1), MB: (sliced.bytes / 1e6).toFixed(1) },
  { 'state save, energy section': `${STATE_SLICE} hosts a turn (stateBytes)`, 'longest event-loop stall, ms': sliced.longest.toFixed(1), 'in all, ms': sliced.total.toFixed(1), MB: (sliced.bytes / 1e6).toFixed(1) },
];
console.log(`energy: ${N} hosts, 8 days of samples each, tariff with 2 periods (${machine().model}, ${machine().cores} cores)`);
console.log(table(rows));
console.log(table(saveRows));
console.log(`longest stall of a save's energy section: ${(sliced.longest / oneTurn).toFixed(3)}x the one-turn build`);
const perHostBytes = Math.max(0, (heapAfter - heapBefore) / N);
console.log(`heap per host with energy: ${(perHostBytes / 1024).toFixed(1)} KiB${global.gc ? '' : ' (run with --expose-gc for a settled figure)'}`);
console.log(`written ${writeResult('energy', { hosts: N, quick, ns: { energyPerSample: onSample, readingsWritePerSample: readingsWrite, refreshPerHost: refresh }, heapPerHostBytes: perHostBytes, stateSection: { bytes: sliced.bytes, oneTurnMs: oneTurn, slicedLongestMs: sliced.longest, slicedTotalMs: sliced.total } })}`);
