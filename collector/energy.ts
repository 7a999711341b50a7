/**
 * Energy per host: power samples integrated into kWh and cost, by local hour, day and month, and
 * since start; bounded history; a JSON form for the saved state. Pure: the caller passes each
 * sample's time; no clock, no I/O. Calendar units are local to the tariff's zone.
 *
 * Integration, the trapezoid rule: between consecutive samples (t0, w0) and (t1, w1) the host is
 * taken to draw (w0 + w1) / 2 W evenly, E = (w0 + w1) / 2 × (t1 − t0), priced by
 * tariff.forEachSegment (each part at its period's rate). Why: for an instantaneous reading
 * (GPU, hwmon) it is exact for power that changes linearly between samples and lags by nothing;
 * for a reading that is the average since the previous sample (RAPL counter deltas), the exact
 * w1 × (t1 − t0) differs from it only by half an interval moved between neighbours, which sums
 * over a run to (w_first − w_last) / 2 × interval: at most half a sample of energy. The
 * previous-value rule would lag a whole interval there.
 *
 * Gaps are not invented: an interval longer than maxGapMs (suggested: the larger of 60 s and
 * 3 × the host's interval) is not integrated, nor one ending in a bad reading; a sample older than
 * the last is ignored. Each piece of an interval goes to the local hour, day and month its wall
 * time falls in, so an interval crossing midnight or a month's end is split between them; the
 * fall-back hour's two real hours share one hourly bucket, the skipped spring hour has none.
 *
 * Memory per host: rings of hourlyDays × 24 hours, historyDays days and MONTHS_KEPT months,
 * 32 bytes a bucket (4.3 KB at the collector's defaults, 2 days of hours and 62 of days).
 */
import { StateFileError } from '../shared/errors.ts';
import { msToMonthEnd, projectCost, sumProjections, RECENT_DAYS, type EnergyFigures, type Projection } from './projection.ts';
import { forEachSegment, WATT_MS_PER_KWH, zoneOffsetMs, type Tariff } from './tariff.ts';

export const DEFAULT_MAX_GAP_MS = 60_000;
export const DEFAULT_HISTORY_DAYS = 62;
/** Days of hourly buckets kept by default: today and yesterday (the per-hour tables), 1.5 KB a host. */
export const DEFAULT_HOURLY_DAYS = 2;
export const MAX_HISTORY_DAYS = 366;
export const MONTHS_KEPT = 24;
export const ENERGY_JSON_VERSION = 1;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface EnergyOptions {
  tariff: Tariff;
  /** An interval longer than this, ms, is a gap. */
  maxGapMs?: number;
  /** Days of daily history kept, 1 to MAX_HISTORY_DAYS. */
  historyDays?: number;
  /** Days of hourly history kept, 1 to historyDays (default: historyDays). */
  hourlyDays?: number;
}

export interface EnergyTotals {
  currency: string;
  today: EnergyFigures;
  month: EnergyFigures;
  total: EnergyFigures;
  /** The first sample ever seen (Unix ms), null before any. */
  sinceMs: number | null;
}

/** What EnergyAccumulator.totalsInto writes, in its order. */
export const TOTALS_ORDER = Object.freeze(['today_kwh', 'today_cost', 'month_kwh', 'month_cost', 'total_kwh', 'total_cost', 'since_ms'] as const);

export interface HistoryRow extends EnergyFigures {
  /** Local `2026-10-25` (days), `2026-10-25T02` (hours), `2026-10` (months). */
  label: string;
}

/**
 * Keyed buckets in a ring: slot = key mod size; a key older than newest − size is gone. A
 * bucket's key, kWh, cost and covered ms sit side by side in one array (CELL numbers a bucket),
 * so adding to a bucket touches one cache line, not one in each of four arrays: a collector adds
 * to three rings of each of thousands of hosts every second.
 */
const CELL = 4;
class Ring {
  private readonly cells: Float64Array;
  newest = -Infinity;

  constructor(readonly size: number) {
    this.cells = new Float64Array(size * CELL);
    for (let i = 0; i < size; i++) this.cells[i * CELL] = Number.NaN;
  }

  private at(key: number): number {
    return (((key % this.size) + this.size) % this.size) * CELL;
  }

  add(key: number, kwh: number, cost: number, coveredMs: number): void {
    const c = this.cells;
    const at = this.at(key);
    if (c[at] !== key) {
      c[at] = key;
      c[at + 1] = 0;
      c[at + 2] = 0;
      c[at + 3] = 0;
    }
    c[at + 1] += kwh;
    c[at + 2] += cost;
    c[at + 3] += coveredMs;
    if (key > this.newest) this.newest = key;
  }

  /** Whether bucket `key` is held (else its figures are 0). */
  has(key: number): boolean {
    return this.cells[this.at(key)] === key && key > this.newest - this.size;
  }

  /** Figure `k` of bucket `key` (1 kWh, 2 cost, 3 covered ms), 0 when not held. */
  figure(key: number, k: 1 | 2 | 3): number {
    return this.has(key) ? this.cells[this.at(key) + k]! : 0;
  }

  get(key: number): EnergyFigures {
    if (!this.has(key)) return { kwh: 0, cost: 0, coveredMs: 0 };
    const c = this.cells;
    const at = this.at(key);
    return { kwh: c[at + 1]!, cost: c[at + 2]!, coveredMs: c[at + 3]! };
  }

  /** [key, kwh, cost, coveredMs] of every live bucket, oldest first. */
  rows(): Array<[number, number, number, number]> {
    const out: Array<[number, number, number, number]> = [];
    if (this.newest === -Infinity) return out;
    const c = this.cells;
    for (let key = this.newest - this.size + 1; key <= this.newest; key++) {
      const at = this.at(key);
      if (c[at] === key) out.push([key, c[at + 1]!, c[at + 2]!, c[at + 3]!]);
    }
    return out;
  }
}

const isoDay = (day: number): string => new Date(day * DAY_MS).toISOString().slice(0, 10);
const monthOfDay = (day: number): number => {
  const d = new Date(day * DAY_MS);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
};

export class EnergyAccumulator {
  readonly tariff: Tariff;
  readonly historyDays: number;
  maxGapMs: number;
  /** Intervals not integrated because they were gaps (since construction; not saved). */
  gaps = 0;
  /** fromJSON found another currency: costs restarted from 0, kWh kept. */
  costsReset = false;
  private readonly hours: Ring;
  private readonly days: Ring;
  private readonly months = new Ring(MONTHS_KEPT);
  private readonly total: EnergyFigures = { kwh: 0, cost: 0, coveredMs: 0 };
  private firstMs: number | null = null;
  private lastMs: number | null = null;
  private lastW = 0;
  // The hour being added to, not yet in the rings: add() sums each sample's share here and moves
  // the sum into the three rings (settle) when the next hour begins or before any read of them.
  // Why: a collector adds a sample for every host every second, in no order of hosts, and three
  // ring buckets per sample, each behind two objects, were cache misses every time; the pending
  // hour lives in this object's own fields. NaN: nothing pending.
  private pHour = Number.NaN;
  private pDay = 0;
  private pMonth = 0;
  private pKwh = 0;
  private pCost = 0;
  private pMs = 0;
  // The day's and month's buckets as the last settle left them, so that totalsInto (every sample)
  // reads them from here too. NaN: not known, read the ring.
  private sDay = Number.NaN;
  private sDayKwh = 0;
  private sDayCost = 0;
  private sMonth = Number.NaN;
  private sMonthKwh = 0;
  private sMonthCost = 0;
  // monthOfDay (a Date) of the last day totalsInto was asked about.
  private tDay = Number.NaN;
  private tMonth = 0;

  constructor(opts: EnergyOptions) {
    const { tariff, maxGapMs = DEFAULT_MAX_GAP_MS, historyDays = DEFAULT_HISTORY_DAYS } = opts;
    const hourlyDays = opts.hourlyDays ?? historyDays;
    if (!(maxGapMs > 0) || !Number.isFinite(maxGapMs)) throw new RangeError(`maxGapMs must be > 0, got ${maxGapMs}`);
    if (!Number.isInteger(historyDays) || historyDays < 1 || historyDays > MAX_HISTORY_DAYS) throw new RangeError(`historyDays must be 1 to ${MAX_HISTORY_DAYS}, got ${historyDays}`);
    if (!Number.isInteger(hourlyDays) || hourlyDays < 1 || hourlyDays > historyDays) throw new RangeError(`hourlyDays must be 1 to ${historyDays}, got ${hourlyDays}`);
    this.tariff = tariff;
    this.maxGapMs = maxGapMs;
    this.historyDays = historyDays;
    this.hours = new Ring(hourlyDays * 24);
    this.days = new Ring(historyDays);
  }

  /** One power sample at `tMs` (Unix ms). Returns the kWh integrated up to it (0 for a gap). */
  add(tMs: number, watts: number): number {
    if (!Number.isFinite(tMs)) throw new RangeError(`tMs must be finite, got ${tMs}`);
    if (!Number.isFinite(watts) || watts < 0) {
      this.lastMs = null; // a bad reading breaks the run: nothing is guessed on either side of it
      return 0;
    }
    const prevMs = this.lastMs;
    if (prevMs !== null && tMs <= prevMs) return 0;
    const avgW = (this.lastW + watts) / 2;
    this.lastMs = tMs;
    this.lastW = watts;
    this.firstMs ??= tMs;
    if (prevMs === null) return 0;
    if (tMs - prevMs > this.maxGapMs) {
      this.gaps++;
      return 0;
    }
    let added = 0;
    forEachSegment(this.tariff, prevMs, tMs, true, (start, end, period, wallMs) => {
      const ms = end - start;
      const kwh = (avgW * ms) / WATT_MS_PER_KWH;
      const cost = kwh * this.tariff.periods[period]!.pricePerKwh;
      const hour = Math.floor(wallMs / HOUR_MS);
      if (hour !== this.pHour) {
        this.settle();
        this.pHour = hour;
        this.pDay = Math.floor(wallMs / DAY_MS);
        this.pMonth = monthOfDay(this.pDay);
      }
      this.pKwh += kwh;
      this.pCost += cost;
      this.pMs += ms;
      this.total.kwh += kwh;
      this.total.cost += cost;
      this.total.coveredMs += ms;
      added += kwh;
    });
    return added;
  }

  /** The next sample starts a new run (the host disconnected). */
  breakRun(): void {
    this.lastMs = null;
  }

  /** Moves the pending hour's sums into the hour, day and month rings. */
  private settle(): void {
    const hour = this.pHour;
    if (Number.isNaN(hour)) return;
    const day = this.pDay;
    const month = this.pMonth;
    this.hours.add(hour, this.pKwh, this.pCost, this.pMs);
    this.days.add(day, this.pKwh, this.pCost, this.pMs);
    this.months.add(month, this.pKwh, this.pCost, this.pMs);
    this.pHour = Number.NaN;
    this.pKwh = this.pCost = this.pMs = 0;
    this.sDay = day;
    this.sDayKwh = this.days.figure(day, 1);
    this.sDayCost = this.days.figure(day, 2);
    this.sMonth = month;
    this.sMonthKwh = this.months.figure(month, 1);
    this.sMonthCost = this.months.figure(month, 2);
  }

  private today(nowMs: number): number {
    return Math.floor((nowMs + zoneOffsetMs(this.tariff.timeZone, nowMs)) / DAY_MS);
  }

  /**
   * totals(nowMs) as numbers into `out` from `at`, in TOTALS_ORDER: today's kWh and cost, this
   * month's, since start's, then sinceMs (NaN before any sample). Nothing allocated: a collector
   * calls it for every sample of every host.
   */
  totalsInto(nowMs: number, out: Float64Array, at = 0): void {
    const day = this.today(nowMs);
    if (day !== this.tDay) {
      this.tDay = day;
      this.tMonth = monthOfDay(day);
    }
    this.bucketInto(out, at, this.days, day, this.sDay, this.sDayKwh, this.sDayCost, this.pDay);
    this.bucketInto(out, at + 2, this.months, this.tMonth, this.sMonth, this.sMonthKwh, this.sMonthCost, this.pMonth);
    out[at + 4] = this.total.kwh;
    out[at + 5] = this.total.cost;
    out[at + 6] = this.firstMs ?? Number.NaN;
  }

  /**
   * kWh and cost of bucket `key` of `ring` into out[at], out[at + 1]: as the last settle left it
   * (`settledKey`'s figures, kept here; read from the ring when that was another bucket), plus
   * the pending hour's where it falls in the same bucket (`pendingKey`).
   */
  private bucketInto(out: Float64Array, at: number, ring: Ring, key: number, settledKey: number, settledKwh: number, settledCost: number, pendingKey: number): void {
    let kwh = key === settledKey ? settledKwh : ring.figure(key, 1);
    let cost = key === settledKey ? settledCost : ring.figure(key, 2);
    if (!Number.isNaN(this.pHour) && pendingKey === key) {
      kwh += this.pKwh;
      cost += this.pCost;
    }
    out[at] = kwh;
    out[at + 1] = cost;
  }

  /** Today, this month (local to the tariff's zone at `nowMs`) and since start. */
  totals(nowMs: number): EnergyTotals {
    this.settle();
    const day = this.today(nowMs);
    return { currency: this.tariff.currency, today: this.days.get(day), month: this.months.get(monthOfDay(day)), total: { ...this.total }, sinceMs: this.firstMs };
  }

  /**
   * Cost and energy ahead (projection.ts), from the last RECENT_DAYS complete days.
   * `remainingMonthMs` (msToMonthEnd) may be passed by a caller projecting many hosts at one instant.
   */
  projection(nowMs: number, days: number, remainingMonthMs = msToMonthEnd(this.tariff.timeZone, nowMs)): Projection {
    this.settle();
    const day = this.today(nowMs);
    const recentDays: EnergyFigures[] = [];
    for (let d = day - RECENT_DAYS; d < day; d++) recentDays.push(this.days.get(d));
    const month = this.months.get(monthOfDay(day));
    return projectCost({ recentDays, today: this.days.get(day), month, remainingMonthMs, days });
  }

  hourly(): HistoryRow[] {
    this.settle();
    return this.hours.rows().map(([k, kwh, cost, coveredMs]) => ({ label: new Date(k * HOUR_MS).toISOString().slice(0, 13), kwh, cost, coveredMs }));
  }

  daily(): HistoryRow[] {
    this.settle();
    return this.days.rows().map(([k, kwh, cost, coveredMs]) => ({ label: isoDay(k), kwh, cost, coveredMs }));
  }

  monthly(): HistoryRow[] {
    this.settle();
    return this.months.rows().map(([k, kwh, cost, coveredMs]) => ({ label: `${Math.floor(k / 12)}-${String((k % 12) + 1).padStart(2, '0')}`, kwh, cost, coveredMs }));
  }

  /** Plain numbers for the saved state; fromJSON reads it back. */
  toJSON(): EnergyJson {
    this.settle();
    return {
      v: ENERGY_JSON_VERSION, currency: this.tariff.currency, firstMs: this.firstMs, lastMs: this.lastMs, lastW: this.lastMs === null ? null : this.lastW,
      total: [this.total.kwh, this.total.cost, this.total.coveredMs], months: this.months.rows(), days: this.days.rows(), hours: this.hours.rows(),
    };
  }

  /**
   * An accumulator from toJSON's output (as JSON text or parsed), validated; throws StateFileError. Buckets
   * beyond this accumulator's history are dropped. Under another currency the costs restart
   * from 0 (they cannot be converted) and the kWh are kept; `costsReset` says so.
   */
  static fromJSON(json: unknown, opts: EnergyOptions): EnergyAccumulator {
    const acc = new EnergyAccumulator(opts);
    const j = validate(json);
    const keepCost = j.currency === acc.tariff.currency ? 1 : 0;
    acc.costsReset = keepCost === 0;
    acc.firstMs = j.firstMs;
    acc.lastMs = j.lastMs;
    acc.lastW = j.lastW ?? 0;
    Object.assign(acc.total, { kwh: j.total[0], cost: j.total[1] * keepCost, coveredMs: j.total[2] });
    for (const [ring, rows] of [[acc.months, j.months], [acc.days, j.days], [acc.hours, j.hours]] as const) {
      for (const [k, kwh, cost, covered] of rows) ring.add(k, kwh, cost * keepCost, covered);
    }
    return acc;
  }
}

type Row = [number, number, number, number];
export interface EnergyJson {
  v: number;
  currency: string;
  firstMs: number | null;
  lastMs: number | null;
  lastW: number | null;
  /** [kwh, cost, coveredMs]. */
  total: [number, number, number];
  /** Rows [key, kwh, cost, coveredMs], keys rising: months since year 0, local days and local hours since 1970. */
  months: Row[];
  days: Row[];
  hours: Row[];
}

/** The latest time a Date holds, ms (ECMAScript: 8.64e15). */
const MAX_DATE_MS = 8.64e15;

function validate(json: unknown): EnergyJson {
  const fail = (why: string): never => {
    throw new StateFileError(`energy state: ${why}`);
  };
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json) as unknown;
    } catch (err) {
      throw new StateFileError(`energy state: not JSON (${(err as Error).message})`, { cause: err });
    }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return fail('not an object');
  const j = json as Record<string, unknown>;
  if (j['v'] !== ENERGY_JSON_VERSION) fail(`version ${JSON.stringify(j['v'])}, expected ${ENERGY_JSON_VERSION}`);
  if (typeof j['currency'] !== 'string' || !/^[A-Z]{3}$/.test(j['currency'])) fail('bad currency');
  const amount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  // A time within Date's range after 1970: a state saved before samples' times were bounded
  // (sample_placement.ts MAX_SAMPLE_AGE_MS) may hold -9e15, which every date format throws on.
  const stamp = (v: unknown): v is number | null => v === null || (typeof v === 'number' && v > 0 && v <= MAX_DATE_MS);
  if (!stamp(j['firstMs']) || !stamp(j['lastMs'])) fail('bad firstMs or lastMs');
  if ((j['lastMs'] === null) !== (j['lastW'] === null) || (j['lastW'] !== null && !amount(j['lastW']))) fail('bad lastW');
  const total = j['total'];
  if (!Array.isArray(total) || total.length !== 3 || !total.every(amount)) fail('bad total');
  const rows = (name: string, max: number): void => {
    const list = j[name];
    if (!Array.isArray(list) || list.length > max) return fail(`${name} is not a list of at most ${max}`);
    let prev = -Infinity;
    for (const r of list) {
      if (!Array.isArray(r) || r.length !== 4 || !Number.isSafeInteger(r[0]) || !r.slice(1).every(amount)) fail(`bad row in ${name}`);
      if (r[0] <= prev) fail(`${name} keys out of order`);
      prev = r[0];
    }
  };
  rows('months', MONTHS_KEPT);
  rows('days', MAX_HISTORY_DAYS);
  rows('hours', MAX_HISTORY_DAYS * 24);
  return j as unknown as EnergyJson;
}

/** The fleet: each figure summed over the hosts (all under one tariff). */
export function sumTotals(list: readonly EnergyTotals[], currency: string): EnergyTotals {
  const zero = (): EnergyFigures => ({ kwh: 0, cost: 0, coveredMs: 0 });
  const out: EnergyTotals = { currency, today: zero(), month: zero(), total: zero(), sinceMs: null };
  for (const t of list) {
    if (t.currency !== currency) throw new RangeError(`totals in ${t.currency}, expected ${currency}`);
    for (const k of ['today', 'month', 'total'] as const) {
      out[k].kwh += t[k].kwh;
      out[k].cost += t[k].cost;
      out[k].coveredMs += t[k].coveredMs;
    }
    if (t.sinceMs !== null && (out.sinceMs === null || t.sinceMs < out.sinceMs)) out.sinceMs = t.sinceMs;
  }
  return out;
}

export function fleetTotals(hosts: Iterable<EnergyAccumulator>, tariff: Tariff, nowMs: number): EnergyTotals {
  return sumTotals([...hosts].map((h) => h.totals(nowMs)), tariff.currency);
}

export function fleetProjection(hosts: Iterable<EnergyAccumulator>, tariff: Tariff, nowMs: number, days: number): Projection {
  const remaining = msToMonthEnd(tariff.timeZone, nowMs);
  return sumProjections([...hosts].map((h) => h.projection(nowMs, days, remaining)), days, remaining);
}
