/**
 * The overview's payloads: fleet summary, thresholds from the alert rules, per-host derived
 * values and alerts (hostsPayload), and the fleet's sparklines (sparklinesPayload), read from a
 * store written through the collector's own write path.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertsPayload, hostsPayload, NO_HOST_CHAR, sparklinesPayload, STATUS_CHARS, statusJson, thresholdsOf, type AlertFeed, type AlertView, type EnergyInfo, type StatusPayload } from '../../dashboard/api.ts';
import type { PowerSource, Readings } from '../../shared/protocol.ts';
import { HISTORY_SERIES, NUM } from '../../shared/shm_layout.ts';
import { writeEnergy } from '../helpers/energy_fixture.ts';
import { seededRandom } from '../helpers/hex.ts';
import { FIXTURE_READINGS, makeStore } from '../helpers/store_fixture.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const GIB = 1024 ** 3;

function alert(over: Partial<AlertView>): AlertView {
  return {
    rule: 'cpu_high', host: 'web-1', instance: '', metric: 'cpu_pct', op: '>', threshold: 90, for_s: 300, value: 97,
    state: 'firing', active_since_ms: NOW - 400_000, fired_at_ms: NOW - 100_000, ...over,
  };
}

const FEED: AlertFeed = {
  version: 3,
  rules: [
    { name: 'cpu_high', metric: 'cpu_pct', op: '>', threshold: 90, for_s: 300 },
    { name: 'cpu_low', metric: 'cpu_pct', op: '<', threshold: 1, for_s: 0 },
    { name: 'cpu_higher', metric: 'cpu_pct', op: '>', threshold: 99, for_s: 0 },
    { name: 'filesystem_full', metric: 'fs_used_pct', op: '>=', threshold: 95, for_s: 0 },
    { name: 'host_offline', metric: 'offline_s', op: '>', threshold: 60, for_s: 0 },
  ],
  alerts: [alert({}), alert({ rule: 'filesystem_full', metric: 'fs_used_pct', instance: '/var', state: 'pending', fired_at_ms: null, value: 96 })],
};

test('thresholdsOf: the first > or >= rule per coloured metric; null where none', () => {
  assert.deepEqual(thresholdsOf(FEED.rules), { cpu_pct: 90, mem_used_pct: null, fs_used_pct: 95, temp_max_c: null });
  assert.deepEqual(thresholdsOf([]), { cpu_pct: null, mem_used_pct: null, fs_used_pct: null, temp_max_c: null });
});

test('hostsPayload: fleet summary over online hosts, weighted CPU, power, alerts', () => {
  const fx = makeStore([
    { name: 'web-1', status: 'online', cpuCores: 8, intervalMs: 60_000, readings: { ...FIXTURE_READINGS, cpu_pct: 50, power_w: 120.5, mem_total_bytes: 16 * GIB, mem_used_bytes: 4 * GIB } },
    { name: 'web-2', status: 'online', cpuCores: 2, intervalMs: 60_000, readings: { ...FIXTURE_READINGS, cpu_pct: 100, mem_total_bytes: 4 * GIB, mem_used_bytes: 3 * GIB, mem_available_bytes: GIB } },
    { name: 'old', status: 'offline', cpuCores: 64, readings: { ...FIXTURE_READINGS, cpu_pct: 0, power_w: 400 } },
    { name: 'slow', status: 'stale', readings: FIXTURE_READINGS },
  ], { nowMs: NOW });
  const p = hostsPayload(fx.store, NOW, FEED);
  assert.equal(p.summary.hosts, 4);
  assert.equal(p.summary.online, 2);
  assert.equal(p.summary.offline, 1);
  assert.equal(p.summary.stale, 1);
  // (0.5 x 8 + 1.0 x 2) / 10 cores = 60 %; the offline 64-core host does not dilute it.
  assert.equal(p.summary.cpu_cores, 10);
  assert.ok(Math.abs(p.summary.cpu_pct! - 60) < 1e-9);
  assert.equal(p.summary.mem_used_bytes, 7 * GIB);
  assert.equal(p.summary.mem_total_bytes, 20 * GIB);
  // Only online hosts that report power count.
  assert.equal(p.summary.power_w, 120.5);
  assert.equal(p.summary.power_hosts, 1);
  assert.equal(p.summary.alerts_firing, 1);
  assert.equal(p.summary.cost_today, null);
  assert.deepEqual(p.thresholds, thresholdsOf(FEED.rules));
  assert.equal(p.alerts.length, 2);
  const web1 = p.hosts.find((h) => h.name === 'web-1')!;
  assert.equal(web1.mem_used_pct, 25);
  assert.deepEqual(web1.alerts.map((a) => `${a.rule}:${a.instance}:${a.state}`), ['cpu_high::firing', 'filesystem_full:/var:pending']);
  assert.deepEqual(p.hosts.find((h) => h.name === 'web-2')!.alerts, []);
});

test('hostsPayload: disk fullest from the fs table (df Use%: used / (used + free)); null without one', () => {
  const fs = [
    { mount: '/', type: 'ext4', size_bytes: 100 * GIB, used_bytes: 50 * GIB, free_bytes: 45 * GIB },
    // Reserved blocks make size > used + free: Use% is what an unprivileged user can still fill.
    { mount: '/var', type: 'xfs', size_bytes: 10 * GIB, used_bytes: 9 * GIB, free_bytes: 0.5 * GIB },
    { mount: '/empty', type: 'ext4', size_bytes: 0, used_bytes: 0, free_bytes: 0 },
  ];
  const fx = makeStore([
    { name: 'a', status: 'online', intervalMs: 60_000, readings: { ...FIXTURE_READINGS, fs } as never },
    { name: 'b', status: 'online', intervalMs: 60_000 },
  ], { nowMs: NOW });
  const p = hostsPayload(fx.store, NOW);
  const a = p.hosts.find((h) => h.name === 'a')!;
  assert.equal(a.disk_fullest_mount, '/var');
  assert.ok(Math.abs(a.disk_fullest_pct! - (9 / 9.5) * 100) < 1e-9);
  const b = p.hosts.find((h) => h.name === 'b')!;
  assert.equal(b.disk_fullest_pct, null);
  assert.equal(b.disk_fullest_mount, null);
  // Without a feed: no thresholds, no alerts.
  assert.deepEqual(p.alerts, []);
  assert.equal(p.thresholds.cpu_pct, null);
});

test('alertsPayload: rules and alerts as fed', () => {
  assert.deepEqual(alertsPayload(FEED, NOW), { now_ms: NOW, rules: FEED.rules, alerts: FEED.alerts });
});

test('sparklinesPayload: bucket means over the window, memory in percent of total, null where no sample', () => {
  const start = NOW - 120_000;
  const fx = makeStore([{ name: 'h', status: 'online', intervalMs: 60_000, readings: { ...FIXTURE_READINGS, mem_total_bytes: 8 * GIB } }], { nowMs: start });
  // One sample a second for the first minute: CPU = second index, memory 2 GiB then 6 GiB.
  for (let s = 1; s <= 60; s++) {
    fx.sample('h', { ...FIXTURE_READINGS, mem_total_bytes: 8 * GIB, cpu_pct: s, mem_used_bytes: (s <= 30 ? 2 : 6) * GIB }, start + s * 1000);
  }
  const p = sparklinesPayload(fx.store, 120, 4, NOW);
  assert.equal(p.points, 4);
  assert.equal(p.step_ms, 30_000);
  // The window ends with the current second.
  assert.equal(p.from_ms + 4 * p.step_ms, NOW + 1000);
  const h = p.hosts['h']!;
  assert.equal(h.cpu_pct.length, 4);
  // Buckets: [start+1s, start+31s) holds s = 1..30 (mean 15.5) when from_ms = start + 1 s.
  assert.equal(p.from_ms, start + 1000);
  assert.deepEqual(h.cpu_pct, [15.5, 45.5, null, null]);
  assert.deepEqual(h.mem_used_pct, [25, 75, null, null]);
});

test('sparklinesPayload: points bounded by the ring; a host without history gets nulls', () => {
  const fx = makeStore([{ name: 'h', status: 'offline' }], { nowMs: NOW - 10 * 86_400_000 });
  const p = sparklinesPayload(fx.store, 86_400, 60, NOW);
  // The ring holds 900 s: the window is clamped to it.
  assert.equal(p.step_ms, 15_000);
  assert.deepEqual(p.hosts['h']!.cpu_pct, new Array(60).fill(null));
});

test('sparklinesPayload: each bucket the mean of the ring\'s seconds in it, to hundredths as toFixed(2) rounds it (seeded rings with gaps and missing values)', () => {
  const start = NOW - 900_000;
  const names = ['a', 'b', 'c'];
  const fx = makeStore(names.map((name, i) => ({ name, status: 'online' as const, intervalMs: 60_000, readings: { ...FIXTURE_READINGS, mem_total_bytes: 8 * GIB + i * 12_345 } })), { nowMs: start });
  const rand = seededRandom(20261123);
  const width = HISTORY_SERIES.length;
  const cpuAt = HISTORY_SERIES.indexOf('cpu_pct');
  const memAt = HISTORY_SERIES.indexOf('mem_used_bytes');
  const values = new Float64Array(width);
  for (let s = 1; s <= 900; s++) {
    for (let i = 0; i < names.length; i++) {
      if (rand() < 0.1) continue;
      values.fill(1);
      values[cpuAt] = rand() < 0.05 ? Number.NaN : rand() * 100;
      values[memAt] = rand() * 8 * GIB;
      fx.store.writeHistory(i, start + s * 1000, values);
    }
  }
  for (const [seconds, points] of [[900, 60], [120, 7], [60, 60], [900, 300], [33, 5]] as const) {
    const p = sparklinesPayload(fx.store, seconds, points, NOW + 400);
    for (const [i, name] of names.entries()) {
      const total = fx.store.readSlot(i)!.numbers[NUM.MEM_TOTAL_BYTES]!;
      const ring = fx.store.readHistory(i, p.from_ms, p.from_ms + p.step_ms * points - 1)!;
      const want = (series: number, scale: number): Array<number | null> => Array.from({ length: points }, (_, b) => {
        const inside = ring.t.map((t, k) => [t, ring.values[series]![k]! * scale] as const).filter(([t, v]) => Math.floor((t - p.from_ms) / p.step_ms) === b && Number.isFinite(v));
        return inside.length === 0 ? null : Number((inside.reduce((a, [, v]) => a + v, 0) / inside.length).toFixed(2));
      });
      assert.deepEqual(p.hosts[name]!.cpu_pct, want(cpuAt, 1), `${name} cpu, ${seconds} s in ${points}`);
      const mem = p.hosts[name]!.mem_used_pct;
      want(memAt, 100 / total).forEach((v, b) => {
        // Percent of the total: the page's figure, a rounding step from the reference's at most.
        if (v === null) assert.equal(mem[b], null);
        else assert.ok(Math.abs(mem[b]! - v) <= 0.0100001, `${name} mem bucket ${b}: ${mem[b]} against ${v}`);
      });
    }
  }
});

test('sparklinesPayload: with slots, only the hosts in those slots; a slot past those in use is skipped', () => {
  const start = NOW - 60_000;
  const fx = makeStore(['a', 'b', 'c', 'd'].map((name) => ({ name, status: 'online' as const, intervalMs: 60_000 })), { capacity: 8, nowMs: start });
  for (let s = 1; s <= 10; s++) for (const [i, name] of ['a', 'b', 'c', 'd'].entries()) fx.sample(name, { ...FIXTURE_READINGS, cpu_pct: 10 * (i + 1) }, start + s * 1000);
  const all = sparklinesPayload(fx.store, 60, 6, NOW);
  assert.deepEqual(Object.keys(all.hosts).sort(), ['a', 'b', 'c', 'd']);
  const some = sparklinesPayload(fx.store, 60, 6, NOW, Int32Array.from([1, 3, 6]));
  assert.deepEqual(Object.keys(some.hosts).sort(), ['b', 'd']);
  // The same series as in the answer for every host.
  assert.deepEqual(some.hosts['b'], all.hosts['b']);
  assert.deepEqual(some.hosts['d'], all.hosts['d']);
  assert.equal(some.hosts['b']!.cpu_pct.filter((v) => v === 20).length, 1, 'b\'s own readings');
  assert.deepEqual(Object.keys(sparklinesPayload(fx.store, 60, 6, NOW, new Int32Array(0)).hosts), []);
});

test('statusJson: the same summary as /api/hosts, every slot\'s status as the clock ages it, alerts only when asked', async (t) => {
  const power = (w: number, source: PowerSource): Readings => ({ ...FIXTURE_READINGS, power_w: w, power_source: source } as Readings);
  const fx = makeStore([
    { name: 'web-1', status: 'online', cpuCores: 8, intervalMs: 10_000, readings: { ...power(120.5, 'measured'), cpu_pct: 50 } },
    { name: 'web-2', status: 'online', cpuCores: 2, intervalMs: 60_000, readings: { ...power(80, 'estimated'), cpu_pct: 100 } },
    { name: '<b>x</b>', status: 'offline', cpuCores: 64, readings: power(400, 'measured') },
    { name: 'slow', status: 'stale', readings: FIXTURE_READINGS },
  ], { nowMs: NOW });
  ['web-1', 'web-2', '<b>x</b>'].forEach((name, i) => writeEnergy(fx.store, name, {
    today: [1 + i, 0.25 + i], month: [20 + i, 5 + i], total: [60, 15], sinceDays: 60,
    projection: i === 1 ? undefined : { month: [30 + i, 7.5 + i], next: [30, 7.5], days: 30 },
  }, { nowMs: NOW }));
  const eur: EnergyInfo = { currency: 'EUR', timeZone: 'UTC', projectionDays: 30 };
  // Now, and 40 s later: web-1 (10 s interval) has turned stale by the clock alone.
  for (const at of [NOW, NOW + 40_000]) {
    await t.test(`at +${at - NOW} ms`, () => {
      const full = hostsPayload(fx.store, at, FEED, eur);
      const s = JSON.parse(statusJson(fx.store, at, FEED, eur, false)) as StatusPayload;
      assert.deepEqual(s.summary, full.summary, 'the summary /api/hosts has');
      assert.equal(s.now_ms, at);
      assert.equal(s.statuses.length, fx.store.slotsUsed());
      for (const h of full.hosts) assert.equal(s.statuses[h.slot], STATUS_CHARS[h.status], h.name);
      assert.equal(s.alerts, undefined);
      assert.equal(s.thresholds, undefined);
    });
  }
  assert.equal((JSON.parse(statusJson(fx.store, NOW + 40_000, FEED, eur, false)) as StatusPayload).statuses[0], STATUS_CHARS.stale);
  const withAlerts = JSON.parse(statusJson(fx.store, NOW, FEED, eur, true)) as StatusPayload;
  assert.deepEqual(withAlerts.alerts, FEED.alerts);
  assert.deepEqual(withAlerts.thresholds, thresholdsOf(FEED.rules));
  // Tens of bytes per host at most: one character each, plus the summary.
  assert.ok(statusJson(fx.store, NOW, FEED, eur, false).length < 1000);
  assert.equal(JSON.parse(statusJson(makeStore([]).store, NOW, FEED, eur, false)).statuses, '');
  assert.notEqual(NO_HOST_CHAR, STATUS_CHARS.online);
});
