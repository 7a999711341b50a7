import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES, ProtocolError } from '../../shared/errors.ts';
import { MAX_HOST_BYTES, normaliseHostName, parseFacts, parseHello, parseSample, PROTO_VERSION, READINGS, TABLES } from '../../shared/protocol.ts';

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
  ['host "." (a URL path cannot name it)', { ...HELLO, host: '.' }, ERROR_CODES.PROTO_BAD_FIELD],
  ['host ".."', { ...HELLO, host: '..' }, ERROR_CODES.PROTO_BAD_FIELD],
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

// ---- Tables, facts and the hello's ts ---------------------------------------------------------

/** One valid row of every table (maps for the row tables, numbers for the per-core lists). */
const VALID_TABLES = {
  cpu_cores_pct: [0, 12.5, 100],
  temp_cores_c: [-10.5, 45, 99.9],
  fs: [{ mount: '/', type: 'ext4', size_bytes: 1000, used_bytes: 400, free_bytes: 600 }, { mount: '/mnt/données' }],
  net: [{ name: 'eth0', rx_bps: 1.5, tx_bps: 2, rx_pps: 3, tx_pps: 4, rx_errs_ps: 0, tx_errs_ps: 0, rx_drops_ps: 0, tx_drops_ps: 0 }],
  gpu: [{ model: 'NVIDIA A100', util_pct: 99, mem_used_bytes: 10, mem_total_bytes: 80, temp_c: 70, power_w: 300 }],
  procs_top: [{ name: 'node', pid: 1234, cpu_pct: 250 }],
  power_zones: [{ zone: 'package-0', watts: 35.5 }, { zone: 'package-0/dram', watts: 0 }],
};

test('valid tables pass unchanged; unknown columns are dropped; an empty table is kept', () => {
  const s = parseSample({ ...SAMPLE, ...VALID_TABLES, net: [{ ...VALID_TABLES.net[0], future_col: 'x' }], gpu: [] });
  assert.deepEqual(s.cpu_cores_pct, VALID_TABLES.cpu_cores_pct);
  assert.deepEqual(s.temp_cores_c, VALID_TABLES.temp_cores_c);
  assert.deepEqual(s.fs, VALID_TABLES.fs);
  assert.deepEqual(s.net, VALID_TABLES.net, 'the unknown column is left out');
  assert.deepEqual(s.gpu, []);
  assert.deepEqual(s.procs_top, VALID_TABLES.procs_top);
  assert.deepEqual(s.power_zones, VALID_TABLES.power_zones);
  const nulls = parseSample({ ...SAMPLE, fs: null, net: [{ name: 'lo0', rx_bps: null }] });
  assert.equal(nulls.fs, undefined, 'a null table is absent');
  assert.deepEqual(nulls.net, [{ name: 'lo0' }], 'a null cell is absent');
});

test('tables of exactly their maximum rows pass', () => {
  for (const t of TABLES) {
    const one = (VALID_TABLES as Record<string, unknown[]>)[t.name]![0];
    assert.equal((parseSample({ ...SAMPLE, [t.name]: Array.from({ length: t.maxRows }, () => one) }) as unknown as Record<string, unknown[]>)[t.name]!.length, t.maxRows, t.name);
  }
});

/** The text column that names a row of each row table. */
const NAME_COLUMN: Record<string, string> = { fs: 'mount', net: 'name', gpu: 'model', procs_top: 'name', power_zones: 'zone' };

const BAD_TABLES: Array<[string, Record<string, unknown>]> = TABLES.flatMap((t) => {
  const one = (VALID_TABLES as Record<string, unknown[]>)[t.name]![0];
  const cases: Array<[string, Record<string, unknown>]> = [
    [`${t.name} not an array (a map)`, { [t.name]: { 0: one } }],
    [`${t.name} not an array (a string)`, { [t.name]: 'rows' }],
    [`${t.name} not an array (a number)`, { [t.name]: 3 }],
    [`${t.name} with ${t.maxRows + 1} rows (max ${t.maxRows})`, { [t.name]: Array.from({ length: t.maxRows + 1 }, () => one) }],
  ];
  if (t.columns.length === 1) {
    cases.push(
      [`${t.name} row a string`, { [t.name]: ['12'] }],
      [`${t.name} row null`, { [t.name]: [1, null] }],
      [`${t.name} row NaN`, { [t.name]: [Number.NaN] }],
      [`${t.name} row a map`, { [t.name]: [{ pct: 1 }] }],
    );
    cases.push(t.columns[0]!.kind === 'celsius'
      ? [`${t.name} row below absolute zero`, { [t.name]: [-274] }]
      : [`${t.name} row above 100 %`, { [t.name]: [100.5] }]);
    return cases;
  }
  const nameCol = NAME_COLUMN[t.name]!;
  const row = one as Record<string, unknown>;
  const numCol = t.columns.find((c) => c.kind !== 'text')!;
  const textCols = t.columns.filter((c) => c.kind === 'text') as ReadonlyArray<{ name: string; maxBytes?: number }>;
  cases.push(
    [`${t.name} row a number`, { [t.name]: [1] }],
    [`${t.name} row an array`, { [t.name]: [[row[nameCol]]] }],
    [`${t.name} row null`, { [t.name]: [null] }],
    [`${t.name} row without its ${nameCol}`, { [t.name]: [{ ...row, [nameCol]: undefined }] }],
    [`${t.name} ${numCol.name} a string`, { [t.name]: [{ ...row, [numCol.name]: '5' }] }],
    [`${t.name} ${numCol.name} negative`, { [t.name]: [{ ...row, [numCol.name]: -1 }] }],
    [`${t.name} ${numCol.name} Infinity`, { [t.name]: [{ ...row, [numCol.name]: Number.POSITIVE_INFINITY }] }],
  );
  for (const c of textCols) {
    cases.push(
      [`${t.name} ${c.name} a number`, { [t.name]: [{ ...row, [c.name]: 42 }] }],
      [`${t.name} ${c.name} a map`, { [t.name]: [{ ...row, [c.name]: { toString: 'x' } }] }],
      [`${t.name} ${c.name} ${c.maxBytes! + 1} bytes (max ${c.maxBytes})`, { [t.name]: [{ ...row, [c.name]: 'x'.repeat(c.maxBytes! + 1) }] }],
      [`${t.name} ${c.name} over ${c.maxBytes} bytes in two-byte characters`, { [t.name]: [{ ...row, [c.name]: 'é'.repeat(Math.floor(c.maxBytes! / 2) + 1) }] }],
    );
  }
  return cases;
});
BAD_TABLES.push(
  ['fs used_bytes fractional', { fs: [{ mount: '/', used_bytes: 1.5 }] }],
  ['gpu util_pct above 100', { gpu: [{ model: 'g', util_pct: 101 }] }],
  ['gpu temp_c below absolute zero', { gpu: [{ model: 'g', temp_c: -300 }] }],
  ['procs_top pid fractional', { procs_top: [{ name: 'p', pid: 1.5 }] }],
  ['a bad row after good ones is found', { net: [{ name: 'a' }, { name: 'b' }, { name: 'c', rx_bps: -1 }] }],
);
for (const [name, fields] of BAD_TABLES) {
  test(`table refused: ${name}`, () => assert.equal(code(() => parseSample({ ...SAMPLE, ...fields })), ERROR_CODES.PROTO_BAD_FIELD));
}

test('a table refusal names the table, the row and the column', () => {
  try {
    parseSample({ ...SAMPLE, net: [{ name: 'a' }, { name: 'b', tx_pps: 'many' }] });
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.field, 'net[1].tx_pps');
  }
});

const UNSAFE_IN_CELLS: Array<[string, string, string]> = [
  ['right-to-left override', 'abc\u202Egpj.exe', 'abc\uFFFDgpj.exe'],
  ['NUL', 'a\u0000b', 'a\uFFFDb'],
  ['newline and ANSI escape', 'x\n\u001b[31mred', 'x\uFFFD\uFFFD[31mred'],
  ['zero-width space and BOM', '\u200bname\ufeff', '\uFFFDname\uFFFD'],
  ['line separator', 'a\u2028b', 'a\uFFFDb'],
  ['tag character (astral)', 'x\u{e0041}', 'x\uFFFD'],
];

test('unsafe characters in text cells become U+FFFD; safe text (markup, accents, emoji) is kept', async (t) => {
  for (const [name, raw, clean] of UNSAFE_IN_CELLS) {
    await t.test(name, () => {
      const s = parseSample({ ...SAMPLE, fs: [{ mount: raw, type: raw }], procs_top: [{ name: raw }], net: [{ name: raw }], gpu: [{ model: raw }] });
      assert.deepEqual(s.fs, [{ mount: clean, type: clean }]);
      assert.deepEqual(s.procs_top, [{ name: clean }]);
      assert.deepEqual(s.net, [{ name: clean }]);
      assert.deepEqual(s.gpu, [{ model: clean }]);
    });
  }
  const safe = '<b>Ünïcödé 😀 & "q"</b>';
  assert.deepEqual(parseSample({ ...SAMPLE, procs_top: [{ name: safe }] }).procs_top, [{ name: safe }]);
});

test('unsafe characters in the hello\'s and a facts message\'s text, and in missing reasons and names, become U+FFFD too', async (t) => {
  for (const [name, raw, clean] of UNSAFE_IN_CELLS) {
    await t.test(name, () => {
      // Every case fits arch's 16 bytes.
      const facts = { os: raw, kernel: raw, arch: raw, cpu_model: raw };
      const cleanFacts = { os: clean, kernel: clean, arch: clean, cpu_model: clean };
      const h = parseHello({ ...HELLO, agent: raw, ...facts });
      assert.deepEqual([h.agent, h.os, h.kernel, h.arch, h.cpu_model], [clean, clean, clean, clean, clean]);
      assert.deepEqual(parseFacts({ type: 'facts', ...facts }), { type: 'facts', ...cleanFacts });
      assert.deepEqual(parseSample({ ...SAMPLE, missing: { [`gpu${raw}`]: raw } }).missing, { [`gpu${clean}`]: clean });
    });
  }
});

test('a valid facts message passes, with only the fields it carries; unknown fields ignored', () => {
  assert.deepEqual(parseFacts({ type: 'facts' }), { type: 'facts' });
  assert.deepEqual(
    parseFacts({ type: 'facts', os: 'Debian 13', kernel: '6.12', arch: 'arm64', cpu_model: 'Neoverse', cpu_cores: 64, host: 'other', extra: 1 }),
    { type: 'facts', os: 'Debian 13', kernel: '6.12', arch: 'arm64', cpu_model: 'Neoverse', cpu_cores: 64 },
  );
  assert.deepEqual(parseFacts({ type: 'facts', os: null, cpu_cores: 2 }), { type: 'facts', cpu_cores: 2 });
});

const BAD_FACTS: Array<[string, Record<string, unknown>]> = [
  ['os a number', { os: 12 }],
  ['os too long', { os: 'x'.repeat(65) }],
  ['kernel too long', { kernel: 'x'.repeat(65) }],
  ['arch too long', { arch: 'x'.repeat(17) }],
  ['cpu_model too long', { cpu_model: 'x'.repeat(97) }],
  ['cpu_model an array', { cpu_model: ['x'] }],
  ['cpu_cores 0', { cpu_cores: 0 }],
  ['cpu_cores fractional', { cpu_cores: 2.5 }],
  ['cpu_cores above the maximum', { cpu_cores: 65_537 }],
  ['cpu_cores a string', { cpu_cores: '8' }],
];
for (const [name, fields] of BAD_FACTS) {
  test(`facts refused: ${name}`, () => assert.equal(code(() => parseFacts({ type: 'facts', ...fields })), ERROR_CODES.PROTO_BAD_FIELD));
}

test('hello ts: a positive time is kept; absent or null is no ts', () => {
  assert.equal(parseHello({ ...HELLO, ts: 1_750_000_000_123 }).ts, 1_750_000_000_123);
  assert.equal(parseHello({ ...HELLO, ts: 0.5 }).ts, 0.5);
  assert.equal(parseHello({ ...HELLO, ts: Number.MAX_SAFE_INTEGER }).ts, Number.MAX_SAFE_INTEGER);
  assert.equal('ts' in parseHello({ ...HELLO }), false);
  assert.equal('ts' in parseHello({ ...HELLO, ts: null }), false);
});

const BAD_HELLO_TS: Array<[string, unknown]> = [
  ['negative', -1], ['zero', 0], ['NaN', Number.NaN], ['the string "NaN"', 'NaN'], ['a numeric string', '1750000000000'],
  ['Infinity', Number.POSITIVE_INFINITY], ['2^53', 2 ** 53], ['above 2^53', 2 ** 60], ['a boolean', true], ['an array', [1]],
];
for (const [name, ts] of BAD_HELLO_TS) {
  test(`hello refused: ts ${name}`, () => {
    try {
      parseHello({ ...HELLO, ts });
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof ProtocolError, String(err));
      assert.equal(err.code, ERROR_CODES.PROTO_BAD_FIELD);
      assert.equal(err.field, 'ts');
    }
  });
}

// ---- power_source ------------------------------------------------------------------------------

test('power_source travels with power_w: measured or estimated, dropped without power_w', () => {
  assert.equal(parseSample({ ...SAMPLE, power_w: 42.5, power_source: 'measured' }).power_source, 'measured');
  assert.equal(parseSample({ ...SAMPLE, power_w: 7, power_source: 'estimated' }).power_source, 'estimated');
  const alone = parseSample({ ...SAMPLE, power_w: undefined, power_source: 'measured' });
  assert.equal(alone.power_source, undefined, 'a source without power_w says nothing');
  assert.equal(parseSample({ ...SAMPLE, power_w: 7 }).power_source, undefined, 'a power_w without a source is not given one');
  assert.equal(parseSample({ ...SAMPLE, power_w: 7, power_source: null }).power_source, undefined);
});

test('power_source other than measured or estimated is refused and named', () => {
  for (const bad of ['Measured', 'guessed', '', 1, true, ['measured'], { toString: 'measured' }]) {
    assert.throws(() => parseSample({ ...SAMPLE, power_w: 7, power_source: bad }), (err: unknown) => {
      assert.ok(err instanceof ProtocolError, String(err));
      assert.equal(err.code, ERROR_CODES.PROTO_BAD_FIELD);
      assert.match(err.message, /^power_source: must be one of measured, estimated/);
      return true;
    }, JSON.stringify(bad));
  }
});
