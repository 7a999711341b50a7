/**
 * The host table: which slot each host owns, which connection speaks for it, and every write of
 * a host's state into shared memory. A host keeps its slot across reconnects. Only when every
 * slot is taken does a new host get the slot of the host offline longest, and only if that one
 * has been offline for `evictAfterMs`: a live host never loses its slot. A reused slot is
 * rewritten whole in one locked write, so a reader never sees one host's readings under
 * another's name.
 */
import { ONLINE_INTERVALS } from '../shared/host_view.ts';
import { READINGS, type Hello, type ReadingName, type Sample } from '../shared/protocol.ts';
import { NUM, NUMBER_FIELD_COUNT, SLOT_FLAG_CONNECTED, SLOT_FLAG_USED, STR, STRING_FIELD_COUNT, type NumField, type StrField } from '../shared/shm_layout.ts';
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

/**
 * A sample's time counts for ordering as at most this far ahead of the collector's clock, ms, so
 * that an agent whose clock ran ahead and was then corrected is not ignored for long.
 */
export const FUTURE_TOLERANCE_MS = 60_000;
/** A sample time further than this from the collector's clock is noted on the host, ms. */
export const CLOCK_SKEW_NOTE_MS = 5 * 60_000;

interface HostEntry {
  slot: number;
  owner: HostOwner | null;
  samples: number;
  /** Collector clock of the owner's welcome or last sample, ms. */
  lastSeenMs: number;
  intervalMs: number;
  /** Ordering time of the newest stored sample (its ts, capped at arrival + FUTURE_TOLERANCE_MS). */
  newestMs: number;
}

export type ClaimResult =
  | { ok: true; slot: number; replaced: HostOwner | null; evicted: string | null }
  | { ok: false; reason: 'capacity' | 'in_use' };

/** stored: the sample is the host's reading now; older: dropped, not newer than the stored one; not_owner: dropped. */
export type RecordResult = 'stored' | 'older' | 'not_owner';

export class HostTable {
  private readonly byName = new Map<string, HostEntry>();

  /** @param evictAfterMs how long a host must have been offline before a new host may take its slot when all are taken. */
  constructor(private readonly store: ShmStore, private readonly evictAfterMs = Number.POSITIVE_INFINITY) {}

  /** Hosts known (slots taken). */
  get size(): number {
    return this.byName.size;
  }

  get capacity(): number {
    return this.store.capacity;
  }

  /** The host offline longest, if it has been offline for evictAfterMs. */
  private evictable(nowMs: number): string | null {
    let best: string | null = null;
    let bestSeen = Number.POSITIVE_INFINITY;
    for (const [name, e] of this.byName) {
      if (e.owner === null && e.lastSeenMs < bestSeen && nowMs - e.lastSeenMs >= this.evictAfterMs) {
        best = name;
        bestSeen = e.lastSeenMs;
      }
    }
    return best;
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
    let evicted: string | null = null;
    const numbers: Array<readonly [NumField, number]> = [];
    const strings: Array<readonly [StrField, string]> = [];
    if (!entry) {
      let slot = this.store.allocateSlot();
      if (slot < 0) {
        evicted = this.evictable(nowMs);
        if (evicted === null) return { ok: false, reason: 'capacity' };
        slot = this.byName.get(evicted)!.slot;
        this.byName.delete(evicted);
        // Everything the old host left is cleared in the same write that names the new one.
        for (let f = 0; f < NUMBER_FIELD_COUNT; f++) numbers.push([f as NumField, Number.NaN]);
        for (let f = 0; f < STRING_FIELD_COUNT; f++) strings.push([f as StrField, '']);
      }
      entry = { slot, owner: null, samples: 0, lastSeenMs: nowMs, intervalMs: hello.interval_ms, newestMs: Number.NEGATIVE_INFINITY };
      this.byName.set(hello.host, entry);
    }
    const replaced = entry.owner;
    entry.owner = owner;
    entry.lastSeenMs = nowMs;
    entry.intervalMs = hello.interval_ms;
    numbers.push(
      [NUM.LAST_WRITE_MS, nowMs],
      [NUM.CONNECTED_AT_MS, nowMs],
      [NUM.INTERVAL_MS, hello.interval_ms],
      [NUM.CPU_CORES, hello.cpu_cores ?? Number.NaN],
    );
    this.store.write(entry.slot, {
      flags: SLOT_FLAG_USED | SLOT_FLAG_CONNECTED,
      numbers,
      strings: [
        ...strings,
        [STR.HOST, hello.host],
        [STR.AGENT_VERSION, hello.agent],
        [STR.OS, hello.os ?? ''],
        [STR.KERNEL, hello.kernel ?? ''],
        [STR.ARCH, hello.arch ?? ''],
        [STR.CPU_MODEL, hello.cpu_model ?? ''],
      ],
    });
    return { ok: true, slot: entry.slot, replaced, evicted };
  }

  /**
   * Stores a validated sample as the host's latest reading, unless `owner` does not hold the
   * host, or the sample is older than the reading already stored (a replayed session, or an
   * agent clock that stepped back): freshness itself is judged by the collector's clock.
   */
  recordSample(host: string, owner: HostOwner, sample: Sample, nowMs: number): RecordResult {
    const entry = this.byName.get(host);
    if (!entry || entry.owner !== owner) return 'not_owner';
    entry.lastSeenMs = nowMs;
    const orderMs = Math.min(sample.ts, nowMs + FUTURE_TOLERANCE_MS);
    if (orderMs < entry.newestMs) return 'older';
    entry.newestMs = orderMs;
    entry.samples++;
    const numbers: Array<readonly [NumField, number]> = [
      [NUM.LAST_WRITE_MS, nowMs],
      [NUM.RECEIVED_AT_MS, nowMs],
      [NUM.SAMPLE_TS_MS, sample.ts],
      [NUM.SAMPLE_SEQ, sample.seq],
      [NUM.SAMPLES_TOTAL, entry.samples],
    ];
    // A reading absent from this sample becomes NaN: the page must not show a stale value as current.
    for (const r of READINGS) numbers.push([READING_FIELD[r.name], sample[r.name] ?? Number.NaN]);
    this.store.write(entry.slot, { numbers, strings: [[STR.NOTE, formatNote(sample, nowMs)]] });
    return 'stored';
  }

  /** Marks the host offline, unless a newer connection has taken it over meanwhile. */
  release(host: string, owner: HostOwner, nowMs: number): void {
    const entry = this.byName.get(host);
    if (!entry || entry.owner !== owner) return;
    entry.owner = null;
    this.store.write(entry.slot, { flags: SLOT_FLAG_USED, numbers: [[NUM.LAST_WRITE_MS, nowMs], [NUM.DISCONNECTED_AT_MS, nowMs]] });
  }
}

/** The host's note: the agent's clock when it is far off, then why readings are missing. */
function formatNote(sample: Sample, nowMs: number): string {
  const parts: string[] = [];
  const skew = sample.ts - nowMs;
  if (Math.abs(skew) > CLOCK_SKEW_NOTE_MS) parts.push(`clock: agent clock ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead' : 'behind'}`);
  for (const [k, v] of Object.entries(sample.missing ?? {})) parts.push(`${k}: ${v}`);
  return parts.join('; ');
}
