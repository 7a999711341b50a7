import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, DEFAULT_BACKOFF } from '../../agent/backoff.ts';
import { seededRandom } from '../helpers/hex.ts';

test('bounds double from the first delay up to the cap', () => {
  const b = new Backoff({ firstMs: 100, capMs: 1000, random: () => 1 });
  const delays = Array.from({ length: 7 }, () => b.next());
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
});

test('jitter (seed 7): every delay lies within [10 %, 100 %] of its bound, and they differ', () => {
  const b = new Backoff({ firstMs: 500, capMs: 30_000, random: seededRandom(7) });
  const seen = new Set<number>();
  for (let i = 0; i < 50; i++) {
    const bound = b.boundMs;
    const d = b.next();
    assert.ok(d >= bound * 0.1 && d <= bound, `delay ${d} outside bound ${bound}`);
    seen.add(d);
  }
  assert.ok(seen.size > 10, 'delays are spread, not all equal');
});

test('reset starts again from the first delay; toCap jumps to the cap', () => {
  const b = new Backoff({ firstMs: 100, capMs: 5000, random: () => 1 });
  b.next();
  b.next();
  b.reset();
  assert.equal(b.next(), 100);
  b.toCap();
  assert.equal(b.next(), 5000);
});

test('the default caps at about 30 s', () => {
  assert.equal(DEFAULT_BACKOFF.capMs, 30_000);
  assert.throws(() => new Backoff({ firstMs: 0, capMs: 10 }), RangeError);
});
