/**
 * Energy and cost figures written into a fixture store's slots, in the fields the collector's
 * energy service writes (shared/shm_layout.ts NUM.ENERGY_* and NUM.PROJ_*), so the dashboard
 * reads them as it would from a running collector. Use after the host exists (store_fixture.ts):
 * a hello initialises the slot, which would clear them.
 */
import { findHost } from '../../dashboard/api.ts';
import { NUM, type NumField } from '../../shared/shm_layout.ts';
import type { ShmStore } from '../../shared/shm_store.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** kWh and its cost (in the tariff's currency; ignored when written unpriced). */
export type KwhCost = readonly [kwh: number, cost: number];

export interface EnergyFigures {
  today: KwhCost;
  month: KwhCost;
  total: KwhCost;
  /** When the collector first counted this host, days before `nowMs`. */
  sinceDays: number;
  /** The projection; absent: no basis yet. */
  projection?: { month: KwhCost; next: KwhCost; days: number };
}

/**
 * Writes `e` into host `name`'s slot as of `nowMs`: today's figures hold for 6 hours more, the
 * month's and the projection's for 10 days (past those instants the dashboard reads 0, as at a
 * local midnight). `priced: false` writes every cost as NaN, as a collector without a tariff does.
 */
export function writeEnergy(store: ShmStore, name: string, e: EnergyFigures, opts: { nowMs?: number; priced?: boolean } = {}): void {
  const nowMs = opts.nowMs ?? Date.now();
  const priced = opts.priced ?? true;
  const slot = findHost(store, name);
  if (slot < 0) throw new Error(`writeEnergy: no host ${JSON.stringify(name)} in the store`);
  const cost = (v: number): number => (priced ? v : Number.NaN);
  const p = e.projection;
  const numbers: Array<readonly [NumField, number]> = [
    [NUM.ENERGY_TODAY_KWH, e.today[0]], [NUM.ENERGY_TODAY_COST, cost(e.today[1])], [NUM.ENERGY_TODAY_UNTIL_MS, nowMs + 6 * HOUR_MS],
    [NUM.ENERGY_MONTH_KWH, e.month[0]], [NUM.ENERGY_MONTH_COST, cost(e.month[1])], [NUM.ENERGY_MONTH_UNTIL_MS, nowMs + 10 * DAY_MS],
    [NUM.ENERGY_TOTAL_KWH, e.total[0]], [NUM.ENERGY_TOTAL_COST, cost(e.total[1])], [NUM.ENERGY_SINCE_MS, nowMs - e.sinceDays * DAY_MS],
    [NUM.PROJ_MONTH_KWH, p ? p.month[0] : Number.NaN], [NUM.PROJ_MONTH_COST, p ? cost(p.month[1]) : Number.NaN],
    [NUM.PROJ_NEXT_KWH, p ? p.next[0] : Number.NaN], [NUM.PROJ_NEXT_COST, p ? cost(p.next[1]) : Number.NaN],
    [NUM.PROJ_DAYS, p ? p.days : Number.NaN], [NUM.PROJ_UNTIL_MS, p ? nowMs + 10 * DAY_MS : Number.NaN],
  ];
  store.write(slot, { numbers });
}
