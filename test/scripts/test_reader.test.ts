import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostTable } from '../../collector/hosts.ts';
import { checkSlot } from '../../scripts/test_reader.ts';
import { NUM, SLOT_BYTES, SLOT_NUMBERS, SLOT_STRING_LENGTHS, slotOffset, STR } from '../../shared/shm_layout.ts';
import { decodeSlot, ShmStore } from '../../shared/shm_store.ts';

function snapshotWithTwoHosts(): Uint8Array {
  const store = ShmStore.create(4);
  const hosts = new HostTable(store);
  for (const [i, name] of ['a', 'b'].entries()) {
    const owner = { id: i + 1 };
    hosts.claim({ type: 'hello', proto: 1, host: name, agent: 't', token: 'x', interval_ms: 1000 }, owner, 1000);
    hosts.recordSample(name, owner, { type: 'sample', seq: 1, ts: 1, cpu_pct: 5, mem_total_bytes: 10, mem_used_bytes: 5 }, 2000);
  }
  return store.snapshot();
}

function check(snap: Uint8Array, index: number, names = new Map<string, number>()): string[] {
  const raw = snap.subarray(slotOffset(index), slotOffset(index) + SLOT_BYTES);
  const lock = new Int32Array(raw.buffer, raw.byteOffset, 1)[0]!;
  return checkSlot(raw, decodeSlot(raw, index, lock), names);
}

test('a snapshot of a sound store passes', () => {
  const snap = snapshotWithTwoHosts();
  const names = new Map<string, number>();
  assert.deepEqual([check(snap, 0, names), check(snap, 1, names)], [[], []]);
});

const CORRUPTIONS: Array<[string, (snap: Uint8Array) => void, RegExp]> = [
  ['odd sequence lock', (s) => { new Int32Array(s.buffer, slotOffset(1), 1)[0] = 7; }, /odd/],
  ['string length past its field', (s) => { new Int32Array(s.buffer, slotOffset(1) + SLOT_STRING_LENGTHS, 8)[STR.HOST] = 9999; }, /claims 9999 bytes/],
  ['negative reading', (s) => { new Float64Array(s.buffer, slotOffset(1) + SLOT_NUMBERS, 24)[NUM.LOAD_1M] = -1; }, /holds -1/],
  ['cpu above 100', (s) => { new Float64Array(s.buffer, slotOffset(1) + SLOT_NUMBERS, 24)[NUM.CPU_PCT] = 101; }, /cpu_pct 101/],
  ['used above total', (s) => { new Float64Array(s.buffer, slotOffset(1) + SLOT_NUMBERS, 24)[NUM.MEM_USED_BYTES] = 11; }, /mem used > total/],
  ['empty host name', (s) => { new Int32Array(s.buffer, slotOffset(1) + SLOT_STRING_LENGTHS, 8)[STR.HOST] = 0; }, /host name is empty/],
];
for (const [name, spoil, expected] of CORRUPTIONS) {
  test(`the consistency check catches: ${name}`, () => {
    const snap = snapshotWithTwoHosts();
    spoil(snap);
    const problems = check(snap, 1);
    assert.ok(problems.some((p) => expected.test(p)), `problems: ${JSON.stringify(problems)}`);
  });
}

test('the consistency check catches one name in two slots', () => {
  const snap = snapshotWithTwoHosts();
  const names = new Map<string, number>([['b', 0]]);
  assert.ok(check(snap, 1, names).some((p) => /also in slot 0/.test(p)));
});
