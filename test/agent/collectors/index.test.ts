import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { MAX_MISSING_ENTRIES, READINGS, TABLES, parseSample } from '../../../shared/protocol.ts';
import {
  COLLECTORS,
  NOT_COLLECTED,
  SLOW_OFF_REASON,
  SLOW_PENDING_REASON,
  Sampler,
  collectAll,
  collectFrom,
  fitToProtocol,
} from '../../../agent/collectors/index.ts';
import type { Collector, CollectResult } from '../../../agent/collectors/types.ts';

function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.deepEqual(sample[name as keyof typeof sample], value);
}

const TIMEOUT_MS = 200;
/** Room for a loaded CI machine; a collectFrom that waited for the hanging collector would never end. */
const SLACK_MS = 800;

const okCollector: Collector = { name: 'ok', provides: ['uptime_s'], async collect() { return { readings: { uptime_s: 42 }, missing: {} }; } };
const failingCollector: Collector = {
  name: 'failing',
  provides: ['mem_total_bytes', 'mem_used_bytes'],
  async collect() { throw new Error('EACCES: permission denied, open /proc/meminfo\n    at fake stack'); },
};
const throwingSyncCollector: Collector = { name: 'throwing-sync', provides: ['swap_total_bytes'], collect() { throw new TypeError('thrown before any promise'); } };
const hangingCollector: Collector = { name: 'hanging', provides: ['cpu_pct'], collect: () => new Promise<CollectResult>(() => {}) };
const partialCollector: Collector = {
  name: 'partial',
  provides: ['load_1m', 'load_5m', 'load_15m'],
  async collect() { return { readings: { load_1m: 0.5 }, missing: { load_5m: 'not today' } }; },
};
const malformedCollector: Collector = { name: 'malformed', provides: ['mem_available_bytes'], collect: async () => undefined as unknown as CollectResult };

test('collectFrom: failing, hanging and sloppy collectors cost only their own readings', async () => {
  const started = performance.now();
  const result = await collectFrom(
    [okCollector, failingCollector, throwingSyncCollector, hangingCollector, partialCollector, malformedCollector],
    TIMEOUT_MS,
  );
  const elapsedMs = performance.now() - started;
  assert.ok(elapsedMs >= TIMEOUT_MS - 5 && elapsedMs < TIMEOUT_MS + SLACK_MS, `took ${elapsedMs} ms`);
  assert.deepEqual(result.readings, { uptime_s: 42, load_1m: 0.5 });
  const CASES = [
    { name: 'mem_total_bytes', reason: /^EACCES: permission denied, open \/proc\/meminfo at fake stack$/ },
    { name: 'mem_used_bytes', reason: /^EACCES: permission denied/ },
    { name: 'swap_total_bytes', reason: /thrown before any promise/ },
    { name: 'cpu_pct', reason: /^hanging collector timed out after 200 ms$/ },
    { name: 'load_5m', reason: /^not today$/ },
    { name: 'load_15m', reason: /^partial collector gave no value$/ },
    { name: 'mem_available_bytes', reason: /^malformed collector returned no readings\/missing maps$/ },
  ];
  assert.deepEqual(Object.keys(result.missing).sort(), CASES.map((c) => c.name).sort());
  for (const c of CASES) assert.match(result.missing[c.name] ?? '', c.reason, c.name);
  assertValidSample(result);
});

test('collectFrom: no collectors gives an empty sample at once', async () => {
  assert.deepEqual(await collectFrom([], TIMEOUT_MS), { readings: {}, missing: {} });
});

test('COLLECTORS: unique names, disjoint provides, every reading and table covered or named in NOT_COLLECTED', () => {
  const names = COLLECTORS.map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
  const provided = COLLECTORS.flatMap((c) => c.provides);
  assert.equal(new Set(provided).size, provided.length, 'two collectors provide the same reading');
  const all = [...READINGS.map((r) => r.name), ...TABLES.map((t) => t.name)].sort();
  assert.deepEqual([...provided, ...Object.keys(NOT_COLLECTED)].sort(), all);
  assert.ok(all.length <= MAX_MISSING_ENTRIES);
  for (const c of COLLECTORS) assert.ok(c.kind === 'fast' || c.kind === 'slow' || c.kind === 'derived', `${c.name} declares its class`);
  assert.deepEqual(COLLECTORS.filter((c) => c.kind === 'slow').map((c) => c.name).sort(), ['filesystem', 'gpu', 'procs_top']);
  assert.deepEqual(COLLECTORS.filter((c) => c.kind === 'derived').map((c) => c.name), ['power']);
  assert.deepEqual(NOT_COLLECTED, {}, 'power_w is collected now');
});

/** A slow collector whose results are scripted: a value, a throw, or a hang, call by call. */
function scriptedSlow(steps: Array<'value' | 'throw' | 'hang'>): Collector & { calls: () => number } {
  let i = 0;
  return {
    name: 'scripted-slow',
    kind: 'slow',
    provides: ['procs_top'],
    calls: () => i,
    collect() {
      const step = steps[Math.min(i, steps.length - 1)]!;
      const n = ++i;
      if (step === 'throw') return Promise.reject(new Error('EIO: proc walk failed'));
      if (step === 'hang') return new Promise<CollectResult>(() => {});
      return Promise.resolve({ readings: { procs_top: [{ name: `run${n}`, pid: n, cpu_pct: 1 }] }, missing: {} });
    },
  };
}
const fastOk: Collector = { ...okCollector, kind: 'fast' };
const until = async (cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> => {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('Sampler: the slow result is carried between runs, refreshed, and a failed run gives its reason, not the old value', async () => {
  const slow = scriptedSlow(['value', 'value', 'throw', 'hang']);
  const sampler = new Sampler({ slowIntervalMs: 60, slowTimeoutMs: 30, collectors: [fastOk, slow] });
  const before = await sampler.sample(TIMEOUT_MS);
  assert.equal(before.missing['procs_top'], SLOW_PENDING_REASON);
  sampler.start();
  try {
    await until(async () => (await sampler.sample(TIMEOUT_MS)).readings.procs_top !== undefined);
    const carried = await sampler.sample(TIMEOUT_MS);
    assert.equal(carried.readings.uptime_s, 42);
    assert.equal(carried.readings.procs_top?.[0]?.name, 'run1', 'carried until the next run');
    await until(async () => (await sampler.sample(TIMEOUT_MS)).readings.procs_top?.[0]?.name === 'run2');
    await until(async () => (await sampler.sample(TIMEOUT_MS)).missing['procs_top'] === 'EIO: proc walk failed');
    const failed = await sampler.sample(TIMEOUT_MS);
    assert.equal(failed.readings.procs_top, undefined);
    await until(async () => /timed out after 30 ms/.test((await sampler.sample(TIMEOUT_MS)).missing['procs_top'] ?? ''));
    // The fast class is never held up by the hanging slow collector.
    const started = performance.now();
    const during = await sampler.sample(TIMEOUT_MS);
    assert.ok(performance.now() - started < 100, 'sample() does not wait for the slow class');
    assertValidSample(during);
  } finally {
    sampler.stop();
  }
});

test('Sampler: a hanging fast collector and a throwing one: sample() returns on time with the reasons', async () => {
  const sampler = new Sampler({ slowIntervalMs: 0, collectors: [fastOk, { ...hangingCollector, kind: 'fast' }, failingCollector] });
  const started = performance.now();
  const r = await sampler.sample(TIMEOUT_MS);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= TIMEOUT_MS - 5 && elapsed < TIMEOUT_MS + SLACK_MS, `took ${elapsed} ms`);
  assert.equal(r.missing['cpu_pct'], 'hanging collector timed out after 200 ms');
  assert.match(r.missing['mem_total_bytes']!, /^EACCES/);
  assert.equal(r.readings.uptime_s, 42);
});

test('Sampler: slow class off names its readings; start() then does nothing', async () => {
  const slow = scriptedSlow(['value']);
  const sampler = new Sampler({ slowIntervalMs: 0, collectors: [fastOk, slow] });
  sampler.start();
  await new Promise((r) => setTimeout(r, 20));
  const r = await sampler.sample(TIMEOUT_MS);
  assert.equal(r.missing['procs_top'], SLOW_OFF_REASON);
  assert.equal(slow.calls(), 0);
  sampler.stop();
});

test('Sampler: a slow result far older than its interval (stopped schedule) is not sent', async () => {
  let nowMs = 1_000_000;
  const sampler = new Sampler({ slowIntervalMs: 1000, slowTimeoutMs: 100, collectors: [fastOk, scriptedSlow(['value'])], now: () => nowMs });
  sampler.start();
  sampler.stop();
  await until(async () => (await sampler.sample(TIMEOUT_MS)).readings.procs_top !== undefined);
  nowMs += 3100 + 100;
  assert.match((await sampler.sample(TIMEOUT_MS)).missing['procs_top']!, /^slow readings stale \(last slow run 3 s ago\)$/);
});

test('Sampler: bad options are programmer mistakes', () => {
  assert.throws(() => new Sampler({ slowIntervalMs: -1 }), RangeError);
  assert.throws(() => new Sampler({ slowIntervalMs: Number.NaN }), RangeError);
  assert.throws(() => new Sampler({ slowIntervalMs: 1000, slowTimeoutMs: 0 }), RangeError);
});

const FIT_CASES: ReadonlyArray<{ name: string; input: CollectResult; check: (r: CollectResult) => void }> = [
  {
    name: 'out-of-range values move to missing',
    input: { readings: { cpu_pct: 101, mem_total_bytes: 1.5, temp_cpu_c: -300, load_1m: Number.NaN, uptime_s: 5 }, missing: {} },
    check: (r) => { assert.deepEqual(r.readings, { uptime_s: 5 }); assert.deepEqual(Object.keys(r.missing).sort(), ['cpu_pct', 'load_1m', 'mem_total_bytes', 'temp_cpu_c']); },
  },
  {
    name: 'parts capped at their wholes',
    input: { readings: { procs_running: 9, procs_total: 3, mem_cached_bytes: 10, mem_total_bytes: 5 }, missing: {} },
    check: (r) => { assert.equal(r.readings.procs_running, 3); assert.equal(r.readings.mem_cached_bytes, 5); },
  },
  {
    name: 'tables: rows cut to maxRows, text to maxBytes, rows without their name dropped, bad cells dropped',
    input: {
      readings: {
        gpu: Array.from({ length: 70 }, (_v, i) => ({ model: `g${i}\u0000${'é'.repeat(100)}`, util_pct: 150 })),
        net: [{ name: 'eth0', rx_bps: -1 }, { rx_bps: 5 } as unknown as { name: string }],
        cpu_cores_pct: [1, 2],
      },
      missing: {},
    },
    check: (r) => {
      assert.equal(r.readings.gpu?.length, 64);
      assert.ok(Buffer.byteLength(r.readings.gpu![0]!.model!) <= 128);
      assert.equal(r.readings.gpu![0]!.util_pct, undefined);
      assert.deepEqual(r.readings.net, [{ name: 'eth0' }]);
      assert.deepEqual(r.readings.cpu_cores_pct, [1, 2]);
    },
  },
  {
    name: 'missing: reasons one short line, at most MAX_MISSING_ENTRIES',
    input: { readings: {}, missing: Object.fromEntries(Array.from({ length: 100 }, (_v, i) => [`x${i}`, `line\n${'€'.repeat(300)}`])) },
    check: (r) => { assert.equal(Object.keys(r.missing).length, MAX_MISSING_ENTRIES); for (const v of Object.values(r.missing)) assert.ok(!v.includes('\n') && Buffer.byteLength(v) <= 200); },
  },
];
for (const c of FIT_CASES) {
  test(`fitToProtocol: ${c.name}`, () => {
    const r = fitToProtocol(c.input);
    c.check(r);
    assertValidSample(r);
  });
}

test('fitToProtocol: power_source only with a power_w, and only a known one', () => {
  assert.deepEqual(fitToProtocol({ readings: { power_w: 12 }, missing: {}, fields: { power_source: 'measured' } }).fields, { power_source: 'measured' });
  assert.equal(fitToProtocol({ readings: { power_w: Number.NaN }, missing: {}, fields: { power_source: 'measured' } }).fields, undefined, 'dropped with its power_w');
  assert.equal(fitToProtocol({ readings: {}, missing: {}, fields: { power_source: 'estimated' } }).fields, undefined);
  const odd = fitToProtocol({ readings: { power_w: 12 }, missing: {}, fields: { power_source: 'guessed' as 'measured' } });
  assert.deepEqual([odd.readings.power_w, odd.fields, odd.missing['power_w']], [undefined, undefined, 'collector gave an unknown power_source']);
});

test('Sampler with COLLECTORS on this machine: every reading and table named, the sample valid, slow class merged', async () => {
  const sampler = new Sampler({ slowIntervalMs: 60_000, slowTimeoutMs: 10_000 });
  sampler.start();
  try {
    const all = [...READINGS.map((r) => r.name), ...TABLES.map((t) => t.name)];
    await until(async () => (await sampler.sample(5_000)).missing['fs'] !== SLOW_PENDING_REASON, 15_000);
    // The first CPU, disk and network readings wait 100 ms for a second snapshot; 5 s leaves room.
    const result = await sampler.sample(5_000);
    for (const name of all) assert.ok((result.readings as Record<string, unknown>)[name] !== undefined || result.missing[name] !== undefined, name);
    if (result.readings.power_w !== undefined) assert.ok(result.fields?.power_source === 'measured' || result.fields?.power_source === 'estimated', 'power_w travels with its source');
    assert.ok(result.readings.fs !== undefined || result.missing['fs'] !== undefined);
    assertValidSample(result);
  } finally {
    sampler.stop();
  }
});

test('collectAll on this machine names every reading, as a value or a reason, without running the slow class', async () => {
  const result = await collectAll(5_000);
  for (const r of READINGS) assert.ok(result.readings[r.name] !== undefined || result.missing[r.name] !== undefined, r.name);
  assert.match(result.missing['procs_top']!, /Sampler/);
  assertValidSample(result);
});
