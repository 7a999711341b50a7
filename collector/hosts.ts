/**
 * The host table: which slot each host owns, which connection speaks for it, and every write of
 * a host's state into shared memory. A host keeps its slot across reconnects. Only when every
 * slot is taken does a new host get the slot of the host offline longest, and only if that one
 * has been offline for `evictAfterMs`: a live host never loses its slot. A reused slot is
 * rewritten whole in one locked write, so a reader never sees one host's readings under
 * another's name.
 */
import { ONLINE_INTERVALS } from '../shared/host_view.ts';
import type { Facts, Hello, Sample } from '../shared/protocol.ts';
import {
  NUM, SLOT_NUMBER_FIELDS, SLOT_FLAG_CONNECTED, SLOT_FLAG_USED, STR, STRING_FIELD_COUNT,
  type NumField, type StrField,
} from '../shared/shm_layout.ts';
import type { ShmStore } from '../shared/shm_store.ts';
import { FUTURE_TOLERANCE_MS, placeSample, PLACED_IN_HISTORY, STORED_AS_LATEST, writeLatest, type PlacementState } from './sample_placement.ts';

export { CLOCK_SKEW_NOTE_MS, FUTURE_TOLERANCE_MS } from './sample_placement.ts';

/** Something that can be told its host was taken over by a newer connection. */
export interface HostOwner {
  readonly id: number;
}

/**
 * An agent clock further than this from the collector's (measured at the hello) has its sample
 * times shifted by the difference before they are placed in the history, ms. Below it, the
 * agent's own times are used: they are exact, and a shift by the network delay would blur them.
 */
export const HISTORY_CLOCK_CORRECTION_MS = 2000;

interface HostEntry {
  slot: number;
  owner: HostOwner | null;
  samples: number;
  /** Collector clock of the owner's welcome or last sample, ms. */
  lastSeenMs: number;
  intervalMs: number;
  /** Ordering time of the newest stored sample (its ts, capped at arrival + FUTURE_TOLERANCE_MS). */
  newestMs: number;
  /** Added to the owner's sample times to place them in the history, ms (see HISTORY_CLOCK_CORRECTION_MS). */
  clockOffsetMs: number;
  /** The newest sample stored as latest during a read and not yet written to the slot (see beginRead). */
  pending: Sample | null;
  /** When `pending` arrived, ms. */
  pendingNowMs: number;
}

export type ClaimResult =
  | { ok: true; slot: number; replaced: HostOwner | null; evicted: string | null }
  | { ok: false; reason: 'capacity' | 'in_use' };

/**
 * stored: the sample is the host's latest reading now (and is in its history); history: older
 * than the latest reading (a replayed or buffered sample), placed in the history at its own time
 * only; not_owner: dropped.
 */
export type RecordResult = 'stored' | 'history' | 'not_owner';

/** A known host as the alert engine sees it. */
export interface HostLiveness {
  name: string;
  /** A connection holds the host. */
  connected: boolean;
  /** Collector clock of the host's last welcome or sample, ms. */
  lastSeenMs: number;
  /** The agent's sampling interval, ms. */
  intervalMs: number;
}

/** What a batch of one host's samples, placed by an ingest worker, did (HostTable.afterBatch). */
export interface BatchOutcome {
  /** The host's newest ordering time after the batch (PlacementState.newestMs). */
  newestMs: number;
  /** Samples of the batch that became the latest reading. */
  stored: number;
  /** For each sample placed in the history: its placed time, then its power_w (NaN when absent). */
  placed: ArrayLike<number>;
  /** The last sample of the batch that became the latest reading, if any. */
  latest: Sample | null;
}

export class HostTable {
  private readonly byName = new Map<string, HostEntry>();
  /** Called with each sample that became a host's latest reading (alerts watch these). */
  onLatest: ((host: string, sample: Sample) => void) | null = null;
  /**
   * Called with every sample placed in a host's history, latest or replayed, at the time it was
   * placed (the energy counters integrate these, in their own order).
   */
  onPlaced: ((host: string, slot: number, placedMs: number, watts: number | undefined, intervalMs: number) => void) | null = null;
  /** Called with a host that lost its slot to a new host (capacity full, --evict-after-s). */
  onEvicted: ((host: string) => void) | null = null;
  /** Between beginRead and endRead. */
  private reading = false;
  /** Hosts with a deferred latest reading, as pairs of name and entry. */
  private readonly deferred: Array<string | HostEntry> = [];

  /**
   * Takes over whatever hosts `store` already holds (a store restored from the state file): each
   * keeps its slot, its newest reading and its history, and is marked offline until its agent
   * reconnects.
   * @param evictAfterMs how long a host must have been offline before a new host may take its slot when all are taken.
   */
  constructor(private readonly store: ShmStore, private readonly evictAfterMs = Number.POSITIVE_INFINITY) {
    for (const slot of store.readAll()) {
      const n = slot.numbers;
      const at = (f: NumField): number => (Number.isNaN(n[f]!) ? Number.NEGATIVE_INFINITY : n[f]!);
      const lastSeenMs = Math.max(at(NUM.LAST_WRITE_MS), at(NUM.RECEIVED_AT_MS), at(NUM.CONNECTED_AT_MS), 0);
      const newestMs = Math.min(at(NUM.SAMPLE_TS_MS), at(NUM.RECEIVED_AT_MS) + FUTURE_TOLERANCE_MS);
      this.byName.set(slot.strings[STR.HOST]!, {
        slot: slot.index, owner: null, samples: Number.isNaN(n[NUM.SAMPLES_TOTAL]!) ? 0 : n[NUM.SAMPLES_TOTAL]!, lastSeenMs,
        intervalMs: Number.isNaN(n[NUM.INTERVAL_MS]!) ? 1000 : n[NUM.INTERVAL_MS]!, newestMs, clockOffsetMs: 0, pending: null, pendingNowMs: 0,
      });
      if ((slot.flags & SLOT_FLAG_CONNECTED) !== 0) {
        store.write(slot.index, { flags: SLOT_FLAG_USED, numbers: [[NUM.DISCONNECTED_AT_MS, lastSeenMs]] });
      }
    }
  }

  /** The slot of a known host. */
  slotOf(host: string): number | undefined {
    return this.byName.get(host)?.slot;
  }

  /** Every known host, connected or not. */
  *liveness(): IterableIterator<HostLiveness> {
    for (const [name, e] of this.byName) yield { name, connected: e.owner !== null, lastSeenMs: e.lastSeenMs, intervalMs: e.intervalMs };
  }

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
  claim(hello: Hello, owner: HostOwner, nowMs: number, helloAtMs = nowMs): ClaimResult {
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
        this.onEvicted?.(evicted);
        // Everything the old host left is cleared in the same write that names the new one.
        for (let f = 0; f < SLOT_NUMBER_FIELDS; f++) numbers.push([f as NumField, Number.NaN]);
        for (let f = 0; f < STRING_FIELD_COUNT; f++) strings.push([f as StrField, '']);
        this.store.clearHistory(slot);
      }
      entry = { slot, owner: null, samples: 0, lastSeenMs: nowMs, intervalMs: hello.interval_ms, newestMs: Number.NEGATIVE_INFINITY, clockOffsetMs: 0, pending: null, pendingNowMs: 0 };
      this.byName.set(hello.host, entry);
    }
    this.settle(hello.host, entry);
    const replaced = entry.owner;
    entry.owner = owner;
    entry.lastSeenMs = nowMs;
    entry.intervalMs = hello.interval_ms;
    const offset = hello.ts === undefined ? 0 : helloAtMs - hello.ts;
    entry.clockOffsetMs = Math.abs(offset) > HISTORY_CLOCK_CORRECTION_MS ? offset : 0;
    numbers.push(
      [NUM.LAST_WRITE_MS, nowMs],
      [NUM.CONNECTED_AT_MS, nowMs],
      [NUM.INTERVAL_MS, hello.interval_ms],
      [NUM.CPU_CORES, hello.cpu_cores ?? Number.NaN],
    );
    this.store.write(entry.slot, {
      flags: SLOT_FLAG_USED | SLOT_FLAG_CONNECTED,
      ...(evicted !== null ? { clearTables: true } : {}),
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
   * Places a validated sample in the host's history at its own time, and stores it as the host's
   * latest reading unless it is older than the reading already stored (a buffered or replayed
   * sample, or an agent clock that stepped back): the latest reading never moves backwards, and
   * freshness itself is judged by the collector's clock. Nothing is stored unless `owner` holds
   * the host.
   */
  recordSample(host: string, owner: HostOwner, sample: Sample, nowMs: number): RecordResult {
    const entry = this.byName.get(host);
    if (!entry || entry.owner !== owner) return 'not_owner';
    entry.lastSeenMs = nowMs;
    const defer = this.reading;
    const done = placeSample(this.store, entry, sample, nowMs, defer);
    if ((done & PLACED_IN_HISTORY) !== 0) this.onPlaced?.(host, entry.slot, sample.ts + entry.clockOffsetMs, sample.power_w, entry.intervalMs);
    if ((done & STORED_AS_LATEST) === 0) return 'history';
    if (defer) {
      if (entry.pending === null) this.deferred.push(host, entry);
      entry.pending = sample;
      entry.pendingNowMs = nowMs;
    } else {
      this.onLatest?.(host, sample);
    }
    return 'stored';
  }

  /**
   * Begins a read's frames (collector/server.ts): until endRead, a sample that becomes a host's
   * latest reading is placed in its history and counted at once, but written to its slot only
   * once, the newest, at endRead, or before any other write to that slot. Each such write
   * replaces the previous one whole, so the slot ends exactly as if each had been written; a
   * backlog replayed after an outage arrives dozens of samples to a read.
   */
  beginRead(): void {
    this.reading = true;
  }

  /** Writes the latest reading deferred since beginRead of each host, and tells onLatest. */
  endRead(): void {
    this.reading = false;
    const d = this.deferred;
    try {
      for (let k = 0; k + 1 < d.length; k += 2) this.settle(d[k] as string, d[k + 1] as HostEntry);
    } finally {
      d.length = 0;
    }
  }

  /** Writes `entry`'s deferred latest reading, if any. */
  private settle(host: string, entry: HostEntry): void {
    const sample = entry.pending;
    if (sample === null) return;
    entry.pending = null;
    writeLatest(this.store, entry.slot, sample, entry.samples, entry.pendingNowMs);
    this.onLatest?.(host, sample);
  }

  /**
   * The placement state of the host `owner` holds, for a batch of its samples to be placed by an
   * ingest worker (collector/ingest_pool.ts), or null if `owner` does not hold it. The batch's
   * outcome comes back through afterBatch.
   */
  placementOf(host: string, owner: HostOwner, nowMs: number): PlacementState | null {
    const entry = this.byName.get(host);
    if (!entry || entry.owner !== owner) return null;
    this.settle(host, entry);
    entry.lastSeenMs = nowMs;
    return { slot: entry.slot, clockOffsetMs: entry.clockOffsetMs, newestMs: entry.newestMs, samples: entry.samples };
  }

  /**
   * Takes in what a batch placed by an ingest worker did to `host` (which had `slot` when the
   * batch began): its newest time and count of latest readings, then, as recordSample would have,
   * the energy counters for each sample placed in the history (`placed`: pairs of time and watts,
   * NaN watts where the sample had none) and the alert inputs for the latest one. The samples
   * were received while the host was held, so they count even if its connection closed meanwhile.
   */
  afterBatch(host: string, slot: number, outcome: BatchOutcome): void {
    const entry = this.byName.get(host);
    if (!entry || entry.slot !== slot) return; // the slot went to another host meanwhile
    entry.newestMs = Math.max(entry.newestMs, outcome.newestMs);
    entry.samples += outcome.stored;
    const placed = outcome.placed;
    for (let k = 0; k + 1 < placed.length; k += 2) {
      const watts = placed[k + 1]!;
      this.onPlaced?.(host, slot, placed[k]!, Number.isNaN(watts) ? undefined : watts, entry.intervalMs);
    }
    if (outcome.latest) this.onLatest?.(host, outcome.latest);
  }


  /** Updates the static facts of the host `owner` holds (a `facts` message). */
  updateFacts(host: string, owner: HostOwner, facts: Facts, nowMs: number): boolean {
    const entry = this.byName.get(host);
    if (!entry || entry.owner !== owner) return false;
    this.settle(host, entry);
    entry.lastSeenMs = nowMs;
    const strings: Array<readonly [StrField, string]> = [];
    if (facts.os !== undefined) strings.push([STR.OS, facts.os]);
    if (facts.kernel !== undefined) strings.push([STR.KERNEL, facts.kernel]);
    if (facts.arch !== undefined) strings.push([STR.ARCH, facts.arch]);
    if (facts.cpu_model !== undefined) strings.push([STR.CPU_MODEL, facts.cpu_model]);
    const numbers: Array<readonly [NumField, number]> = [[NUM.LAST_WRITE_MS, nowMs]];
    if (facts.cpu_cores !== undefined) numbers.push([NUM.CPU_CORES, facts.cpu_cores]);
    this.store.write(entry.slot, { numbers, strings });
    return true;
  }

  /** Marks the host offline, unless a newer connection has taken it over meanwhile. */
  release(host: string, owner: HostOwner, nowMs: number): void {
    const entry = this.byName.get(host);
    if (!entry || entry.owner !== owner) return;
    this.settle(host, entry);
    entry.owner = null;
    this.store.write(entry.slot, { flags: SLOT_FLAG_USED, numbers: [[NUM.LAST_WRITE_MS, nowMs], [NUM.DISCONNECTED_AT_MS, nowMs]] });
  }
}
