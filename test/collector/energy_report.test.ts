import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnergyService } from '../../collector/energy_service.ts';
import { energyReport, HOURLY_ROWS, type EnergyReport } from '../../collector/energy_report.ts';
import { parseTariff } from '../../collector/tariff.ts';
import { createLogger } from '../../shared/log.ts';
import { ShmStore } from '../../shared/shm_store.ts';

const ZONE = 'UTC';
/** Peak 0.30 from 06:00 to 22:00, off-peak 0.10 otherwise, every day. */
const TARIFF = parseTariff('EUR; peak 0.30 daily 06:00-22:00; offpeak 0.10 daily 22:00-06:00', 'tariff', ZONE);
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** 2026-11-10 00:00 UTC. */
const D0 = Date.UTC(2026, 10, 10);

function service(): EnergyService {
  return new EnergyService({
    tariff: TARIFF, timeZone: ZONE, maxGapMs: 60_000, historyDays: 62, hourlyDays: 2, projectionDays: 30,
    store: ShmStore.create(4, D0, 60), log: createLogger('test', 'error'),
  });
}

/** `watts` from `fromMs` to `toMs`, a sample a minute. */
function run(s: EnergyService, host: string, slot: number, fromMs: number, toMs: number, watts: number): void {
  for (let t = fromMs; t <= toMs; t += 60_000) s.onSample(host, slot, t, watts, 60_000);
}

function ok(a: ReturnType<typeof energyReport>): EnergyReport {
  assert.equal(a.status, 200, JSON.stringify(a.body));
  return (a as { body: EnergyReport }).body;
}

const near = (a: number | null | undefined, b: number, what = ''): void => assert.ok(a !== null && a !== undefined && Math.abs(a - b) < 1e-9, `${what}: ${a} ≠ ${b}`);

test('fleet: totals, per-day rows and per-host rows are the sums of the hosts', () => {
  const s = service();
  run(s, 'alpha', 0, D0, D0 + 3 * DAY, 100); // 2.4 kWh a day
  run(s, 'beta', 1, D0 + DAY, D0 + 3 * DAY, 50); // 1.2 kWh a day, from day 2
  const now = D0 + 3 * DAY + 12 * HOUR;
  const r = ok(energyReport(s, { host: null, days: 7 }, now));
  assert.equal(r.scope, 'fleet');
  assert.equal(r.hosts, 2);
  assert.equal(r.currency, 'EUR');
  assert.deepEqual(r.per_host.map((h) => h.host), ['alpha', 'beta']);
  near(r.totals.total.kwh, 3 * 2.4 + 2 * 1.2, 'total');
  assert.deepEqual(r.daily.map((d) => d.label), ['2026-11-10', '2026-11-11', '2026-11-12']);
  near(r.daily[0]!.kwh, 2.4, 'day 1: alpha only');
  near(r.daily[1]!.kwh, 3.6, 'day 2: both');
  // 16 peak hours at 0.30 and 8 off-peak at 0.10, per kWh of an even draw.
  near(r.daily[1]!.cost, 3.6 * (16 * 0.3 + 8 * 0.1) / 24, 'each part of the day at its own price');
  assert.equal(r.daily[1]!.covered_s, 2 * 86_400, 'host-seconds measured');
  assert.equal(r.projection.basis, 'fleet');
  near(r.projection.daily_kwh, 3.6, 'the fleet draws 3.6 kWh a day');
  near(r.projection.next_kwh, 3.6 * 7, 'next 7 days');
});

test('host: only its own figures; unknown host 404', () => {
  const s = service();
  run(s, 'alpha', 0, D0, D0 + DAY, 100);
  run(s, 'beta', 1, D0, D0 + DAY, 1000);
  const r = ok(energyReport(s, { host: 'alpha', days: 30 }, D0 + DAY + HOUR));
  assert.equal(r.scope, 'host');
  assert.equal(r.host, 'alpha');
  assert.equal(r.hosts, 1);
  near(r.totals.total.kwh, 2.4);
  assert.equal(r.projection.basis, 'recent');
  assert.deepEqual(energyReport(s, { host: 'nobody', days: 30 }, D0).status, 404);
});

test('per-day rows: the last N local days; per-hour rows: the last 24 hours; months all', () => {
  const s = service();
  const now = D0 + 5 * DAY + 2 * HOUR; // 2026-11-15 02:00
  run(s, 'alpha', 0, D0, now, 100);
  const r = ok(energyReport(s, { host: null, days: 2 }, now));
  assert.deepEqual(r.daily.map((d) => d.label), ['2026-11-14', '2026-11-15'], 'today and yesterday');
  near(r.daily[1]!.kwh, 0.2, 'two hours today');
  // The window is the 24 hours up to the current one (02:00, still empty: the last sample ends at its start).
  assert.equal(r.hourly.length, HOURLY_ROWS - 1);
  assert.equal(r.hourly[0]!.label, '2026-11-14T03');
  assert.equal(r.hourly.at(-1)!.label, '2026-11-15T01');
  near(r.hourly[3]!.kwh, 0.1, 'a whole hour at 100 W');
  near(r.hourly[3]!.cost, 0.1 * 0.3, '06:00-07:00 at the peak price');
  near(r.hourly[0]!.cost, 0.1 * 0.1, '03:00-04:00 off-peak');
  assert.deepEqual(r.monthly.map((m) => m.label), ['2026-11']);
  assert.equal(r.days, 2);
});

test('an interval across the peak boundary is split at 22:00 in the report too', () => {
  // One sample at 21:30 and the next at 22:30: 30 minutes at each price.
  const at = D0 + 21.5 * HOUR;
  const s2 = new EnergyService({ tariff: TARIFF, timeZone: ZONE, maxGapMs: 2 * HOUR, historyDays: 62, hourlyDays: 2, projectionDays: 30, store: ShmStore.create(2, D0, 60), log: createLogger('t', 'error') });
  s2.onSample('alpha', 0, at, 1000, HOUR);
  s2.onSample('alpha', 0, at + HOUR, 1000, HOUR);
  const r = ok(energyReport(s2, { host: 'alpha', days: 1 }, at + HOUR));
  near(r.totals.today.kwh, 1);
  near(r.totals.today.cost, 0.5 * 0.3 + 0.5 * 0.1);
  assert.deepEqual(r.hourly.map((h) => [h.label, Number(h.kwh.toFixed(6))]), [['2026-11-10T21', 0.5], ['2026-11-10T22', 0.5]]);
});
