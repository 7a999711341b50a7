/**
 * Two writer threads on one slot (the collector's main thread and an ingest worker may both write
 * a host): the seq lock's writers take it by compareExchange, so a reader never keeps a copy
 * mixing two writes. Real worker threads writing through ShmStore, the main thread reading.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { HISTORY_SERIES, SLOT_NUMBER_FIELDS } from '../../shared/shm_layout.ts';
import { ShmStore } from '../../shared/shm_store.ts';

test('two threads writing one slot and one history bucket: every copy a reader keeps is one write whole', async () => {
  const store = ShmStore.create(2, 0, 60);
  assert.equal(store.allocateSlot(), 0);
  const stop = new SharedArrayBuffer(4);
  const writers = [1, -1].map((sign) => new Worker(new URL('../fixtures/workers/slot_writer.mjs', import.meta.url), { workerData: { buffer: store.buffer, stop, sign } }));
  try {
    await Promise.all(writers.map((w) => new Promise((resolve) => w.once('message', resolve))));
    let copies = 0;
    let mixed = 0;
    const both = new Set<number>();
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      const slot = store.readSlot(0);
      if (slot) {
        copies++;
        const first = slot.numbers[0]!;
        both.add(Math.sign(first));
        for (let f = 1; f < SLOT_NUMBER_FIELDS; f++) if (slot.numbers[f] !== first) { mixed++; break; }
      }
      const h = store.readHistory(0, 0, 10_000);
      if (h && h.t.length === 1) {
        const first = h.values[0]![0]!;
        for (let s = 1; s < HISTORY_SERIES.length; s++) if (Math.fround(first) !== h.values[s]![0]) { mixed++; break; }
      }
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const writes = await Promise.all(writers.map((w) => new Promise<number>((resolve) => w.once('message', resolve))));
    assert.ok(writes.every((n) => n > 1000), `writes: ${writes.join(', ')}`);
    assert.ok(copies > 100, `only ${copies} copies`);
    assert.deepEqual([...both].sort(), [-1, 1], 'the reader saw one writer only');
    assert.equal(mixed, 0, `${mixed} of ${copies} copies mixed two writes`);
  } finally {
    await Promise.all(writers.map((w) => w.terminate()));
  }
});
