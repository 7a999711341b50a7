/**
 * /api/hosts as JSON text, built from per-host fragments cached by each slot's sequence value.
 *
 * A slot is read again only when its sequence changed since it was last read; otherwise its
 * fragment is reused. A read (dashboard/hosts_json_entry.ts) takes the few fields the overview
 * needs straight from shared memory and writes the fragment as UTF-8 bytes, into the entry's
 * own bytes when they fit. What depends on the clock (status, age_ms, the energy figures whose
 * day or month has ended) and on the alert feed is added when the payload is served. The text
 * is byte for byte what JSON.stringify of the objects shared/host_view.ts hostView builds gives,
 * in this field order (test/dashboard/hosts_json.test.ts holds it to that).
 *
 * One cache per store (a WeakMap), shared by /api/hosts and the event stream, so the stream's
 * ticks keep it fresh for the next request. Single-threaded: a worker's event loop only.
 */
import { ONLINE_INTERVALS, type HostStatus } from '../shared/host_view.ts';
import type { ShmStore } from '../shared/shm_store.ts';
import type { AlertFeed, EnergyInfo, FleetSummary, HostAlertRef } from './api.ts';
import { thresholdsOf } from './api.ts';
import { EntryReader, HostEntry, OVERVIEW_EXTRA_BYTES, writeOverviewEntry } from './hosts_json_entry.ts';
import { JsonBytes, literal, LITERAL_OVERRUN_BYTES, type Literal, MAX_NUMBER_CHARS } from './hosts_json_writer.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';

export { HostEntry } from './hosts_json_entry.ts';

/**
 * How hosts are listed: `full`, as /api/hosts lists them; or as the overview's event stream
 * does (hosts_json_entry.ts writeOverviewEntry), with a host's facts and note where
 * `facts(entry)` says so.
 */
export type HostsView = 'full' | { facts: (e: HostEntry) => boolean };
const ALL_FACTS: HostsView = Object.freeze({ facts: () => true });

/** A number as JSON.stringify writes it (NaN and infinities as null). */
function jn(v: number | null): string {
  return v === null || !Number.isFinite(v) ? 'null' : String(v);
}

export function entryStatus(e: HostEntry, nowMs: number): HostStatus {
  if (!e.connected) return 'offline';
  if (e.receivedMs === null) return 'stale';
  return nowMs - e.receivedMs <= ONLINE_INTERVALS * e.intervalMs ? 'online' : 'stale';
}

// What follows a fragment when the payload is served.
const STATUS_AGE: Readonly<Record<HostStatus, Literal>> = {
  online: literal(',"status":"online","age_ms":'),
  stale: literal(',"status":"stale","age_ms":'),
  offline: literal(',"status":"offline","age_ms":'),
};
const NO_ALERTS = literal(',"alerts":[]}');
/** Most bytes after a fragment but its alerts: the longest status, an age, and `,"alerts":` ... `}`. */
const TAIL_BYTES = STATUS_AGE.offline.length + MAX_NUMBER_CHARS + NO_ALERTS.length;
const COMMA = 0x2c;
const NO_BYTES = new Uint8Array(0);

/** Alerts by host, as the UTF-8 of `,"alerts":[...]}`, worked out once per feed. */
interface AlertIndex {
  feed: AlertFeed;
  byHost: Map<string, Buffer>;
  firing: number;
}

function alertIndex(feed: AlertFeed): AlertIndex {
  const lists = new Map<string, HostAlertRef[]>();
  let firing = 0;
  for (const a of feed.alerts) {
    if (a.state === 'firing') firing++;
    let list = lists.get(a.host);
    if (!list) lists.set(a.host, (list = []));
    list.push({ rule: a.rule, metric: a.metric, instance: a.instance, state: a.state });
  }
  const byHost = new Map<string, Buffer>();
  for (const [host, list] of lists) byHost.set(host, Buffer.from(`,"alerts":${JSON.stringify(list)}}`, 'utf8'));
  return { feed, byHost, firing };
}

export class HostsJson {
  private entries: Array<HostEntry | null> = [];
  /** Slots of the entries in name order; sorted again only when a name appears, goes or changes. */
  private order: number[] = [];
  private orderStale = true;
  private alerts: AlertIndex | null = null;
  private readonly reader: EntryReader;
  /** Writes the payload into the buffer it is given. */
  private readonly out = new JsonBytes(0);
  /** Slots read again (their sequence changed), for diagnostics and benchmarks. */
  reads = 0;

  constructor(private readonly store: ShmStore) {
    this.reader = new EntryReader(store);
  }

  /**
   * Slot `i`'s entry, read again if its sequence moved. A slot kept busy by the writer this
   * round keeps its last entry (the previous consistent reading); a slot never read is left out.
   */
  refresh(i: number, nowMs: number): HostEntry | null {
    const old = this.entries[i] ?? null;
    if (old !== null && this.store.slotSeq(i) === old.seq) {
      this.reader.energyAt(old, nowMs);
      return old;
    }
    // The read updates `old` in place: its name is taken first.
    const oldName = old?.name;
    const next = this.reader.read(i, old, nowMs);
    if (next === undefined) return old;
    this.reads++;
    if (next?.name !== oldName) this.orderStale = true;
    this.entries[i] = next;
    return next;
  }

  /** Every used slot's entry, in name order. */
  all(nowMs: number): readonly HostEntry[] {
    const used = this.store.slotsUsed();
    if (this.entries.length > used) {
      this.entries.length = used;
      this.orderStale = true;
    }
    for (let i = 0; i < used; i++) this.refresh(i, nowMs);
    if (this.orderStale) {
      const list = this.entries.filter((e): e is HostEntry => e !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      this.order = list.map((e) => e.slot);
      this.orderStale = false;
    }
    const out = new Array<HostEntry>(this.order.length);
    for (let k = 0; k < out.length; k++) out[k] = this.entries[this.order[k]!]!;
    return out;
  }

  private alertsOf(feed: AlertFeed): AlertIndex {
    if (this.alerts?.feed !== feed) this.alerts = alertIndex(feed);
    return this.alerts;
  }

  /**
   * `prefix`, the hosts as /api/hosts lists them as of `nowMs` (comma-separated), `suffix`: as
   * UTF-8 in one buffer. The cached fragments are copied; only status, age_ms and alerts are written.
   */
  private writeHosts(hosts: readonly HostEntry[], nowMs: number, alerts: AlertIndex, prefix: string, suffix: string, view: HostsView = 'full'): Buffer {
    const byHost = alerts.byHost.size === 0 ? null : alerts.byHost;
    const full = view === 'full';
    const perHost = 1 + TAIL_BYTES + (full ? 0 : OVERVIEW_EXTRA_BYTES);
    let bound = Buffer.byteLength(prefix) + Buffer.byteLength(suffix) + hosts.length * perHost + LITERAL_OVERRUN_BYTES;
    for (let k = 0; k < hosts.length; k++) {
      const e = hosts[k]!;
      bound += e.fragLen + (byHost?.get(e.name)?.length ?? 0);
    }
    const out = Buffer.allocUnsafe(bound);
    const w = this.out;
    w.over(out);
    w.at = out.write(prefix, 0, 'utf8');
    for (let k = 0; k < hosts.length; k++) {
      const e = hosts[k]!;
      if (k > 0) out[w.at++] = COMMA;
      if (full) w.copy(e.fragLen === e.frag.length ? e.frag : e.frag.subarray(0, e.fragLen));
      else writeOverviewEntry(w, e, view.facts(e));
      w.lit(STATUS_AGE[entryStatus(e, nowMs)]);
      if (e.receivedMs === null) w.nul();
      else w.num(Math.max(0, nowMs - e.receivedMs));
      const list = byHost?.get(e.name);
      if (list === undefined) w.lit(NO_ALERTS);
      else w.copy(list);
    }
    const at = w.at + out.write(suffix, w.at, 'utf8');
    // The writer lets go of the payload: it is the caller's now.
    w.over(NO_BYTES);
    return out.subarray(0, at);
  }

  /**
   * The /api/hosts payload (dashboard/api.ts HostsPayload) as UTF-8 JSON, between `before` and
   * `after` (an SSE event's framing; '' for the plain answer); with view `overview`, its hosts
   * as the overview's event stream lists them, facts and notes included.
   */
  payloadJson(nowMs: number, feed: AlertFeed, energy: EnergyInfo, before = '', after = '', view: 'full' | 'overview' = 'full'): Buffer {
    const hosts = this.all(nowMs);
    const alerts = this.alertsOf(feed);
    const summary = fleetSummary(hosts, nowMs, alerts.firing, energy);
    const collector = { version: SENTINEL_VERSION, started_at_ms: this.store.createdAtMs, capacity: this.store.capacity, slots_used: this.store.slotsUsed() };
    const prefix = `${before}{"now_ms":${jn(nowMs)},"collector":${JSON.stringify(collector)},"summary":${JSON.stringify(summary)}`
      + `,"thresholds":${JSON.stringify(thresholdsOf(feed.rules))},"alerts":${JSON.stringify(feed.alerts)},"hosts":[`;
    return this.writeHosts(hosts, nowMs, alerts, prefix, `]}${after}`, view === 'full' ? 'full' : ALL_FACTS);
  }

  /**
   * The `delta` event's data: the hosts of `slots` (read now), each as /api/hosts lists it, or
   * as the overview's stream does (`view`); framed as payloadJson.
   */
  deltaJson(slots: Iterable<number>, nowMs: number, feed: AlertFeed, before = '', after = '', view: HostsView = 'full'): Buffer {
    const alerts = this.alertsOf(feed);
    const hosts: HostEntry[] = [];
    const used = this.store.slotsUsed();
    for (const i of slots) {
      if (i >= used) continue;
      const e = this.refresh(i, nowMs);
      if (e !== null) hosts.push(e);
    }
    return this.writeHosts(hosts, nowMs, alerts, `${before}{"now_ms":${jn(nowMs)},"hosts":[`, `]}${after}`, view);
  }
}

/** The fleet summary over the hosts' entries (the meaning of dashboard/api.ts FleetSummary). */
export function fleetSummary(hosts: readonly HostEntry[], nowMs: number, firing: number, energy: EnergyInfo): FleetSummary {
  const summary: FleetSummary = {
    hosts: hosts.length, online: 0, stale: 0, offline: 0, cpu_pct: null, cpu_cores: 0,
    mem_used_bytes: null, mem_total_bytes: null, power_w: null, power_hosts: 0,
    alerts_firing: firing, power_measured_hosts: 0, power_estimated_hosts: 0,
    energy_today_kwh: null, energy_month_kwh: null, cost_today: null, cost_month: null, projected_month_kwh: null, projected_month_cost: null,
    currency: energy.currency,
  };
  const add = (a: number | null, b: number | null): number | null => (b === null ? a : (a ?? 0) + b);
  let busyCores = 0;
  let anyWithoutBasis = false;
  for (const h of hosts) {
    const status = entryStatus(h, nowMs);
    summary[status]++;
    // Energy counts every host, offline ones too: what they drew today was drawn.
    const e = h.energy;
    if (e) {
      summary.energy_today_kwh = add(summary.energy_today_kwh, e.today_kwh);
      summary.energy_month_kwh = add(summary.energy_month_kwh, e.month_kwh);
      summary.cost_today = add(summary.cost_today, e.today_cost);
      summary.cost_month = add(summary.cost_month, e.month_cost);
      if (e.projection) {
        summary.projected_month_kwh = add(summary.projected_month_kwh, e.projection.month_kwh);
        summary.projected_month_cost = add(summary.projected_month_cost, e.projection.month_cost);
      } else anyWithoutBasis = true;
    }
    if (status !== 'online') continue;
    if (h.cpuPct !== null) {
      const cores = h.cpuCores ?? 1;
      busyCores += (h.cpuPct / 100) * cores;
      summary.cpu_cores += cores;
    }
    if (h.memUsed !== null && h.memTotal !== null) {
      summary.mem_used_bytes = (summary.mem_used_bytes ?? 0) + h.memUsed;
      summary.mem_total_bytes = (summary.mem_total_bytes ?? 0) + h.memTotal;
    }
    if (h.powerW !== null) {
      summary.power_w = (summary.power_w ?? 0) + h.powerW;
      summary.power_hosts++;
      if (h.powerSource === 'measured') summary.power_measured_hosts++;
      if (h.powerSource === 'estimated') summary.power_estimated_hosts++;
    }
  }
  // Hosts without a projection basis yet still count with their month so far, once any host has one.
  if (summary.projected_month_kwh !== null && anyWithoutBasis) {
    for (const h of hosts) {
      if (!h.energy || h.energy.projection) continue;
      summary.projected_month_kwh += h.energy.month_kwh;
      if (summary.projected_month_cost !== null && h.energy.month_cost !== null) summary.projected_month_cost += h.energy.month_cost;
    }
  }
  if (energy.currency === null) summary.cost_today = summary.cost_month = summary.projected_month_cost = null;
  if (summary.cpu_cores > 0) summary.cpu_pct = (busyCores / summary.cpu_cores) * 100;
  return summary;
}

/**
 * Which slots changed between two calls, by their sequence values (one atomic load per used
 * slot). A slot being written (odd sequence) is left for the next call, when it is whole.
 */
export class SlotChanges {
  private seen: number[] = [];

  constructor(private readonly store: ShmStore) {}

  reset(): void {
    const used = this.store.slotsUsed();
    this.seen = new Array<number>(used);
    for (let i = 0; i < used; i++) this.seen[i] = this.store.slotSeq(i);
  }

  changed(): number[] {
    const out: number[] = [];
    const used = this.store.slotsUsed();
    for (let i = 0; i < used; i++) {
      const seq = this.store.slotSeq(i);
      if ((seq & 1) === 0 && seq !== this.seen[i]) {
        this.seen[i] = seq;
        out.push(i);
      }
    }
    return out;
  }
}

const CACHES = new WeakMap<ShmStore, HostsJson>();

/** The store's fragment cache (one per store, made on first use). */
export function hostsJsonOf(store: ShmStore): HostsJson {
  let c = CACHES.get(store);
  if (!c) CACHES.set(store, (c = new HostsJson(store)));
  return c;
}
