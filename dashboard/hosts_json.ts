/**
 * /api/hosts as JSON text, built from per-host fragments cached by each slot's sequence value.
 *
 * A slot is read again (head and fs table only: ShmStore.readSlotPart) only when its sequence
 * changed since it was last read; otherwise its fragments are reused. What depends on the clock
 * (status, age_ms, the energy figures whose day or month has ended) and on the alert feed is
 * added when the payload is served. The text means exactly what JSON.stringify of the objects
 * shared/host_view.ts hostView builds means (test/dashboard/hosts_json.test.ts holds both to it).
 *
 * One cache per store (a WeakMap), shared by /api/hosts and the event stream, so the stream's
 * ticks keep it fresh for the next request. Single-threaded: a worker's event loop only.
 */
import { hostEnergy, ONLINE_INTERVALS, type HostEnergy, type HostStatus } from '../shared/host_view.ts';
import { READINGS, type PowerSource } from '../shared/protocol.ts';
import { NUM, POWER_SOURCE_CODE, READING_NUM, SLOT_FLAG_CONNECTED, SLOT_FLAG_USED, STR } from '../shared/shm_layout.ts';
import type { SlotData, ShmStore } from '../shared/shm_store.ts';
import type { AlertFeed, EnergyInfo, FleetSummary, HostAlertRef } from './api.ts';
import { thresholdsOf } from './api.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';

/** Field indices as plain constants: read in the hot loop, where each module-export access costs a getter call under tsx. */
const F = NUM;
const S = STR;
const F_POWER_W = READING_NUM.power_w;
const FLAG_CONNECTED = SLOT_FLAG_CONNECTED;
const FLAG_USED = SLOT_FLAG_USED;

/** The tables a host's overview needs: the fullest filesystem comes from fs. */
const OVERVIEW_TABLES = ['fs'] as const;

/** One host as last read: its fragments, and the numbers the summary and status need. */
export interface HostEntry {
  /** The slot's sequence value the fragments were built from (even). */
  seq: number;
  slot: number;
  name: string;
  /** UTF-8 of `{"name":...,"slot":N,"received_at_ms":...` to `"disk_fullest_mount":...,"energy":` */
  fixed: Buffer;
  connected: boolean;
  receivedMs: number | null;
  intervalMs: number;
  cpuPct: number | null;
  cpuCores: number | null;
  memUsed: number | null;
  memTotal: number | null;
  powerW: number | null;
  powerSource: PowerSource | null;
  /** The slot's numbers, for the energy block (worked out again when a day or month ends). */
  numbers: Float64Array;
  energy: HostEnergy | null;
  /** UTF-8 of the energy block's JSON. */
  energyJson: Buffer;
  /** The energy block holds from energyFromMs until energyUntilMs (collector clock); else rebuilt. */
  energyFromMs: number;
  energyUntilMs: number;
}

const NULL_JSON = Buffer.from('null');

function num(v: number | undefined): number | null {
  return v === undefined || Number.isNaN(v) ? null : v;
}

/** A number as JSON.stringify writes it (NaN and infinities as null). */
function jn(v: number | null): string {
  return v === null || !Number.isFinite(v) ? 'null' : String(v);
}

const READING_KEYS = READINGS.map((r, i) => ({ field: READING_NUM[r.name]!, key: `${i === 0 ? '' : ','}${JSON.stringify(r.name)}:` }));

function powerSource(code: number | undefined): PowerSource | null {
  if (code === POWER_SOURCE_CODE.measured) return 'measured';
  if (code === POWER_SOURCE_CODE.estimated) return 'estimated';
  return null;
}

/** The fullest filesystem (used / (used + free), as df's Use%) of a slot read with its fs table. */
function fullest(slot: SlotData): { pct: number | null; mount: string | null } {
  let pct: number | null = null;
  let mount: string | null = null;
  for (const row of slot.tables?.fs.rows ?? []) {
    if (row === null || typeof row !== 'object') continue;
    const used = row['used_bytes'];
    const free = row['free_bytes'];
    if (typeof used !== 'number' || typeof free !== 'number' || used + free <= 0) continue;
    const p = (used / (used + free)) * 100;
    if (pct === null || p > pct) {
      pct = p;
      mount = typeof row['mount'] === 'string' ? row['mount'] : null;
    }
  }
  return { pct, mount };
}

/** The fragments of a slot read with its fs table: everything of the host but the clock's and the feed's parts. */
export function hostEntry(slot: SlotData, nowMs: number): HostEntry {
  const n = slot.numbers;
  const s = slot.strings;
  const connected = (slot.flags & FLAG_CONNECTED) !== 0;
  const received = num(n[F.RECEIVED_AT_MS]);
  const ts = num(n[F.SAMPLE_TS_MS]);
  const uptime = num(n[F.UPTIME_S]);
  const memTotal = num(n[F.MEM_TOTAL_BYTES]);
  const memUsed = num(n[F.MEM_USED_BYTES]);
  const source = powerSource(n[F.POWER_SOURCE]);
  let readings = '{';
  for (const r of READING_KEYS) readings += r.key + jn(num(n[r.field]));
  readings += '}';
  const boot = ts === null || uptime === null ? null : Math.round((ts - uptime * 1000) / 1000) * 1000;
  const disk = fullest(slot);
  const memPct = memUsed === null || memTotal === null || memTotal <= 0 ? null : (memUsed / memTotal) * 100;
  // Field order differs from hostView's (status, age_ms and alerts come last, written at serve
  // time): the same object once parsed.
  const fixed = `{"name":${JSON.stringify(s[S.HOST])},"slot":${slot.index},"received_at_ms":${jn(received)},"sample_ts_ms":${jn(ts)},"sample_seq":${jn(num(n[F.SAMPLE_SEQ]))}`
    + `,"samples_total":${jn(num(n[F.SAMPLES_TOTAL]) ?? 0)},"interval_ms":${jn(num(n[F.INTERVAL_MS]))}`
    + `,"connected_since_ms":${connected ? jn(num(n[F.CONNECTED_AT_MS])) : 'null'}`
    + `,"disconnected_at_ms":${connected ? 'null' : jn(num(n[F.DISCONNECTED_AT_MS]))}`
    + `,"agent":${JSON.stringify(s[S.AGENT_VERSION])},"os":${JSON.stringify(s[S.OS])},"kernel":${JSON.stringify(s[S.KERNEL])}`
    + `,"arch":${JSON.stringify(s[S.ARCH])},"cpu_model":${JSON.stringify(s[S.CPU_MODEL])}`
    + `,"cpu_cores":${jn(num(n[F.CPU_CORES]))},"cpu_pct":${jn(num(n[F.CPU_PCT]))}`
    + `,"load":[${jn(num(n[F.LOAD_1M]))},${jn(num(n[F.LOAD_5M]))},${jn(num(n[F.LOAD_15M]))}]`
    + `,"mem_total_bytes":${jn(memTotal)},"mem_used_bytes":${jn(memUsed)},"mem_available_bytes":${jn(num(n[F.MEM_AVAILABLE_BYTES]))}`
    + `,"swap_total_bytes":${jn(num(n[F.SWAP_TOTAL_BYTES]))},"swap_used_bytes":${jn(num(n[F.SWAP_USED_BYTES]))}`
    + `,"uptime_s":${jn(uptime)},"note":${JSON.stringify(s[S.NOTE])},"readings":${readings}`
    + `,"boot_time_ms":${jn(boot)},"power_source":${source === null ? 'null' : `"${source}"`}`
    + `,"mem_used_pct":${jn(memPct)},"disk_fullest_pct":${jn(disk.pct)},"disk_fullest_mount":${disk.mount === null ? 'null' : JSON.stringify(disk.mount)},"energy":`;
  const entry: HostEntry = {
    seq: slot.lockSeq,
    slot: slot.index,
    name: s[S.HOST]!,
    fixed: Buffer.from(fixed, 'utf8'),
    connected,
    receivedMs: received,
    intervalMs: num(n[F.INTERVAL_MS]) ?? 1000,
    cpuPct: num(n[F.CPU_PCT]),
    cpuCores: num(n[F.CPU_CORES]),
    memUsed,
    memTotal,
    powerW: num(n[F_POWER_W]),
    powerSource: source,
    numbers: n,
    energy: null,
    energyJson: NULL_JSON,
    energyFromMs: 0,
    energyUntilMs: -1,
  };
  energyAt(entry, nowMs);
  return entry;
}

/**
 * The entry's energy block as of `nowMs`, worked out again only when the clock has passed the
 * end of a day, month or projection it used (or stepped back before the time it was built).
 */
function energyAt(e: HostEntry, nowMs: number): void {
  if (nowMs >= e.energyFromMs && nowMs < e.energyUntilMs) return;
  e.energy = hostEnergy(e.numbers, nowMs);
  e.energyJson = e.energy === null ? NULL_JSON : Buffer.from(JSON.stringify(e.energy), 'utf8');
  let until = Number.POSITIVE_INFINITY;
  for (const f of [F.ENERGY_TODAY_UNTIL_MS, F.ENERGY_MONTH_UNTIL_MS, F.PROJ_UNTIL_MS]) {
    const u = e.numbers[f]!;
    if (u > nowMs && u < until) until = u;
  }
  e.energyFromMs = nowMs;
  e.energyUntilMs = until;
}

export function entryStatus(e: HostEntry, nowMs: number): HostStatus {
  if (!e.connected) return 'offline';
  if (e.receivedMs === null) return 'stale';
  return nowMs - e.receivedMs <= ONLINE_INTERVALS * e.intervalMs ? 'online' : 'stale';
}

/** Alerts by host as JSON arrays, worked out once per feed. */
interface AlertIndex {
  feed: AlertFeed;
  byHost: Map<string, string>;
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
  const byHost = new Map<string, string>();
  for (const [host, list] of lists) byHost.set(host, JSON.stringify(list));
  return { feed, byHost, firing };
}

export class HostsJson {
  private entries: Array<HostEntry | null> = [];
  /** Slots of the entries in name order; sorted again only when a name appears, goes or changes. */
  private order: number[] = [];
  private orderStale = true;
  private alerts: AlertIndex | null = null;
  /** Slots read again (their sequence changed), for diagnostics and benchmarks. */
  reads = 0;

  constructor(private readonly store: ShmStore) {}

  /**
   * Slot `i`'s entry, read again if its sequence moved. A slot kept busy by the writer this
   * round keeps its last entry (the previous consistent reading); a slot never read is left out.
   */
  refresh(i: number, nowMs: number): HostEntry | null {
    const old = this.entries[i] ?? null;
    if (old !== null && this.store.slotSeq(i) === old.seq) {
      energyAt(old, nowMs);
      return old;
    }
    const slot = this.store.readSlotPart(i, OVERVIEW_TABLES);
    if (slot === null) return old;
    this.reads++;
    const next = (slot.flags & FLAG_USED) === 0 ? null : hostEntry(slot, nowMs);
    if (next?.name !== old?.name) this.orderStale = true;
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
   * UTF-8 in one buffer. The cached parts are copied; only status, age_ms and alerts are written.
   */
  private writeHosts(hosts: readonly HostEntry[], nowMs: number, alerts: AlertIndex, prefix: string, suffix: string): Buffer {
    const dyn: string[] = new Array<string>(hosts.length);
    let bound = Buffer.byteLength(prefix) + Buffer.byteLength(suffix) + hosts.length;
    for (let k = 0; k < hosts.length; k++) {
      const e = hosts[k]!;
      const age = e.receivedMs === null ? 'null' : String(Math.max(0, nowMs - e.receivedMs));
      const d = `,"status":"${entryStatus(e, nowMs)}","age_ms":${age},"alerts":${alerts.byHost.get(e.name) ?? '[]'}}`;
      dyn[k] = d;
      // A UTF-16 unit takes at most 3 bytes of UTF-8.
      bound += e.fixed.length + e.energyJson.length + 3 * d.length;
    }
    const out = Buffer.allocUnsafe(bound);
    let at = out.write(prefix, 0, 'utf8');
    for (let k = 0; k < hosts.length; k++) {
      const e = hosts[k]!;
      if (k > 0) out[at++] = 0x2c; // ','
      at += e.fixed.copy(out, at);
      at += e.energyJson.copy(out, at);
      at += out.write(dyn[k]!, at, 'utf8');
    }
    at += out.write(suffix, at, 'utf8');
    return out.subarray(0, at);
  }

  /**
   * The /api/hosts payload (dashboard/api.ts HostsPayload) as UTF-8 JSON, between `before` and
   * `after` (an SSE event's framing; '' for the plain answer).
   */
  payloadJson(nowMs: number, feed: AlertFeed, energy: EnergyInfo, before = '', after = ''): Buffer {
    const hosts = this.all(nowMs);
    const alerts = this.alertsOf(feed);
    const summary = summarise(hosts, nowMs, alerts.firing, energy);
    const collector = { version: SENTINEL_VERSION, started_at_ms: this.store.createdAtMs, capacity: this.store.capacity, slots_used: this.store.slotsUsed() };
    const prefix = `${before}{"now_ms":${jn(nowMs)},"collector":${JSON.stringify(collector)},"summary":${JSON.stringify(summary)}`
      + `,"thresholds":${JSON.stringify(thresholdsOf(feed.rules))},"alerts":${JSON.stringify(feed.alerts)},"hosts":[`;
    return this.writeHosts(hosts, nowMs, alerts, prefix, `]}${after}`);
  }

  /** The `delta` event's data: the hosts of `slots` (read now), each as /api/hosts lists it; framed as payloadJson. */
  deltaJson(slots: Iterable<number>, nowMs: number, feed: AlertFeed, before = '', after = ''): Buffer {
    const alerts = this.alertsOf(feed);
    const hosts: HostEntry[] = [];
    const used = this.store.slotsUsed();
    for (const i of slots) {
      if (i >= used) continue;
      const e = this.refresh(i, nowMs);
      if (e !== null) hosts.push(e);
    }
    return this.writeHosts(hosts, nowMs, alerts, `${before}{"now_ms":${jn(nowMs)},"hosts":[`, `]}${after}`);
  }
}

/** The fleet summary over the hosts' entries (the meaning of dashboard/api.ts FleetSummary). */
function summarise(hosts: readonly HostEntry[], nowMs: number, firing: number, energy: EnergyInfo): FleetSummary {
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
