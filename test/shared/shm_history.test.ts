/**
 * The per-host history rings of shared/shm_store.ts: one-second buckets, wrap-around, late and
 * replayed samples, windows, clearing, re-bucketing on restore, and a real reader thread that
 * never sees a bucket half written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { HISTORY_SERIES, HISTORY_STEP_MS } from '../../shared/shm_layout.ts';
import { ShmStore, type HistoryData } from '../../shared/shm_store.ts';

const T0 = 1_750_000_000_000; // a whole second
const ALL = Number.POSITIVE_INFINITY;
const S = HISTORY_SERIES.length;

function store(points: number, slots = 1): ShmStore {
  const s = ShmStore.create(slots, T0, points);
  for (let i = 0; i < slots; i++) s.allocateSlot();
  return s;
}

/** The values written for second `k`: series s holds k + s / 10 (not exact in float32). */
function valuesAt(k: number): number[] {
  return HISTORY_SERIES.map((_, s) => k + s / 10);
}

function secondsOf(h: HistoryData): number[] {
  return h.t.map((t) => (t - T0) / HISTORY_STEP_MS);
}

function write(s: ShmStore, k: number, slot = 0, offsetMs = 0): boolean {
  return s.writeHistory(slot, T0 + k * 1000 + offsetMs, valuesAt(k));
}

test('points written at t, t+1 s ... read back oldest first, values as float32', () => {
  const s = store(900);
  for (let k = 0; k < 30; k++) assert.equal(write(s, k), true);
  const h = s.readHistory(0, 0, ALL)!;
  assert.deepEqual(secondsOf(h), Array.from({ length: 30 }, (_, k) => k));
  assert.equal(h.values.length, S);
  for (let series = 0; series < S; series++) {
    assert.deepEqual(h.values[series], Array.from({ length: 30 }, (_, k) => Math.fround(k + series / 10)), HISTORY_SERIES[series]);
  }
  // float32: 7 significant digits survive, not more.
  s.writeHistory(0, T0 + 40_000, [1234.5678, 0.1, 123_456_789]);
  const last = s.readHistory(0, T0 + 40_000, T0 + 40_000)!;
  assert.equal(Number(last.values[0]![0]!.toPrecision(7)), 1234.568);
  assert.equal(Number(last.values[1]![0]!.toPrecision(7)), 0.1);
  assert.equal(last.values[2]![0], Math.fround(123_456_789), 'float32 rounds above 2^24');
  assert.notEqual(last.values[2]![0], 123_456_789);
});

test('a value left out, or NaN, reads back as NaN', () => {
  const s = store(10);
  s.writeHistory(0, T0, [5, Number.NaN]);
  const h = s.readHistory(0, 0, ALL)!;
  assert.equal(h.values[0]![0], 5);
  for (let series = 1; series < S; series++) assert.ok(Number.isNaN(h.values[series]![0]), HISTORY_SERIES[series]);
});

test('wrap-around: a ring of 10 after 25 seconds holds the last 10, in order', () => {
  const s = store(10);
  for (let k = 0; k < 25; k++) assert.equal(write(s, k), true);
  const h = s.readHistory(0, 0, ALL)!;
  assert.deepEqual(secondsOf(h), [15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
  assert.deepEqual(h.values[0], [15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
});

interface RingCase {
  name: string;
  points: number;
  /** Seconds after T0 (with an ms offset) written in this order, and whether each is stored. */
  writes: ReadonlyArray<readonly [second: number, offsetMs: number, stored: boolean]>;
  /** What the ring then holds: [second, offsetMs, value's second]. */
  holds: ReadonlyArray<readonly [number, number, number]>;
}

const RING_CASES: readonly RingCase[] = [
  {
    name: 'a late sample (an older second, still in the ring) takes its own bucket, in order',
    points: 10, writes: [[0, 0, true], [1, 0, true], [2, 0, true], [4, 0, true], [5, 0, true], [3, 0, true]],
    holds: [[0, 0, 0], [1, 0, 1], [2, 0, 2], [3, 0, 3], [4, 0, 4], [5, 0, 5]],
  },
  {
    name: 'a sample older than what its wrapped bucket holds is refused and overwrites nothing',
    points: 10, writes: [...Array.from({ length: 20 }, (_, k) => [k, 0, true] as const), [5, 0, false], [9, 999, false]],
    holds: Array.from({ length: 10 }, (_, k) => [k + 10, 0, k + 10] as const),
  },
  {
    name: 'the same sample twice gives one point',
    points: 10, writes: [[0, 0, true], [1, 250, true], [1, 250, true], [2, 0, true]],
    holds: [[0, 0, 0], [1, 250, 1], [2, 0, 2]],
  },
  {
    name: 'two samples in one second: the later one is kept, whichever comes first',
    points: 10, writes: [[1, 200, true], [1, 700, true], [1, 300, false], [2, 900, true], [2, 100, false]],
    holds: [[1, 700, 1], [2, 900, 2]],
  },
  {
    name: 'a newer second replaces the wrapped bucket it lands on',
    points: 4, writes: [[0, 0, true], [4, 0, true], [8, 500, true]],
    holds: [[8, 500, 8]],
  },
  {
    name: 'a ring of one bucket keeps the newest second',
    points: 1, writes: [[0, 0, true], [3, 0, true], [2, 0, false], [3, 400, true]],
    holds: [[3, 400, 3]],
  },
];

test('late, replayed and wrapped samples', async (t) => {
  for (const c of RING_CASES) {
    await t.test(c.name, () => {
      const s = store(c.points);
      c.writes.forEach(([k, off, stored], i) => assert.equal(write(s, k, 0, off), stored, `write #${i} (second ${k} +${off} ms)`));
      const h = s.readHistory(0, 0, ALL)!;
      assert.deepEqual(h.t, c.holds.map(([k, off]) => T0 + k * 1000 + off));
      assert.deepEqual(h.values[0], c.holds.map(([, , v]) => v));
    });
  }
});

test('times that cannot be placed are refused: NaN, Infinity, negative', () => {
  const s = store(10);
  for (const t of [Number.NaN, ALL, -ALL, -1, -1000]) assert.equal(s.writeHistory(0, t, valuesAt(1)), false, String(t));
  assert.deepEqual(s.readHistory(0, -ALL, ALL), { t: [], values: HISTORY_SERIES.map(() => []) });
});

interface WindowCase { name: string; from: number; to: number; seconds: number[] }
const WINDOW_CASES: readonly WindowCase[] = [
  { name: 'everything', from: 0, to: ALL, seconds: [0, 1, 2, 3, 4, 5] },
  { name: 'both ends inclusive', from: T0 + 1000, to: T0 + 3000, seconds: [1, 2, 3] },
  { name: 'one ms inside each end', from: T0 + 1001, to: T0 + 2999, seconds: [2] },
  { name: 'a single point', from: T0 + 4000, to: T0 + 4000, seconds: [4] },
  { name: 'from after to', from: T0 + 4000, to: T0 + 1000, seconds: [] },
  { name: 'entirely before', from: 0, to: T0 - 1, seconds: [] },
  { name: 'entirely after', from: T0 + 5001, to: ALL, seconds: [] },
];

test('readHistory returns exactly the points inside its window', async (t) => {
  const s = store(10);
  for (let k = 0; k < 6; k++) write(s, k);
  for (const c of WINDOW_CASES) {
    await t.test(c.name, () => {
      const h = s.readHistory(0, c.from, c.to)!;
      assert.deepEqual(secondsOf(h), c.seconds);
      for (const col of h.values) assert.equal(col.length, c.seconds.length);
      assert.deepEqual(h.values[0], c.seconds);
    });
  }
});

test('clearHistory empties one ring; the others keep theirs; the ring takes new points', () => {
  const s = store(10, 3);
  for (let k = 0; k < 5; k++) for (let slot = 0; slot < 3; slot++) write(s, k, slot);
  s.clearHistory(1);
  assert.deepEqual(s.readHistory(1, 0, ALL)!.t, []);
  assert.equal(s.readHistory(0, 0, ALL)!.t.length, 5);
  assert.equal(s.readHistory(2, 0, ALL)!.t.length, 5);
  // An older second than was held before the clear is accepted now: nothing newer is held.
  assert.equal(write(s, 2, 1), true);
  assert.deepEqual(secondsOf(s.readHistory(1, 0, ALL)!), [2]);
});

test('a new slot starts with an empty ring', () => {
  const s = ShmStore.create(2, T0, 10);
  s.allocateSlot();
  write(s, 1, 0);
  assert.equal(s.allocateSlot(), 1);
  assert.deepEqual(s.readHistory(1, 0, ALL)!.t, []);
});

interface RebucketCase { name: string; from: number; to: number; written: number[]; kept: number[] }
const REBUCKET_CASES: readonly RebucketCase[] = [
  { name: '10 -> 4: the newest 4', from: 10, to: 4, written: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], kept: [6, 7, 8, 9] },
  { name: '10 -> 60: all, at the same times', from: 10, to: 60, written: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], kept: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] },
  // As in a live ring: 0 -> bucket 0; 2, 5, 8 -> bucket 2 (8 wins); 7 -> bucket 1. Second 0 stays: nothing newer took its bucket.
  { name: 'with gaps, 10 -> 3: each second to bucket (second mod 3), the newer one winning', from: 10, to: 3, written: [0, 2, 5, 7, 8], kept: [0, 7, 8] },
  { name: 'wrapped source 5 (after 12 s) -> 7', from: 5, to: 7, written: Array.from({ length: 12 }, (_, k) => k), kept: [7, 8, 9, 10, 11] },
];

test('restoreFrom re-buckets each ring into a ring of another length', async (t) => {
  for (const c of REBUCKET_CASES) {
    await t.test(c.name, () => {
      const src = store(c.from, 2);
      for (const k of c.written) { write(src, k, 0); write(src, k + 100, 1); }
      const dst = ShmStore.create(2, T0, c.to);
      assert.deepEqual(dst.restoreFrom(src), { restored: 2, dropped: 0 });
      const h = dst.readHistory(0, 0, ALL)!;
      assert.deepEqual(secondsOf(h), c.kept);
      for (let series = 0; series < S; series++) assert.deepEqual(h.values[series], c.kept.map((k) => Math.fround(k + series / 10)));
      assert.deepEqual(secondsOf(dst.readHistory(1, 0, ALL)!), c.kept.map((k) => k + 100), 'slot 1 keeps its own ring');
    });
  }
});

test('restoreFrom needs an empty store', () => {
  const src = store(10);
  const dst = store(10);
  assert.throws(() => dst.restoreFrom(src), /empty store/);
});

interface HammerResult { reads: number; torn: number; busy: number; points: number; writes: number }

/**
 * A reader thread reads every ring while this thread writes them for `durationMs`: each write
 * sets every series to floor(t / 1000) mod 1e6, so a bucket mixing two writes shows.
 */
async function hammer(guarded: boolean, durationMs: number): Promise<HammerResult> {
  const SLOTS = 8;
  const s = store(16, SLOTS);
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(new URL('../helpers/worker_boot.mjs', import.meta.url), {
    workerData: {
      module: new URL('../fixtures/state/history_hammer_worker.ts', import.meta.url).href,
      buffer: s.buffer, stop, guarded, slots: SLOTS, maxMs: durationMs + 10_000, stopOnTorn: !guarded,
    },
  });
  const messages: Array<Record<string, number | boolean>> = [];
  let notify: () => void = () => undefined;
  worker.on('message', (m: Record<string, number | boolean>) => { messages.push(m); notify(); });
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => { if (code !== 0) reject(new Error(`reader exited ${code}`)); });
  });
  const next = (): Promise<Record<string, number | boolean>> => Promise.race([
    new Promise<Record<string, number | boolean>>((resolve) => {
      const take = (): void => { const m = messages.shift(); if (m) resolve(m); else notify = take; };
      take();
    }),
    failed,
  ]);
  await next(); // ready: the reader's module is loaded and reading
  let writes = 0;
  let second = Math.floor(T0 / 1000);
  const values = new Array<number>(S);
  const deadline = Date.now() + durationMs;
  while (Date.now() < deadline) {
    for (let round = 0; round < 1000; round++) {
      second++;
      values.fill(second % 1e6);
      for (let i = 0; i < SLOTS; i++) s.writeHistory(i, second * 1000, values);
      writes += SLOTS;
    }
  }
  Atomics.store(new Int32Array(stop), 0, 1);
  const r = await next();
  await worker.terminate();
  return { reads: Number(r['reads']), torn: Number(r['torn']), busy: Number(r['busy']), points: Number(r['points']), writes };
}

test('a reader thread never sees a torn bucket while the writer writes (2 s)', { timeout: 30_000 }, async (t) => {
  const r = await hammer(true, 2000);
  t.diagnostic(`guarded: ${r.writes} writes, ${r.reads} ring reads (${r.points} points), ${r.busy} reads gave up busy, ${r.torn} torn`);
  assert.ok(r.writes > 100_000, `the writer made progress (${r.writes})`);
  assert.ok(r.reads > 1000, `the reader made progress (${r.reads} reads, ${r.busy} busy)`);
  assert.ok(r.points > r.reads, 'reads saw points');
  assert.equal(r.torn, 0, `torn buckets: ${r.torn}`);
});

test('the torn-bucket check can fail: unguarded copies of the same rings are caught torn', { timeout: 30_000 }, async (t) => {
  const r = await hammer(false, 3000);
  t.diagnostic(`unguarded: ${r.reads} ring reads before stopping, ${r.torn} torn`);
  assert.ok(r.torn > 0, `expected torn unguarded reads, got 0 of ${r.reads} (writer: ${r.writes})`);
});
