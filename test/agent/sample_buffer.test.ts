/** The agent's sample buffer, bytes alone: order, seq per connection, acks, rewinds, bounds. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBody, FRAME_HEADER_BYTES } from '../../shared/frame_codec.ts';
import { SampleBuffer, sampleFrame, samplesFor } from '../../agent/sample_buffer.ts';
import { seededRandom } from '../helpers/hex.ts';

const body = (ts: number): Record<string, unknown> => ({ ts, cpu_pct: ts % 100 });

function fill(b: SampleBuffer, from: number, to: number): void {
  for (let ts = from; ts < to; ts++) b.push(ts, body(ts));
}

function takeAll(b: SampleBuffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let f = b.takeNext(); f; f = b.takeNext()) out.push([f.seq, f.sample.ts]);
  return out;
}

test('samplesFor: ten minutes at 1 s is 600 samples; at 250 ms, 2400; 0 s, none', () => {
  assert.equal(samplesFor(600, 1000), 600);
  assert.equal(samplesFor(600, 250), 2400);
  assert.equal(samplesFor(0, 1000), 0);
});

test('oldest first, seq 1, 2, 3 ...; an ack releases up to its seq; a rewind resends the rest from seq 1', () => {
  const b = new SampleBuffer(100, 1e9);
  fill(b, 1, 6);
  assert.deepEqual(takeAll(b), [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]);
  assert.equal(b.size, 5);
  assert.equal(b.unsent, 0);
  assert.equal(b.ack(3), 3);
  assert.equal(b.ack(3), 0, 'an ack repeated releases nothing');
  assert.equal(b.size, 2);
  b.rewind();
  fill(b, 6, 8);
  assert.deepEqual(takeAll(b), [[1, 4], [2, 5], [3, 6], [4, 7]]);
  assert.equal(b.ack(99), 4, 'an ack beyond the last seq releases only what was written');
  assert.equal(b.size, 0);
  assert.equal(b.bytes, 0);
});

test('the frame carries type, seq, ts and the readings, and its size is counted with room for a large seq', () => {
  const b = new SampleBuffer(10, 1e9);
  const s = b.push(1234, body(1234));
  const frame = sampleFrame(s, 2 ** 40);
  assert.deepEqual(decodeBody(frame.subarray(FRAME_HEADER_BYTES)), { type: 'sample', seq: 2 ** 40, ts: 1234, cpu_pct: 34 });
  assert.ok(frame.length <= s.bytes, `${frame.length} <= ${s.bytes}`);
});

const bounds: Array<{ name: string; maxSamples: number; maxBytesIn: number; kept: number[] }> = [
  { name: 'by count', maxSamples: 3, maxBytesIn: 100, kept: [7, 8, 9] },
  { name: 'by bytes', maxSamples: 100, maxBytesIn: 2, kept: [8, 9] },
  { name: 'count and bytes: the tighter wins', maxSamples: 4, maxBytesIn: 3, kept: [7, 8, 9] },
  { name: 'no room at all', maxSamples: 0, maxBytesIn: 100, kept: [] },
];
for (const c of bounds) {
  test(`trim drops the oldest unsent samples: ${c.name}`, () => {
    const frameBytes = new SampleBuffer(1, 1e9).push(5, body(5)).bytes;
    const b = new SampleBuffer(c.maxSamples, c.maxBytesIn * frameBytes);
    fill(b, 0, 10);
    assert.equal(b.trim(), 10 - c.kept.length);
    assert.deepEqual(takeAll(b).map(([, ts]) => ts), c.kept);
  });
}

test('trim lets written samples go first and counts only unsent ones as lost; seq goes on', () => {
  const b = new SampleBuffer(3, 1e9);
  fill(b, 0, 3);
  assert.deepEqual(takeAll(b), [[1, 0], [2, 1], [3, 2]]);
  fill(b, 3, 5);
  assert.equal(b.trim(), 0, 'the two let go were written');
  assert.deepEqual(takeAll(b), [[4, 3], [5, 4]]);
  assert.equal(b.ack(3), 1, 'seq 3 (ts 2) is still held; 1 and 2 went at the trim');
  assert.equal(b.size, 2);
});

test('unsentBytesAfter counts only unsent samples pushed after the given id', () => {
  const b = new SampleBuffer(100, 1e9);
  fill(b, 0, 4);
  const mark = b.lastId;
  b.takeNext();
  fill(b, 4, 6);
  const each = b.bytes / 6;
  assert.equal(b.unsentBytesAfter(mark), 2 * each);
  takeAll(b);
  assert.equal(b.unsentBytesAfter(mark), 0);
});

test('seeded random operations (seed 20240603) agree with a plain-array model, through compactions', () => {
  const rnd = seededRandom(20240603);
  const max = 700;
  const b = new SampleBuffer(max, 1e12);
  let model: number[] = [];
  let sent = 0;
  let lastSeq = 0;
  let next = 0;
  for (let step = 0; step < 50_000; step++) {
    const r = rnd();
    if (r < 0.5) {
      b.push(next, body(next));
      model.push(next++);
      const lost = b.trim();
      let modelLost = 0;
      while (model.length > max) {
        if (sent === 0) modelLost++;
        else sent--;
        model.shift();
      }
      assert.equal(lost, modelLost);
    } else if (r < 0.8) {
      const f = b.takeNext();
      if (sent < model.length) {
        sent++;
        lastSeq++;
        assert.deepEqual([f?.seq, f?.sample.ts], [lastSeq, model[sent - 1]]);
      } else assert.equal(f, undefined);
    } else if (r < 0.98) {
      const seq = Math.floor(rnd() * (lastSeq + 2));
      const n = Math.max(0, Math.min(sent, seq - (lastSeq - sent)));
      assert.equal(b.ack(seq), n);
      model = model.slice(n);
      sent -= n;
    } else {
      b.rewind();
      sent = 0;
      lastSeq = 0;
    }
    assert.equal(b.size, model.length);
    assert.equal(b.unsent, model.length - sent);
  }
});
