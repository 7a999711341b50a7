import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkLabelName, checkMetricName, escapeHelp, escapeLabelValue, familyHeader, formatValue, PROM_CONTENT_TYPE, PromWriter,
} from '../../dashboard/prom_text.ts';
import { seededRandom } from '../helpers/hex.ts';
import { parseProm, promtoolCheck, promtoolOrSkip } from '../helpers/prom_parse.ts';

/** Label values an agent could send, each with its escaped form (written out by hand). */
const HOSTILE_VALUES: ReadonlyArray<{ name: string; raw: string; escaped: string }> = [
  { name: 'plain', raw: 'web-01.example.org', escaped: 'web-01.example.org' },
  { name: 'empty', raw: '', escaped: '' },
  { name: 'quote, backslash, line feed', raw: 'a"b\\c\nd', escaped: 'a\\"b\\\\c\\nd' },
  { name: 'a name that closes the labels and starts a metric', raw: 'x"} 1\nevil_metric 1', escaped: 'x\\"} 1\\nevil_metric 1' },
  { name: 'backslash then n, not a line feed', raw: 'C:\\new', escaped: 'C:\\\\new' },
  { name: 'trailing backslash would eat the closing quote', raw: 'x\\', escaped: 'x\\\\' },
  { name: 'escaped quote already', raw: '\\"', escaped: '\\\\\\"' },
  { name: 'braces, equals, commas', raw: '}{a="b",c=d}', escaped: '}{a=\\"b\\",c=d}' },
  { name: 'only line feeds', raw: '\n\n', escaped: '\\n\\n' },
  { name: 'CR and CRLF stay raw (the format splits on LF only)', raw: 'a\rb\r\nc', escaped: 'a\rb\r\\nc' },
  { name: 'NUL, tab, DEL, C1 NEL', raw: 'a\u0000b\tc\u007fd\u0085e', escaped: 'a\u0000b\tc\u007fd\u0085e' },
  { name: 'line and paragraph separators', raw: 'a\u2028b\u2029c', escaped: 'a\u2028b\u2029c' },
  { name: 'zero-width and bidi controls', raw: 'ad\u200bmin\u202egnp.exe\ufeff', escaped: 'ad\u200bmin\u202egnp.exe\ufeff' },
  { name: 'non-ASCII', raw: 'Überwachung-東京-🖥️', escaped: 'Überwachung-東京-🖥️' },
  { name: 'a comment line', raw: '\n# TYPE evil_metric counter\nevil_metric 1\n', escaped: '\\n# TYPE evil_metric counter\\nevil_metric 1\\n' },
  { name: 'markup', raw: '<img src=x onerror=alert(1)>', escaped: '<img src=x onerror=alert(1)>' },
];

test('prom_text: escapeLabelValue', async (t) => {
  for (const c of HOSTILE_VALUES) {
    await t.test(c.name, () => {
      const got = escapeLabelValue(c.raw);
      assert.equal(got, c.escaped);
      // What keeps a value inside its quotes: no raw line feed, and every quote escaped.
      assert.ok(!got.includes('\n'));
      assert.doesNotMatch(got, /(^|[^\\])(\\\\)*"/);
    });
  }
});

test('prom_text: escapeHelp escapes backslash and line feed only', () => {
  const CASES: ReadonlyArray<[string, string]> = [
    ['plain text', 'plain text'],
    ['a\\b', 'a\\\\b'],
    ['line\nbreak', 'line\\nbreak'],
    ['"quoted" stays', '"quoted" stays'],
    ['\\n literal', '\\\\n literal'],
  ];
  for (const [raw, escaped] of CASES) assert.equal(escapeHelp(raw), escaped, JSON.stringify(raw));
});

test('prom_text: metric and label names', async (t) => {
  const CASES: ReadonlyArray<{ name: string; metric: boolean; label: boolean }> = [
    { name: 'up', metric: true, label: true },
    { name: 'sentinel_host_up', metric: true, label: true },
    { name: '_leading_underscore', metric: true, label: true },
    { name: 'job:rate5m', metric: true, label: false },
    { name: ':colon_first', metric: true, label: false },
    { name: 'A9', metric: true, label: true },
    { name: '__name__', metric: false, label: false },
    { name: '__reserved', metric: false, label: false },
    { name: '', metric: false, label: false },
    { name: '9lives', metric: false, label: false },
    { name: 'with-dash', metric: false, label: false },
    { name: 'with space', metric: false, label: false },
    { name: 'with.dot', metric: false, label: false },
    { name: 'ünicode', metric: false, label: false },
    { name: 'up\n', metric: false, label: false },
    { name: 'up{a="b"}', metric: false, label: false },
  ];
  for (const c of CASES) {
    await t.test(JSON.stringify(c.name), () => {
      if (c.metric) checkMetricName(c.name);
      else assert.throws(() => checkMetricName(c.name), TypeError);
      if (c.label) checkLabelName(c.name);
      else assert.throws(() => checkLabelName(c.name), TypeError);
    });
  }
});

test('prom_text: formatValue', async (t) => {
  const CASES: ReadonlyArray<[number, string]> = [
    [0, '0'], [-0, '-0'], [1, '1'], [-1, '-1'], [42.5, '42.5'], [0.1, '0.1'], [1 / 3, '0.3333333333333333'],
    [NaN, 'NaN'], [Infinity, '+Inf'], [-Infinity, '-Inf'],
    [8 * 1024 ** 3, '8589934592'], [Number.MAX_SAFE_INTEGER, '9007199254740991'], [-Number.MAX_SAFE_INTEGER, '-9007199254740991'],
    [2 ** 53, '9007199254740992'], [1e20, '100000000000000000000'], [1e21, '1e+21'],
    [1.5e-7, '1.5e-7'], [Number.MAX_VALUE, '1.7976931348623157e+308'], [Number.MIN_VALUE, '5e-324'],
  ];
  for (const [v, want] of CASES) {
    await t.test(want, () => assert.equal(formatValue(v), want));
  }
  await t.test('safe integers never have an exponent', () => {
    for (const v of [1e15, 123456789012345, 2 ** 52 + 1, -(2 ** 50)]) assert.match(formatValue(v), /^-?\d+$/);
  });
  await t.test('seeded random doubles (seed 7): every finite value reads back exactly', () => {
    const rand = seededRandom(7);
    const view = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 5000; i++) {
      view.setUint32(0, (rand() * 2 ** 32) >>> 0);
      view.setUint32(4, (rand() * 2 ** 32) >>> 0);
      const v = view.getFloat64(0);
      const s = formatValue(v);
      if (Number.isNaN(v)) assert.equal(s, 'NaN');
      else if (!Number.isFinite(v)) assert.equal(s, v > 0 ? '+Inf' : '-Inf');
      else assert.ok(Object.is(Number(s), v), `${v} -> ${s}`);
    }
  });
  await t.test('not a number is a TypeError', () => {
    assert.throws(() => formatValue('1' as unknown as number), TypeError);
  });
});

test('prom_text: familyHeader is what PromWriter writes before a family\'s samples', () => {
  const CASES: ReadonlyArray<[string, string]> = [['with help', 'Bytes \\ and\nlines.'], ['without help', '']];
  for (const [what, help] of CASES) {
    const w = new PromWriter();
    w.family('x_bytes', 'gauge', help);
    w.sample('x_bytes', {}, 1);
    assert.equal(w.toString(), `${familyHeader('x_bytes', 'gauge', help)}x_bytes 1\n`, what);
  }
  assert.equal(familyHeader('x_total', 'counter', 'a\\b\nc'), '# HELP x_total a\\\\b\\nc\n# TYPE x_total counter\n');
  assert.equal(familyHeader('x', 'untyped', ''), '# TYPE x untyped\n');
});

test('prom_text: PROM_CONTENT_TYPE', () => {
  assert.equal(PROM_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
});

test('prom_text: a small answer, exactly', () => {
  const w = new PromWriter();
  w.family('demo_up', 'gauge', 'Whether it is up.\nSecond line with a \\ backslash.');
  w.family('demo_requests_total', 'counter', 'Requests.');
  w.family('demo_unused', 'gauge', 'Never sampled, so never written.');
  // Interleaved calls still come out one family at a time, families in declaration order.
  w.sample('demo_requests_total', { host: 'a', code: '200' }, 3);
  w.sample('demo_up', { host: 'a' }, 1);
  w.sample('demo_requests_total', { host: 'b', code: '500' }, 1e21);
  w.sample('demo_up', { host: 'b"' }, 0, 1_700_000_000_000);
  w.sample('demo_up', {}, NaN);
  assert.equal(w.toString(), [
    '# HELP demo_up Whether it is up.\\nSecond line with a \\\\ backslash.',
    '# TYPE demo_up gauge',
    'demo_up{host="a"} 1',
    'demo_up{host="b\\""} 0 1700000000000',
    'demo_up NaN',
    '# HELP demo_requests_total Requests.',
    '# TYPE demo_requests_total counter',
    'demo_requests_total{host="a",code="200"} 3',
    'demo_requests_total{host="b",code="500"} 1e+21',
    '',
  ].join('\n'));
  assert.equal(new PromWriter().toString(), '');
});

test('prom_text: hostile label values stay inside their quotes and read back unchanged', async (t) => {
  const w = new PromWriter();
  w.family('sentinel_test_up', 'gauge', 'Test.');
  w.family('sentinel_test_info', 'gauge', 'Test info.');
  HOSTILE_VALUES.forEach((c, i) => {
    w.sample('sentinel_test_up', { host: c.raw, i: String(i) }, 1);
    w.sample('sentinel_test_info', { i: String(i), host: c.raw, os: c.raw }, 1);
  });
  const text = w.toString();
  // What travels is UTF-8 bytes; read back from those, as a scraper does.
  const parsed = parseProm(Buffer.from(text, 'utf8').toString('utf8'));
  assert.equal(parsed.lineCount, 4 + 2 * HOSTILE_VALUES.length, 'one line per sample plus HELP and TYPE per family');
  assert.equal(parsed.samples.length, 2 * HOSTILE_VALUES.length);
  assert.deepEqual([...parsed.families.keys()], ['sentinel_test_up', 'sentinel_test_info']);
  assert.ok(!parsed.families.has('evil_metric'));
  for (const [i, c] of HOSTILE_VALUES.entries()) {
    await t.test(c.name, () => {
      const up = parsed.families.get('sentinel_test_up')!.samples[i]!;
      assert.deepEqual(up.labels, { host: c.raw, i: String(i) });
      assert.deepEqual(up.labelNames, ['host', 'i']);
      assert.equal(up.value, 1);
      const info = parsed.families.get('sentinel_test_info')!.samples[i]!;
      assert.deepEqual(info.labels, { i: String(i), host: c.raw, os: c.raw });
    });
  }
  await t.test('promtool agrees (required under CI)', (tt) => {
    const promtool = promtoolOrSkip(tt);
    if (!promtool) return;
    const r = promtoolCheck(promtool, text);
    assert.equal(r.status, 0, r.output);
  });
});

test('prom_text: seeded random label values (seed 20261122) round-trip', () => {
  const rand = seededRandom(20261122);
  const ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\r', '\t', '{', '}', '=', ',', '#', 'n', '\u0000', '\u2028', 'é', '東', '😀', '\u200b'];
  const values: string[] = [];
  for (let i = 0; i < 300; i++) {
    let s = '';
    const len = Math.floor(rand() * 24);
    for (let j = 0; j < len; j++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
    values.push(s);
  }
  const w = new PromWriter();
  w.family('fuzz_value', 'gauge', 'Fuzz.');
  values.forEach((v, i) => w.sample('fuzz_value', { n: String(i), v }, i));
  const parsed = parseProm(Buffer.from(w.toString(), 'utf8').toString('utf8'));
  assert.equal(parsed.samples.length, values.length);
  parsed.samples.forEach((s, i) => {
    assert.equal(s.labels['v'], values[i], `value ${i}: ${JSON.stringify(values[i])}`);
    assert.equal(s.value, i);
  });
});

test('prom_text: histogram and summary sample names', () => {
  const w = new PromWriter();
  w.family('req_duration_seconds', 'histogram', 'Request time.');
  w.family('rpc_seconds', 'summary', 'RPC time.');
  w.sample('req_duration_seconds_bucket', { le: '0.1' }, 1);
  w.sample('req_duration_seconds_bucket', { le: '+Inf' }, 2);
  w.sample('req_duration_seconds_sum', {}, 0.3);
  w.sample('req_duration_seconds_count', {}, 2);
  w.sample('rpc_seconds', { quantile: '0.5' }, 0.01);
  w.sample('rpc_seconds_count', {}, 4);
  assert.throws(() => w.sample('req_duration_seconds', {}, 1), TypeError, 'a histogram has no plain sample');
  const parsed = parseProm(w.toString());
  assert.equal(parsed.families.get('req_duration_seconds')!.samples.length, 4);
  assert.equal(parsed.families.get('rpc_seconds')!.samples.length, 2);
});

test('prom_text: programmer mistakes throw', async (t) => {
  const CASES: ReadonlyArray<{ name: string; run: (w: PromWriter) => void; error: typeof TypeError | typeof RangeError }> = [
    { name: 'sample of an undeclared family', run: (w) => w.sample('nope', {}, 1), error: TypeError },
    { name: 'family declared twice', run: (w) => w.family('g', 'counter', 'again'), error: TypeError },
    { name: 'family taking a summary sample name', run: (w) => { w.family('s', 'summary', 'S.'); w.family('s_count', 'gauge', 'C.'); }, error: TypeError },
    { name: 'summary whose sample name is taken', run: (w) => { w.family('t_sum', 'gauge', 'S.'); w.family('t', 'summary', 'T.'); }, error: TypeError },
    { name: 'bad metric name', run: (w) => w.family('bad-name', 'gauge', 'B.'), error: TypeError },
    { name: 'reserved metric name', run: (w) => w.family('__x', 'gauge', 'B.'), error: TypeError },
    { name: 'unknown type', run: (w) => w.family('u', 'enum' as 'gauge', 'U.'), error: TypeError },
    { name: 'bad label name', run: (w) => w.sample('g', { 'a-b': 'x' }, 1), error: TypeError },
    { name: 'reserved label name', run: (w) => w.sample('g', { __name__: 'x' }, 1), error: TypeError },
    { name: 'label value not a string', run: (w) => w.sample('g', { a: 1 as unknown as string }, 1), error: TypeError },
    { name: 'one series twice, labels in another order', run: (w) => { w.sample('g', { a: '1', b: '2' }, 1); w.sample('g', { b: '2', a: '1' }, 2); }, error: TypeError },
    { name: 'fractional timestamp', run: (w) => w.sample('g', {}, 1, 1.5), error: RangeError },
    { name: 'NaN timestamp', run: (w) => w.sample('g', {}, 1, NaN), error: RangeError },
  ];
  for (const c of CASES) {
    await t.test(c.name, () => {
      const w = new PromWriter();
      w.family('g', 'gauge', 'G.');
      assert.throws(() => c.run(w), c.error);
    });
  }
});
