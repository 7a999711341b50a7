// The dashboard's own small chart module: scales, nice ticks, value formatting and SVG path data.
// Pure functions, no DOM. Plain JavaScript so that the same file runs in two places without a
// build step: node:test imports it directly (types in chart.d.ts beside it), and page.ts inlines
// it into the host page's one module script, whose hash the CSP names. Keep the two in step.

/** Unit steps of byte values; bytes are scaled by powers of 1024. */
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
/** What a missing value shows as. */
export const NONE = '–';

/** A finite number (not null, NaN or a string). */
export function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

/** 1536 -> '1.5 KiB'; three significant digits at most; null -> '–'. */
export function formatBytes(n) {
  if (!isNum(n)) return NONE;
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) { v /= 1024; i++; }
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${n < 0 ? '-' : ''}${trimZeros(v.toFixed(digits))} ${BYTE_UNITS[i]}`;
}

/** Bytes per second: '1.5 MiB/s'. */
export function formatRate(bytesPerSecond) {
  return isNum(bytesPerSecond) ? `${formatBytes(bytesPerSecond)}/s` : NONE;
}

/** 42.25 -> '42.3 %'. */
export function formatPercent(v) {
  return isNum(v) ? `${v.toFixed(1)} %` : NONE;
}

/** A plain number with at most `digits` decimals, trailing zeros dropped: 0.50 -> '0.5'. */
export function formatNumber(v, digits = 2) {
  return isNum(v) ? trimZeros(v.toFixed(digits)) : NONE;
}

export function formatCelsius(v) {
  return isNum(v) ? `${v.toFixed(1)} °C` : NONE;
}

export function formatWatts(v) {
  return isNum(v) ? `${formatNumber(v, v >= 100 ? 0 : 1)} W` : NONE;
}

/**
 * An amount of energy (kWh in) under 1 kWh as watt-hours: '0 Wh', '< 0.1 Wh', '0.8 Wh', '37.4 Wh',
 * '412 Wh'; null from 1 kWh on. The unit is chosen on the rounded figure: 0.9996 kWh is not
 * '1000 Wh'. Shared by formatKwh and `npm run energy` (scripts/energy_format.ts).
 */
export function formatWh(kwh) {
  const wh = Math.abs(kwh) * 1000;
  if (Math.round(wh) >= 1000) return null;
  if (wh === 0) return '0 Wh';
  const text = wh.toFixed(Math.round(wh * 10) < 1000 ? 1 : 0);
  if (Number(text) === 0) return kwh < 0 ? '> -0.1 Wh' : '< 0.1 Wh';
  return `${kwh < 0 ? '-' : ''}${text} Wh`;
}

/**
 * Energy, kWh in: '0 Wh', '< 0.1 Wh', '0.8 Wh', '37.4 Wh', '412 Wh' below 1 kWh, then '4.25 kWh',
 * '42.5 kWh', '425 kWh', then '12.3 MWh' from 10 000 kWh. Fixed decimals by size (no trimming),
 * so a column of them lines up. Below a kWh in Wh: a host that ran a few minutes drew a few Wh,
 * which thousandths of a kWh showed as '0.000 kWh'. A non-zero amount never reads as zero: under
 * 0.05 Wh (180 J: 3 s at 60 W) it reads '< 0.1 Wh'. scripts/energy_format.ts writes Wh alike.
 */
export function formatKwh(v) {
  if (!isNum(v)) return NONE;
  const a = Math.abs(v);
  const wh = formatWh(v);
  if (wh !== null) return wh;
  if (a >= 10_000) return `${(v / 1000).toFixed(1)} MWh`;
  return `${v.toFixed(a < 10 ? 2 : a < 100 ? 1 : 0)} kWh`;
}

/** Intl formatters by currency code; null where the code is not one Intl knows. */
const MONEY_FORMATS = new Map();

/**
 * An amount of money in `currency` (ISO 4217, e.g. 'EUR'): '€1.23', '$1,234.50', 'CHF 0.31'
 * (Intl's English format, as every other number on the page), with the currency's own decimals:
 * two for most, none for JPY. Without a currency (no tariff), the bare amount with two decimals;
 * no amount, '–'.
 */
export function formatMoney(amount, currency) {
  if (!isNum(amount)) return NONE;
  // -0.004 rounds to a negative zero: a cost is never below nothing.
  const v = Math.abs(amount) < 0.005 ? 0 : amount;
  if (typeof currency !== 'string' || !/^[A-Za-z]{3}$/.test(currency)) return v.toFixed(2);
  const code = currency.toUpperCase();
  let f = MONEY_FORMATS.get(code);
  if (f === undefined) {
    try {
      f = new Intl.NumberFormat('en', { style: 'currency', currency: code });
    } catch {
      f = null;
    }
    MONEY_FORMATS.set(code, f);
  }
  // null: a browser whose Intl cannot format currencies.
  return f === null ? `${v.toFixed(2)} ${code}` : f.format(v);
}

/**
 * The badge beside a host's watts, on both pages: its letter (a filled chip for measured, a
 * dashed one for estimated: app.css's .badge), the word a screen reader says instead, and the
 * explanation in its tooltip.
 */
export const POWER_BADGES = Object.freeze({
  measured: Object.freeze({ mark: 'M', label: 'measured', title: 'Measured: read from the hardware (RAPL energy counters or a power sensor)' }),
  estimated: Object.freeze({ mark: 'E', label: 'estimated', title: 'Estimated: the agent\'s model from CPU load and memory; no power sensor could be read' }),
});

/** Seconds as '3d 2h', '2h 5m', '4m 7s'. */
export function formatDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return NONE;
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${Math.floor(seconds % 60)}s`;
}

/**
 * The pages' "live" indicator: what it says and whether it shows as lost, from the time of the
 * last good answer (0: none yet) and whether the last try failed.
 */
export function liveState(lastOkAt, failed, nowMs, lostAfterMs) {
  if (lastOkAt === 0) return { lost: failed, text: failed ? 'not live: no answer from the collector' : 'connecting…' };
  const since = nowMs - lastOkAt;
  const lost = since > lostAfterMs;
  return { lost, text: lost ? `not live: last update ${(since / 1000).toFixed(0)} s ago` : `live · updated ${(since / 1000).toFixed(1)} s ago` };
}

function trimZeros(s) {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** The 1, 2, 2.5 or 5 times a power of ten nearest above `rough`: the step between ticks. */
export function niceStep(rough) {
  if (!isNum(rough) || rough <= 0) return 1;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const norm = rough / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
}

/**
 * Round tick values covering [min, max] with about `count` intervals. base 1024 picks a byte
 * unit first so ticks fall on 1, 2, 5 ... KiB/MiB/GiB. An empty span (all-zero or one point)
 * is widened so that a flat line sits inside the chart, not on its edge.
 */
export function niceTicks(min, max, count = 4, base = 10) {
  let lo = isNum(min) ? min : 0;
  let hi = isNum(max) ? max : lo;
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) / 10;
    if (lo >= 0 && lo - pad < 0) lo = 0; else lo -= pad;
    hi += pad;
  }
  let unit = 1;
  if (base === 1024) {
    while (Math.max(Math.abs(lo), Math.abs(hi)) / unit >= 1024 && unit < 1024 ** 6) unit *= 1024;
  }
  const step = niceStep((hi - lo) / unit / Math.max(1, count)) * unit;
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step);
  const ticks = [];
  for (let i = first; i <= last; i++) ticks.push(Math.abs(i * step) < step / 1e6 ? 0 : i * step);
  return { min: first * step, max: last * step, step, ticks };
}

/** A linear map from [d0, d1] to [r0, r1]; an empty domain maps to the middle of the range. */
export function linearScale(d0, d1, r0, r1) {
  const span = d1 - d0;
  if (!isNum(span) || span === 0) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** One decimal is finer than a pixel and keeps path strings short. */
function round1(v) {
  return Math.round(v * 10) / 10;
}

/**
 * SVG path data for one series: `t` (ms, ascending) and `values` of the same length. The line
 * breaks at a null value and where two samples are more than `maxGapMs` apart, so a gap in
 * the data shows as a gap; a lone point between gaps is drawn as a dot (zero-length segment
 * with the stroke's round cap).
 */
export function linePath(t, values, x, y, maxGapMs) {
  const parts = [];
  let run = 0;
  let prevT = -Infinity;
  for (let i = 0; i < t.length; i++) {
    const v = values[i];
    if (!isNum(v) || !isNum(t[i])) {
      if (run === 1) parts.push('h0');
      run = 0;
      continue;
    }
    if (run > 0 && t[i] - prevT > maxGapMs) {
      if (run === 1) parts.push('h0');
      run = 0;
    }
    parts.push(`${run === 0 ? 'M' : 'L'}${round1(x(t[i]))},${round1(y(v))}`);
    run++;
    prevT = t[i];
  }
  if (run === 1) parts.push('h0');
  return parts.join('');
}

/**
 * SVG path data of a sparkline in a `width` x `height` box: `values` spaced evenly across it,
 * oldest at the left, `lo`..`hi` from the bottom to the top (a value off the scale is drawn on
 * its edge). A null value is a gap in the line; a lone point is a dot, as in linePath.
 */
export function sparkPath(values, width, height, lo = 0, hi = 100) {
  const n = values.length;
  const x = n > 1 ? linearScale(0, n - 1, 0, width) : () => width;
  const y = linearScale(lo, hi, height, 0);
  const index = values.map((_, i) => i);
  const clamped = values.map((v) => (isNum(v) ? Math.min(hi, Math.max(lo, v)) : null));
  return linePath(index, clamped, x, y, 1);
}

/** Per kind of chart: how its values read and how its axis is scaled. */
const KINDS = {
  percent: { format: formatPercent, tick: (v) => `${formatNumber(v, 1)} %`, base: 10, fixed: [0, 100] },
  bytes: { format: formatBytes, tick: formatBytes, base: 1024, zero: true },
  rate: { format: formatRate, tick: formatRate, base: 1024, zero: true },
  number: { format: (v) => formatNumber(v), tick: (v) => formatNumber(v), base: 10, zero: true },
  celsius: { format: formatCelsius, tick: (v) => `${formatNumber(v, 1)} °C`, base: 10, zero: false },
  watts: { format: formatWatts, tick: formatWatts, base: 10, zero: true },
};

/** Shortest visible time window, ms: a chart of a few seconds' data still reads as a minute. */
export const MIN_WINDOW_MS = 60_000;
const TIME_STEPS_S = [10, 15, 30, 60, 120, 300, 600];

/** '-5 min', '-30 s', 'now': ticks counted back from now, at most about five. */
export function timeTicks(windowMs) {
  const stepS = TIME_STEPS_S.find((s) => windowMs / 1000 / s <= 5) ?? TIME_STEPS_S[TIME_STEPS_S.length - 1];
  const out = [];
  for (let back = 0; back * 1000 <= windowMs; back += stepS) {
    out.push({ backMs: back * 1000, label: back === 0 ? 'now' : back % 60 === 0 ? `-${back / 60} min` : `-${back} s` });
  }
  return out;
}

/**
 * Everything needed to draw a chart, in SVG user units: the plot box, y ticks with labels,
 * x ticks, and one path per line. `lines`: [{ values }] aligned with `t`. The window shows the
 * last `maxWindowMs` at most, and at least MIN_WINDOW_MS, ending at `nowMs`.
 */
export function chartModel({ t, lines, nowMs, maxWindowMs, stepMs, kind, width = 320, height = 120 }) {
  const k = KINDS[kind] ?? KINDS.number;
  const firstT = t.length > 0 ? t[0] : nowMs;
  const windowMs = Math.min(maxWindowMs, Math.max(MIN_WINDOW_MS, nowMs - firstT));
  const from = nowMs - windowMs;
  let lo = Infinity;
  let hi = -Infinity;
  for (const line of lines) {
    for (let i = 0; i < t.length; i++) {
      const v = line.values[i];
      if (t[i] >= from && isNum(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
  }
  if (lo > hi) { lo = 0; hi = 0; }
  if (k.zero) { lo = Math.min(0, lo); hi = Math.max(0, hi); }
  const ticks = k.fixed ? niceTicks(k.fixed[0], k.fixed[1], 4) : niceTicks(lo, hi, 3, k.base);
  const plot = { left: 62, right: width - 8, top: 8, bottom: height - 18 };
  const x = linearScale(from, nowMs, plot.left, plot.right);
  const y = linearScale(ticks.min, ticks.max, plot.bottom, plot.top);
  // Points left of the window are dropped, so no line runs out of the plot box.
  const first = t.findIndex((ms) => ms >= from);
  const ts = first < 0 ? [] : t.slice(first);
  return {
    width,
    height,
    plot,
    yTicks: ticks.ticks.map((v) => ({ y: round1(y(v)), label: k.tick(v) })),
    xTicks: timeTicks(windowMs).map((tick) => ({ x: round1(x(nowMs - tick.backMs)), label: tick.label })),
    paths: lines.map((line) => linePath(ts, first < 0 ? [] : line.values.slice(first), x, y, 2 * stepMs)),
    format: k.format,
  };
}
