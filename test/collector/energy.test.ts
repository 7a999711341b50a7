/** collector/energy.ts: integration, gaps, the calendar split, bounded history, the saved form, the fleet. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnergyAccumulator, fleetProjection, fleetTotals, sumTotals, MONTHS_KEPT, TOTALS_ORDER, type EnergyOptions } from '../../collector/energy.ts';
import { parseTariff } from '../../collector/tariff.ts';
import { ERROR_CODES, StateFileError } from '../../shared/errors.ts';

const HOME = 'EUR; peak 0.2700 mon-fri 06:00-22:00; offpeak 0.2068 mon-fri 22:00-06:00; weekend 0.1500 sat-sun';
const S = 1000;
const H = 3_600_000;
const DAY = 86_400_000;
const at = (iso: string): number => Date.parse(iso);
const flat = (price: string, zone = 'UTC'): EnergyOptions => ({ tariff: parseTariff(`${price} EUR`, 'tariff', zone) });

function close(actual: number, expected: number, msg: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${msg}: got ${actual}, expected ${expected}`);
}

/** Feeds constant `watts` every `stepMs` over [fromMs, toMs]. */
function feed(acc: EnergyAccumulator, fromMs: number, toMs: number, stepMs: number, watts: number): void {
  for (let t = fromMs; t <= toMs; t += stepMs) acc.add(t, watts);
}

test('the trapezoid rule: the mean of two samples over the interval between them', () => {
  const acc = new EnergyAccumulator(flat('0.5'));
  const t0 = at('2026-06-10T12:00:00Z');
  const cases: Array<{ name: string; dt: number; watts: number; kwh: number }> = [
    { name: 'the first sample starts the run', dt: 0, watts: 0, kwh: 0 },
    // 0 -> 7200 W over 1 s: 3600 W × 1 s = 3600 J = 0.001 kWh.
    { name: 'a ramp', dt: 1 * S, watts: 7200, kwh: 0.001 },
    // 7200 -> 3600 W over 2 s: 5400 W × 2 s = 10 800 J = 0.003 kWh.
    { name: 'a fall', dt: 3 * S, watts: 3600, kwh: 0.003 },
  ];
  for (const c of cases) close(acc.add(t0 + c.dt, c.watts), c.kwh, c.name);
  const t = acc.totals(t0);
  close(t.total.kwh, 0.004, 'total kWh');
  close(t.total.cost, 0.002, 'total cost at 0.5');
  assert.equal(t.total.coveredMs, 3 * S);
  assert.equal(t.sinceMs, t0);
});

test('gaps are not invented: long intervals, bad readings, old samples', () => {
  const acc = new EnergyAccumulator({ ...flat('1'), maxGapMs: 60 * S });
  const t0 = at('2026-06-10T12:00:00Z');
  const steps: Array<{ name: string; s: number; watts: number; kwh: number }> = [
    { name: 'first', s: 0, watts: 3600, kwh: 0 },
    { name: 'exactly the limit is integrated', s: 60, watts: 3600, kwh: 0.06 },
    { name: 'one second over the limit is a gap', s: 121, watts: 3600, kwh: 0 },
    { name: 'the run goes on after the gap', s: 122, watts: 3600, kwh: 0.001 },
    { name: 'an older sample is ignored', s: 100, watts: 99_999, kwh: 0 },
    { name: 'a repeated instant is ignored', s: 122, watts: 99_999, kwh: 0 },
    { name: 'a bad reading breaks the run', s: 123, watts: NaN, kwh: 0 },
    { name: 'so the next sample only starts one', s: 124, watts: 3600, kwh: 0 },
    { name: 'negative power is a bad reading too', s: 125, watts: -5, kwh: 0 },
    { name: 'restart', s: 126, watts: 3600, kwh: 0 },
    { name: 'and integrate', s: 127, watts: 3600, kwh: 0.001 },
  ];
  for (const st of steps) close(acc.add(t0 + st.s * S, st.watts), st.kwh, st.name);
  assert.equal(acc.gaps, 1);
  assert.equal(acc.totals(t0).total.coveredMs, 62 * S);
  acc.breakRun();
  close(acc.add(t0 + 128 * S, 3600), 0, 'after breakRun the next sample starts a run');
  acc.maxGapMs = 3 * S; // e.g. 3 × a 1-second interval
  close(acc.add(t0 + 132 * S, 3600), 0, 'a 4 s jump is a gap under a 3 s limit');
  assert.equal(acc.gaps, 2);
  assert.throws(() => acc.add(NaN, 1), RangeError);
  assert.throws(() => new EnergyAccumulator({ ...flat('1'), maxGapMs: 0 }), RangeError);
  assert.throws(() => new EnergyAccumulator({ ...flat('1'), historyDays: 367 }), RangeError);
});

test('an interval across midnight is split between the days and priced by each day\'s rule', () => {
  const acc = new EnergyAccumulator({ tariff: parseTariff(HOME, 'tariff', 'Europe/Paris') });
  // Fri 12 June 2026 23:59:30 -> Sat 00:00:30 CEST at 1200 W: 30 s a side = 0.01 kWh each;
  // Friday's at offpeak 0.2068 = 0.002068, Saturday's at weekend 0.15 = 0.0015.
  acc.add(at('2026-06-12T21:59:30Z'), 1200);
  close(acc.add(at('2026-06-12T22:00:30Z'), 1200), 0.02, 'kWh added');
  const days = acc.daily();
  assert.deepEqual(days.map((d) => d.label), ['2026-06-12', '2026-06-13']);
  close(days[0]!.kwh, 0.01, 'Friday kWh');
  close(days[0]!.cost, 0.002068, 'Friday cost');
  close(days[1]!.cost, 0.0015, 'Saturday cost');
  assert.deepEqual(days.map((d) => d.coveredMs), [30 * S, 30 * S]);
  assert.deepEqual(acc.hourly().map((h) => h.label), ['2026-06-12T23', '2026-06-13T00']);
  const t = acc.totals(at('2026-06-13T10:00:00Z'));
  close(t.today.cost, 0.0015, 'today is Saturday');
  close(t.month.cost, 0.003568, 'June');
  close(acc.totals(at('2026-06-12T21:00:00Z')).today.cost, 0.002068, 'seen from Friday 23:00');
  assert.equal(acc.totals(at('2026-06-14T10:00:00Z')).today.kwh, 0, 'nothing yet on Sunday');
});

test('in a half-hour zone, days and hours follow the local clock, not UTC hours', () => {
  // Kolkata (UTC+5:30): local midnight of 13 June is 12 June 18:30Z. 60 s at 3600 W = 0.06 kWh, 30 s a side.
  const acc = new EnergyAccumulator(flat('1', 'Asia/Kolkata'));
  acc.add(at('2026-06-12T18:29:30Z'), 3600);
  acc.add(at('2026-06-12T18:30:30Z'), 3600);
  assert.deepEqual(acc.daily().map((d) => [d.label, d.coveredMs]), [['2026-06-12', 30 * S], ['2026-06-13', 30 * S]]);
  assert.deepEqual(acc.hourly().map((h) => h.label), ['2026-06-12T23', '2026-06-13T00']);
  close(acc.totals(at('2026-06-13T00:00:00Z')).today.kwh, 0.03, 'today in Kolkata');
});

test('an interval across a month end, and a year end, is split between the months', () => {
  const cases: Array<{ name: string; from: string; months: string[] }> = [
    { name: 'January into February', from: '2026-01-31T23:59:30Z', months: ['2026-01', '2026-02'] },
    { name: 'December into January', from: '2026-12-31T23:59:30Z', months: ['2026-12', '2027-01'] },
  ];
  for (const c of cases) {
    const acc = new EnergyAccumulator(flat('0.3'));
    acc.add(at(c.from), 1200);
    acc.add(at(c.from) + 60 * S, 1200);
    const m = acc.monthly();
    assert.deepEqual(m.map((x) => x.label), c.months, c.name);
    close(m[0]!.kwh, 0.01, `${c.name}: first month`);
    close(m[1]!.cost, 0.003, `${c.name}: second month at 0.3`);
    close(acc.totals(at(c.from) + DAY).month.kwh, 0.01, `${c.name}: this month`);
  }
});

test('daylight saving: the 23- and 25-hour days in Paris', () => {
  const cases: Array<{ name: string; from: string; to: string; day: string; hours: number; rows: number; twice: boolean }> = [
    { name: 'spring forward', from: '2026-03-28T23:00:00Z', to: '2026-03-29T22:00:00Z', day: '2026-03-29', hours: 23, rows: 23, twice: false },
    { name: 'fall back', from: '2026-10-24T22:00:00Z', to: '2026-10-25T23:00:00Z', day: '2026-10-25', hours: 25, rows: 24, twice: true },
  ];
  for (const c of cases) {
    const acc = new EnergyAccumulator({ tariff: parseTariff('1 EUR', 'tariff', 'Europe/Paris') });
    feed(acc, at(c.from), at(c.to), 60 * S, 1000);
    const days = acc.daily();
    assert.deepEqual(days.map((d) => d.label), [c.day], c.name);
    close(days[0]!.kwh, c.hours, `${c.name}: kWh at 1 kW`);
    assert.equal(days[0]!.coveredMs, c.hours * H, c.name);
    const hours = acc.hourly();
    assert.equal(hours.length, c.rows, `${c.name}: hourly rows`);
    const two = hours.find((h) => h.label === `${c.day}T02`);
    if (c.twice) close(two!.kwh, 2, `${c.name}: 02:00 happened twice`);
    else assert.equal(two, undefined, `${c.name}: 02:00 never happened`);
  }
});

test('history is bounded: the newest days, hours and months are kept', () => {
  const acc = new EnergyAccumulator({ ...flat('1'), maxGapMs: 2 * H, historyDays: 3 });
  const t0 = at('2026-06-01T00:00:00Z');
  feed(acc, t0, t0 + 5 * DAY, H, 1000);
  assert.deepEqual(acc.daily().map((d) => d.label), ['2026-06-03', '2026-06-04', '2026-06-05']);
  assert.equal(acc.hourly().length, 72);
  assert.equal(acc.hourly()[0]!.label, '2026-06-03T00');
  close(acc.totals(t0 + 5 * DAY).total.kwh, 120, 'the total keeps everything');
  assert.equal(acc.totals(t0 + 5 * DAY).today.kwh, 0, 'the last sample ends at midnight');
  assert.equal(acc.daily()[2]!.kwh, 24);
  const long = new EnergyAccumulator({ ...flat('1'), maxGapMs: 40 * DAY });
  feed(long, at('2024-01-01T00:00:00Z'), at('2026-04-01T00:00:00Z'), 30 * DAY, 1);
  assert.equal(long.monthly().length, MONTHS_KEPT);
  assert.equal(long.monthly().at(-1)!.label, '2026-03');
});

test('totalsInto writes what totals says, in TOTALS_ORDER, at any instant, an expired day or month as 0', () => {
  const fresh = new EnergyAccumulator({ tariff: parseTariff(HOME, 'tariff', 'Europe/Paris') });
  const out = new Float64Array(TOTALS_ORDER.length + 2).fill(-1);
  fresh.totalsInto(at('2026-06-13T10:00:00Z'), out, 1);
  assert.deepEqual([...out], [-1, 0, 0, 0, 0, 0, 0, Number.NaN, -1], 'nothing yet: zeros, no start; only its own cells written');
  const acc = new EnergyAccumulator({ tariff: parseTariff(HOME, 'tariff', 'Europe/Paris'), historyDays: 3 });
  feed(acc, at('2026-06-29T18:00:00Z'), at('2026-07-02T06:00:00Z'), 30 * S, 450);
  // Across a month end, from inside the run, the day after it, and after the 3 days of history.
  for (const iso of ['2026-06-30T12:00:00Z', '2026-07-01T22:30:00Z', '2026-07-02T10:00:00Z', '2026-07-20T10:00:00Z', '2026-09-01T00:00:00Z']) {
    const t = acc.totals(at(iso));
    const v = new Float64Array(TOTALS_ORDER.length);
    acc.totalsInto(at(iso), v);
    const named = Object.fromEntries(TOTALS_ORDER.map((k, i) => [k, v[i]]));
    assert.deepEqual(named, {
      today_kwh: t.today.kwh, today_cost: t.today.cost, month_kwh: t.month.kwh, month_cost: t.month.cost,
      total_kwh: t.total.kwh, total_cost: t.total.cost, since_ms: t.sinceMs,
    }, iso);
  }
  assert.ok(acc.totals(at('2026-07-01T22:30:00Z')).today.kwh > 0, 'the comparison covers a day with energy');
  assert.equal(acc.totals(at('2026-07-20T10:00:00Z')).today.kwh, 0);
});

test('the pending hour: totalsInto between settles equals an accumulator settled at every sample, across DST, midnight, a month end and gaps', () => {
  // add() keeps the current hour's sums out of the rings until the next hour or a read; A is only
  // ever asked totalsInto (as the collector does for each sample), B is settled after every
  // sample (totals() settles). Their figures must agree, at the sample's time and at later ones.
  const opts: EnergyOptions = { tariff: parseTariff(HOME, 'tariff', 'Europe/Paris'), maxGapMs: 15 * 60 * S, historyDays: 3, hourlyDays: 1 };
  const a = new EnergyAccumulator(opts);
  const b = new EnergyAccumulator(opts);
  let seed = 7;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const va = new Float64Array(TOTALS_ORDER.length);
  const vb = new Float64Array(TOTALS_ORDER.length);
  let t = at('2026-10-24T20:00:00Z'); // Paris falls back on the 25th; October ends on the 31st
  const end = at('2026-11-01T03:00:00Z');
  let steps = 0;
  let pendingSeen = 0;
  while (t < end) {
    // Mostly 10 s to 10 min apart, now and then a gap of 20 min to 3 h, now and then a bad reading.
    const r = rand();
    t += r < 0.03 ? (20 + Math.floor(rand() * 160)) * 60 * S : (10 + Math.floor(rand() * 590)) * S;
    const watts = rand() < 0.01 ? Number.NaN : 50 + rand() * 400;
    a.add(t, watts);
    b.add(t, watts);
    b.totals(t);
    for (const when of [t, t + 30 * 60 * S, t + DAY, t + 40 * DAY]) {
      a.totalsInto(when, va);
      b.totalsInto(when, vb);
      TOTALS_ORDER.forEach((k, i) => close(va[i]!, vb[i]!, `${k} at ${new Date(when).toISOString()} after a sample at ${new Date(t).toISOString()}`));
      if (when === t && va[0]! > 0) pendingSeen++;
    }
    steps++;
  }
  assert.ok(steps > 1000 && pendingSeen > 900, `${steps} samples, ${pendingSeen} with energy today`);
  // Every read that settles gives the same history.
  const rows = (acc: EnergyAccumulator): number[][] => [...acc.hourly(), ...acc.daily(), ...acc.monthly()].map((r) => [r.kwh, r.cost, r.coveredMs]);
  const ra = rows(a);
  const rb = rows(b);
  assert.equal(ra.length, rb.length);
  ra.forEach((row, i) => row.forEach((v, j) => close(v, rb[i]![j]!, `history row ${i}`)));
  assert.deepEqual(a.toJSON().total, b.toJSON().total);
});

function sampleAccumulator(): EnergyAccumulator {
  const acc = new EnergyAccumulator({ tariff: parseTariff(HOME, 'tariff', 'Europe/Paris') });
  feed(acc, at('2026-06-12T18:00:00Z'), at('2026-06-13T06:00:00Z'), 30 * S, 450);
  return acc;
}

test('toJSON / fromJSON: counters survive a restart, and the run goes on', () => {
  const acc = sampleAccumulator();
  const text = JSON.stringify(acc);
  const back = EnergyAccumulator.fromJSON(JSON.parse(text), { tariff: acc.tariff });
  assert.deepEqual(back.toJSON(), acc.toJSON());
  assert.equal(back.costsReset, false);
  const now = at('2026-06-13T07:00:00Z');
  assert.deepEqual(back.totals(now), acc.totals(now));
  assert.deepEqual(back.hourly(), acc.hourly());
  assert.deepEqual(EnergyAccumulator.fromJSON(text, { tariff: acc.tariff }).toJSON(), acc.toJSON(), 'from the text too');
  // A restart shorter than the gap limit: the next sample is integrated against the saved last one.
  close(back.add(at('2026-06-13T06:00:30Z'), 450), acc.add(at('2026-06-13T06:00:30Z'), 450), 'continues');
  close(back.add(at('2026-06-13T06:00:30Z') + 30 * S, 450), 450 * 30 * S / 3.6e9, '30 s at 450 W');
  const short = EnergyAccumulator.fromJSON(acc.toJSON(), { tariff: acc.tariff, historyDays: 1 });
  assert.deepEqual(short.daily().map((d) => d.label), ['2026-06-13'], 'a shorter history keeps the newest');
  const usd = EnergyAccumulator.fromJSON(acc.toJSON(), { tariff: parseTariff('0.3 USD', 'tariff', 'Europe/Paris') });
  assert.equal(usd.costsReset, true);
  close(usd.totals(now).total.kwh, acc.totals(now).total.kwh, 'kWh kept under another currency');
  assert.equal(usd.totals(now).total.cost, 0);
  assert.ok(usd.daily().every((d) => d.cost === 0));
});

test('fromJSON refuses corrupt state with STATE_FILE_INVALID', () => {
  const good = sampleAccumulator().toJSON();
  const edit = (f: (j: Record<string, unknown>) => void): unknown => {
    const j = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
    f(j);
    return j;
  };
  const cases: Array<{ name: string; json: unknown; why: RegExp }> = [
    { name: 'not JSON', json: '{"v":1,', why: /not JSON/ },
    { name: 'null', json: null, why: /not an object/ },
    { name: 'a list', json: [], why: /not an object/ },
    { name: 'another version', json: edit((j) => (j['v'] = 2)), why: /version 2/ },
    { name: 'no version', json: edit((j) => delete j['v']), why: /version undefined/ },
    { name: 'bad currency', json: edit((j) => (j['currency'] = 'eur')), why: /currency/ },
    { name: 'firstMs a string', json: edit((j) => (j['firstMs'] = '1')), why: /firstMs/ },
    { name: 'firstMs decades before 1970 (a clock offset once placed samples there)', json: edit((j) => (j['firstMs'] = -9_005_403_832_458_811)), why: /firstMs/ },
    { name: 'lastMs beyond what a Date holds', json: edit((j) => (j['lastMs'] = 9e15)), why: /lastMs/ },
    { name: 'lastW without lastMs', json: edit((j) => (j['lastMs'] = null)), why: /lastW/ },
    { name: 'negative lastW', json: edit((j) => (j['lastW'] = -1)), why: /lastW/ },
    { name: 'total too short', json: edit((j) => (j['total'] = [1, 2])), why: /total/ },
    { name: 'negative total', json: edit((j) => (j['total'] = [1, -2, 3])), why: /total/ },
    { name: 'NaN in a row (null in JSON)', json: edit((j) => ((j['days'] as unknown[][])[0]![1] = null)), why: /bad row in days/ },
    { name: 'fractional key', json: edit((j) => ((j['hours'] as unknown[][])[0]![0] = 1.5)), why: /bad row in hours/ },
    { name: 'short row', json: edit((j) => ((j['months'] as unknown[][])[0] = [1, 2, 3])), why: /bad row in months/ },
    { name: 'keys out of order', json: edit((j) => (j['days'] as unknown[][]).reverse()), why: /days keys out of order/ },
    { name: 'a repeated key', json: edit((j) => (j['hours'] as unknown[][]).push((j['hours'] as unknown[][]).at(-1)!)), why: /hours keys out of order/ },
    { name: 'too many months', json: edit((j) => (j['months'] = Array.from({ length: 25 }, (_, i) => [i, 0, 0, 0]))), why: /months is not a list of at most 24/ },
    { name: 'days missing', json: edit((j) => delete j['days']), why: /days is not a list/ },
  ];
  for (const c of cases) {
    assert.throws(() => EnergyAccumulator.fromJSON(c.json, flat('1')), (err: unknown) => {
      assert.ok(err instanceof StateFileError, `${c.name}: ${String(err)}`);
      assert.equal(err.code, ERROR_CODES.STATE_FILE_INVALID, c.name);
      assert.match(err.message, c.why, c.name);
      return true;
    }, c.name);
  }
});

test('the fleet is the sum of its hosts', () => {
  const opts = flat('0.25');
  const a = new EnergyAccumulator(opts);
  const b = new EnergyAccumulator(opts);
  const idle = new EnergyAccumulator(opts);
  const t0 = at('2026-06-01T00:00:00Z');
  feed(a, t0, t0 + 8 * DAY, 60 * S, 1000); // 24 kWh a day, 6 EUR
  feed(b, t0 + 4 * DAY, t0 + 8 * DAY, 60 * S, 500); // 12 kWh a day, 3 EUR
  const now = t0 + 8 * DAY + 12 * H; // 9 June 12:00 UTC
  const f = fleetTotals([a, b, idle], opts.tariff, now);
  close(f.total.kwh, 8 * 24 + 4 * 12, 'fleet kWh since start');
  close(f.month.cost, 8 * 6 + 4 * 3, 'fleet cost this month');
  assert.equal(f.sinceMs, t0);
  const p = fleetProjection([a, b, idle], opts.tariff, now, 30);
  assert.equal(p.basis, 'fleet');
  close(p.dailyCost!, 9, 'daily: 6 + 3');
  close(p.nextCost!, 270, '30 days');
  // 21.5 days remain in June: 60 + 9 × 21.5 = 253.5.
  close(p.monthCost!, 253.5, 'June projected');
  assert.throws(() => sumTotals([a.totals(now)], 'USD'), RangeError);
});
