/** The JSON the API serves, built from one pass over shared memory. Pure apart from the store read. */
import { hostView, type HostView } from '../shared/host_view.ts';
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
