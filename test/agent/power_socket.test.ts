import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { MAX_SOCKET_PATH_BYTES, powerLine, readingFromSample, startPowerSocket, type PowerReading } from '../../agent/power_socket.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODULE = fileURLToPath(new URL('../../agent/power_socket.ts', import.meta.url));
const log = createLogger('test', 'error', () => {});
const configError = (err: unknown): boolean => (err as { code?: string }).code === ERROR_CODES.CONFIG_INVALID;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'psock-'));
}
/** Connects, reads to end of file; resolves with everything received. */
function fetchLine(path: string, send?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = connect(path);
    s.on('connect', () => { if (send !== undefined) s.write(send); });
    s.on('data', (c: Buffer) => { got += c.toString('utf8'); });
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}
/** Runs `node -e CODE` (plain JS, or with tsx for a .ts import); resolves when it prints `ready`. */
function child(code: string, tsx = false): { ready: Promise<void>; exited: Promise<number | null>; kill: (sig: NodeJS.Signals) => void } {
  const args = tsx ? ['--import', 'tsx', '--input-type=module', '-e', code] : ['-e', code];
  const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const ready = new Promise<void>((resolve, reject) => {
    p.stdout!.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('ready')) resolve(); });
    p.once('exit', (c) => reject(new Error(`child exited ${c} before ready: ${err}`)));
  });
  p.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
  return { ready, exited, kill: (sig) => p.kill(sig) };
}

const OK: PowerReading = { watts: 41.25, source: 'measured', atMs: 1_700_000_000_000 };

test('powerLine: ok, error, stale, bad figure, read() throwing', () => {
  assert.deepEqual(powerLine(() => OK, OK.atMs + 500), { power_watts: 41.25, timestamp: OK.atMs, status: 'ok', source: 'measured' });
  assert.deepEqual(powerLine(() => ({ source: 'estimated', atMs: 5, error: 'no CPU reading' }), 9), { power_watts: null, timestamp: 9, status: 'error', source: 'estimated', error: 'no CPU reading' });
  assert.deepEqual(powerLine(() => OK, OK.atMs + 10_000, 5000), { power_watts: null, timestamp: OK.atMs + 10_000, status: 'error', source: 'measured', error: 'stale: last figure 10 s old' });
  assert.equal(powerLine(() => ({ watts: Number.NaN, source: 'measured', atMs: 1 }), 2).status, 'error');
  assert.deepEqual(powerLine(() => { throw new Error('boom'); }, 3), { power_watts: null, timestamp: 3, status: 'error', source: null, error: 'boom' });
});

test('readingFromSample: the figure and source as sent, else the reason the sample gives', () => {
  assert.deepEqual(readingFromSample({ readings: { power_w: 12.5 }, missing: {}, fields: { power_source: 'estimated' } }, 7), { watts: 12.5, source: 'estimated', atMs: 7 });
  assert.deepEqual(readingFromSample({ readings: {}, missing: { power_w: 'RAPL: first RAPL reading: no energy delta yet' } }, 8), { source: null, atMs: 8, error: 'RAPL: first RAPL reading: no energy delta yet' });
  assert.deepEqual(readingFromSample({ readings: { power_w: 3 }, missing: {} }, 9), { source: null, atMs: 9, error: 'no power source in the last sample' });
  // Before the first sample: no source to name.
  assert.deepEqual(powerLine(() => ({ source: null, atMs: 1, error: 'no sample taken yet' }), 2), { power_watts: null, timestamp: 2, status: 'error', source: null, error: 'no sample taken yet' });
});

test('startPowerSocket: many clients at once each get exactly one JSON line, then end of file', async () => {
  const dir = tempDir();
  const path = join(dir, 'power.sock');
  let reads = 0;
  // A long client timeout: the end of file must come from the server ending the connection, not from the timeout.
  const sock = await startPowerSocket(path, () => { reads += 1; return { ...OK, watts: reads }; }, log, { clientTimeoutMs: 60_000 });
  try {
    const started = Date.now();
    // One client sends bytes first: it still gets its line.
    const lines = await Promise.all(Array.from({ length: 25 }, (_, i) => fetchLine(path, i === 3 ? 'hello\n' : undefined)));
    assert.equal(reads, 25);
    const watts = lines.map((l) => {
      assert.match(l, /^\{[^\n]*\}\n$/, 'one line ending in a newline');
      const obj = JSON.parse(l) as Record<string, unknown>;
      assert.deepEqual(Object.keys(obj).sort(), ['power_watts', 'source', 'status', 'timestamp']);
      assert.equal(obj['status'], 'ok');
      return obj['power_watts'] as number;
    });
    assert.deepEqual(watts.sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i + 1), 'a fresh read per client');
    assert.ok(Date.now() - started < 5000, 'every client saw end of file at once');
  } finally {
    await sock.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startPowerSocket: an error reading is served as status "error"', async () => {
  const dir = tempDir();
  const path = join(dir, 'p.sock');
  const sock = await startPowerSocket(path, () => { throw new Error('RAPL gone'); }, log, { now: () => 42 });
  try {
    assert.deepEqual(JSON.parse(await fetchLine(path)), { power_watts: null, timestamp: 42, status: 'error', source: null, error: 'RAPL gone' });
  } finally {
    await sock.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startPowerSocket: socket file is 0660 by default, 0600 on request, chown to gid; removed on close', async () => {
  const dir = tempDir();
  try {
    for (const [mode, gid] of [[undefined, undefined], [0o600, undefined], [0o660, process.getuid?.() === 0 ? 65534 : process.getgid?.()]] as const) {
      const path = join(dir, `m${mode ?? 'default'}.sock`);
      const sock = await startPowerSocket(path, () => OK, log, { ...(mode ? { mode } : {}), ...(gid !== undefined ? { gid } : {}) });
      const st = statSync(path);
      assert.ok(st.isSocket());
      assert.equal((st.mode & 0o777).toString(8), (mode ?? 0o660).toString(8));
      if (gid !== undefined) assert.equal(st.gid, gid);
      await sock.close();
      assert.equal(existsSync(path), false, 'removed on close');
      await assert.rejects(fetchLine(path), /ENOENT/);
    }
    await assert.rejects(startPowerSocket(join(dir, 'x.sock'), () => OK, log, { mode: 0o666 as never }), RangeError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startPowerSocket: a stale socket left by a killed process is replaced', async () => {
  const dir = tempDir();
  const path = join(dir, 'stale.sock');
  try {
    const c = child(`require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('ready'))`);
    await c.ready;
    c.kill('SIGKILL');
    await c.exited;
    assert.ok(lstatSync(path).isSocket(), 'SIGKILL leaves the socket file behind');
    await assert.rejects(fetchLine(path), /ECONNREFUSED/);
    const sock = await startPowerSocket(path, () => OK, log);
    assert.equal(JSON.parse(await fetchLine(path)).power_watts, 41.25);
    await sock.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startPowerSocket: a live socket, a regular file, a directory or a symlink at the path are refused and left alone', async () => {
  const dir = tempDir();
  try {
    const live = join(dir, 'live.sock');
    // The probe connects and hangs up at once: the other server sees ECONNRESET, which it ignores.
    const other = createServer((s) => { s.on('error', () => {}); s.end('other\n'); });
    await new Promise<void>((r) => other.listen(live, r));
    await assert.rejects(startPowerSocket(live, () => OK, log), (e) => configError(e) && /another process is listening/.test((e as Error).message));
    assert.equal(await fetchLine(live), 'other\n', 'the other server still answers');
    await new Promise<void>((r) => other.close(() => r()));

    const file = join(dir, 'file.sock');
    writeFileSync(file, 'precious');
    const sub = join(dir, 'dir.sock');
    mkdirSync(sub);
    const link = join(dir, 'link.sock');
    symlinkSync(file, link);
    for (const p of [file, sub, link]) {
      await assert.rejects(startPowerSocket(p, () => OK, log), (e) => configError(e) && /is not a socket; refusing/.test((e as Error).message), p);
    }
    assert.equal(readFileSync(file, 'utf8'), 'precious');
    assert.ok(lstatSync(link).isSymbolicLink() && statSync(sub).isDirectory());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`startPowerSocket: path of ${MAX_SOCKET_PATH_BYTES} bytes works, one byte more is a ConfigError`, async () => {
  const dir = tempDir();
  try {
    const base = `${dir}/`;
    const exact = base + 'é' + 'a'.repeat(MAX_SOCKET_PATH_BYTES - Buffer.byteLength(base) - 2); // é is 2 bytes of UTF-8
    assert.equal(Buffer.byteLength(exact), MAX_SOCKET_PATH_BYTES);
    const sock = await startPowerSocket(exact, () => OK, log);
    assert.equal(JSON.parse(await fetchLine(exact)).status, 'ok');
    await sock.close();
    await assert.rejects(startPowerSocket(`${exact}b`, () => OK, log), (e) => configError(e) && /108 bytes.*at most 107/.test((e as Error).message));
    await assert.rejects(startPowerSocket(join(dir, 'no-such-dir', 'p.sock'), () => OK, log), (e) => configError(e) && /cannot listen/.test((e as Error).message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startPowerSocket: the socket file is removed when the process exits', async () => {
  const dir = tempDir();
  const path = join(dir, 'exit.sock');
  try {
    const code = `
      const { startPowerSocket } = await import(${JSON.stringify(MODULE)});
      const log = { debug() {}, info() {}, warn() {}, error() {} };
      await startPowerSocket(${JSON.stringify(path)}, () => ({ watts: 1, source: 'estimated', atMs: Date.now() }), log);
      console.log('ready');
      setTimeout(() => process.exit(0), 200);
    `;
    const c = child(code, true);
    await c.ready;
    assert.ok(lstatSync(path).isSocket());
    assert.equal(JSON.parse(await fetchLine(path)).source, 'estimated');
    assert.equal(await c.exited, 0);
    assert.equal(existsSync(path), false, 'removed by the exit handler');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startPowerSocket: close() does not wait for a client that stays connected', async () => {
  const dir = tempDir();
  const path = join(dir, 'idle.sock');
  try {
    const sock = await startPowerSocket(path, () => OK, log, { clientTimeoutMs: 60_000 });
    // allowHalfOpen: this client keeps its side open after the server's end, as a sloppy widget might.
    const idle = connect({ path, allowHalfOpen: true });
    idle.on('error', () => {});
    await new Promise<void>((r) => idle.once('data', () => r()));
    const started = Date.now();
    await sock.close();
    assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
    assert.equal(existsSync(path), false);
    idle.destroy();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
