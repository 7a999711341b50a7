import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { READINGS, parseSample } from '../../../shared/protocol.ts';
import { COLLECTORS, collectAll, collectFrom } from '../../../agent/collectors/index.ts';
import type { Collector, CollectResult } from '../../../agent/collectors/types.ts';

function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.equal(sample[name as keyof typeof sample], value);
}

const TIMEOUT_MS = 200;
/** Room for a loaded CI machine; a collectFrom that waited for the hanging collector would never end. */
const SLACK_MS = 800;

const okCollector: Collector = {
  name: 'ok',
  provides: ['uptime_s'],
  async collect() {
    return { readings: { uptime_s: 42 }, missing: {} };
  },
};
const failingCollector: Collector = {
  name: 'failing',
  provides: ['mem_total_bytes', 'mem_used_bytes'],
  async collect() {
    throw new Error('EACCES: permission denied, open /proc/meminfo\n    at fake stack');
  },
};
const throwingSyncCollector: Collector = {
  name: 'throwing-sync',
  provides: ['swap_total_bytes'],
  collect() {
    throw new TypeError('thrown before any promise');
  },
};
const hangingCollector: Collector = {
  name: 'hanging',
  provides: ['cpu_pct'],
  collect: () => new Promise<CollectResult>(() => {}),
};
const partialCollector: Collector = {
  name: 'partial',
  provides: ['load_1m', 'load_5m', 'load_15m'],
  async collect() {
    return { readings: { load_1m: 0.5 }, missing: { load_5m: 'not today' } };
  },
};
const malformedCollector: Collector = {
  name: 'malformed',
  provides: ['mem_available_bytes'],
  collect: async () => undefined as unknown as CollectResult,
};

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

test('COLLECTORS: unique names, disjoint provides, every protocol reading covered', () => {
  const names = COLLECTORS.map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
  const provided = COLLECTORS.flatMap((c) => c.provides);
  assert.equal(new Set(provided).size, provided.length, 'two collectors provide the same reading');
  assert.deepEqual([...provided].sort(), READINGS.map((r) => r.name).sort());
});

test('collectAll on this machine names every reading, as a value or a reason', async () => {
  // The first CPU reading waits 100 ms for a second counter snapshot; 5 s leaves room on a busy machine.
  const result = await collectAll(5_000);
  for (const r of READINGS) {
    assert.ok(result.readings[r.name] !== undefined || result.missing[r.name] !== undefined, r.name);
  }
  assertValidSample(result);
});
