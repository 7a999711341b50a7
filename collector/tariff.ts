/**
 * The electricity tariff (`--tariff`), and the pricing of an interval of constant power against
 * it. Pure: no clock, no I/O. Local time comes from Intl (Node ships full ICU), no dependency.
 *
 *   TARIFF   = FLAT | SCHEDULE
 *   FLAT     = PRICE CURRENCY                             "0.2516 EUR"
 *   SCHEDULE = CURRENCY ( ";" RULE )+                      "EUR; peak 0.27 mon-fri 06:00-22:00; ..."
 *   RULE     = NAME PRICE DAYS [ RANGE ( "," RANGE )* ]    no RANGE: the whole day
 *   NAME     = [a-z][a-z0-9_-]{0,31}                      rules may share a name, and then their price
 *   PRICE    = digits [ "." digits ]                       per kWh in CURRENCY; no sign, no exponent
 *   CURRENCY = three capital letters (ISO 4217 form)       EUR, USD, CHF; XXX: "no currency"
 *   DAYS     = "daily" | DAY ( "," DAY )*                  DAY = mon..sun, or a range mon-fri (fri-mon wraps)
 *   RANGE    = HH:MM "-" HH:MM                             local wall-clock time; 24:00 only as an end
 *
 * A RANGE applies on each of its DAYS; when its end is not after its start it wraps within that
 * same day: "mon-fri 22:00-06:00" is, on each weekday, 00:00-06:00 and 22:00-24:00. So
 *
 *   EUR; peak 0.2700 mon-fri 06:00-22:00; offpeak 0.2068 mon-fri 22:00-06:00; offpeak 0.2068 sat-sun
 *
 * prices Friday 23:00 by Friday's 22:00-24:00 and Saturday 01:00 by the weekend rule. The rules
 * must cover every minute of the week exactly once; the first gap or overlap is named, by day
 * and time, in the ConfigError. Times are in one IANA zone (`timeZone`, default the process's).
 *
 * Daylight saving: every real instant is priced by the rule for its local wall time, so
 *  - spring forward (Paris 2026-03-29, 02:00 -> 03:00): 02:00-02:59 never shows on the clock;
 *    time before the jump takes the rule for 01:59, time after it the rule for 03:00. A boundary
 *    inside the skipped hour (02:30) takes effect at the jump, and a rule covering only that hour
 *    gets nothing that day;
 *  - fall back (Paris 2026-10-25, 03:00 -> 02:00): 02:00-02:59 shows twice, and both real hours
 *    take the rule for 02:xx.
 */
import { ConfigError } from '../shared/errors.ts';

export const MAX_TARIFF_RULES = 32;
export const MAX_TARIFF_SPEC_CHARS = 4096;
export const MINUTES_PER_WEEK = 10_080;
/** W × ms in one kWh. */
export const WATT_MS_PER_KWH = 3.6e9;
const MIN_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
/** 1970-01-01, day 0 of the epoch, was a Thursday: index 3 counting from Monday. */
const EPOCH_WEEKDAY = 3;

export interface TariffPeriod {
  readonly name: string;
  readonly pricePerKwh: number;
}

export interface Tariff {
  /** ISO 4217 form, e.g. EUR. */
  readonly currency: string;
  /** IANA name (parseTimeZone). */
  readonly timeZone: string;
  /** Distinct names, in the order the spec first names them; a flat tariff has one, `flat`. */
  readonly periods: readonly TariffPeriod[];
  /** The spec, whitespace collapsed (for --help and logs). */
  readonly spec: string;
  /** Index into `periods` of each minute of the week, Monday 00:00 first. */
  readonly periodAt: Uint8Array;
  /** Minutes from each minute of the week until the period changes (wrapping past Sunday). */
  readonly runMinutes: Int32Array;
}

const mod = (a: number, n: number): number => ((a % n) + n) % n;
/** What is wrong with the spec; parseTariff turns it into a ConfigError, and lets any other error through. */
class Reason extends Error {}
const quote = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** The process's zone (UTC when the system names none). */
export function systemTimeZone(): string {
  return new Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * An IANA zone name, checked by Intl. Its case is Intl's (`europe/paris` -> `Europe/Paris`), its
 * spelling the user's: ICU would turn Asia/Kolkata into the older Asia/Calcutta.
 */
export function parseTimeZone(raw: string, setting = 'timezone'): string {
  const name = raw.trim();
  try {
    const resolved = name === '' ? '' : new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
    if (resolved !== '') return resolved.toLowerCase() === name.toLowerCase() ? resolved : name;
  } catch {
    // falls through to the error below
  }
  throw new ConfigError(setting, `unknown time zone ${quote(raw)} (an IANA name such as Europe/Paris, America/New_York or UTC)`);
}

/** The same tariff in another zone (for a separate --timezone setting). */
export function withTimeZone(tariff: Tariff, timeZone: string, setting = 'timezone'): Tariff {
  return Object.freeze({ ...tariff, timeZone: parseTimeZone(timeZone, setting) });
}

const PRICE_RE = /^\d+(?:\.\d+)?$/;
const NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const TIME_RE = /^(\d{1,2}):(\d{2})$/;
const dayAt = (w: number): string => `${DAY_NAMES[Math.floor(w / 1440) % 7]} ${String(Math.floor((w % 1440) / 60)).padStart(2, '0')}:${String(w % 60).padStart(2, '0')}`;
/** An end of a run: the minute after a day's last as that day's 24:00. */
const endAt = (w: number): string => (w % 1440 === 0 ? `${DAY_NAMES[w / 1440 - 1]} 24:00` : dayAt(w));

function parseCurrency(text: string): string {
  if (!/^[A-Z]{3}$/.test(text)) throw new Reason(`currency ${quote(text)} must be three capital letters (ISO 4217), e.g. EUR`);
  return text;
}

function parsePrice(text: string): number {
  const v = Number(text);
  if (!PRICE_RE.test(text) || !Number.isFinite(v)) throw new Reason(`price ${quote(text)} is not a number ≥ 0 such as 0.2516`);
  return v;
}

/** Day indexes (Monday 0) of DAYS. */
function parseDays(text: string): number[] {
  if (text === 'daily') return [0, 1, 2, 3, 4, 5, 6];
  const days: number[] = [];
  for (const item of text.split(',')) {
    const ends = item.split('-').map((d) => DAY_NAMES.indexOf(d as (typeof DAY_NAMES)[number]));
    const bad = item.split('-').find((_, i) => ends[i]! < 0);
    if (bad !== undefined || ends.length > 2) throw new Reason(`unknown weekday ${quote(bad ?? item)} (mon tue wed thu fri sat sun, a range such as mon-fri, or daily)`);
    const [from, to = from] = ends as [number, number?];
    for (let d = from; ; d = (d + 1) % 7) {
      if (days.includes(d)) throw new Reason(`${DAY_NAMES[d]} is listed twice`);
      days.push(d);
      if (d === to) break;
    }
  }
  return days;
}

/** Minutes of the day from midnight; 24:00 is 1440. */
function parseTime(text: string): number {
  const m = TIME_RE.exec(text);
  const h = Number(m?.[1]);
  const min = Number(m?.[2]);
  if (!m || h > 24 || min > 59 || (h === 24 && min > 0)) throw new Reason(`bad time ${quote(text)} (HH:MM from 00:00 to 24:00)`);
  return h * 60 + min;
}

/** [start, end) minute ranges of one day, a wrapping range split in two. */
function parseRanges(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const item of text.split(',')) {
    const ends = item.split('-');
    if (ends.length !== 2) throw new Reason(`bad time range ${quote(item)} (HH:MM-HH:MM)`);
    const start = parseTime(ends[0]!);
    const end = parseTime(ends[1]!);
    if (start === 1440) throw new Reason(`time range ${quote(item)} cannot start at 24:00`);
    if (start === end) throw new Reason(`time range ${quote(item)} is empty (00:00-24:00 is the whole day)`);
    if (end > start) out.push([start, end]);
    else out.push([start, 1440], [0, end]);
  }
  return out;
}

interface Rule {
  name: string;
  price: number;
  days: number[];
  ranges: Array<[number, number]>;
}

function parseRule(text: string): Rule {
  const tokens = text.split(/\s+/);
  if (tokens.length < 3 || tokens.length > 4) throw new Reason('expected NAME PRICE DAYS [HH:MM-HH:MM], e.g. "peak 0.27 mon-fri 06:00-22:00"');
  const [name, price, days, ranges = '00:00-24:00'] = tokens as [string, string, string, string?];
  if (!NAME_RE.test(name)) throw new Reason(`bad period name ${quote(name)} (a-z first, then a-z, 0-9, _ or -, at most 32)`);
  return { name, price: parsePrice(price), days: parseDays(days.toLowerCase()), ranges: parseRanges(ranges) };
}

/**
 * Fills each minute of the week with the index of the rule covering it; throws naming the first
 * minute, in week order from Monday 00:00, that no rule or two rules cover.
 */
function coverWeek(rules: readonly Rule[]): Int16Array {
  const owner = new Int16Array(MINUTES_PER_WEEK).fill(-1);
  const second = new Int16Array(MINUTES_PER_WEEK).fill(-1);
  rules.forEach((r, i) => {
    for (const d of r.days) {
      for (const [start, end] of r.ranges) {
        for (let w = d * 1440 + start; w < d * 1440 + end; w++) {
          if (owner[w]! < 0) owner[w] = i;
          else if (second[w]! < 0) second[w] = i;
        }
      }
    }
  });
  const what = (i: number): string => `rule ${i + 1} (${rules[i]!.name})`;
  for (let w = 0; w < MINUTES_PER_WEEK; w++) {
    if (owner[w]! >= 0 && second[w]! < 0) continue;
    let end = w + 1;
    while (end < MINUTES_PER_WEEK && owner[end] === owner[w] && second[end] === second[w]) end++;
    if (owner[w]! < 0) throw new Reason(`gap: no rule covers ${dayAt(w)} to ${endAt(end)} (every minute of the week needs exactly one)`);
    throw new Reason(`overlap: ${dayAt(w)} to ${endAt(end)} is covered by ${what(owner[w]!)} and ${what(second[w]!)}`);
  }
  return owner;
}

/** For each minute, the minutes until the period changes; a single period never changes. */
function runLengths(periodAt: Uint8Array): Int32Array {
  const n = MINUTES_PER_WEEK;
  const run = new Int32Array(n);
  let change = 1;
  while (change < n && periodAt[change] === periodAt[change - 1]) change++;
  if (change === n) return run.fill(1 << 30);
  // Backwards from the minute before a change, so every successor's run is known first.
  for (let k = 1; k <= n; k++) {
    const w = mod(change - k, n);
    const next = (w + 1) % n;
    run[w] = periodAt[w] === periodAt[next] ? run[next]! + 1 : 1;
  }
  return run;
}

/**
 * Parses a `--tariff` value (grammar above). Throws ConfigError(setting) naming the rule at
 * fault and why, or the first gap or overlap of the schedule.
 */
export function parseTariff(spec: string, setting = 'tariff', timeZone: string = systemTimeZone()): Tariff {
  const zone = parseTimeZone(timeZone, setting);
  const text = spec.trim().replace(/\s+/g, ' ');
  if (text.length > MAX_TARIFF_SPEC_CHARS) throw new ConfigError(setting, `longer than ${MAX_TARIFF_SPEC_CHARS} characters`);
  const parts = text.split(';').map((s) => s.trim());
  const build = (currency: string, periods: TariffPeriod[], periodAt: Uint8Array): Tariff =>
    Object.freeze({ currency, timeZone: zone, periods: Object.freeze(periods.map((p) => Object.freeze(p))), spec: text, periodAt, runMinutes: runLengths(periodAt) });
  try {
    if (parts.length === 1) {
      const m = /^(\S+) (\S+)$/.exec(text);
      if (!m) throw new Reason('expected "PRICE CURRENCY" (e.g. "0.2516 EUR") or "CURRENCY; RULE; RULE ..." (e.g. "EUR; peak 0.27 mon-fri 06:00-22:00; ...")');
      const price = parsePrice(m[1]!);
      return build(parseCurrency(m[2]!), [{ name: 'flat', pricePerKwh: price }], new Uint8Array(MINUTES_PER_WEEK));
    }
    const currency = parseCurrency(parts[0]!);
    const texts = parts.slice(1).filter((s) => s !== '');
    if (texts.length === 0) throw new Reason('a schedule needs at least one rule after the currency');
    if (texts.length > MAX_TARIFF_RULES) throw new Reason(`more than ${MAX_TARIFF_RULES} rules (${texts.length})`);
    const rules = texts.map((t, i) => {
      try {
        return parseRule(t);
      } catch (err) {
        if (err instanceof Reason) err.message = `rule ${i + 1} ${quote(t)}: ${err.message}`;
        throw err;
      }
    });
    const periods: TariffPeriod[] = [];
    for (const r of rules) {
      const p = periods.find((x) => x.name === r.name);
      if (p && p.pricePerKwh !== r.price) throw new Reason(`period ${r.name} has two prices (${p.pricePerKwh} and ${r.price})`);
      if (!p) periods.push({ name: r.name, pricePerKwh: r.price });
    }
    const owner = coverWeek(rules);
    const periodOfRule = rules.map((r) => periods.findIndex((p) => p.name === r.name));
    const periodAt = Uint8Array.from(owner, (i) => periodOfRule[i]!);
    return build(currency, periods, periodAt);
  } catch (err) {
    throw err instanceof Reason ? new ConfigError(setting, err.message) : err;
  }
}

// ---------- local time: UTC offsets from Intl, cached by the hour ----------

/** The offset over one UTC hour: `off0` before `transAt`, `off1` from it (Infinity: no change). */
interface HourOffsets {
  off0: number;
  transAt: number;
  off1: number;
}
/** Hours cached per zone; a year is 8,760, and 1-second samples touch one hour at a time. */
const MAX_CACHED_HOURS = 4096;

class ZoneClock {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly hours = new Map<number, HourOffsets>();

  constructor(timeZone: string) {
    const n = 'numeric';
    this.fmt = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: n, month: n, day: n, hour: n, minute: n, second: n });
  }

  /** Local minus UTC at `ms`, straight from Intl (which resolves whole seconds, as tzdb does). */
  private probe(ms: number): number {
    const s = Math.floor(ms / 1000) * 1000;
    const f: Record<string, number> = {};
    for (const p of this.fmt.formatToParts(s)) if (p.type !== 'literal') f[p.type] = Number(p.value);
    return Date.UTC(f['year']!, f['month']! - 1, f['day']!, f['hour']!, f['minute']!, f['second']!) - s;
  }

  /** Assumes at most one offset change in an hour (true of every zone in use). */
  private hour(h: number): HourOffsets {
    let e = this.hours.get(h);
    if (e) return e;
    const off0 = this.probe(h * HOUR_MS);
    const off1 = this.probe((h + 1) * HOUR_MS);
    let transAt = Infinity;
    if (off0 !== off1) {
      let lo = h * HOUR_MS;
      let hi = (h + 1) * HOUR_MS;
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (this.probe(mid) === off0) lo = mid;
        else hi = mid;
      }
      transAt = hi;
    }
    if (this.hours.size >= MAX_CACHED_HOURS) this.hours.clear();
    e = { off0, transAt, off1 };
    this.hours.set(h, e);
    return e;
  }

  /** The offset at `ms`, and an instant after `ms` before which it does not change. */
  at(ms: number): { offsetMs: number; untilMs: number } {
    const h = Math.floor(ms / HOUR_MS);
    const e = this.hour(h);
    return ms < e.transAt ? { offsetMs: e.off0, untilMs: Math.min(e.transAt, (h + 1) * HOUR_MS) } : { offsetMs: e.off1, untilMs: (h + 1) * HOUR_MS };
  }
}

const clocks = new Map<string, ZoneClock>();
function zoneClock(timeZone: string): ZoneClock {
  let c = clocks.get(timeZone);
  if (!c) clocks.set(timeZone, (c = new ZoneClock(timeZone)));
  return c;
}

/** Local wall time minus UTC at instant `ms`, in ms (+3,600,000 for Paris in winter). */
export function zoneOffsetMs(timeZone: string, ms: number): number {
  return zoneClock(timeZone).at(ms).offsetMs;
}

/**
 * Calls `fn` for consecutive pieces of [fromMs, toMs) in each of which the period is one, and
 * the local hour too when `splitAtLocalHours`. `wallMs` is the piece's start as local wall time
 * counted like UTC (so new Date(wallMs).getUTCHours() is the local hour).
 */
export function forEachSegment(
  tariff: Tariff, fromMs: number, toMs: number, splitAtLocalHours: boolean,
  fn: (startMs: number, endMs: number, period: number, wallMs: number) => void,
): void {
  const clock = zoneClock(tariff.timeZone);
  for (let t = fromMs; t < toMs; ) {
    const { offsetMs, untilMs } = clock.at(t);
    const wall = t + offsetMs;
    const minute = Math.floor(wall / MIN_MS);
    const w = mod(minute + EPOCH_WEEKDAY * 1440, MINUTES_PER_WEEK);
    let wallEnd = (minute + tariff.runMinutes[w]!) * MIN_MS;
    if (splitAtLocalHours) wallEnd = Math.min(wallEnd, (Math.floor(wall / HOUR_MS) + 1) * HOUR_MS);
    const end = Math.min(toMs, untilMs, t + (wallEnd - wall));
    if (!(end > t)) throw new Error(`no progress at ${t} in ${tariff.timeZone}`); // a bug here must not hang the collector
    fn(t, end, tariff.periodAt[w]!, wall);
    t = end;
  }
}

export interface PricedEnergy {
  kwh: number;
  /** In tariff.currency. */
  cost: number;
  /** The periods the interval touched, in the tariff's order. */
  byPeriod: Array<{ name: string; kwh: number; cost: number }>;
}

/**
 * The energy of `watts` drawn evenly over [fromMs, toMs) and its price, each part of the interval
 * at the rate of the period its local time falls in.
 */
export function priceInterval(tariff: Tariff, fromMs: number, toMs: number, watts: number): PricedEnergy {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || toMs < fromMs) throw new RangeError(`bad interval ${fromMs}..${toMs}`);
  if (!Number.isFinite(watts) || watts < 0) throw new RangeError(`watts must be finite and ≥ 0, got ${watts}`);
  const ms = new Float64Array(tariff.periods.length);
  forEachSegment(tariff, fromMs, toMs, false, (start, end, p) => {
    ms[p] += end - start;
  });
  const out: PricedEnergy = { kwh: 0, cost: 0, byPeriod: [] };
  tariff.periods.forEach((p, i) => {
    if (ms[i] === 0) return;
    const kwh = (watts * ms[i]!) / WATT_MS_PER_KWH;
    const cost = kwh * p.pricePerKwh;
    out.byPeriod.push({ name: p.name, kwh, cost });
    out.kwh += kwh;
    out.cost += cost;
  });
  return out;
}
