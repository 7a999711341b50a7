import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ShmError } from '../../shared/errors.ts';
import { bufferBytes, DEFAULT_HISTORY_POINTS, HDR_LAYOUT_VERSION, HDR_MAGIC, NUM, SLOT_BYTES, SLOT_FLAG_CONNECTED, SLOT_FLAG_USED, SLOT_STRING_LENGTHS, slotOffset, STR, STRING_CAPACITY } from '../../shared/shm_layout.ts';
import { decodeSlot, MAX_CAPACITY, ShmStore } from '../../shared/shm_store.ts';

test('create writes a header that attach accepts', () => {
  const s = ShmStore.create(8, 1234);
  assert.equal(s.buffer.byteLength, bufferBytes(8, DEFAULT_HISTORY_POINTS));
  const again = new ShmStore(s.buffer);
  assert.equal(again.capacity, 8);
  assert.equal(again.createdAtMs, 1234);
  assert.equal(again.slotsUsed(), 0);
});

test('attach refuses buffers that are not this layout', () => {
  const cases: Array<[string, (b: SharedArrayBuffer) => SharedArrayBuffer]> = [
    ['bad magic', (b) => { new Int32Array(b)[HDR_MAGIC >> 2] = 0; return b; }],
    ['other layout version', (b) => { new Int32Array(b)[HDR_LAYOUT_VERSION >> 2] = 99; return b; }],
    ['too short for its capacity', (b) => { const c = new SharedArrayBuffer(b.byteLength - 8); new Uint8Array(c).set(new Uint8Array(b).subarray(0, c.byteLength)); return c; }],
    ['smaller than a header', () => new SharedArrayBuffer(8)],
  ];
  for (const [name, spoil] of cases) {
    assert.throws(() => new ShmStore(spoil(ShmStore.create(2).buffer as SharedArrayBuffer)), (e: unknown) => e instanceof ShmError && e.code === 'SENTINEL_SHM_INCONSISTENT', name);
  }
});

test('capacity outside 1..MAX_CAPACITY is a RangeError', () => {
  for (const c of [0, -1, 1.5, MAX_CAPACITY + 1]) assert.throws(() => ShmStore.create(c), RangeError);
});

test('slots are handed out in order until the store is full', () => {
  const s = ShmStore.create(3);
  assert.deepEqual([s.allocateSlot(), s.allocateSlot(), s.allocateSlot(), s.allocateSlot()], [0, 1, 2, -1]);
  assert.equal(s.slotsUsed(), 3);
  const slot = s.readSlot(1)!;
  assert.equal(slot.flags, SLOT_FLAG_USED);
  assert.ok(Number.isNaN(slot.numbers[NUM.CPU_PCT]!), 'a fresh slot has no readings');
  assert.equal(slot.strings[STR.HOST], '');
});

test('a write is read back whole; a partial write leaves other fields alone', () => {
  const s = ShmStore.create(2);
  const i = s.allocateSlot();
  s.write(i, { flags: SLOT_FLAG_USED | SLOT_FLAG_CONNECTED, numbers: [[NUM.CPU_PCT, 42.5], [NUM.MEM_TOTAL_BYTES, 2 ** 40]], strings: [[STR.HOST, 'web-1'], [STR.OS, 'Debian']] });
  s.write(i, { numbers: [[NUM.CPU_PCT, 7]] });
  const r = s.readSlot(i)!;
  assert.equal(r.flags, SLOT_FLAG_USED | SLOT_FLAG_CONNECTED);
  assert.equal(r.numbers[NUM.CPU_PCT], 7);
  assert.equal(r.numbers[NUM.MEM_TOTAL_BYTES], 2 ** 40);
  assert.equal(r.strings[STR.HOST], 'web-1');
  assert.equal(r.strings[STR.OS], 'Debian');
  assert.equal(r.lockSeq % 2, 0);
  assert.ok(r.lockSeq >= 6, 'three writes advanced the sequence by two each');
});

test('a string longer than its field is cut at a character boundary', () => {
  const s = ShmStore.create(1);
  s.allocateSlot();
  const cap = STRING_CAPACITY[STR.NOTE]!;
  s.write(0, { strings: [[STR.NOTE, 'é'.repeat(cap)]] }); // 2 bytes each: cannot all fit
  const note = s.readSlot(0)!.strings[STR.NOTE]!;
  assert.equal(note, 'é'.repeat(Math.floor(cap / 2)));
});

test('decodeSlot clamps a corrupt string length to its field', () => {
  const s = ShmStore.create(1);
  s.allocateSlot();
  s.write(0, { strings: [[STR.HOST, 'abc']] });
  const copy = new Uint8Array(SLOT_BYTES);
  s.copySlot(0, copy);
  new Int32Array(copy.buffer)[(SLOT_STRING_LENGTHS >> 2) + STR.HOST] = 1 << 30;
  assert.equal(decodeSlot(copy, 0, 0).strings[STR.HOST]!.length <= STRING_CAPACITY[STR.HOST]!, true);
});

test('readSlot gives up (null) on a slot whose lock stays odd, and snapshot marks it', () => {
  const s = ShmStore.create(2);
  s.allocateSlot();
  s.allocateSlot();
  const i32 = new Int32Array(s.buffer);
  i32[slotOffset(1) >> 2] = 5; // a writer that died mid-write
  assert.equal(s.readSlot(1), null);
  assert.notEqual(s.readSlot(0), null);
  assert.equal(s.readAll().length, 1);
  const snap = s.snapshot();
  assert.equal(new Int32Array(snap.buffer, slotOffset(1), 1)[0]! % 2, 1);
});

test('snapshotStream: chunks of at most the size asked, whose bytes are snapshot()\'s; the slots in use fixed at the call', () => {
  const s = ShmStore.create(40, 1_700_000_000_000, 30);
  const fill = (i: number, cpu: number): void => {
    s.write(i, { flags: SLOT_FLAG_USED, numbers: [[NUM.CPU_PCT, cpu]], strings: [[STR.HOST, `h${i}`]] });
    s.writeHistory(i, 1_700_000_000_000 + cpu * 1000, [cpu]);
  };
  for (let i = 0; i < 23; i++) fill(s.allocateSlot(), i);
  const whole = s.snapshot();
  for (const max of [1, SLOT_BYTES, 3 * SLOT_BYTES + 5, 1 << 20]) {
    const stream = s.snapshotStream();
    assert.equal(stream.hosts, 23);
    assert.equal(stream.byteLength, bufferBytes(23, 30));
    const chunks = [...stream.chunks(max)];
    for (const c of chunks.slice(1)) assert.ok(c.length <= Math.max(max, SLOT_BYTES), `chunk of ${c.length} bytes with ${max} asked`);
    assert.deepEqual(Buffer.concat(chunks), Buffer.from(whole));
  }
  // Pulled a chunk at a time while the writer goes on: each slot holds what it held at the call
  // or newer, a slot allocated after the call is not in it, and the result is a valid store.
  const stream = s.snapshotStream();
  const parts: Uint8Array[] = [];
  let round = 0;
  for (const c of stream.chunks(4 * SLOT_BYTES)) {
    parts.push(c);
    for (let i = 0; i < 23; i++) s.write(i, { numbers: [[NUM.CPU_PCT, 100 + round]] });
    if (round === 0) fill(s.allocateSlot(), 99);
    round++;
  }
  const copy = new Uint8Array(new ArrayBuffer(stream.byteLength));
  copy.set(Buffer.concat(parts));
  const back = new ShmStore(copy.buffer);
  assert.equal(back.slotsUsed(), 23);
  const cpu = back.readAll().map((slot) => slot.numbers[NUM.CPU_PCT]!);
  assert.equal(cpu.length, 23);
  assert.ok(cpu.every((v) => v >= 100), 'every slot copied after the first pull holds a newer write');
  assert.ok(new Set(cpu).size > 1, 'the slots were copied at different moments');
  // An empty store streams the same bytes as its snapshot: one zeroed slot and ring.
  const empty = ShmStore.create(5, 1_700_000_000_000, 30);
  assert.deepEqual(Buffer.concat([...empty.snapshotStream().chunks(SLOT_BYTES)]), Buffer.from(empty.snapshot()));
  assert.equal(empty.snapshot().length, bufferBytes(1, 30));
});

test('readSlotPart copies the head and the tables named only; readNumbers reads fields in place', () => {
  const s = ShmStore.create(2);
  const i = s.allocateSlot();
  s.write(i, {
    flags: SLOT_FLAG_USED, numbers: [[NUM.CPU_PCT, 12.5], [NUM.SAMPLE_TS_MS, 1_700_000_000_123]], strings: [[STR.HOST, 'db-1']],
    tables: { fs: [{ mount: '/', fs_type: 'ext4', size_bytes: 100, used_bytes: 40, used_pct: 40 }], net: [{ iface: 'eth0', rx_bps: 1, tx_bps: 2 }] },
  });
  // A full read first, so the scratch holds every table: a part read must not show stale ones.
  assert.equal(s.readSlot(i, true)!.tables!.net.rows.length, 1);
  const part = s.readSlotPart(i, ['fs'])!;
  assert.equal(part.strings[STR.HOST], 'db-1');
  assert.equal(part.numbers[NUM.CPU_PCT], 12.5);
  assert.equal((part.tables!.fs.rows[0] as Record<string, unknown>)['mount'], '/');
  assert.equal(part.tables!.net.rows.length, 0, 'a table not asked for reads as empty');
  assert.equal(s.readSlotPart(i)!.tables, undefined);
  const out = new Float64Array(2);
  const seq = s.readNumbers(i, [NUM.SAMPLE_TS_MS, NUM.CPU_PCT], out);
  assert.equal(seq, s.slotSeq(i));
  assert.equal(seq % 2, 0);
  assert.deepEqual([...out], [1_700_000_000_123, 12.5]);
  new Int32Array(s.buffer)[slotOffset(i) >> 2] = seq + 1; // a writer that died mid-write
  assert.equal(s.readNumbers(i, [NUM.CPU_PCT], out), -1);
  assert.equal(s.readSlotPart(i, ['fs']), null);
});

test('slot indexes outside the store are a RangeError', () => {
  const s = ShmStore.create(2);
  for (const i of [-1, 2, 0.5]) assert.throws(() => s.write(i, {}), RangeError);
});

function runWorker(job: Record<string, unknown>): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('../helpers/worker_boot.mjs', import.meta.url), {
      workerData: { ...job, module: new URL('./shm_hammer_worker.ts', import.meta.url).href },
    });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`worker exited ${code}`)); });
  });
}

async function hammer(guarded: boolean, durationMs: number): Promise<{ writes: number; reads: number; torn: number; busy: number }> {
  const SLOTS = 4;
  const store = ShmStore.create(SLOTS);
  for (let i = 0; i < SLOTS; i++) store.allocateSlot();
  const common = { buffer: store.buffer, slots: SLOTS, durationMs };
  const [w, r] = await Promise.all([
    runWorker({ ...common, role: 'writer', guarded }),
    runWorker({ ...common, role: 'reader', guarded, stopOnTorn: !guarded }),
  ]);
  return { writes: w['writes']!, reads: r['reads']!, torn: r['torn']!, busy: r['busy']! };
}

test('one writer thread and one reader thread: zero torn reads through the store', async (t) => {
  const r = await hammer(true, 2000);
  t.diagnostic(`guarded: ${r.writes} writes, ${r.reads} reads, ${r.busy} busy retries exhausted, ${r.torn} torn`);
  assert.ok(r.writes > 10_000, `writer made progress (${r.writes} writes)`);
  assert.ok(r.reads > 10_000, `reader made progress (${r.reads} reads, ${r.busy} busy)`);
  assert.equal(r.torn, 0, `torn reads: ${r.torn} of ${r.reads}`);
});

test('the torn-read check can fail: unguarded reads of the same slots are caught torn', async (t) => {
  const r = await hammer(false, 3000);
  t.diagnostic(`unguarded: ${r.reads} reads before stopping, ${r.torn} torn`);
  assert.ok(r.torn > 0, `expected torn unguarded reads, got 0 of ${r.reads} (writer: ${r.writes})`);
});
