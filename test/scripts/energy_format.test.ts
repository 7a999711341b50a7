/**
 * scripts/energy_format.ts: EnergyReport -> text, against reports recorded from a real collector
 * (test/fixtures/energy/: a fleet priced by a peak/off-peak tariff in UTC, one host of it with a
 * day and two hours missing, a fleet without a tariff in Europe/Paris) and variations of them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { EnergyReport, RowJson } from '../../collector/energy_report.ts';
import {
  formatCovered, formatDuration, formatEnergyReport, formatInstant, formatKwh, formatMoney, reportJson, safeText, table,
} from '../../scripts/energy_format.ts';
import { UNSAFE_CHAR } from '../../shared/unsafe_chars.ts';

function fixture(name: string): EnergyReport {
  return JSON.parse(readFileSync(new URL(`../fixtures/energy/${name}.json`, import.meta.url), 'utf8')) as EnergyReport;
}

/** The lines of a titled section, up to the blank line after it. */
function section(text: string, title: string): string[] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(title));
  assert.ok(at >= 0, `no section "${title}" in:\n${text}`);
  const end = lines.indexOf('', at);
  return lines.slice(at, end < 0 ? undefined : end);
}

const width = (s: string): number => Array.from(s).length;

test('one host, priced: the exact text, a missing day and two missing hours shown as "not measured"', () => {
  assert.equal(formatEnergyReport(fixture('host_tariff')), `Energy of host web-1, 2026-11-22 12:38 (UTC)
Tariff: EUR; peak 0.2700 mon-fri 06:00-22:00; offpeak 0.2068 mon-fri 22:00-06:00; offpeak 0.2068 sat-sun

Totals
                   energy      cost  measured
  today            819 Wh  0.17 EUR    9h 33m
  this month   18.637 kWh  4.37 EUR  186h 53m
  since start  18.637 kWh  4.37 EUR  186h 53m  since 2026-11-13 12:35

Per day, the last 7 days
  day            energy      cost  measured
  2026-11-16  2.394 kWh  0.61 EUR   24h 00m
  2026-11-17  2.394 kWh  0.61 EUR   24h 00m
  2026-11-18  2.312 kWh  0.59 EUR   22h 55m
  2026-11-19          -         -         -  not measured
  2026-11-20  2.318 kWh  0.59 EUR   23h 00m
  2026-11-21  2.394 kWh  0.50 EUR   24h 00m
  2026-11-22     819 Wh  0.17 EUR    9h 33m

Per hour, the last 24 hours
  hour            energy      cost  measured
  2026-11-21T13   124 Wh  0.03 EUR    1h 00m
  2026-11-21T14   124 Wh  0.03 EUR    1h 00m
  2026-11-21T15   124 Wh  0.03 EUR    1h 00m
  2026-11-21T16   124 Wh  0.03 EUR    1h 00m
  2026-11-21T17   124 Wh  0.03 EUR    1h 00m
  2026-11-21T18   124 Wh  0.03 EUR    1h 00m
  2026-11-21T19   122 Wh  0.03 EUR    1h 00m
  2026-11-21T20  76.0 Wh  0.02 EUR    1h 00m
  2026-11-21T21  76.0 Wh  0.02 EUR    1h 00m
  2026-11-21T22  76.0 Wh  0.02 EUR    1h 00m
  2026-11-21T23  76.0 Wh  0.02 EUR    1h 00m
  2026-11-22T00  76.0 Wh  0.02 EUR    1h 00m
  2026-11-22T01  76.0 Wh  0.02 EUR    1h 00m
  2026-11-22T02  76.0 Wh  0.02 EUR    1h 00m
  2026-11-22T03  76.0 Wh  0.02 EUR    1h 00m
  2026-11-22T04  76.0 Wh  0.02 EUR    1h 00m
  2026-11-22T05  76.0 Wh  0.02 EUR    1h 00m
  2026-11-22T06  76.0 Wh  0.02 EUR    1h 00m
  2026-11-22T07  44.3 Wh  0.01 EUR    0h 35m
  2026-11-22T08        -         -         -  not measured
  2026-11-22T09        -         -         -  not measured
  2026-11-22T10  41.2 Wh  0.01 EUR    0h 20m
  2026-11-22T11   124 Wh  0.03 EUR    1h 00m
  2026-11-22T12  78.3 Wh  0.02 EUR    0h 38m

Per month
  month        energy      cost  measured
  2026-11  18.637 kWh  4.37 EUR  186h 53m

Projection, the next 7 days
                             energy      cost
  daily average           2.402 kWh  0.57 EUR
  next 7 days            16.817 kWh  4.01 EUR
  this month so far      18.637 kWh  4.37 EUR
  this month, projected  38.992 kWh  9.23 EUR
  basis: the average of the last 7 complete days, over the time they were measured; 8d 11h of the month to go
`);
});

test('the fleet, priced: totals, every day and hour, the projection, hosts by projected month cost', () => {
  const r = fixture('fleet_tariff');
  const text = formatEnergyReport(r);
  assert.equal(text.split('\n')[0], 'Energy of the fleet (3 hosts), 2026-11-22 12:38 (UTC)');
  assert.deepEqual(section(text, 'Totals'), [
    'Totals',
    '                   energy       cost  measured',
    '  today         4.428 kWh   0.92 EUR   34h 50m',
    '  this month   70.568 kWh  16.65 EUR  499h 00m',
    '  since start  70.568 kWh  16.65 EUR  499h 00m  since 2026-11-13 12:35',
  ]);
  assert.equal(section(text, 'Per day').length, 2 + 7, 'title, header, 7 days');
  assert.equal(section(text, 'Per hour').length, 2 + 24, 'title, header, 24 hours');
  assert.ok(!text.includes('not measured'), 'the fleet measured every day and hour (web-1\'s gaps are covered by the others)');
  assert.deepEqual(section(text, 'Projection').slice(1, 6), [
    '                              energy       cost',
    '  daily average            9.737 kWh   2.34 EUR',
    '  next 7 days             68.157 kWh  16.38 EUR',
    '  this month so far       70.568 kWh  16.65 EUR',
    '  this month, projected  153.068 kWh  36.48 EUR',
  ]);
  assert.deepEqual(section(text, 'Per host'), [
    'Per host, by projected month cost',
    '  host       today  today cost       month  month cost  projected month  projected month cost',
    '  db-1   2.240 kWh    0.46 EUR  40.836 kWh    9.64 EUR       79.270 kWh             18.88 EUR',
    '  web-1     819 Wh    0.17 EUR  18.637 kWh    4.37 EUR       38.992 kWh              9.23 EUR',
    '  web-2  1.369 kWh    0.28 EUR  11.095 kWh    2.63 EUR       34.806 kWh              8.36 EUR',
  ]);
  assert.match(text, /\nmeasured: the time covered by samples, summed over the hosts \(3 hosts for a whole day: 72h 00m\)\.\n$/);

  // Ranked by projected month cost, not by name nor by today: a renamed db-1 stays first, and
  // web-2 (more today, less projected) stays below web-1.
  const renamed = structuredClone(r);
  renamed.per_host[0]!.host = 'zz-db';
  const rows = section(formatEnergyReport(renamed), 'Per host').slice(2).map((l) => l.trim().split(/\s+/)[0]);
  assert.deepEqual(rows, ['zz-db', 'web-1', 'web-2']);
});

test('no tariff: kWh only, no cost column anywhere, and how to get costs', () => {
  const text = formatEnergyReport(fixture('fleet_no_tariff'));
  const lines = text.split('\n');
  assert.equal(lines[0], 'Energy of the fleet (3 hosts), 2026-11-22 13:38 (Europe/Paris)', 'local time of the collector\'s zone');
  assert.equal(lines[1], "Tariff: none, so energy only in kWh (a --tariff on the collector, e.g. --tariff '0.25 EUR', adds costs)");
  assert.ok(!/cost\b(?! on)|EUR|null|NaN/.test(text.replace(lines[1]!, '')), text);
  assert.deepEqual(section(text, 'Totals').slice(1), [
    '                   energy  measured',
    '  today         4.736 kWh   37h 50m',
    '  this month   70.568 kWh  499h 00m',
    '  since start  70.568 kWh  499h 00m  since 2026-11-13 13:35',
  ]);
  assert.deepEqual(section(text, 'Per host').slice(0, 3), [
    'Per host, by projected month kWh',
    '  host       today       month  projected month',
    '  db-1   2.384 kWh  40.836 kWh       79.081 kWh',
  ]);
  const hours = section(text, 'Per hour').slice(2).map((l) => l.trim().slice(0, 13));
  assert.equal(hours.length, 24);
  assert.equal(hours.at(-1), '2026-11-22T13', 'hours are labelled in local time, as the API does');
});

test('host names and every other string from the collector are printed without control, bidi or invisible characters', () => {
  const hostile = [
    'evil\u202Egnp.exe', // right-to-left override: would print "exe.png"
    'red\u001b[31mALERT\u001b[0m', // ANSI colour
    'two\nlines\r', // a forged line
    'zero\u200Bwidth\u2060joiner', // invisible, looks like another host
    'tag\u{E0041}\u{E0042}', // tag characters
    'c1\u009B2J', // C1 CSI
    '\u061Carabic-mark',
  ];
  const r = fixture('fleet_tariff');
  const host = structuredClone(r.per_host[0]!);
  r.per_host = hostile.map((name, i) => ({ ...structuredClone(host), host: name, projection: { ...host.projection, month_cost: 100 - i } }));
  r.hosts = hostile.length;
  r.tariff = 'EUR\u202E; peak';
  const text = formatEnergyReport(r);
  for (const line of text.split('\n')) assert.ok(!UNSAFE_CHAR.test(line), `unsafe character in ${JSON.stringify(line)}`);
  const rows = section(text, 'Per host').slice(2);
  assert.ok(rows[0]!.startsWith('  evil\uFFFDgnp.exe'));
  assert.ok(rows[1]!.startsWith('  red\uFFFD[31mALERT\uFFFD[0m'));
  assert.ok(rows[2]!.startsWith('  two\uFFFDlines\uFFFD'));
  assert.ok(rows[3]!.startsWith('  zero\uFFFDwidth\uFFFDjoiner'));
  assert.equal(new Set(rows.map(width)).size, 1, 'every row as wide as the others: the columns stay aligned');
  assert.equal(rows.length, hostile.length, 'no name split a row');

  // One host named so, a zone this Node does not know, a tariff and labels from elsewhere.
  const one = fixture('host_tariff');
  one.host = '\u202Eweb-1';
  one.time_zone = 'Mars/Olympus\u0007';
  one.daily = [{ ...one.daily[0]!, label: '2026-11-16\u001b[2J' }];
  const t = formatEnergyReport(one);
  for (const line of t.split('\n')) assert.ok(!UNSAFE_CHAR.test(line), `unsafe character in ${JSON.stringify(line)}`);
  assert.equal(t.split('\n')[0], 'Energy of host \uFFFDweb-1, 2026-11-22 12:38 UTC (Mars/Olympus\uFFFD)', 'unknown zone: the time in UTC, and said so');
  assert.ok(t.includes('  2026-11-16\uFFFD[2J'));
});

test('--json: the same document, every unsafe character escaped, still parsing to the same value', () => {
  const r = fixture('host_tariff');
  r.host = 'a\u202Eb\u{E0041}c\u0085';
  const json = reportJson(r);
  assert.ok(!UNSAFE_CHAR.test(json.replace(/\n/g, '')), 'no raw unsafe character');
  assert.ok(json.includes('"host": "a\\u202eb\\udb40\\udc41c\\u0085"'), 'escaped as JSON \\u escapes (a surrogate pair beyond U+FFFF)');
  assert.deepEqual(JSON.parse(json), r);
  assert.ok(json.endsWith('}\n'));
});

test('a fleet with no host yet says so instead of empty tables', () => {
  const r = fixture('fleet_no_tariff');
  Object.assign(r, { hosts: 0, per_host: [], daily: [], hourly: [], monthly: [] });
  assert.equal(formatEnergyReport(r), [
    'Energy of the fleet (0 hosts), 2026-11-22 13:38 (Europe/Paris)',
    "Tariff: none, so energy only in kWh (a --tariff on the collector, e.g. --tariff '0.25 EUR', adds costs)",
    '',
    'No host has reported power yet.',
    '',
  ].join('\n'));
});

test('hours across daylight saving: the skipped spring hour is not called missing, a really missing hour is', () => {
  // Europe/Paris, 2026-03-29: 02:00 jumps to 03:00. Now is 05:30 local (03:30 UTC).
  const r = fixture('host_tariff');
  r.time_zone = 'Europe/Paris';
  r.now_ms = Date.UTC(2026, 2, 29, 3, 30);
  const row = (label: string): RowJson => ({ label, kwh: 0.1, cost: 0.02, covered_s: 3600 });
  r.hourly = ['2026-03-29T00', '2026-03-29T01', '2026-03-29T03', '2026-03-29T05'].map(row);
  const hours = section(formatEnergyReport(r), 'Per hour').slice(2).map((l) => l.trim());
  assert.deepEqual(hours.map((l) => l.slice(0, 13)), ['2026-03-29T00', '2026-03-29T01', '2026-03-29T03', '2026-03-29T04', '2026-03-29T05']);
  assert.match(hours[3]!, /not measured$/);
  assert.equal(hours.filter((l) => l.endsWith('not measured')).length, 1);
});

test('a day table shorter than asked says from when it is measured', () => {
  const r = fixture('host_tariff');
  r.days = 30;
  const days = section(formatEnergyReport(r), 'Per day');
  assert.equal(days[0], 'Per day, the last 30 days');
  assert.equal(days.at(-1), '  nothing measured before 2026-11-16');
});

test('projection without a basis: dashes, and why', () => {
  const r = fixture('host_tariff');
  Object.assign(r.projection, { basis: 'none', daily_kwh: null, daily_cost: null, next_kwh: null, next_cost: null, month_kwh: null, month_cost: null });
  const p = section(formatEnergyReport(r), 'Projection');
  assert.equal(p[2], '  daily average                   -         -');
  assert.equal(p[3], '  next 7 days                     -         -');
  assert.equal(p[4], '  this month so far      18.637 kWh  4.37 EUR');
  assert.equal(p[5], '  this month, projected           -         -');
  assert.equal(p[6], '  basis: nothing measured yet to project from; 8d 11h of the month to go');
});

test('a host up for a couple of minutes today: its watt-hours, not 0.000', () => {
  const r = fixture('host_tariff');
  r.totals.today = { kwh: 0.0008, cost: 0.0002, covered_s: 120 };
  assert.match(section(formatEnergyReport(r), 'Totals')[2]!, /^ {2}today +0\.8 Wh +0\.00 EUR +0h 02m$/);
});

test('number and duration formats', () => {
  const cases: Array<[string, string, string]> = [
    ['kWh: 3 decimals, from 1 kWh', formatKwh(1234.56789), '1234.568 kWh'],
    ['kWh: 1 kWh', formatKwh(1), '1.000 kWh'],
    ['kWh: rounds up to 1 kWh', formatKwh(0.9996), '1.000 kWh'],
    ['Wh: below 1 kWh, whole from 100 Wh', formatKwh(0.8194), '819 Wh'],
    ['Wh: a decimal below 100 Wh', formatKwh(0.0374), '37.4 Wh'],
    ['Wh: a couple of minutes of a small machine', formatKwh(0.0008), '0.8 Wh'],
    ['Wh: non-zero never reads as zero', formatKwh(0.00001), '< 0.1 Wh'],
    ['Wh: zero', formatKwh(0), '0 Wh'],
    ['kWh: unknown', formatKwh(null), '-'],
    ['kWh: not finite', formatKwh(Number.NaN), '-'],
    ['money: 2 decimals and the code', formatMoney(17.294, 'EUR'), '17.29 EUR'],
    ['money: rounds half up', formatMoney(0.125, 'USD'), '0.13 USD'],
    ['money: unknown', formatMoney(null, 'EUR'), '-'],
    ['money: code made safe', formatMoney(1, 'E\u202EUR'), '1.00 E\uFFFDUR'],
    ['covered: seconds', formatCovered(42), '42s'],
    ['covered: a minute', formatCovered(60), '0h 01m'],
    ['covered: a day', formatCovered(86_400), '24h 00m'],
    ['covered: rounds to the minute', formatCovered(3 * 3600 + 29.6 * 60), '3h 30m'],
    ['covered: host-hours beyond a day', formatCovered(1_890_510), '525h 09m'],
    ['covered: negative', formatCovered(-1), '-'],
    ['duration: days and hours', formatDuration(732_314), '8d 11h'],
    ['duration: hours and minutes', formatDuration(19_260), '5h 21m'],
    ['instant: in its zone', formatInstant(Date.UTC(2026, 6, 1, 12, 0), 'Europe/Paris'), '2026-07-01 14:00'],
    ['instant: unknown zone', formatInstant(Date.UTC(2026, 6, 1, 12, 0), 'Nowhere/Else'), '2026-07-01 12:00 UTC'],
    ['safe text: long text cut', safeText('x'.repeat(400)).length === 300 && safeText('x'.repeat(400)).endsWith('…') ? 'cut' : 'not cut', 'cut'],
  ];
  for (const [name, got, want] of cases) assert.equal(got, want, name);
});

test('table: columns as wide as their widest cell, numbers right-aligned, no trailing spaces', () => {
  assert.deepEqual(table(['name', 'kWh', ''], [['a', '1.000', 'x'], ['long-name', '12.500', '']], ['left', 'right', 'left']), [
    '  name          kWh',
    '  a           1.000  x',
    '  long-name  12.500',
  ]);
});
