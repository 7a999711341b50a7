/**
 * shared/field_reader.ts: the compiled readers give what the plain loops they replace give
 * (collector/hosts.ts), for samples of every shape the decoders build, and refuse names that
 * are not plain field names.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fieldPicker, fieldReader } from '../../shared/field_reader.ts';
import { encodeFrame } from '../../shared/frame_codec.ts';
import { parseSample, READINGS, TABLES } from '../../shared/protocol.ts';
import { decodeSampleFast } from '../../shared/sample_decoder.ts';
import { SAMPLE } from '../../scripts/bench/sample.ts';

const NAMES = READINGS.map((r) => r.name);

test('fieldReader: each named number at its place from the offset, NaN where absent or not a number; nothing else written', () => {
  const read = fieldReader(['a', 'b', 'c']);
  const out = new Float64Array(6).fill(7);
  read({ a: 1.5, c: -2, d: 9 }, out, 2);
  assert.deepEqual([...out], [7, 7, 1.5, Number.NaN, -2, 7]);
  read({ a: null, b: 0, c: '12' }, out, 0);
  assert.deepEqual([...out.subarray(0, 3)], [Number.NaN, 0, Number.NaN]);
});

test('fieldReader and fieldPicker agree with the loops over names, on fast-path and general-path samples', () => {
  const read = fieldReader(NAMES);
  const pick = fieldPicker<readonly unknown[]>(TABLES.map((t) => t.name), []);
  const body = encodeFrame({ ...SAMPLE }).subarray(4);
  const samples = [
    decodeSampleFast(body)!,
    parseSample({ ...SAMPLE }),
    parseSample({ type: 'sample', seq: 1, ts: 1_795_339_419_123, cpu_pct: 3 }),
    decodeSampleFast(encodeFrame({ type: 'sample', seq: 2, ts: 1_795_339_419_123, mem_used_bytes: 1, mem_total_bytes: 2, fs: [{ mount: '/' }] }).subarray(4))!,
  ];
  for (const s of samples) {
    assert.ok(s);
    const got = new Float64Array(NAMES.length);
    read(s, got, 0);
    const rec = s as unknown as Record<string, number | undefined>;
    assert.deepEqual([...got], NAMES.map((n) => rec[n] ?? Number.NaN));
    assert.ok(got.some((v) => !Number.isNaN(v)));
    const tables = pick(s);
    for (const t of TABLES) assert.deepEqual(tables[t.name], (s as unknown as Record<string, unknown>)[t.name] ?? []);
    assert.deepEqual(Object.keys(tables), TABLES.map((t) => t.name));
  }
});

test('names that are not plain field names are refused before anything is compiled', () => {
  for (const bad of ['a;b', 'a.b', '1a', '', 'x y', 'a=1', '__proto__', 'constructor']) {
    assert.throws(() => fieldReader(['ok', bad]), RangeError, bad);
    assert.throws(() => fieldPicker([bad], 0), RangeError, bad);
  }
});
