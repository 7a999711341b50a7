/**
 * Cost projections from recorded energy: pure arithmetic, plus the one calendar question it needs
 * (when does this month end, in local time). Every formula is here.
 *
 * Basis ("recent"): the complete local days among the last RECENT_DAYS (7) before today, each
 *   counted by the time it was actually covered (integrated; gaps excluded, see energy.ts), so a
 *   day watched for 6 hours weighs 6 hours, not a day. When those days hold less than one day
 *   (24 h) of coverage in all (a new host, a long outage) today so far joins the basis.
 *     covered   = Σ coveredMs over the basis          (no projection when it is 0)
 *     dailyKwh  = Σ kwh  × 86 400 000 / covered
 *     dailyCost = Σ cost × 86 400 000 / covered
 *   "Daily" is 24 hours of running at the basis's average. A gap is not read as zero power: the
 *   collector cannot tell a switched-off host from a lost link, so the projection is that of the
 *   host running as it did while watched (basisCoveredMs says how much that was).
 * Next N days:  nextKwh = dailyKwh × N;  nextCost = dailyCost × N.
 * This month:   monthCost = monthCostSoFar + dailyCost × remainingMonthMs / 86 400 000, and
 *               monthKwh likewise, where remainingMonthMs = (the instant the next month begins
 *               locally) − now: the rest of today and every later day of the month, in real time,
 *               so a 23- or 25-hour day counts as 23 or 25 hours.
 * Fleet: the sum of the hosts' projections (each on its own basis); a host without a basis
 *   adds its month so far and nothing ahead.
 */
import { zoneOffsetMs } from './tariff.ts';

export const RECENT_DAYS = 7;
export const MAX_PROJECTION_DAYS = 366;
const DAY_MS = 86_400_000;

export interface EnergyFigures {
  kwh: number;
  cost: number;
  /** Time integrated, ms (gaps excluded). */
  coveredMs: number;
}

export interface ProjectionInput {
  /** Complete local days before today, oldest first; only the last RECENT_DAYS count. */
  readonly recentDays: readonly EnergyFigures[];
  /** Today so far. */
  readonly today: EnergyFigures;
  /** This month so far, today included. */
  readonly month: EnergyFigures;
  /** From now to the local start of next month, ms (msToMonthEnd). */
  readonly remainingMonthMs: number;
  /** N, the horizon of nextKwh / nextCost, in days. */
  readonly days: number;
}

export type ProjectionBasis = 'recent' | 'recent+today' | 'none' | 'fleet';

export interface Projection {
  basis: ProjectionBasis;
  basisCoveredMs: number;
  /** null: no basis. */
  dailyKwh: number | null;
  dailyCost: number | null;
  days: number;
  nextKwh: number | null;
  nextCost: number | null;
  monthKwhSoFar: number;
  monthCostSoFar: number;
  remainingMonthMs: number;
  /** The whole month, projected. */
  monthKwh: number | null;
  monthCost: number | null;
}

function check(name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be finite and ≥ 0, got ${v}`);
}

function checkFigures(name: string, f: EnergyFigures): void {
  check(`${name}.kwh`, f.kwh);
  check(`${name}.cost`, f.cost);
  check(`${name}.coveredMs`, f.coveredMs);
}

function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > MAX_PROJECTION_DAYS) throw new RangeError(`days must be a whole number from 1 to ${MAX_PROJECTION_DAYS}, got ${days}`);
}

/** The projection of one host (formulas above). */
export function projectCost(input: ProjectionInput): Projection {
  checkDays(input.days);
  check('remainingMonthMs', input.remainingMonthMs);
  checkFigures('today', input.today);
  checkFigures('month', input.month);
  const basisDays = input.recentDays.slice(-RECENT_DAYS);
  basisDays.forEach((d, i) => checkFigures(`recentDays[${i}]`, d));
  let basis: ProjectionBasis = 'recent';
  const sum = (key: keyof EnergyFigures): number => basisDays.reduce((s, d) => s + d[key], 0);
  let covered = sum('coveredMs');
  let kwh = sum('kwh');
  let cost = sum('cost');
  if (covered < DAY_MS) {
    basis = 'recent+today';
    covered += input.today.coveredMs;
    kwh += input.today.kwh;
    cost += input.today.cost;
  }
  const out: Projection = {
    basis: 'none', basisCoveredMs: covered, dailyKwh: null, dailyCost: null, days: input.days, nextKwh: null, nextCost: null,
    monthKwhSoFar: input.month.kwh, monthCostSoFar: input.month.cost, remainingMonthMs: input.remainingMonthMs, monthKwh: null, monthCost: null,
  };
  if (covered === 0) return out;
  out.basis = basis;
  out.dailyKwh = (kwh * DAY_MS) / covered;
  out.dailyCost = (cost * DAY_MS) / covered;
  out.nextKwh = out.dailyKwh * input.days;
  out.nextCost = out.dailyCost * input.days;
  out.monthKwh = input.month.kwh + (out.dailyKwh * input.remainingMonthMs) / DAY_MS;
  out.monthCost = input.month.cost + (out.dailyCost * input.remainingMonthMs) / DAY_MS;
  return out;
}

/**
 * The fleet's projection: each figure summed over the hosts; a host without a basis adds 0 to
 * the rates and its month so far to the month. All must share `days` and `remainingMonthMs`.
 */
export function sumProjections(list: readonly Projection[], days: number, remainingMonthMs: number): Projection {
  checkDays(days);
  check('remainingMonthMs', remainingMonthMs);
  const out: Projection = {
    basis: 'none', basisCoveredMs: 0, dailyKwh: null, dailyCost: null, days, nextKwh: null, nextCost: null,
    monthKwhSoFar: 0, monthCostSoFar: 0, remainingMonthMs, monthKwh: null, monthCost: null,
  };
  const add = (a: number | null, b: number): number => (a ?? 0) + b;
  for (const p of list) {
    if (p.days !== days || p.remainingMonthMs !== remainingMonthMs) throw new RangeError('projections for another horizon or another instant');
    out.basisCoveredMs += p.basisCoveredMs;
    out.monthKwhSoFar += p.monthKwhSoFar;
    out.monthCostSoFar += p.monthCostSoFar;
    if (p.basis === 'none') continue;
    out.basis = 'fleet';
    out.dailyKwh = add(out.dailyKwh, p.dailyKwh!);
    out.dailyCost = add(out.dailyCost, p.dailyCost!);
    out.nextKwh = add(out.nextKwh, p.nextKwh!);
    out.nextCost = add(out.nextCost, p.nextCost!);
  }
  if (out.basis === 'fleet') {
    out.monthKwh = out.monthKwhSoFar + (out.dailyKwh! * remainingMonthMs) / DAY_MS;
    out.monthCost = out.monthCostSoFar + (out.dailyCost! * remainingMonthMs) / DAY_MS;
  }
  return out;
}

/**
 * The first instant whose local wall time (counted like UTC) is `wallMs` or, when a spring-forward
 * jump skips that time, the instant of the jump. A repeated (fall-back) time gives its first
 * occurrence. Assumes at most one offset change within a day either side.
 */
export function instantOfWallClock(timeZone: string, wallMs: number): number {
  const offsets = [...new Set([zoneOffsetMs(timeZone, wallMs - DAY_MS), zoneOffsetMs(timeZone, wallMs + DAY_MS)])];
  const candidates = offsets.map((o) => wallMs - o).sort((a, b) => a - b);
  for (const c of candidates) if (c + zoneOffsetMs(timeZone, c) === wallMs) return c;
  // Skipped: before the jump the wall clock reads earlier, after it later; find the jump (whole seconds).
  let lo = candidates[0]!;
  let hi = candidates[candidates.length - 1]!;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (mid + zoneOffsetMs(timeZone, mid) >= wallMs) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** ms from `nowMs` to the instant the next local month begins (the rest of today included). */
export function msToMonthEnd(timeZone: string, nowMs: number): number {
  const wall = new Date(nowMs + zoneOffsetMs(timeZone, nowMs));
  return instantOfWallClock(timeZone, Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth() + 1, 1)) - nowMs;
}

/** ms from `nowMs` to the instant the next local day begins. */
export function msToDayEnd(timeZone: string, nowMs: number): number {
  const wall = new Date(nowMs + zoneOffsetMs(timeZone, nowMs));
  return instantOfWallClock(timeZone, Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate() + 1)) - nowMs;
}
