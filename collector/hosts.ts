/**
 * The host table: which slot each host owns, which connection speaks for it, and every write of
 * a host's state into shared memory. A host keeps its slot for the life of the collector, across
 * reconnects; slots are never reused for another host, so a reader never sees one host's
 * readings under another's name.
 */
import { ONLINE_INTERVALS } from '../shared/host_view.ts';
import { READINGS, type Hello, type ReadingName, type Sample } from '../shared/protocol.ts';
import { NUM, SLOT_FLAG_CONNECTED, SLOT_FLAG_USED, STR, type NumField } from '../shared/shm_layout.ts';
import type { ShmStore } from '../shared/shm_store.ts';

/** Which slot field each protocol reading lands in. */
const READING_FIELD: Readonly<Record<ReadingName, NumField>> = Object.freeze({
  cpu_pct: NUM.CPU_PCT,
  load_1m: NUM.LOAD_1M,
  load_5m: NUM.LOAD_5M,
  load_15m: NUM.LOAD_15M,
  mem_total_bytes: NUM.MEM_TOTAL_BYTES,
  mem_used_bytes: NUM.MEM_USED_BYTES,
  mem_available_bytes: NUM.MEM_AVAILABLE_BYTES,
  swap_total_bytes: NUM.SWAP_TOTAL_BYTES,
  swap_used_bytes: NUM.SWAP_USED_BYTES,
  uptime_s: NUM.UPTIME_S,
});

/** Something that can be told its host was taken over by a newer connection. */
export interface HostOwner {
  readonly id: number;
}

interface HostEntry {
  slot: number;
  owner: HostOwner | null;
  samples: number;
  /** Collector clock of the owner's welcome or last sample, ms. */
  lastSeenMs: number;
  intervalMs: number;
}

export type ClaimResult =
  | { ok: true; slot: number; replaced: HostOwner | null }
  | { ok: false; reason: 'capacity' | 'in_use' };

export class HostTable {
  private readonly byName = new Map<string, HostEntry>();

  constructor(private readonly store: ShmStore) {}

  get size(): number {
    return this.byName.size;
  }

  /**
   * Gives `owner` the host named in `hello`. Rule for a second connection claiming a host that is
   * already connected (PROTOCOL.md, "Host names"): while the current owner is live (welcomed or
   * sent a sample within ONLINE_INTERVALS of its interval) the newcomer is refused ('in_use'), so
   * two agents with one name cannot knock each other off in a loop; once the owner has gone
   * quiet (a connection that died without a FIN), the newcomer takes over and the old owner is
   * returned so that the caller closes it. A host's readings only ever come from its one owner.
   */
  claim(hello: Hello, owner: HostOwner, nowMs: number): ClaimResult {
    let entry = this.byName.get(hello.host);
    if (entry?.owner && nowMs - entry.lastSeenMs <= ONLINE_INTERVALS * entry.intervalMs) {
      return { ok: false, reason: 'in_use' };
    }
    if (!entry) {
      const slot = this.store.allocateSlot();
      if (slot < 0) return { ok: false, reason: 'capacity' };
      entry = { slot, owner: null, samples: 0, lastSeenMs: nowMs, intervalMs: hello.interval_ms };
      this.byName.set(hello.host, entry);
    }
    const replaced = entry.owner;
    entry.owner = owner;
    entry.lastSeenMs = nowMs;
    entry.intervalMs = hello.interval_ms;
    this.store.write(entry.slot, {
      flags: SLOT_FLAG_USED | SLOT_FLAG_CONNECTED,
      numbers: [
        [NUM.LAST_WRITE_MS, nowMs],
        [NUM.CONNECTED_AT_MS, nowMs],
        [NUM.INTERVAL_MS, hello.interval_ms],
        [NUM.CPU_CORES, hello.cpu_cores ?? Number.NaN],
      ],
      strings: [
        [STR.HOST, hello.host],
        [STR.AGENT_VERSION, hello.agent],
        [STR.OS, hello.os ?? ''],
        [STR.KERNEL, hello.kernel ?? ''],
        [STR.ARCH, hello.arch ?? ''],
        [STR.CPU_MODEL, hello.cpu_model ?? ''],
      ],
    });
    return { ok: true, slot: entry.slot, replaced };
  }

  /** Stores a validated sample as the host's latest reading. Ignored unless `owner` holds the host. */
  recordSample(host: string, owner: HostOwner, sample: Sample, nowMs: number): boolean {
    const entry = this.byName.get(host);
    if (!entry || entry.owner !== owner) return false;
    entry.samples++;
    entry.lastSeenMs = nowMs;
    const numbers: Array<readonly [NumField, number]> = [
      [NUM.LAST_WRITE_MS, nowMs],
      [NUM.RECEIVED_AT_MS, nowMs],
      [NUM.SAMPLE_TS_MS, sample.ts],
      [NUM.SAMPLE_SEQ, sample.seq],
      [NUM.SAMPLES_TOTAL, entry.samples],
    ];
    // A reading absent from this sample becomes NaN: the page must not show a stale value as current.
    for (const r of READINGS) numbers.push([READING_FIELD[r.name], sample[r.name] ?? Number.NaN]);
    this.store.write(entry.slot, { numbers, strings: [[STR.NOTE, formatMissing(sample.missing)]] });
    return true;
  }

  /** Marks the host offline, unless a newer connection has taken it over meanwhile. */
  release(host: string, owner: HostOwner, nowMs: number): void {
    const entry = this.byName.get(host);
    if (!entry || entry.owner !== owner) return;
    entry.owner = null;
    this.store.write(entry.slot, { flags: SLOT_FLAG_USED, numbers: [[NUM.LAST_WRITE_MS, nowMs], [NUM.DISCONNECTED_AT_MS, nowMs]] });
  }
}

function formatMissing(missing: Record<string, string> | undefined): string {
  if (!missing) return '';
  return Object.entries(missing).map(([k, v]) => `${k}: ${v}`).join('; ');
}
