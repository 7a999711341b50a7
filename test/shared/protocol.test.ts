import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES, ProtocolError } from '../../shared/errors.ts';
import { MAX_HOST_BYTES, normaliseHostName, parseHello, parseSample, PROTO_VERSION, READINGS } from '../../shared/protocol.ts';

const HELLO = { type: 'hello', proto: PROTO_VERSION, host: 'web-1', agent: '0.1.0', token: 't0k3n', interval_ms: 1000 };
const SAMPLE = {
  type: 'sample', seq: 1, ts: 1795339419000, cpu_pct: 12.5, load_1m: 0.2, load_5m: 0.1, load_15m: 0,
  mem_total_bytes: 1000, mem_used_bytes: 400, mem_available_bytes: 600, swap_total_bytes: 10, swap_used_bytes: 0, uptime_s: 5,
};

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
    return err.code;
  }
  return undefined;
}

test('a valid hello passes, with optional static facts kept and interval defaulted', () => {
  const { interval_ms: _drop, ...noInterval } = HELLO;
  assert.equal(parseHello(noInterval).interval_ms, 1000);
  const h = parseHello({ ...HELLO, os: 'Debian 12', kernel: '6.1', arch: 'x64', cpu_model: 'EPYC', cpu_cores: 2, extra: 'ignored' });
  assert.deepEqual(h, { ...HELLO, os: 'Debian 12', kernel: '6.1', arch: 'x64', cpu_model: 'EPYC', cpu_cores: 2 });
});

const BAD_HELLOS: Array<[string, Record<string, unknown>, string]> = [
  ['a sample first', { ...SAMPLE }, ERROR_CODES.PROTO_UNEXPECTED],
  ['no type', { ...HELLO, type: undefined }, ERROR_CODES.PROTO_BAD_FIELD],
  ['type is a number', { ...HELLO, type: 7 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['protocol 2', { ...HELLO, proto: 2 }, ERROR_CODES.PROTO_VERSION],
  ['protocol as a string', { ...HELLO, proto: '1' }, ERROR_CODES.PROTO_VERSION],
  ['no host', { ...HELLO, host: undefined }, ERROR_CODES.PROTO_BAD_FIELD],
  ['empty host', { ...HELLO, host: '' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host too long', { ...HELLO, host: 'a'.repeat(MAX_HOST_BYTES + 1) }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with a newline', { ...HELLO, host: 'web\n1' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with an ANSI escape', { ...HELLO, host: '\u001b[31mred' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with NUL', { ...HELLO, host: 'a\u0000b' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with a right-to-left override', { ...HELLO, host: 'abc\u202Egpj.exe' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with a zero-width space', { ...HELLO, host: 'vm\u200b' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with an Arabic letter mark (bidi)', { ...HELLO, host: 'web1\u061c' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with a combining grapheme joiner', { ...HELLO, host: 'web\u034f1' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with a variation selector', { ...HELLO, host: 'web1\ufe0f' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with a tag character', { ...HELLO, host: 'web1\u{e0041}' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with a Hangul filler', { ...HELLO, host: 'web\u31641' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with a soft hyphen', { ...HELLO, host: 'v\u00adm' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with a word joiner', { ...HELLO, host: 'v\u2060m' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host with trailing space', { ...HELLO, host: 'web ' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host as an array', { ...HELLO, host: ['web'] }, ERROR_CODES.PROTO_BAD_FIELD],
  ['no token', { ...HELLO, token: undefined }, ERROR_CODES.PROTO_BAD_FIELD],
  ['token too long', { ...HELLO, token: 'x'.repeat(257) }, ERROR_CODES.PROTO_BAD_FIELD],
  ['no agent version', { ...HELLO, agent: undefined }, ERROR_CODES.PROTO_BAD_FIELD],
  ['interval 0', { ...HELLO, interval_ms: 0 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['interval NaN', { ...HELLO, interval_ms: Number.NaN }, ERROR_CODES.PROTO_BAD_FIELD],
  ['cores 0', { ...HELLO, cpu_cores: 0 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['os too long', { ...HELLO, os: 'x'.repeat(65) }, ERROR_CODES.PROTO_BAD_FIELD],
];
for (const [name, msg, expected] of BAD_HELLOS) {
  test(`hello refused: ${name} -> ${expected}`, () => assert.equal(code(() => parseHello(msg)), expected));
}

test('host names: markup is allowed (escaped where shown), NFC applied, case kept', () => {
  assert.equal(normaliseHostName('<img src=x onerror=alert(1)>'), '<img src=x onerror=alert(1)>');
  assert.equal(normaliseHostName('cafe\u0301'), 'caf\u00e9');
  assert.notEqual(normaliseHostName('Web1'), normaliseHostName('web1'));
  assert.equal(normaliseHostName('ü'.repeat(126)).length, 126); // 252 bytes: fits
  assert.equal(code(() => normaliseHostName('ü'.repeat(127))), ERROR_CODES.PROTO_BAD_FIELD); // 254 bytes
});

test('a valid sample passes; unknown fields are ignored; missing readings are allowed', () => {
  const s = parseSample({ ...SAMPLE, future_field: [1, 2, 3], missing: { gpu: 'no GPU' } });
  assert.equal(s.cpu_pct, 12.5);
  assert.equal((s as unknown as Record<string, unknown>)['future_field'], undefined);
  assert.deepEqual(s.missing, { gpu: 'no GPU' });
  assert.deepEqual(parseSample({ type: 'sample', seq: 3, ts: 1 }), { type: 'sample', seq: 3, ts: 1 });
});

test('every reading in READINGS is validated when present', () => {
  for (const r of READINGS) {
    assert.equal(code(() => parseSample({ ...SAMPLE, [r.name]: r.kind === 'celsius' ? -274 : -1 })), ERROR_CODES.PROTO_BAD_FIELD, r.name);
    assert.equal(code(() => parseSample({ ...SAMPLE, [r.name]: 'x' })), ERROR_CODES.PROTO_BAD_FIELD, r.name);
  }
});

const BAD_SAMPLES: Array<[string, Record<string, unknown>, string]> = [
  ['seq 0', { ...SAMPLE, seq: 0 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['seq missing', { ...SAMPLE, seq: undefined }, ERROR_CODES.PROTO_BAD_FIELD],
  ['seq fractional', { ...SAMPLE, seq: 1.5 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['ts missing', { ...SAMPLE, ts: undefined }, ERROR_CODES.PROTO_BAD_FIELD],
  ['ts Infinity', { ...SAMPLE, ts: Number.POSITIVE_INFINITY }, ERROR_CODES.PROTO_BAD_FIELD],
  ['cpu NaN', { ...SAMPLE, cpu_pct: Number.NaN }, ERROR_CODES.PROTO_BAD_FIELD],
  ['cpu 100.1', { ...SAMPLE, cpu_pct: 100.1 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['cpu -0.1', { ...SAMPLE, cpu_pct: -0.1 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['load -Infinity', { ...SAMPLE, load_1m: Number.NEGATIVE_INFINITY }, ERROR_CODES.PROTO_BAD_FIELD],
  ['negative bytes', { ...SAMPLE, mem_total_bytes: -5 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['fractional bytes', { ...SAMPLE, mem_total_bytes: 1000.5 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['bytes above 2^53', { ...SAMPLE, mem_total_bytes: 2 ** 54, mem_used_bytes: 1, mem_available_bytes: 1 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['used above total', { ...SAMPLE, mem_used_bytes: 1001 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['available above total', { ...SAMPLE, mem_available_bytes: 1001 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['swap used above total', { ...SAMPLE, swap_used_bytes: 11 }, ERROR_CODES.PROTO_BAD_FIELD],
  ['bool reading', { ...SAMPLE, uptime_s: true }, ERROR_CODES.PROTO_BAD_FIELD],
  ['missing as an array', { ...SAMPLE, missing: ['cpu_pct'] }, ERROR_CODES.PROTO_BAD_FIELD],
  ['missing reason not text', { ...SAMPLE, missing: { cpu_pct: 1 } }, ERROR_CODES.PROTO_BAD_FIELD],
  ['missing reason too long', { ...SAMPLE, missing: { cpu_pct: 'x'.repeat(201) } }, ERROR_CODES.PROTO_BAD_FIELD],
];
for (const [name, msg, expected] of BAD_SAMPLES) {
  test(`sample refused: ${name} -> ${expected}`, () => assert.equal(code(() => parseSample(msg)), expected));
}

test('a refusal names the field at fault', () => {
  try {
    parseSample({ ...SAMPLE, mem_used_bytes: 2000 });
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.field, 'mem_used_bytes');
  }
});
