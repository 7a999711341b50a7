/**
 * /api/hosts as cached JSON fragments (dashboard/hosts_json.ts): the text parses to exactly
 * what hostView builds from a full slot read (the reference below, the payload's old code), a
 * slot is read again only when its sequence moved, the clock's parts are fresh at every call,
 * and deltas carry the hosts asked for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlertFeed } from '../../dashboard/api.ts';
import { HostsJson, SlotChanges } from '../../dashboard/hosts_json.ts';
import { hostView } from '../../shared/host_view.ts';
import { SLOT_FLAG_USED } from '../../shared/shm_layout.ts';
import type { ShmStore } from '../../shared/shm_store.ts';
import type { StoredRow } from '../../shared/shm_tables.ts';
import { FIXTURE_READINGS, makeStore } from '../helpers/store_fixture.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const GIB = 1024 ** 3;
const HOSTILE = ['<img src=x onerror=alert(1)>', '"quoted"\\back', 'ünï-çødé-☃'];

/** The per-host objects as the payload was built before the cache: full read, hostView, fs table. */
function reference(store: ShmStore, nowMs: number, feed: AlertFeed): unknown[] {
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < store.slotsUsed(); i++) {
    const slot = store.readSlot(i, true);
    if (!slot || (slot.flags & SLOT_FLAG_USED) === 0) continue;
    const v = hostView(slot, nowMs);
    let pct: number | null = null;
    let mount: string | null = null;
    for (const row of slot.tables!.fs.rows as StoredRow[]) {
      const used = row['used_bytes'];
      const free = row['free_bytes'];
      if (typeof used !== 'number' || typeof free !== 'number' || used + free <= 0) continue;
      const p = (used / (used + free)) * 100;
      if (pct === null || p > pct) { pct = p; mount = row['mount'] as string; }
    }
    const memPct = v.mem_used_bytes === null || v.mem_total_bytes === null || v.mem_total_bytes <= 0 ? null : (v.mem_used_bytes / v.mem_total_bytes) * 100;
    const alerts = feed.alerts.filter((a) => a.host === v.name).map((a) => ({ rule: a.rule, metric: a.metric, instance: a.instance, state: a.state }));
    out.push({ ...v, mem_used_pct: memPct, disk_fullest_pct: pct, disk_fullest_mount: mount, alerts });
  }
  out.sort((a, b) => ((a['name'] as string) < (b['name'] as string) ? -1 : 1));
  return JSON.parse(JSON.stringify(out)) as unknown[];
}

const FEED: AlertFeed = {
  version: 1,
  rules: [{ name: 'cpu_high', metric: 'cpu_pct', op: '>', threshold: 90, for_s: 0 }],
  alerts: [{ rule: 'cpu_high', host: HOSTILE[0]!, instance: '', metric: 'cpu_pct', op: '>', threshold: 90, for_s: 0, value: 97, state: 'firing', active_since_ms: NOW - 1000, fired_at_ms: NOW - 500 }],
};

function fixture() {
  return makeStore([
    { name: 'web-1', status: 'online', intervalMs: 60_000, readings: { ...FIXTURE_READINGS, power_w: 120.5, fs: [{ mount: '/', type: 'ext4', size_bytes: 100 * GIB, used_bytes: 50 * GIB, free_bytes: 45 * GIB }, { mount: '/var', type: 'xfs', size_bytes: 10 * GIB, used_bytes: 9 * GIB, free_bytes: GIB / 2 }] } },
    { name: 'old', status: 'offline' },
    { name: 'slow', status: 'stale', readings: { cpu_pct: 3 } },
    ...HOSTILE.map((name) => ({ name, status: 'online' as const, intervalMs: 60_000, os: `${name} OS`, readings: { ...FIXTURE_READINGS, fs: [{ mount: name, type: 'ext4', size_bytes: 1, used_bytes: 1, free_bytes: 0 }] } })),
  ], { capacity: 16, nowMs: NOW });
}

test('hosts_json: the text parses to the reference objects, hostile names included, and stays one line', () => {
  const fx = fixture();
  const hj = new HostsJson(fx.store);
  const text = hj.payloadJson(NOW + 1234, FEED, { currency: null, timeZone: 'UTC', projectionDays: 30 }).toString('utf8');
  assert.ok(!/[\r\n]/.test(text), 'one line: it travels as an SSE data field');
  const parsed = JSON.parse(text) as { hosts: unknown[]; summary: { hosts: number; alerts_firing: number } };
  assert.deepEqual(parsed.hosts, reference(fx.store, NOW + 1234, FEED));
  assert.equal(parsed.summary.hosts, 3 + HOSTILE.length);
  assert.equal(parsed.summary.alerts_firing, 1);
});

test('hosts_json: a slot is read again only when its sequence moved; status and age follow the clock', () => {
  const fx = fixture();
  const hj = new HostsJson(fx.store);
  hj.payloadJson(NOW, FEED, { currency: null, timeZone: 'UTC', projectionDays: 30 });
  const reads = hj.reads;
  const later = NOW + 10 * 60_000;
  const again = JSON.parse(hj.payloadJson(later, FEED, { currency: null, timeZone: 'UTC', projectionDays: 30 }).toString('utf8')) as { hosts: Array<{ name: string; status: string; age_ms: number }> };
  assert.equal(hj.reads, reads, 'nothing written: nothing read');
  assert.deepEqual(again.hosts, reference(fx.store, later, FEED));
  assert.equal(again.hosts.find((h) => h.name === 'web-1')!.status, 'stale');
  fx.sample('web-1', { ...FIXTURE_READINGS, cpu_pct: 77.25 }, later);
  const third = JSON.parse(hj.payloadJson(later, FEED, { currency: null, timeZone: 'UTC', projectionDays: 30 }).toString('utf8')) as { hosts: Array<{ name: string; cpu_pct: number; status: string }> };
  assert.equal(hj.reads, reads + 1);
  assert.equal(third.hosts.find((h) => h.name === 'web-1')!.cpu_pct, 77.25);
  assert.equal(third.hosts.find((h) => h.name === 'web-1')!.status, 'online');
});

test('hosts_json: SlotChanges lists the slots written since the last call; a delta carries just them', () => {
  const fx = fixture();
  const hj = new HostsJson(fx.store);
  const changes = new SlotChanges(fx.store);
  changes.reset();
  assert.deepEqual(changes.changed(), []);
  fx.sample('web-1', { ...FIXTURE_READINGS, cpu_pct: 11 }, NOW + 10);
  fx.sample(HOSTILE[0]!, { ...FIXTURE_READINGS, cpu_pct: 22 }, NOW + 10);
  const slots = changes.changed();
  assert.equal(slots.length, 2);
  assert.deepEqual(changes.changed(), [], 'taken as seen');
  const text = hj.deltaJson(slots, NOW + 20, FEED, 'event: delta\ndata: ', '\n\n').toString('utf8');
  assert.ok(text.startsWith('event: delta\ndata: {') && text.endsWith('}\n\n'));
  const delta = JSON.parse(text.slice('event: delta\ndata: '.length)) as { now_ms: number; hosts: Array<{ name: string; cpu_pct: number; sample_ts_ms: number }> };
  assert.equal(delta.now_ms, NOW + 20);
  const all = reference(fx.store, NOW + 20, FEED) as Array<{ name: string }>;
  assert.deepEqual(delta.hosts.sort((a, b) => (a.name < b.name ? -1 : 1)), all.filter((h) => h.name === 'web-1' || h.name === HOSTILE[0]).sort((a, b) => (a.name < b.name ? -1 : 1)));
  assert.equal(delta.hosts.find((h) => h.name === 'web-1')!.sample_ts_ms, NOW + 10);
});
