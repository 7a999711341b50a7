/**
 * collector/state_saver.ts on real files in a temporary directory: a save restored into a fresh
 * store (of the same or another size), hosts coming back offline through HostTable, a damaged
 * file moved aside, an unwritable directory, and the last save on stop.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { HostTable } from '../../collector/hosts.ts';
import { encodeState } from '../../collector/state_codec.ts';
import { restoreState, SAVE_STRETCH, STATE_FILE, StateSaver } from '../../collector/state_saver.ts';
import { hostView } from '../../shared/host_view.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { MSG_HELLO, parseSample, PROTO_VERSION, type Hello } from '../../shared/protocol.ts';
import { HDR_LAYOUT_VERSION, HISTORY_SERIES, NUM } from '../../shared/shm_layout.ts';
import { ShmStore } from '../../shared/shm_store.ts';

const T0 = 1_750_000_000_000;
const CPU = HISTORY_SERIES.indexOf('cpu_pct');

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A real logger writing into an array, one line per event. */
function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger('collector', 'debug', (l) => lines.push(l)), lines };
}

function hello(host: string, ts?: number): Hello {
  return { type: MSG_HELLO, proto: PROTO_VERSION, host, agent: 'test/1', token: 't', interval_ms: 1000, os: `os of ${host}`, ...(ts ? { ts } : {}) };
}

interface Filled { store: ShmStore; table: HostTable; owners: Map<string, { id: number }> }

/**
 * `names` hosts through HostTable, each sending `seconds` samples at T0, T0+1s ...; cpu_pct of
 * sample s of host h is h*10 + s (so every point says whose and which it is).
 */
function filled(names: readonly string[], seconds: number, points = 10, capacity = names.length + 2): Filled {
  const store = ShmStore.create(capacity, T0, points);
  const table = new HostTable(store);
  const owners = new Map<string, { id: number }>();
  names.forEach((name, h) => {
    const owner = { id: h + 1 };
    owners.set(name, owner);
    assert.equal(table.claim(hello(name), owner, T0).ok, true);
    for (let s = 0; s < seconds; s++) {
      const ts = T0 + s * 1000;
      const sample = parseSample({
        type: 'sample', seq: s + 1, ts, cpu_pct: h * 10 + s, mem_total_bytes: 4096, mem_used_bytes: 1024,
        fs: [{ mount: `/data/${name}`, type: 'xfs', size_bytes: 10, used_bytes: s }], cpu_cores_pct: [s, s + 1],
      });
      assert.equal(table.recordSample(name, owner, sample, ts), 'stored');
    }
  });
  return { store, table, owners };
}

/** A slot without its lock count (a fresh store's locks count differently), plus its history. */
function hostContents(store: ShmStore, index: number): unknown {
  const { lockSeq: _lock, ...slot } = store.readSlot(index, true)!;
  return { ...slot, numbers: Array.from(slot.numbers), history: store.readHistory(index, 0, Number.POSITIVE_INFINITY) };
}

async function saveOnce(dir: string, store: ShmStore, log = captureLog().log): Promise<StateSaver> {
  const saver = new StateSaver(dir, store, log, 0);
  await saver.save();
  assert.equal(saver.saves, 1, 'the save completed');
  return saver;
}

test('save, then restore into a fresh store: every host, reading, table and history point back', async (t) => {
  const dir = tempDir(t);
  const { store, table, owners } = filled(['alpha', 'béta', '<gamma>'], 6);
  table.release('béta', owners.get('béta')!, T0 + 7000);
  const saver = await saveOnce(dir, store);
  assert.equal(saver.lastBytes, statSync(join(dir, STATE_FILE)).size);

  const { log, lines } = captureLog();
  const fresh = ShmStore.create(8, T0 + 60_000, 10);
  assert.deepEqual(restoreState(dir, fresh, log), { restored: 3, dropped: 0, savedAtMs: saver.lastSavedAtMs, extra: null });
  assert.equal(fresh.slotsUsed(), 3);
  for (let i = 0; i < 3; i++) assert.deepEqual(hostContents(fresh, i), hostContents(store, i), `slot ${i}`);
  assert.deepEqual(fresh.readHistory(2, 0, Number.POSITIVE_INFINITY)!.values[CPU], [20, 21, 22, 23, 24, 25]);
  assert.equal(lines.length, 1, lines.join(''));
  assert.match(lines[0]!, / info +collector state restored .*hosts=3 dropped=0/);
  assert.equal(fresh.capacity, 8, 'the fresh store keeps its own capacity');
});

test('no state file: nothing restored, nothing logged', (t) => {
  const dir = tempDir(t);
  const { log, lines } = captureLog();
  for (const d of [dir, join(dir, 'not-created-yet')]) {
    assert.deepEqual(restoreState(d, ShmStore.create(2, T0, 10), log), { restored: 0, dropped: 0, savedAtMs: null, extra: null });
  }
  assert.deepEqual(lines, []);
});

test('restore into a smaller capacity keeps the first hosts and counts the rest as dropped', async (t) => {
  const dir = tempDir(t);
  const names = ['h0', 'h1', 'h2', 'h3', 'h4'];
  await saveOnce(dir, filled(names, 2).store);
  const { log, lines } = captureLog();
  const small = ShmStore.create(2, T0, 10);
  assert.equal(restoreState(dir, small, log).dropped, 3);
  assert.deepEqual(small.readAll().map((s) => s.strings[0]), ['h0', 'h1']);
  assert.deepEqual(small.readHistory(1, 0, Number.POSITIVE_INFINITY)!.values[CPU], [10, 11]);
  assert.equal(lines.filter((l) => / warn +collector .*dropped=3/.test(l)).length, 1, lines.join(''));
});

interface RebucketCase { name: string; points: number; expectSeconds: number[] }
// Saved: a 10-second ring after 14 samples, so it holds seconds 4..13.
const REBUCKET_CASES: readonly RebucketCase[] = [
  { name: 'shorter ring (5): the newest 5 seconds', points: 5, expectSeconds: [9, 10, 11, 12, 13] },
  { name: 'same length (10)', points: 10, expectSeconds: [4, 5, 6, 7, 8, 9, 10, 11, 12, 13] },
  { name: 'longer ring (30): all 10, same times', points: 30, expectSeconds: [4, 5, 6, 7, 8, 9, 10, 11, 12, 13] },
  { name: 'ring of 7, not a divisor of 10', points: 7, expectSeconds: [7, 8, 9, 10, 11, 12, 13] },
];

test('restore into another history length re-buckets each ring', async (t) => {
  const dir = tempDir(t);
  await saveOnce(dir, filled(['a', 'b'], 14).store);
  for (const c of REBUCKET_CASES) {
    await t.test(c.name, () => {
      const store = ShmStore.create(4, T0, c.points);
      assert.equal(restoreState(dir, store, captureLog().log).restored, 2);
      const h = store.readHistory(1, 0, Number.POSITIVE_INFINITY)!;
      assert.deepEqual(h.t, c.expectSeconds.map((s) => T0 + s * 1000));
      assert.deepEqual(h.values[CPU], c.expectSeconds.map((s) => 10 + s));
    });
  }
});

test('restored hosts come back offline with their latest reading and history; the same name gets its slot back', async (t) => {
  const dir = tempDir(t);
  const before = filled(['web', 'db'], 5);
  // 'web' is still connected when the save is taken (a kill -9), 'db' had disconnected.
  before.table.release('db', before.owners.get('db')!, T0 + 9000);
  await saveOnce(dir, before.store);

  const store = ShmStore.create(4, T0 + 100_000, 10);
  restoreState(dir, store, captureLog().log);
  const table = new HostTable(store);
  assert.equal(table.size, 2);
  const now = T0 + 100_000;
  const views = new Map(store.readAll().map((s) => [s.strings[0]!, hostView(s, now)]));
  for (const [name, cpu] of [['web', 4], ['db', 14]] as const) {
    const v = views.get(name)!;
    assert.equal(v.status, 'offline', name);
    assert.equal(v.cpu_pct, cpu, `${name} keeps its latest reading`);
    assert.equal(v.samples_total, 5);
    assert.equal(v.os, `os of ${name}`);
  }
  // Offline since it was last heard of, by the collector's clock of then.
  assert.equal(views.get('web')!.disconnected_at_ms, T0 + 4000);
  assert.equal(views.get('db')!.disconnected_at_ms, T0 + 9000);

  const owner = { id: 99 };
  const claim = table.claim(hello('db'), owner, now);
  assert.deepEqual(claim, { ok: true, slot: 1, replaced: null, evicted: null });
  assert.equal(table.recordSample('db', owner, parseSample({ type: 'sample', seq: 1, ts: T0 + 5000, cpu_pct: 77 }), now), 'stored');
  const h = store.readHistory(1, 0, Number.POSITIVE_INFINITY)!;
  assert.deepEqual(h.values[CPU], [10, 11, 12, 13, 14, 77], 'the history goes on from what was saved');
  assert.equal(hostView(store.readSlot(1)!, now).samples_total, 6, 'the sample count goes on too');
  assert.equal(table.recordSample('db', owner, parseSample({ type: 'sample', seq: 2, ts: T0 + 1000, cpu_pct: 1 }), now), 'history', 'a sample older than the restored latest is history only');
  const fresh = table.claim(hello('new'), { id: 100 }, now);
  assert.equal(fresh.ok && fresh.slot, 2, 'a new host takes the next free slot, not a restored one');
});

interface CorruptCase { name: string; bytes: (good: Buffer) => Buffer }
const CORRUPT_CASES: readonly CorruptCase[] = [
  { name: 'truncated mid-body (a torn write)', bytes: (good) => good.subarray(0, Math.floor(good.length / 2)) },
  { name: 'empty file', bytes: () => Buffer.alloc(0) },
  { name: 'text, not gzip', bytes: () => Buffer.from('hello\n') },
  { name: 'one byte flipped in the CRC', bytes: (good) => { const b = Buffer.from(good); b[b.length - 6]! ^= 0x01; return b; } },
  {
    name: 'snapshot of another shared-memory layout',
    bytes: () => {
      const snap = filled(['x'], 1).store.snapshot();
      new Int32Array(snap.buffer, 0, 16)[HDR_LAYOUT_VERSION >> 2] = 1;
      return encodeState(snap, T0);
    },
  },
  { name: 'gzip of something else', bytes: () => gzipSync(Buffer.from('{"not":"a state file"}'.repeat(10))) },
];

test('a state file that cannot be restored is moved to state.bin.invalid, logged, and the collector starts empty', async (t) => {
  const dir = tempDir(t);
  await saveOnce(dir, filled(['a', 'b'], 3).store);
  const good = readFileSync(join(dir, STATE_FILE));
  for (const c of CORRUPT_CASES) {
    await t.test(c.name, () => {
      const bad = c.bytes(good);
      writeFileSync(join(dir, STATE_FILE), bad);
      const { log, lines } = captureLog();
      const store = ShmStore.create(4, T0, 10);
      assert.deepEqual(restoreState(dir, store, log), { restored: 0, dropped: 0, savedAtMs: null, extra: null });
      assert.equal(store.slotsUsed(), 0);
      assert.equal(new HostTable(store).size, 0);
      assert.equal(existsSync(join(dir, STATE_FILE)), false, 'state.bin is gone');
      assert.deepEqual(readFileSync(join(dir, `${STATE_FILE}.invalid`)), bad, 'kept aside as it was, for a post-mortem');
      assert.equal(lines.length, 1, lines.join(''));
      assert.match(lines[0]!, / error collector state file cannot be restored; moved aside, starting empty .*code=SENTINEL_STATE_FILE_INVALID/);
    });
  }
  await t.test('the next save and restore work again', async () => {
    await saveOnce(dir, filled(['c'], 2).store);
    assert.equal(restoreState(dir, ShmStore.create(4, T0, 10), captureLog().log).restored, 1);
  });
});

test('a save leaves no state.bin.tmp and writes state.bin with mode 0600', async (t) => {
  const dir = tempDir(t);
  const { store } = filled(['a'], 2);
  await saveOnce(dir, store);
  assert.deepEqual(readdirSync(dir), [STATE_FILE]);
  assert.equal(statSync(join(dir, STATE_FILE)).mode & 0o777, 0o600);
});

test('a save over a leftover state.bin.tmp of a crashed save (mode 0644) still leaves a 0600 state.bin', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, `${STATE_FILE}.tmp`), 'half a save');
  chmodSync(join(dir, `${STATE_FILE}.tmp`), 0o644);
  await saveOnce(dir, filled(['a'], 2).store);
  assert.deepEqual(readdirSync(dir), [STATE_FILE]);
  assert.equal(restoreState(dir, ShmStore.create(2, T0, 10), captureLog().log).restored, 1);
  assert.equal((statSync(join(dir, STATE_FILE)).mode & 0o777).toString(8), '600');
});

test('saves into a directory that cannot be written log once, never throw, and log again once saving works', async (t) => {
  const dir = tempDir(t);
  // A data directory below a regular file: ENOTDIR whoever runs the test (root ignores modes).
  const blocker = join(dir, 'blocker');
  writeFileSync(blocker, '');
  const dataDir = join(blocker, 'data');
  const { log, lines } = captureLog();
  const saver = new StateSaver(dataDir, filled(['a'], 1).store, log, 0);
  for (let i = 0; i < 3; i++) await saver.save();
  assert.equal(saver.saves, 0);
  assert.equal(lines.length, 1, lines.join(''));
  assert.match(lines[0]!, / error collector cannot save state; will retry .*ENOTDIR/);
  rmSync(blocker);
  mkdirSync(dataDir, { recursive: true });
  await saver.save();
  assert.equal(saver.saves, 1);
  assert.equal(lines.length, 2, lines.join(''));
  assert.match(lines[1]!, / info +collector state saved again/);
  assert.deepEqual(readdirSync(dataDir), [STATE_FILE]);
});

test('save() called while a save runs joins it: saves never overlap', async (t) => {
  const dir = tempDir(t);
  const saver = new StateSaver(dir, filled(['a'], 1).store, captureLog().log, 0);
  const runs = [saver.save(), saver.save(), saver.save()];
  assert.equal(runs[1], runs[0]);
  await Promise.all(runs);
  assert.equal(saver.saves, 1);
});

test('start() saves every interval; stop() writes one last save with what changed since', { timeout: 20_000 }, async (t) => {
  const dir = tempDir(t);
  const { store, table, owners } = filled(['a'], 1);
  const saver = new StateSaver(dir, store, captureLog().log, 50);
  saver.start();
  const deadline = Date.now() + 10_000;
  while (saver.saves < 2 && Date.now() < deadline) await sleep(20);
  assert.ok(saver.saves >= 2, `periodic saves: ${saver.saves}`);
  const periodic = saver.saves;
  table.release('a', owners.get('a')!, T0 + 5000);
  await saver.stop();
  assert.ok(saver.saves === periodic + 1 || saver.saves === periodic + 2, `${saver.saves} after ${periodic}`);
  const back = ShmStore.create(2, T0, 10);
  restoreState(dir, back, captureLog().log);
  assert.equal(back.readSlot(0)!.numbers[NUM.DISCONNECTED_AT_MS], T0 + 5000, 'the last save holds the release');
  const after = saver.saves;
  await sleep(150);
  assert.equal(saver.saves, after, 'no save after stop()');
});

test('stop() without start() (interval 0) still writes the last save', async (t) => {
  const dir = tempDir(t);
  const saver = new StateSaver(dir, filled(['a', 'b'], 1).store, captureLog().log, 0);
  saver.start();
  await saver.stop();
  assert.equal(saver.saves, 1);
  assert.equal(restoreState(dir, ShmStore.create(4, T0, 10), captureLog().log).restored, 2);
});

test('periodic saves keep coming; a save that takes long spaces out the next ones (SAVE_STRETCH x its duration)', async (t) => {
  const dir = tempDir(t);
  const { store } = filled(['a', 'b'], 3);
  const { log, lines } = captureLog();
  // A 1 ms interval: every real save (a write and an fsync) takes longer than 1/SAVE_STRETCH of it.
  const saver = new StateSaver(dir, store, log, 1);
  saver.start();
  t.after(() => saver.stop());
  for (let i = 0; i < 200 && saver.saves < 3; i++) await sleep(50);
  assert.ok(saver.saves >= 3, `three periodic saves, chained (got ${saver.saves})`);
  assert.ok(saver.lastDurationMs > 0.05 && saver.lastDurationMs < 5000, `a save took ${saver.lastDurationMs} ms`);
  assert.equal(saver.nextDelayMs(), SAVE_STRETCH * saver.lastDurationMs);
  assert.equal(lines.filter((l) => l.includes('state saves spaced out')).length, 1, 'said once');
  const slow = new StateSaver(dir, store, log, 10_000);
  slow.lastDurationMs = 100;
  assert.equal(slow.nextDelayMs(), 10_000, 'a save well inside its interval keeps the interval');
  slow.lastDurationMs = 2000;
  assert.equal(slow.nextDelayMs(), 40_000);
});
