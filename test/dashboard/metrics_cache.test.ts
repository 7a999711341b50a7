import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_METRICS, type MetricsContext } from '../../dashboard/metrics.ts';
import { HostMetricsCache } from '../../dashboard/metrics_cache.ts';
import { PromWriter } from '../../dashboard/prom_text.ts';
import { hostDetail, type HostDetail, type HostView } from '../../shared/host_view.ts';
import { READINGS, type Readings, type ReadingName, type TableName } from '../../shared/protocol.ts';
import { NUM } from '../../shared/shm_layout.ts';
import { seededRandom } from '../helpers/hex.ts';
import { parseProm } from '../helpers/prom_parse.ts';
import { FIXTURE_READINGS, makeStore, type FixtureHost } from '../helpers/store_fixture.ts';

const NOW_MS = 1_700_000_000_000;
const EUR: MetricsContext = { currency: 'EUR' };
const NONE: MetricsContext = { currency: null };

const READINGS_FULL = {
  ...FIXTURE_READINGS, cpu_user_pct: 20, cpu_system_pct: 10.5, cpu_iowait_pct: 2.25, cpu_steal_pct: 0.5, cpu_freq_mhz: 2400.5,
  disk_read_bps: 1_048_576, net_rx_bps: 125_000, temp_max_c: 71, procs_total: 312, power_w: 87.25,
  cpu_cores_pct: [10, 20.5, 99, 0],
  temp_cores_c: [50, 51.5],
  fs: [
    { mount: '/', type: 'ext4', size_bytes: 100, used_bytes: 40, free_bytes: 55 },
    { mount: '/srv/"odd"\\', type: 'xfs', size_bytes: 1000, used_bytes: 10, free_bytes: 990 },
    { mount: '/', type: 'ext4', size_bytes: 1, used_bytes: 1, free_bytes: 0 },
  ],
  net: [{ name: 'eth0', rx_bps: 1000, tx_bps: 500, rx_pps: 10 }, { name: 'wg"0', rx_bps: 7 }],
  gpu: [{ model: 'GPU "X"', util_pct: 75, mem_used_bytes: 2, mem_total_bytes: 24, temp_c: 65, power_w: 300.5 }],
  power_zones: [{ zone: 'package-0', watts: 35.5 }],
} as Readings;

const HOSTS: readonly FixtureHost[] = [
  { name: 'alpha', status: 'online', readings: READINGS_FULL },
  { name: 'beta', status: 'stale', readings: READINGS_FULL },
  { name: 'gamma', status: 'offline', readings: READINGS_FULL },
  { name: 'delta', status: 'online', readings: { cpu_pct: 12.25, load_1m: 0, uptime_s: 60 } },
  { name: 'q"uo\\te ü', status: 'online', cpuModel: 'Evil "CPU"} 1', readings: READINGS_FULL },
];

/** Hosts as the dashboard reads them from a store HostTable wrote, energy counted for some. */
function details(hosts: readonly FixtureHost[] = HOSTS): HostDetail[] {
  const { store } = makeStore(hosts, { nowMs: NOW_MS });
  for (const slot of store.readAll()) {
    if (slot.index % 2 === 0) store.write(slot.index, { numbers: [[NUM.ENERGY_SINCE_MS, NOW_MS - 1000], [NUM.ENERGY_TOTAL_KWH, 2.5 + slot.index], [NUM.ENERGY_TOTAL_COST, 0.5]] });
  }
  return store.readAll().map((slot) => hostDetail(store.readSlot(slot.index, true)!, NOW_MS));
}

const byName = (a: HostView, b: HostView): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The host families as each family's series() says, through PromWriter.sample (which checks
 * every name and label and refuses a repeated series): what the cache must write, byte for byte.
 */
function reference(hosts: readonly HostView[], nowMs: number, ctx: MetricsContext): string {
  const w = new PromWriter();
  for (const m of HOST_METRICS) {
    w.family(m.name, m.type, m.help);
    for (const h of hosts) {
      if (m.reading && h.status !== 'online') continue;
      for (const [labels, value] of m.series(h, nowMs, ctx)) if (value !== null) w.sample(m.name, { host: h.name, ...labels }, value);
    }
  }
  return w.toString();
}

function render(cache: HostMetricsCache, hosts: readonly HostView[], nowMs: number, ctx: MetricsContext): string {
  const out: string[] = [];
  cache.write(hosts, nowMs, ctx, out);
  return out.join('');
}

/** A deep copy: each scrape gets views of its own, as hostDetail makes them. */
function copy(hosts: readonly HostDetail[]): HostDetail[] {
  return structuredClone(hosts as HostDetail[]);
}

function lineOf(text: string, start: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(start));
}

test('metrics_cache: writes what the families\' series say, cold and warm, with and without a currency', () => {
  const hosts = details().sort(byName);
  for (const ctx of [NONE, EUR]) {
    const cache = new HostMetricsCache(HOST_METRICS);
    const want = reference(hosts, NOW_MS, ctx);
    assert.equal(render(cache, copy(hosts), NOW_MS, ctx), want, 'cold');
    const written = cache.writes;
    assert.ok(written > 0);
    assert.equal(render(cache, copy(hosts), NOW_MS, ctx), want, 'warm');
    assert.equal(cache.writes, written, 'nothing written again when nothing changed');
    assert.equal(render(cache, copy(hosts), NOW_MS, ctx), want, 'warm, families copied whole');
  }
});

test('metrics_cache: a host written again shows its new values (reading, table cell, label, -0)', () => {
  const { store, ...fx } = makeStore([{ name: 'alpha', status: 'online', readings: READINGS_FULL }, { name: 'beta', status: 'online', readings: READINGS_FULL }], { nowMs: NOW_MS });
  const read = (nowMs: number): HostDetail[] => store.readAll().map((s) => hostDetail(store.readSlot(s.index, true)!, nowMs));
  const cache = new HostMetricsCache(HOST_METRICS);
  const first = render(cache, read(NOW_MS), NOW_MS, NONE);
  assert.equal(lineOf(first, 'sentinel_cpu_usage_ratio{host="alpha"}'), 'sentinel_cpu_usage_ratio{host="alpha"} 0.425');
  // A new sample: one reading, one table cell, one mount point renamed with equal numbers.
  fx.sample('alpha', {
    ...READINGS_FULL, cpu_pct: 50,
    fs: [{ mount: '/', type: 'ext4', size_bytes: 100, used_bytes: 41, free_bytes: 55 }, { mount: '/data', type: 'xfs', size_bytes: 1000, used_bytes: 10, free_bytes: 990 }],
  } as Readings, NOW_MS + 1000);
  const now = NOW_MS + 1000;
  const second = render(cache, read(now), now, NONE);
  assert.equal(second, reference(read(now), now, NONE));
  assert.equal(lineOf(second, 'sentinel_cpu_usage_ratio{host="alpha"}'), 'sentinel_cpu_usage_ratio{host="alpha"} 0.5');
  assert.equal(lineOf(second, 'sentinel_filesystem_used_bytes{host="alpha",mountpoint="/"'), 'sentinel_filesystem_used_bytes{host="alpha",mountpoint="/",fstype="ext4"} 41');
  assert.match(second, /sentinel_filesystem_size_bytes\{host="alpha",mountpoint="\/data",fstype="xfs"\} 1000\n/);
  assert.doesNotMatch(second, /host="alpha",mountpoint="\/srv/);
  assert.equal(lineOf(second, 'sentinel_host_samples_total{host="alpha"}'), 'sentinel_host_samples_total{host="alpha"} 2');
  // beta did not change: still its first values.
  assert.equal(lineOf(second, 'sentinel_cpu_usage_ratio{host="beta"}'), 'sentinel_cpu_usage_ratio{host="beta"} 0.425');
  // 0 and -0 are equal to ===, not in the text: a cached "0" must not stand for -0.
  const views = read(now);
  const zero = views.map((h) => ({ ...h, readings: { ...h.readings, swap_used_bytes: 0 } }));
  const minusZero = views.map((h) => ({ ...h, readings: { ...h.readings, swap_used_bytes: -0 } }));
  assert.equal(lineOf(render(cache, zero, now, NONE), 'sentinel_swap_used_bytes{host="alpha"}'), 'sentinel_swap_used_bytes{host="alpha"} 0');
  assert.equal(lineOf(render(cache, minusZero, now, NONE), 'sentinel_swap_used_bytes{host="alpha"}'), 'sentinel_swap_used_bytes{host="alpha"} -0');
});

test('metrics_cache: a host that disappears vanishes, from the answer and from the cache', () => {
  const hosts = details().sort(byName);
  const cache = new HostMetricsCache(HOST_METRICS);
  render(cache, hosts, NOW_MS, NONE);
  assert.equal(cache.size, hosts.length);
  const rest = hosts.filter((h) => h.name !== 'alpha');
  const text = render(cache, rest, NOW_MS, NONE);
  assert.equal(text, reference(rest, NOW_MS, NONE));
  assert.doesNotMatch(text, /host="alpha"/);
  assert.equal(cache.size, hosts.length - 1);
  assert.equal(render(cache, [], NOW_MS, NONE), '');
  assert.equal(cache.size, 0);
  // Back with other values: nothing of the old ones.
  const back = hosts.map((h) => (h.name === 'alpha' ? { ...h, readings: { ...h.readings, load_1m: 9 } } : h));
  assert.equal(lineOf(render(cache, back, NOW_MS, NONE), 'sentinel_load1{host="alpha"}'), 'sentinel_load1{host="alpha"} 9');
});

test('metrics_cache: status and clock: readings gone while not online, fresh when back; ages follow the clock', () => {
  const hosts = details([{ name: 'alpha', status: 'online', readings: READINGS_FULL }]);
  const cache = new HostMetricsCache(HOST_METRICS);
  render(cache, hosts, NOW_MS, NONE);
  const stale = hosts.map((h) => ({ ...h, status: 'stale' as const }));
  const later = NOW_MS + 10_000;
  const text = render(cache, stale, later, NONE);
  assert.equal(text, reference(stale, later, NONE));
  assert.doesNotMatch(text, /sentinel_cpu_usage_ratio/);
  assert.equal(lineOf(text, 'sentinel_host_last_sample_age_seconds'), 'sentinel_host_last_sample_age_seconds{host="alpha"} 10');
  assert.equal(lineOf(text, 'sentinel_host_status{host="alpha",status="stale"}'), 'sentinel_host_status{host="alpha",status="stale"} 1');
  // Online again with a reading that changed while it was not.
  const back = hosts.map((h) => ({ ...h, readings: { ...h.readings, cpu_pct: 1 } }));
  const again = render(cache, back, later, NONE);
  assert.equal(again, reference(back, later, NONE));
  assert.equal(lineOf(again, 'sentinel_cpu_usage_ratio{host="alpha"}'), 'sentinel_cpu_usage_ratio{host="alpha"} 0.01');
});

/** Values a reading or cell takes in the random loop: equal ones on purpose, -0 and null among them. */
const POOL: ReadonlyArray<number | null> = [0, -0, 1, 0.1, 42.5, 1e21, 8 * 1024 ** 3, null, null];
const MOUNTS = ['/', '/var', '/srv/"x"', '/'];
const TABLE_NAMES: readonly TableName[] = ['cpu_cores_pct', 'fs', 'net', 'power_zones'];

test('metrics_cache: seeded random scrapes (seed 424242) always match the series, never a stale fragment', () => {
  const rand = seededRandom(424242);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const all = details().sort(byName);
  const cache = new HostMetricsCache(HOST_METRICS);
  let views = copy(all);
  let nowMs = NOW_MS;
  for (let scrape = 0; scrape < 300; scrape++) {
    views = copy(views);
    for (let k = 0; k < 3; k++) {
      const h = pick(views);
      const what = rand();
      if (what < 0.3) {
        (h.readings as Record<ReadingName, number | null>)[pick(READINGS).name] = pick(POOL);
      } else if (what < 0.5) {
        const table = pick(TABLE_NAMES);
        const rows = h.tables[table];
        if (table === 'cpu_cores_pct') {
          if (rows.length > 0 && rand() < 0.7) rows[Math.floor(rand() * rows.length)] = pick(POOL);
          else if (rand() < 0.5) rows.push(pick(POOL));
          else rows.pop();
        } else if (table === 'fs') {
          if (rand() < 0.5) rows.push({ mount: pick(MOUNTS), type: pick(['ext4', 'xfs']), size_bytes: pick(POOL), used_bytes: pick(POOL), free_bytes: pick(POOL) });
          else if (rows.length > 0) rows.splice(Math.floor(rand() * rows.length), 1);
        } else if (rows.length > 0) {
          const row = rows[0] as Record<string, number | string | null>;
          if (table === 'net') row[pick(['rx_bps', 'tx_bps', 'rx_pps'])] = pick(POOL);
          else row['zone'] = pick(['package-0', 'dram', 'package-0']);
        }
      } else if (what < 0.65) {
        h.status = pick(['online', 'online', 'stale', 'offline'] as const);
      } else if (what < 0.75) {
        h.samples_total += 1;
        h.received_at_ms = nowMs;
      } else if (what < 0.82) {
        h.agent = pick(['a/1', 'a/2', 'b "3"']);
      } else if (what < 0.9) {
        const base = { today_kwh: 0, today_cost: null, month_kwh: 0, month_cost: null, since_ms: NOW_MS, projection: null };
        h.energy = rand() < 0.2 ? null : { ...(h.energy ?? base), total_kwh: pick([1, 0, -0]), total_cost: pick([null, 0, -0, 0.5]) };
      } else {
        nowMs += pick([0, 500, 1000]);
      }
    }
    // Hosts come and go: now and then one is left out of a scrape.
    const listed = rand() < 0.2 ? views.filter((h) => h !== views[Math.floor(rand() * views.length)]) : views;
    const ctx = rand() < 0.5 ? EUR : NONE;
    const got = render(cache, listed, nowMs, ctx);
    assert.equal(got, reference(listed, nowMs, ctx), `scrape ${scrape}`);
    assert.equal(cache.size, listed.length);
  }
  // And the text is valid all along: the last one parses.
  parseProm(render(cache, views, nowMs, EUR));
});
