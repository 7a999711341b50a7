/**
 * Turns a slot read from shared memory into what people see: a host's status and readings.
 * Pure; used by the dashboard and by scripts/test_reader.ts so that both read alike.
 */
import { READINGS, type ReadingName, type TableName } from './protocol.ts';
import { NUM, READING_NUM, SLOT_FLAG_CONNECTED, STR, TABLE_LAYOUT } from './shm_layout.ts';
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
}

/** A host with its tables: what the detail page shows. */
export interface HostDetail extends HostView {
  /** Rows by table; per-core lists are arrays of numbers (null where not read). */
  tables: Record<TableName, Array<StoredRow | number | null>>;
  /** Rows the agent sent beyond what shared memory keeps, by table. */
  truncated: Record<TableName, number>;
}

function num(v: number | undefined): number | null {
  return v === undefined || Number.isNaN(v) ? null : v;
}

/**
 * online: connected and a sample within ONLINE_INTERVALS intervals; stale: connected but no
 * sample for longer (or none yet); offline: not connected. Judged by the collector's clock.
 */
export function hostStatus(slot: SlotData, nowMs: number): HostStatus {
  if ((slot.flags & SLOT_FLAG_CONNECTED) === 0) return 'offline';
  const received = slot.numbers[NUM.RECEIVED_AT_MS]!;
  const interval = num(slot.numbers[NUM.INTERVAL_MS]) ?? 1000;
  if (Number.isNaN(received)) return 'stale';
  return nowMs - received <= ONLINE_INTERVALS * interval ? 'online' : 'stale';
}

export function hostView(slot: SlotData, nowMs: number): HostView {
  const n = slot.numbers;
  const s = slot.strings;
  const received = num(n[NUM.RECEIVED_AT_MS]);
  return {
    name: s[STR.HOST]!,
    status: hostStatus(slot, nowMs),
    slot: slot.index,
    age_ms: received === null ? null : Math.max(0, nowMs - received),
    received_at_ms: received,
    sample_ts_ms: num(n[NUM.SAMPLE_TS_MS]),
    sample_seq: num(n[NUM.SAMPLE_SEQ]),
    samples_total: num(n[NUM.SAMPLES_TOTAL]) ?? 0,
    interval_ms: num(n[NUM.INTERVAL_MS]),
    connected_since_ms: (slot.flags & SLOT_FLAG_CONNECTED) !== 0 ? num(n[NUM.CONNECTED_AT_MS]) : null,
    disconnected_at_ms: (slot.flags & SLOT_FLAG_CONNECTED) === 0 ? num(n[NUM.DISCONNECTED_AT_MS]) : null,
    agent: s[STR.AGENT_VERSION]!,
    os: s[STR.OS]!,
    kernel: s[STR.KERNEL]!,
    arch: s[STR.ARCH]!,
    cpu_model: s[STR.CPU_MODEL]!,
    cpu_cores: num(n[NUM.CPU_CORES]),
    cpu_pct: num(n[NUM.CPU_PCT]),
    load: [num(n[NUM.LOAD_1M]), num(n[NUM.LOAD_5M]), num(n[NUM.LOAD_15M])],
    mem_total_bytes: num(n[NUM.MEM_TOTAL_BYTES]),
    mem_used_bytes: num(n[NUM.MEM_USED_BYTES]),
    mem_available_bytes: num(n[NUM.MEM_AVAILABLE_BYTES]),
    swap_total_bytes: num(n[NUM.SWAP_TOTAL_BYTES]),
    swap_used_bytes: num(n[NUM.SWAP_USED_BYTES]),
    uptime_s: num(n[NUM.UPTIME_S]),
    note: s[STR.NOTE]!,
    readings: Object.fromEntries(READINGS.map((r) => [r.name, num(n[READING_NUM[r.name]])])) as Record<ReadingName, number | null>,
    boot_time_ms: bootTimeMs(num(n[NUM.SAMPLE_TS_MS]), num(n[NUM.UPTIME_S])),
  };
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
