import { test } from 'node:test';
import assert from 'node:assert/strict';
import { counterDelta, intervalProblem, pairReader, perSecond } from '../../../agent/collectors/rates.ts';

const DELTA_CASES: ReadonlyArray<{ name: string; prev: number | undefined; curr: number | undefined; want: number | undefined }> = [
  { name: 'grows', prev: 10, curr: 15, want: 5 },
  { name: 'unchanged', prev: 10, curr: 10, want: 0 },
  { name: 'reset', prev: 10, curr: 3, want: undefined },
  { name: '32-bit wrap is not guessed', prev: 2 ** 32 - 10, curr: 5, want: undefined },
  { name: 'new counter', prev: undefined, curr: 5, want: undefined },
  { name: 'NaN', prev: Number.NaN, curr: 5, want: undefined },
];
for (const c of DELTA_CASES) test(`counterDelta: ${c.name}`, () => assert.equal(counterDelta(c.prev, c.curr), c.want));

test('perSecond: to 0.1 per second', () => {
  assert.equal(perSecond(1, 3000), 0.3);
  assert.equal(perSecond(1000, 1000), 1000);
  assert.equal(perSecond(0, 1), 0);
});

test('intervalProblem: below 10 ms or backwards there is no rate', () => {
  assert.equal(intervalProblem({ atMs: 0, value: 0 }, { atMs: 10, value: 0 }), undefined);
  assert.match(intervalProblem({ atMs: 0, value: 0 }, { atMs: 9, value: 0 }) ?? '', /9 ms/);
  assert.match(intervalProblem({ atMs: 5, value: 0 }, { atMs: 0, value: 0 }) ?? '', /0 ms/);
});

test('pairReader: first call reads twice with the wait between, then once a call', async () => {
  let n = 0;
  const next = pairReader(async () => ++n, 30);
  const first = await next();
  assert.deepEqual([first.prev.value, first.curr.value], [1, 2]);
  assert.ok(first.curr.atMs - first.prev.atMs >= 29);
  const second = await next();
  assert.deepEqual([second.prev.value, second.curr.value], [2, 3]);
});
