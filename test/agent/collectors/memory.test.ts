import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseSample, type Readings } from '../../../shared/protocol.ts';
import si from 'systeminformation';
import { memoryCollector, parseMeminfo, parseMemory, readMemory, type RawMem } from '../../../agent/collectors/memory.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

function fixture(name: string): RawMem {
  return JSON.parse(readFileSync(new URL(`../../fixtures/si/${name}`, import.meta.url), 'utf8')) as RawMem;
}

function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.equal(sample[name as keyof typeof sample], value);
}

const CASES: ReadonlyArray<{ name: string; raw: RawMem; readings: Readings; missing: readonly string[] }> = [
  {
    name: 'recorded mem.json (this machine has no swap)',
    raw: fixture('mem.json'),
    readings: {
      mem_total_bytes: 25_276_063_744,
      mem_available_bytes: 24_979_939_328,
      mem_used_bytes: 25_276_063_744 - 24_979_939_328,
      swap_total_bytes: 0,
      swap_used_bytes: 0,
      // Cached 108_142_592 + SReclaimable 68_784_128; Buffers 1_994_752.
      mem_cached_bytes: 176_926_720,
      mem_buffers_bytes: 1_994_752,
    },
    missing: [],
  },
  {
    name: 'mem_with_swap.json',
    raw: fixture('mem_with_swap.json'),
    readings: {
      mem_total_bytes: 16_624_521_216,
      mem_available_bytes: 7_522_398_208,
      mem_used_bytes: 16_624_521_216 - 7_522_398_208,
      swap_total_bytes: 2_147_479_552,
      swap_used_bytes: 389_021_696,
      mem_cached_bytes: 6_270_357_504 + 512_434_176,
      mem_buffers_bytes: 412_049_408,
    },
    missing: [],
  },
  {
    name: 'mem_inconsistent.json: fractions rounded, parts clamped to their wholes',
    raw: fixture('mem_inconsistent.json'),
    readings: {
      mem_total_bytes: 8_589_934_592,
      mem_available_bytes: 8_589_934_592,
      mem_used_bytes: 0,
      swap_total_bytes: 1_073_741_824,
      swap_used_bytes: 1_073_741_824,
    },
    missing: ['mem_cached_bytes', 'mem_buffers_bytes'],
  },
  {
    name: 'mem_broken.json: bad fields cost only what depends on them',
    raw: fixture('mem_broken.json'),
    readings: { mem_total_bytes: 8_589_934_592 },
    missing: ['mem_available_bytes', 'mem_used_bytes', 'swap_total_bytes', 'swap_used_bytes', 'mem_cached_bytes', 'mem_buffers_bytes'],
  },
  {
    name: 'swap used without a valid swap total is still sent',
    raw: { total: 1024, available: 512, swaptotal: Number.NaN, swapused: 100 },
    readings: { mem_total_bytes: 1024, mem_available_bytes: 512, mem_used_bytes: 512, swap_used_bytes: 100 },
    missing: ['swap_total_bytes', 'mem_cached_bytes', 'mem_buffers_bytes'],
  },
  {
    name: 'total above 2^53',
    raw: { total: 2 ** 60, available: 512, swaptotal: 0, swapused: 0 },
    readings: { mem_available_bytes: 512, swap_total_bytes: 0, swap_used_bytes: 0 },
    missing: ['mem_total_bytes', 'mem_used_bytes', 'mem_cached_bytes', 'mem_buffers_bytes'],
  },
  {
    name: 'empty object',
    raw: {},
    readings: {},
    missing: ['mem_total_bytes', 'mem_used_bytes', 'mem_available_bytes', 'swap_total_bytes', 'swap_used_bytes', 'mem_cached_bytes', 'mem_buffers_bytes'],
  },
  {
    name: 'cache and buffers read mid-update above the total are capped at it',
    raw: { total: 1000, available: 500, swaptotal: 0, swapused: 0, cached: 900, reclaimable: 300, buffers: 2000 },
    readings: { mem_total_bytes: 1000, mem_available_bytes: 500, mem_used_bytes: 500, swap_total_bytes: 0, swap_used_bytes: 0, mem_cached_bytes: 1000, mem_buffers_bytes: 1000 },
    missing: [],
  },
  {
    name: 'recorded_mem.json (re-recorded by scripts/record_fixtures.ts)',
    raw: fixture('recorded_mem.json'),
    readings: recordedReadings(fixture('recorded_mem.json')),
    missing: [],
  },
];

/** What recorded_mem.json must give, computed from its own fields. */
function recordedReadings(raw: RawMem): Readings {
  const n = (v: unknown): number => v as number;
  return {
    mem_total_bytes: n(raw.total),
    mem_available_bytes: n(raw.available),
    mem_used_bytes: n(raw.total) - n(raw.available),
    swap_total_bytes: n(raw.swaptotal),
    swap_used_bytes: n(raw.swapused),
    mem_cached_bytes: n(raw.cached) + n(raw.reclaimable),
    mem_buffers_bytes: n(raw.buffers),
  };
}

for (const c of CASES) {
  test(`parseMemory: ${c.name}`, () => {
    const result = parseMemory(c.raw);
    assert.deepEqual(result.readings, c.readings);
    assert.deepEqual(Object.keys(result.missing).sort(), [...c.missing].sort());
    for (const reason of Object.values(result.missing)) assert.match(reason, /^si\.mem\(\) gave \w+ = /);
    assertValidSample(result);
  });
}

test('parseMemory: off Linux, si.mem() cache figures mean something else and are not sent', () => {
  const result = parseMemory(fixture('mem_with_swap.json'), 'darwin');
  assert.equal(result.readings.mem_cached_bytes, undefined);
  assert.equal(result.readings.mem_total_bytes, 16_624_521_216);
  assert.match(result.missing['mem_cached_bytes']!, /no page-cache figure on darwin/);
  assert.match(result.missing['mem_buffers_bytes']!, /on darwin/);
  assertValidSample(result);
});

/** /proc/meminfo of a Debian 12 VM with swap, the lines parseMeminfo reads and some it skips. */
const MEMINFO = `MemTotal:       24683656 kB
MemFree:        21362560 kB
MemAvailable:   21606032 kB
Buffers:            6812 kB
Cached:           426352 kB
SwapCached:         1024 kB
Active:           269004 kB
SwapTotal:       2097148 kB
SwapFree:        2000000 kB
Slab:             156236 kB
SReclaimable:      68224 kB
SUnreclaim:        88012 kB
HugePages_Total:       0
`;

test('parseMeminfo: the fields of si.mem(), in bytes; SwapCached is not Cached', () => {
  assert.deepEqual(parseMeminfo(MEMINFO), {
    total: 24683656 * 1024, available: 21606032 * 1024, swaptotal: 2097148 * 1024, swapused: (2097148 - 2000000) * 1024,
    cached: 426352 * 1024, reclaimable: 68224 * 1024, buffers: 6812 * 1024,
  });
  const r = parseMemory(parseMeminfo(MEMINFO), 'linux', '/proc/meminfo');
  assert.equal(r.readings.mem_used_bytes, (24683656 - 21606032) * 1024);
  assert.equal(r.readings.mem_cached_bytes, (426352 + 68224) * 1024);
  assert.deepEqual(r.missing, {});
  assertValidSample(r);
});

test('parseMeminfo: before Linux 3.14 (no MemAvailable) available is estimated as si.mem() does; absent lines are named', () => {
  const old = MEMINFO.replace(/^MemAvailable:.*\n/mu, '');
  assert.equal(parseMeminfo(old).available, (21362560 + 6812 + 426352 + 156236) * 1024);
  const r = parseMemory(parseMeminfo('MemTotal: 1000 kB\nbroken line\n'), 'linux', '/proc/meminfo');
  assert.equal(r.readings.mem_total_bytes, 1024_000);
  assert.equal(r.missing['swap_total_bytes'], '/proc/meminfo gave swaptotal = absent');
  assert.equal(r.missing['mem_available_bytes'], '/proc/meminfo gave available = absent');
  assertValidSample(r);
});

test('readMemory on Linux agrees with si.mem() on this machine', { skip: process.platform === 'linux' ? false : 'Linux only' }, async () => {
  const ours = await readMemory();
  const theirs = parseMemory(await si.mem());
  assert.deepEqual(Object.keys(ours.readings).sort(), Object.keys(theirs.readings).sort());
  assert.equal(ours.readings.mem_total_bytes, theirs.readings.mem_total_bytes);
  assert.equal(ours.readings.swap_total_bytes, theirs.readings.swap_total_bytes);
  // The rest moves between the two reads: within 1 % of the total.
  for (const name of ['mem_available_bytes', 'mem_cached_bytes', 'mem_buffers_bytes'] as const) {
    assert.ok(Math.abs(ours.readings[name]! - theirs.readings[name]!) < ours.readings.mem_total_bytes! / 100, name);
  }
});

test('memoryCollector on this machine gives consistent byte counts', async () => {
  const result = await memoryCollector.collect();
  const r = result.readings;
  for (const name of memoryCollector.provides) assert.ok(r[name] !== undefined || result.missing[name] !== undefined, name);
  if (r.mem_total_bytes !== undefined) assert.ok(r.mem_total_bytes > 0, 'a running machine has memory');
  if (r.mem_used_bytes !== undefined && r.mem_available_bytes !== undefined) {
    assert.equal(r.mem_used_bytes + r.mem_available_bytes, r.mem_total_bytes);
  }
  if (process.platform === 'linux') {
    assert.ok(r.mem_cached_bytes !== undefined && r.mem_buffers_bytes !== undefined, JSON.stringify(result.missing));
    assert.ok(r.mem_cached_bytes + r.mem_buffers_bytes <= r.mem_total_bytes!);
  }
  assertValidSample(result);
});
