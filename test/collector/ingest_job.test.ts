/**
 * One batch as an ingest worker places it (collector/ingest_job.ts), run here on a real store:
 * where it stops, what it reports, and that it writes what the main thread's HostTable writes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packFrames, runIngestJob, unpackFrames, type IngestJob } from '../../collector/ingest_job.ts';
import { HostTable } from '../../collector/hosts.ts';
import { encodeFrame, type Message } from '../../shared/frame_codec.ts';
import { DEFAULT_GUARD_LIMITS } from '../../shared/msgpack_guard.ts';
import { parseSample, PROTO_VERSION } from '../../shared/protocol.ts';
import { NUM, ringBytes, SLOT_BYTES } from '../../shared/shm_layout.ts';
import { ShmStore } from '../../shared/shm_store.ts';

const NOW = 1_800_000_000_000;
const body = (m: Message): Uint8Array => encodeFrame(m).subarray(4);
const sample = (seq: number, ts: number, extra: Message = {}): Message => ({ type: 'sample', seq, ts, cpu_pct: seq, power_w: seq * 2, mem_total_bytes: 100, mem_used_bytes: 40, ...extra });

function job(frames: Uint8Array, over: Partial<IngestJob> = {}): IngestJob {
  return { frames, slot: 0, clockOffsetMs: 0, newestMs: Number.NEGATIVE_INFINITY, samples: 0, lastSeq: 0, nowMs: NOW, limits: DEFAULT_GUARD_LIMITS, ...over };
}

test('packFrames and unpackFrames: length-prefixed bodies, read back from any frame\'s offset', () => {
  const bodies = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(300).fill(7)];
  const packed = packFrames(bodies);
  assert.equal(packed.length, 3 * 4 + 303);
  assert.deepEqual(unpackFrames(packed, 0).map((b) => [...b]), bodies.map((b) => [...b]));
  assert.deepEqual(unpackFrames(packed, 7).map((b) => b.length), [0, 300]);
  assert.deepEqual(unpackFrames(packed.subarray(0, packed.length - 1), 0).map((b) => b.length), [3, 0]); // a cut frame is not a frame
});

test('a batch stops at the first frame that is not a usual sample, and at a seq that does not rise; the rest is left, by offset', () => {
  const store = ShmStore.create(1, NOW, 120);
  store.allocateSlot();
  const bodies = [
    body(sample(1, NOW - 5000)), body(sample(2, NOW - 4000)),
    body(sample(3, NOW - 9000)), // older than the latest: history only
    body({ type: 'facts', os: 'X' }), body(sample(4, NOW - 1000)),
  ];
  const frames = packFrames(bodies);
  const r = runIngestJob(store, job(frames));
  assert.equal(r.handled, 3);
  assert.equal(r.lastSeq, 3);
  assert.equal(r.stored, 2);
  assert.equal(r.history, true);
  assert.equal(r.newestMs, NOW - 4000);
  assert.deepEqual([...r.placed], [NOW - 5000, 2, NOW - 4000, 4, NOW - 9000, 6]);
  assert.equal(r.latest?.seq, 2);
  assert.deepEqual(unpackFrames(r.frames, r.offset).map((b) => [...b]), bodies.slice(3).map((b) => [...b]));
  // A seq at or below the connection's last stops the batch before it: nothing written for it.
  const again = runIngestJob(store, job(packFrames([body(sample(7, NOW)), body(sample(7, NOW + 1))]), { lastSeq: 6, newestMs: r.newestMs, samples: 2 }));
  assert.equal(again.handled, 1);
  assert.equal(again.lastSeq, 7);
  assert.equal(store.readSlot(0)!.numbers[NUM.SAMPLES_TOTAL], 3); // 2 + 1
  assert.equal(runIngestJob(store, job(new Uint8Array(0))).handled, 0);
});

test('a batch writes the slot and the history exactly as HostTable.recordSample does', () => {
  const samples: Message[] = [
    sample(1, NOW - 3000, { missing: { temp_cpu_c: 'no sensor' }, fs: [{ mount: '/', size_bytes: 10, used_bytes: 4, free_bytes: 6 }] }),
    sample(2, NOW - 2000, { cpu_cores_pct: [1, 2, 3, 4] }),
    sample(3, NOW - 7000), // older: history only
    sample(4, NOW + 10 * 60_000), // far ahead: the latest, capped, kept out of the history
    sample(5, NOW - 1000),
  ];
  const inline = ShmStore.create(1, NOW, 120);
  const hosts = new HostTable(inline);
  const owner = { id: 1 };
  assert.equal(hosts.claim({ type: 'hello', proto: PROTO_VERSION, host: 'h', agent: 't', token: 'x', interval_ms: 1000 }, owner, NOW, NOW).ok, true);
  // As the server handles a read: the slot written once, with the newest (HostTable.beginRead).
  hosts.beginRead();
  for (const m of samples) hosts.recordSample('h', owner, parseSample(m), NOW);
  hosts.endRead();
  const pooled = ShmStore.create(1, NOW, 120);
  new HostTable(pooled).claim({ type: 'hello', proto: PROTO_VERSION, host: 'h', agent: 't', token: 'x', interval_ms: 1000 }, owner, NOW, NOW);
  const r = runIngestJob(pooled, job(packFrames(samples.map(body))));
  assert.equal(r.handled, samples.length);
  const a = new Uint8Array(SLOT_BYTES);
  const b = new Uint8Array(SLOT_BYTES);
  inline.copySlot(0, a);
  pooled.copySlot(0, b);
  assert.deepEqual(b, a);
  const ra = new Uint8Array(ringBytes(120));
  const rb = new Uint8Array(ringBytes(120));
  inline.copyRing(0, ra);
  pooled.copyRing(0, rb);
  assert.deepEqual(rb, ra);
});
