// Types of chart.js for the TypeScript that imports it (the tests). chart.js stays plain
// JavaScript so the browser runs it as it is; keep these signatures in step with it.

export const NONE: string;
export function isNum(v: unknown): v is number;
export function formatBytes(n: number | null | undefined): string;
export function formatRate(bytesPerSecond: number | null | undefined): string;
export function formatPercent(v: number | null | undefined): string;
export function formatNumber(v: number | null | undefined, digits?: number): string;
export function formatCelsius(v: number | null | undefined): string;
export function formatWatts(v: number | null | undefined): string;
export function formatDuration(seconds: number | null | undefined): string;
/** Energy, kWh in: Wh below 1 kWh ('0 Wh', '< 0.1 Wh', '0.8 Wh', '37.4 Wh', '412 Wh'), then '4.25 kWh', '42.5 kWh', '425 kWh', '12.3 MWh'. */
export function formatKwh(kwh: number | null | undefined): string;
export function formatWh(kwh: number): string | null;
/** Money in an ISO 4217 currency through Intl ('€1.23'); without one, the amount with two decimals. */
export type PowerSource = 'measured' | 'estimated';
/** The watts' badge: letter shown, word for screen readers, tooltip. */
export const POWER_BADGES: Readonly<Record<PowerSource, Readonly<{ mark: string; label: string; title: string }>>>;
export function formatMoney(amount: number | null | undefined, currency: string | null | undefined): string;

export function niceStep(rough: number): number;
export interface Ticks { min: number; max: number; step: number; ticks: number[] }
export function niceTicks(min: number, max: number, count?: number, base?: 10 | 1024): Ticks;
export function linearScale(d0: number, d1: number, r0: number, r1: number): (v: number) => number;
/** SVG path data; `x` maps ms to user units, `y` values to user units. */
export function linePath(t: readonly number[], values: readonly (number | null)[], x: (ms: number) => number, y: (v: number) => number, maxGapMs: number): string;

/** Sparkline path data: values evenly across `width`, lo..hi (default 0..100) bottom to top; null is a gap. */
export function sparkPath(values: readonly (number | null)[], width: number, height: number, lo?: number, hi?: number): string;

export const MIN_WINDOW_MS: number;
export function timeTicks(windowMs: number): Array<{ backMs: number; label: string }>;

export type ChartKind = 'percent' | 'bytes' | 'rate' | 'number' | 'celsius' | 'watts';
export interface ChartSpec {
  /** Sample times, ms since the epoch, ascending. */
  t: readonly number[];
  lines: ReadonlyArray<{ values: readonly (number | null)[] }>;
  nowMs: number;
  maxWindowMs: number;
  /** The history's step, ms; lines break where samples are more than two steps apart. */
  stepMs: number;
  kind: ChartKind;
  width?: number;
  height?: number;
}
export interface ChartModel {
  width: number;
  height: number;
  plot: { left: number; right: number; top: number; bottom: number };
  yTicks: Array<{ y: number; label: string }>;
  xTicks: Array<{ x: number; label: string }>;
  /** One path `d` per line, in the order of `lines`. */
  paths: string[];
  format: (v: number | null) => string;
}
export function chartModel(spec: ChartSpec): ChartModel;
export function liveState(lastOkAt: number, failed: boolean, nowMs: number, lostAfterMs: number): { lost: boolean; text: string };
