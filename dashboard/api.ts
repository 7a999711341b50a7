/** The JSON the API serves, built from one pass over shared memory. Pure apart from the store read. */
import { hostDetail, type HostDetail, type HostStatus, type HostView } from '../shared/host_view.ts';
import { entryStatus, fleetSummary, hostsJsonOf } from './hosts_json.ts';
import { HISTORY_SERIES, HISTORY_STEP_MS, NUM, RING_TIMES, ringBytes, ringValuesOffset, SLOT_FLAG_USED, STR } from '../shared/shm_layout.ts';
import type { ShmStore } from '../shared/shm_store.ts';

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

/** What the overview derives from a host's readings and the alert engine, beside its view. */
export interface DerivedFields {
  /** Memory used / total, percent. */
  mem_used_pct: number | null;
  /** The fullest filesystem's use (used / (used + free), as df's Use%), percent, and its mount point. */
  disk_fullest_pct: number | null;
  disk_fullest_mount: string | null;
  /** This host's active alerts. */
  alerts: HostAlertRef[];
}

/** A host as the overview shows it: its view plus what the page compares with thresholds. */
export interface OverviewHost extends HostView, DerivedFields {}

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

/**
 * The /api/hosts payload as objects. Built from the same text the route serves
 * (dashboard/hosts_json.ts, fragments cached per slot), so the two cannot drift apart.
 */
export function hostsPayload(store: ShmStore, nowMs: number, feed: AlertFeed = EMPTY_ALERT_FEED, energy: EnergyInfo = NO_ENERGY_INFO): HostsPayload {
  return JSON.parse(hostsJsonOf(store).payloadJson(nowMs, feed, energy).toString('utf8')) as HostsPayload;
}

/**
 * A host's status as one character of a `status` event's `statuses`; NO_HOST_CHAR marks a slot
 * that holds no host (never read yet, or no longer used).
 */
export const STATUS_CHARS: Readonly<Record<HostStatus, string>> = Object.freeze({ online: 'o', stale: 's', offline: 'f' });
export const NO_HOST_CHAR = '.';

/**
 * The periodic `status` event of /api/events (with deltas on): what a host's samples do not
 * say. Deltas carry every changed slot, so the page only needs what changes without a write to
 * a slot: the summary, each host's status as it ages by the clock (online -> stale), and the
 * alerts. One character per host, in slot order (the page knows each host's `slot` from the
 * snapshot or a delta): ~10 KiB at 10,000 hosts against a ~13 MiB snapshot.
 */
export interface StatusPayload {
  now_ms: number;
  summary: FleetSummary;
  /** Character i is slot i's status (STATUS_CHARS, NO_HOST_CHAR); slots_used characters. */
  statuses: string;
  /** Present only when they changed since the last event sent to this client that had them. */
  alerts?: AlertView[];
  thresholds?: Thresholds;
}

/**
 * The `status` event's data as JSON text, between `before` and `after` (an SSE event's
 * framing). Ages are not carried: the page counts them on from the last sample's age, which
 * only a sample (a delta) changes. Reads through the shared fragment cache: only slots written
 * since the last read are read again, so at one event a second this stays cheap.
 */
export function statusJson(store: ShmStore, nowMs: number, feed: AlertFeed, energy: EnergyInfo, withAlerts: boolean, before = '', after = ''): string {
  const entries = hostsJsonOf(store).all(nowMs);
  const chars = new Array<string>(store.slotsUsed()).fill(NO_HOST_CHAR);
  for (const e of entries) if (e.slot < chars.length) chars[e.slot] = STATUS_CHARS[entryStatus(e, nowMs)];
  let firing = 0;
  for (const a of feed.alerts) if (a.state === 'firing') firing++;
  const summary = fleetSummary(entries, nowMs, firing, energy);
  const extra = withAlerts ? `,"thresholds":${JSON.stringify(thresholdsOf(feed.rules))},"alerts":${JSON.stringify(feed.alerts)}` : '';
  return `${before}{"now_ms":${Number.isFinite(nowMs) ? nowMs : 'null'},"summary":${JSON.stringify(summary)},"statuses":"${chars.join('')}"${extra}}${after}`;
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
 * current total. Reads each ring once, under its lock, and of each slot only its head (name and
 * memory total), no table. `slots`: only the hosts in those slots (the rows a page draws, out of
 * thousands); null: every host.
 */
export function sparklinesPayload(store: ShmStore, seconds: number, points: number, nowMs: number, slots: Int32Array | null = null): SparklinesPayload {
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
  const cpuSum = new Float64Array(points);
  const memSum = new Float64Array(points);
  const cpuCount = new Uint32Array(points);
  const memCount = new Uint32Array(points);
  // No prototype: a host may be named "__proto__".
  const hosts: SparklinesPayload['hosts'] = Object.create(null) as SparklinesPayload['hosts'];
  const used = store.slotsUsed();
  const count = slots === null ? used : slots.length;
  for (let j = 0; j < count; j++) {
    // A list is sorted: past the slots in use, none holds a host.
    const index = slots === null ? j : slots[j]!;
    if (index >= used) break;
    const slot = store.readSlotPart(index);
    if (slot === null || (slot.flags & SLOT_FLAG_USED) === 0) continue;
    const name = slot.strings[STR.HOST]!;
    if (Object.hasOwn(hosts, name) || store.copyRing(slot.index, scratch) < 0) continue;
    const memTotal = slot.numbers[NUM.MEM_TOTAL_BYTES]!;
    const memScale = memTotal > 0 ? 100 / memTotal : Number.NaN;
    cpuSum.fill(0);
    memSum.fill(0);
    cpuCount.fill(0);
    memCount.fill(0);
    for (let k = 0, at = 0; k < ringPoints; k++, at += width) {
      const t = times[k]!;
      // NaN (an empty bucket) fails both comparisons.
      if (!(t >= fromMs && t < endMs)) continue;
      // Below seconds x 1000 / stepMs: an int.
      const b = ((t - fromMs) / stepMs) | 0;
      const cpu = vals[at + cpuAt]!;
      const mem = vals[at + memAt]! * memScale;
      // x - x is 0 for a finite x, NaN for NaN and the infinities.
      if (cpu - cpu === 0) { cpuSum[b] += cpu; cpuCount[b]++; }
      if (mem - mem === 0) { memSum[b] += mem; memCount[b]++; }
    }
    hosts[name] = { cpu_pct: bucketMeans(cpuSum, cpuCount), mem_used_pct: bucketMeans(memSum, memCount) };
  }
  return { now_ms: nowMs, step_ms: stepMs, from_ms: fromMs, points, series: SPARK_SERIES, hosts };
}

/**
 * Each bucket's mean to hundredths, null for a bucket without a sample. Rounded by arithmetic:
 * toFixed(2) and a parse back took ~40 % of a 10,000-host build with full rings.
 */
function bucketMeans(sum: Float64Array, count: Uint32Array): Array<number | null> {
  const out = new Array<number | null>(sum.length);
  for (let b = 0; b < sum.length; b++) out[b] = count[b] ? Math.round((sum[b]! / count[b]!) * 100) / 100 : null;
  return out;
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
  /** The host with its tables, and the figures /api/hosts derives for it (the same numbers). */
  host: HostDetail & DerivedFields;
}

/**
 * The overview's derived figures for a host read with its tables, worked out as
 * dashboard/hosts_json_entry.ts writes them into /api/hosts (a test holds the two equal).
 */
export function derivedFields(host: HostDetail, feed: AlertFeed): DerivedFields {
  const used = host.mem_used_bytes;
  const total = host.mem_total_bytes;
  let fullestPct: number | null = null;
  let fullestMount: string | null = null;
  for (const row of host.tables.fs) {
    if (row === null || typeof row !== 'object') continue;
    const u = row.used_bytes;
    const f = row.free_bytes;
    if (typeof u !== 'number' || typeof f !== 'number' || u + f <= 0) continue;
    const p = (u / (u + f)) * 100;
    // The first of equals, as the overview's writer picks it.
    if (fullestPct === null || p > fullestPct) {
      fullestPct = p;
      fullestMount = typeof row.mount === 'string' ? row.mount : null;
    }
  }
  const alerts: HostAlertRef[] = [];
  for (const a of feed.alerts) if (a.host === host.name) alerts.push({ rule: a.rule, metric: a.metric, instance: a.instance, state: a.state });
  return {
    mem_used_pct: used === null || total === null || total <= 0 ? null : (used / total) * 100,
    disk_fullest_pct: fullestPct,
    disk_fullest_mount: fullestMount,
    alerts,
  };
}

/** One host with its tables, or null when no slot holds `name` (or it stayed busy). */
export function hostDetailPayload(store: ShmStore, name: string, nowMs: number, energy: EnergyInfo = NO_ENERGY_INFO, feed: AlertFeed = EMPTY_ALERT_FEED): HostDetailPayload | null {
  const index = findHost(store, name);
  const slot = index < 0 ? null : store.readSlot(index, true);
  if (!slot || slot.strings[STR.HOST] !== name) return null;
  const host = hostDetail(slot, nowMs);
  return { now_ms: nowMs, currency: energy.currency, host: { ...host, ...derivedFields(host, feed) } };
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
