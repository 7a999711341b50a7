/**
 * Energy and cost per host, kept by the collector's main thread: each power sample is integrated
 * into its host's EnergyAccumulator (collector/energy.ts) and the host's figures are written to
 * its slot in shared memory (NUM.ENERGY_* and NUM.PROJ_*, shared/shm_layout.ts), where the
 * dashboard worker reads them like any reading. The accumulators travel in the state file
 * (collector/state_codec.ts), so a restart does not reset the counters.
 *
 * Time: a sample counts at the time the history places it (its own time corrected by the
 * clock offset measured at the hello), so samples an agent buffered while the collector was away
 * fill the gap they really measured; a gap nobody measured (longer than the larger of
 * --energy-gap-s and 3 sample intervals) is not integrated.
 *
 * Without a tariff (--tariff empty) energy is still counted, in kWh; costs are NaN in shared
 * memory and null in the API.
 */
import type { Logger } from '../shared/log.ts';
import { NUM, type NumField } from '../shared/shm_layout.ts';
import type { ShmStore } from '../shared/shm_store.ts';
import { StateFileError } from '../shared/errors.ts';
import { EnergyAccumulator, type EnergyJson } from './energy.ts';
import { msToDayEnd, msToMonthEnd } from './projection.ts';
import { parseTariff, type Tariff } from './tariff.ts';

/**
 * How often the projections in shared memory are refreshed, ms: once a host has a week of days
 * they move with whole days, but a new host's first minutes project from today's samples alone.
 * About 3 µs a host (`npm run bench -- energy`), spread over half the period (refreshRound).
 */
export const PROJECTION_REFRESH_MS = 10_000;
export const ENERGY_STATE_VERSION = 1;
/**
 * A periodic round is spread over REFRESH_STEPS steps over half the period (100 ms apart),
 * each refreshing an equal share of the hosts, at least REFRESH_MIN_STEP. A refresh rewrites a
 * host's slot, and every slot rewritten goes out on the page's event stream at its next tick:
 * done in one burst, a round sent the whole fleet in one delta every 10 s (10,000 hosts: ~17 MB
 * of JSON at once, which held up every sample behind it on the stream by over 100 ms). Spread,
 * each tick carries a few more hosts than samples alone would change.
 */
export const REFRESH_STEPS = 50;
export const REFRESH_MIN_STEP = 100;
/** Hosts whose counters are written out for the state file per turn of the event loop (stateBytes). */
export const STATE_SLICE = 250;
/** An interval is a gap beyond this many of the host's sampling intervals (and beyond --energy-gap-s). */
const GAP_INTERVALS = 3;

/** The slot fields writeTotals writes: EnergyAccumulator.totalsInto's (TOTALS_ORDER), then the day's and month's ends. */
const TOTALS_FIELDS: readonly NumField[] = Object.freeze([
  NUM.ENERGY_TODAY_KWH, NUM.ENERGY_TODAY_COST, NUM.ENERGY_MONTH_KWH, NUM.ENERGY_MONTH_COST,
  NUM.ENERGY_TOTAL_KWH, NUM.ENERGY_TOTAL_COST, NUM.ENERGY_SINCE_MS,
  NUM.ENERGY_TODAY_UNTIL_MS, NUM.ENERGY_MONTH_UNTIL_MS,
]);
const TOTALS_SCRATCH = new Float64Array(TOTALS_FIELDS.length);
/** The first TOTALS_FIELDS that are kWh or cost figures (the rest are times). */
const ROUNDED_TOTALS = 6;

/**
 * A kWh or cost figure as the slot holds it: rounded to 1e-9 (of a kWh, 3.6 mJ; of a currency
 * unit, far below any bill). The counters keep full precision. Rounded, each figure is a short
 * decimal that the dashboard writes without String()'s shortest-digits search
 * (JsonBytes.shortDecimal, dashboard/hosts_json_writer.ts): about 11 per host in every
 * /api/hosts answer and event-stream delta. From 1e6 on a figure is left as it is.
 */
export function rounded(v: number): number {
  return v > -1e6 && v < 1e6 ? Math.round(v * 1e9) / 1e9 : v;
}

export interface EnergyServiceOptions {
  /** null: no tariff, kWh only. */
  tariff: Tariff | null;
  /** IANA zone of the days and months (the tariff's, when there is one). */
  timeZone: string;
  /** Shortest interval that counts as a gap, ms (--energy-gap-s). */
  maxGapMs: number;
  /** Days of daily history (--energy-history-days) and of hourly history (--energy-hourly-days). */
  historyDays: number;
  hourlyDays: number;
  /** Horizon of the projection, days (--projection-days). */
  projectionDays: number;
  store: ShmStore;
  log: Logger;
  /** Period of the refresh rounds, ms (PROJECTION_REFRESH_MS; shorter in tests). */
  refreshMs?: number;
}

interface HostEnergyEntry {
  acc: EnergyAccumulator;
  slot: number;
  /** False once the entry is dropped or replaced: a refresh round under way skips it (its slot may be another host's by then). */
  live: boolean;
}

/** The saved form: one EnergyJson per host name. */
export interface EnergyStateJson {
  v: number;
  hosts: Record<string, EnergyJson>;
}

/** Calendar boundaries of one instant, cached until the day ends (an Intl lookup otherwise). */
interface Bounds {
  dayEndMs: number;
  monthEndMs: number;
}

export class EnergyService {
  readonly tariff: Tariff;
  readonly priced: boolean;
  readonly projectionDays: number;
  private readonly hosts = new Map<string, HostEnergyEntry>();
  private bounds: Bounds = { dayEndMs: Number.NEGATIVE_INFINITY, monthEndMs: Number.NEGATIVE_INFINITY };
  private boundsFromMs = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  private refreshing = false;
  /** The next step of the round under way, if any (stop() cancels it). */
  private stepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: EnergyServiceOptions) {
    // Without a tariff the accumulators still need one: a zero price in "no currency" (ISO 4217
    // XXX); its costs never leave this module.
    this.tariff = opts.tariff ?? parseTariff('0 XXX', 'tariff', opts.timeZone);
    this.priced = opts.tariff !== null;
    this.projectionDays = opts.projectionDays;
  }

  /** Hosts with energy counted. */
  get size(): number {
    return this.hosts.size;
  }

  /** The accumulators by host name (reports). */
  entries(): IterableIterator<[string, EnergyAccumulator]> {
    const it = this.hosts.entries();
    return (function* () {
      for (const [name, e] of it) yield [name, e.acc] as [string, EnergyAccumulator];
    })();
  }

  accumulator(host: string): EnergyAccumulator | undefined {
    return this.hosts.get(host)?.acc;
  }

  private newAccumulator(): EnergyAccumulator {
    const { maxGapMs, historyDays, hourlyDays } = this.opts;
    return new EnergyAccumulator({ tariff: this.tariff, maxGapMs, historyDays, hourlyDays });
  }

  /**
   * One sample placed at `placedMs` for `host` in `slot`. Only samples with power count;
   * the host's figures in shared memory are rewritten when energy was added (or first seen).
   */
  onSample(host: string, slot: number, placedMs: number, watts: number | undefined, intervalMs: number): void {
    if (watts === undefined) return;
    let entry = this.hosts.get(host);
    const first = entry === undefined;
    if (!entry) {
      entry = { acc: this.newAccumulator(), slot, live: true };
      this.hosts.set(host, entry);
    }
    entry.slot = slot;
    entry.acc.maxGapMs = Math.max(this.opts.maxGapMs, GAP_INTERVALS * intervalMs);
    const added = entry.acc.add(placedMs, watts);
    if (added > 0 || first) this.writeTotals(entry, placedMs);
  }

  /** Drops a host's counters (its slot went to another host). */
  forget(host: string): void {
    const entry = this.hosts.get(host);
    if (entry) entry.live = false;
    this.hosts.delete(host);
  }

  private boundsAt(ms: number): Bounds {
    if (ms >= this.boundsFromMs && ms < this.bounds.dayEndMs) return this.bounds;
    const zone = this.tariff.timeZone;
    this.bounds = { dayEndMs: ms + msToDayEnd(zone, ms), monthEndMs: ms + msToMonthEnd(zone, ms) };
    // Valid for any instant of the same local day from its start: cached from `ms` on.
    this.boundsFromMs = ms;
    return this.bounds;
  }

  private cost(v: number): number {
    return this.priced ? v : Number.NaN;
  }

  /** Today, this month and the total of one host, as of `atMs`, into its slot. */
  private writeTotals(entry: HostEnergyEntry, atMs: number): void {
    // Into one reused array, in TOTALS_FIELDS order (totalsInto's, then the bounds): this runs
    // for every sample with power, and allocates nothing.
    const v = TOTALS_SCRATCH;
    entry.acc.totalsInto(atMs, v);
    for (let k = 0; k < ROUNDED_TOTALS; k++) v[k] = rounded(v[k]!);
    if (!this.priced) v[1] = v[3] = v[5] = Number.NaN;
    const b = this.boundsAt(atMs);
    v[7] = b.dayEndMs;
    v[8] = b.monthEndMs;
    this.opts.store.write(entry.slot, { numberFields: TOTALS_FIELDS, numberValues: v });
  }

  /**
   * Rewrites every host's projection (and its totals, so that a host that went quiet shows the
   * new day's zero), all at once (at start, after a restore, in tests).
   */
  refresh(nowMs: number): void {
    this.refreshHosts([...this.hosts.values()], nowMs);
  }

  private refreshHosts(entries: readonly HostEnergyEntry[], nowMs: number): void {
    const days = this.projectionDays;
    const remaining = msToMonthEnd(this.tariff.timeZone, nowMs);
    const n = (v: number | null): number => (v === null ? Number.NaN : rounded(v));
    const c = (v: number | null): number => (v === null ? Number.NaN : this.cost(rounded(v)));
    for (const entry of entries) {
      if (!entry.live) continue;
      this.writeTotals(entry, nowMs);
      const p = entry.acc.projection(nowMs, days, remaining);
      this.opts.store.write(entry.slot, {
        numbers: [
          [NUM.PROJ_MONTH_KWH, n(p.monthKwh)], [NUM.PROJ_MONTH_COST, c(p.monthCost)],
          [NUM.PROJ_NEXT_KWH, n(p.nextKwh)], [NUM.PROJ_NEXT_COST, c(p.nextCost)],
          [NUM.PROJ_DAYS, days], [NUM.PROJ_UNTIL_MS, nowMs + remaining],
        ],
      });
    }
  }

  /**
   * One periodic round: the hosts in REFRESH_STEPS steps over half the period (see
   * REFRESH_STEPS), so that samples keep landing between them (about 3 µs a host: 10,000 hosts
   * at once would hold the loop for 30 ms) and the event stream is not sent the whole fleet at
   * once. A host that arrived after the round began waits for the next.
   */
  private refreshRound(now: () => number): void {
    if (this.refreshing) return;
    const entries = [...this.hosts.values()];
    const perStep = Math.max(REFRESH_MIN_STEP, Math.ceil(entries.length / REFRESH_STEPS));
    const stepMs = (this.opts.refreshMs ?? PROJECTION_REFRESH_MS) / 2 / REFRESH_STEPS;
    this.refreshing = true;
    const step = (from: number): void => {
      this.stepTimer = null;
      if (this.timer === null) {
        this.refreshing = false;
        return;
      }
      try {
        this.refreshHosts(entries.slice(from, from + perStep), now());
      } catch (err) {
        this.opts.log.error('energy refresh failed', { error: (err as Error).message });
      }
      if (from + perStep < entries.length) {
        this.stepTimer = setTimeout(step, stepMs, from + perStep);
        this.stepTimer.unref();
      } else this.refreshing = false;
    };
    step(0);
  }

  /** Refreshes now and then every PROJECTION_REFRESH_MS (or refreshMs). */
  start(now: () => number = Date.now): void {
    this.refresh(now());
    this.timer = setInterval(() => this.refreshRound(now), this.opts.refreshMs ?? PROJECTION_REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // A round under way ends here: a start() after this begins afresh, with its own clock.
    if (this.stepTimer) clearTimeout(this.stepTimer);
    this.stepTimer = null;
    this.refreshing = false;
  }

  /** Every host's counters, for the state file. */
  toJSON(): EnergyStateJson {
    const hosts: Record<string, EnergyJson> = {};
    for (const [name, e] of this.hosts) hosts[name] = e.acc.toJSON();
    return { v: ENERGY_STATE_VERSION, hosts };
  }

  /**
   * toJSON() as UTF-8 JSON text, the same bytes as JSON.stringify of it, made STATE_SLICE hosts
   * per turn of the event loop and returned as one Buffer per slice. Why: a host's counters come
   * to ~2 KB after a week and ~4 KB once the 62 days of history are full, so at 10,000 hosts one
   * JSON.stringify held the event loop (and every agent's samples) for ~0.4-0.6 s at each state
   * save. Each host's counters are taken as they are when its slice is made.
   */
  async stateBytes(): Promise<Buffer[]> {
    const entries = [...this.hosts];
    const out: Buffer[] = [Buffer.from(`{"v":${ENERGY_STATE_VERSION},"hosts":{`, 'utf8')];
    for (let from = 0; from < entries.length; from += STATE_SLICE) {
      if (from > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      let text = from > 0 ? ',' : '';
      const end = Math.min(entries.length, from + STATE_SLICE);
      for (let i = from; i < end; i++) {
        const [name, e] = entries[i]!;
        text += `${i > from ? ',' : ''}${JSON.stringify(name)}:${JSON.stringify(e.acc.toJSON())}`;
      }
      out.push(Buffer.from(text, 'utf8'));
    }
    out.push(Buffer.from('}}', 'utf8'));
    return out;
  }

  /**
   * Takes back the counters of a state file for the hosts the store still holds (`slotOf`),
   * then writes their figures. A host whose entry is damaged starts from zero and is named in the
   * log; the others are kept. Throws StateFileError only when the whole section is unreadable.
   */
  restore(json: unknown, slotOf: (host: string) => number | undefined, nowMs: number): { restored: number; skipped: number } {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new StateFileError('energy state: not an object');
    const j = json as Partial<EnergyStateJson>;
    if (j.v !== ENERGY_STATE_VERSION) throw new StateFileError(`energy state: version ${JSON.stringify(j.v)}, expected ${ENERGY_STATE_VERSION}`);
    if (j.hosts === null || typeof j.hosts !== 'object' || Array.isArray(j.hosts)) throw new StateFileError('energy state: hosts is not a map');
    let restored = 0;
    let skipped = 0;
    let costsReset = 0;
    for (const [name, entry] of Object.entries(j.hosts)) {
      const slot = slotOf(name);
      if (slot === undefined) {
        skipped++;
        continue;
      }
      try {
        const { maxGapMs, historyDays, hourlyDays } = this.opts;
        const acc = EnergyAccumulator.fromJSON(entry, { tariff: this.tariff, maxGapMs, historyDays, hourlyDays });
        if (acc.costsReset) costsReset++;
        const old = this.hosts.get(name);
        if (old) old.live = false;
        this.hosts.set(name, { acc, slot, live: true });
        restored++;
      } catch (err) {
        if (!(err instanceof StateFileError)) throw err;
        skipped++;
        this.opts.log.warn('energy counters of one host unreadable; they start from zero', { host: name, error: err.message });
      }
    }
    if (costsReset > 0) this.opts.log.warn('the tariff currency changed: costs so far restart from zero (kWh are kept)', { hosts: costsReset, currency: this.tariff.currency });
    this.refresh(nowMs);
    return { restored, skipped };
  }
}
