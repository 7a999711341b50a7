/**
 * The answer of `GET /api/energy` (and so of `npm run energy`): totals, per-day, per-hour and
 * per-month tables and the projection, for one host or summed over the fleet. Pure: built from
 * the accumulators at `nowMs`; the dashboard worker asks the main thread for it (the hourly and
 * daily tables live there, not in shared memory).
 *
 * Costs are null when the collector has no tariff. `covered_s` is the time that was measured
 * (for the fleet: summed over hosts, host-seconds), so a day with gaps says so.
 */
import { sumProjections, msToMonthEnd, type EnergyFigures, type Projection } from './projection.ts';
import { sumTotals, type EnergyAccumulator, type HistoryRow } from './energy.ts';
import { zoneOffsetMs } from './tariff.ts';
import type { EnergyService } from './energy_service.ts';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Hours in the per-hour table: the last day, up to the current hour. */
export const HOURLY_ROWS = 24;

export interface EnergyQuery {
  /** One host, or null for the fleet. */
  host: string | null;
  /** Days in the per-day table and horizon of the projection. */
  days: number;
}

export interface FiguresJson {
  kwh: number;
  cost: number | null;
  /** Time measured, seconds (host-seconds for the fleet). */
  covered_s: number;
}

export interface RowJson extends FiguresJson {
  /** Local `2026-11-21` (days), `2026-11-21T13` (hours), `2026-11` (months), in `time_zone`. */
  label: string;
}

export interface ProjectionJson {
  /** recent: the last 7 complete days; recent+today: fewer than a day of them, today added; fleet: summed over hosts; none: no data. */
  basis: Projection['basis'];
  days: number;
  daily_kwh: number | null;
  daily_cost: number | null;
  /** The next `days` days. */
  next_kwh: number | null;
  next_cost: number | null;
  /** This whole month: so far + the daily average for the rest of it. */
  month_kwh: number | null;
  month_cost: number | null;
  month_kwh_so_far: number;
  month_cost_so_far: number | null;
  remaining_month_s: number;
}

export interface HostEnergyJson {
  host: string;
  today: FiguresJson;
  month: FiguresJson;
  total: FiguresJson;
  since_ms: number | null;
  projection: ProjectionJson;
}

export interface EnergyReport {
  now_ms: number;
  /** ISO 4217 code of every cost, null without a tariff. */
  currency: string | null;
  /** The tariff as configured, null without one. */
  tariff: string | null;
  time_zone: string;
  scope: 'fleet' | 'host';
  host: string | null;
  /** Hosts counted. */
  hosts: number;
  days: number;
  totals: { today: FiguresJson; month: FiguresJson; total: FiguresJson; since_ms: number | null };
  projection: ProjectionJson;
  /** The last `days` local days, oldest first; days without any measurement are left out. */
  daily: RowJson[];
  /** The last HOURLY_ROWS local hours, oldest first; hours without any measurement are left out. */
  hourly: RowJson[];
  monthly: RowJson[];
  /** Each host (the fleet), or the one host; by name. */
  per_host: HostEnergyJson[];
}

export type EnergyAnswer = { status: 200; body: EnergyReport } | { status: 404; body: { error: string } };

export function energyReport(service: EnergyService, q: EnergyQuery, nowMs: number): EnergyAnswer {
  const priced = service.priced;
  const zone = service.tariff.timeZone;
  const cost = (v: number): number | null => (priced ? v : null);
  const figures = (f: EnergyFigures): FiguresJson => ({ kwh: f.kwh, cost: cost(f.cost), covered_s: f.coveredMs / 1000 });
  const projection = (p: Projection): ProjectionJson => ({
    basis: p.basis, days: p.days, daily_kwh: p.dailyKwh, daily_cost: p.dailyCost === null ? null : cost(p.dailyCost),
    next_kwh: p.nextKwh, next_cost: p.nextCost === null ? null : cost(p.nextCost), month_kwh: p.monthKwh,
    month_cost: p.monthCost === null ? null : cost(p.monthCost), month_kwh_so_far: p.monthKwhSoFar, month_cost_so_far: cost(p.monthCostSoFar),
    remaining_month_s: p.remainingMonthMs / 1000,
  });

  let chosen: Array<[string, EnergyAccumulator]>;
  if (q.host !== null) {
    const acc = service.accumulator(q.host);
    if (!acc) return { status: 404, body: { error: 'no energy counted for this host (unknown, or it never reported power)' } };
    chosen = [[q.host, acc]];
  } else {
    chosen = [...service.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
  const remaining = msToMonthEnd(zone, nowMs);
  const perHost: HostEnergyJson[] = [];
  const totalsList = [];
  const projections: Projection[] = [];
  for (const [name, acc] of chosen) {
    const t = acc.totals(nowMs);
    const p = acc.projection(nowMs, q.days, remaining);
    totalsList.push(t);
    projections.push(p);
    perHost.push({ host: name, today: figures(t.today), month: figures(t.month), total: figures(t.total), since_ms: t.sinceMs, projection: projection(p) });
  }
  const totals = sumTotals(totalsList, service.tariff.currency);
  const fleetProjection = q.host !== null ? projections[0]! : sumProjections(projections, q.days, remaining);

  // Cut-offs as local labels: labels sort as text in time order.
  const wallNow = nowMs + zoneOffsetMs(zone, nowMs);
  const firstDay = new Date(Math.floor(wallNow / DAY_MS) * DAY_MS - (q.days - 1) * DAY_MS).toISOString().slice(0, 10);
  const firstHour = new Date(Math.floor(wallNow / HOUR_MS) * HOUR_MS - (HOURLY_ROWS - 1) * HOUR_MS).toISOString().slice(0, 13);
  const table = (rowsOf: (acc: EnergyAccumulator) => HistoryRow[], from: string | null): RowJson[] => {
    const byLabel = new Map<string, EnergyFigures>();
    for (const [, acc] of chosen) {
      for (const r of rowsOf(acc)) {
        if (from !== null && r.label < from) continue;
        const f = byLabel.get(r.label) ?? { kwh: 0, cost: 0, coveredMs: 0 };
        f.kwh += r.kwh;
        f.cost += r.cost;
        f.coveredMs += r.coveredMs;
        byLabel.set(r.label, f);
      }
    }
    return [...byLabel.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([label, f]) => ({ label, ...figures(f) }));
  };

  return {
    status: 200,
    body: {
      now_ms: nowMs,
      currency: priced ? service.tariff.currency : null,
      tariff: priced ? service.tariff.spec : null,
      time_zone: zone,
      scope: q.host === null ? 'fleet' : 'host',
      host: q.host,
      hosts: chosen.length,
      days: q.days,
      totals: { today: figures(totals.today), month: figures(totals.month), total: figures(totals.total), since_ms: totals.sinceMs },
      projection: projection(fleetProjection),
      daily: table((a) => a.daily(), firstDay),
      hourly: table((a) => a.hourly(), firstHour),
      monthly: table((a) => a.monthly(), null),
      per_host: perHost,
    },
  };
}
