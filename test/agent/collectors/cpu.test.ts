import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseSample } from '../../../shared/protocol.ts';
import {
  FIRST_SAMPLE_WAIT_MS,
  cpuBusyPct,
  cpuCollector,
  createCpuCollector,
  parseCpuTimes,
  snapshotFromCpus,
  takeSnapshot,
  type CoreTimes,
  type CpuSnapshot,
} from '../../../agent/collectors/cpu.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

/** Two os.cpus() results recorded on a 2 vCPU VM 1 s apart, model replaced by "fixture-cpu". */
function fixture(name: string): CpuSnapshot {
  const cpus = JSON.parse(readFileSync(new URL(`../../fixtures/proc/${name}`, import.meta.url), 'utf8')) as Array<{ times: CoreTimes }>;
  return snapshotFromCpus(cpus);
}

/** A snapshot from [user, nice, sys, idle, irq] per core, ms. */
function cores(...rows: ReadonlyArray<readonly [number, number, number, number, number]>): CpuSnapshot {
  return rows.map(([user, nice, sys, idle, irq]) => ({ user, nice, sys, idle, irq }));
}

function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.equal(sample[name as keyof typeof sample], value);
}

const T0 = fixture('cpus_t0.json');
const T1 = fixture('cpus_t1.json');
const BASE = cores([1000, 10, 500, 90_000, 5], [2000, 0, 700, 80_000, 0]);

const CASES: ReadonlyArray<{ name: string; prev: CpuSnapshot | undefined; curr: CpuSnapshot; cpuPct: number | null; reason?: RegExp }> = [
  // Δtotal 1990 ms, Δidle 850 ms: 100 × (1 − 850/1990) = 57.29.
  { name: 'recorded cpus_t0 -> cpus_t1', prev: T0, curr: T1, cpuPct: 57.3 },
  { name: 'recorded snapshots in the wrong order', prev: T1, curr: T0, cpuPct: null, reason: /went backwards/ },
  { name: 'first call: no previous snapshot', prev: undefined, curr: T0, cpuPct: null, reason: /no previous CPU snapshot/ },
  { name: 'idle machine', prev: BASE, curr: cores([1000, 10, 500, 91_000, 5], [2000, 0, 700, 81_000, 0]), cpuPct: 0 },
  { name: 'fully busy', prev: BASE, curr: cores([1600, 10, 900, 90_000, 5], [2900, 0, 800, 80_000, 0]), cpuPct: 100 },
  // Δtotal 3000, Δidle 1000: 66.67.
  { name: 'rounds to 0.1', prev: BASE, curr: cores([2000, 10, 500, 91_000, 5], [3000, 0, 700, 80_000, 0]), cpuPct: 66.7 },
  { name: 'busy on one core of two', prev: BASE, curr: cores([1900, 10, 600, 90_000, 5], [2000, 0, 700, 81_000, 0]), cpuPct: 50 },
  { name: 'irq counts as busy', prev: BASE, curr: cores([1000, 10, 500, 90_900, 105], [2000, 0, 700, 81_000, 0]), cpuPct: 5 },
  { name: 'counter backwards (one core irq)', prev: BASE, curr: cores([1100, 10, 500, 91_000, 5], [2100, 0, 700, 81_000, -1]), cpuPct: null, reason: /core 1 irq counter went backwards/ },
  { name: 'counter backwards (idle reset, wrap)', prev: BASE, curr: cores([1100, 10, 500, 10, 5], [2100, 0, 700, 81_000, 0]), cpuPct: null, reason: /core 0 idle counter went backwards/ },
  { name: 'core count changed (hotplug, 2 -> 3)', prev: BASE, curr: cores([1100, 10, 500, 91_000, 5], [2100, 0, 700, 81_000, 0], [0, 0, 0, 100, 0]), cpuPct: null, reason: /core count changed from 2 to 3/ },
  { name: 'core count changed (offline, 2 -> 1)', prev: BASE, curr: cores([1100, 10, 500, 91_000, 5]), cpuPct: null, reason: /core count changed from 2 to 1/ },
  { name: 'no delta (same snapshot twice)', prev: BASE, curr: BASE, cpuPct: null, reason: /no CPU time elapsed/ },
  { name: 'no delta (recorded snapshot twice)', prev: T1, curr: T1, cpuPct: null, reason: /no CPU time elapsed/ },
  { name: 'no cores', prev: [], curr: [], cpuPct: null, reason: /gave no cores/ },
  { name: 'NaN counter', prev: BASE, curr: cores([1100, 10, 500, Number.NaN, 5], [2100, 0, 700, 81_000, 0]), cpuPct: null, reason: /core 0 idle counter is not a finite number/ },
];

for (const c of CASES) {
  test(`cpuBusyPct: ${c.name}`, () => {
    assert.equal(cpuBusyPct(c.prev, c.curr), c.cpuPct);
    const result = parseCpuTimes(c.prev, c.curr);
    if (c.cpuPct === null) {
      assert.deepEqual(result.readings, {});
      assert.match(result.missing['cpu_pct'] ?? '', c.reason ?? /./);
    } else {
      assert.deepEqual(result, { readings: { cpu_pct: c.cpuPct }, missing: {} });
    }
    assertValidSample(result);
  });
}

test('snapshotFromCpus keeps only the five counters of each core', () => {
  assert.deepEqual(T0, cores([47430, 40, 14260, 477020, 0], [60310, 40, 17850, 457420, 0]));
});

/** A snapshot reader that hands out `snapshots` in turn and counts its calls. */
function scripted(snapshots: readonly CpuSnapshot[]): { read: () => CpuSnapshot; calls: () => number } {
  let i = 0;
  return {
    read: () => {
      const s = snapshots[i++];
      if (s === undefined) throw new Error('scripted reader ran out of snapshots');
      return s;
    },
    calls: () => i,
  };
}

test('collector: the first call takes a baseline, waits, and already carries a value', async () => {
  const reader = scripted([T0, T1, T1]);
  const collector = createCpuCollector(reader.read, 20);
  const started = performance.now();
  const first = await collector.collect();
  assert.ok(performance.now() - started >= 19, 'first call waited');
  assert.equal(reader.calls(), 2);
  assert.deepEqual(first, { readings: { cpu_pct: 57.3 }, missing: {} });
  // Later calls read once and compare with what the previous call left.
  const second = await collector.collect();
  assert.equal(reader.calls(), 3);
  assert.match(second.missing['cpu_pct'] ?? '', /no CPU time elapsed/);
  assertValidSample(first);
  assertValidSample(second);
});

test('collector: after a hotplug gives a reason, the next call has a value again', async () => {
  const three = cores([1100, 10, 500, 91_000, 5], [2100, 0, 700, 81_000, 0], [0, 0, 0, 100, 0]);
  const threeLater = cores([1200, 10, 500, 91_100, 5], [2100, 0, 700, 81_200, 0], [0, 0, 0, 200, 0]);
  const collector = createCpuCollector(scripted([BASE, BASE, three, threeLater]).read, 1);
  await collector.collect();
  const hotplug = await collector.collect();
  assert.match(hotplug.missing['cpu_pct'] ?? '', /core count changed/);
  // Δtotal 500 ms, Δidle 400 ms.
  assert.deepEqual(await collector.collect(), { readings: { cpu_pct: 20 }, missing: {} });
});

test('takeSnapshot reads one entry per os.cpus() core', () => {
  const snapshot = takeSnapshot();
  assert.equal(snapshot.length, os.cpus().length);
  for (const core of snapshot) assert.deepEqual(Object.keys(core), ['user', 'nice', 'sys', 'idle', 'irq']);
});

test('cpuCollector keeps the interface index.ts lists', () => {
  assert.equal(cpuCollector.name, 'cpu');
  assert.deepEqual(cpuCollector.provides, ['cpu_pct']);
});

test('on this machine two collect() calls give cpu_pct in 0..100', async () => {
  const collector = createCpuCollector();
  const hasCores = os.cpus().length > 0;
  const started = performance.now();
  const first = await collector.collect();
  assert.ok(performance.now() - started >= FIRST_SAMPLE_WAIT_MS - 1, 'first call waits for its second snapshot');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const second = await collector.collect();
  for (const result of [first, second]) {
    const pct = result.readings.cpu_pct;
    if (hasCores) assert.ok(pct !== undefined && pct >= 0 && pct <= 100, `cpu_pct ${pct}, missing ${result.missing['cpu_pct']}`);
    else assert.ok(result.missing['cpu_pct']);
    assertValidSample(result);
  }
});
