import { test } from 'node:test';
import { advance, copyTree, handClock } from '../../helpers/rapl_tree.ts';
import assert from 'node:assert/strict';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FIRST_READING_REASON,
  PowerCollector,
  fileReason,
  gpuWatts,
  parentOf,
  raplWatts,
  readRaplZones,
  totalWatts,
  unreadableReason,
  type RaplZone,
  type ZoneWatts,
} from '../../../agent/collectors/power.ts';
import { MAX_REASON_BYTES } from '../../../shared/protocol.ts';

/** A fixture powercap tree under test/fixtures/powercap/. */
const tree = (name: string): string => new URL(`../../fixtures/powercap/${name}`, import.meta.url).pathname;
const MAX = 262143328850;
const DRAM_MAX = 65712999613;


const TREE_CASES: ReadonlyArray<{ name: string; fixture: string; zones: RaplZone[] }> = [
  {
    name: 'one package with core and uncore; the intel-rapl-mmio duplicate and the control-type dir are not zones',
    fixture: 'one_package',
    zones: [
      { id: 'intel-rapl:0', name: 'package-0', maxEnergyRangeUj: MAX, energyUj: 26963529117 },
      { id: 'intel-rapl:0:0', parent: 'intel-rapl:0', name: 'core', maxEnergyRangeUj: MAX, energyUj: 7980278886 },
      { id: 'intel-rapl:0:1', parent: 'intel-rapl:0', name: 'uncore', maxEnergyRangeUj: MAX, energyUj: 6564982278 },
    ],
  },
  {
    name: 'two packages with dram; sub-zones listed both nested and flat (symlinks) are read once',
    fixture: 'two_packages_dram',
    zones: [
      { id: 'intel-rapl:0', name: 'package-0', maxEnergyRangeUj: MAX, energyUj: 104857600000 },
      { id: 'intel-rapl:0:0', parent: 'intel-rapl:0', name: 'dram', maxEnergyRangeUj: DRAM_MAX, energyUj: 20971520000 },
      { id: 'intel-rapl:1', name: 'package-1', maxEnergyRangeUj: MAX, energyUj: 99614720000 },
      { id: 'intel-rapl:1:0', parent: 'intel-rapl:1', name: 'dram', maxEnergyRangeUj: DRAM_MAX, energyUj: 19922944000 },
    ],
  },
];
for (const c of TREE_CASES) {
  test(`readRaplZones (fixture tree): ${c.name}`, () => {
    const read = readRaplZones(tree(c.fixture));
    assert.equal(read.reason, undefined);
    assert.deepEqual(read.zones, c.zones);
  });
}

test('readRaplZones: unreadable energy_uj (a directory: EISDIR; a dangling symlink: ENOENT) is that zone\'s reason', () => {
  const { zones, reason } = readRaplZones(tree('unreadable'));
  assert.equal(reason, undefined);
  assert.deepEqual(zones.map((z) => [z.id, z.name, z.energyUj]), [
    ['intel-rapl:0', 'package-0', undefined], ['intel-rapl:0:0', 'dram', 5000000],
    ['intel-rapl:1', 'package-1', undefined], ['intel-rapl:1:0', 'dram', 6000000],
  ]);
  assert.match(zones[0]!.reason!, /^energy_uj: .*EISDIR/);
  assert.equal(zones[2]!.reason, 'energy_uj: not present (ENOENT)');
  assert.equal(zones[1]!.reason, undefined);
});

test('readRaplZones: no zones, or no powercap directory at all (a VM), is a reason', () => {
  assert.match(readRaplZones(tree('none')).reason!, /^no intel-rapl zones in /);
  assert.deepEqual(readRaplZones(tree('none')).zones, []);
  assert.match(readRaplZones(tree('does-not-exist')).reason!, /^no .*does-not-exist \(ENOENT\)/);
});

test('fileReason: EACCES/EPERM name the root-only rule; other errors keep their code; all fit a reason', () => {
  const err = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: nope, open 'energy_uj'`), { code });
  assert.match(fileReason('energy_uj', err('EACCES')), /^energy_uj: permission denied \(EACCES; root only since Linux 5\.10/);
  assert.match(fileReason('energy_uj', err('EPERM')), /permission denied \(EPERM/);
  assert.match(fileReason('energy_uj', err('EIO')), /^energy_uj: EIO/);
  const long = Object.assign(new Error('x'.repeat(500)), { code: 'EIO' });
  assert.ok(Buffer.byteLength(fileReason('energy_uj', long)) <= MAX_REASON_BYTES);
});

test('readRaplZones: a real permission denial (only when not root: chmod cannot stop root)', (t) => {
  if (process.getuid?.() === 0) { t.skip('running as root: fileReason covers EACCES above'); return; }
  const root = copyTree('one_package');
  try {
    chmodSync(join(root, 'intel-rapl:0', 'energy_uj'), 0o000);
    assert.match(readRaplZones(root).zones[0]!.reason!, /permission denied \(EACCES/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('parentOf: sub-zone ids name their parent; top-level ids have none', () => {
  assert.equal(parentOf('intel-rapl:0:1'), 'intel-rapl:0');
  assert.equal(parentOf('intel-rapl:12:3'), 'intel-rapl:12');
  assert.equal(parentOf('intel-rapl:1'), undefined);
});

test('raplWatts: wraparound between two fixture snapshots (package wraps, core does not)', () => {
  const before = { atMs: 0, zones: readRaplZones(tree('wrap/t0')).zones };
  const after = { atMs: 1000, zones: readRaplZones(tree('wrap/t1')).zones };
  // package: 3 000 000 µJ to the top, then 2 000 000 from 0, in 1 s: 5 W. core: +3 000 000 µJ: 3 W.
  assert.deepEqual(raplWatts(before, after).map((z) => [z.id, z.watts, z.reason]), [['intel-rapl:0', 5, undefined], ['intel-rapl:0:0', 3, undefined]]);
  const halfSecond = raplWatts(before, { ...after, atMs: 500 });
  assert.deepEqual(halfSecond.map((z) => z.watts), [10, 6]);
});

const z = (id: string, energyUj: number, extra: Partial<RaplZone> = {}): RaplZone => ({ id, name: 'package-0', energyUj, maxEnergyRangeUj: 1000, ...extra });
const WATTS_CASES: ReadonlyArray<{ name: string; prev: RaplZone[]; curr: RaplZone[]; dtMs: number; watts?: number; reason?: RegExp }> = [
  { name: 'plain delta: 2 000 000 µJ in 2 s is 1 W', prev: [z('intel-rapl:0', 0, { maxEnergyRangeUj: 10_000_000 })], curr: [z('intel-rapl:0', 2_000_000, { maxEnergyRangeUj: 10_000_000 })], dtMs: 2000, watts: 1 },
  { name: 'wrap: 900 -> 100 with max 1000 is 200 µJ', prev: [z('intel-rapl:0', 900)], curr: [z('intel-rapl:0', 100)], dtMs: 1, watts: 0.2 },
  { name: 'wrap to exactly 0', prev: [z('intel-rapl:0', 1000)], curr: [z('intel-rapl:0', 0)], dtMs: 1, watts: 0 },
  { name: 'counter went back, max unknown', prev: [z('intel-rapl:0', 900)], curr: [z('intel-rapl:0', 100, { maxEnergyRangeUj: undefined })], dtMs: 1, reason: /max_energy_range_uj is unknown/ },
  { name: 'counter above its max', prev: [z('intel-rapl:0', 5000)], curr: [z('intel-rapl:0', 100)], dtMs: 1, reason: /above max_energy_range_uj/ },
  { name: 'readings too far apart', prev: [z('intel-rapl:0', 0)], curr: [z('intel-rapl:0', 10)], dtMs: 61_000, reason: /61 s apart: the counter may have wrapped more than once/ },
  { name: 'no time between readings', prev: [z('intel-rapl:0', 0)], curr: [z('intel-rapl:0', 10)], dtMs: 0, reason: /no time between/ },
  { name: 'zone new since the last reading', prev: [], curr: [z('intel-rapl:0', 10)], dtMs: 1000, reason: /appeared/ },
  { name: 'zone renamed (driver reloaded)', prev: [z('intel-rapl:0', 0, { name: 'psys' })], curr: [z('intel-rapl:0', 10)], dtMs: 1000, reason: /changed/ },
  { name: 'previous counter unreadable', prev: [{ id: 'intel-rapl:0', name: 'package-0', reason: 'energy_uj: EIO' }], curr: [z('intel-rapl:0', 10)], dtMs: 1000, reason: /no previous counter \(energy_uj: EIO\)/ },
  { name: 'current counter unreadable', prev: [z('intel-rapl:0', 0)], curr: [{ id: 'intel-rapl:0', name: 'package-0', reason: 'energy_uj: not present (ENOENT)' }], dtMs: 1000, reason: /ENOENT/ },
];
for (const c of WATTS_CASES) {
  test(`raplWatts: ${c.name}`, () => {
    const [w] = raplWatts({ atMs: 10, zones: c.prev }, { atMs: 10 + c.dtMs, zones: c.curr });
    assert.equal(w!.watts, c.watts);
    if (c.reason) assert.match(w!.reason!, c.reason);
    else assert.equal(w!.reason, undefined);
  });
}

const w = (id: string, name: string, watts?: number, parent?: string): ZoneWatts => ({
  id, name, ...(parent ? { parent } : {}), ...(watts !== undefined ? { watts } : { reason: 'energy_uj: EIO' }),
});
const TOTAL_CASES: ReadonlyArray<{ name: string; zones: ZoneWatts[]; watts?: number; basis?: string; reason?: RegExp }> = [
  { name: 'package includes core and uncore: package alone', zones: [w('intel-rapl:0', 'package-0', 20), w('intel-rapl:0:0', 'core', 12, 'intel-rapl:0'), w('intel-rapl:0:1', 'uncore', 3, 'intel-rapl:0')], watts: 20, basis: 'packages' },
  { name: 'dram is outside the package: added', zones: [w('intel-rapl:0', 'package-0', 60), w('intel-rapl:0:0', 'dram', 7.5, 'intel-rapl:0'), w('intel-rapl:1', 'package-1', 55), w('intel-rapl:1:0', 'dram', 6.25, 'intel-rapl:1')], watts: 128.75, basis: 'packages' },
  { name: 'psys covers the platform: psys alone', zones: [w('intel-rapl:0', 'package-0', 10), w('intel-rapl:0:0', 'core', 6, 'intel-rapl:0'), w('intel-rapl:0:2', 'dram', 1, 'intel-rapl:0'), w('intel-rapl:1', 'psys', 18)], watts: 18, basis: 'psys' },
  { name: 'multi-die package: every top-level zone', zones: [w('intel-rapl:0', 'package-0-die-0', 80), w('intel-rapl:1', 'package-0-die-1', 70)], watts: 150, basis: 'packages' },
  { name: 'a package without a figure: no total', zones: [w('intel-rapl:0', 'package-0', 60), w('intel-rapl:1', 'package-1')], reason: /^package-1: energy_uj: EIO$/ },
  { name: 'a dram without a figure: no total', zones: [w('intel-rapl:0', 'package-0', 60), w('intel-rapl:0:0', 'dram', undefined, 'intel-rapl:0')], reason: /^package-0\/dram: / },
  { name: 'a core without a figure does not matter', zones: [w('intel-rapl:0', 'package-0', 60), w('intel-rapl:0:0', 'core', undefined, 'intel-rapl:0')], watts: 60, basis: 'packages' },
  { name: 'psys without a figure: no total (packages are not a stand-in)', zones: [w('intel-rapl:0', 'package-0', 10), w('intel-rapl:1', 'psys')], reason: /^psys: / },
  { name: 'no zones', zones: [], reason: /no RAPL package or psys zone/ },
];
for (const c of TOTAL_CASES) {
  test(`totalWatts: ${c.name}`, () => {
    const total = totalWatts(c.zones);
    if (c.reason) {
      assert.ok('reason' in total, JSON.stringify(total));
      assert.match(total.reason, c.reason);
    } else {
      assert.ok('watts' in total, JSON.stringify(total));
      assert.equal(total.watts, c.watts);
      assert.equal(total.basis, c.basis);
    }
  });
}

const r = (id: string, name: string, energyUj?: number, parent?: string): RaplZone => ({
  id, name, ...(parent ? { parent } : {}), ...(energyUj !== undefined ? { energyUj } : { reason: 'energy_uj: permission denied (EACCES)' }),
});
const UNREADABLE_CASES: ReadonlyArray<{ name: string; zones: RaplZone[]; reason?: RegExp }> = [
  { name: 'every counted counter read', zones: [r('intel-rapl:0', 'package-0', 5), r('intel-rapl:0:0', 'dram', 1, 'intel-rapl:0')] },
  { name: 'a package denied', zones: [r('intel-rapl:0', 'package-0'), r('intel-rapl:0:0', 'dram', 1, 'intel-rapl:0')], reason: /^package-0: energy_uj: permission denied \(EACCES\)$/ },
  { name: 'a dram denied', zones: [r('intel-rapl:0', 'package-0', 5), r('intel-rapl:0:0', 'dram', undefined, 'intel-rapl:0')], reason: /^package-0\/dram: / },
  { name: 'a core denied: not counted, so readable', zones: [r('intel-rapl:0', 'package-0', 5), r('intel-rapl:0:0', 'core', undefined, 'intel-rapl:0')] },
  { name: 'psys read, package denied: psys is the total', zones: [r('intel-rapl:0', 'package-0'), r('intel-rapl:1', 'psys', 9)] },
  { name: 'no zones', zones: [], reason: /no RAPL package or psys zone/ },
];
for (const c of UNREADABLE_CASES) {
  test(`unreadableReason: ${c.name}`, () => {
    const reason = unreadableReason(c.zones);
    if (c.reason) assert.match(reason ?? '', c.reason);
    else assert.equal(reason, undefined);
  });
}

test('PowerCollector: readings too far apart are pending (the counters were read), and the next pair gives watts again', () => {
  const root = copyTree('one_package');
  try {
    const c = handClock();
    const power = new PowerCollector({ root, now: c.now, maxIntervalMs: 5000 });
    power.read();
    c.tick(6000);
    const late = power.read();
    assert.ok('reason' in late && late.pending === true, JSON.stringify(late));
    assert.match(late.reason, /6 s apart/);
    c.tick(1000);
    advance(root, 'intel-rapl:0', 3_000_000);
    assert.equal((power.read() as { watts: number }).watts, 3);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('gpuWatts: sums power_w where present; none -> undefined', () => {
  assert.deepEqual(gpuWatts([{ model: 'A', power_w: 70.5 }, { model: 'B' }, { model: 'C', power_w: 30 }]), { watts: 100.5, gpus: 2 });
  assert.equal(gpuWatts([{ model: 'Intel UHD 620' }]), undefined);
  assert.equal(gpuWatts([]), undefined);
  assert.equal(gpuWatts(undefined), undefined);
});

test('PowerCollector: first reading gives a pending reason, the next one watts per zone (two packages + dram)', () => {
  const root = copyTree('two_packages_dram');
  try {
    const c = handClock();
    const power = new PowerCollector({ root, now: c.now });
    assert.deepEqual(power.read(), { reason: FIRST_READING_REASON, pending: true });
    c.tick(1000);
    advance(root, 'intel-rapl:0', 60_000_000);
    advance(root, 'intel-rapl:0/intel-rapl:0:0', 7_500_000);
    advance(root, 'intel-rapl:1', 55_000_000);
    advance(root, 'intel-rapl:1:0', 6_250_000); // through the flat symlink: the same zone
    assert.deepEqual(power.read(), {
      watts: 128.75,
      zones: [{ zone: 'package-0', watts: 60 }, { zone: 'package-0/dram', watts: 7.5 }, { zone: 'package-1', watts: 55 }, { zone: 'package-1/dram', watts: 6.25 }],
      source: 'measured',
    });
    // GPU board power is added as its own zone.
    c.tick(500);
    advance(root, 'intel-rapl:0', 10_000_000);
    const r = power.read([{ model: 'NVIDIA', power_w: 100 }]);
    assert.ok('watts' in r);
    assert.equal(r.watts, 120);
    assert.deepEqual(r.zones.at(-1), { zone: 'gpu', watts: 100 });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('PowerCollector: one package, core and uncore shown but not added; a wrap between reads', () => {
  const root = copyTree('one_package');
  try {
    const c = handClock();
    const power = new PowerCollector({ root, now: c.now });
    writeFileSync(join(root, 'intel-rapl:0', 'energy_uj'), `${MAX - 4_000_000}\n`);
    power.read();
    c.tick(2000);
    // 4 000 000 µJ to the top, then 6 000 000 from 0, in 2 s: 5 W.
    writeFileSync(join(root, 'intel-rapl:0', 'energy_uj'), '6000000\n');
    advance(root, 'intel-rapl:0/intel-rapl:0:0', 4_000_000);
    advance(root, 'intel-rapl:0/intel-rapl:0:1', 1_000_000);
    assert.deepEqual(power.read(), { watts: 5, zones: [{ zone: 'package-0', watts: 5 }, { zone: 'package-0/core', watts: 2 }, { zone: 'package-0/uncore', watts: 0.5 }], source: 'measured' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('PowerCollector: unreadable counters and missing trees are reasons, never throws', () => {
  const c = handClock();
  const unreadable = new PowerCollector({ root: tree('unreadable'), now: c.now });
  const first = unreadable.read();
  assert.ok('reason' in first && first.pending === undefined, 'unreadable from the first reading on, not pending');
  assert.match(first.reason, /^package-0: energy_uj: .*EISDIR/);
  c.tick(1000);
  const r = unreadable.read();
  assert.ok('reason' in r && r.pending === undefined);
  assert.match(r.reason, /^package-0: energy_uj: .*EISDIR/);
  const none = new PowerCollector({ root: tree('none'), now: c.now });
  assert.match((none.read() as { reason: string }).reason, /no intel-rapl zones/);
  c.tick(1000);
  assert.match((none.read() as { reason: string }).reason, /no intel-rapl zones/, 'no zones never turns into a first reading');
  assert.throws(() => new PowerCollector({ maxIntervalMs: 0 }), RangeError);
});

test('PowerCollector on this machine: watts or a one-line reason', async () => {
  const power = new PowerCollector();
  power.read();
  await new Promise((r) => setTimeout(r, 50));
  const r = power.read();
  if ('reason' in r) assert.ok(r.reason.length > 0 && Buffer.byteLength(r.reason) <= MAX_REASON_BYTES, r.reason);
  else assert.ok(r.watts >= 0 && r.source === 'measured' && r.zones.length > 0);
});
