/** shared/utf8_into.ts: writeUtf8 writes exactly what TextEncoder.encodeInto writes, in every case. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeUtf8 } from '../../shared/utf8_into.ts';

const encoder = new TextEncoder();

/** What encodeInto puts in a field of `capacity` bytes at offset 3 of a buffer of 0xee, and the count. */
function expected(s: string, capacity: number): { bytes: number[]; written: number } {
  const u8 = new Uint8Array(capacity + 6).fill(0xee);
  const { written } = encoder.encodeInto(s, u8.subarray(3, 3 + capacity));
  return { bytes: [...u8], written };
}

function got(s: string, capacity: number): { bytes: number[]; written: number } {
  const u8 = new Uint8Array(capacity + 6).fill(0xee);
  const written = writeUtf8(u8, 3, capacity, s);
  return { bytes: [...u8], written };
}

test('writeUtf8 agrees with encodeInto: ASCII, non-ASCII at every position, cuts at capacity, empty', () => {
  const strings = [
    '', '/', '/var/lib/docker', 'eth0', 'postgres', 'a'.repeat(48), 'a'.repeat(49), '\u007f',
    'café', 'é', 'ünïcödé', '数据库', 'db-😀', '😀', 'a😀b', 'x\u0080', '\u07ff\u0800\uffff',
    'lone \ud800 surrogate', '\udc00', 'mixed ascii then ü at the end',
  ];
  let cases = 0;
  for (const s of strings) {
    for (const capacity of [0, 1, 2, 3, 4, 5, 8, 16, 48, 64]) {
      assert.deepEqual(got(s, capacity), expected(s, capacity), `${JSON.stringify(s)} into ${capacity} bytes`);
      cases++;
    }
  }
  assert.equal(cases, strings.length * 10);
});

test('writeUtf8 agrees with encodeInto on random strings of every width', () => {
  // A fixed seed: the same strings each run.
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pools = [[0x20, 0x7f], [0x80, 0x800], [0x800, 0xd800], [0x10000, 0x10ffff]] as const;
  for (let i = 0; i < 2000; i++) {
    let s = '';
    const len = rnd(40);
    for (let k = 0; k < len; k++) {
      // Mostly ASCII, as real names are, with other widths mixed in.
      const [lo, hi] = pools[rnd(10) < 7 ? 0 : 1 + rnd(3)]!;
      s += String.fromCodePoint(lo + rnd(hi - lo));
    }
    const capacity = rnd(64);
    assert.deepEqual(got(s, capacity), expected(s, capacity), `${JSON.stringify(s)} into ${capacity} bytes`);
  }
});
