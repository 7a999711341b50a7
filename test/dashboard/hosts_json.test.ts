/**
 * /api/hosts as cached JSON fragments (dashboard/hosts_json.ts): the text parses to exactly
 * what hostView builds from a full slot read (the reference below, the payload's old code), a
 * slot is read again only when its sequence moved, the clock's parts are fresh at every call,
 * and deltas carry the hosts asked for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlertFeed } from '../../dashboard/api.ts';
import { HostsJson, type HostsView, SlotChanges } from '../../dashboard/hosts_json.ts';
import { overviewViews } from '../../dashboard/server.ts';
import { FactsMemo } from '../../dashboard/hosts_json_entry.ts';
import { hostView } from '../../shared/host_view.ts';
import { NUM, SLOT_FLAG_USED, STR } from '../../shared/shm_layout.ts';
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

/** The slot holding `name`. */
function slotOf(store: ShmStore, name: string): number {
  for (let i = 0; i < store.slotsUsed(); i++) if (store.readSlot(i)?.strings[STR.HOST] === name) return i;
  throw new Error(`no slot holds ${name}`);
}

/** Gives a host energy figures as the collector's energy service writes them; today ends at `todayUntilMs`. */
function giveEnergy(store: ShmStore, name: string, todayUntilMs: number): void {
  store.write(slotOf(store, name), {
    numbers: [
      [NUM.ENERGY_SINCE_MS, NOW - 86_400_000], [NUM.ENERGY_TODAY_KWH, 1.25], [NUM.ENERGY_TODAY_COST, 0.3125], [NUM.ENERGY_TODAY_UNTIL_MS, todayUntilMs],
      [NUM.ENERGY_MONTH_KWH, 20.5], [NUM.ENERGY_MONTH_COST, 5.125], [NUM.ENERGY_MONTH_UNTIL_MS, NOW + 10 * 86_400_000],
      [NUM.ENERGY_TOTAL_KWH, 40.75], [NUM.ENERGY_TOTAL_COST, 10.1875], [NUM.PROJ_MONTH_KWH, 61.5], [NUM.PROJ_MONTH_COST, 15.375],
      [NUM.PROJ_NEXT_KWH, 36.9], [NUM.PROJ_NEXT_COST, 9.225], [NUM.PROJ_DAYS, 30], [NUM.PROJ_UNTIL_MS, NOW + 10 * 86_400_000],
    ],
  });
}

/** The hosts' part of the payload text as the text-based code wrote it: JSON.stringify of each reference object, keys in the fragment's order. */
function referenceText(store: ShmStore, nowMs: number, feed: AlertFeed): string {
  const order = [
    'name', 'slot', 'received_at_ms', 'sample_ts_ms', 'sample_seq', 'samples_total', 'interval_ms', 'connected_since_ms', 'disconnected_at_ms',
    'agent', 'os', 'kernel', 'arch', 'cpu_model', 'cpu_cores', 'cpu_pct', 'load', 'mem_total_bytes', 'mem_used_bytes', 'mem_available_bytes',
    'swap_total_bytes', 'swap_used_bytes', 'uptime_s', 'note', 'readings', 'boot_time_ms', 'power_source', 'mem_used_pct', 'disk_fullest_pct',
    'disk_fullest_mount', 'energy', 'status', 'age_ms', 'alerts',
  ];
  const hosts = reference(store, nowMs, feed) as Array<Record<string, unknown>>;
  return `[${hosts.map((h) => JSON.stringify(Object.fromEntries(order.map((k) => [k, h[k]])))).join(',')}]`;
}

function hostsText(payload: Buffer): string {
  const text = payload.toString('utf8');
  return text.slice(text.indexOf(',"hosts":[') + ',"hosts":'.length, -1);
}

const ENERGY = { currency: 'EUR', timeZone: 'UTC', projectionDays: 30 };

test('hosts_json: the hosts are byte for byte what JSON.stringify wrote, energy blocks and hostile strings included', () => {
  const fx = fixture();
  giveEnergy(fx.store, 'web-1', NOW + 3_600_000);
  giveEnergy(fx.store, HOSTILE[2]!, NOW + 3_600_000);
  fx.store.write(slotOf(fx.store, 'slow'), { strings: [[STR.NOTE, 'temp_max_c: "no sensor"\n\tbad byte \u0001 ☃']] });
  const hj = new HostsJson(fx.store);
  assert.equal(hostsText(hj.payloadJson(NOW + 500, FEED, ENERGY)), referenceText(fx.store, NOW + 500, FEED));
});

test('hosts_json: a fragment rewritten in place never keeps bytes of the one before (seed 3)', () => {
  const fx = fixture();
  const hj = new HostsJson(fx.store);
  const slot = slotOf(fx.store, 'web-1');
  let seed = 3;
  const next = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 40; round++) {
    const t = NOW + round * 1000;
    // Notes and numbers of every length, so the fragment shrinks and grows around its room.
    const note = 'n'.repeat(Math.floor(next() * 900));
    fx.sample('web-1', { ...FIXTURE_READINGS, cpu_pct: next() < 0.5 ? Math.round(next() * 100) : next() * 100, net_rx_bps: Math.round(next() * 2 ** (next() * 40)) }, t);
    fx.store.write(slot, { strings: [[STR.NOTE, note], [STR.OS, next() < 0.5 ? 'Debian' : 'Ubuntu 24.04.1 LTS (Noble Numbat) ünï']] });
    assert.equal(hostsText(hj.payloadJson(t, FEED, ENERGY)), referenceText(fx.store, t, FEED), `round ${round}`);
  }
});

test('hosts_json: the energy block is worked out again once its day ends, without a write', () => {
  const fx = fixture();
  const dayEnd = NOW + 60_000;
  giveEnergy(fx.store, 'web-1', dayEnd);
  const hj = new HostsJson(fx.store);
  const before = JSON.parse(hj.payloadJson(NOW, FEED, ENERGY).toString('utf8')) as { hosts: Array<{ name: string; energy: { today_kwh: number } | null }> };
  assert.equal(before.hosts.find((h) => h.name === 'web-1')!.energy!.today_kwh, 1.25);
  const reads = hj.reads;
  const after = hj.payloadJson(dayEnd, FEED, ENERGY);
  assert.equal(hj.reads, reads, 'nothing written: nothing read');
  assert.equal(hostsText(after), referenceText(fx.store, dayEnd, FEED));
  const parsed = JSON.parse(after.toString('utf8')) as typeof before;
  assert.equal(parsed.hosts.find((h) => h.name === 'web-1')!.energy!.today_kwh, 0);
});

test('hosts_json: a slot handed to another host is listed under its new name, in name order', () => {
  const fx = fixture();
  const hj = new HostsJson(fx.store);
  hj.payloadJson(NOW, FEED, ENERGY);
  fx.store.write(slotOf(fx.store, 'old'), { strings: [[STR.HOST, 'zz-renamed']], clearTables: true });
  const text = hj.payloadJson(NOW, FEED, ENERGY);
  assert.equal(hostsText(text), referenceText(fx.store, NOW, FEED));
  const names = (JSON.parse(text.toString('utf8')) as { hosts: Array<{ name: string }> }).hosts.map((h) => h.name);
  assert.deepEqual(names, [...names].sort());
  assert.ok(names.includes('zz-renamed') && !names.includes('old'));
});

/** The keys of an overview entry (GET /api/events?view=overview), in order; FACT_KEYS only with its facts. */
const OVERVIEW_KEYS = [
  'name', 'slot', 'sample_ts_ms', 'agent', 'os', 'kernel', 'arch', 'cpu_model', 'cpu_cores', 'cpu_pct', 'mem_total_bytes', 'mem_used_bytes',
  'uptime_s', 'note', 'readings', 'power_source', 'mem_used_pct', 'disk_fullest_pct', 'disk_fullest_mount', 'energy', 'status', 'age_ms', 'alerts',
];
const FACT_KEYS = ['agent', 'os', 'kernel', 'arch', 'cpu_model', 'note'];

/** A host of /api/hosts cut down to an overview entry, as text (its key order matters to the test). */
function overviewOf(full: Record<string, unknown>, withFacts: boolean): string {
  const out: Record<string, unknown> = {};
  for (const k of OVERVIEW_KEYS) {
    if (!withFacts && FACT_KEYS.includes(k)) continue;
    const v = full[k];
    if (k === 'readings') {
      const r = v as Record<string, unknown>;
      out[k] = { net_rx_bps: r['net_rx_bps'], net_tx_bps: r['net_tx_bps'], temp_max_c: r['temp_max_c'], power_w: r['power_w'] };
    } else if (k === 'energy') {
      const e = v as Record<string, unknown> | null;
      out[k] = e === null ? null : { today_kwh: e['today_kwh'], today_cost: e['today_cost'] };
    } else out[k] = v;
  }
  return JSON.stringify(out);
}

test('hosts_json: the overview view lists each host as its /api/hosts object cut to what the page shows, byte for byte, facts and note where asked', () => {
  const fx = fixture();
  giveEnergy(fx.store, 'web-1', NOW + 3_600_000);
  fx.store.write(slotOf(fx.store, 'slow'), { strings: [[STR.NOTE, 'temp_max_c: "no sensor"\n\tbad byte \u0001 ☃']] });
  const hj = new HostsJson(fx.store);
  const full = JSON.parse(hj.payloadJson(NOW + 500, FEED, ENERGY).toString('utf8')) as { hosts: Array<Record<string, unknown>> };
  const overviewText = hj.payloadJson(NOW + 500, FEED, ENERGY, 'event: hosts\ndata: ', '\n\n', 'overview').toString('utf8');
  assert.ok(overviewText.startsWith('event: hosts\ndata: {"now_ms":') && overviewText.endsWith('\n\n') && !/[\r\n]/.test(overviewText.slice(19, -2)));
  const overview = overviewText.slice('event: hosts\ndata: '.length, -2);
  const expected = `[${full.hosts.map((h) => overviewOf(h, true)).join(',')}]`;
  assert.equal(overview.slice(overview.indexOf(',"hosts":[') + ',"hosts":'.length, -1), expected);
  // The energy block and a note with a quote, a control byte and a snowman came through.
  assert.ok(expected.includes('"today_kwh":') && expected.includes('\\u0001 ☃'));

  // A delta of every slot, facts left out for all but web-1's.
  const slots = Array.from({ length: fx.store.slotsUsed() }, (_, i) => i);
  const web1 = slotOf(fx.store, 'web-1');
  const delta = hj.deltaJson(slots, NOW + 500, FEED, '', '', { facts: (e) => e.slot === web1 }).toString('utf8');
  const hosts = (JSON.parse(delta) as { hosts: Array<Record<string, unknown>> }).hosts;
  const bySlot = new Map(full.hosts.map((h) => [h['slot'], h]));
  assert.equal(hosts.length, full.hosts.length);
  for (const h of hosts) assert.equal(JSON.stringify(h), overviewOf(bySlot.get(h['slot'])!, h['slot'] === web1), String(h['name']));
  // Far less than the whole: the overview's point.
  const fullDelta = hj.deltaJson(slots, NOW + 500, FEED).length;
  assert.ok(delta.length < fullDelta / 2, `overview delta ${delta.length} bytes against ${fullDelta}`);
});

test('hosts_json: FactsMemo says a slot\'s name, facts or note changed when they differ from what it last said, and only then', () => {
  const fx = fixture();
  const hj = new HostsJson(fx.store);
  const memo = new FactsMemo();
  const slot = slotOf(fx.store, 'web-1');
  const changed = (): boolean => memo.changed(hj.refresh(slot, NOW)!);
  assert.equal(changed(), true, 'never said');
  assert.equal(changed(), false, 'said');
  assert.equal(memo.changed(hj.refresh(slotOf(fx.store, 'slow'), NOW)!), true, 'each slot its own');
  fx.sample('web-1', { ...FIXTURE_READINGS, cpu_pct: 12 }, NOW);
  assert.equal(changed(), false, 'a new sample with the same facts');
  fx.store.write(slot, { strings: [[STR.NOTE, 'gpu: no GPU found']] });
  assert.equal(changed(), true, 'a new note');
  assert.equal(changed(), false);
  fx.store.write(slot, { strings: [[STR.OS, 'Debian GNU/Linux 13']] });
  assert.equal(changed(), true, 'a new OS');
  fx.store.write(slot, { strings: [[STR.OS, 'Debian GNU/Linux 12']] });
  assert.equal(changed(), true, 'and back');
  fx.store.write(slot, { strings: [[STR.HOST, 'web-2']] });
  assert.equal(changed(), true, 'another name in the slot, the same facts');
  // A note of the same length, one byte different.
  fx.store.write(slot, { strings: [[STR.NOTE, 'gpu: no GPU fOund']] });
  assert.equal(changed(), true, 'one byte');
  memo.clear();
  assert.equal(changed(), true, 'forgotten');
  memo.forget(slot);
  assert.equal(changed(), true, 'one slot forgotten');
  assert.equal(changed(), false);
});

test('hosts_json: the overview stream\'s views: a client that caught up with newer facts is never left with them when they change back', () => {
  const fx = fixture();
  const hj = new HostsJson(fx.store);
  const views = overviewViews(new FactsMemo());
  const slot = slotOf(fx.store, 'web-1');
  const note = (view: HostsView): unknown => (JSON.parse(hj.deltaJson([slot], NOW, FEED, '', '', view).toString('utf8')) as { hosts: Array<Record<string, unknown>> }).hosts[0]!['note'];
  fx.store.write(slot, { strings: [[STR.NOTE, '']] });
  assert.equal(note(views.shared), '', 'a tick\'s delta says the facts once');
  assert.equal(note(views.shared), undefined, 'then leaves them out');
  // A busy client missed the tick of a new note; it catches up, with the note.
  fx.store.write(slot, { strings: [[STR.NOTE, 'temp_max_c: no sensor']] });
  assert.equal(note(views.catchUp), 'temp_max_c: no sensor');
  // The note goes back to what the last tick's delta said: that client must hear of it.
  fx.store.write(slot, { strings: [[STR.NOTE, '']] });
  assert.equal(note(views.shared), '', 'said again after a catch-up');
  assert.equal(note(views.shared), undefined);
  // A snapshot for a new client: the next tick says the facts again.
  views.snapshot();
  assert.equal(note(views.shared), '');
  assert.equal(note(views.shared), undefined);
});
