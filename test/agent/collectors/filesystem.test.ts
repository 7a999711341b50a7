import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseSample } from '../../../shared/protocol.ts';
import {
  createFilesystemCollector,
  filesystemCollector,
  fsResult,
  fsRow,
  parseMounts,
  unescapeMountField,
  type FsStats,
} from '../../../agent/collectors/filesystem.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

const text = (name: string): string => readFileSync(new URL(`../../fixtures/proc/${name}`, import.meta.url), 'utf8');
function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.deepEqual(sample[name as keyof typeof sample], value);
}

test('parseMounts: hand-made: pseudo, memory, overlay, squashfs and autofs left out; bind mount once; escapes decoded', () => {
  assert.deepEqual(parseMounts(text('mounts_hand.txt')), [
    { device: '/dev/sda2', mount: '/', type: 'ext4' },
    { device: '/dev/sda1', mount: '/boot/efi', type: 'vfat' },
    { device: '/dev/sdb1', mount: '/mnt/my disk\ttab', type: 'xfs' },
    { device: 'nas.example:/export/home', mount: '/mnt/nfs', type: 'nfs4' },
    { device: '//fileserver/share', mount: '/mnt/smb', type: 'cifs' },
  ]);
});

test('parseMounts: recorded /proc/self/mounts of this VM keeps only the root ext4', () => {
  assert.deepEqual(parseMounts(text('mounts.txt')), [{ device: '/dev/vda', mount: '/', type: 'ext4' }]);
});

test('unescapeMountField: \\040 space, \\011 tab, \\134 backslash', () => {
  assert.equal(unescapeMountField('/a\\040b\\011c\\134d'), '/a b\tc\\d');
});

const ROW_CASES: ReadonlyArray<{ name: string; stats: FsStats; want: Record<string, unknown> }> = [
  { name: 'like df', stats: { bsize: 4096, blocks: 1000, bfree: 400, bavail: 300 }, want: { mount: '/', type: 'ext4', size_bytes: 4_096_000, used_bytes: 2_457_600, free_bytes: 1_228_800 } },
  { name: 'bfree above blocks (mid-update) gives used 0', stats: { bsize: 512, blocks: 10, bfree: 12, bavail: 12 }, want: { mount: '/', type: 'ext4', size_bytes: 5120, used_bytes: 0, free_bytes: 5120 } },
  { name: 'beyond 2^53 bytes: sizes left out, row kept', stats: { bsize: 2 ** 20, blocks: 2 ** 40, bfree: 0, bavail: 0 }, want: { mount: '/', type: 'ext4', free_bytes: 0 } },
];
for (const c of ROW_CASES) {
  test(`fsRow: ${c.name}`, () => {
    const row = fsRow({ device: '/dev/sda2', mount: '/', type: 'ext4' }, c.stats);
    assert.deepEqual(row, c.want);
    assertValidSample({ readings: { fs: [row] }, missing: {} });
  });
}

test('fsResult: sorted by mount; no mounts at all is a reason', () => {
  const r = fsResult([{ mount: '/z' }, { mount: '/a' }], ['/mnt/nfs: no answer in 2000 ms'], 3);
  assert.deepEqual(r.readings.fs?.map((x) => x.mount), ['/a', '/z']);
  assert.equal(r.missing['fs'], '/mnt/nfs: no answer in 2000 ms');
  assert.match(fsResult([], [], 0).missing['fs']!, /no disk or network filesystem/);
});

/** A statfs whose answers for `hung` mounts are held back until release() (a stuck NFS server that comes back). */
function fakeStatfs(hung: string[]): { statfs: (p: string) => Promise<FsStats>; calls: Map<string, number>; release: () => void } {
  const calls = new Map<string, number>();
  const waiting: Array<() => void> = [];
  let answering = false;
  return {
    calls,
    statfs: (p) => {
      calls.set(p, (calls.get(p) ?? 0) + 1);
      const stats = { bsize: 4096, blocks: 100, bfree: 50, bavail: 40 };
      return hung.includes(p) && !answering ? new Promise((resolve) => waiting.push(() => resolve(stats))) : Promise.resolve(stats);
    },
    release: () => { answering = true; for (const w of waiting.splice(0)) w(); },
  };
}

test('collector: a hung mount is left out with its reason, is not asked again while pending, and at most 2 may hang', async () => {
  const fake = fakeStatfs(['/mnt/nfs', '/mnt/smb']);
  const collector = createFilesystemCollector({ readMounts: async () => text('mounts_hand.txt'), statfs: fake.statfs, timeoutMs: 40 });
  const started = performance.now();
  const first = await collector.collect();
  assert.ok(performance.now() - started < 1000, 'the collector returns on time');
  assert.deepEqual(first.readings.fs?.map((r) => r.mount), ['/', '/boot/efi', '/mnt/my disk tab']);
  assert.equal(first.missing['fs'], '/mnt/nfs: no answer in 40 ms; /mnt/smb: no answer in 40 ms');
  assertValidSample(first);

  const second = await collector.collect();
  assert.equal(fake.calls.get('/mnt/nfs'), 1, 'a pending statfs is never re-issued');
  assert.match(second.missing['fs']!, /\/mnt\/nfs: statfs pending for \d+ s, not asked again/);
  // Two calls hang past their limit: the pool guard keeps even healthy mounts from taking a thread.
  assert.match(second.missing['fs']!, /; 3 more skipped while 2 statfs calls hang$/);
  assert.equal(second.readings.fs, undefined);
  assertValidSample(second);

  fake.release();
  await new Promise((r) => setImmediate(r));
  const third = await collector.collect();
  assert.equal(fake.calls.get('/mnt/nfs'), 2, 'asked again once the old call ended');
  assert.equal(third.readings.fs?.length, 5);
  assert.deepEqual(third.missing, {});
});

test('collector: a statfs error names the mount', async () => {
  const collector = createFilesystemCollector({
    readMounts: async () => '/dev/sdz1 /gone ext4 rw 0 0\n',
    statfs: async () => { throw Object.assign(new Error('no such file or directory'), { code: 'ENOENT' }); },
  });
  const r = await collector.collect();
  assert.equal(r.missing['fs'], '/gone: ENOENT: no such file or directory');
});

test('filesystemCollector on this machine (real statfs)', { skip: existsSync('/proc/self/mounts') ? false : 'no /proc/self/mounts (not Linux)' }, async () => {
  assert.equal(filesystemCollector.kind, 'slow');
  const r = await filesystemCollector.collect();
  assert.ok(r.readings.fs !== undefined || r.missing['fs'] !== undefined);
  for (const row of r.readings.fs ?? []) {
    assert.ok(row.size_bytes! > 0 && row.used_bytes! <= row.size_bytes! && row.free_bytes! <= row.size_bytes!, JSON.stringify(row));
  }
  assertValidSample(r);
});
