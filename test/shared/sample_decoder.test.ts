/**
 * shared/sample_decoder.ts against the general path it stands in for: whatever the fast path
 * accepts, parseSample(decodeBody(body)) must accept with a deep-equal Sample; whatever the
 * general path refuses, the fast path must not accept (it answers BAIL). Checked over
 * hand-made edge cases and thousands of mutated frames (a seeded generator, so a failure
 * replays).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLOAT32_OPTIONS, Packr } from 'msgpackr';
import { decodeBody, encodeFrame } from '../../shared/frame_codec.ts';
import { DEFAULT_GUARD_LIMITS } from '../../shared/msgpack_guard.ts';
import { MSG_SAMPLE, parseSample, READINGS, type Sample } from '../../shared/protocol.ts';
import { compiledMakers, decodeSampleFast } from '../../shared/sample_decoder.ts';
import { SAMPLE } from '../../scripts/bench/sample.ts';

type Outcome = { ok: true; sample: Sample } | { ok: false; code: string };

function general(body: Uint8Array): Outcome {
  try {
    const msg = decodeBody(body);
    if (msg['type'] !== MSG_SAMPLE) return { ok: false, code: 'not a sample' };
    return { ok: true, sample: parseSample(msg) };
  } catch (err) {
    return { ok: false, code: (err as { code?: string }).code ?? String(err) };
  }
}

const bodyOf = (m: Record<string, unknown>): Uint8Array => encodeFrame(m).subarray(4);

/** Asserts the rule; returns whether the fast path took the body. */
function agree(body: Uint8Array, what: string): boolean {
  const fast = decodeSampleFast(body);
  const slow = general(body);
  if (fast === null) return false;
  assert.ok(slow.ok, `${what}: fast path accepted what the general path refuses (${slow.ok ? '' : slow.code})`);
  assert.deepEqual(fast, slow.sample, `${what}: fast and general paths disagree`);
  // The same properties in the same order too (deepEqual ignores order; JSON, logs and the
  // dashboard's output do not).
  assert.equal(JSON.stringify(fast), JSON.stringify(slow.sample), `${what}: fast and general paths order the fields differently`);
  return true;
}

const MINIMAL = { type: 'sample', seq: 1, ts: 1_795_339_419_123 };
const WITH_MISSING = { ...MINIMAL, cpu_pct: 3, missing: { gpu: 'no GPU found', temp_cpu_c: 'no sensor (a VM?)' } };

test('the usual shapes take the fast path and decode exactly as the general path', () => {
  for (const [what, m] of Object.entries({ realistic: SAMPLE, minimal: MINIMAL, missing: WITH_MISSING })) {
    assert.equal(agree(bodyOf(m as Record<string, unknown>), what), true, `${what} should take the fast path`);
  }
  const fast = decodeSampleFast(bodyOf(SAMPLE as Record<string, unknown>))!;
  assert.equal(fast.cpu_pct, 37.4);
  assert.equal(fast.power_source, 'measured');
  assert.deepEqual(fast.fs![1], { mount: '/var/lib', type: 'xfs', size_bytes: 1000 * 1024 ** 3, used_bytes: 611 * 1024 ** 3, free_bytes: 389 * 1024 ** 3 });
});

test('every number encoding: fixints, 8/16/32-bit ints, float32 and float64, nil as absent', () => {
  const values = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 0.5, 99.25, -1, -33, -200, -40_000, -(2 ** 31)];
  for (const v of values) {
    agree(bodyOf({ ...MINIMAL, cpu_pct: v, temp_cpu_c: v, mem_total_bytes: v, uptime_s: v }), `value ${v}`);
    agree(bodyOf({ ...MINIMAL, seq: v, ts: v }), `seq/ts ${v}`);
  }
  const f32 = new Packr({ useRecords: false, useFloat32: FLOAT32_OPTIONS.ALWAYS });
  for (const v of [0.1, 37.4, 1e-7, 3.4e38, 123.456]) agree(f32.pack({ ...MINIMAL, cpu_pct: Math.min(v, 100), load_1m: v, cpu_cores_pct: [v % 100] }), `float32 ${v}`);
  assert.equal(agree(bodyOf({ ...MINIMAL, cpu_pct: null, fs: null, power_source: null }), 'nils'), true);
  assert.equal(decodeSampleFast(bodyOf({ ...MINIMAL, power_w: 10, power_source: 'estimated' }))!.power_source, 'estimated');
  assert.equal(decodeSampleFast(bodyOf({ ...MINIMAL, power_source: 'estimated' }))!.power_source, undefined, 'a source without power_w is dropped');
});

test('what the general path refuses, or may see otherwise, is never taken by the fast path', () => {
  const refused: Array<[string, Record<string, unknown>]> = [
    ['negative reading', { ...MINIMAL, cpu_pct: -1 }],
    ['percent above 100', { ...MINIMAL, cpu_pct: 100.5 }],
    ['fractional bytes', { ...MINIMAL, mem_total_bytes: 1.5 }],
    ['used above total', { ...MINIMAL, mem_total_bytes: 10, mem_used_bytes: 11 }],
    ['seq zero', { ...MINIMAL, seq: 0 }],
    ['string reading', { ...MINIMAL, cpu_pct: '5' }],
    ['boolean reading', { ...MINIMAL, cpu_pct: true }],
    ['not a sample', { ...MINIMAL, type: 'facts' }],
    ['no seq', { type: 'sample', ts: 5 }],
    ['unknown power source', { ...MINIMAL, power_w: 5, power_source: 'guessed' }],
    ['row without its name', { ...MINIMAL, fs: [{ type: 'ext4', size_bytes: 1 }] }],
    ['row that is not a map', { ...MINIMAL, net: [5] }],
    ['row whose name is nil', { ...MINIMAL, fs: [{ mount: null, size_bytes: 1 }] }],
    ['too many rows', { ...MINIMAL, procs_top: Array.from({ length: 65 }, (_, i) => ({ name: `p${i}` })) }],
    ['cell too long', { ...MINIMAL, net: [{ name: 'x'.repeat(65) }] }],
    ['forbidden key in missing', JSON.parse('{"type":"sample","seq":1,"ts":5,"missing":{"__proto__":"x"}}')],
    ['reason too long', { ...MINIMAL, missing: { gpu: 'x'.repeat(201) } }],
  ];
  for (const [what, m] of refused) {
    assert.equal(decodeSampleFast(bodyOf(m)), null, what);
    agree(bodyOf(m), what);
  }
  // Taken by the general path only, with the same result where it accepts.
  const generalOnly: Array<[string, Record<string, unknown>]> = [
    ['unknown field', { ...MINIMAL, future_field: 1 }],
    ['non-ASCII text', { ...MINIMAL, fs: [{ mount: '/mnt/données' }] }],
    ['unsafe characters', { ...MINIMAL, procs_top: [{ name: 'evil\u202eexe' }] }],
    ['truncated counts', { ...MINIMAL, truncated: { fs: 3 } }],
    ['unknown column', { ...MINIMAL, net: [{ name: 'eth0', rx_bps: 1, future: 2 }] }],
  ];
  for (const [what, m] of generalOnly) {
    assert.equal(decodeSampleFast(bodyOf(m)), null, what);
    assert.equal(general(bodyOf(m)).ok, true, `${what}: the general path accepts it`);
  }
  // ASCII control characters are replaced exactly as the general path does.
  assert.equal(agree(bodyOf({ ...MINIMAL, procs_top: [{ name: 'a\u0007b', pid: 3 }] }), 'control'), true);
  assert.equal(decodeSampleFast(bodyOf({ ...MINIMAL, procs_top: [{ name: 'a\u0007b' }] }))!.procs_top![0]!.name, 'a\uFFFDb');
  // So are they in missing reasons and names; two names that become the same go to the general path.
  const esc = { ...MINIMAL, missing: { gpu: 'no \u001b[2J GPU\n', 'temp\u0007': 'none' } };
  assert.equal(agree(bodyOf(esc), 'control in missing'), true);
  assert.deepEqual(decodeSampleFast(bodyOf(esc))!.missing, { gpu: 'no \uFFFD[2J GPU\uFFFD', 'temp\uFFFD': 'none' });
  const clash = bodyOf({ ...MINIMAL, missing: { 'a\u0001': 'x', 'a\u0002': 'y' } });
  assert.equal(decodeSampleFast(clash), null);
  assert.deepEqual((general(clash) as { ok: true; sample: { missing: unknown } }).sample.missing, { 'a\uFFFD': 'y' });
  // Repeated keys and trailing bytes: built by hand, as no encoder writes them.
  const one = bodyOf(MINIMAL);
  const doubled = Uint8Array.from([0x84, ...one.subarray(1), 0xa3, ...Buffer.from('seq'), 0x05]);
  assert.equal(decodeSampleFast(doubled), null);
  assert.equal(general(doubled).ok, false);
  assert.equal(decodeSampleFast(Uint8Array.from([...one, 0xc0])), null);
  // A caller with tighter limits than the fast path's own bounds gets the general path.
  assert.equal(decodeSampleFast(one, { ...DEFAULT_GUARD_LIMITS, maxStringBytes: 100 }), null);
});

test('thousands of mutated frames: the fast path never accepts what the general path refuses', () => {
  let seed = 0x5eed;
  const rand = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fff_ffff;
    return seed % n;
  };
  const bases = [bodyOf(SAMPLE as Record<string, unknown>), bodyOf(WITH_MISSING), bodyOf(MINIMAL)];
  let taken = 0;
  let total = 0;
  for (let i = 0; i < 6000; i++) {
    const base = bases[i % bases.length]!;
    const b = Uint8Array.from(base);
    let body: Uint8Array = b;
    const kind = rand(4);
    if (kind === 0) b[rand(b.length)] = rand(256);
    else if (kind === 1) { b[rand(b.length)] ^= 1 << rand(8); b[rand(b.length)] ^= 1 << rand(8); }
    else if (kind === 2) body = b.subarray(0, rand(b.length));
    else {
      const at = rand(b.length);
      body = Uint8Array.from([...b.subarray(0, at), rand(256), ...b.subarray(at)]);
    }
    total++;
    if (agree(body, `mutation ${i} (kind ${kind})`)) taken++;
  }
  // Many single-byte changes only alter a value: the fast path must still take those.
  assert.ok(taken > total / 20, `the fast path took ${taken} of ${total} mutated frames`);
});

test('ever-new combinations compile at most MAX_MAKERS makers each, then one a second, and beyond decode the same, field by field', async () => {
  // A sender with a new set of readings, or a new column order, in every sample: each used to cost a compile.
  const names = READINGS.slice(0, 10).map((r) => r.name);
  const cols = ['rx_bps', 'tx_bps', 'rx_pps', 'tx_pps', 'rx_errs_ps', 'tx_errs_ps'];
  const before = compiledMakers();
  let checked = 0;
  for (let k = 1; k < 700; k++) {
    const m: Record<string, unknown> = { ...MINIMAL, seq: k };
    // Every value 1: each reading's range holds it, and so does every part <= whole relation.
    names.forEach((n, i) => { if ((k >> i) & 1) m[n] = 1; });
    // A net row whose columns come in an order of its own (a rotation of a subset).
    const row: Record<string, unknown> = { name: 'eth0' };
    const picked = cols.filter((_, i) => ((k * 7) >> i) & 1);
    for (let j = 0; j < picked.length; j++) row[picked[(j + k) % picked.length]!] = 1;
    m['net'] = [row];
    if (agree(bodyOf(m), `combination ${k}`)) checked++;
  }
  assert.equal(checked, 699, 'every one took the fast path and matched the general path');
  assert.ok(compiledMakers() - before <= 2 * 256, `compiled ${compiledMakers() - before} makers for 699 samples and their rows`);
  // Past the bound, shapes never seen compile at most once a second (the oldest maker gives way).
  const others = READINGS.slice(10, 20).map((r) => r.name);
  const fresh = (k: number): Record<string, unknown> => {
    const m: Record<string, unknown> = { ...MINIMAL, seq: k };
    others.forEach((n, i) => { if ((k >> i) & 1) m[n] = 1; });
    return m;
  };
  const atBound = compiledMakers();
  const t0 = Date.now();
  for (let k = 1; k < 300; k++) assert.equal(agree(bodyOf(fresh(k)), `fresh ${k}`), true);
  const seconds = Math.ceil((Date.now() - t0) / 1000);
  assert.ok(compiledMakers() - atBound <= 1 + seconds, `${compiledMakers() - atBound} compiles in ${seconds} s`);
  // A second on, the next new shape is compiled, once, and kept: the fleet's own shapes come back.
  await new Promise((r) => setTimeout(r, 1100));
  const before2 = compiledMakers();
  agree(bodyOf(fresh(700)), 'after a second');
  agree(bodyOf(fresh(700)), 'the same again');
  assert.equal(compiledMakers() - before2, 1);
});
