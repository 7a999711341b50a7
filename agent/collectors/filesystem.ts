/**
 * Mounted filesystems (slow class): /proc/self/mounts, then fs.promises.statfs per mount, each
 * with its own time limit. ~0.1 ms a mount on local disks, no child process (si.fsSize() spawned
 * df). Slow class because statfs on a network mount can take seconds or never return.
 *
 * statfs runs on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), shared
 * with every async fs call and dns.lookup. A stuck NFS server keeps its thread forever, so a mount
 * whose last statfs has not returned is not asked again, and at most MAX_PENDING_STATFS calls may
 * hang at once: the pool never fills with stuck calls, and the agent never stalls.
 *
 * Which filesystems count: those that hold data on a disk or a server (KEPT_TYPES). Left out:
 * kernel pseudo filesystems (proc, sysfs, cgroup*, devpts, ...), memory-backed ones (tmpfs,
 * devtmpfs, ramfs: their use is already in the memory readings), container layers (overlay,
 * aufs), read-only images (squashfs: snaps, live media, always 100 % used), autofs triggers, and
 * any type not listed. A device mounted twice (bind mounts, btrfs subvolumes) is listed once,
 * at its first mount point in /proc/self/mounts.
 */
import { readFile, statfs } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { MAX_WIRE_ROWS, type TableRows } from '../../shared/protocol.ts';
import type { Collector, CollectResult } from './types.ts';
import { cleanText, reasonFromError, shortReason, withTimeout } from './types.ts';

export const KEPT_TYPES: ReadonlySet<string> = new Set([
  'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'bcachefs', 'zfs', 'jfs', 'reiserfs', 'f2fs', 'nilfs2',
  'vfat', 'exfat', 'ntfs', 'ntfs3', 'fuseblk', 'hfs', 'hfsplus', 'apfs', 'ufs',
  'nfs', 'nfs4', 'cifs', 'smb3', 'ceph', 'fuse.glusterfs', 'fuse.sshfs', 'lustre', 'gpfs', 'ocfs2', 'gfs2', 'virtiofs', '9p',
]);
/** Per-mount time limit for statfs, ms. */
export const STATFS_TIMEOUT_MS = 2000;
/** statfs calls allowed to hang (past their time limit) at once: half of libuv's default pool of 4. */
export const MAX_PENDING_STATFS = 2;
const MOUNT_MAX_BYTES = 512;
const TYPE_MAX_BYTES = 64;

export interface Mount {
  readonly device: string;
  readonly mount: string;
  readonly type: string;
}

/** The statfs fields used: block counts and the block size, bytes. */
export interface FsStats {
  readonly bsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
}

/** Decodes the octal escapes the kernel writes for space, tab, newline and backslash (\040 ...). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/gu, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Pure: /proc/self/mounts text -> the mounts that count, one per device, in file order. */
export function parseMounts(text: string): Mount[] {
  const seen = new Set<string>();
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/u);
    if (f.length < 3) continue;
    const [device, mount, type] = f.map(unescapeMountField) as [string, string, string];
    if (!KEPT_TYPES.has(type) || seen.has(device)) continue;
    seen.add(device);
    out.push({ device, mount, type });
  }
  return out;
}

/** A whole number of bytes the protocol accepts, or undefined. */
function bytes(blocks: number, bsize: number): number | undefined {
  const v = blocks * bsize;
  return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** Pure: statfs -> one `fs` row, like df: used = (blocks - bfree) × bsize, free = bavail × bsize. */
export function fsRow(m: Mount, s: FsStats): TableRows<'fs'>[number] {
  const row: TableRows<'fs'>[number] = { mount: cleanText(m.mount, MOUNT_MAX_BYTES) || '?', type: cleanText(m.type, TYPE_MAX_BYTES) };
  const size = bytes(s.blocks, s.bsize);
  const used = bytes(Math.max(0, s.blocks - s.bfree), s.bsize);
  const free = bytes(s.bavail, s.bsize);
  if (size !== undefined) row.size_bytes = size;
  if (used !== undefined) row.used_bytes = size === undefined ? used : Math.min(used, size);
  if (free !== undefined) row.free_bytes = size === undefined ? free : Math.min(free, size);
  return row;
}

/** Pure: rows and the per-mount failures -> table `fs` and its reason in `missing`. */
export function fsResult(rows: TableRows<'fs'>, failures: readonly string[], mountCount: number): CollectResult {
  const missing: Record<string, string> = {};
  if (mountCount === 0) missing.fs = 'no disk or network filesystem mounted (pseudo, memory and overlay filesystems left out)';
  else if (failures.length > 0) missing.fs = shortReason(failures.join('; '));
  const sorted = [...rows].sort((a, b) => (a.mount! < b.mount! ? -1 : a.mount! > b.mount! ? 1 : 0)).slice(0, MAX_WIRE_ROWS);
  return { readings: rows.length > 0 ? { fs: sorted } : {}, missing };
}

export interface FilesystemCollectorOptions {
  readMounts?: () => Promise<string>;
  statfs?: (path: string) => Promise<FsStats>;
  timeoutMs?: number;
}

export function createFilesystemCollector(options: FilesystemCollectorOptions = {}): Collector {
  const readMounts = options.readMounts ?? (() => readFile('/proc/self/mounts', 'utf8'));
  const doStatfs = options.statfs ?? ((path: string) => statfs(path));
  const timeoutMs = options.timeoutMs ?? STATFS_TIMEOUT_MS;
  /** Mount point -> when its unanswered statfs started (performance.now(), ms). */
  const pending = new Map<string, number>();

  const one = async (m: Mount): Promise<TableRows<'fs'>[number] | string | { skipped: number }> => {
    const since = pending.get(m.mount);
    if (since !== undefined) return `${m.mount}: statfs pending for ${Math.round((performance.now() - since) / 1000)} s, not asked again`;
    const now = performance.now();
    const stuck = [...pending.values()].filter((t) => now - t > timeoutMs).length;
    if (stuck >= MAX_PENDING_STATFS) return { skipped: stuck };
    pending.set(m.mount, performance.now());
    // Deleted when the call ends, however late: only then may this mount be asked again.
    const call = doStatfs(m.mount).finally(() => pending.delete(m.mount));
    try {
      return fsRow(m, await withTimeout(call, timeoutMs, 'statfs'));
    } catch (err) {
      const reason = reasonFromError(err);
      return `${m.mount}: ${/timed out/u.test(reason) ? `no answer in ${timeoutMs} ms` : reason}`;
    }
  };

  return {
    name: 'filesystem',
    kind: 'slow',
    provides: ['fs'],
    async collect() {
      const mounts = parseMounts(await readMounts());
      const results = await Promise.all(mounts.map(one));
      const rows = results.filter((r): r is TableRows<'fs'>[number] => typeof r === 'object' && !('skipped' in r));
      const failures = results.filter((r): r is string => typeof r === 'string');
      const skipped = results.filter((r): r is { skipped: number } => typeof r === 'object' && 'skipped' in r);
      // One summary for the skipped ones, after the mounts that hang: the reason has 200 bytes.
      if (skipped.length > 0) failures.push(`${skipped.length} more skipped while ${skipped[0]!.skipped} statfs calls hang`);
      return fsResult(rows, failures, mounts.length);
    },
  };
}

export const filesystemCollector: Collector = createFilesystemCollector();
