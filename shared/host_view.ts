/**
 * Turns a slot read from shared memory into what people see: a host's status and readings.
 * Pure; used by the dashboard and by scripts/test_reader.ts so that both read alike.
 */
import { READINGS, type PowerSource, type ReadingName, type TableName } from './protocol.ts';
import { NUM, POWER_SOURCE_CODE, READING_NUM, SLOT_FLAG_CONNECTED, STR, TABLE_LAYOUT } from './shm_layout.ts';
import type { SlotData } from './shm_store.ts';
import type { StoredRow } from './shm_tables.ts';

export type HostStatus = 'online' | 'stale' | 'offline';

/** A host is online while its last sample is younger than this many of its intervals. */
export const ONLINE_INTERVALS = 3;

export interface HostView {
  name: string;
  status: HostStatus;
  slot: number;
  /** Age of the last sample by the collector's clock, ms; null before the first sample. */
  age_ms: number | null;
  received_at_ms: number | null;
  sample_ts_ms: number | null;
  sample_seq: number | null;
  samples_total: number;
  interval_ms: number | null;
  connected_since_ms: number | null;
  disconnected_at_ms: number | null;
  agent: string;
  os: string;
  kernel: string;
  arch: string;
  cpu_model: string;
  cpu_cores: number | null;
  cpu_pct: number | null;
  load: [number | null, number | null, number | null];
  mem_total_bytes: number | null;
  mem_used_bytes: number | null;
  mem_available_bytes: number | null;
  swap_total_bytes: number | null;
  swap_used_bytes: number | null;
  uptime_s: number | null;
  /** Why readings are missing from the last sample, as the agent said; empty when none are. */
  note: string;
  /** Every reading of the last sample by its protocol name; null where it was not taken. */
  readings: Record<ReadingName, number | null>;
  /** When the host booted, by the agent's clock (sample time - uptime), ms; null when unknown. */
  boot_time_ms: number | null;
  /** Where readings.power_w came from; null when the agent did not say (or sent no power). */
  power_source: PowerSource | null;
  /** Energy and cost the collector integrated from this host's power; null before its first power sample. */
  energy: HostEnergy | null;
}

/**
 * A host's energy (kWh) and cost (in the collector's tariff currency; null when it has no
 * tariff), local days and months of the tariff's time zone.
 */
export interface HostEnergy {
  today_kwh: number;
  today_cost: number | null;
  month_kwh: number;
  month_cost: number | null;
  /** Since `since_ms`, the first power sample integrated. */
  total_kwh: number;
  total_cost: number | null;
  since_ms: number;
  /** From the recent daily average (collector/projection.ts); null before there is a basis. */
  projection: {
    month_kwh: number;
    month_cost: number | null;
    /** The next `days` days. */
    next_kwh: number;
    next_cost: number | null;
    days: number;
  } | null;
}

/** A host with its tables: what the detail page shows. */
export interface HostDetail extends HostView {
  /** Rows by table; per-core lists are arrays of numbers (null where not read). */
  tables: Record<TableName, Array<StoredRow | number | null>>;
  /** Rows the agent sent beyond what shared memory keeps, by table. */
  truncated: Record<TableName, number>;
}

// Module bindings as locals: under tsx each access to an imported binding is a getter call,
// and these are read per field per host (thousands of hosts per answer).
const F = NUM;
const S = STR;
const CODE = POWER_SOURCE_CODE;
const FLAG_CONNECTED = SLOT_FLAG_CONNECTED;
const READING_FIELDS = READINGS.map((r) => [r.name, READING_NUM[r.name]] as const);

function readingsOf(n: Float64Array): Record<ReadingName, number | null> {
  const out = {} as Record<ReadingName, number | null>;
  for (const [name, field] of READING_FIELDS) out[name] = num(n[field]);
  return out;
}

function num(v: number | undefined): number | null {
  return v === undefined || Number.isNaN(v) ? null : v;
}

/**
 * online: connected and a sample within ONLINE_INTERVALS intervals; stale: connected but no
 * sample for longer (or none yet); offline: not connected. Judged by the collector's clock.
 */
export function hostStatus(slot: SlotData, nowMs: number): HostStatus {
  if ((slot.flags & FLAG_CONNECTED) === 0) return 'offline';
  const received = slot.numbers[F.RECEIVED_AT_MS]!;
  const interval = num(slot.numbers[F.INTERVAL_MS]) ?? 1000;
  if (Number.isNaN(received)) return 'stale';
  return nowMs - received <= ONLINE_INTERVALS * interval ? 'online' : 'stale';
}

export function hostView(slot: SlotData, nowMs: number): HostView {
  const n = slot.numbers;
  const s = slot.strings;
  const received = num(n[F.RECEIVED_AT_MS]);
  return {
    name: s[S.HOST]!,
    status: hostStatus(slot, nowMs),
    slot: slot.index,
    age_ms: received === null ? null : Math.max(0, nowMs - received),
    received_at_ms: received,
    sample_ts_ms: num(n[F.SAMPLE_TS_MS]),
    sample_seq: num(n[F.SAMPLE_SEQ]),
    samples_total: num(n[F.SAMPLES_TOTAL]) ?? 0,
    interval_ms: num(n[F.INTERVAL_MS]),
    connected_since_ms: (slot.flags & FLAG_CONNECTED) !== 0 ? num(n[F.CONNECTED_AT_MS]) : null,
    disconnected_at_ms: (slot.flags & FLAG_CONNECTED) === 0 ? num(n[F.DISCONNECTED_AT_MS]) : null,
    agent: s[S.AGENT_VERSION]!,
    os: s[S.OS]!,
    kernel: s[S.KERNEL]!,
    arch: s[S.ARCH]!,
    cpu_model: s[S.CPU_MODEL]!,
    cpu_cores: num(n[F.CPU_CORES]),
    cpu_pct: num(n[F.CPU_PCT]),
    load: [num(n[F.LOAD_1M]), num(n[F.LOAD_5M]), num(n[F.LOAD_15M])],
    mem_total_bytes: num(n[F.MEM_TOTAL_BYTES]),
    mem_used_bytes: num(n[F.MEM_USED_BYTES]),
    mem_available_bytes: num(n[F.MEM_AVAILABLE_BYTES]),
    swap_total_bytes: num(n[F.SWAP_TOTAL_BYTES]),
    swap_used_bytes: num(n[F.SWAP_USED_BYTES]),
    uptime_s: num(n[F.UPTIME_S]),
    note: s[S.NOTE]!,
    readings: readingsOf(n),
    boot_time_ms: bootTimeMs(num(n[F.SAMPLE_TS_MS]), num(n[F.UPTIME_S])),
    power_source: powerSource(n[F.POWER_SOURCE]),
    energy: hostEnergy(n, nowMs),
  };
}

function powerSource(code: number | undefined): PowerSource | null {
  if (code === CODE.measured) return 'measured';
  if (code === CODE.estimated) return 'estimated';
  return null;
}

/**
 * The energy block of a slot. A today or month figure counts only before the instant that ends
 * its day or month (shm_layout.ts): past it, the host drew nothing yet in the new one. Zero or
 * NaN since-time (a slot of an older collector, or no power yet): null.
 */
export function hostEnergy(n: Float64Array, nowMs: number): HostEnergy | null {
  return hostEnergyInto(n, nowMs, null);
}

/**
 * hostEnergy, into `into` (and its projection object, when it has one) when given, so that a
 * reader that works out every host's block on each change allocates nothing: the block, or null.
 */
export function hostEnergyInto(n: Float64Array, nowMs: number, into: HostEnergy | null): HostEnergy | null {
  const since = n[F.ENERGY_SINCE_MS]!;
  if (!(since > 0)) return null;
  const today = n[F.ENERGY_TODAY_UNTIL_MS]! > nowMs;
  const month = n[F.ENERGY_MONTH_UNTIL_MS]! > nowMs;
  const projLive = n[F.PROJ_UNTIL_MS]! > nowMs && num(n[F.PROJ_MONTH_KWH]) !== null;
  const e: HostEnergy = into ?? { today_kwh: 0, today_cost: null, month_kwh: 0, month_cost: null, total_kwh: 0, total_cost: null, since_ms: 0, projection: null };
  e.today_kwh = liveKwh(n[F.ENERGY_TODAY_KWH], today);
  e.today_cost = liveCost(n[F.ENERGY_TODAY_COST], today);
  e.month_kwh = liveKwh(n[F.ENERGY_MONTH_KWH], month);
  e.month_cost = liveCost(n[F.ENERGY_MONTH_COST], month);
  e.total_kwh = num(n[F.ENERGY_TOTAL_KWH]) ?? 0;
  e.total_cost = num(n[F.ENERGY_TOTAL_COST]);
  e.since_ms = since;
  if (projLive) {
    const p = e.projection ?? { month_kwh: 0, month_cost: null, next_kwh: 0, next_cost: null, days: 0 };
    p.month_kwh = n[F.PROJ_MONTH_KWH]!;
    p.month_cost = num(n[F.PROJ_MONTH_COST]);
    p.next_kwh = num(n[F.PROJ_NEXT_KWH]) ?? 0;
    p.next_cost = num(n[F.PROJ_NEXT_COST]);
    p.days = num(n[F.PROJ_DAYS]) ?? 0;
    e.projection = p;
  } else e.projection = null;
  return e;
}

/** A kWh figure of a day or month: 0 once it has ended (`live` false). */
function liveKwh(v: number | undefined, live: boolean): number {
  return live ? num(v) ?? 0 : 0;
}

/** A cost of a day or month: null without a tariff, 0 once it has ended. */
function liveCost(v: number | undefined, live: boolean): number | null {
  const c = num(v);
  return c === null ? null : live ? c : 0;
}

/** Sample time - uptime, rounded to the second (uptime has that resolution). */
function bootTimeMs(ts: number | null, uptimeS: number | null): number | null {
  return ts === null || uptimeS === null ? null : Math.round((ts - uptimeS * 1000) / 1000) * 1000;
}

/** The view of a slot read with its tables (ShmStore.readSlot(i, true)). */
export function hostDetail(slot: SlotData, nowMs: number): HostDetail {
  if (!slot.tables) throw new TypeError('hostDetail needs a slot read with its tables');
  const tables = {} as HostDetail['tables'];
  const truncated = {} as HostDetail['truncated'];
  for (const t of TABLE_LAYOUT) {
    tables[t.name] = slot.tables[t.name].rows;
    truncated[t.name] = slot.tables[t.name].truncated;
  }
  return { ...hostView(slot, nowMs), tables, truncated };
}
