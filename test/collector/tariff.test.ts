/** collector/tariff.ts: the --tariff grammar, its rejections, and pricing across boundaries, midnight and DST. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_TARIFF_RULES, MINUTES_PER_WEEK, parseTariff, parseTimeZone, priceInterval, systemTimeZone, withTimeZone, zoneOffsetMs, type Tariff } from '../../collector/tariff.ts';
import { ConfigError, ERROR_CODES } from '../../shared/errors.ts';

const HOME = 'EUR; peak 0.2700 mon-fri 06:00-22:00; offpeak 0.2068 mon-fri 22:00-06:00; weekend 0.1500 sat-sun';
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const H = 3_600_000;
const at = (iso: string): number => Date.parse(iso);

function close(actual: number, expected: number, msg: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${msg}: got ${actual}, expected ${expected}`);
}

/** The period name a tariff gives to a minute of the week, e.g. 'fri 23:00'. */
function nameAt(t: Tariff, when: string): string {
  const [day, hhmm] = when.split(' ') as [string, string];
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return t.periods[t.periodAt[DAYS.indexOf(day) * 1440 + h * 60 + m]!]!.name;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, ERROR_CODES.CONFIG_INVALID);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('a flat tariff: one period, every minute', () => {
  const t = parseTariff(' 0.2516   EUR ', 'tariff', 'UTC');
  assert.equal(t.currency, 'EUR');
  assert.equal(t.spec, '0.2516 EUR');
  assert.deepEqual(t.periods, [{ name: 'flat', pricePerKwh: 0.2516 }]);
  // 2 kW for an hour and a half = 3 kWh; × 0.2516 = 0.7548.
  const p = priceInterval(t, at('2026-06-12T22:00:00Z'), at('2026-06-12T23:30:00Z'), 2000);
  close(p.kwh, 3, 'kwh');
  close(p.cost, 0.7548, 'cost');
  assert.deepEqual(p.byPeriod.map((x) => x.name), ['flat']);
  assert.equal(parseTariff('0 XXX').periods[0]!.pricePerKwh, 0);
});

test('the grammar: days, ranges, wrapping and whitespace', () => {
  const t = parseTariff(HOME, 'tariff', 'Europe/Paris');
  assert.deepEqual(t.periods.map((p) => [p.name, p.pricePerKwh]), [['peak', 0.27], ['offpeak', 0.2068], ['weekend', 0.15]]);
  const want: Array<[string, string]> = [
    ['mon 00:00', 'offpeak'], ['mon 05:59', 'offpeak'], ['mon 06:00', 'peak'], ['wed 21:59', 'peak'], ['wed 22:00', 'offpeak'],
    ['fri 23:59', 'offpeak'], ['sat 00:00', 'weekend'], ['sun 23:59', 'weekend'],
  ];
  for (const [when, name] of want) assert.equal(nameAt(t, when), name, when);
  const u = parseTariff('CHF;day 0.3 MON-FRI,sun 6:00-12:00,13:00-24:00;lunch 0.1 mon-fri,sun 12:00-13:00;night 0.2 fri-mon 00:00-06:00;night 0.2 tue-thu 00:00-06:00;sat 0.05 sat 06:00-24:00;', 'x', 'UTC');
  for (const [when, name] of [['mon 06:00', 'day'], ['sun 12:30', 'lunch'], ['sun 23:59', 'day'], ['sat 05:59', 'night'], ['sat 06:00', 'sat'], ['wed 03:00', 'night']] as const) {
    assert.equal(nameAt(u, when), name, when);
  }
  const w = parseTariff('EUR; cheap 0.1 daily 22:00-00:00,00:00-06:00; dear 0.3 daily 06:00-22:00');
  assert.equal(nameAt(w, 'thu 23:30'), 'cheap');
  assert.equal(nameAt(w, 'thu 05:00'), 'cheap');
  assert.equal(nameAt(w, 'thu 06:00'), 'dear');
});

test('runMinutes counts the minutes to the next change, across the week end', () => {
  const t = parseTariff(HOME, 'tariff', 'UTC');
  for (let w = 0; w < MINUTES_PER_WEEK; w += 37) {
    let n = 1;
    while (t.periodAt[(w + n) % MINUTES_PER_WEEK] === t.periodAt[w]) n++;
    assert.equal(t.runMinutes[w], n, `minute ${w}`);
  }
  assert.equal(t.runMinutes[5 * 1440], 2 * 1440, 'Saturday 00:00 runs to Monday 00:00, where offpeak begins');
  assert.equal(t.runMinutes[4 * 1440 + 22 * 60], 2 * 60, 'Friday 22:00 runs to Saturday 00:00');
  assert.equal(parseTariff('1 EUR').runMinutes[0], 1 << 30, 'a flat tariff never changes');
});

test('every bad spec is a ConfigError naming the setting and the problem', () => {
  const many = `EUR; ${Array.from({ length: MAX_TARIFF_RULES + 1 }, (_, i) => `p${i} 1 daily`).join('; ')}`;
  const cases: Array<{ name: string; spec: string; why: RegExp }> = [
    { name: 'gap: no weekend', spec: 'EUR; peak 0.27 mon-fri 06:00-22:00; offpeak 0.2068 mon-fri 22:00-06:00', why: /gap: no rule covers sat 00:00 to sun 24:00/ },
    { name: 'gap: an hour every day, the first named', spec: 'EUR; a 1 daily 00:00-06:00; b 2 daily 07:00-24:00', why: /gap: no rule covers mon 06:00 to mon 07:00/ },
    { name: 'gap: Tuesday only', spec: 'EUR; a 1 daily 00:00-06:00,07:00-24:00; b 2 mon,wed-sun 06:00-07:00', why: /gap: no rule covers tue 06:00 to tue 07:00/ },
    { name: 'gap: one minute', spec: 'EUR; a 1 daily 00:00-12:00; b 2 daily 12:01-24:00', why: /gap: no rule covers mon 12:00 to mon 12:01/ },
    { name: 'overlap: two rules', spec: 'EUR; a 1 daily; b 2 tue 05:00-06:00', why: /overlap: tue 05:00 to tue 06:00 is covered by rule 1 \(a\) and rule 2 \(b\)/ },
    { name: 'overlap: a wrapping range', spec: 'EUR; peak 0.27 mon-fri 06:00-22:00; off 0.2 mon-fri 21:00-06:00; we 0.1 sat-sun', why: /overlap: mon 21:00 to mon 22:00 is covered by rule 1 \(peak\) and rule 2 \(off\)/ },
    { name: 'overlap: within one rule', spec: 'EUR; a 1 daily 00:00-13:00,12:00-24:00', why: /overlap: mon 12:00 to mon 13:00 is covered by rule 1 \(a\) and rule 1 \(a\)/ },
    { name: 'currency lower case', spec: '0.25 eur', why: /currency "eur" must be three capital letters/ },
    { name: 'currency too long', spec: 'EURO; a 1 daily', why: /currency "EURO"/ },
    { name: 'currency with a digit', spec: 'E1R; a 1 daily', why: /currency "E1R"/ },
    { name: 'flat without currency', spec: '0.25', why: /expected "PRICE CURRENCY"/ },
    { name: 'flat with currency first', spec: 'EUR 0.25', why: /price "EUR"/ },
    { name: 'bad time: hour 25', spec: 'EUR; a 1 daily 25:00-01:00', why: /rule 1 .*bad time "25:00"/ },
    { name: 'bad time: minute 60', spec: 'EUR; a 1 daily 00:00-12:60', why: /bad time "12:60"/ },
    { name: 'bad time: 24:30', spec: 'EUR; a 1 daily 00:00-24:30', why: /bad time "24:30"/ },
    { name: 'bad time: not HH:MM', spec: 'EUR; a 1 daily 6h-22h', why: /bad time "6h"/ },
    { name: 'bad range: three ends', spec: 'EUR; a 1 daily 00:00-06:00-09:00', why: /bad time range "00:00-06:00-09:00"/ },
    { name: 'starts at 24:00', spec: 'EUR; a 1 daily 24:00-06:00', why: /cannot start at 24:00/ },
    { name: 'empty range', spec: 'EUR; a 1 daily 06:00-06:00', why: /"06:00-06:00" is empty/ },
    { name: 'unknown weekday', spec: 'EUR; a 1 mon-fry', why: /rule 1 "a 1 mon-fry": unknown weekday "fry"/ },
    { name: 'full weekday name', spec: 'EUR; a 1 monday', why: /unknown weekday "monday"/ },
    { name: 'a day twice', spec: 'EUR; a 1 mon,mon-sun', why: /mon is listed twice/ },
    { name: 'negative price', spec: 'EUR; a -0.1 daily', why: /price "-0.1" is not a number ≥ 0/ },
    { name: 'exponent price', spec: '1e3 EUR', why: /price "1e3"/ },
    { name: 'bad name', spec: 'EUR; Peak 1 daily', why: /bad period name "Peak"/ },
    { name: 'too few tokens', spec: 'EUR; peak 0.27', why: /expected NAME PRICE DAYS/ },
    { name: 'too many tokens', spec: 'EUR; peak 0.27 mon-fri 06:00-22:00 extra', why: /expected NAME PRICE DAYS/ },
    { name: 'one name, two prices', spec: 'EUR; off 0.2 mon-fri; off 0.1 sat-sun', why: /period off has two prices \(0.2 and 0.1\)/ },
    { name: 'no rules', spec: 'EUR;', why: /at least one rule/ },
    { name: 'too many rules', spec: many, why: /more than 32 rules \(33\)/ },
    { name: 'too long', spec: `EUR; ${'a 1 daily; '.repeat(400)}`, why: /longer than 4096/ },
  ];
  for (const c of cases) {
    const err = configError(() => parseTariff(c.spec, '--tariff', 'UTC'));
    assert.equal(err.setting, '--tariff', c.name);
    assert.match(err.message, c.why, c.name);
    assert.ok(err.message.startsWith('--tariff: '), c.name);
  }
});

test('time zones: checked and made canonical by Intl; the default is the process zone', () => {
  assert.equal(parseTimeZone('europe/paris'), 'Europe/Paris');
  assert.equal(parseTimeZone(' Asia/Kolkata '), 'Asia/Kolkata', 'the current name, not ICU\'s older Asia/Calcutta');
  assert.equal(parseTariff('1 EUR').timeZone, systemTimeZone());
  assert.equal(parseTariff('1 EUR', 'tariff', 'America/New_York').timeZone, 'America/New_York');
  assert.equal(withTimeZone(parseTariff('1 EUR', 'tariff', 'UTC'), 'Asia/Kolkata').timeZone, 'Asia/Kolkata');
  for (const bad of ['Mars/Base', '', '+01:00']) {
    assert.match(configError(() => parseTimeZone(bad, '--timezone')).message, /^--timezone: unknown time zone/, bad);
    assert.equal(configError(() => parseTariff('1 EUR', '--tariff', bad)).setting, '--tariff', bad);
  }
  assert.equal(zoneOffsetMs('Europe/Paris', at('2026-01-15T12:00:00Z')), H);
  assert.equal(zoneOffsetMs('Asia/Kolkata', at('2026-01-15T12:00:00Z')), 5.5 * H);
});

interface PriceCase {
  name: string;
  spec: string;
  zone: string;
  from: string;
  to: string;
  watts: number;
  /** [period, kWh, cost], worked out by hand in the comment above each case. */
  want: Array<[string, number, number]>;
}

const PRICE_CASES: PriceCase[] = [
  // Wed 10 June 2026 21:30-22:30 CEST at 2 kW: 0.5 h peak = 1 kWh × 0.27; 0.5 h offpeak = 1 kWh × 0.2068.
  { name: 'across the evening peak/off-peak boundary', spec: HOME, zone: 'Europe/Paris', from: '2026-06-10T19:30:00Z', to: '2026-06-10T20:30:00Z', watts: 2000, want: [['peak', 1, 0.27], ['offpeak', 1, 0.2068]] },
  // Thu 05:45-06:15 CEST at 4 kW: 0.25 h each side = 1 kWh offpeak (0.2068) and 1 kWh peak (0.27).
  { name: 'across the morning boundary', spec: HOME, zone: 'Europe/Paris', from: '2026-06-11T03:45:00Z', to: '2026-06-11T04:15:00Z', watts: 4000, want: [['peak', 1, 0.27], ['offpeak', 1, 0.2068]] },
  // Fri 12 June 23:00 -> Sat 01:00 CEST at 1 kW: Friday's offpeak 1 kWh (0.2068), Saturday's weekend 1 kWh (0.15).
  { name: 'across midnight into the weekend rule', spec: HOME, zone: 'Europe/Paris', from: '2026-06-12T21:00:00Z', to: '2026-06-12T23:00:00Z', watts: 1000, want: [['offpeak', 1, 0.2068], ['weekend', 1, 0.15]] },
  // Sun 23:30 -> Mon 00:30 CEST at 1 kW: 0.5 kWh weekend (0.075), 0.5 kWh Monday offpeak (0.1034).
  { name: 'across the end of the week', spec: HOME, zone: 'Europe/Paris', from: '2026-06-14T21:30:00Z', to: '2026-06-14T22:30:00Z', watts: 1000, want: [['offpeak', 0.5, 0.1034], ['weekend', 0.5, 0.075]] },
  // Mon 8 -> Mon 15 June, summer: peak 5 × 16 h = 80 kWh (21.6); offpeak 5 × 8 h = 40 kWh (8.272); weekend 48 kWh (7.2).
  { name: 'a whole summer week', spec: HOME, zone: 'Europe/Paris', from: '2026-06-07T22:00:00Z', to: '2026-06-14T22:00:00Z', watts: 1000, want: [['peak', 80, 21.6], ['offpeak', 40, 8.272], ['weekend', 48, 7.2]] },
  // Paris spring forward, Sun 29 March 2026 01:00Z: 01:00 CET -> 04:00 CEST is 2 real hours. The 02:30 boundary is never
  // on the clock, so it takes effect at the jump: night 01:00-02:00 = 1 kWh (0.1), day 03:00-04:00 = 1 kWh (0.3).
  { name: 'Paris spring forward: a boundary in the skipped hour', spec: 'EUR; night 0.1 daily 00:00-02:30; day 0.3 daily 02:30-24:00', zone: 'Europe/Paris', from: '2026-03-29T00:00:00Z', to: '2026-03-29T02:00:00Z', watts: 1000, want: [['night', 1, 0.1], ['day', 1, 0.3]] },
  // Same 2 hours; a rule covering only 02:00-03:00 gets nothing that day.
  { name: 'Paris spring forward: a rule only in the skipped hour', spec: 'EUR; a 0.1 daily 00:00-02:00; ghost 0.5 daily 02:00-03:00; b 0.3 daily 03:00-24:00', zone: 'Europe/Paris', from: '2026-03-29T00:00:00Z', to: '2026-03-29T02:00:00Z', watts: 1000, want: [['a', 1, 0.1], ['b', 1, 0.3]] },
  // Paris fall back, Sun 25 Oct 2026 01:00Z: 01:00 CEST -> 04:00 CET is 4 real hours; 02:00-03:00 shows twice: twice = 2 kWh (1.0).
  { name: 'Paris fall back: the repeated hour priced twice', spec: 'EUR; a 0.1 daily 00:00-02:00; twice 0.5 daily 02:00-03:00; b 0.3 daily 03:00-24:00', zone: 'Europe/Paris', from: '2026-10-24T23:00:00Z', to: '2026-10-25T03:00:00Z', watts: 1000, want: [['a', 1, 0.1], ['twice', 2, 1], ['b', 1, 0.3]] },
  // The week of the spring change has 167 h: peak 80, offpeak 40, weekend 47 (Sunday is 23 h).
  { name: 'Paris: the 167-hour week', spec: HOME, zone: 'Europe/Paris', from: '2026-03-22T23:00:00Z', to: '2026-03-29T22:00:00Z', watts: 1000, want: [['peak', 80, 21.6], ['offpeak', 40, 8.272], ['weekend', 47, 7.05]] },
  // The week of the autumn change has 169 h: weekend 49.
  { name: 'Paris: the 169-hour week', spec: HOME, zone: 'Europe/Paris', from: '2026-10-18T22:00:00Z', to: '2026-10-25T23:00:00Z', watts: 1000, want: [['peak', 80, 21.6], ['offpeak', 40, 8.272], ['weekend', 49, 7.35]] },
  // New York spring forward, Sun 8 March 2026 07:00Z: 01:00 EST -> 04:00 EDT is 2 real hours; ghost (02:00-03:00) gets none.
  { name: 'New York spring forward', spec: 'USD; a 0.1 daily 00:00-02:00; ghost 0.5 daily 02:00-03:00; b 0.3 daily 03:00-24:00', zone: 'America/New_York', from: '2026-03-08T06:00:00Z', to: '2026-03-08T08:00:00Z', watts: 1000, want: [['a', 1, 0.1], ['b', 1, 0.3]] },
  // New York fall back, Sun 1 Nov 2026 06:00Z: 00:00 EDT -> 03:00 EST is 4 real hours; 01:00-02:00 twice = 2 kWh (1.0).
  { name: 'New York fall back', spec: 'USD; a 0.1 daily 00:00-01:00; twice 0.5 daily 01:00-02:00; b 0.3 daily 02:00-24:00', zone: 'America/New_York', from: '2026-11-01T04:00:00Z', to: '2026-11-01T08:00:00Z', watts: 1000, want: [['a', 1, 0.1], ['twice', 2, 1], ['b', 1, 0.3]] },
  // Adelaide falls back at 03:00 ACDT (+10:30) = 16:30Z on Sun 5 April 2026, to 02:00 ACST; 02:00-03:00 shows twice.
  // 16:00Z-18:00Z is 02:30 ACDT -> 03:30 ACST, 2 real hours: 02:30-03:00 ACDT and 02:00-03:00 ACST are
  // twice = 1.5 kWh (0.75), 03:00-03:30 ACST is b = 0.5 kWh (0.15).
  { name: 'Adelaide fall back, at half past a UTC hour', spec: 'AUD; a 0.1 daily 00:00-02:00; twice 0.5 daily 02:00-03:00; b 0.3 daily 03:00-24:00', zone: 'Australia/Adelaide', from: '2026-04-04T16:00:00Z', to: '2026-04-04T18:00:00Z', watts: 1000, want: [['twice', 1.5, 0.75], ['b', 0.5, 0.15]] },
  // Kolkata is UTC+5:30 all year: 21:30-22:30 IST is 16:00-17:00Z; 1 kW: 0.5 kWh each side.
  { name: 'a half-hour zone', spec: HOME, zone: 'Asia/Kolkata', from: '2026-06-10T16:00:00Z', to: '2026-06-10T17:00:00Z', watts: 1000, want: [['peak', 0.5, 0.135], ['offpeak', 0.5, 0.1034]] },
  // 90 s across 22:00 at 600 W: 30 s peak = 0.005 kWh (0.00135), 60 s offpeak = 0.01 kWh (0.002068).
  { name: 'one sample interval across the boundary', spec: HOME, zone: 'Europe/Paris', from: '2026-06-10T19:59:30Z', to: '2026-06-10T20:01:00Z', watts: 600, want: [['peak', 0.005, 0.00135], ['offpeak', 0.01, 0.002068]] },
  { name: 'an empty interval', spec: HOME, zone: 'Europe/Paris', from: '2026-06-10T20:00:00Z', to: '2026-06-10T20:00:00Z', watts: 600, want: [] },
];

test('priceInterval: each part at its period rate (hand-checked cases)', () => {
  for (const c of PRICE_CASES) {
    const t = parseTariff(c.spec, 'tariff', c.zone);
    const p = priceInterval(t, at(c.from), at(c.to), c.watts);
    assert.deepEqual(p.byPeriod.map((x) => x.name), c.want.map((w) => w[0]), c.name);
    c.want.forEach(([name, kwh, cost], i) => {
      close(p.byPeriod[i]!.kwh, kwh, `${c.name}: ${name} kWh`);
      close(p.byPeriod[i]!.cost, cost, `${c.name}: ${name} cost`);
    });
    close(p.kwh, c.want.reduce((s, w) => s + w[1], 0), `${c.name}: kWh`);
    close(p.cost, c.want.reduce((s, w) => s + w[2], 0), `${c.name}: cost`);
  }
});

test('priceInterval refuses a reversed interval and bad watts', () => {
  const t = parseTariff(HOME, 'tariff', 'UTC');
  assert.throws(() => priceInterval(t, 2, 1, 100), RangeError);
  assert.throws(() => priceInterval(t, NaN, 1, 100), RangeError);
  assert.throws(() => priceInterval(t, 1, 2, -1), RangeError);
  assert.throws(() => priceInterval(t, 1, 2, Infinity), RangeError);
});

/** A simple PRNG so a failing seed can be replayed (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

test('priceInterval agrees minute by minute with Intl, and is additive (seed 20260329)', () => {
  const random = rng(20260329);
  // The oracle reads weekday and wall time from Intl for every minute, independently of tariff.ts.
  const oracle = (weekday: string, minute: number): string => (weekday === 'Sat' || weekday === 'Sun' ? 'weekend' : minute >= 360 && minute < 1320 ? 'peak' : 'offpeak');
  // Intervals around each zone's changes; Adelaide and Lord Howe change at half past a UTC hour.
  const zones: Array<[string, string[]]> = [
    ['Europe/Paris', ['2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z']],
    ['America/New_York', ['2026-03-08T07:00:00Z', '2026-11-01T06:00:00Z']],
    ['Australia/Adelaide', ['2026-04-04T16:30:00Z', '2026-10-03T16:30:00Z']],
    ['Australia/Lord_Howe', ['2026-04-04T15:00:00Z', '2026-10-03T15:30:00Z']],
    ['Asia/Kolkata', ['2026-06-12T18:30:00Z']],
  ];
  for (const [zone, anchors] of zones) {
    const t = parseTariff(HOME, 'tariff', zone);
    const fmt = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short', hour: 'numeric', minute: 'numeric', hourCycle: 'h23' });
    for (let i = 0; i < 8; i++) {
      const from = at(anchors[i % anchors.length]!) + Math.floor((random() - 0.6) * 40 * 60) * 60_000;
      const to = from + Math.floor(random() * 30 * 60) * 60_000;
      const byName = new Map<string, number>();
      for (let m = from; m < to; m += 60_000) {
        const parts = Object.fromEntries(fmt.formatToParts(m).map((p) => [p.type, p.value]));
        const name = oracle(parts['weekday']!, Number(parts['hour']) * 60 + Number(parts['minute']));
        byName.set(name, (byName.get(name) ?? 0) + 1);
      }
      const p = priceInterval(t, from, to, 1000);
      const got = new Map(p.byPeriod.map((x) => [x.name, Math.round(x.kwh * 60)]));
      assert.deepEqual(got, byName, `${zone} ${new Date(from).toISOString()} + ${(to - from) / 60_000} min`);
      const mid = from + Math.floor(random() * (to - from));
      const a = priceInterval(t, from, mid, 1000);
      const b = priceInterval(t, mid, to, 1000);
      close(a.cost + b.cost, p.cost, `${zone}: additive cost`);
    }
  }
});
