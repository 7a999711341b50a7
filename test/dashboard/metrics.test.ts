import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COLLECTOR_METRICS, HOST_METRICS, leftOutReadings, metricsText } from '../../dashboard/metrics.ts';
import { READING_EXPORTS, TABLE_EXPORTS } from '../../dashboard/metric_families.ts';
import { CollectorStats } from '../../shared/collector_stats.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { hostDetail, hostView, type HostDetail, type HostView } from '../../shared/host_view.ts';
import { READINGS, TABLES, type ReadingName, type Tables } from '../../shared/protocol.ts';
import { NUM, POWER_SOURCE_CODE, READING_NUM } from '../../shared/shm_layout.ts';
import { SENTINEL_VERSION } from '../../shared/version.ts';
import { parseProm, promtoolCheck, promtoolOrSkip, type PromParsed, type PromSample } from '../helpers/prom_parse.ts';
import { FIXTURE_AGENT, FIXTURE_READINGS, makeStore, type FixtureHost } from '../helpers/store_fixture.ts';

const NOW_MS = 1_700_000_000_000;
/** A name the protocol accepts (no control characters) that is all trouble in a label value. */
const ODD_NAME = 'q"uo\\te}{=,ü 東';
const EVIL_CPU = 'Evil "CPU"} 1\nevil_metric 1\n\\';
/** EVIL_CPU as the hello leaves it: line feeds become U+FFFD (protocol.ts); quotes and backslashes stay, for the label escaping to handle. */
const EVIL_CPU_STORED = EVIL_CPU.replace(/\n/g, '\uFFFD');
const ODD_MOUNT = '/srv/da"ta\\x}{=,ü 東';
const ODD_IFACE = 'wg"0} 1 #';
/** The protocol turns the line feed into U+FFFD (a table cell may hold no control character). */
const EVIL_GPU = 'Evil "GPU"} 1\nevil_metric 1';
const EVIL_GPU_STORED = EVIL_GPU.replace('\n', '\uFFFD');
const LONG_MOUNT = `/mnt/${'x'.repeat(120)}`;

/** A value for every reading: a Record, so a reading added to the protocol must be added here. */
const FULL_SCALARS: Readonly<Record<ReadingName, number>> = {
  ...(FIXTURE_READINGS as Record<ReadingName, number>),
  cpu_user_pct: 20, cpu_system_pct: 10.5, cpu_iowait_pct: 2.25, cpu_steal_pct: 0.5, cpu_freq_mhz: 2400.5,
  mem_cached_bytes: 1024 ** 3, mem_buffers_bytes: 64 * 1024 ** 2,
  disk_read_bps: 1_048_576, disk_write_bps: 524_288, disk_read_iops: 120, disk_write_iops: 80.5,
  net_rx_bps: 125_000, net_tx_bps: 62_500, temp_cpu_c: 55.5, temp_max_c: 71, procs_total: 312, procs_running: 3, procs_blocked: 1, power_w: 87.25,
};
const NET_ROW = { rx_bps: 1000, tx_bps: 500, rx_pps: 10, tx_pps: 5, rx_errs_ps: 0.5, tx_errs_ps: 0, rx_drops_ps: 0.25, tx_drops_ps: 0 };
/** Every table: Required, so a table added to the protocol must be added here. */
const FULL_TABLES: Required<Tables> = {
  cpu_cores_pct: [10, 20.5, 99, 0],
  temp_cores_c: [50, 51.5],
  fs: [
    { mount: '/', type: 'ext4', size_bytes: 100 * 1024 ** 3, used_bytes: 40 * 1024 ** 3, free_bytes: 55 * 1024 ** 3 },
    { mount: ODD_MOUNT, type: 'xfs', size_bytes: 1000, used_bytes: 10, free_bytes: 990 },
    // A bind mount listed twice, and two mount points equal in their first 96 bytes (all shared
    // memory keeps): each would repeat a series; the first row wins.
    { mount: '/', type: 'ext4', size_bytes: 1, used_bytes: 1, free_bytes: 0 },
    { mount: `${LONG_MOUNT}-a`, type: 'ext4', size_bytes: 2000, used_bytes: 20, free_bytes: 1980 },
    { mount: `${LONG_MOUNT}-b`, type: 'ext4', size_bytes: 3000, used_bytes: 30, free_bytes: 2970 },
  ],
  net: [{ name: 'eth0', ...NET_ROW }, { name: ODD_IFACE, rx_bps: 7 }],
  gpu: [{ model: EVIL_GPU, util_pct: 75, mem_used_bytes: 2 * 1024 ** 3, mem_total_bytes: 24 * 1024 ** 3, temp_c: 65, power_w: 300.5 }],
  procs_top: [{ name: 'node', pid: 1234, cpu_pct: 150 }],
  power_zones: [{ zone: 'package-0', watts: 35.5 }, { zone: 'package-0/dram', watts: 4.25 }],
};
const FULL = { ...FULL_SCALARS, ...FULL_TABLES };

type Expect = readonly [name: string, labels: Readonly<Record<string, string>>, value: number];

/** What each reading must read as, in base units: written out by hand, not derived from the mapping. */
const READING_EXPECT: Readonly<Record<ReadingName, Expect>> = {
  cpu_pct: ['sentinel_cpu_usage_ratio', {}, 0.425],
  load_1m: ['sentinel_load1', {}, 0.5],
  load_5m: ['sentinel_load5', {}, 0.25],
  load_15m: ['sentinel_load15', {}, 0.125],
  mem_total_bytes: ['sentinel_memory_total_bytes', {}, 8589934592],
  mem_used_bytes: ['sentinel_memory_used_bytes', {}, 3221225472],
  mem_available_bytes: ['sentinel_memory_available_bytes', {}, 5368709120],
  swap_total_bytes: ['sentinel_swap_total_bytes', {}, 2147483648],
  swap_used_bytes: ['sentinel_swap_used_bytes', {}, 0],
  uptime_s: ['sentinel_uptime_seconds', {}, 266400],
  cpu_user_pct: ['sentinel_cpu_mode_ratio', { mode: 'user' }, 0.2],
  cpu_system_pct: ['sentinel_cpu_mode_ratio', { mode: 'system' }, 0.105],
  cpu_iowait_pct: ['sentinel_cpu_mode_ratio', { mode: 'iowait' }, 0.0225],
  cpu_steal_pct: ['sentinel_cpu_mode_ratio', { mode: 'steal' }, 0.005],
  cpu_freq_mhz: ['sentinel_cpu_frequency_hertz', {}, 2_400_500_000],
  mem_cached_bytes: ['sentinel_memory_cached_bytes', {}, 1073741824],
  mem_buffers_bytes: ['sentinel_memory_buffers_bytes', {}, 67108864],
  disk_read_bps: ['sentinel_disk_read_bytes_per_second', {}, 1_048_576],
  disk_write_bps: ['sentinel_disk_written_bytes_per_second', {}, 524_288],
  disk_read_iops: ['sentinel_disk_reads_completed_per_second', {}, 120],
  disk_write_iops: ['sentinel_disk_writes_completed_per_second', {}, 80.5],
  net_rx_bps: ['sentinel_network_receive_bytes_per_second', {}, 125_000],
  net_tx_bps: ['sentinel_network_transmit_bytes_per_second', {}, 62_500],
  temp_cpu_c: ['sentinel_cpu_temperature_celsius', {}, 55.5],
  temp_max_c: ['sentinel_temperature_max_celsius', {}, 71],
  procs_total: ['sentinel_processes', {}, 312],
  procs_running: ['sentinel_processes_running', {}, 3],
  procs_blocked: ['sentinel_processes_blocked', {}, 1],
  power_w: ['sentinel_power_watts', {}, 87.25],
};

const ROOT = { mountpoint: '/', fstype: 'ext4' };
const GPU0 = { device: '0', model: EVIL_GPU_STORED };
/** Table columns by `table.column`: the samples they must give, or the label they become. */
const COLUMN_EXPECT: Readonly<Record<string, readonly Expect[] | { label: string }>> = {
  'cpu_cores_pct.pct': [['sentinel_cpu_core_usage_ratio', { cpu: '0' }, 0.1], ['sentinel_cpu_core_usage_ratio', { cpu: '1' }, 0.205], ['sentinel_cpu_core_usage_ratio', { cpu: '2' }, 0.99], ['sentinel_cpu_core_usage_ratio', { cpu: '3' }, 0]],
  'temp_cores_c.c': [['sentinel_cpu_core_temperature_celsius', { core: '0' }, 50], ['sentinel_cpu_core_temperature_celsius', { core: '1' }, 51.5]],
  'fs.mount': { label: 'mountpoint' },
  'fs.type': { label: 'fstype' },
  'fs.size_bytes': [['sentinel_filesystem_size_bytes', ROOT, 107374182400], ['sentinel_filesystem_size_bytes', { mountpoint: ODD_MOUNT, fstype: 'xfs' }, 1000]],
  'fs.used_bytes': [['sentinel_filesystem_used_bytes', ROOT, 42949672960]],
  'fs.free_bytes': [['sentinel_filesystem_avail_bytes', ROOT, 59055800320]],
  'net.name': { label: 'interface' },
  'net.rx_bps': [['sentinel_network_interface_receive_bytes_per_second', { interface: 'eth0' }, 1000], ['sentinel_network_interface_receive_bytes_per_second', { interface: ODD_IFACE }, 7]],
  'net.tx_bps': [['sentinel_network_interface_transmit_bytes_per_second', { interface: 'eth0' }, 500]],
  'net.rx_pps': [['sentinel_network_interface_receive_packets_per_second', { interface: 'eth0' }, 10]],
  'net.tx_pps': [['sentinel_network_interface_transmit_packets_per_second', { interface: 'eth0' }, 5]],
  'net.rx_errs_ps': [['sentinel_network_interface_receive_errors_per_second', { interface: 'eth0' }, 0.5]],
  'net.tx_errs_ps': [['sentinel_network_interface_transmit_errors_per_second', { interface: 'eth0' }, 0]],
  'net.rx_drops_ps': [['sentinel_network_interface_receive_drops_per_second', { interface: 'eth0' }, 0.25]],
  'net.tx_drops_ps': [['sentinel_network_interface_transmit_drops_per_second', { interface: 'eth0' }, 0]],
  'gpu.model': { label: 'model' },
  'gpu.util_pct': [['sentinel_gpu_utilization_ratio', GPU0, 0.75]],
  'gpu.mem_used_bytes': [['sentinel_gpu_memory_used_bytes', GPU0, 2147483648]],
  'gpu.mem_total_bytes': [['sentinel_gpu_memory_total_bytes', GPU0, 25769803776]],
  'gpu.temp_c': [['sentinel_gpu_temperature_celsius', GPU0, 65]],
  'gpu.power_w': [['sentinel_gpu_power_watts', GPU0, 300.5]],
  'power_zones.zone': { label: 'zone' },
  'power_zones.watts': [['sentinel_power_zone_watts', { zone: 'package-0' }, 35.5], ['sentinel_power_zone_watts', { zone: 'package-0/dram' }, 4.25]],
};

const HOSTS: readonly FixtureHost[] = [
  { name: 'alpha', status: 'online', readings: FULL },
  { name: 'beta', status: 'stale', readings: FULL },
  { name: 'gamma', status: 'offline', readings: FULL },
  // Online, but its last sample lacks most readings: those are left out, not written as NaN.
  { name: 'delta', status: 'online', readings: { cpu_pct: 12.25, load_1m: 0, uptime_s: 60 }, missing: { load_5m: 'not available' } },
  { name: ODD_NAME, status: 'online', cpuModel: EVIL_CPU, os: 'C:\\Windows "11"', arch: '', readings: FULL },
];

/** Energy every fixture host has counted (as collector/energy_service.ts writes it), by slot: kWh and cost grow with the index. */
function addEnergy(store: ReturnType<typeof makeStore>['store']): void {
  for (const slot of store.readAll()) {
    const i = slot.index;
    // A source travels only with power_w (shared/protocol.ts).
    const hasPower = !Number.isNaN(slot.numbers[READING_NUM.power_w]!);
    store.write(i, {
      numbers: [
        [NUM.ENERGY_SINCE_MS, NOW_MS - 86_400_000], [NUM.ENERGY_TOTAL_KWH, 2.5 + i], [NUM.ENERGY_TOTAL_COST, 0.625 + i],
        [NUM.POWER_SOURCE, !hasPower ? Number.NaN : i === 0 ? POWER_SOURCE_CODE.measured : POWER_SOURCE_CODE.estimated],
      ],
    });
  }
}

/** Hosts as the dashboard reads them: from a real store that HostTable wrote, with their tables and energy. */
function details(hosts: readonly FixtureHost[] = HOSTS, nowMs = NOW_MS): HostDetail[] {
  const { store } = makeStore(hosts, { nowMs });
  addEnergy(store);
  return store.readAll().map((slot) => hostDetail(store.readSlot(slot.index, true)!, nowMs));
}
const EUR = { currency: 'EUR' };

/** A real stats buffer with some of everything counted, and its store's facts. */
function statsSnapshot(): ReturnType<CollectorStats['snapshot']> {
  const stats = CollectorStats.create(NOW_MS - 3_600_000);
  stats.connectionAccepted(); stats.connectionAccepted(); stats.connectionAccepted();
  stats.agentConnected(); stats.agentConnected();
  stats.framesReceived(1234);
  stats.frameRejected(ERROR_CODES.FRAME_TOO_LARGE);
  stats.frameRejected(ERROR_CODES.STATE_FILE_INVALID); // never expected there: written because it is counted
  stats.sessionEnded(ERROR_CODES.FRAME_TOO_LARGE);
  stats.sessionEnded(null);
  stats.connectionRefused(ERROR_CODES.RATE_LIMITED);
  stats.setAlertsFiring(2);
  stats.webhookDeliveries('delivered', 5);
  stats.webhookDeliveries('dropped');
  return stats.snapshot({ capacity: 16, slotsUsed: () => 5 });
}

function find(parsed: PromParsed, name: string, labels: Readonly<Record<string, string>>): PromSample | undefined {
  const hits = parsed.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(hits.length <= 1, `${name}${JSON.stringify(labels)} written ${hits.length} times`);
  return hits[0];
}

function value(parsed: PromParsed, name: string, labels: Readonly<Record<string, string>>): number | undefined {
  return find(parsed, name, labels)?.value;
}

const ALL_NAMES = [...HOST_METRICS.map((m) => m.name), ...COLLECTOR_METRICS.map((m) => m.name), 'sentinel_build_info'];

test('metrics: names follow Prometheus conventions', () => {
  assert.equal(new Set(ALL_NAMES).size, ALL_NAMES.length, 'names are unique');
  for (const m of [...HOST_METRICS, ...COLLECTOR_METRICS]) {
    assert.match(m.name, /^sentinel_[a-z0-9_]+$/, m.name);
    assert.equal(m.name.endsWith('_total'), m.type === 'counter', `${m.name}: counters end in _total, nothing else does`);
    assert.ok(m.help.length > 0, `${m.name} has help`);
    assert.doesNotMatch(m.name, /_(ms|milliseconds|us|ns|kb|mb|gb|kib|mib|mhz|ghz|minutes|hours|days|percent|pct|bps|iops|c|w|s)(_|$)/, `${m.name}: base units only`);
  }
  // The unit a reading's kind implies is the name's last word (or the word before _per_second).
  const UNIT: Record<string, RegExp> = { percent: /_ratio$/, bytes: /_bytes$/, seconds: /_seconds$/, celsius: /_celsius$/, count: /^(?!.*_total$)/ };
  for (const r of READINGS) {
    const [name] = READING_EXPECT[r.name];
    if (UNIT[r.kind]) assert.match(name, UNIT[r.kind]!, `${r.name} (${r.kind}) -> ${name}`);
    if (r.name.endsWith('_bps')) assert.match(name, /_bytes_per_second$/, name);
    if (r.name.endsWith('_iops')) assert.match(name, /_per_second$/, name);
  }
  // Rates are gauges, and say why.
  for (const m of HOST_METRICS.filter((x) => x.name.endsWith('_per_second'))) {
    assert.equal(m.type, 'gauge', m.name);
    assert.match(m.help, /not a counter/, m.name);
  }
});

test('metrics: every reading and every table column is exported or deliberately left out', () => {
  const leftOut = new Set(leftOutReadings().map((x) => x.name));
  for (const x of leftOutReadings()) assert.ok(x.reason.length > 20, `${x.name} says why it is left out`);
  assert.deepEqual([...leftOut], ['procs_top'], 'only the top processes are left out');
  const parsed = parseProm(metricsText(details(), NOW_MS));
  for (const r of READINGS) {
    if (leftOut.has(r.name)) continue;
    assert.ok(Object.hasOwn(READING_EXPORTS, r.name), `${r.name} has a mapping`);
    const [name, labels, want] = READING_EXPECT[r.name];
    assert.equal(value(parsed, name, { host: 'alpha', ...labels }), want, `${r.name} -> ${name}${JSON.stringify(labels)}`);
  }
  for (const t of TABLES) {
    assert.ok(Object.hasOwn(TABLE_EXPORTS, t.name), `${t.name} has a mapping`);
    for (const c of t.columns) {
      const key = `${t.name}.${c.name}`;
      if (leftOut.has(t.name) || leftOut.has(key)) continue;
      const want = COLUMN_EXPECT[key];
      assert.ok(want, `${key} is exported (add it to COLUMN_EXPECT) or left out`);
      if ('label' in want) {
        assert.ok(parsed.samples.some((s) => s.labels['host'] === 'alpha' && s.labels[want.label] !== undefined), `${key} becomes label ${want.label}`);
        continue;
      }
      for (const [name, labels, v] of want) assert.equal(value(parsed, name, { host: 'alpha', ...labels }), v, `${key} -> ${name}${JSON.stringify(labels)}`);
    }
  }
  assert.ok(!parsed.samples.some((s) => 'pid' in s.labels || s.labels['name'] === 'node'), 'no top-process series');
});

test('metrics: every family has HELP and TYPE once, samples together, in table order; no timestamps, no NaN', () => {
  const text = metricsText(details(), NOW_MS, statsSnapshot(), EUR);
  const parsed = parseProm(text);
  assert.deepEqual([...parsed.families.keys()], ALL_NAMES, 'every family written, in order');
  for (const m of [...HOST_METRICS, ...COLLECTOR_METRICS]) {
    const fam = parsed.families.get(m.name)!;
    assert.equal(fam.type, m.type, m.name);
    assert.equal(fam.help, m.help, m.name);
  }
  assert.equal(parsed.families.get('sentinel_build_info')!.type, 'gauge');
  assert.equal(parsed.lineCount, parsed.samples.length + 2 * parsed.families.size, 'HELP and TYPE once per family, nothing else');
  for (const s of parsed.samples) if (s.labels['host'] !== undefined) assert.equal(s.labelNames[0], 'host', `host comes first: line ${s.line}`);
  assert.ok(parsed.samples.every((s) => s.timestampMs === undefined), 'no timestamps');
  assert.doesNotMatch(text, /NaN|Inf/);
});

test('metrics: status and liveness of each host', () => {
  const parsed = parseProm(metricsText(details(), NOW_MS));
  const CASES: ReadonlyArray<[string, HostView['status'], number]> = [
    ['alpha', 'online', 0], ['beta', 'stale', 4], ['gamma', 'offline', 0], ['delta', 'online', 0], [ODD_NAME, 'online', 0],
  ];
  for (const [host, status, ageSeconds] of CASES) {
    assert.equal(value(parsed, 'sentinel_host_up', { host }), status === 'online' ? 1 : 0, `${host} up`);
    for (const s of ['online', 'stale', 'offline']) {
      assert.equal(value(parsed, 'sentinel_host_status', { host, status: s }), s === status ? 1 : 0, `${host} status ${s}`);
    }
    assert.equal(value(parsed, 'sentinel_host_last_sample_age_seconds', { host }), ageSeconds, `${host} age`);
    assert.equal(value(parsed, 'sentinel_host_samples_total', { host }), 1, `${host} samples`);
  }
  const later = parseProm(metricsText(details(), NOW_MS + 2500));
  assert.equal(value(later, 'sentinel_host_last_sample_age_seconds', { host: 'alpha' }), 2.5);
  assert.equal(value(later, 'sentinel_host_last_sample_age_seconds', { host: 'beta' }), 6.5);
});

test('metrics: a stale or offline host has no reading or table series, only its liveness and energy counters', () => {
  const parsed = parseProm(metricsText(details(), NOW_MS, null, EUR));
  const readingFamilies = new Set(HOST_METRICS.filter((m) => m.reading).map((m) => m.name));
  for (const host of ['beta', 'gamma']) {
    const mine = parsed.samples.filter((s) => s.labels['host'] === host);
    assert.deepEqual(mine.filter((s) => readingFamilies.has(s.name)).map((s) => s.name), [], `${host} has no readings`);
    assert.deepEqual([...new Set(mine.map((s) => s.name))], HOST_METRICS.filter((m) => !m.reading).map((m) => m.name));
  }
  // The same hosts online have them all.
  assert.ok(parsed.samples.filter((s) => s.labels['host'] === 'alpha' && readingFamilies.has(s.name)).length > 40);
});

test('metrics: energy in joules and cost in the tariff currency, as counters; power source as 1/0', () => {
  const parsed = parseProm(metricsText(details(), NOW_MS, null, EUR));
  // alpha is slot 0 (2.5 kWh, 0.625 EUR), gamma slot 2 (4.5 kWh, 2.625 EUR): offline, still counted.
  assert.equal(value(parsed, 'sentinel_energy_joules_total', { host: 'alpha' }), 2.5 * 3.6e6);
  assert.equal(value(parsed, 'sentinel_energy_cost_total', { host: 'alpha', currency: 'EUR' }), 0.625);
  assert.equal(value(parsed, 'sentinel_energy_joules_total', { host: 'gamma' }), 4.5 * 3.6e6);
  assert.equal(value(parsed, 'sentinel_energy_cost_total', { host: 'gamma', currency: 'EUR' }), 2.625);
  assert.equal(value(parsed, 'sentinel_power_measured', { host: 'alpha' }), 1);
  assert.equal(value(parsed, 'sentinel_power_measured', { host: ODD_NAME }), 0);
  assert.equal(find(parsed, 'sentinel_power_measured', { host: 'delta' }), undefined, 'no power_w, no source');
  assert.equal(find(parsed, 'sentinel_power_measured', { host: 'gamma' }), undefined, 'a reading: not for an offline host');
  // No tariff: kWh only, no cost series at all.
  const kwhOnly = parseProm(metricsText(details(), NOW_MS));
  assert.equal(kwhOnly.samples.filter((x) => x.name === 'sentinel_energy_cost_total').length, 0);
  assert.equal(value(kwhOnly, 'sentinel_energy_joules_total', { host: 'alpha' }), 2.5 * 3.6e6);
  // A host with no energy counted has no energy series.
  const none = parseProm(metricsText(details().map((h) => ({ ...h, energy: null, power_source: null })), NOW_MS, null, EUR));
  assert.equal(none.samples.filter((x) => x.name.startsWith('sentinel_energy_') || x.name === 'sentinel_power_measured').length, 0);
});

test('metrics: a null reading is left out; zero is a reading', () => {
  const parsed = parseProm(metricsText(details(), NOW_MS));
  assert.equal(value(parsed, 'sentinel_cpu_usage_ratio', { host: 'delta' }), 0.1225);
  assert.equal(value(parsed, 'sentinel_load1', { host: 'delta' }), 0);
  const readingFamilies = new Set(HOST_METRICS.filter((m) => m.reading).map((m) => m.name));
  const delta = parsed.samples.filter((s) => s.labels['host'] === 'delta' && readingFamilies.has(s.name)).map((s) => s.name);
  assert.deepEqual(delta, ['sentinel_cpu_usage_ratio', 'sentinel_load1', 'sentinel_uptime_seconds']);
  // A host with no sample yet has no age either (hand-made view: the store always has one).
  const [alpha] = details([{ name: 'alpha', status: 'online' }]);
  const fresh: HostDetail = { ...alpha!, status: 'stale', age_ms: null, received_at_ms: null, sample_ts_ms: null, samples_total: 0 };
  const p = parseProm(metricsText([fresh], NOW_MS));
  assert.equal(find(p, 'sentinel_host_last_sample_age_seconds', { host: 'alpha' }), undefined);
  assert.equal(value(p, 'sentinel_host_samples_total', { host: 'alpha' }), 0);
  assert.equal(value(p, 'sentinel_host_up', { host: 'alpha' }), 0);
});

test('metrics: hostile label values read back exactly', () => {
  const parsed = parseProm(Buffer.from(metricsText(details(), NOW_MS), 'utf8').toString('utf8'));
  const odd = find(parsed, 'sentinel_host_info', { host: ODD_NAME })!;
  assert.deepEqual(odd.labels, { host: ODD_NAME, agent: FIXTURE_AGENT, os: 'C:\\Windows "11"', kernel: '6.1.0-18-amd64', arch: '', cpu_model: EVIL_CPU_STORED });
  assert.deepEqual(odd.labelNames, ['host', 'agent', 'os', 'kernel', 'arch', 'cpu_model']);
  assert.equal(value(parsed, 'sentinel_filesystem_size_bytes', { host: ODD_NAME, mountpoint: ODD_MOUNT, fstype: 'xfs' }), 1000);
  assert.equal(value(parsed, 'sentinel_network_interface_receive_bytes_per_second', { host: ODD_NAME, interface: ODD_IFACE }), 7);
  assert.deepEqual(find(parsed, 'sentinel_gpu_power_watts', { host: ODD_NAME })!.labels, { host: ODD_NAME, device: '0', model: EVIL_GPU_STORED });
  assert.equal(value(parsed, 'sentinel_cpu_usage_ratio', { host: ODD_NAME }), 0.425);
  assert.ok(!parsed.families.has('evil_metric'));
  assert.deepEqual([...new Set(parsed.samples.flatMap((s) => (s.labels['host'] === undefined ? [] : [s.labels['host']])))].sort(), HOSTS.map((h) => h.name).sort());
});

test('metrics: table rows that would repeat a series are written once, the first', () => {
  const parsed = parseProm(metricsText(details(), NOW_MS));
  const sizes = parsed.families.get('sentinel_filesystem_size_bytes')!.samples.filter((s) => s.labels['host'] === 'alpha');
  // Rows: /, ODD_MOUNT, / again (left out), two long mounts cut to one 96-byte prefix (one kept).
  assert.equal(sizes.length, 3);
  assert.equal(value(parsed, 'sentinel_filesystem_size_bytes', { host: 'alpha', mountpoint: '/' }), 107374182400);
  const long = sizes.find((s) => s.labels['mountpoint']!.startsWith('/mnt/'))!;
  assert.equal(Buffer.byteLength(long.labels['mountpoint']!), 96, 'cut by shared memory');
  assert.equal(long.value, 2000, 'the first of the two');
});

test('metrics: hosts sorted by name; input order and duplicates do not matter', () => {
  const d = details();
  const text = metricsText(d, NOW_MS);
  assert.equal(metricsText([...d].reverse(), NOW_MS), text);
  const ups = parseProm(text).families.get('sentinel_host_up')!.samples.map((s) => s.labels['host']);
  assert.deepEqual(ups, ['alpha', 'beta', 'delta', 'gamma', ODD_NAME]);
  // A name listed twice (a read racing the reuse of a slot): written once, the fresher one.
  const alpha = d.find((h) => h.name === 'alpha')!;
  const older: HostDetail = { ...alpha, received_at_ms: (alpha.received_at_ms ?? 0) - 60_000, readings: { ...alpha.readings, cpu_pct: 1 } };
  assert.equal(metricsText([older, ...d], NOW_MS), text);
  assert.equal(metricsText([...d, older], NOW_MS), text);
});

test('metrics: scrape after scrape, a host written again shows its new values and a host gone vanishes', () => {
  const fx = makeStore([{ name: 'alpha', status: 'online', readings: FULL }, { name: 'beta', status: 'online', readings: FULL }], { nowMs: NOW_MS });
  const read = (nowMs: number): HostDetail[] => fx.store.readAll().map((s) => hostDetail(fx.store.readSlot(s.index, true)!, nowMs));
  const first = parseProm(metricsText(read(NOW_MS), NOW_MS));
  assert.equal(value(first, 'sentinel_cpu_usage_ratio', { host: 'alpha' }), 0.425);
  fx.sample('alpha', { ...FULL, cpu_pct: 50, net: [{ name: 'eth0', ...NET_ROW, rx_bps: 4000 }] } as typeof FULL, NOW_MS + 1000);
  const second = parseProm(metricsText(read(NOW_MS + 1000), NOW_MS + 1000));
  assert.equal(value(second, 'sentinel_cpu_usage_ratio', { host: 'alpha' }), 0.5);
  assert.equal(value(second, 'sentinel_network_interface_receive_bytes_per_second', { host: 'alpha', interface: 'eth0' }), 4000);
  assert.equal(find(second, 'sentinel_network_interface_receive_bytes_per_second', { host: 'alpha', interface: ODD_IFACE }), undefined);
  assert.equal(value(second, 'sentinel_host_samples_total', { host: 'alpha' }), 2);
  assert.equal(value(second, 'sentinel_cpu_usage_ratio', { host: 'beta' }), 0.425);
  const third = parseProm(metricsText(read(NOW_MS + 1000).filter((h) => h.name !== 'alpha'), NOW_MS + 1000));
  assert.ok(!third.samples.some((s) => s.labels['host'] === 'alpha'), 'alpha is gone');
});

test('metrics: a HostView without tables gives the readings and no table series', () => {
  const { store } = makeStore([{ name: 'alpha', status: 'online', readings: FULL }], { nowMs: NOW_MS });
  const views: HostView[] = store.readAll().map((slot) => hostView(slot, NOW_MS));
  const parsed = parseProm(metricsText(views, NOW_MS));
  assert.equal(value(parsed, 'sentinel_power_watts', { host: 'alpha' }), 87.25);
  assert.equal(parsed.families.has('sentinel_filesystem_size_bytes'), false);
});

test('metrics: the collector\'s health from a stats snapshot', () => {
  const snap = statsSnapshot();
  const parsed = parseProm(metricsText([], NOW_MS, snap));
  const EXPECT: readonly Expect[] = [
    ['sentinel_collector_connected_agents', {}, 2],
    ['sentinel_collector_connections_accepted_total', {}, 3],
    ['sentinel_collector_connections_refused_total', { code: ERROR_CODES.RATE_LIMITED }, 1],
    ['sentinel_collector_connections_refused_total', { code: ERROR_CODES.TOO_MANY_CONNECTIONS }, 0],
    ['sentinel_collector_frames_received_total', {}, 1234],
    ['sentinel_collector_frames_rejected_total', { code: ERROR_CODES.FRAME_TOO_LARGE }, 1],
    ['sentinel_collector_frames_rejected_total', { code: ERROR_CODES.PROTO_BAD_FIELD }, 0],
    ['sentinel_collector_frames_rejected_total', { code: ERROR_CODES.STATE_FILE_INVALID }, 1],
    ['sentinel_collector_sessions_ended_total', { reason: ERROR_CODES.FRAME_TOO_LARGE }, 1],
    ['sentinel_collector_sessions_ended_total', { reason: 'peer_closed' }, 1],
    ['sentinel_collector_sessions_ended_total', { reason: ERROR_CODES.IDLE_TIMEOUT }, 0],
    ['sentinel_collector_slots', {}, 16],
    ['sentinel_collector_slots_used', {}, 5],
    ['sentinel_collector_start_time_seconds', {}, (NOW_MS - 3_600_000) / 1000],
    ['sentinel_alerts_firing', {}, 2],
    ['sentinel_webhook_deliveries_total', { result: 'delivered' }, 5],
    ['sentinel_webhook_deliveries_total', { result: 'failed' }, 0],
    ['sentinel_webhook_deliveries_total', { result: 'dropped' }, 1],
    ['sentinel_build_info', { version: SENTINEL_VERSION }, 1],
  ];
  for (const [name, labels, want] of EXPECT) assert.equal(value(parsed, name, labels), want, `${name}${JSON.stringify(labels)}`);
  // Codes that cannot occur in a family are written only once counted (no wall of zeros).
  assert.equal(find(parsed, 'sentinel_collector_frames_rejected_total', { code: ERROR_CODES.CONFIG_INVALID }), undefined);
  assert.equal(find(parsed, 'sentinel_collector_connections_refused_total', { code: ERROR_CODES.FRAME_EMPTY }), undefined);
  // Without the store's facts, the slot families are left out.
  const bare = parseProm(metricsText([], NOW_MS, { ...snap, capacity: null, slots_used: null }));
  assert.equal(bare.families.has('sentinel_collector_slots'), false);
  assert.equal(bare.families.has('sentinel_collector_connected_agents'), true);
});

test('metrics: no hosts and no stats: only the build info', () => {
  assert.equal(metricsText([], NOW_MS), [
    '# HELP sentinel_build_info Always 1; the version label is the collector\'s version.',
    '# TYPE sentinel_build_info gauge',
    `sentinel_build_info{version="${SENTINEL_VERSION}"} 1`,
    '',
  ].join('\n'));
});

test('metrics: one online host with the fixture readings, exactly', () => {
  const text = metricsText(details([{ name: 'alpha', status: 'online' }]), NOW_MS);
  const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.deepEqual(samples, [
    'sentinel_host_up{host="alpha"} 1',
    'sentinel_host_status{host="alpha",status="online"} 1',
    'sentinel_host_status{host="alpha",status="stale"} 0',
    'sentinel_host_status{host="alpha",status="offline"} 0',
    'sentinel_host_last_sample_age_seconds{host="alpha"} 0',
    'sentinel_host_samples_total{host="alpha"} 1',
    `sentinel_host_info{host="alpha",agent="${FIXTURE_AGENT}",os="Debian GNU/Linux 12",kernel="6.1.0-18-amd64",arch="x64",cpu_model="Fixture CPU @ 2.0GHz"} 1`,
    'sentinel_cpu_usage_ratio{host="alpha"} 0.425',
    'sentinel_load1{host="alpha"} 0.5',
    'sentinel_load5{host="alpha"} 0.25',
    'sentinel_load15{host="alpha"} 0.125',
    'sentinel_memory_total_bytes{host="alpha"} 8589934592',
    'sentinel_memory_used_bytes{host="alpha"} 3221225472',
    'sentinel_memory_available_bytes{host="alpha"} 5368709120',
    'sentinel_swap_total_bytes{host="alpha"} 2147483648',
    'sentinel_swap_used_bytes{host="alpha"} 0',
    'sentinel_uptime_seconds{host="alpha"} 266400',
    'sentinel_energy_joules_total{host="alpha"} 9000000',
    `sentinel_build_info{version="${SENTINEL_VERSION}"} 1`,
  ]);
});

test('metrics: promtool check metrics passes on a full scrape (required under CI)', (t) => {
  const promtool = promtoolOrSkip(t);
  if (!promtool) return;
  const text = metricsText(details(), NOW_MS, statsSnapshot());
  const r = promtoolCheck(promtool, text);
  // 0: parses and no lint problem (1 would be a parse error, 3 a lint finding).
  assert.equal(r.status, 0, r.output);
});

test('metrics: promtool check under CI without promtool fails instead of skipping', () => {
  const skips: string[] = [];
  const t = { skip: (m?: string): void => { skips.push(m ?? ''); } };
  const noPromtool = { PATH: '/nonexistent-dir' };
  assert.throws(() => promtoolOrSkip(t, { ...noPromtool, CI: 'true' }), /promtool not found and CI is set/);
  assert.equal(promtoolOrSkip(t, noPromtool), null);
  assert.equal(skips.length, 1);
});
