import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseSample } from '../../../shared/protocol.ts';
import {
  FIRST_SAMPLE_WAIT_MS,
  cpuBusyPct,
  cpuCollector,
  createCpuCollector,
  parseCpuFreq,
  parseCpuPair,
  parseCpuTimes,
  parseProcStat,
  parseProcStatPair,
  readCpuFreq,
  readCpuSource,
  snapshotFromCpus,
  takeSnapshot,
  type CoreTimes,
  type CpuSnapshot,
  type CpuSource,
  type ProcStat,
} from '../../../agent/collectors/cpu.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

const text = (name: string): string => readFileSync(new URL(`../../fixtures/proc/${name}`, import.meta.url), 'utf8');
/** Two os.cpus() results recorded on a 2 vCPU VM 1 s apart, model replaced by "fixture-cpu". */
const osFixture = (name: string): CpuSnapshot => snapshotFromCpus(JSON.parse(text(name)) as Array<{ times: CoreTimes }>);

function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.deepEqual(sample[name as keyof typeof sample], value);
}

/** /proc/stat text from the aggregate line and per-core lines: user nice system idle iowait irq softirq steal guest guest_nice. */
function stat(agg: readonly number[], ...cores: ReadonlyArray<readonly number[]>): ProcStat {
  const lines = [`cpu  ${agg.join(' ')}`, ...cores.map((c, i) => `cpu${i} ${c.join(' ')}`), 'intr 1 2 3', 'procs_running 3', 'procs_blocked 1'];
  return parseProcStat(`${lines.join('\n')}\n`);
}

const A = stat([1000, 100, 500, 8000, 200, 10, 40, 50, 300, 0], [500, 50, 250, 4000, 100, 5, 20, 25, 150, 0], [500, 50, 250, 4000, 100, 5, 20, 25, 150, 0]);
// Δ user 300, system 100, idle 400, iowait 100, softirq 50, steal 50 (and guest 200, inside user): Δtotal 1000.
const B = stat([1300, 100, 600, 8400, 300, 10, 90, 100, 500, 0], [800, 50, 350, 4000, 100, 5, 70, 75, 350, 0], [500, 50, 250, 4400, 200, 5, 20, 25, 150, 0]);
const AGGREGATE = ['cpu_pct', 'cpu_user_pct', 'cpu_system_pct', 'cpu_iowait_pct', 'cpu_steal_pct'];

const PROC_CASES: ReadonlyArray<{ name: string; prev: ProcStat; curr: ProcStat; readings: Record<string, unknown>; missing: Record<string, RegExp> }> = [
  {
    name: 'split: busy = total - idle - iowait, steal counts as busy, guest not counted twice',
    prev: A, curr: B,
    readings: { cpu_pct: 50, cpu_user_pct: 30, cpu_system_pct: 15, cpu_iowait_pct: 10, cpu_steal_pct: 5, cpu_cores_pct: [100, 0] },
    missing: {},
  },
  {
    name: 'recorded stat_t0 -> stat_t1 (idle VM: only idle moved)',
    prev: parseProcStat(text('stat_t0.txt')), curr: parseProcStat(text('stat_t1.txt')),
    readings: { cpu_pct: 0, cpu_user_pct: 0, cpu_system_pct: 0, cpu_iowait_pct: 0, cpu_steal_pct: 0, cpu_cores_pct: [0, 0] },
    missing: {},
  },
  {
    name: 'guest time alone: 100 of user is guest, still 50 %',
    prev: stat([100, 0, 0, 100, 0, 0, 0, 0, 0, 0], [100, 0, 0, 100, 0, 0, 0, 0, 0, 0]),
    curr: stat([200, 0, 0, 200, 0, 0, 0, 0, 100, 0], [200, 0, 0, 200, 0, 0, 0, 0, 100, 0]),
    readings: { cpu_pct: 50, cpu_user_pct: 50, cpu_system_pct: 0, cpu_iowait_pct: 0, cpu_steal_pct: 0, cpu_cores_pct: [50] },
    missing: {},
  },
  {
    name: 'iowait going down (proc(5): unreliable) counts as 0, not as no value',
    prev: stat([0, 0, 0, 100, 50, 0, 0, 0, 0, 0], [0, 0, 0, 100, 50, 0, 0, 0, 0, 0]),
    curr: stat([30, 0, 0, 170, 45, 0, 0, 0, 0, 0], [30, 0, 0, 170, 45, 0, 0, 0, 0, 0]),
    readings: { cpu_pct: 30, cpu_user_pct: 30, cpu_system_pct: 0, cpu_iowait_pct: 0, cpu_steal_pct: 0, cpu_cores_pct: [30] },
    missing: {},
  },
  {
    name: 'aggregate user counter backwards: no aggregate value, never negative',
    prev: A, curr: stat([900, 100, 600, 8400, 300, 10, 90, 100, 0, 0], [800, 50, 350, 4000, 100, 5, 70, 75, 0, 0], [500, 50, 250, 4400, 200, 5, 20, 25, 0, 0]),
    readings: { cpu_cores_pct: [100, 0] },
    missing: Object.fromEntries(AGGREGATE.map((n) => [n, /^CPU user counter went backwards$/])),
  },
  {
    name: 'one core counter backwards: aggregate kept, no per-core list',
    prev: A, curr: stat([1300, 100, 600, 8400, 300, 10, 90, 100, 500, 0], [800, 50, 350, 3999, 100, 5, 70, 75, 350, 0], [500, 50, 250, 4400, 200, 5, 20, 25, 150, 0]),
    readings: { cpu_pct: 50, cpu_user_pct: 30, cpu_system_pct: 15, cpu_iowait_pct: 10, cpu_steal_pct: 5 },
    missing: { cpu_cores_pct: /^CPU core 0 idle counter went backwards$/ },
  },
  {
    name: 'core count changed (a core taken offline)',
    prev: A, curr: stat([1300, 100, 600, 8400, 300, 10, 90, 100, 500, 0], [800, 50, 350, 4000, 100, 5, 70, 75, 350, 0]),
    readings: { cpu_pct: 50, cpu_user_pct: 30, cpu_system_pct: 15, cpu_iowait_pct: 10, cpu_steal_pct: 5 },
    missing: { cpu_cores_pct: /core count changed from 2 to 1/ },
  },
  {
    name: 'same snapshot twice',
    prev: A, curr: A,
    readings: { cpu_cores_pct: [0, 0] },
    missing: Object.fromEntries(AGGREGATE.map((n) => [n, /no CPU time elapsed/])),
  },
  {
    name: 'not /proc/stat at all',
    prev: parseProcStat('garbage\n'), curr: parseProcStat('cpu x y z\n'),
    readings: {},
    missing: { ...Object.fromEntries(AGGREGATE.map((n) => [n, /no aggregate cpu line/])), cpu_cores_pct: /no cpuN lines/ },
  },
];

for (const c of PROC_CASES) {
  test(`parseProcStatPair: ${c.name}`, () => {
    const result = parseProcStatPair(c.prev, c.curr);
    assert.deepEqual(result.readings, c.readings);
    assert.deepEqual(Object.keys(result.missing).sort(), Object.keys(c.missing).sort());
    for (const [name, re] of Object.entries(c.missing)) assert.match(result.missing[name]!, re, name);
    assertValidSample(result);
  });
}

test('parseProcStat: procs lines, a 2.6.0-era short line (no iowait/steal) is read as zeros', () => {
  const s = parseProcStat('cpu 1 2 3 4\ncpu0 1 2 3 4\nprocs_running 7\nprocs_blocked 2\n');
  assert.deepEqual(s.total, { user: 1, nice: 2, system: 3, idle: 4, iowait: 0, irq: 0, softirq: 0, steal: 0 });
  assert.equal(s.procsRunning, 7);
  assert.equal(s.procsBlocked, 2);
  assert.deepEqual(A.cores.map((c) => c.id), [0, 1]);
});

/** A snapshot from [user, nice, sys, idle, irq] per core, ms. */
function cores(...rows: ReadonlyArray<readonly [number, number, number, number, number]>): CpuSnapshot {
  return rows.map(([user, nice, sys, idle, irq]) => ({ user, nice, sys, idle, irq }));
}
const T0 = osFixture('cpus_t0.json');
const T1 = osFixture('cpus_t1.json');
const BASE = cores([1000, 10, 500, 90_000, 5], [2000, 0, 700, 80_000, 0]);

const OS_CASES: ReadonlyArray<{ name: string; prev: CpuSnapshot | undefined; curr: CpuSnapshot; cpuPct: number | null; cores?: number[]; reason?: RegExp }> = [
  // Δtotal 1990 ms, Δidle 850 ms: 57.29; core 0 Δ 980 ms with 840 idle: 14.29; core 1 Δ 1010 with 10 idle: 99.0.
  { name: 'recorded cpus_t0 -> cpus_t1', prev: T0, curr: T1, cpuPct: 57.3, cores: [14.3, 99] },
  { name: 'recorded snapshots in the wrong order', prev: T1, curr: T0, cpuPct: null, reason: /went backwards/ },
  { name: 'first call: no previous snapshot', prev: undefined, curr: T0, cpuPct: null, reason: /no previous CPU snapshot/ },
  { name: 'busy on one core of two', prev: BASE, curr: cores([1900, 10, 600, 90_000, 5], [2000, 0, 700, 81_000, 0]), cpuPct: 50, cores: [100, 0] },
  { name: 'rounds to 0.1', prev: BASE, curr: cores([2000, 10, 500, 91_000, 5], [3000, 0, 700, 80_000, 0]), cpuPct: 66.7, cores: [50, 100] },
  { name: 'counter backwards (idle reset)', prev: BASE, curr: cores([1100, 10, 500, 10, 5], [2100, 0, 700, 81_000, 0]), cpuPct: null, reason: /core 0 idle counter went backwards/ },
  { name: 'core count changed 2 -> 3', prev: BASE, curr: cores([1100, 10, 500, 91_000, 5], [2100, 0, 700, 81_000, 0], [0, 0, 0, 100, 0]), cpuPct: null, reason: /core count changed from 2 to 3/ },
  { name: 'no delta', prev: BASE, curr: BASE, cpuPct: null, reason: /no CPU time elapsed/ },
  { name: 'no cores', prev: [], curr: [], cpuPct: null, reason: /gave no cores/ },
  { name: 'NaN counter', prev: BASE, curr: cores([1100, 10, 500, Number.NaN, 5], [2100, 0, 700, 81_000, 0]), cpuPct: null, reason: /core 0 idle counter is not a finite number/ },
];

for (const c of OS_CASES) {
  test(`os.cpus() fallback: ${c.name}`, () => {
    assert.equal(cpuBusyPct(c.prev, c.curr), c.cpuPct);
    const result = parseCpuTimes(c.prev, c.curr);
    if (c.cpuPct === null) {
      assert.deepEqual(result.readings, {});
      assert.match(result.missing['cpu_pct'] ?? '', c.reason!);
      assert.equal(result.missing['cpu_cores_pct'], result.missing['cpu_pct']);
    } else {
      assert.deepEqual(result, { readings: { cpu_pct: c.cpuPct, cpu_cores_pct: c.cores }, missing: {} });
    }
    assertValidSample(result);
  });
}

test('parseCpuPair: the os.cpus() source names the split readings it cannot give; a source change gives reasons', () => {
  const os1: CpuSource = { kind: 'os', cpus: T0 };
  const os2: CpuSource = { kind: 'os', cpus: T1 };
  const r = parseCpuPair({ atMs: 0, value: os1 }, { atMs: 1000, value: os2 });
  assert.equal(r.readings.cpu_pct, 57.3);
  for (const n of ['cpu_user_pct', 'cpu_system_pct', 'cpu_iowait_pct', 'cpu_steal_pct']) assert.match(r.missing[n]!, /needs \/proc\/stat/);
  const mixed = parseCpuPair({ atMs: 0, value: os1 }, { atMs: 1000, value: { kind: 'proc', stat: A } });
  assert.deepEqual(mixed.readings, {});
  assert.match(mixed.missing['cpu_pct']!, /source changed/);
});

const FREQ_CASES: ReadonlyArray<{ name: string; speeds: number[]; cpuinfo?: string; want?: number }> = [
  { name: 'mean of os.cpus() speeds', speeds: [2000, 3001], want: 2501 },
  { name: 'cores at 0 MHz are left out of the mean', speeds: [0, 3000], want: 3000 },
  { name: 'all 0: recorded /proc/cpuinfo of this VM', speeds: [0, 0], cpuinfo: text('cpuinfo_mhz.txt'), want: 2445 },
  { name: 'all 0, no cpuinfo (ARM without cpufreq)', speeds: [0, 0], cpuinfo: 'processor : 0\nBogoMIPS : 108.00\n' },
  { name: 'no cores, unreadable cpuinfo', speeds: [] },
];
for (const c of FREQ_CASES) {
  test(`parseCpuFreq: ${c.name}`, () => {
    const r = parseCpuFreq(c.speeds, c.cpuinfo);
    if (c.want !== undefined) assert.deepEqual(r, { readings: { cpu_freq_mhz: c.want }, missing: {} });
    else assert.match(r.missing['cpu_freq_mhz']!, /no CPU clock exposed/);
    assertValidSample(r);
  });
}

/** A source reader that hands out `sources` in turn and counts its calls. */
function scripted(sources: readonly CpuSource[]): { read: () => CpuSource; calls: () => number } {
  let i = 0;
  return {
    read: () => {
      const s = sources[i++];
      if (s === undefined) throw new Error('scripted reader ran out of snapshots');
      return s;
    },
    calls: () => i,
  };
}
const FREQ = (): CollectResult => ({ readings: { cpu_freq_mhz: 1234 }, missing: {} });

test('collector: the first call takes a baseline, waits, and already carries values', async () => {
  const reader = scripted([{ kind: 'proc', stat: A }, { kind: 'proc', stat: B }, { kind: 'proc', stat: B }]);
  const collector = createCpuCollector({ readSource: reader.read, readFreq: FREQ, firstWaitMs: 20 });
  const started = performance.now();
  const first = await collector.collect();
  assert.ok(performance.now() - started >= 19, 'first call waited');
  assert.equal(reader.calls(), 2);
  assert.equal(first.readings.cpu_pct, 50);
  assert.equal(first.readings.cpu_freq_mhz, 1234);
  const second = await collector.collect();
  assert.equal(reader.calls(), 3);
  assert.match(second.missing['cpu_pct'] ?? '', /no CPU time elapsed/);
  assertValidSample(first);
  assertValidSample(second);
});

test('collector: after a hotplug gives a reason, the next call has a value again; a throwing clock costs only cpu_freq_mhz', async () => {
  const three = cores([1100, 10, 500, 91_000, 5], [2100, 0, 700, 81_000, 0], [0, 0, 0, 100, 0]);
  const threeLater = cores([1200, 10, 500, 91_100, 5], [2100, 0, 700, 81_200, 0], [0, 0, 0, 200, 0]);
  const src = (cpus: CpuSnapshot): CpuSource => ({ kind: 'os', cpus });
  const collector = createCpuCollector({
    readSource: scripted([src(BASE), src(BASE), src(three), src(threeLater)]).read,
    readFreq: () => { throw new Error('EACCES: cpuinfo'); },
    firstWaitMs: 1,
  });
  await collector.collect();
  const hotplug = await collector.collect();
  assert.match(hotplug.missing['cpu_pct'] ?? '', /core count changed/);
  const after = await collector.collect();
  // Δtotal 500 ms, Δidle 400 ms.
  assert.equal(after.readings.cpu_pct, 20);
  assert.deepEqual(after.readings.cpu_cores_pct, [50, 0, 0]);
  assert.match(after.missing['cpu_freq_mhz']!, /EACCES/);
});

test('takeSnapshot reads one entry per os.cpus() core', () => {
  const snapshot = takeSnapshot();
  assert.equal(snapshot.length, os.cpus().length);
  for (const core of snapshot) assert.deepEqual(Object.keys(core), ['user', 'nice', 'sys', 'idle', 'irq']);
});

test('readCpuSource: /proc/stat on Linux, os.cpus() where the file cannot be read', () => {
  const fallback = readCpuSource('/nonexistent/proc/stat');
  assert.equal(fallback.kind, 'os');
  const real = readCpuSource();
  if (os.platform() !== 'linux') return;
  assert.equal(real.kind, 'proc');
  assert.ok(real.kind === 'proc' && real.stat.total !== undefined);
  assert.equal(real.kind === 'proc' ? real.stat.cores.length : 0, os.cpus().length);
});

test('cpuCollector is fast class and provides the CPU readings', () => {
  assert.equal(cpuCollector.name, 'cpu');
  assert.equal(cpuCollector.kind, 'fast');
  assert.deepEqual([...cpuCollector.provides].sort(), ['cpu_cores_pct', 'cpu_freq_mhz', 'cpu_iowait_pct', 'cpu_pct', 'cpu_steal_pct', 'cpu_system_pct', 'cpu_user_pct']);
});

test('on this machine two collect() calls give every CPU reading (or a reason) in range', async () => {
  const collector = createCpuCollector();
  const started = performance.now();
  const first = await collector.collect();
  assert.ok(performance.now() - started >= FIRST_SAMPLE_WAIT_MS - 1, 'first call waits for its second snapshot');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const second = await collector.collect();
  for (const result of [first, second]) {
    for (const name of collector.provides) assert.ok(result.readings[name] !== undefined || result.missing[name] !== undefined, name);
    const pct = result.readings.cpu_pct;
    assert.ok(pct !== undefined && pct >= 0 && pct <= 100, `cpu_pct ${pct}, missing ${result.missing['cpu_pct']}`);
    assert.equal(result.readings.cpu_cores_pct?.length, os.cpus().length);
    assertValidSample(result);
  }
  const freq = readCpuFreq();
  assert.ok(freq.readings.cpu_freq_mhz !== undefined || freq.missing['cpu_freq_mhz'] !== undefined);
});

test('readCpuFreq: cpufreq scaling_cur_freq of the cores of /proc/stat (kHz), else /proc/cpuinfo; os.cpus() without core ids', () => {
  const root = mkdtempSync(join(os.tmpdir(), 'sentinel-cpufreq-'));
  try {
    const cpuinfo = fileURLToPath(new URL('../../fixtures/proc/cpuinfo_mhz.txt', import.meta.url));
    for (const [id, khz] of [[0, 2_400_000], [1, 3_001_000]] as const) {
      mkdirSync(join(root, `cpu${id}`, 'cpufreq'), { recursive: true });
      writeFileSync(join(root, `cpu${id}`, 'cpufreq', 'scaling_cur_freq'), `${khz}\n`);
    }
    assert.deepEqual(readCpuFreq([0, 1], root, cpuinfo), { readings: { cpu_freq_mhz: 2701 }, missing: {} });
    assert.deepEqual(readCpuFreq([0, 1, 7], root, cpuinfo).readings, { cpu_freq_mhz: 2701 }, 'a core without the file (offline meanwhile) is left out');
    assert.deepEqual(readCpuFreq([2, 3], root, cpuinfo).readings, { cpu_freq_mhz: 2445 }, 'no cpufreq (a VM): /proc/cpuinfo');
    assert.match(readCpuFreq([2], root, join(root, 'absent')).missing['cpu_freq_mhz']!, /no CPU clock exposed/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const ids = readCpuSource();
  if (ids.kind === 'proc') {
    const ours = readCpuFreq(ids.stat.cores.map((c) => c.id));
    const libuv = readCpuFreq();
    assert.equal(ours.readings.cpu_freq_mhz === undefined, libuv.readings.cpu_freq_mhz === undefined, 'the same source as os.cpus() on this machine');
  }
});
