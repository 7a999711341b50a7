/**
 * JsonBytes writes what JSON.stringify (then UTF-8) writes: numbers of every kind, and stored
 * UTF-8 as the store's TextDecoder reads it (escapes, non-ASCII, malformed bytes, a leading BOM).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonBytes, literal } from '../../dashboard/hosts_json_writer.ts';
import { seededRandom as random } from '../helpers/hex.ts';


const text = (w: JsonBytes): string => Buffer.from(w.out.subarray(0, w.at)).toString('utf8');
const decoder = new TextDecoder('utf-8', { fatal: false });

test('hosts_json_writer: numbers as JSON.stringify writes them', () => {
  const cases = [
    0, -0, 1, -1, 9, 10, 99, 100, 101, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 1e9, 1e9 - 1, 1e9 + 1, 999_999_999_999,
    1_700_000_000_000, 1_700_000_000_001, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 2 ** 60, 1e21, 1e22, -1e21, 0.5, -0.5, 0.1, 1 / 3,
    94.73684210526315, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY,
    8 * 1024 ** 3, 45.5 * 1024 ** 3, 123456789012.5,
  ];
  const w = new JsonBytes(64);
  for (const v of cases) {
    w.reset(64);
    w.num(v);
    assert.equal(text(w), JSON.stringify(v), `number ${v}`);
  }
});

test('hosts_json_writer: seeded random numbers (seed 7) as JSON.stringify writes them', () => {
  const next = random(7);
  const w = new JsonBytes(64);
  for (let k = 0; k < 20_000; k++) {
    const r = next();
    const scale = 10 ** Math.floor(next() * 22 - 4);
    let v = (next() - 0.5) * scale;
    if (r < 0.5) v = Math.round(v);
    else if (r < 0.6) v = Math.round(next() * 2 ** 53) * (next() < 0.5 ? -1 : 1);
    w.reset(64);
    w.num(v);
    assert.equal(text(w), JSON.stringify(v), `number ${v}`);
  }
});

test('hosts_json_writer: short decimals (at most nine places) as JSON.stringify writes them, at every edge of the fast path', () => {
  const cases = [
    23.4, -23.4, 0.5, 0.1, 0.2, 0.1 + 0.2, 0.000166667, 0.000041933, 23.085360767, 5.808276769, 86.4, 21.73824,
    1e-6, -1e-6, 1.5e-6, 9.99e-7, 1e-7, 5e-7, 1e-9, 2e-9, 0.000001001, 0.123456789, 0.1234567891, 0.999999999,
    999_999.999999999, 999_999.99999999, 999_999.5, 1_000_000.5, 123_456.123456789, 12_345.123456789, 1_234_567.1,
    4_503_599_627_370_495.5, 0.30000000000000004, 1 / 3, 2 / 3, 100.25, 1e-6 + 1e-9, 7.000000001, -0.000000001,
  ];
  const w = new JsonBytes(64);
  for (const v of cases) {
    w.reset(64);
    w.num(v);
    assert.equal(text(w), JSON.stringify(v), `number ${v}`);
  }
  // Decimals of 0 to 12 places at magnitudes from 1e-8 to 1e8, as agents round readings and the
  // collector rounds energy, and the same numbers nudged by one unit in the last place.
  const next = random(11);
  for (let k = 0; k < 100_000; k++) {
    const places = Math.floor(next() * 13);
    const magnitude = 10 ** Math.floor(next() * 17 - 8);
    let v = Math.round(next() * magnitude * 10 ** places) / 10 ** places;
    if (next() < 0.5) v = -v;
    if (next() < 0.2) v = v + v * Number.EPSILON;
    w.reset(64);
    w.num(v);
    assert.equal(text(w), JSON.stringify(v), `number ${v}`);
  }
});

test('hosts_json_writer: a short decimal is written without String(), a long fraction with it', () => {
  const w = new JsonBytes(64);
  const real = globalThis.String;
  let calls = 0;
  globalThis.String = Object.assign((v?: unknown) => { calls++; return real(v); }, real) as StringConstructor;
  try {
    for (const v of [23.4, 0.000166667, 999_999.999999999, -5.808276769]) w.num(v);
    assert.equal(calls, 0, 'short decimals took String()');
    w.num(94.73684210526315);
    assert.equal(calls, 1);
  } finally {
    globalThis.String = real;
  }
});

test('hosts_json_writer: stored UTF-8 as JSON.stringify of what TextDecoder reads', () => {
  const cases: Array<[string, number[]]> = [
    ['empty', []],
    ['plain', [...Buffer.from('web-01.example.com')]],
    ['quote and backslash', [...Buffer.from('"a\\b"')]],
    ['controls', [0, 1, 8, 9, 10, 12, 13, 27, 31, 127]],
    ['non-ASCII', [...Buffer.from('ünï-çødé-☃ 𝄞')]],
    ['U+2028 and U+2029', [...Buffer.from('a\u2028b\u2029c')]],
    ['leading BOM', [0xef, 0xbb, 0xbf, 0x41]],
    ['two BOMs', [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x41]],
    ['BOM later', [0x41, 0xef, 0xbb, 0xbf]],
    ['lone continuation', [0x41, 0x80, 0x42]],
    ['truncated sequence', [0x41, 0xe2, 0x98]],
    ['overlong', [0xc0, 0xaf, 0xe0, 0x80, 0xaf]],
    ['surrogate', [0xed, 0xa0, 0x80]],
    ['past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['invalid lead', [0xff, 0xfe, 0x41]],
  ];
  const w = new JsonBytes(16);
  for (const [name, bytes] of cases) {
    const src = Uint8Array.from([0x58, ...bytes, 0x58]);
    w.reset(16 + 6 * bytes.length);
    const ascii = w.utf8(src, 1, bytes.length);
    const decoded = decoder.decode(Uint8Array.from(bytes));
    assert.equal(text(w), JSON.stringify(decoded), name);
    if (ascii) assert.ok(bytes.every((b) => b < 0x80), `${name}: said ASCII`);
  }
});

test('hosts_json_writer: seeded random bytes (seed 11) as JSON.stringify of what TextDecoder reads', () => {
  const next = random(11);
  const pool = [0x00, 0x0a, 0x1f, 0x22, 0x5c, 0x41, 0x7f, 0x80, 0xbf, 0xc2, 0xc3, 0xe0, 0xe2, 0xed, 0xef, 0xbb, 0xf0, 0xf4, 0x90, 0x9f, 0xa0, 0xff];
  const w = new JsonBytes(16);
  for (let k = 0; k < 20_000; k++) {
    const len = Math.floor(next() * 12);
    const bytes = Uint8Array.from({ length: len }, () => (next() < 0.5 ? pool[Math.floor(next() * pool.length)]! : Math.floor(next() * 256)));
    w.reset(16);
    w.room(2 + 6 * len);
    w.utf8(bytes, 0, len);
    assert.equal(text(w), JSON.stringify(decoder.decode(bytes)), `bytes ${Buffer.from(bytes).toString('hex')}`);
  }
});

test('hosts_json_writer: literals write their text, whatever the alignment; only printable ASCII is taken', () => {
  const w = new JsonBytes(64);
  w.reset(64);
  w.ascii('x');
  w.lit(literal(',"received_at_ms":'));
  w.num(12);
  w.lit(literal('}'));
  assert.equal(text(w), 'x,"received_at_ms":12}');
  assert.throws(() => literal('é'), RangeError);
  assert.throws(() => literal('a\nb'), RangeError);
});
