// The chart module the host page runs, imported here exactly as the browser gets it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  liveState, POWER_BADGES,
  chartModel, formatBytes, formatKwh, formatMoney, formatCelsius, formatDuration, formatNumber, formatPercent, formatRate, formatWatts,
  linearScale, linePath, niceStep, niceTicks, sparkPath, timeTicks,
} from '../../dashboard/static/chart.js';

const GIB = 1024 ** 3;

test('formatting: bytes, rates, percent, numbers, temperatures, power, durations', () => {
  const cases: Array<[string, string, string]> = [
    ['zero bytes', formatBytes(0), '0 B'],
    ['bytes below a KiB', formatBytes(1000), '1000 B'],
    ['a KiB and a half', formatBytes(1536), '1.5 KiB'],
    ['three significant digits', formatBytes(123.456 * 1024 ** 2), '123 MiB'],
    ['whole GiB drop their decimals', formatBytes(8 * GIB), '8 GiB'],
    ['2^53 bytes', formatBytes(2 ** 53), '8 PiB'],
    ['null bytes', formatBytes(null), '–'],
    ['NaN bytes', formatBytes(Number.NaN), '–'],
    ['a rate', formatRate(1.25 * 1024 ** 2), '1.25 MiB/s'],
    ['a missing rate', formatRate(null), '–'],
    ['percent, one decimal', formatPercent(42.25), '42.3 %'],
    ['percent zero', formatPercent(0), '0.0 %'],
    ['number, trailing zeros dropped', formatNumber(0.5), '0.5'],
    ['number, whole', formatNumber(3, 0), '3'],
    ['celsius below zero', formatCelsius(-12.34), '-12.3 °C'],
    ['watts under 100', formatWatts(12.34), '12.3 W'],
    ['watts over 100', formatWatts(123.4), '123 W'],
    ['seconds', formatDuration(247), '4m 7s'],
    ['hours', formatDuration(2 * 3600 + 5 * 60), '2h 5m'],
    ['days', formatDuration(3 * 86400 + 7200), '3d 2h'],
    ['no duration', formatDuration(undefined), '–'],
  ];
  for (const [name, got, want] of cases) assert.equal(got, want, name);
});

test('formatKwh: Wh below 1 kWh, fixed decimals by size, MWh from 10 000 kWh', () => {
  const cases: Array<[number | null | undefined, string]> = [
    [0, '0 Wh'], [1e-9, '< 0.1 Wh'], [0.00004, '< 0.1 Wh'], [0.00008, '0.1 Wh'], [0.0008, '0.8 Wh'], [0.0374, '37.4 Wh'],
    [0.09994, '99.9 Wh'], [0.09996, '100 Wh'], [0.412, '412 Wh'], [0.9994, '999 Wh'], [0.9996, '1.00 kWh'],
    [1, '1.00 kWh'], [4.256, '4.26 kWh'], [42.55, '42.5 kWh'],
    [425.4, '425 kWh'], [9999.4, '9999 kWh'], [12_345, '12.3 MWh'], [null, '–'], [undefined, '–'], [Number.NaN, '–'],
  ];
  for (const [v, want] of cases) assert.equal(formatKwh(v), want, String(v));
});

test('formatKwh: a non-zero amount never reads as zero (seed 6151)', () => {
  let seed = 6151;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < 2000; i++) {
    // Spread over twelve decades below 1 kWh: a second of a Raspberry Pi up to most of a kWh.
    const kwh = 10 ** (-12 * next());
    const text = formatKwh(kwh);
    assert.ok(text.startsWith('<') || Number.parseFloat(text) > 0, `${kwh} kWh reads ${text}`);
  }
});

test('formatMoney: Intl with the currency code, the bare amount without one', () => {
  const cases: Array<[string, number | null, string | null, string]> = [
    ['euros', 1.234, 'EUR', '€1.23'],
    ['dollars with a thousands separator', 1234.5, 'USD', '$1,234.50'],
    ['pounds', 0.3, 'GBP', '£0.30'],
    ['a code without a symbol', 0.31, 'CHF', 'CHF\u00a00.31'],
    ['a currency without decimals', 12.4, 'JPY', '¥12'],
    ['lower case code', 2, 'eur', '€2.00'],
    ['a tiny negative is no cost', -0.001, 'EUR', '€0.00'],
    ['no tariff: two decimals', 3.5, null, '3.50'],
    ['not a code', 3.5, 'euro', '3.50'],
    ['no amount', null, 'EUR', '–'],
  ];
  for (const [name, amount, currency, want] of cases) assert.equal(formatMoney(amount, currency), want, name);
});

test('POWER_BADGES: a distinct letter, word and tooltip per source', () => {
  const { measured, estimated } = POWER_BADGES;
  assert.notEqual(measured.mark, estimated.mark);
  assert.deepEqual([measured.label, estimated.label], ['measured', 'estimated']);
  assert.match(measured.title, /^Measured/);
  assert.match(estimated.title, /^Estimated/);
});

test('niceStep: 1, 2, 2.5 or 5 times a power of ten, at or above the rough step', () => {
  const cases: Array<[number, number]> = [[0.7, 1], [1, 1], [1.2, 2], [2.2, 2.5], [3, 5], [7, 10], [25, 25], [26, 50], [0.013, 0.02], [0, 1], [-3, 1]];
  for (const [rough, want] of cases) assert.equal(niceStep(rough), want, `niceStep(${rough})`);
});

test('niceTicks: round ticks that cover the data, for any data', () => {
  interface Case { name: string; min: number; max: number; base?: 10 | 1024; want: number[] }
  const cases: Case[] = [
    { name: 'all zero: a unit span above zero', min: 0, max: 0, want: [0, 0.5, 1] },
    { name: 'one point: padded around it', min: 5, max: 5, want: [4.5, 5, 5.5] },
    { name: 'one negative point', min: -20, max: -20, want: [-22, -20, -18] },
    { name: 'a plain span', min: 41, max: 67, want: [40, 50, 60, 70] },
    { name: 'percent', min: 0, max: 100, want: [0, 50, 100] },
    { name: 'small fractions, no float noise', min: 0, max: 0.7, want: [0, 0.25, 0.5, 0.75] },
    { name: 'bytes fall on whole GiB', min: 0, max: 3.2 * GIB, base: 1024, want: [0, 2 * GIB, 4 * GIB] },
    { name: 'huge: 2^53 bytes in PiB', min: 0, max: 2 ** 53, base: 1024, want: [0, 5 * 1024 ** 5, 10 * 1024 ** 5] },
    { name: 'huge plain numbers', min: 0, max: 9e15, want: [0, 5e15, 1e16] },
    { name: 'min above max is swapped', min: 10, max: 0, want: [0, 5, 10] },
    { name: 'not numbers read as zero', min: Number.NaN, max: Number.POSITIVE_INFINITY, want: [0, 0.5, 1] },
  ];
  for (const c of cases) {
    const got = niceTicks(c.min, c.max, 3, c.base ?? 10);
    assert.deepEqual(got.ticks, c.want, c.name);
    assert.ok(got.min <= Math.min(c.min, c.max) || !Number.isFinite(c.min), `${c.name}: covers min`);
    assert.equal(got.max, got.ticks[got.ticks.length - 1], `${c.name}: max is the last tick`);
  }
});

test('linearScale maps a domain to a range, and an empty domain to the middle', () => {
  const y = linearScale(0, 100, 102, 8);
  assert.equal(y(0), 102);
  assert.equal(y(100), 8);
  assert.equal(y(50), 55);
  assert.equal(linearScale(3, 3, 0, 10)(3), 5);
});

test('linePath: lines break at nulls and at gaps over two steps', () => {
  const x = (ms: number): number => ms / 1000;
  const y = (v: number): number => 100 - v;
  const s = (n: number): number => n * 1000;
  interface Case { name: string; t: number[]; v: Array<number | null>; want: string }
  const cases: Case[] = [
    { name: 'empty', t: [], v: [], want: '' },
    { name: 'one point is a dot', t: [s(1)], v: [5], want: 'M1,95h0' },
    { name: 'a continuous line', t: [s(1), s(2), s(3)], v: [0, 10, 20], want: 'M1,100L2,90L3,80' },
    { name: 'a null breaks it', t: [s(1), s(2), s(3), s(4)], v: [0, 10, null, 30], want: 'M1,100L2,90M4,70h0' },
    { name: 'leading and trailing nulls', t: [s(1), s(2), s(3), s(4)], v: [null, 10, 20, null], want: 'M2,90L3,80' },
    { name: 'all null', t: [s(1), s(2)], v: [null, null], want: '' },
    { name: 'a gap of exactly two steps is joined', t: [s(1), s(3), s(4)], v: [1, 2, 3], want: 'M1,99L3,98L4,97' },
    { name: 'a gap of more than two steps breaks', t: [s(1), s(2), s(6), s(7)], v: [1, 2, 3, 4], want: 'M1,99L2,98M6,97L7,96' },
    { name: 'a lone point between gaps', t: [s(1), s(2), s(10), s(20), s(21)], v: [1, 2, 3, 4, 5], want: 'M1,99L2,98M10,97h0M20,96L21,95' },
    { name: 'coordinates rounded to a tenth', t: [1234, 2345], v: [1 / 3, 2 / 3], want: 'M1.2,99.7L2.3,99.3' },
  ];
  for (const c of cases) assert.equal(linePath(c.t, c.v, x, y, 2000), c.want, c.name);
});

test('sparkPath: values evenly across the box, 0-100 bottom to top, gaps at nulls', () => {
  interface Case { name: string; v: Array<number | null>; w?: number; h?: number; lo?: number; hi?: number; want: string }
  const cases: Case[] = [
    { name: 'no values', v: [], want: '' },
    { name: 'all null', v: [null, null, null], want: '' },
    { name: 'one value sits at the right edge', v: [50], want: 'M60,10h0' },
    { name: 'oldest left, newest right', v: [0, 50, 100], want: 'M0,20L30,10L60,0' },
    { name: 'a null is a gap', v: [0, null, 100, 100], want: 'M0,20h0M40,0L60,0' },
    { name: 'off the scale is clamped to its edges', v: [-5, 150], want: 'M0,20L60,0' },
    { name: 'another scale', v: [10, 30], lo: 10, hi: 30, want: 'M0,20L60,0' },
    { name: 'coordinates to a tenth', v: [1 / 3, 2 / 3, 1], w: 10, h: 10, lo: 0, hi: 1, want: 'M0,6.7L5,3.3L10,0' },
  ];
  for (const c of cases) assert.equal(sparkPath(c.v, c.w ?? 60, c.h ?? 20, c.lo, c.hi), c.want, c.name);
  const sixty = sparkPath(Array.from({ length: 60 }, (_, i) => i), 60, 20);
  assert.match(sixty, /^M0,20(L[\d.]+,[\d.]+){59}$/, 'sixty points, one segment each');
});

test('timeTicks: about five ticks back from now', () => {
  assert.deepEqual(timeTicks(60_000).map((t) => t.label), ['now', '-15 s', '-30 s', '-45 s', '-1 min']);
  assert.deepEqual(timeTicks(900_000).map((t) => t.label), ['now', '-5 min', '-10 min', '-15 min']);
  assert.ok(timeTicks(7_200_000).length <= 13, 'bounded for any window');
});

test('chartModel: axes, window and paths from a history', () => {
  const now = 1_700_000_000_000;
  const t = [now - 3000, now - 2000, now - 1000, now];
  const m = chartModel({ t, lines: [{ values: [1 * GIB, 2 * GIB, null, 3 * GIB] }, { values: [0, 0, 0, 0] }], nowMs: now, maxWindowMs: 900_000, stepMs: 1000, kind: 'bytes' });
  assert.deepEqual(m.yTicks.map((tick) => tick.label), ['0 B', '1 GiB', '2 GiB', '3 GiB'], 'byte ticks on whole GiB, from zero');
  assert.equal(m.yTicks[0]!.y, m.plot.bottom);
  assert.equal(m.yTicks[3]!.y, m.plot.top);
  assert.deepEqual(m.xTicks.map((tick) => tick.label), ['now', '-15 s', '-30 s', '-45 s', '-1 min'], 'a few seconds of data still show a minute');
  assert.equal(m.xTicks[0]!.x, m.plot.right);
  assert.equal(m.paths.length, 2);
  assert.match(m.paths[0]!, /^M[\d.]+,[\d.]+L[\d.]+,[\d.]+M[\d.]+,[\d.]+h0$/, 'the null breaks the line');
  assert.match(m.paths[1]!, /^M[\d.]+,102(L[\d.]+,102){3}$/, 'an all-zero line lies on the axis');
  assert.equal(m.format(3 * GIB), '3 GiB');

  const old = chartModel({ t: [now - 2_000_000, now - 1000], lines: [{ values: [50, 60] }], nowMs: now, maxWindowMs: 900_000, stepMs: 1000, kind: 'percent' });
  assert.deepEqual(old.yTicks.map((tick) => tick.label), ['0 %', '25 %', '50 %', '75 %', '100 %'], 'percent is always 0-100');
  assert.equal(old.xTicks[old.xTicks.length - 1]!.label, '-15 min', 'the window stops at its maximum');
  assert.match(old.paths[0]!, /^M[\d.]+,[\d.]+h0$/, 'points older than the window are left out');

  const empty = chartModel({ t: [], lines: [{ values: [] }], nowMs: now, maxWindowMs: 900_000, stepMs: 1000, kind: 'celsius' });
  assert.deepEqual(empty.paths, ['']);
  assert.ok(empty.yTicks.length >= 2, 'an empty chart still has an axis');
  for (const tick of [...empty.yTicks, ...m.yTicks, ...old.yTicks]) assert.ok(Number.isFinite(tick.y));
});

test('liveState: connecting, no answer, live and lost, by the time of the last good answer', () => {
  const cases: Array<[string, number, boolean, number, { lost: boolean; text: string }]> = [
    ['before any answer', 0, false, 5000, { lost: false, text: 'connecting…' }],
    ['first try failed', 0, true, 5000, { lost: true, text: 'not live: no answer from the collector' }],
    ['fresh', 10_000, false, 10_400, { lost: false, text: 'live · updated 0.4 s ago' }],
    ['at the limit', 10_000, true, 14_000, { lost: false, text: 'live · updated 4.0 s ago' }],
    ['past the limit', 10_000, true, 17_300, { lost: true, text: 'not live: last update 7 s ago' }],
  ];
  for (const [name, lastOkAt, failed, now, want] of cases) assert.deepEqual(liveState(lastOkAt, failed, now, 4000), want, name);
});
