/**
 * collector/state_codec.ts: a store filled through the collector's write path survives
 * encode -> decode whole, and every damaged, foreign or oversized file is refused with
 * SENTINEL_STATE_FILE_INVALID (never a plain crash, never a half-read store).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { performance } from 'node:perf_hooks';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { HostTable } from '../../collector/hosts.ts';
import { decodeState, encodeState, STATE_FORMAT, STATE_HEADER_BYTES, STATE_MAGIC, stateChunks } from '../../collector/state_codec.ts';
import { ERROR_CODES, StateFileError } from '../../shared/errors.ts';
import { MSG_HELLO, parseSample, PROTO_VERSION, type Hello } from '../../shared/protocol.ts';
import { bufferBytes, HDR_CAPACITY, HDR_HISTORY_POINTS, HDR_LAYOUT_VERSION, HDR_MAGIC, HDR_SLOT_BYTES, HISTORY_SERIES, SHM_LAYOUT_VERSION } from '../../shared/shm_layout.ts';
import { MAX_CAPACITY, ShmStore } from '../../shared/shm_store.ts';

const T0 = 1_750_000_000_000;
const SAVED_AT = T0 + 123_456;

function hello(host: string): Hello {
  return { type: MSG_HELLO, proto: PROTO_VERSION, host, agent: 'test/1', token: 't', interval_ms: 1000, os: 'Linux', cpu_cores: 4 };
}

/** `hosts` hosts, each with `seconds` one-second samples carrying readings and every kind of table. */
function filledStore(hosts: number, seconds: number, points = 10): ShmStore {
  const store = ShmStore.create(hosts + 2, T0, points);
  const table = new HostTable(store);
  for (let h = 0; h < hosts; h++) {
    const owner = { id: h + 1 };
    const name = h === 0 ? 'wörk-ß/<1>' : `host-${h}`;
    assert.equal(table.claim(hello(name), owner, T0).ok, true);
    for (let s = 0; s < seconds; s++) {
      const ts = T0 + s * 1000;
      const sample = parseSample({
        type: 'sample', seq: s + 1, ts, cpu_pct: (h * 7 + s) % 100, mem_total_bytes: 1000, mem_used_bytes: 10 * s, load_1m: s / 3,
        temp_max_c: -5 + s, cpu_cores_pct: [s, 100 - s], temp_cores_c: [40.5],
        fs: [{ mount: `/mnt/ü${h}`, type: 'ext4', size_bytes: 100, used_bytes: s, free_bytes: 100 - s }],
        net: [{ name: 'eth0', rx_bps: s * 1.5 }], gpu: [{ model: 'GPU ✓', util_pct: 50 }], procs_top: [{ name: 'node', pid: 42, cpu_pct: 150 }],
        ...(s % 3 === 0 ? { missing: { power_w: 'no sensor' } } : {}),
      });
      assert.equal(table.recordSample(name, owner, sample, ts), 'stored');
    }
  }
  return store;
}

/** Every slot (with tables) and every ring of a store, for deep comparison. */
function contents(store: ShmStore): unknown {
  const out: unknown[] = [];
  for (let i = 0; i < store.slotsUsed(); i++) {
    const slot = store.readSlot(i, true)!;
    out.push({ ...slot, numbers: Array.from(slot.numbers), history: store.readHistory(i, 0, Number.POSITIVE_INFINITY) });
  }
  return { slotsUsed: store.slotsUsed(), historyPoints: store.historyPoints, createdAtMs: store.createdAtMs, slots: out };
}

function stateCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StateFileError, `expected a StateFileError, got ${String(err)}`);
    return err.code;
  }
  return 'accepted';
}

/** A state file whose header is written by hand (what encodeState cannot produce). */
function rawStateFile(body: Uint8Array, fields: { magic?: number; format?: number; bodyBytes?: number; extra?: Uint8Array; extraBytes?: number } = {}): Buffer {
  const header = Buffer.alloc(STATE_HEADER_BYTES);
  header.writeUInt32BE(fields.magic ?? STATE_MAGIC, 0);
  header.writeUInt32BE(fields.format ?? STATE_FORMAT, 4);
  header.writeDoubleBE(SAVED_AT, 8);
  header.writeDoubleBE(fields.bodyBytes ?? body.byteLength, 16);
  header.writeDoubleBE(fields.extraBytes ?? fields.extra?.byteLength ?? 0, 24);
  return gzipSync(Buffer.concat([header, body, fields.extra ?? new Uint8Array(0)]));
}

const MAX = bufferBytes(MAX_CAPACITY, 10);

test('round trip: slots, strings, tables and history come back exactly, with the save time', () => {
  const store = filledStore(3, 14);
  const snapshot = store.snapshot();
  const { store: back, savedAtMs } = decodeState(encodeState(snapshot, SAVED_AT), MAX);
  assert.equal(savedAtMs, SAVED_AT);
  assert.equal(back.capacity, 3, 'the snapshot is compact: capacity = hosts');
  assert.deepEqual(contents(back), contents(store));
  // The contents are what was written, not merely equal on both sides.
  const slot = back.readSlot(0, true)!;
  assert.equal(slot.strings[0], 'wörk-ß/<1>');
  assert.deepEqual(slot.tables!.fs.rows, [{ mount: '/mnt/ü0', type: 'ext4', size_bytes: 100, used_bytes: 13, free_bytes: 87 }]);
  assert.deepEqual(slot.tables!.gpu.rows, [{ model: 'GPU ✓', util_pct: 50, mem_used_bytes: null, mem_total_bytes: null, temp_c: null, power_w: null }]);
  const h = back.readHistory(0, 0, Number.POSITIVE_INFINITY)!;
  assert.equal(h.t.length, 10, 'a ring of 10 keeps the last 10 seconds');
  assert.deepEqual(h.t, Array.from({ length: 10 }, (_, k) => T0 + (k + 4) * 1000));
  assert.deepEqual(h.values[HISTORY_SERIES.indexOf('temp_max_c')], [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
});

test('stateChunks, streamed through gzip, make the file encodeState makes (the saver writes these)', () => {
  const store = filledStore(3, 5);
  const extra = Buffer.from('{"energy":1}');
  for (const withExtra of [null, extra]) {
    const chunks = [...stateChunks(store.snapshotStream(), SAVED_AT, withExtra)];
    assert.ok(chunks.length >= 3, 'header, then the snapshot in parts');
    const streamed = gzipSync(Buffer.concat(chunks));
    const whole = encodeState(store.snapshot(), SAVED_AT, withExtra);
    assert.deepEqual(gunzipSync(streamed), gunzipSync(whole));
    const back = decodeState(streamed, MAX);
    assert.deepEqual(contents(back.store), contents(decodeState(whole, MAX).store));
    assert.deepEqual(back.extra, withExtra);
  }
  // An extra section in parts (EnergyService.stateBytes) is their concatenation; empty parts are fine.
  const parts = [Buffer.from('{"energy":'), Buffer.alloc(0), Buffer.from('[1,2]'), Buffer.from('}')];
  const streamed = gzipSync(Buffer.concat([...stateChunks(store.snapshotStream(), SAVED_AT, parts)]));
  assert.deepEqual(decodeState(streamed, MAX).extra, Buffer.from('{"energy":[1,2]}'));
  assert.deepEqual(gunzipSync(streamed), gunzipSync(encodeState(store.snapshot(), SAVED_AT, Buffer.from('{"energy":[1,2]}'))));
});

test('an empty store round-trips (capacity 1, no host)', () => {
  const { store } = decodeState(encodeState(ShmStore.create(8, T0, 10).snapshot(), SAVED_AT), MAX);
  assert.equal(store.slotsUsed(), 0);
  assert.equal(store.capacity, 1);
});

test('a truncated file is refused at every cut', () => {
  const file = encodeState(filledStore(1, 3).snapshot(), SAVED_AT);
  const accepted: number[] = [];
  for (let cut = 0; cut < file.length; cut++) {
    if (stateCode(() => decodeState(file.subarray(0, cut), MAX)) !== ERROR_CODES.STATE_FILE_INVALID) accepted.push(cut);
  }
  assert.deepEqual(accepted, [], `cuts of a ${file.length}-byte file that were not refused`);
  assert.equal(stateCode(() => decodeState(file, MAX)), 'accepted', 'the whole file passes: the loop above can tell');
});

test('a flipped bit in the compressed body is refused, or (a zero run copied from another distance) inflates to the very same bytes', () => {
  const file = encodeState(filledStore(1, 3).snapshot(), SAVED_AT);
  const original = gunzipSync(file);
  // Bytes 0-9 are the gzip header: mtime, flags and OS are not covered by any check in gzip itself.
  const GZIP_HEADER = 10;
  const TRAILER = 8; // CRC-32 and length of what the member holds
  let refused = 0;
  let harmless = 0;
  const misread: string[] = [];
  for (let at = GZIP_HEADER; at < file.length; at++) {
    for (const mask of [0x01, 0x10, 0x80, 0xff]) {
      const bad = Buffer.from(file);
      bad[at]! ^= mask;
      try {
        const { store } = decodeState(bad, MAX);
        // Accepted: only acceptable if what it holds is exactly what was saved.
        if (Buffer.from(store.buffer as ArrayBuffer).equals(original.subarray(STATE_HEADER_BYTES))) harmless++;
        else misread.push(`${at}^${mask}`);
        assert.ok(at < file.length - TRAILER, `a flip in the trailer at ${at} was accepted`);
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        assert.ok(err instanceof StateFileError, String(err));
        assert.equal(err.code, ERROR_CODES.STATE_FILE_INVALID);
        refused++;
      }
    }
  }
  assert.deepEqual(misread, [], 'flips that were read as different data');
  assert.ok(refused > harmless, `${refused} refused, ${harmless} harmless`);
});

test('format 2 carries an extra section (the energy counters) back byte for byte', () => {
  const extra = Buffer.from(JSON.stringify({ v: 1, hosts: { 'wörk': { kwh: 1.5 } } }), 'utf8');
  const decoded = decodeState(encodeState(filledStore(1, 2).snapshot(), SAVED_AT, extra), MAX);
  assert.ok(decoded.extra?.equals(extra), 'the extra section');
  assert.equal(decodeState(encodeState(filledStore(1, 2).snapshot(), SAVED_AT), MAX).extra, null, 'none written, none read');
});

test('a format 1 file (before the extra section) is still read, with no extra', () => {
  const snap = filledStore(2, 3).snapshot();
  const decoded = decodeState(rawStateFile(snap, { format: 1 }), MAX);
  assert.equal(decoded.extra, null);
  assert.equal(decoded.store.slotsUsed(), 2);
});

test('an extra section beyond maxExtraBytes is refused while inflating', () => {
  const extra = Buffer.alloc(4096, 0x20);
  const file = encodeState(filledStore(1, 2).snapshot(), SAVED_AT, extra);
  assert.equal(stateCode(() => decodeState(file, MAX, 4095)), ERROR_CODES.STATE_FILE_INVALID);
  assert.equal(stateCode(() => decodeState(file, MAX, 4096)), 'accepted');
});

interface BadFileCase {
  name: string;
  file: () => Uint8Array;
}

const validSnapshot = (): Uint8Array => filledStore(1, 2).snapshot();
function patchedSnapshot(patch: (i32: Int32Array) => void): Uint8Array {
  const snap = validSnapshot();
  patch(new Int32Array(snap.buffer, snap.byteOffset, 16));
  return snap;
}

const BAD_FILES: readonly BadFileCase[] = [
  { name: 'empty file', file: () => new Uint8Array(0) },
  { name: 'not gzip at all', file: () => Buffer.from('{"hosts":[]}') },
  { name: 'gzip of fewer bytes than the header', file: () => gzipSync(Buffer.alloc(STATE_HEADER_BYTES - 1)) },
  { name: 'wrong magic', file: () => rawStateFile(validSnapshot(), { magic: 0x43535355 }) },
  { name: 'magic of the shared-memory buffer instead of the file', file: () => rawStateFile(validSnapshot(), { magic: 0x43534e31 }) },
  { name: `another file format (${STATE_FORMAT + 1})`, file: () => rawStateFile(validSnapshot(), { format: STATE_FORMAT + 1 }) },
  { name: 'extra length says one byte more', file: () => rawStateFile(validSnapshot(), { extra: Buffer.from('{}'), extraBytes: 3 }) },
  { name: 'extra length says one byte less', file: () => rawStateFile(validSnapshot(), { extra: Buffer.from('{}'), extraBytes: 1 }) },
  { name: 'extra length negative', file: () => rawStateFile(validSnapshot(), { extraBytes: -2 }) },
  { name: 'extra length NaN', file: () => rawStateFile(validSnapshot(), { extraBytes: Number.NaN }) },
  { name: 'file format 0', file: () => rawStateFile(validSnapshot(), { format: 0 }) },
  { name: 'body length says one byte more', file: () => { const s = validSnapshot(); return rawStateFile(s, { bodyBytes: s.byteLength + 1 }); } },
  { name: 'body length says one byte less', file: () => { const s = validSnapshot(); return rawStateFile(s, { bodyBytes: s.byteLength - 1 }); } },
  { name: 'body length NaN', file: () => rawStateFile(validSnapshot(), { bodyBytes: Number.NaN }) },
  { name: 'body length -1 with no body', file: () => rawStateFile(new Uint8Array(0), { bodyBytes: -1 }) },
  { name: 'snapshot of shared-memory layout 1', file: () => encodeState(patchedSnapshot((h) => { h[HDR_LAYOUT_VERSION >> 2] = 1; }), SAVED_AT) },
  { name: `snapshot of shared-memory layout ${SHM_LAYOUT_VERSION + 1}`, file: () => encodeState(patchedSnapshot((h) => { h[HDR_LAYOUT_VERSION >> 2] = SHM_LAYOUT_VERSION + 1; }), SAVED_AT) },
  { name: 'snapshot with a bad shared-memory magic', file: () => encodeState(patchedSnapshot((h) => { h[HDR_MAGIC >> 2] = 0; }), SAVED_AT) },
  { name: 'snapshot with another slot size', file: () => encodeState(patchedSnapshot((h) => { h[HDR_SLOT_BYTES >> 2] = 8192; }), SAVED_AT) },
  { name: 'snapshot whose capacity disagrees with its length', file: () => encodeState(patchedSnapshot((h) => { h[HDR_CAPACITY >> 2] = 2; }), SAVED_AT) },
  { name: 'snapshot whose history length disagrees with its length', file: () => encodeState(patchedSnapshot((h) => { h[HDR_HISTORY_POINTS >> 2] = 11; }), SAVED_AT) },
  { name: 'snapshot of zero history points', file: () => encodeState(patchedSnapshot((h) => { h[HDR_HISTORY_POINTS >> 2] = 0; }), SAVED_AT) },
  { name: 'snapshot shorter than its own header', file: () => encodeState(new Uint8Array(16), SAVED_AT) },
  { name: 'snapshot of zero bytes', file: () => encodeState(new Uint8Array(0), SAVED_AT) },
];

for (const c of BAD_FILES) {
  test(`refused with SENTINEL_STATE_FILE_INVALID: ${c.name}`, () => {
    assert.equal(stateCode(() => decodeState(c.file(), MAX)), ERROR_CODES.STATE_FILE_INVALID);
  });
}

test('the layout-version refusal keeps the ShmError as its cause', () => {
  const file = encodeState(patchedSnapshot((h) => { h[HDR_LAYOUT_VERSION >> 2] = 1; }), SAVED_AT);
  try {
    decodeState(file, MAX);
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof StateFileError);
    assert.equal((err.cause as { code?: string } | undefined)?.code, ERROR_CODES.SHM_INCONSISTENT);
  }
});

test('a file one byte beyond maxBytes is refused; at maxBytes it is read', () => {
  const snapshot = validSnapshot();
  const file = encodeState(snapshot, SAVED_AT);
  assert.equal(stateCode(() => decodeState(file, snapshot.byteLength)), 'accepted');
  assert.equal(stateCode(() => decodeState(file, snapshot.byteLength - 1)), ERROR_CODES.STATE_FILE_INVALID);
});

/** gzip of a state header claiming `bytes` of body, then `bytes` zeros, built from one zero chunk so the bomb never exists inflated here. */
async function gzipBomb(bytes: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => { gz.once('end', resolve); gz.once('error', reject); });
  const header = Buffer.alloc(STATE_HEADER_BYTES);
  header.writeUInt32BE(STATE_MAGIC, 0);
  header.writeUInt32BE(STATE_FORMAT, 4);
  header.writeDoubleBE(bytes, 16);
  gz.write(header);
  const chunk = Buffer.alloc(1 << 20);
  for (let written = 0; written < bytes; written += chunk.length) {
    if (!gz.write(chunk)) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await done;
  return Buffer.concat(out);
}

test('a gzip bomb (256 MiB of zeros in ~250 KiB) is refused at maxBytes, quickly and without the memory', { timeout: 60_000 }, async (t) => {
  const INFLATED = 256 * 2 ** 20;
  const bomb = await gzipBomb(INFLATED);
  const limit = 4 * bufferBytes(1, 900); // a few hosts' worth: ~200 KiB
  global.gc?.();
  const rssBefore = process.memoryUsage.rss();
  const started = performance.now();
  assert.equal(stateCode(() => decodeState(bomb, limit)), ERROR_CODES.STATE_FILE_INVALID);
  const ms = performance.now() - started;
  const grewBytes = process.memoryUsage.rss() - rssBefore;
  t.diagnostic(`bomb: ${bomb.length} bytes -> ${INFLATED} inflated; refused in ${ms.toFixed(1)} ms, RSS grew ${(grewBytes / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(bomb.length < INFLATED / 500, `the bomb is a bomb: ${bomb.length} bytes`);
  // Inflating all of it takes seconds and 1 GiB; stopping at the limit takes milliseconds.
  assert.ok(ms < 500, `refused in ${ms.toFixed(1)} ms`);
  assert.ok(grewBytes < 64 * 2 ** 20, `RSS grew by ${grewBytes} bytes`);
});

test('figures: state file size and encode/decode time, 200 hosts with a full 900-second history', (t) => {
  const HOSTS = 200;
  const POINTS = 900;
  const store = ShmStore.create(HOSTS, T0, POINTS);
  const table = new HostTable(store);
  for (let h = 0; h < HOSTS; h++) {
    const owner = { id: h };
    table.claim(hello(`node-${String(h).padStart(4, '0')}.example.net`), owner, T0);
    table.recordSample(`node-${String(h).padStart(4, '0')}.example.net`, owner, parseSample({
      type: 'sample', seq: 1, ts: T0, cpu_pct: 12.5, cpu_cores_pct: Array.from({ length: 16 }, (_, k) => k * 6.25),
      fs: [{ mount: '/', type: 'ext4', size_bytes: 1e12, used_bytes: 4e11, free_bytes: 6e11 }], net: [{ name: 'eth0', rx_bps: 1e6, tx_bps: 2e5 }],
      procs_top: Array.from({ length: 8 }, (_, k) => ({ name: `proc-${k}`, pid: 1000 + k, cpu_pct: 80 - k * 10 })),
    }), T0);
    // Realistic, noisy values: constant ones would compress to nothing and flatter the figure.
    let x = h + 1;
    for (let s = 0; s < POINTS; s++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      store.writeHistory(h, T0 - (POINTS - s) * 1000, HISTORY_SERIES.map((_, k) => ((x >> k) % 1000) / 10));
    }
  }
  const snapshot = store.snapshot();
  let started = performance.now();
  const file = encodeState(snapshot, SAVED_AT);
  const encodeMs = performance.now() - started;
  started = performance.now();
  const back = decodeState(file, bufferBytes(MAX_CAPACITY, POINTS)).store;
  const decodeMs = performance.now() - started;
  t.diagnostic(`${HOSTS} hosts x ${POINTS} points: snapshot ${(snapshot.byteLength / 2 ** 20).toFixed(2)} MiB, file ${(file.length / 2 ** 20).toFixed(2)} MiB, encode ${encodeMs.toFixed(0)} ms, decode ${decodeMs.toFixed(0)} ms`);
  assert.equal(back.slotsUsed(), HOSTS);
  assert.deepEqual(back.readHistory(HOSTS - 1, 0, Number.POSITIVE_INFINITY), store.readHistory(HOSTS - 1, 0, Number.POSITIVE_INFINITY));
  assert.ok(file.length < snapshot.byteLength / 2, 'the empty table space compresses away');
});

/**
 * test/fixtures/state/v2_two_hosts.state was saved by this code at shared-memory layout 2 (each
 * table one block), before the tables moved (layout 3: headers together, heads, tails): two hosts,
 * the first with every row of every table, the second with three rows of each, and 30 s of
 * history. v2_two_hosts.expected.json is what that code read back from it.
 */
test('a state file of layout 2 restores into a layout-3 store: every number, string, table row and history point', async () => {
  const { readFileSync } = await import('node:fs');
  const file = readFileSync(new URL('../fixtures/state/v2_two_hosts.state', import.meta.url));
  const expected = JSON.parse(readFileSync(new URL('../fixtures/state/v2_two_hosts.expected.json', import.meta.url), 'utf8')) as {
    slots: Array<{ numbers: Record<string, number | null>; strings: string[]; tables: unknown; flags: number }>;
    history: Array<{ t: number[]; values: number[][] }>;
  };
  const { store: saved } = decodeState(file, MAX);
  assert.equal(saved.layoutVersion, 2);
  assert.throws(() => saved.write(0, { flags: 1 }), /read only/, 'an older layout is never written');
  const store = ShmStore.create(4, SAVED_AT, 60);
  assert.deepEqual(store.restoreFrom(saved), { restored: 2, dropped: 0 });
  for (let i = 0; i < 2; i++) {
    const slot = store.readSlot(i, true)!;
    const want = expected.slots[i]!;
    assert.deepEqual(slot.tables, want.tables, `slot ${i} tables`);
    assert.deepEqual(slot.strings, want.strings, `slot ${i} strings`);
    // JSON kept NaN as null.
    assert.deepEqual([...slot.numbers].map((v) => (Number.isNaN(v) ? null : v)), Object.values(want.numbers), `slot ${i} numbers`);
    const history = store.readHistory(i, 0, Number.MAX_SAFE_INTEGER)!;
    assert.deepEqual(history.t, expected.history[i]!.t);
    assert.deepEqual(history.values.map((col) => col.map((v) => (Number.isNaN(v) ? null : v))), expected.history[i]!.values, `slot ${i} history`);
  }
  // And it reads as a layout-3 store does: the restored rows sit where TABLE_LAYOUT says.
  assert.equal(store.layoutVersion, SHM_LAYOUT_VERSION);
});
