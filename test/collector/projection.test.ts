/** collector/projection.ts: the projection formulas with exact expected values, and the month's end in local time. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { instantOfWallClock, msToMonthEnd, projectCost, sumProjections, type EnergyFigures, type Projection, type ProjectionInput } from '../../collector/projection.ts';

const H = 3_600_000;
const DAY = 86_400_000;
const at = (iso: string): number => Date.parse(iso);
const fig = (kwh: number, cost: number, coveredMs: number): EnergyFigures => ({ kwh, cost, coveredMs });
const ZERO = fig(0, 0, 0);
const fullDays = (n: number, kwh: number, cost: number): EnergyFigures[] => Array.from({ length: n }, () => fig(kwh, cost, DAY));

interface Case {
  name: string;
  input: ProjectionInput;
  want: Partial<Projection>;
}

// Figures chosen to be exact in binary floating point, so every expectation is strict equality.
const CASES: Case[] = [
  {
    // 7 full days at 8 kWh / 2.00 a day. Next 30 days: 30 × 2 = 60. Month: 10 so far + 2 × 20.5 days left = 51.
    name: 'seven full days',
    input: { recentDays: fullDays(7, 8, 2), today: fig(4, 1, 12 * H), month: fig(40, 10, 9.5 * DAY), remainingMonthMs: 20.5 * DAY, days: 30 },
    want: { basis: 'recent', basisCoveredMs: 7 * DAY, dailyKwh: 8, dailyCost: 2, nextKwh: 240, nextCost: 60, monthKwh: 40 + 8 * 20.5, monthCost: 51 },
  },
  {
    // Only the last 7 of the days given count: the dear day in front is older.
    name: 'older days are not recent',
    input: { recentDays: [fig(400, 100, DAY), ...fullDays(7, 8, 2)], today: ZERO, month: fig(0, 0, 0), remainingMonthMs: 0, days: 1 },
    want: { basis: 'recent', dailyCost: 2, nextCost: 2, monthCost: 0 },
  },
  {
    // Partial days weigh by the hours covered: (0.5 + 2) / 30 h × 24 h = 2, not the mean of days (1.25).
    name: 'a partial day weighs its covered hours',
    input: { recentDays: [fig(1.5, 0.5, 6 * H), fig(6, 2, DAY)], today: ZERO, month: fig(7.5, 2.5, 30 * H), remainingMonthMs: 2 * DAY, days: 7 },
    want: { basis: 'recent', basisCoveredMs: 30 * H, dailyKwh: 6, dailyCost: 2, nextCost: 14, monthCost: 6.5, monthKwh: 19.5 },
  },
  {
    // A day with the host offline throughout adds nothing, not a zero: 3 / 24 h × 24 h = 3.
    name: 'days without coverage do not count as zero',
    input: { recentDays: [...Array.from({ length: 6 }, () => ZERO), fig(12, 3, DAY)], today: ZERO, month: fig(12, 3, DAY), remainingMonthMs: DAY, days: 2 },
    want: { basis: 'recent', dailyCost: 3, nextCost: 6, monthCost: 6 },
  },
  {
    // A host started today: 4 h for 0.25 -> 1.5 a day; 7 days 10.5; month 0.25 + 1.5 × 10 = 15.25.
    name: 'a new host: today so far',
    input: { recentDays: [], today: fig(1, 0.25, 4 * H), month: fig(1, 0.25, 4 * H), remainingMonthMs: 10 * DAY, days: 7 },
    want: { basis: 'recent+today', basisCoveredMs: 4 * H, dailyKwh: 6, dailyCost: 1.5, nextCost: 10.5, monthCost: 15.25, monthKwh: 61 },
  },
  {
    // Less than a day in the recent days: today joins. (1 + 0.5) / 18 h × 24 h = 2.
    name: 'thin recent days: today joins the basis',
    input: { recentDays: [fig(2, 1, 12 * H)], today: fig(1, 0.5, 6 * H), month: fig(3, 1.5, 18 * H), remainingMonthMs: 0.25 * DAY, days: 3 },
    want: { basis: 'recent+today', basisCoveredMs: 18 * H, dailyKwh: 4, dailyCost: 2, nextCost: 6, monthCost: 2 },
  },
  {
    name: 'nothing recorded: no projection, the month so far passes through',
    input: { recentDays: fullDays(7, 0, 0).map(() => ZERO), today: ZERO, month: fig(5, 1.25, 0), remainingMonthMs: 3 * DAY, days: 30 },
    want: { basis: 'none', basisCoveredMs: 0, dailyKwh: null, dailyCost: null, nextKwh: null, nextCost: null, monthKwh: null, monthCost: null, monthCostSoFar: 1.25, monthKwhSoFar: 5 },
  },
];

test('projectCost: exact values', () => {
  for (const c of CASES) {
    const p = projectCost(c.input);
    for (const [key, value] of Object.entries(c.want)) assert.equal(p[key as keyof Projection], value, `${c.name}: ${key}`);
    assert.equal(p.days, c.input.days, c.name);
    assert.equal(p.remainingMonthMs, c.input.remainingMonthMs, c.name);
  }
});

test('projectCost refuses bad input', () => {
  const ok: ProjectionInput = { recentDays: [], today: ZERO, month: ZERO, remainingMonthMs: 0, days: 1 };
  const bad: Array<[string, ProjectionInput]> = [
    ['no days', { ...ok, days: 0 }], ['too many days', { ...ok, days: 367 }], ['fractional days', { ...ok, days: 1.5 }],
    ['negative remaining', { ...ok, remainingMonthMs: -1 }], ['NaN cost today', { ...ok, today: fig(0, NaN, 0) }],
    ['negative kWh in a recent day', { ...ok, recentDays: [fig(-1, 0, 0)] }], ['infinite month', { ...ok, month: fig(Infinity, 0, 0) }],
  ];
  for (const [name, input] of bad) assert.throws(() => projectCost(input), RangeError, name);
});

test('sumProjections: the fleet adds its hosts; a host without a basis adds its month so far', () => {
  const a = projectCost(CASES[0]!.input); // 2 a day, month so far 10
  const none = projectCost({ ...CASES[6]!.input, remainingMonthMs: 20.5 * DAY }); // month so far 1.25
  const p = sumProjections([a, none, a], 30, 20.5 * DAY);
  assert.equal(p.basis, 'fleet');
  assert.equal(p.dailyCost, 4);
  assert.equal(p.nextCost, 120);
  assert.equal(p.monthCostSoFar, 21.25);
  assert.equal(p.monthCost, 21.25 + 4 * 20.5);
  assert.equal(p.basisCoveredMs, 14 * DAY);
  const empty = sumProjections([none], 30, 20.5 * DAY);
  assert.equal(empty.basis, 'none');
  assert.equal(empty.monthCost, null);
  assert.equal(empty.monthCostSoFar, 1.25);
  assert.throws(() => sumProjections([a], 7, 20.5 * DAY), RangeError);
  assert.throws(() => sumProjections([a], 30, DAY), RangeError);
});

test('msToMonthEnd: the rest of today and of the month, in real time', () => {
  const cases: Array<{ name: string; zone: string; now: string; ms: number }> = [
    { name: 'UTC, mid-June noon: 20.5 days', zone: 'UTC', now: '2026-06-10T12:00:00Z', ms: 20.5 * DAY },
    // 15 March 13:00 CET -> 1 April 00:00 CEST (31 March 22:00Z): 16 days 11 h on the wall, one of them skipped.
    { name: 'Paris, across the spring change', zone: 'Europe/Paris', now: '2026-03-15T12:00:00Z', ms: 16 * DAY + 10 * H },
    // 31 Oct 08:00 EDT -> 1 Nov 00:00 EDT (04:00Z): 16 h; the fall back comes after midnight.
    { name: 'New York, last day of October', zone: 'America/New_York', now: '2026-10-31T12:00:00Z', ms: 16 * H },
    { name: 'UTC, across the year end', zone: 'UTC', now: '2026-12-31T18:00:00Z', ms: 6 * H },
    // 25 Oct 12:00 CET (11:00Z) -> 1 Nov 00:00 CET (31 Oct 23:00Z).
    { name: 'Paris, after the fall change', zone: 'Europe/Paris', now: '2026-10-25T11:00:00Z', ms: 6 * DAY + 12 * H },
    { name: 'Kolkata, half-hour zone', zone: 'Asia/Kolkata', now: '2026-02-28T12:00:00Z', ms: 12 * H - 5.5 * H },
  ];
  for (const c of cases) assert.equal(msToMonthEnd(c.zone, at(c.now)), c.ms, c.name);
});

test('instantOfWallClock: the first instant showing a wall time, or the jump over it', () => {
  const wall = (iso: string): number => at(`${iso}Z`);
  const cases: Array<{ name: string; zone: string; wall: string; want: string }> = [
    { name: 'an ordinary summer time', zone: 'Europe/Paris', wall: '2026-06-10T12:00:00', want: '2026-06-10T10:00:00Z' },
    { name: 'skipped by the spring change: the jump', zone: 'Europe/Paris', wall: '2026-03-29T02:30:00', want: '2026-03-29T01:00:00Z' },
    { name: 'repeated by the fall change: the first', zone: 'Europe/Paris', wall: '2026-10-25T02:30:00', want: '2026-10-25T00:30:00Z' },
    { name: 'New York, repeated 01:30', zone: 'America/New_York', wall: '2026-11-01T01:30:00', want: '2026-11-01T05:30:00Z' },
    { name: 'Santiago, a skipped midnight', zone: 'America/Santiago', wall: '2026-09-06T00:00:00', want: '2026-09-06T04:00:00Z' },
  ];
  for (const c of cases) assert.equal(new Date(instantOfWallClock(c.zone, wall(c.wall))).toISOString(), new Date(at(c.want)).toISOString(), c.name);
});
