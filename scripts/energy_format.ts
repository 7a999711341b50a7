/**
 * The text `npm run energy` prints for one EnergyReport (GET /api/energy): totals, per-day,
 * per-hour and per-month tables, the projection and, for the fleet, a table of hosts. Pure: the
 * report in, lines out; no clock (times come from the report's `now_ms`), no I/O.
 *
 * Units: energy in Wh below 1 kWh, as the dashboard writes it (dashboard/static/chart.js
 * formatKwh: a host up a few minutes drew a few Wh, which 3 decimals of a kWh showed as 0.000),
 * else kWh with 3 decimals, each figure with its unit; money with 2 and the currency code,
 * "measured" (the time covered by samples; host-time for the fleet) in hours and minutes. A day
 * or hour inside the table's span with no measurement at all, which the API leaves out, is
 * printed as "not measured", so a gap shows as a gap rather than as a missing line. Every
 * string that came from the collector (host names from agents above all) passes through
 * safeText first: a name cannot recolour the terminal, move the cursor or reorder the line.
 */
import type { EnergyReport, FiguresJson, HostEnergyJson, ProjectionJson, RowJson } from '../collector/energy_report.ts';
import { MAX_TARIFF_SPEC_CHARS, zoneOffsetMs } from '../collector/tariff.ts';
import { UNSAFE_CHARS_GLOBAL } from '../shared/unsafe_chars.ts';
import { formatWh } from '../dashboard/static/chart.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Shown for a value that is not known (no projection yet, an hour not measured). */
export const NONE = '-';
/** Longest string from the report printed whole (host names are at most 253 bytes). */
const MAX_TEXT_CHARS = 300;
const INDENT = '  ';
const GAP = '  ';

/** Replaces every control, format (bidi, zero-width) and separator character with U+FFFD, and cuts overlong text. */
export function safeText(s: string, maxChars = MAX_TEXT_CHARS): string {
  const clean = s.replace(UNSAFE_CHARS_GLOBAL, '\uFFFD');
  const chars = Array.from(clean);
  return chars.length > maxChars ? chars.slice(0, maxChars - 1).join('') + '…' : clean;
}

/** The report as JSON for `--json`: the same document, with every unsafe character escaped as \uXXXX (still valid JSON, same value). */
export function reportJson(report: unknown): string {
  // JSON.stringify escapes C0 inside strings, so a raw line feed is the indentation's own; every
  // other unsafe character is inside a string and becomes its escape (UTF-16 code units, as JSON
  // spells a character beyond U+FFFF: a surrogate pair).
  return JSON.stringify(report, null, 2).replace(UNSAFE_CHARS_GLOBAL, (c) =>
    c === '\n' ? c : Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')) + '\n';
}

/**
 * Energy, kWh in: '0 Wh', '< 0.1 Wh', '0.8 Wh', '37.4 Wh', '412 Wh' below 1 kWh, then '1.200 kWh'.
 * A non-zero amount never reads as zero.
 */
export function formatKwh(kwh: number | null): string {
  if (kwh === null || !Number.isFinite(kwh)) return NONE;
  // Below 1 kWh as the dashboard writes it; from there on, three decimals in a report.
  return formatWh(kwh) ?? `${kwh.toFixed(3)} kWh`;
}

export function formatMoney(amount: number | null, currency: string | null): string {
  if (amount === null || !Number.isFinite(amount)) return NONE;
  return currency === null ? amount.toFixed(2) : `${amount.toFixed(2)} ${safeText(currency)}`;
}

/** Seconds of coverage as `37h 05m` (under a minute: `42s`), so that 23h 10m of a day shows its gap. */
export function formatCovered(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return NONE;
  if (seconds < 59.5) return `${Math.round(seconds)}s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** A duration ahead, coarse: `8d 11h`, `5h 20m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return NONE;
  const minutes = Math.floor(seconds / 60);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  return days > 0 ? `${days}d ${hours}h` : `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** `ms` as local `YYYY-MM-DD HH:MM` in `zone`; UTC (and says so) when the zone is unknown here. */
export function formatInstant(ms: number, zone: string): string {
  if (!Number.isFinite(ms)) return NONE;
  const local = wallMs(ms, zone);
  const shown = local ?? ms;
  return `${new Date(shown).toISOString().slice(0, 16).replace('T', ' ')}${local === null ? ' UTC' : ''}`;
}

/** Local wall time of `ms` counted like UTC, or null if `zone` is not a zone this Node knows. */
function wallMs(ms: number, zone: string): number | null {
  try {
    return ms + zoneOffsetMs(zone, ms);
  } catch {
    return null;
  }
}

type Align = 'left' | 'right';

/** Display width of a cell: one column per code point (host names are mostly ASCII). */
const width = (s: string): number => Array.from(s).length;

/** Rows of cells in columns, each as wide as its widest cell, numbers right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[]): string[] {
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: readonly string[]): string =>
    INDENT + cells.map((c, i) => {
      const pad = ' '.repeat(widths[i]! - width(c));
      return align[i] === 'right' ? pad + c : c + pad;
    }).join(GAP).trimEnd();
  return [line(header), ...rows.map(line)];
}

interface Ctx {
  currency: string | null;
  priced: boolean;
}

/** Figures as cells: kWh, cost (when priced), measured. */
function figureCells(f: FiguresJson | null, ctx: Ctx): string[] {
  const cells = [f ? formatKwh(f.kwh) : NONE];
  if (ctx.priced) cells.push(f ? formatMoney(f.cost, ctx.currency) : NONE);
  cells.push(f ? formatCovered(f.covered_s) : NONE);
  return cells;
}

function figureHeader(first: string, ctx: Ctx): { header: string[]; align: Align[] } {
  const header = [first, 'energy', ...(ctx.priced ? ['cost'] : []), 'measured'];
  return { header, align: header.map((_, i) => (i === 0 ? 'left' : 'right')) };
}

/** Next label of a per-day (`2026-11-21`) table, or null if `label` is not one. */
function nextDay(label: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(label)) return null;
  const ms = Date.parse(`${label}T00:00:00Z`);
  return Number.isNaN(ms) ? null : new Date(ms + DAY_MS).toISOString().slice(0, 10);
}

/** Every day label from the table's first row to `last` (today), or null if they cannot be walked. */
function spanDays(rows: readonly RowJson[], last: string): string[] | null {
  const first = rows[0]?.label;
  if (first === undefined || first > last) return null;
  const out: string[] = [];
  for (let l: string | null = first; l !== null && l <= last; l = nextDay(l)) {
    out.push(l);
    if (out.length > 400) return null; // a report from elsewhere: never loop on it
  }
  return out;
}

/**
 * The local hour labels the clock showed at `nowMs` and at each of the `hours` - 1 real hours
 * before, oldest first: the fall-back hour shows once, the skipped spring hour not at all (the
 * API has no bucket for it either). Null if the zone is not one this Node knows.
 */
function hourLabels(nowMs: number, zone: string, hours: number): string[] | null {
  const seen = new Set<string>();
  for (let k = hours - 1; k >= 0; k--) {
    const w = wallMs(nowMs - k * HOUR_MS, zone);
    if (w === null) return null;
    seen.add(new Date(w).toISOString().slice(0, 13));
  }
  return [...seen];
}

/** Rows over their span, a missing one as null. Falls back to the rows as given. */
function withGaps(rows: readonly RowJson[], span: string[] | null): Array<{ label: string; row: RowJson | null }> {
  if (span === null || rows.length === 0) return rows.map((row) => ({ label: row.label, row }));
  const byLabel = new Map(rows.map((r) => [r.label, r]));
  const labels = [...new Set([...span.filter((l) => l >= rows[0]!.label), ...byLabel.keys()])].sort();
  return labels.map((label) => ({ label, row: byLabel.get(label) ?? null }));
}

function historyTable(title: string, first: string, rows: Array<{ label: string; row: RowJson | null }>, ctx: Ctx, note: string | null): string[] {
  const out = [title];
  if (rows.length === 0) return [...out, `${INDENT}nothing measured`];
  const { header, align } = figureHeader(first, ctx);
  const cells = rows.map(({ label, row }) => [safeText(label), ...figureCells(row, ctx), ...(row ? [] : ['not measured'])]);
  out.push(...table([...header, ''], cells, [...align, 'left']));
  if (note) out.push(`${INDENT}${note}`);
  return out;
}

const BASIS: Readonly<Record<string, string>> = {
  recent: 'the average of the last 7 complete days, over the time they were measured',
  'recent+today': 'less than a day measured in the last 7 complete days: today so far is included',
  fleet: "each host's own projection, summed (a host without one adds its month so far)",
  none: 'nothing measured yet to project from',
};

function projectionLines(p: ProjectionJson, ctx: Ctx): string[] {
  const header = ['', 'energy', ...(ctx.priced ? ['cost'] : [])];
  const align: Align[] = ['left', 'right', 'right'];
  const row = (name: string, kwh: number | null, cost: number | null): string[] => [name, formatKwh(kwh), ...(ctx.priced ? [formatMoney(cost, ctx.currency)] : [])];
  const days = `${p.days} day${p.days === 1 ? '' : 's'}`;
  return [
    `Projection, the next ${days}`,
    ...table(header, [
      row('daily average', p.daily_kwh, p.daily_cost),
      row(`next ${days}`, p.next_kwh, p.next_cost),
      row('this month so far', p.month_kwh_so_far, p.month_cost_so_far),
      row('this month, projected', p.month_kwh, p.month_cost),
    ], align),
    `${INDENT}basis: ${BASIS[p.basis] ?? safeText(String(p.basis))}; ${formatDuration(p.remaining_month_s)} of the month to go`,
  ];
}

/** What a host is ranked by: its projected month, else its month so far; cost when priced, else kWh. */
function rankOf(h: HostEnergyJson, priced: boolean): number {
  const p = h.projection;
  const v = priced ? (p.month_cost ?? p.month_cost_so_far) : (p.month_kwh ?? p.month_kwh_so_far);
  return v !== null && Number.isFinite(v) ? v : -1;
}

function perHostLines(hosts: readonly HostEnergyJson[], ctx: Ctx): string[] {
  const sorted = [...hosts].sort((a, b) => rankOf(b, ctx.priced) - rankOf(a, ctx.priced) || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  const header = ['host', 'today', ...(ctx.priced ? ['today cost'] : []), 'month', ...(ctx.priced ? ['month cost'] : []),
    'projected month', ...(ctx.priced ? ['projected month cost'] : [])];
  const rows = sorted.map((h) => [
    safeText(h.host),
    formatKwh(h.today.kwh), ...(ctx.priced ? [formatMoney(h.today.cost, ctx.currency)] : []),
    formatKwh(h.month.kwh), ...(ctx.priced ? [formatMoney(h.month.cost, ctx.currency)] : []),
    formatKwh(h.projection.month_kwh), ...(ctx.priced ? [formatMoney(h.projection.month_cost, ctx.currency)] : []),
  ]);
  return [`Per host, by projected month ${ctx.priced ? 'cost' : 'kWh'}`, ...table(header, rows, header.map((_, i) => (i === 0 ? 'left' : 'right')))];
}

/** The whole text for one report, ending in a newline. */
export function formatEnergyReport(r: EnergyReport): string {
  const zone = r.time_zone;
  const ctx: Ctx = { currency: r.currency, priced: r.currency !== null };
  const fleet = r.scope === 'fleet';
  const who = fleet ? `the fleet (${r.hosts} host${r.hosts === 1 ? '' : 's'})` : `host ${safeText(r.host ?? '?')}`;
  const out: string[] = [`Energy of ${who}, ${formatInstant(r.now_ms, zone)} (${safeText(zone)})`];
  out.push(ctx.priced
    ? `Tariff: ${safeText(r.tariff ?? '?', MAX_TARIFF_SPEC_CHARS)}`
    : "Tariff: none, so energy only in kWh (a --tariff on the collector, e.g. --tariff '0.25 EUR', adds costs)");
  if (fleet && r.hosts === 0) {
    out.push('', 'No host has reported power yet.');
    return out.join('\n') + '\n';
  }

  const t = r.totals;
  const { header, align } = figureHeader('', ctx);
  const since = t.since_ms === null ? null : `since ${formatInstant(t.since_ms, zone)}`;
  out.push('', 'Totals', ...table([...header, ''], [
    ['today', ...figureCells(t.today, ctx), ''],
    ['this month', ...figureCells(t.month, ctx), ''],
    ['since start', ...figureCells(t.total, ctx), since ?? ''],
  ], [...align, 'left']));

  const wall = wallMs(r.now_ms, zone);
  const today = wall === null ? null : new Date(wall).toISOString().slice(0, 10);
  const dayRows = withGaps(r.daily, today === null ? null : spanDays(r.daily, today));
  const firstDay = r.daily[0]?.label;
  const shortNote = firstDay !== undefined && dayRows.length < r.days ? `nothing measured before ${safeText(firstDay)}` : null;
  out.push('', ...historyTable(`Per day, the last ${r.days} day${r.days === 1 ? '' : 's'}`, 'day', dayRows, ctx, shortNote));

  const hours = hourLabels(r.now_ms, zone, 24);
  out.push('', ...historyTable('Per hour, the last 24 hours', 'hour', withGaps(r.hourly, hours), ctx, null));
  out.push('', ...historyTable('Per month', 'month', r.monthly.map((row) => ({ label: row.label, row })), ctx, null));
  out.push('', ...projectionLines(r.projection, ctx));
  if (fleet) {
    out.push('', ...perHostLines(r.per_host, ctx));
    out.push('', `measured: the time covered by samples, summed over the hosts (${r.hosts} host${r.hosts === 1 ? '' : 's'} for a whole day: ${formatCovered(r.hosts * 86_400)}).`);
  }
  return out.join('\n') + '\n';
}
