import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_METRICS, metricsText } from '../../dashboard/metrics.ts';
import { hostView, type HostView } from '../../shared/host_view.ts';
import { findPromtool, parseProm, promtoolCheck, type PromParsed, type PromSample } from '../helpers/prom_parse.ts';
import { FIXTURE_AGENT, FIXTURE_READINGS, makeStore, type FixtureHost } from '../helpers/store_fixture.ts';

const NOW_MS = 1_700_000_000_000;
/** A name the protocol accepts (no control characters) that is all trouble in a label value. */
const ODD_NAME = 'q"uo\\te}{=,ü 東';
const EVIL_CPU = 'Evil "CPU"} 1\nevil_metric 1\n\\';

const HOSTS: readonly FixtureHost[] = [
  { name: 'alpha', status: 'online' },
  { name: 'beta', status: 'stale' },
  { name: 'gamma', status: 'offline', readings: { cpu_pct: 99.5, uptime_s: 12 } },
  // Online, but its last sample lacks most readings: those are left out, not written as NaN.
  { name: 'delta', status: 'online', readings: { cpu_pct: 12.25, load_1m: 0, uptime_s: 60 }, missing: { load_5m: 'not available' } },
  { name: ODD_NAME, status: 'online', cpuModel: EVIL_CPU, os: 'C:\\Windows "11"', arch: '' },
];

/** Views as the dashboard reads them: from a real store that HostTable wrote. */
function views(hosts: readonly FixtureHost[] = HOSTS, nowMs = NOW_MS): HostView[] {
  const fixture = makeStore(hosts, { nowMs });
  return fixture.store.readAll().map((slot) => hostView(slot, nowMs));
}

/** The one sample of `name` for `host` (and extra labels), or undefined. Fails if there are more. */
function find(parsed: PromParsed, name: string, host: string, extra: Record<string, string> = {}): PromSample | undefined {
  const hits = parsed.samples.filter((s) => s.name === name && s.labels['host'] === host && Object.entries(extra).every(([k, v]) => s.labels[k] === v));
  assert.ok(hits.length <= 1, `${name}{host=${host}} written ${hits.length} times`);
  return hits[0];
}

function value(parsed: PromParsed, name: string, host: string, extra: Record<string, string> = {}): number | undefined {
  return find(parsed, name, host, extra)?.value;
}

const READING_VALUES: ReadonlyArray<[string, number | undefined]> = [
  ['sentinel_cpu_usage_percent', FIXTURE_READINGS.cpu_pct],
  ['sentinel_load1', FIXTURE_READINGS.load_1m],
  ['sentinel_load5', FIXTURE_READINGS.load_5m],
  ['sentinel_load15', FIXTURE_READINGS.load_15m],
  ['sentinel_memory_total_bytes', FIXTURE_READINGS.mem_total_bytes],
  ['sentinel_memory_used_bytes', FIXTURE_READINGS.mem_used_bytes],
  ['sentinel_memory_available_bytes', FIXTURE_READINGS.mem_available_bytes],
  ['sentinel_swap_total_bytes', FIXTURE_READINGS.swap_total_bytes],
  ['sentinel_swap_used_bytes', FIXTURE_READINGS.swap_used_bytes],
  ['sentinel_uptime_seconds', FIXTURE_READINGS.uptime_s],
];

test('metrics: the table', () => {
  const names = HOST_METRICS.map((m) => m.name);
  assert.equal(new Set(names).size, names.length, 'names are unique');
  for (const m of HOST_METRICS) {
    assert.match(m.name, /^sentinel_[a-z0-9_]+$/, m.name);
    // Counters end in _total, nothing else does.
    assert.equal(m.name.endsWith('_total'), m.type === 'counter', m.name);
    assert.ok(m.help.length > 0, `${m.name} has help`);
    assert.doesNotMatch(m.name, /_(ms|milliseconds|kb|mb|kib|mib|minutes|hours)(_|$)/, `${m.name}: base units only`);
  }
  // Every reading the brief asks for is in the table (and so in grep).
  for (const [name] of READING_VALUES) assert.ok(names.includes(name), name);
  for (const name of ['sentinel_host_up', 'sentinel_host_status', 'sentinel_host_last_sample_age_seconds', 'sentinel_host_samples_total', 'sentinel_host_info']) {
    assert.ok(names.includes(name), name);
  }
});

test('metrics: every line parses, families are whole and in table order', () => {
  const text = metricsText(views(), NOW_MS);
  const parsed = parseProm(text);
  assert.deepEqual([...parsed.families.keys()], HOST_METRICS.map((m) => m.name));
  for (const m of HOST_METRICS) {
    const fam = parsed.families.get(m.name)!;
    assert.equal(fam.type, m.type, m.name);
    assert.equal(fam.help, m.help, m.name);
  }
  for (const s of parsed.samples) assert.equal(s.labelNames[0], 'host', `host comes first: line ${s.line}`);
  assert.ok(parsed.samples.every((s) => s.timestampMs === undefined), 'no timestamps');
  assert.doesNotMatch(text, /NaN|Inf/);

  // Per host: up, 3 status series, age, samples_total, info; readings only while online.
  const readingsPerOnlineHost = { alpha: 10, delta: 3, [ODD_NAME]: 10 };
  const expected = HOSTS.length * 7 + Object.values(readingsPerOnlineHost).reduce((a, b) => a + b, 0);
  assert.equal(parsed.samples.length, expected);
  assert.equal(parsed.lineCount, expected + 2 * HOST_METRICS.length, 'HELP and TYPE once per family, nothing else');
});

test('metrics: status and liveness of each host', () => {
  const parsed = parseProm(metricsText(views(), NOW_MS));
  const CASES: ReadonlyArray<[string, HostView['status'], number]> = [
    ['alpha', 'online', 0], ['beta', 'stale', 4], ['gamma', 'offline', 0], ['delta', 'online', 0], [ODD_NAME, 'online', 0],
  ];
  for (const [host, status, ageSeconds] of CASES) {
    assert.equal(value(parsed, 'sentinel_host_up', host), status === 'online' ? 1 : 0, `${host} up`);
    for (const s of ['online', 'stale', 'offline']) {
      assert.equal(value(parsed, 'sentinel_host_status', host, { status: s }), s === status ? 1 : 0, `${host} status ${s}`);
    }
    assert.equal(value(parsed, 'sentinel_host_last_sample_age_seconds', host), ageSeconds, `${host} age`);
    assert.equal(value(parsed, 'sentinel_host_samples_total', host), 1, `${host} samples`);
  }
  // The age follows the scrape's clock, in seconds.
  const later = parseProm(metricsText(views(), NOW_MS + 2500));
  assert.equal(value(later, 'sentinel_host_last_sample_age_seconds', 'alpha'), 2.5);
  assert.equal(value(later, 'sentinel_host_last_sample_age_seconds', 'beta'), 6.5);
});

test('metrics: readings of an online host, in base units', () => {
  const parsed = parseProm(metricsText(views(), NOW_MS));
  for (const host of ['alpha', ODD_NAME]) {
    for (const [name, want] of READING_VALUES) assert.equal(value(parsed, name, host), want, `${host} ${name}`);
  }
});

test('metrics: a reading that is null is left out', () => {
  const parsed = parseProm(metricsText(views(), NOW_MS));
  assert.equal(value(parsed, 'sentinel_cpu_usage_percent', 'delta'), 12.25);
  assert.equal(value(parsed, 'sentinel_load1', 'delta'), 0, 'zero is a reading, not a gap');
  assert.equal(value(parsed, 'sentinel_uptime_seconds', 'delta'), 60);
  for (const name of ['sentinel_load5', 'sentinel_load15', 'sentinel_memory_total_bytes', 'sentinel_memory_used_bytes', 'sentinel_memory_available_bytes', 'sentinel_swap_total_bytes', 'sentinel_swap_used_bytes']) {
    assert.equal(find(parsed, name, 'delta'), undefined, `delta has no ${name}`);
  }
  // A host with no sample yet has no age either (hand-made view: the store always has one).
  const [alpha] = views([{ name: 'alpha', status: 'online' }]);
  const fresh: HostView = { ...alpha!, status: 'stale', age_ms: null, received_at_ms: null, sample_ts_ms: null, samples_total: 0 };
  const p = parseProm(metricsText([fresh], NOW_MS));
  assert.equal(find(p, 'sentinel_host_last_sample_age_seconds', 'alpha'), undefined);
  assert.equal(value(p, 'sentinel_host_samples_total', 'alpha'), 0);
  assert.equal(value(p, 'sentinel_host_up', 'alpha'), 0);
});

test('metrics: readings of a stale or offline host are left out, its liveness is not', () => {
  const parsed = parseProm(metricsText(views(), NOW_MS));
  for (const host of ['beta', 'gamma']) {
    for (const [name] of READING_VALUES) assert.equal(find(parsed, name, host), undefined, `${host} has no ${name}`);
    assert.ok(find(parsed, 'sentinel_host_up', host));
    assert.ok(find(parsed, 'sentinel_host_info', host));
  }
});

test('metrics: info labels read back exactly, hostile ones included', () => {
  const parsed = parseProm(Buffer.from(metricsText(views(), NOW_MS), 'utf8').toString('utf8'));
  const odd = find(parsed, 'sentinel_host_info', ODD_NAME)!;
  assert.deepEqual(odd.labels, { host: ODD_NAME, agent: FIXTURE_AGENT, os: 'C:\\Windows "11"', kernel: '6.1.0-18-amd64', arch: '', cpu_model: EVIL_CPU });
  assert.deepEqual(odd.labelNames, ['host', 'agent', 'os', 'kernel', 'arch', 'cpu_model']);
  assert.equal(odd.value, 1);
  assert.equal(find(parsed, 'sentinel_host_info', 'alpha')!.labels['cpu_model'], 'Fixture CPU @ 2.0GHz');
  assert.ok(!parsed.families.has('evil_metric'));
  assert.deepEqual([...new Set(parsed.samples.map((s) => s.labels['host']))].sort(), HOSTS.map((h) => h.name).sort());
});

test('metrics: output is sorted by host and does not depend on input order', () => {
  const v = views();
  const text = metricsText(v, NOW_MS);
  assert.equal(metricsText([...v].reverse(), NOW_MS), text);
  const ups = parseProm(text).families.get('sentinel_host_up')!.samples.map((s) => s.labels['host']);
  assert.deepEqual(ups, ['alpha', 'beta', 'delta', 'gamma', ODD_NAME]);
});

test('metrics: a name listed twice (a read racing the reuse of a slot) is written once, the fresher one', () => {
  const v = views();
  const alpha = v.find((h) => h.name === 'alpha')!;
  const older: HostView = { ...alpha, received_at_ms: (alpha.received_at_ms ?? 0) - 60_000, cpu_pct: 1 };
  const text = metricsText([older, ...v], NOW_MS);
  assert.equal(text, metricsText(v, NOW_MS));
  assert.equal(parseProm(text).families.get('sentinel_host_up')!.samples.filter((s) => s.labels['host'] === 'alpha').length, 1);
});

test('metrics: no hosts, no samples', () => {
  assert.equal(metricsText([], NOW_MS), '');
});

test('metrics: one online host, exactly', () => {
  const text = metricsText(views([{ name: 'alpha', status: 'online' }]), NOW_MS);
  const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.deepEqual(samples, [
    'sentinel_host_up{host="alpha"} 1',
    'sentinel_host_status{host="alpha",status="online"} 1',
    'sentinel_host_status{host="alpha",status="stale"} 0',
    'sentinel_host_status{host="alpha",status="offline"} 0',
    'sentinel_host_last_sample_age_seconds{host="alpha"} 0',
    'sentinel_host_samples_total{host="alpha"} 1',
    `sentinel_host_info{host="alpha",agent="${FIXTURE_AGENT}",os="Debian GNU/Linux 12",kernel="6.1.0-18-amd64",arch="x64",cpu_model="Fixture CPU @ 2.0GHz"} 1`,
    'sentinel_cpu_usage_percent{host="alpha"} 42.5',
    'sentinel_load1{host="alpha"} 0.5',
    'sentinel_load5{host="alpha"} 0.25',
    'sentinel_load15{host="alpha"} 0.125',
    'sentinel_memory_total_bytes{host="alpha"} 8589934592',
    'sentinel_memory_used_bytes{host="alpha"} 3221225472',
    'sentinel_memory_available_bytes{host="alpha"} 5368709120',
    'sentinel_swap_total_bytes{host="alpha"} 2147483648',
    'sentinel_swap_used_bytes{host="alpha"} 0',
    'sentinel_uptime_seconds{host="alpha"} 266400',
  ]);
});

test('metrics: promtool check metrics passes, when it is installed', (t) => {
  const promtool = findPromtool();
  if (!promtool) {
    t.skip('promtool not found (set PROMTOOL or put it on PATH; Debian package prometheus)');
    return;
  }
  const r = promtoolCheck(promtool, metricsText(views(), NOW_MS));
  // 0: parses and no lint problem (1 would be a parse error, 3 a lint finding).
  assert.equal(r.status, 0, r.output);
});
