import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parseSample } from '../../../shared/protocol.ts';
import {
  createDiskCollector,
  diskCollector,
  isPhysicalDisk,
  parseDiskPair,
  parseDiskstats,
  readDiskSnapshot,
  readSysBlock,
  type DiskSnapshot,
} from '../../../agent/collectors/disk.ts';
import type { Timed } from '../../../agent/collectors/rates.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

const text = (name: string): string => readFileSync(new URL(`../../fixtures/proc/${name}`, import.meta.url), 'utf8');
const sysBlock = (name: string): Map<string, string> => new Map(Object.entries(JSON.parse(text(name)) as Record<string, string>));

function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.deepEqual(sample[name as keyof typeof sample], value);
}
const at = (atMs: number, value: DiskSnapshot): Timed<DiskSnapshot> => ({ atMs, value });
const NAMES = ['disk_read_bps', 'disk_write_bps', 'disk_read_iops', 'disk_write_iops'];

const HAND = sysBlock('sys_block_hand.json');
const H0 = parseDiskstats(text('diskstats_hand_t0.txt'), HAND);
const H1 = parseDiskstats(text('diskstats_hand_t1.txt'), HAND);

const DEVICE_CASES: ReadonlyArray<{ name: string; sys: Map<string, string> | undefined; yes: string[]; no: string[] }> = [
  { name: 'with /sys/block: entries not under devices/virtual', sys: HAND, yes: ['sda', 'sdb', 'nvme0n1'], no: ['sda1', 'nvme0n1p1', 'dm-0', 'md0', 'loop0', 'zram0', 'sdz'] },
  { name: 'recorded /sys/block of this VM', sys: sysBlock('sys_block.json'), yes: ['vda'], no: ['loop0', 'zram0', 'vda1'] },
  { name: 'without /sys: by name', sys: undefined, yes: ['sda', 'vdb', 'xvda', 'nvme0n1', 'mmcblk0'], no: ['sda1', 'xvda2', 'nvme0n1p1', 'mmcblk0p1', 'dm-0', 'md127', 'loop7', 'ram0', 'zram0', 'nbd0'] },
];
for (const c of DEVICE_CASES) {
  test(`isPhysicalDisk: ${c.name}`, () => {
    for (const d of c.yes) assert.equal(isPhysicalDisk(d, c.sys), true, d);
    for (const d of c.no) assert.equal(isPhysicalDisk(d, c.sys), false, d);
  });
}

const only = (s: DiskSnapshot, ...names: string[]): DiskSnapshot => new Map([...s].filter(([n]) => names.includes(n)));

const PAIR_CASES: ReadonlyArray<{ name: string; prev: Timed<DiskSnapshot>; curr: Timed<DiskSnapshot>; readings?: Record<string, number>; reason?: RegExp }> = [
  {
    // Only sda (+2048 sectors read, +1024 written, +100 reads, +50 writes) and nvme0n1 (+80 sectors, +10 reads)
    // count: sda1/nvme0n1p1 are partitions, dm-0/md0/loop0 virtual, sdb reset, sdd wrapped, sdc new.
    name: 'hand-made: partitions, virtual devices, a reset, a 32-bit wrap and a new disk',
    prev: at(0, H0), curr: at(1000, H1),
    readings: { disk_read_bps: (2048 + 80) * 512, disk_write_bps: 1024 * 512, disk_read_iops: 110, disk_write_iops: 50 },
  },
  {
    name: 'same, over 2 s: rates halve',
    prev: at(5000, H0), curr: at(7000, H1),
    readings: { disk_read_bps: (2048 + 80) * 256, disk_write_bps: 1024 * 256, disk_read_iops: 55, disk_write_iops: 25 },
  },
  {
    // vda: +6 reads, +96 sectors read, +2 writes, +40 sectors written.
    name: 'recorded diskstats_t0 -> t1 of this VM',
    prev: at(0, parseDiskstats(text('diskstats_t0.txt'), sysBlock('sys_block.json'))),
    curr: at(1000, parseDiskstats(text('diskstats_t1.txt'), sysBlock('sys_block.json'))),
    readings: { disk_read_bps: 96 * 512, disk_write_bps: 40 * 512, disk_read_iops: 6, disk_write_iops: 2 },
  },
  { name: 'every disk went backwards (counters reset)', prev: at(0, only(H1, 'sda', 'nvme0n1')), curr: at(1000, only(H0, 'sda', 'nvme0n1')), reason: /no disk with two consistent readings/ },
  { name: 'every disk is new', prev: at(0, only(H0, 'sda')), curr: at(1000, only(H1, 'sdc')), reason: /no disk with two consistent readings/ },
  { name: 'no time between readings', prev: at(1000, H0), curr: at(1000, H1), reason: /only 0 ms between readings/ },
  { name: 'clock went back', prev: at(1000, H0), curr: at(500, H1), reason: /only 0 ms between readings/ },
  { name: 'no physical disk', prev: at(0, new Map()), curr: at(1000, parseDiskstats(text('diskstats_hand_t1.txt').split('\n').filter((l) => /loop|dm-/u.test(l)).join('\n'), HAND)), reason: /no physical disk/ },
];
for (const c of PAIR_CASES) {
  test(`parseDiskPair: ${c.name}`, () => {
    const result = parseDiskPair(c.prev, c.curr);
    if (c.readings) {
      assert.deepEqual(result, { readings: c.readings, missing: {} });
    } else {
      assert.deepEqual(result.readings, {});
      for (const n of NAMES) assert.match(result.missing[n]!, c.reason!, n);
    }
    for (const v of Object.values(result.readings)) assert.ok((v as number) >= 0);
    assertValidSample(result);
  });
}

test('parseDiskstats: short and non-numeric lines are skipped', () => {
  const s = parseDiskstats('   8 0 sda 1 2 3\n   8 16 sdb x 0 0 0 0 0 0 0 0 0 0\n   8 32 sdc 1 0 8 0 2 0 16 0 0 0 0\n', undefined);
  assert.deepEqual([...s.keys()], ['sdc']);
  assert.deepEqual(s.get('sdc'), { readsCompleted: 1, sectorsRead: 8, writesCompleted: 2, sectorsWritten: 16 });
});

test('collector: the first call waits for a second reading and has rates; a reader error rejects', async () => {
  const snaps = [H0, H1];
  const collector = createDiskCollector(() => snaps.shift() ?? H1, 20);
  const first = await collector.collect();
  assert.ok(first.readings.disk_read_iops !== undefined && first.readings.disk_read_iops > 0);
  const failing = createDiskCollector(() => { throw new Error('ENOENT: /proc/diskstats'); }, 1);
  await assert.rejects(failing.collect(), /ENOENT/);
});

test('readDiskSnapshot on this machine: only whole physical disks', { skip: existsSync('/proc/diskstats') ? false : 'no /proc/diskstats (not Linux)' }, async () => {
  const sys = readSysBlock();
  const snap = readDiskSnapshot();
  for (const name of snap.keys()) assert.ok(isPhysicalDisk(name, sys), name);
  for (const name of snap.keys()) assert.doesNotMatch(name, /^(loop|zram|ram|dm-)/u);
  const first = await diskCollector.collect();
  await new Promise((r) => setTimeout(r, 50));
  const second = await diskCollector.collect();
  for (const result of [first, second]) {
    for (const n of NAMES) assert.ok(result.readings[n as 'disk_read_bps'] !== undefined || result.missing[n] !== undefined, n);
    assertValidSample(result);
  }
});
