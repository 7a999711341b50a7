/**
 * dashboard/api.ts over a real store filled through HostTable: finding a host by name, the host
 * detail with its tables, and the history payload (window, clamp to the ring, nulls, rounding).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostTable } from '../../collector/hosts.ts';
import { EMPTY_ALERT_FEED, findHost, historyPayload, hostDetailPayload, hostsPayload, type AlertFeed, type AlertView } from '../../dashboard/api.ts';
import { MSG_HELLO, parseSample, PROTO_VERSION, type Hello } from '../../shared/protocol.ts';
import { HISTORY_SERIES, HISTORY_STEP_MS, TABLE_BOUNDS } from '../../shared/shm_layout.ts';
import { ShmStore } from '../../shared/shm_store.ts';

const T0 = 1_750_000_000_000;
const NAMES = ['web-1', 'Web-1', 'café', '<b>x</b>', 'a/b c'];

function hello(host: string): Hello {
  return { type: MSG_HELLO, proto: PROTO_VERSION, host, agent: 'a/1', token: 't', interval_ms: 1000 };
}

/**
 * A store with a 10-second ring; each host sends 20 samples at T0 .. T0+19 s, cpu_pct = second,
 * and web-1's last sample carries tables.
 */
function fixture(): { store: ShmStore; table: HostTable; owners: Map<string, { id: number }> } {
  const store = ShmStore.create(8, T0, 10);
  const table = new HostTable(store);
  const owners = new Map<string, { id: number }>();
  NAMES.forEach((name, i) => {
    const owner = { id: i + 1 };
    owners.set(name, owner);
    table.claim(hello(name), owner, T0);
    for (let k = 0; k < 20; k++) {
      const ts = T0 + k * 1000;
      const tables = name === 'web-1' && k === 19
        ? { fs: Array.from({ length: TABLE_BOUNDS.fs.rows + 2 }, (_, r) => ({ mount: `/m${r}`, type: 'ext4', size_bytes: 100 })), cpu_cores_pct: [1, 2] }
        : {};
      table.recordSample(name, owner, parseSample({ type: 'sample', seq: k + 1, ts, cpu_pct: k, load_1m: k / 10, ...tables }), ts);
    }
  });
  return { store, table, owners };
}

const NOW = T0 + 19_000;

test('findHost: exact name (case and every character count), -1 when unknown', async (t) => {
  const { store } = fixture();
  const cases: ReadonlyArray<[string, number]> = [
    ['web-1', 0], ['Web-1', 1], ['café', 2], ['<b>x</b>', 3], ['a/b c', 4],
    ['WEB-1', -1], ['web-1 ', -1], ['cafe\u0301', -1], ['', -1], ['web', -1],
  ];
  for (const [name, slot] of cases) await t.test(JSON.stringify(name), () => assert.equal(findHost(store, name), slot));
});

test('hostDetailPayload: the host with its tables and truncated counts; null when unknown', () => {
  const { store } = fixture();
  const p = hostDetailPayload(store, 'web-1', NOW)!;
  assert.equal(p.now_ms, NOW);
  assert.equal(p.host.name, 'web-1');
  assert.equal(p.host.status, 'online');
  assert.equal(p.host.cpu_pct, 19);
  assert.equal(p.host.tables.fs.length, TABLE_BOUNDS.fs.rows);
  assert.deepEqual(p.host.tables.fs[0], { mount: '/m0', type: 'ext4', size_bytes: 100, used_bytes: null, free_bytes: null });
  assert.equal(p.host.truncated.fs, 2);
  assert.deepEqual(p.host.tables.cpu_cores_pct, [1, 2]);
  assert.deepEqual(p.host.tables.gpu, []);
  assert.equal(hostDetailPayload(store, 'Web-1', NOW)!.host.tables.fs.length, 0, 'another host, its own (empty) tables');
  assert.equal(hostDetailPayload(store, 'nope', NOW), null);
  // JSON: what the route sends; no NaN can hide in it.
  assert.doesNotMatch(JSON.stringify(p), /NaN/);
});

// ---- /api/hosts/NAME carries what /api/hosts says of the host, figure for figure ----------------

const GIB = 2 ** 30;
/** Hosts whose memory and filesystems exercise every branch of the derived figures. */
const DERIVED_HOSTS: ReadonlyArray<{ name: string; sample: Record<string, unknown> }> = [
  { name: 'db-1', sample: { mem_total_bytes: 8 * GIB, mem_used_bytes: 3 * GIB, fs: [
    { mount: '/', type: 'ext4', size_bytes: 100 * GIB, used_bytes: 50 * GIB, free_bytes: 50 * GIB },
    { mount: '/var', type: 'xfs', size_bytes: 100 * GIB, used_bytes: 90 * GIB, free_bytes: 10 * GIB },
    { mount: '/data', type: 'xfs', size_bytes: 100 * GIB },
  ] } },
  // Root's reserved blocks count as full: 40 used, 40 free of 100 is 50 %, not 40 %.
  { name: 'reserved', sample: { mem_total_bytes: 3 * GIB, mem_used_bytes: 1 * GIB, fs: [{ mount: '/', type: 'ext4', size_bytes: 100 * GIB, used_bytes: 40 * GIB, free_bytes: 40 * GIB }] } },
  // Two equally full: the first is named.
  { name: 'tie', sample: { fs: [
    { mount: '/a', type: 'ext4', size_bytes: 10 * GIB, used_bytes: 6 * GIB, free_bytes: 4 * GIB },
    { mount: '/b', type: 'ext4', size_bytes: 20 * GIB, used_bytes: 12 * GIB, free_bytes: 8 * GIB },
  ] } },
  // An empty filesystem (used + free = 0) is no figure; nor is a host with no memory reading.
  { name: 'empty-fs', sample: { fs: [{ mount: '/boot', type: 'vfat', size_bytes: 0, used_bytes: 0, free_bytes: 0 }] } },
  { name: '<b>x</b>', sample: {} },
];

function alert(host: string, rule: string, instance: string, state: AlertView['state']): AlertView {
  return { rule, host, instance, metric: instance === '' ? 'mem_used_pct' : 'fs_used_pct', op: '>', threshold: 80, for_s: 60, value: 90, state, active_since_ms: T0, fired_at_ms: state === 'firing' ? T0 : null };
}

test('hostDetailPayload: mem_used_pct, disk_fullest_* and alerts equal what /api/hosts gives the same host, field for field', () => {
  const store = ShmStore.create(8, T0, 10);
  const table = new HostTable(store);
  DERIVED_HOSTS.forEach(({ name, sample }, i) => {
    const owner = { id: i + 1 };
    table.claim(hello(name), owner, T0);
    table.recordSample(name, owner, parseSample({ type: 'sample', seq: 1, ts: NOW, cpu_pct: 10, ...sample }), NOW);
  });
  const feed: AlertFeed = {
    version: 1,
    rules: [],
    alerts: [alert('db-1', 'disk_full', '/var', 'firing'), alert('<b>x</b>', 'mem_high', '', 'pending'), alert('db-1', 'mem_high', '', 'pending'), alert('gone', 'mem_high', '', 'firing')],
  };
  const overview = hostsPayload(store, NOW, feed).hosts;
  assert.equal(overview.length, DERIVED_HOSTS.length);
  const byName = new Map(overview.map((h) => [h.name, h]));
  const expected: Record<string, [number | null, number | null, string | null, number]> = {
    'db-1': [37.5, 90, '/var', 2], reserved: [(1 / 3) * 100, 50, '/', 0], tie: [null, 60, '/a', 0], 'empty-fs': [null, null, null, 0], '<b>x</b>': [null, null, null, 1],
  };
  for (const { name } of DERIVED_HOSTS) {
    const detail = hostDetailPayload(store, name, NOW, undefined, feed)!.host as unknown as Record<string, unknown>;
    const o = byName.get(name)! as unknown as Record<string, unknown>;
    for (const key of Object.keys(o)) assert.deepEqual(detail[key], o[key], `${name}: ${key}`);
    const [mem, disk, mount, alerts] = expected[name]!;
    assert.deepEqual([detail.mem_used_pct, detail.disk_fullest_pct, detail.disk_fullest_mount, (detail.alerts as unknown[]).length], [mem, disk, mount, alerts], name);
  }
  assert.deepEqual(hostDetailPayload(store, 'db-1', NOW, undefined, feed)!.host.alerts, [
    { rule: 'disk_full', metric: 'fs_used_pct', instance: '/var', state: 'firing' },
    { rule: 'mem_high', metric: 'mem_used_pct', instance: '', state: 'pending' },
  ]);
  assert.deepEqual(hostDetailPayload(store, 'db-1', NOW, undefined, EMPTY_ALERT_FEED)!.host.alerts, [], 'no alerts: an empty list');
});

interface HistoryCase { name: string; seconds: number; nowMs: number; spanS: number; points: number[] }
// The ring holds seconds 10..19 (10 points); the window is [now - span, now + 5 s].
const HISTORY_CASES: readonly HistoryCase[] = [
  { name: 'the last 5 seconds (both ends inclusive)', seconds: 5, nowMs: NOW, spanS: 5, points: [14, 15, 16, 17, 18, 19] },
  { name: 'exactly the ring', seconds: 10, nowMs: NOW, spanS: 10, points: [10, 11, 12, 13, 14, 15, 16, 17, 18, 19] },
  { name: 'more than the ring is clamped to it', seconds: 60, nowMs: NOW, spanS: 10, points: [10, 11, 12, 13, 14, 15, 16, 17, 18, 19] },
  { name: 'a day is clamped to the ring', seconds: 86_400, nowMs: NOW, spanS: 10, points: [10, 11, 12, 13, 14, 15, 16, 17, 18, 19] },
  { name: 'one second', seconds: 1, nowMs: NOW, spanS: 1, points: [18, 19] },
  { name: 'an agent clock 4 s fast still shows its latest point', seconds: 3, nowMs: NOW - 4000, spanS: 3, points: [12, 13, 14, 15, 16, 17, 18, 19] },
  { name: 'points more than 5 s ahead of now are not shown', seconds: 3, nowMs: NOW - 6000, spanS: 3, points: [10, 11, 12, 13, 14, 15, 16, 17, 18] },
  { name: 'long after the last sample: nothing in the window', seconds: 10, nowMs: NOW + 60_000, spanS: 10, points: [] },
];

test('historyPayload: window, clamp to the ring, series and step', async (t) => {
  const { store } = fixture();
  for (const c of HISTORY_CASES) {
    await t.test(c.name, () => {
      const p = historyPayload(store, 'café', c.seconds, c.nowMs)!;
      assert.equal(p.host, 'café');
      assert.equal(p.now_ms, c.nowMs);
      assert.equal(p.step_ms, HISTORY_STEP_MS);
      assert.equal(p.seconds, c.spanS);
      assert.deepEqual(p.series, HISTORY_SERIES);
      assert.deepEqual(Object.keys(p.values), [...HISTORY_SERIES]);
      assert.deepEqual(p.t, c.points.map((k) => T0 + k * 1000));
      assert.deepEqual(p.values['cpu_pct'], c.points);
      for (const s of HISTORY_SERIES) assert.equal(p.values[s]!.length, c.points.length, s);
    });
  }
  assert.equal(historyPayload(store, 'nope', 60, NOW), null);
});

test('historyPayload: null where a sample had no value; 7 significant digits from float32', () => {
  const store = ShmStore.create(2, T0, 10);
  const table = new HostTable(store);
  const owner = { id: 1 };
  table.claim(hello('h'), owner, T0);
  const readings = [
    { cpu_pct: 0.1, load_1m: 1234.5678, mem_used_bytes: 123_456_789, mem_total_bytes: 2 ** 40, temp_max_c: -12.345678 },
    { cpu_pct: 100 / 3, net_rx_bps: 1e15, power_w: 0 },
  ];
  readings.forEach((r, k) => table.recordSample('h', owner, parseSample({ type: 'sample', seq: k + 1, ts: T0 + k * 1000, ...r }), T0 + k * 1000));
  const p = historyPayload(store, 'h', 10, T0 + 1000)!;
  assert.deepEqual(p.values, {
    cpu_pct: [0.1, 33.33333],
    mem_used_bytes: [123_456_800, null],
    load_1m: [1234.568, null],
    net_rx_bps: [null, 1e15],
    net_tx_bps: [null, null],
    disk_read_bps: [null, null],
    disk_write_bps: [null, null],
    temp_max_c: [-12.34568, null],
    power_w: [null, 0],
  });
  // What the route sends: nulls survive JSON, NaN never appears.
  assert.deepEqual(JSON.parse(JSON.stringify(p)).values.cpu_pct, [0.1, 33.33333]);
});
