/** collector/alert_rules.ts: defaults, the --alerts and --webhooks settings, the values rules test. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ALERT_METRICS, AlertInputsCell, DEFAULT_ALERT_RULES, MAX_ALERT_INSTANCES, MAX_ALERT_RULES, alertInputs, formatAlertRule, formatAlertRules,
  parseAlertRules, parseWebhookUrls, warnThreshold, type AlertRule,
} from '../../collector/alert_rules.ts';
import { ConfigError, ERROR_CODES } from '../../shared/errors.ts';
import { MSG_SAMPLE, parseSample, READINGS, type Sample } from '../../shared/protocol.ts';

const names = (rules: readonly AlertRule[]): string[] => rules.map((r) => r.name);

test('the defaults are exactly those of the contract', () => {
  assert.deepEqual(DEFAULT_ALERT_RULES.map(formatAlertRule), [
    'cpu_high: cpu_pct > 90 for 5m',
    'memory_high: mem_used_pct > 90 for 1m',
    'filesystem_full: fs_used_pct > 90',
    'temperature_high: temp_max_c > 85 for 1m',
    'host_offline: offline_s > 60',
  ]);
  assert.deepEqual(DEFAULT_ALERT_RULES[0], { name: 'cpu_high', metric: 'cpu_pct', op: '>', threshold: 90, forMs: 300_000 });
  assert.ok(Object.isFrozen(DEFAULT_ALERT_RULES) && Object.isFrozen(DEFAULT_ALERT_RULES[0]));
});

test('the metric catalogue: every reading plus the derived ones, each with a unit field', () => {
  const byName = new Map(ALERT_METRICS.map((m) => [m.name, m]));
  for (const r of READINGS) assert.ok(byName.has(r.name), r.name);
  for (const d of ['mem_used_pct', 'swap_used_pct', 'fs_used_pct', 'offline_s']) assert.ok(byName.has(d as never), d);
  assert.equal(ALERT_METRICS.length, READINGS.length + 4);
  const units: Array<[string, string]> = [
    ['cpu_pct', '%'], ['temp_max_c', '°C'], ['net_rx_bps', 'bytes/s'], ['power_w', 'W'], ['mem_total_bytes', 'bytes'],
    ['uptime_s', 's'], ['cpu_freq_mhz', 'MHz'], ['disk_read_iops', 'operations/s'], ['load_1m', ''], ['offline_s', 's'], ['fs_used_pct', '%'],
  ];
  for (const [name, unit] of units) assert.equal(byName.get(name as never)?.unit, unit, name);
  assert.deepEqual(ALERT_METRICS.filter((m) => m.perInstance).map((m) => m.name), ['fs_used_pct']);
});

test('parseAlertRules: changes over the defaults', () => {
  const cases: Array<{ name: string; spec: string; want: string[] }> = [
    { name: 'empty spec keeps the defaults', spec: '', want: DEFAULT_ALERT_RULES.map(formatAlertRule) },
    { name: 'blank specs and a trailing ; are ignored', spec: ' ; ;', want: DEFAULT_ALERT_RULES.map(formatAlertRule) },
    {
      name: 'replace in place, remove, append',
      spec: 'cpu_high: cpu_pct >= 95 for 90s; temperature_high: off; load_high: load_1m > 16 for 10m',
      want: [
        'cpu_high: cpu_pct >= 95 for 90s', 'memory_high: mem_used_pct > 90 for 1m', 'filesystem_full: fs_used_pct > 90',
        'host_offline: offline_s > 60', 'load_high: load_1m > 16 for 10m',
      ],
    },
    { name: 'bare seconds, no spaces around the operator', spec: 'swap: swap_used_pct<=5.5 for 30', want: [...DEFAULT_ALERT_RULES.map(formatAlertRule), 'swap: swap_used_pct <= 5.5 for 30s'] },
    { name: 'hours, negative threshold', spec: 'cold: temp_cpu_c < -10 for 1h', want: [...DEFAULT_ALERT_RULES.map(formatAlertRule), 'cold: temp_cpu_c < -10 for 1h'] },
    { name: 'for 0 means at once', spec: 'cpu_high: cpu_pct > 99 for 0s', want: ['cpu_high: cpu_pct > 99', ...DEFAULT_ALERT_RULES.slice(1).map(formatAlertRule)] },
  ];
  for (const c of cases) assert.deepEqual(parseAlertRules(c.spec).map(formatAlertRule), c.want, c.name);
  const r = parseAlertRules('x: cpu_pct > 1e2 for 1.5m').at(-1)!;
  assert.deepEqual(r, { name: 'x', metric: 'cpu_pct', op: '>', threshold: 100, forMs: 90_000 });
  assert.deepEqual(names(parseAlertRules('a: cpu_pct > 1', [])), ['a'], 'another base');
});

test('parseAlertRules: every bad SPEC is a ConfigError naming it and why', () => {
  const cases: Array<{ name: string; spec: string; why: RegExp }> = [
    { name: 'no colon', spec: 'cpu_high cpu_pct > 90', why: /expected NAME/ },
    { name: 'bad name: upper case', spec: 'CPU: cpu_pct > 90', why: /bad rule name/ },
    { name: 'bad name: digit first', spec: '1cpu: cpu_pct > 90', why: /bad rule name/ },
    { name: 'bad name: too long', spec: `a${'b'.repeat(64)}: cpu_pct > 90`, why: /bad rule name/ },
    { name: 'bad name: empty', spec: ': cpu_pct > 90', why: /bad rule name/ },
    { name: 'unknown metric', spec: 'x: cpu > 90', why: /unknown metric "cpu"/ },
    { name: 'unknown metric, a table', spec: 'x: fs > 90', why: /unknown metric "fs"/ },
    { name: 'bad op =', spec: 'x: cpu_pct = 90', why: /bad operator "="/ },
    { name: 'bad op !=', spec: 'x: cpu_pct != 90', why: /bad operator "!="/ },
    { name: 'bad op >>', spec: 'x: cpu_pct >> 90', why: /bad operator ">>"/ },
    { name: 'no op', spec: 'x: cpu_pct 90', why: /expected METRIC OP THRESHOLD/ },
    { name: 'threshold NaN', spec: 'x: cpu_pct > NaN', why: /not a finite number/ },
    { name: 'threshold Infinity', spec: 'x: cpu_pct > Infinity', why: /not a finite number/ },
    { name: 'threshold overflow', spec: 'x: cpu_pct > 1e999', why: /not a finite number/ },
    { name: 'threshold hex', spec: 'x: cpu_pct > 0x10', why: /not a finite number/ },
    { name: 'threshold missing', spec: 'x: cpu_pct >', why: /expected METRIC OP THRESHOLD/ },
    { name: 'bad duration unit', spec: 'x: cpu_pct > 9 for 5d', why: /bad duration "5d"/ },
    { name: 'negative duration', spec: 'x: cpu_pct > 9 for -5s', why: /bad duration/ },
    { name: 'duration too long', spec: 'x: cpu_pct > 9 for 169h', why: /longer than 7 days/ },
    { name: 'junk after the threshold', spec: 'x: cpu_pct > 9 fr 5m', why: /expected METRIC OP THRESHOLD/ },
    { name: 'duplicate name in one spec', spec: 'x: cpu_pct > 9; x: cpu_pct > 8', why: /rule x is set twice/ },
    { name: 'off then set', spec: 'cpu_high: off; cpu_high: cpu_pct > 8', why: /set twice/ },
    { name: 'off of an unknown rule', spec: 'cpu_hihg: off', why: /no rule cpu_hihg/ },
  ];
  for (const c of cases) {
    assert.throws(() => parseAlertRules(c.spec), (err: unknown) => {
      assert.ok(err instanceof ConfigError, c.name);
      assert.equal(err.code, ERROR_CODES.CONFIG_INVALID, c.name);
      assert.equal(err.setting, 'alerts', c.name);
      assert.match(err.message, c.why, c.name);
      return true;
    }, c.name);
  }
  // The failing SPEC is quoted so the user sees which one.
  assert.throws(() => parseAlertRules('a: cpu_pct > 1; b: nope > 2'), /"b: nope > 2"/);
  assert.throws(() => parseAlertRules('x: cpu > 1', DEFAULT_ALERT_RULES, '--alerts'), (e: unknown) => e instanceof ConfigError && e.setting === '--alerts');
});

test(`parseAlertRules: at most ${MAX_ALERT_RULES} rules`, () => {
  const spec = (n: number): string => Array.from({ length: n }, (_, i) => `r${i}: cpu_pct > ${i}`).join('; ');
  assert.equal(parseAlertRules(spec(MAX_ALERT_RULES - DEFAULT_ALERT_RULES.length)).length, MAX_ALERT_RULES);
  assert.throws(() => parseAlertRules(spec(MAX_ALERT_RULES - DEFAULT_ALERT_RULES.length + 1)), /more than 64 rules/);
  // Removing defaults makes room.
  assert.equal(parseAlertRules(`cpu_high: off; ${spec(MAX_ALERT_RULES - DEFAULT_ALERT_RULES.length + 1)}`).length, MAX_ALERT_RULES);
});

test('formatAlertRule round-trips through parseAlertRules (seeded random rules, seed 6)', () => {
  let seed = 6;
  const rand = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const ops = ['>', '>=', '<', '<='] as const;
  const durations = [0, 1000, 1500, 59_000, 60_000, 90_000, 3_600_000, 5_400_000, 86_400_000];
  for (let i = 0; i < 200; i++) {
    const r: AlertRule = {
      name: `r${i}`, metric: ALERT_METRICS[Math.floor(rand() * ALERT_METRICS.length)]!.name, op: ops[Math.floor(rand() * 4)]!,
      threshold: [0, -3.25, 90, 1e21, 1.5e-7, Math.round(rand() * 1e6) / 100][Math.floor(rand() * 6)]!, forMs: durations[Math.floor(rand() * durations.length)]!,
    };
    assert.deepEqual(parseAlertRules(formatAlertRule(r), []), [r], formatAlertRule(r));
  }
  assert.deepEqual(parseAlertRules(formatAlertRules(DEFAULT_ALERT_RULES), []), [...DEFAULT_ALERT_RULES]);
});

test('warnThreshold: the first rule with > or >= on the metric', () => {
  const rules = parseAlertRules('low: cpu_pct < 5; cpu_high: cpu_pct >= 80; cpu_crit: cpu_pct > 95', []);
  assert.equal(warnThreshold(rules, 'cpu_pct'), 80);
  assert.equal(warnThreshold(rules, 'temp_max_c'), null);
  assert.equal(warnThreshold(DEFAULT_ALERT_RULES, 'fs_used_pct'), 90);
});

test('parseWebhookUrls', () => {
  assert.deepEqual(parseWebhookUrls(''), []);
  assert.deepEqual(parseWebhookUrls('  \n '), []);
  assert.deepEqual(parseWebhookUrls(' http://a.example/hook\thttps://user:pw@b.example:8443/x?token=s \n'), ['http://a.example/hook', 'https://user:pw@b.example:8443/x?token=s']);
  const bad: Array<[string, string, RegExp]> = [
    ['ftp', 'ftp://a.example/', /URL 1 must be http or https/],
    ['file', 'http://ok.example/ file:///etc/passwd', /URL 2 must be http or https/],
    ['not a URL', 'a.example/hook', /URL 1 is not a URL/],
    ['too long', `http://a.example/${'x'.repeat(2048)}`, /longer than 2048/],
    ['too many', Array.from({ length: 17 }, (_, i) => `http://h${i}.example/`).join(' '), /more than 16 URLs/],
    ['twice', 'http://a.example/x http://a.example/x', /URL 2 is listed twice/],
  ];
  for (const [name, text, why] of bad) {
    assert.throws(() => parseWebhookUrls(text), (e: unknown) => e instanceof ConfigError && e.setting === 'webhooks' && why.test(e.message), name);
  }
  assert.equal(parseWebhookUrls(Array.from({ length: 16 }, (_, i) => `http://h${i}.example/`).join(' ')).length, 16);
  // A secret in a bad URL never reaches the message (errors are logged).
  assert.throws(() => parseWebhookUrls('gopher://x.example/?token=SECRET'), (e: unknown) => e instanceof Error && !e.message.includes('SECRET'));
});

const sample = (fields: Partial<Sample>): Sample => ({ type: MSG_SAMPLE, seq: 1, ts: 1, ...fields });

test('alertInputs: readings, derived percentages, one value per filesystem', () => {
  const cases: Array<{ name: string; s: Sample; values: Record<string, number | null>; fs: Array<[string, number]> }> = [
    { name: 'empty sample', s: sample({}), values: {}, fs: [] },
    {
      name: 'memory and swap',
      s: sample({ cpu_pct: 12.5, mem_total_bytes: 1000, mem_used_bytes: 250, swap_total_bytes: 200, swap_used_bytes: 50 }),
      values: { cpu_pct: 12.5, mem_total_bytes: 1000, mem_used_bytes: 250, swap_total_bytes: 200, swap_used_bytes: 50, mem_used_pct: 25, swap_used_pct: 25 },
      fs: [],
    },
    { name: 'no swap: null', s: sample({ swap_total_bytes: 0, swap_used_bytes: 0 }), values: { swap_total_bytes: 0, swap_used_bytes: 0, swap_used_pct: null }, fs: [] },
    { name: 'mem total 0: no percentage', s: sample({ mem_total_bytes: 0, mem_used_bytes: 0 }), values: { mem_total_bytes: 0, mem_used_bytes: 0 }, fs: [] },
    { name: 'mem used alone: no percentage', s: sample({ mem_used_bytes: 5 }), values: { mem_used_bytes: 5 }, fs: [] },
    {
      name: 'fs: used/(used+free) like df, rows without numbers skipped',
      s: sample({
        fs: [
          { mount: '/', size_bytes: 100, used_bytes: 45, free_bytes: 5 }, // reserved blocks: 90%, not 45%
          { mount: '/data', used_bytes: 1, free_bytes: 3 },
          { mount: '/nofree', used_bytes: 1 },
          { mount: '/empty', used_bytes: 0, free_bytes: 0 },
          { type: 'ext4', used_bytes: 1, free_bytes: 1 },
        ],
      }),
      values: {},
      fs: [['/', 90], ['/data', 25]],
    },
  ];
  for (const c of cases) {
    const got = alertInputs(c.s);
    assert.deepEqual(got.values, c.values, c.name);
    assert.deepEqual(got.fs.map((f) => [f.instance, f.value]), c.fs, c.name);
  }
});

test(`alertInputs: beyond ${MAX_ALERT_INSTANCES} filesystems the fullest are kept`, () => {
  const fs = Array.from({ length: 1024 }, (_, i) => ({ mount: `/m${i}`, used_bytes: i, free_bytes: 1024 - i }));
  const got = alertInputs(sample({ fs }));
  assert.equal(got.fs.length, MAX_ALERT_INSTANCES);
  assert.equal(got.fs[0]!.instance, '/m1023');
  assert.ok(got.fs.every((f) => f.value >= (960 / 1024) * 100));
});

test('alertInputs keeps only the metrics the rules test when told which', () => {
  const sample = parseSample({
    type: 'sample', seq: 1, ts: 1, cpu_pct: 50, load_1m: 2, mem_total_bytes: 100, mem_used_bytes: 25, swap_total_bytes: 0,
    fs: [{ mount: '/', size_bytes: 10, used_bytes: 9, free_bytes: 1 }],
  });
  const all = alertInputs(sample);
  assert.deepEqual(all.values, { cpu_pct: 50, load_1m: 2, mem_total_bytes: 100, mem_used_bytes: 25, swap_total_bytes: 0, mem_used_pct: 25, swap_used_pct: null });
  assert.deepEqual(all.fs, [{ instance: '/', value: 90 }]);
  const some = alertInputs(sample, new Set(['cpu_pct', 'mem_used_pct']));
  assert.deepEqual(some.values, { cpu_pct: 50, mem_used_pct: 25 });
  assert.deepEqual(some.fs, []);
  assert.deepEqual(alertInputs(sample, new Set(['fs_used_pct', 'swap_used_pct'])), { values: { swap_used_pct: null }, fs: [{ instance: '/', value: 90 }] });
});

test("AlertInputsCell: after any run of samples, a host's cell holds what its latest sample alone gives", () => {
  // A cell is updated in place: a value, null or filesystem of an earlier sample must never
  // outlive the sample that dropped it.
  const fsRows = (n: number, prefix: string, full: number) => Array.from({ length: n }, (_, i) => ({ mount: `/${prefix}${i}`, used_bytes: (i * 7 + full) % 100, free_bytes: 100 - ((i * 7 + full) % 100) + 1 }));
  const seq: Sample[] = [
    sample({ cpu_pct: 10, temp_max_c: 50, mem_total_bytes: 100, mem_used_bytes: 40, swap_total_bytes: 10, swap_used_bytes: 5, fs: fsRows(3, 'a', 1) }),
    sample({ cpu_pct: 20, mem_total_bytes: 100, mem_used_bytes: 41, swap_total_bytes: 0, swap_used_bytes: 0, fs: fsRows(3, 'a', 2) }), // temp gone, swap off
    sample({ load_1m: 1.5, swap_total_bytes: 10 }), // swap total alone: no percentage; mem and fs gone
    sample({ cpu_pct: 30, fs: fsRows(MAX_ALERT_INSTANCES + 40, 'b', 3) }), // past the bound: the fullest kept
    sample({ cpu_pct: 31, fs: [{ mount: '/x', used_bytes: 1 }, ...fsRows(2, 'c', 4)] }), // fewer, renamed, one without free
    sample({}),
    sample({ cpu_pct: 32, mem_total_bytes: 0, mem_used_bytes: 0, fs: fsRows(1, 'd', 5) }),
  ];
  for (const wanted of [undefined, new Set(['cpu_pct', 'mem_used_pct', 'fs_used_pct', 'temp_max_c']), new Set(['swap_used_pct'])]) {
    const cell = new AlertInputsCell(wanted);
    seq.forEach((s, i) => {
      const got = cell.update(s).view();
      const fresh = alertInputs(s, wanted);
      assert.deepEqual(got.values, fresh.values, `values after sample ${i}`);
      assert.deepEqual([...got.fs].sort((a, b) => a.instance.localeCompare(b.instance)), [...fresh.fs].sort((a, b) => a.instance.localeCompare(b.instance)), `fs after sample ${i}`);
    });
  }
});

test('AlertInputsCell reuses its filesystem rows from sample to sample', () => {
  const cell = new AlertInputsCell();
  const first = cell.update(sample({ fs: [{ mount: '/', used_bytes: 1, free_bytes: 3 }, { mount: '/data', used_bytes: 3, free_bytes: 1 }] })).view().fs;
  const rows = [...first];
  const next = cell.update(sample({ fs: [{ mount: '/', used_bytes: 2, free_bytes: 2 }, { mount: '/srv', used_bytes: 0, free_bytes: 1 }] })).view().fs;
  assert.equal(next[0], rows[0], 'the same row object, its value updated');
  assert.equal(next[1], rows[1]);
  assert.deepEqual(next.map((f) => [f.instance, f.value]), [['/', 50], ['/srv', 0]]);
});
