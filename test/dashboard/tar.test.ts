/**
 * The ustar writer (dashboard/tar.ts) against the system's `tar` (GNU tar on Debian): archives
 * written here are extracted by it, plain and gzipped, and every file must come back with its
 * bytes, mode and mtime; `tar -tv` must list each entry with its type. Bad entries are
 * RangeErrors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { splitPath, TAR_BLOCK_BYTES, tarArchive, tarHeader, type TarEntry } from '../../dashboard/tar.ts';

const HAVE_TAR = spawnSync('tar', ['--version'], { encoding: 'utf8' }).status === 0;
const NO_TAR = HAVE_TAR ? false : process.env['CI'] ? false : 'the system tar is not installed';
if (!HAVE_TAR && process.env['CI']) throw new Error('tar is required in CI (the tar writer is tested against it)');

/** Seeded bytes (xorshift32), so a failing case can be replayed. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

const MTIME_S = 1_700_000_000;
const LONG_DIR = `deep/${'d'.repeat(60)}/${'e'.repeat(60)}`; // > 100 bytes with its file: needs the prefix field

const ENTRIES: TarEntry[] = [
  { path: 'top', mode: 0o755, mtimeS: MTIME_S, type: 'dir' },
  { path: 'top/empty.txt', mode: 0o644, mtimeS: MTIME_S + 1, data: Buffer.alloc(0), type: 'file' },
  { path: 'top/one.bin', mode: 0o600, mtimeS: MTIME_S + 2, data: bytes(1, 1), type: 'file' },
  { path: 'top/block_minus_one.bin', mode: 0o644, mtimeS: MTIME_S, data: bytes(TAR_BLOCK_BYTES - 1, 2), type: 'file' },
  { path: 'top/block.bin', mode: 0o644, mtimeS: MTIME_S, data: bytes(TAR_BLOCK_BYTES, 3), type: 'file' },
  { path: 'top/block_plus_one.bin', mode: 0o755, mtimeS: MTIME_S, data: bytes(TAR_BLOCK_BYTES + 1, 4), type: 'file' },
  { path: 'top/big.bin', mode: 0o644, mtimeS: MTIME_S, data: bytes(200_000, 5), type: 'file' },
  { path: 'top/sub/', mode: 0o750, mtimeS: MTIME_S, type: 'dir' },
  { path: 'top/sub/text with spaces.js', mode: 0o644, mtimeS: MTIME_S, data: Buffer.from('export const x = 1;\n'), type: 'file' },
  { path: `top/${LONG_DIR}/`, mode: 0o755, mtimeS: MTIME_S, type: 'dir' },
  { path: `top/${LONG_DIR}/file_with_a_long_name.js`, mode: 0o644, mtimeS: MTIME_S, data: bytes(700, 6), type: 'file' },
];

function extractAndCompare(archive: Buffer, gz: boolean): void {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-tar-'));
  try {
    const file = join(dir, gz ? 'a.tar.gz' : 'a.tar');
    writeFileSync(file, archive);
    const out = join(dir, 'out');
    mkdirSync(out);
    // --same-permissions: modes exactly as archived, whoever runs the test (umask ignored).
    const x = spawnSync('tar', [gz ? '-xzf' : '-xf', file, '-C', out, '--same-permissions'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(x.status, 0, `tar -x failed: ${x.stderr}`);
    assert.equal(x.stderr, '', 'tar extracted without a warning (checksums, magic, sizes)');
    for (const e of ENTRIES) {
      const p = join(out, e.path);
      const st = statSync(p);
      assert.equal(st.isDirectory(), e.type === 'dir', `${e.path}: type`);
      assert.equal(st.mode & 0o7777, e.mode, `${e.path}: mode`);
      if (e.type === 'file') {
        assert.ok(readFileSync(p).equals(Buffer.from(e.data!)), `${e.path}: bytes`);
        assert.equal(Math.floor(st.mtimeMs / 1000), e.mtimeS, `${e.path}: mtime`);
      }
    }
    const list = spawnSync('tar', [gz ? '-tvzf' : '-tvf', file], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    assert.equal(lines.length, ENTRIES.length, 'one listed entry per entry written');
    for (const [i, e] of ENTRIES.entries()) {
      assert.equal(lines[i]![0], e.type === 'dir' ? 'd' : '-', `${e.path}: listed type`);
      assert.ok(lines[i]!.endsWith(e.type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path), `${e.path}: listed path in "${lines[i]}"`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an archive written here extracts with the system tar: bytes, modes, mtimes, types, long paths', { skip: NO_TAR }, () => {
  const archive = tarArchive(ENTRIES);
  assert.equal(archive.length % TAR_BLOCK_BYTES, 0, 'whole blocks');
  assert.ok(archive.subarray(archive.length - 2 * TAR_BLOCK_BYTES).every((b) => b === 0), 'ends with two zero blocks');
  extractAndCompare(archive, false);
});

test('the same archive gzipped (as the dashboard serves it) extracts with tar -xz', { skip: NO_TAR }, () => {
  extractAndCompare(gzipSync(tarArchive(ENTRIES)), true);
});

test('the same entries always make the same bytes', () => {
  assert.ok(tarArchive(ENTRIES).equals(tarArchive(ENTRIES)));
});

test('a header: name, octal fields, magic and a checksum that matches its bytes', () => {
  const h = tarHeader({ path: 'a/b.txt', mode: 0o644, mtimeS: 0o12345670, data: Buffer.from('hello'), type: 'file' });
  assert.equal(h.length, TAR_BLOCK_BYTES);
  assert.equal(h.toString('ascii', 0, 7), 'a/b.txt');
  assert.equal(h.toString('ascii', 100, 108), '0000644\0');
  assert.equal(h.toString('ascii', 124, 136), '00000000005\0');
  assert.equal(h.toString('ascii', 136, 148), '00012345670\0');
  assert.equal(h.toString('ascii', 156, 157), '0');
  assert.equal(h.toString('ascii', 257, 265), 'ustar\u000000');
  const stored = parseInt(h.toString('ascii', 148, 154), 8);
  const copy = Buffer.from(h);
  copy.fill(0x20, 148, 156);
  assert.equal(stored, copy.reduce((s, b) => s + b, 0));
});

const SPLITS: Array<[name: string, path: string, want: { name: string; prefix: string }]> = [
  ['short path stays in name', 'a/b', { name: 'a/b', prefix: '' }],
  ['exactly 100 bytes stays in name', 'x'.repeat(100), { name: 'x'.repeat(100), prefix: '' }],
  ['101 bytes cut at the last slash that fits', `${'p'.repeat(50)}/${'n'.repeat(50)}`, { name: 'n'.repeat(50), prefix: 'p'.repeat(50) }],
];
for (const [name, path, want] of SPLITS) {
  test(`splitPath: ${name}`, () => assert.deepEqual(splitPath(path), want));
}

const BAD: Array<[name: string, entry: TarEntry]> = [
  ['a name of 101 bytes without a slash', { path: 'x'.repeat(101), mode: 0o644, mtimeS: 0, data: Buffer.alloc(0), type: 'file' }],
  ['a path longer than prefix + name', { path: `${'p'.repeat(160)}/${'n'.repeat(50)}`, mode: 0o644, mtimeS: 0, data: Buffer.alloc(0), type: 'file' }],
  ['an absolute path', { path: '/etc/passwd', mode: 0o644, mtimeS: 0, data: Buffer.alloc(0), type: 'file' }],
  ['a path climbing out', { path: 'a/../../b', mode: 0o644, mtimeS: 0, data: Buffer.alloc(0), type: 'file' }],
  ['a non-ASCII path', { path: 'caf\u00e9.txt', mode: 0o644, mtimeS: 0, data: Buffer.alloc(0), type: 'file' }],
  ['a control character', { path: 'a\nb', mode: 0o644, mtimeS: 0, data: Buffer.alloc(0), type: 'file' }],
  ['an empty path', { path: '', mode: 0o644, mtimeS: 0, data: Buffer.alloc(0), type: 'file' }],
  ['a mode beyond 07777', { path: 'a', mode: 0o17777, mtimeS: 0, data: Buffer.alloc(0), type: 'file' }],
  ['a negative mtime', { path: 'a', mode: 0o644, mtimeS: -1, data: Buffer.alloc(0), type: 'file' }],
];
for (const [name, entry] of BAD) {
  test(`refused with a RangeError: ${name}`, () => assert.throws(() => tarArchive([entry]), RangeError));
}
