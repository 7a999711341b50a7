/** The JSON the API serves, built from one pass over shared memory. Pure apart from the store read. */
import { hostDetail, hostView, type HostDetail, type HostView } from '../shared/host_view.ts';
import { HISTORY_SERIES, HISTORY_STEP_MS, NUM, RING_TIMES, ringBytes, ringValuesOffset, SLOT_FLAG_USED, STR } from '../shared/shm_layout.ts';
import type { StoredRow } from '../shared/shm_tables.ts';
import type { ShmStore } from '../shared/shm_store.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';

/** An active alert as the collector's alert engine reports it (see collector/alerts.ts). */
export interface AlertView {
  rule: string;
  host: string;
  /** The filesystem's mount point for per-filesystem rules; '' otherwise. */
  instance: string;
  metric: string;
  op: string;
  threshold: number;
  for_s: number;
  value: number | null;
  state: 'pending' | 'firing';
  active_since_ms: number;
  fired_at_ms: number | null;
}

/** An alert rule as configured. */
export interface RuleView {
  name: string;
  metric: string;
  op: string;
  threshold: number;
  for_s: number;
}

/** What the collector's main thread tells the dashboard about alerts; `version` changes with it. */
export interface AlertFeed {
  version: number;
  rules: RuleView[];
  alerts: AlertView[];
}

export const EMPTY_ALERT_FEED: AlertFeed = Object.freeze({ version: 0, rules: [], alerts: [] });

/** Metrics the page colours by threshold: the first enabled rule with > or >= on each. */
export const THRESHOLD_METRICS = ['cpu_pct', 'mem_used_pct', 'fs_used_pct', 'temp_max_c'] as const;
export type Thresholds = Record<(typeof THRESHOLD_METRICS)[number], number | null>;

export interface HostAlertRef {
  rule: string;
  metric: string;
  instance: string;
  state: 'pending' | 'firing';
}

/** A host as the overview shows it: its view plus what the page compares with thresholds. */
export interface OverviewHost extends HostView {
  /** Memory used / total, percent. */
  mem_used_pct: number | null;
  /** The fullest filesystem's use (used / (used + free), as df's Use%), percent, and its mount point. */
  disk_fullest_pct: number | null;
  disk_fullest_mount: string | null;
  /** This host's active alerts. */
  alerts: HostAlertRef[];
}

export interface FleetSummary {
  hosts: number;
  online: number;
  stale: number;
  offline: number;
  /** CPU busy over online hosts, weighted by their cores, percent; null when none reports it. */
  cpu_pct: number | null;
  cpu_cores: number;
  mem_used_bytes: number | null;
  mem_total_bytes: number | null;
  /** Power drawn by the online hosts that report it, watts; null when none does. */
  power_w: number | null;
  power_hosts: number;
  alerts_firing: number;
  /** Of power_hosts, how many measure their power and how many estimate it. */
  power_measured_hosts: number;
  power_estimated_hosts: number;
  /** Energy all hosts drew today (local day of the tariff's zone), kWh; null when no host reported power. */
  energy_today_kwh: number | null;
  energy_month_kwh: number | null;
  /** Cost so far today and this month, in `currency`; null without a tariff or before any power. */
  cost_today: number | null;
  cost_month: number | null;
  /** This whole month projected (so far + recent daily average for the rest of it); null without a basis. */
  projected_month_kwh: number | null;
  projected_month_cost: number | null;
  /** The tariff's currency (ISO 4217), null when the collector has no tariff (kWh only). */
  currency: string | null;
}

/** What the dashboard knows of the collector's energy settings (worker data). */
export interface EnergyInfo {
  /** The tariff's currency; null: no tariff, kWh only. */
  currency: string | null;
  /** IANA zone whose days and months the figures use. */
  timeZone: string;
  /** The projection horizon, days (--projection-days). */
  projectionDays: number;
}
export const NO_ENERGY_INFO: EnergyInfo = Object.freeze({ currency: null, timeZone: 'UTC', projectionDays: 30 });

export interface HostsPayload {
  /** The collector's clock when this was read, ms since the epoch; ages are relative to it. */
  now_ms: number;
  collector: { version: string; started_at_ms: number; capacity: number; slots_used: number };
  summary: FleetSummary;
  thresholds: Thresholds;
  /** Every active alert, firing first. */
  alerts: AlertView[];
  hosts: OverviewHost[];
}

export function thresholdsOf(rules: readonly RuleView[]): Thresholds {
  const out = Object.fromEntries(THRESHOLD_METRICS.map((m) => [m, null])) as Thresholds;
  for (const r of rules) {
    const m = r.metric as keyof Thresholds;
    if (Object.hasOwn(out, m) && out[m] === null && (r.op === '>' || r.op === '>=')) out[m] = r.threshold;
  }
  return out;
}

function pct(part: number | null, whole: number | null): number | null {
  return part === null || whole === null || whole <= 0 ? null : (part / whole) * 100;
}

function fullest(rows: ReadonlyArray<StoredRow | number | null> | undefined): { pct: number | null; mount: string | null } {
  let best: { pct: number | null; mount: string | null } = { pct: null, mount: null };
  for (const row of rows ?? []) {
    if (row === null || typeof row !== 'object') continue;
    const used = row['used_bytes'];
    const free = row['free_bytes'];
    if (typeof used !== 'number' || typeof free !== 'number' || used + free <= 0) continue;
    const p = (used / (used + free)) * 100;
    if (best.pct === null || p > best.pct) best = { pct: p, mount: typeof row['mount'] === 'string' ? row['mount'] : null };
  }
  return best;
}

export function hostsPayload(store: ShmStore, nowMs: number, feed: AlertFeed = EMPTY_ALERT_FEED, energy: EnergyInfo = NO_ENERGY_INFO): HostsPayload {
  const byHost = new Map<string, HostAlertRef[]>();
  for (const a of feed.alerts) {
    let list = byHost.get(a.host);
    if (!list) byHost.set(a.host, (list = []));
    list.push({ rule: a.rule, metric: a.metric, instance: a.instance, state: a.state });
  }
  const hosts: OverviewHost[] = [];
  const used = store.slotsUsed();
  for (let i = 0; i < used; i++) {
    // With tables: the fullest filesystem is in the fs table.
    const slot = store.readSlot(i, true);
    if (!slot || (slot.flags & SLOT_FLAG_USED) === 0) continue;
    const view = hostView(slot, nowMs);
    const disk = fullest(slot.tables?.fs.rows);
    hosts.push({
      ...view,
      mem_used_pct: pct(view.mem_used_bytes, view.mem_total_bytes),
      disk_fullest_pct: disk.pct,
      disk_fullest_mount: disk.mount,
      alerts: byHost.get(view.name) ?? [],
    });
  }
  hosts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const summary: FleetSummary = {
    hosts: hosts.length, online: 0, stale: 0, offline: 0, cpu_pct: null, cpu_cores: 0,
    mem_used_bytes: null, mem_total_bytes: null, power_w: null, power_hosts: 0,
    alerts_firing: feed.alerts.filter((a) => a.state === 'firing').length, power_measured_hosts: 0, power_estimated_hosts: 0,
    energy_today_kwh: null, energy_month_kwh: null, cost_today: null, cost_month: null, projected_month_kwh: null, projected_month_cost: null,
    currency: energy.currency,
  };
  const add = (a: number | null, b: number | null): number | null => (b === null ? a : (a ?? 0) + b);
  let busyCores = 0;
  for (const h of hosts) {
    summary[h.status]++;
    // Energy counts every host, offline ones too: what they drew today was drawn.
    const e = h.energy;
    if (e) {
      summary.energy_today_kwh = add(summary.energy_today_kwh, e.today_kwh);
      summary.energy_month_kwh = add(summary.energy_month_kwh, e.month_kwh);
      summary.cost_today = add(summary.cost_today, e.today_cost);
      summary.cost_month = add(summary.cost_month, e.month_cost);
      // A host without a basis adds what it drew this month so far (projection.ts, sumProjections).
      if (e.projection) {
        summary.projected_month_kwh = add(summary.projected_month_kwh, e.projection.month_kwh);
        summary.projected_month_cost = add(summary.projected_month_cost, e.projection.month_cost);
      }
    }
    if (h.status !== 'online') continue;
    if (h.cpu_pct !== null) {
      const cores = h.cpu_cores ?? 1;
      busyCores += (h.cpu_pct / 100) * cores;
      summary.cpu_cores += cores;
    }
    if (h.mem_used_bytes !== null && h.mem_total_bytes !== null) {
      summary.mem_used_bytes = (summary.mem_used_bytes ?? 0) + h.mem_used_bytes;
      summary.mem_total_bytes = (summary.mem_total_bytes ?? 0) + h.mem_total_bytes;
    }
    const watts = h.readings.power_w;
    if (watts !== null) {
      summary.power_w = (summary.power_w ?? 0) + watts;
      summary.power_hosts++;
      if (h.power_source === 'measured') summary.power_measured_hosts++;
      if (h.power_source === 'estimated') summary.power_estimated_hosts++;
    }
  }
  // Hosts without a projection basis yet still count with their month so far, once any host has one.
  if (summary.projected_month_kwh !== null) {
    for (const h of hosts) {
      if (!h.energy || h.energy.projection) continue;
      summary.projected_month_kwh += h.energy.month_kwh;
      if (summary.projected_month_cost !== null && h.energy.month_cost !== null) summary.projected_month_cost += h.energy.month_cost;
    }
  }
  if (energy.currency === null) {
    summary.cost_today = summary.cost_month = summary.projected_month_cost = null;
  }
  if (summary.cpu_cores > 0) summary.cpu_pct = (busyCores / summary.cpu_cores) * 100;
  return {
    now_ms: nowMs,
    collector: { version: SENTINEL_VERSION, started_at_ms: store.createdAtMs, capacity: store.capacity, slots_used: store.slotsUsed() },
    summary,
    thresholds: thresholdsOf(feed.rules),
    alerts: feed.alerts,
    hosts,
  };
}

export interface AlertsPayload {
  now_ms: number;
  rules: RuleView[];
  alerts: AlertView[];
}

export function alertsPayload(feed: AlertFeed, nowMs: number): AlertsPayload {
  return { now_ms: nowMs, rules: feed.rules, alerts: feed.alerts };
}

/** Series the overview draws as sparklines. */
export const SPARK_SERIES = ['cpu_pct', 'mem_used_pct'] as const;

export interface SparklinesPayload {
  now_ms: number;
  step_ms: number;
  /** Start of bucket 0, ms since the epoch; bucket i covers [from_ms + i step_ms, from_ms + (i+1) step_ms). */
  from_ms: number;
  points: number;
  series: readonly string[];
  /** Per host and series, `points` means of the seconds that have a sample, oldest first; null where none. */
  hosts: Record<string, Record<(typeof SPARK_SERIES)[number], Array<number | null>>>;
}

/**
 * Every host's CPU and memory over the last `seconds`, averaged into `points` buckets: one
 * request for the whole overview instead of one per host. Memory is in percent of the host's
 * current total. Reads each ring once, under its lock.
 */
export function sparklinesPayload(store: ShmStore, seconds: number, points: number, nowMs: number): SparklinesPayload {
  const span = Math.min(seconds, store.historyPoints);
  const stepMs = Math.max(HISTORY_STEP_MS, Math.ceil((span * HISTORY_STEP_MS) / points / HISTORY_STEP_MS) * HISTORY_STEP_MS);
  // Buckets end at the end of the current second, so the newest point is in the last one.
  const endMs = (Math.floor(nowMs / HISTORY_STEP_MS) + 1) * HISTORY_STEP_MS;
  const fromMs = endMs - stepMs * points;
  const cpuAt = HISTORY_SERIES.indexOf('cpu_pct');
  const memAt = HISTORY_SERIES.indexOf('mem_used_bytes');
  const width = HISTORY_SERIES.length;
  const ringPoints = store.historyPoints;
  // The ring copy is read in place (no per-point objects): 500 hosts x 900 seconds stay cheap.
  const scratch = new Uint8Array(ringBytes(ringPoints));
  const times = new Float64Array(scratch.buffer, RING_TIMES, ringPoints);
  const vals = new Float32Array(scratch.buffer, ringValuesOffset(ringPoints), ringPoints * width);
  const sums = [new Float64Array(points), new Float64Array(points)] as const;
  const counts = [new Uint32Array(points), new Uint32Array(points)] as const;
  // No prototype: a host may be named "__proto__".
  const hosts: SparklinesPayload['hosts'] = Object.create(null) as SparklinesPayload['hosts'];
  for (const slot of store.readAll()) {
    const name = slot.strings[STR.HOST]!;
    if (Object.hasOwn(hosts, name) || store.copyRing(slot.index, scratch) < 0) continue;
    const memTotal = slot.numbers[NUM.MEM_TOTAL_BYTES]!;
    for (const a of sums) a.fill(0);
    for (const a of counts) a.fill(0);
    for (let k = 0; k < ringPoints; k++) {
      const t = times[k]!;
      // NaN (an empty bucket) fails both comparisons.
      if (!(t >= fromMs && t < endMs)) continue;
      const b = Math.floor((t - fromMs) / stepMs);
      const cpu = vals[k * width + cpuAt]!;
      const mem = memTotal > 0 ? (vals[k * width + memAt]! / memTotal) * 100 : Number.NaN;
      if (Number.isFinite(cpu)) { sums[0][b] += cpu; counts[0][b]++; }
      if (Number.isFinite(mem)) { sums[1][b] += mem; counts[1][b]++; }
    }
    const mean = (s: 0 | 1): Array<number | null> => Array.from(sums[s], (v, b) => (counts[s][b] ? Number((v / counts[s][b]!).toFixed(2)) : null));
    hosts[name] = { cpu_pct: mean(0), mem_used_pct: mean(1) };
  }
  return { now_ms: nowMs, step_ms: stepMs, from_ms: fromMs, points, series: SPARK_SERIES, hosts };
}

/** The slot holding host `name`, or -1. Reads names only; O(slots). */
export function findHost(store: ShmStore, name: string): number {
  for (const slot of store.readAll()) if (slot.strings[STR.HOST] === name) return slot.index;
  return -1;
}

export interface HostDetailPayload {
  now_ms: number;
  /** The currency of the host's costs (the collector's tariff), null without a tariff. */
  currency: string | null;
  host: HostDetail;
}

/** One host with its tables, or null when no slot holds `name` (or it stayed busy). */
export function hostDetailPayload(store: ShmStore, name: string, nowMs: number, energy: EnergyInfo = NO_ENERGY_INFO): HostDetailPayload | null {
  const index = findHost(store, name);
  const slot = index < 0 ? null : store.readSlot(index, true);
  if (!slot || slot.strings[STR.HOST] !== name) return null;
  return { now_ms: nowMs, currency: energy.currency, host: hostDetail(slot, nowMs) };
}

export interface HistoryPayload {
  now_ms: number;
  host: string;
  /** Width of a history bucket, ms: at most one point per step. */
  step_ms: number;
  seconds: number;
  series: readonly string[];
  /** Sample times, ms since the epoch, ascending; only seconds that have a sample. */
  t: number[];
  /** By series name, one value per time (7 significant digits: stored as float32); null where the sample had no value. */
  values: Record<string, Array<number | null>>;
}

/** Host `name`'s history over the last `seconds` (clamped to what the ring holds), or null when unknown. */
export function historyPayload(store: ShmStore, name: string, seconds: number, nowMs: number): HistoryPayload | null {
  const index = findHost(store, name);
  if (index < 0) return null;
  const span = Math.min(seconds, store.historyPoints);
  // A small allowance ahead of now: an agent clock a little fast still shows its latest point.
  const data = store.readHistory(index, nowMs - span * HISTORY_STEP_MS, nowMs + 5 * HISTORY_STEP_MS);
  if (!data) return null;
  const values: Record<string, Array<number | null>> = {};
  HISTORY_SERIES.forEach((name, s) => { values[name] = data.values[s]!.map((v) => (Number.isNaN(v) ? null : Number(v.toPrecision(7)))); });
  return { now_ms: nowMs, host: name, step_ms: HISTORY_STEP_MS, seconds: span, series: HISTORY_SERIES, t: data.t, values };
}
