/**
 * Disk I/O rates from /proc/diskstats deltas over the monotonic time between reads. Per sample:
 * one readFileSync of /proc/diskstats (~1 KB), one readdirSync of /sys/block and one readlinkSync
 * per entry (~20 µs each); no child process. si.disksIO() spawned 2-7 processes a call.
 *
 * Which devices count (so no byte is counted twice): whole physical disks only.
 *  - With /sys/block readable: a device counts when it has an entry there (partitions have none)
 *    and that entry does not link into /sys/devices/virtual/ (loop, ram, zram, dm-*, md*, nbd:
 *    their I/O reaches a physical disk underneath, or none at all).
 *  - Without /sys (some containers): by name, loop/ram/zram/dm-/md/nbd devices and the partitions
 *    of sd/hd/vd/xvd (sda1), nvme (nvme0n1p1) and mmcblk (mmcblk0p1) disks are left out.
 * A RAID1 write is counted once per member disk: that is what the disks really do.
 *
 * Counters (rates.ts rule): a disk whose counters went backwards (reset, a 32-bit field that
 * wrapped, a disk swapped under the same name) is skipped for that interval; one that appeared
 * since the last read is skipped until it has two readings. Sectors are 512 bytes in diskstats
 * whatever the disk's own sector size.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Readings } from '../../shared/protocol.ts';
import { FIRST_SAMPLE_WAIT_MS } from './cpu.ts';
import { counterDelta, intervalProblem, pairReader, perSecond, type Timed } from './rates.ts';
import type { Collector, CollectResult } from './types.ts';

export interface DiskCounters {
  readonly readsCompleted: number;
  readonly sectorsRead: number;
  readonly writesCompleted: number;
  readonly sectorsWritten: number;
}

/** Name -> counters of the disks that count. */
export type DiskSnapshot = ReadonlyMap<string, DiskCounters>;

const SECTOR_BYTES = 512;
const NAMES = ['disk_read_bps', 'disk_write_bps', 'disk_read_iops', 'disk_write_iops'] as const;
const VIRTUAL_NAME = /^(loop|ram|zram|dm-|md|nbd)\d*/u;
const PARTITION_NAME = /^((?:sd|hd|vd|xvd)[a-z]+\d+|nvme\d+n\d+p\d+|mmcblk\d+p\d+)$/u;

/**
 * Pure: is `name` a whole physical disk? `sysBlock` maps each /sys/block entry to its link
 * target; undefined when /sys/block could not be read (then the name rule alone decides).
 */
export function isPhysicalDisk(name: string, sysBlock: ReadonlyMap<string, string> | undefined): boolean {
  if (VIRTUAL_NAME.test(name)) return false;
  if (sysBlock === undefined) return !PARTITION_NAME.test(name);
  const target = sysBlock.get(name);
  return target !== undefined && !target.includes('/devices/virtual/');
}

/** Pure: /proc/diskstats text -> counters of the physical disks. Malformed lines are skipped. */
export function parseDiskstats(text: string, sysBlock: ReadonlyMap<string, string> | undefined): DiskSnapshot {
  const out = new Map<string, DiskCounters>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/u);
    // major minor name, then 11 counters (4.18+ adds discards, 5.5+ flushes: not used).
    if (f.length < 14) continue;
    const name = f[2]!;
    const [readsCompleted, , sectorsRead, , writesCompleted, , sectorsWritten] = f.slice(3, 10).map(Number);
    const counters = { readsCompleted: readsCompleted!, sectorsRead: sectorsRead!, writesCompleted: writesCompleted!, sectorsWritten: sectorsWritten! };
    if (!Object.values(counters).every((n) => Number.isSafeInteger(n) && n >= 0)) continue;
    if (isPhysicalDisk(name, sysBlock)) out.set(name, counters);
  }
  return out;
}

/** Pure: two snapshots -> the four rates summed over the disks present in both with sane counters. */
export function parseDiskPair(prev: Timed<DiskSnapshot>, curr: Timed<DiskSnapshot>): CollectResult {
  const problem = intervalProblem(prev, curr);
  const noDisk = curr.value.size === 0 ? 'no physical disk in /proc/diskstats' : undefined;
  if (problem ?? noDisk) return { readings: {}, missing: Object.fromEntries(NAMES.map((n) => [n, (problem ?? noDisk)!])) };
  const sum = { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
  let counted = 0;
  for (const [name, c] of curr.value) {
    const p = prev.value.get(name);
    if (p === undefined) continue;
    const d = [
      counterDelta(p.sectorsRead, c.sectorsRead),
      counterDelta(p.sectorsWritten, c.sectorsWritten),
      counterDelta(p.readsCompleted, c.readsCompleted),
      counterDelta(p.writesCompleted, c.writesCompleted),
    ];
    if (d.some((x) => x === undefined)) continue;
    sum.readBytes += d[0]! * SECTOR_BYTES;
    sum.writeBytes += d[1]! * SECTOR_BYTES;
    sum.reads += d[2]!;
    sum.writes += d[3]!;
    counted++;
  }
  if (counted === 0) {
    const reason = 'no disk with two consistent readings yet (new disk or counters reset)';
    return { readings: {}, missing: Object.fromEntries(NAMES.map((n) => [n, reason])) };
  }
  const ms = curr.atMs - prev.atMs;
  const readings: Readings = {
    disk_read_bps: perSecond(sum.readBytes, ms),
    disk_write_bps: perSecond(sum.writeBytes, ms),
    disk_read_iops: perSecond(sum.reads, ms),
    disk_write_iops: perSecond(sum.writes, ms),
  };
  return { readings, missing: {} };
}

/** The I/O half: /sys/block entry -> link target, or undefined when /sys/block cannot be listed. */
export function readSysBlock(root = '/'): Map<string, string> | undefined {
  let names: string[];
  try {
    names = readdirSync(`${root}sys/block`);
  } catch {
    return undefined;
  }
  const out = new Map<string, string>();
  for (const name of names) {
    try {
      out.set(name, readlinkSync(`${root}sys/block/${name}`));
    } catch {
      // Not a link (very old kernels had directories there): a real entry all the same.
      out.set(name, name);
    }
  }
  return out;
}

/** The I/O half: one snapshot. `root` lets tests point it at a fixture tree. */
export function readDiskSnapshot(root = '/'): DiskSnapshot {
  return parseDiskstats(readFileSync(`${root}proc/diskstats`, 'utf8'), readSysBlock(root));
}

export function createDiskCollector(read: () => DiskSnapshot = () => readDiskSnapshot(), firstWaitMs = FIRST_SAMPLE_WAIT_MS): Collector {
  const next = pairReader(read, firstWaitMs);
  return {
    name: 'disk',
    kind: 'fast',
    provides: NAMES,
    async collect() {
      const { prev, curr } = await next();
      return parseDiskPair(prev, curr);
    },
  };
}

export const diskCollector: Collector = createDiskCollector();
