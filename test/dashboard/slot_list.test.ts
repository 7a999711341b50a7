/**
 * The `slots=` list of /api/sparklines: read by dashboard/slot_list.ts, written by the page
 * (dashboard/static/overview.js slotList). Every form it takes, every way it is refused, and
 * what the page writes reads back as the same set (seeded).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_SLOT_LIST_CHARS, parseSlotList } from '../../dashboard/slot_list.ts';
import { MAX_SPARK_SLOTS_CHARS, slotList } from '../../dashboard/static/overview.js';
import { seededRandom } from '../helpers/hex.ts';

const read = (text: string, capacity = 1024): number[] | string => {
  const r = parseSlotList(text, capacity);
  return typeof r === 'string' ? r : [...r];
};

test('parseSlotList: single slots and ranges in any order, sorted and without repeats', () => {
  assert.deepEqual(read(''), []);
  assert.deepEqual(read('0'), [0]);
  assert.deepEqual(read('7'), [7]);
  assert.deepEqual(read('3-5'), [3, 4, 5]);
  assert.deepEqual(read('9,1-3,2,0'), [0, 1, 2, 3, 9]);
  assert.deepEqual(read('4-4,4'), [4]);
  assert.deepEqual(read('1023', 1024), [1023]);
  assert.deepEqual(read('0-1023', 1024).length, 1024);
  // Ranges that overlap, nest and touch: each slot once.
  assert.deepEqual(read('5-9,0-2,3-4,7-12,8,20'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 20]);
  // The longest list of the widest ranges: every slot, once.
  const wide = Array.from({ length: Math.floor(MAX_SLOT_LIST_CHARS / 10) }, () => '0-65535').join(',');
  const all = read(wide, 65_536) as number[];
  assert.equal(all.length, 65_536);
  assert.ok(all.every((s, i) => s === i));
});

test('parseSlotList: anything else is refused with what is wrong, before a slot is kept', () => {
  const cases: Array<[string, RegExp, number?]> = [
    ['a', /slot numbers and ranges/],
    ['1,,2', /slot numbers and ranges/],
    [',', /slot numbers and ranges/],
    ['01', /slot numbers and ranges/],
    ['-1', /slot numbers and ranges/],
    ['1-', /slot numbers and ranges/],
    ['1-2-3', /slot numbers and ranges/],
    ['1.5', /slot numbers and ranges/],
    [' 1', /slot numbers and ranges/],
    ['1e3', /slot numbers and ranges/],
    ['0x10', /slot numbers and ranges/],
    ['5-3', /runs backwards/],
    ['1024', /1024 is past the last slot \(1023\)/],
    ['0-1024', /past the last slot/],
    // A range of a billion slots is refused by its end, not walked.
    ['0-999999999', /past the last slot/],
    ['9999999999', /slot numbers and ranges/],
  ];
  for (const [text, message, capacity] of cases) {
    const r = read(text, capacity);
    assert.equal(typeof r, 'string', `${JSON.stringify(text)} refused`);
    assert.match(r as string, message, text);
  }
  // The length is checked first: a list past the limit is refused whatever it holds.
  const long = Array.from({ length: 3000 }, (_, i) => String(i % 1000)).join(',');
  assert.ok(long.length > MAX_SLOT_LIST_CHARS);
  assert.match(read(long) as string, new RegExp(`${long.length} characters; at most ${MAX_SLOT_LIST_CHARS}`));
  // The item quoted in the message is cut short.
  assert.ok((read(`1,${'x'.repeat(5000)}`) as string).length < 120);
});

test('slotList (the page) writes runs as ranges, and parseSlotList reads back the same set (seed 20261123)', () => {
  assert.equal(slotList([]), '');
  assert.equal(slotList([5]), '5');
  assert.equal(slotList([3, 1, 2, 2, 9, 10, 0]), '0-3,9-10');
  assert.equal(slotList([null, -1, 1.5, 4, Number.NaN]), '4', 'only whole numbers >= 0');
  const rand = seededRandom(20261123);
  for (let round = 0; round < 200; round++) {
    const capacity = 1 + Math.floor(rand() * 20_000);
    const n = Math.floor(rand() * 600);
    // Runs and scattered slots, as a sorted page of a fleet gives.
    const slots: number[] = [];
    while (slots.length < n) {
      const from = Math.floor(rand() * capacity);
      const run = rand() < 0.3 ? Math.floor(rand() * 50) : 0;
      for (let s = from; s <= Math.min(capacity - 1, from + run); s++) slots.push(s);
    }
    const text = slotList(slots);
    const want = [...new Set(slots)].sort((a, b) => a - b);
    assert.deepEqual(read(text, capacity), want, `round ${round}: ${text.slice(0, 80)}`);
  }
  assert.ok(MAX_SPARK_SLOTS_CHARS < MAX_SLOT_LIST_CHARS, 'the page never sends a list the server refuses for its length');
});
