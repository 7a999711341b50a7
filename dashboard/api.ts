/** The JSON the API serves, built from one pass over shared memory. Pure apart from the store read. */
import { hostDetail, hostView, type HostDetail, type HostView } from '../shared/host_view.ts';
import { HISTORY_SERIES, HISTORY_STEP_MS, STR } from '../shared/shm_layout.ts';
import type { ShmStore } from '../shared/shm_store.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';

export interface HostsPayload {
  /** The collector's clock when this was read, ms since the epoch; ages are relative to it. */
  now_ms: number;
  collector: { version: string; started_at_ms: number; capacity: number; slots_used: number };
  summary: { hosts: number; online: number; stale: number; offline: number };
  hosts: HostView[];
}

export function hostsPayload(store: ShmStore, nowMs: number): HostsPayload {
  const hosts = store.readAll().map((slot) => hostView(slot, nowMs));
  hosts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const summary = { hosts: hosts.length, online: 0, stale: 0, offline: 0 };
  for (const h of hosts) summary[h.status]++;
  return {
    now_ms: nowMs,
    collector: { version: SENTINEL_VERSION, started_at_ms: store.createdAtMs, capacity: store.capacity, slots_used: store.slotsUsed() },
    summary,
    hosts,
  };
}

/** The slot holding host `name`, or -1. Reads names only; O(slots). */
export function findHost(store: ShmStore, name: string): number {
  for (const slot of store.readAll()) if (slot.strings[STR.HOST] === name) return slot.index;
  return -1;
}

export interface HostDetailPayload {
  now_ms: number;
  host: HostDetail;
}

/** One host with its tables, or null when no slot holds `name` (or it stayed busy). */
export function hostDetailPayload(store: ShmStore, name: string, nowMs: number): HostDetailPayload | null {
  const index = findHost(store, name);
  const slot = index < 0 ? null : store.readSlot(index, true);
  if (!slot || slot.strings[STR.HOST] !== name) return null;
  return { now_ms: nowMs, host: hostDetail(slot, nowMs) };
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
