/**
 * The explicit list of reading collectors, and the one place that runs them. Each collector runs
 * under its own timeout; one that throws or hangs loses only its own readings, each named in
 * `missing` with the reason, and never holds up the sample.
 *
 * Three classes (Collector.kind): the fast class runs on every sample; the slow class (walks every
 * process, statfs per mount, spawns for the GPU) runs on its own timer and its last result is
 * merged into every sample until the next run replaces it (Sampler); the derived class (power)
 * runs on every sample after those two, with what they gave.
 */
import { MAX_MISSING_ENTRIES, POWER_SOURCES, READINGS, TABLES, type ReadingName, type Readings, type TableName } from '../../shared/protocol.ts';
import { cpuCollector } from './cpu.ts';
import { diskCollector } from './disk.ts';
import { filesystemCollector } from './filesystem.ts';
import { gpuCollector } from './gpu.ts';
import { loadCollector } from './load.ts';
import { memoryCollector } from './memory.ts';
import { networkCollector } from './network.ts';
import { PowerDrawCollector } from './power_draw.ts';
import { processCountsCollector, topProcessesCollector } from './processes.ts';
import { temperatureCollector } from './temperature.ts';
import type { Collector, CollectResult } from './types.ts';
import { cleanText, reasonFromError, shortReason, withTimeout } from './types.ts';
import { uptimeCollector } from './uptime.ts';

/** The list, with `power` as its power collector: the agent builds one from its settings (agent.ts). */
export function collectorsWith(power: Collector): readonly Collector[] {
  return Object.freeze([
    cpuCollector, loadCollector, memoryCollector, uptimeCollector, diskCollector, networkCollector,
    temperatureCollector, processCountsCollector, topProcessesCollector, filesystemCollector, gpuCollector,
    power,
  ]);
}

/** The list with a power collector of default settings (/sys/class/powercap, this CPU's class). */
export const COLLECTORS: readonly Collector[] = collectorsWith(new PowerDrawCollector());

/** Protocol readings no collector takes yet, and the reason every sample gives for them. None today. */
export const NOT_COLLECTED: Readonly<Partial<Record<ReadingName | TableName, string>>> = Object.freeze({});

export const SLOW_OFF_REASON = 'slow readings off (--slow-interval 0)';
export const SLOW_PENDING_REASON = 'slow readings not taken yet (first slow run in progress)';
export const SLOW_NOT_RUN_REASON = 'slow readings are taken by the Sampler, not by collectAll';

/** Runs one collector; a throw before its promise exists, or a malformed result, becomes a rejection. */
async function runOne(collector: Collector, sample: Readonly<CollectResult> | undefined): Promise<CollectResult> {
  const result = await collector.collect(sample);
  if (typeof result?.readings !== 'object' || typeof result?.missing !== 'object') {
    throw new TypeError(`${collector.name} collector returned no readings/missing maps`);
  }
  return result;
}

/**
 * Runs `collectors` in parallel, each bounded by `timeoutMs`, and merges what they return. Never
 * rejects. `sample`, the sample so far, is handed to each (derived collectors use it).
 */
export async function collectFrom(collectors: readonly Collector[], timeoutMs: number, sample?: Readonly<CollectResult>): Promise<CollectResult> {
  const settled = await Promise.allSettled(collectors.map((c) => withTimeout(runOne(c, sample), timeoutMs, `${c.name} collector`)));
  const readings: Readings = {};
  const missing: Record<string, string> = {};
  const fields: NonNullable<CollectResult['fields']> = {};
  settled.forEach((outcome, i) => {
    const collector = collectors[i]!;
    if (outcome.status === 'rejected') {
      const reason = reasonFromError(outcome.reason);
      for (const name of collector.provides) missing[name] = reason;
      return;
    }
    Object.assign(readings, outcome.value.readings);
    Object.assign(missing, outcome.value.missing);
    Object.assign(fields, outcome.value.fields);
    // A collector that drops a reading without saying why still gets it named in `missing`.
    for (const name of collector.provides) {
      if (readings[name] === undefined && missing[name] === undefined) missing[name] = `${collector.name} collector gave no value`;
    }
  });
  return Object.keys(fields).length > 0 ? { readings, missing, fields } : { readings, missing };
}

/** Adds `more` to `result`: its readings, reasons and fields win. */
function mergeInto(result: CollectResult, more: CollectResult): void {
  Object.assign(result.readings, more.readings);
  Object.assign(result.missing, more.missing);
  if (more.fields !== undefined) result.fields = { ...result.fields, ...more.fields };
}

/** collectFrom, with a bad timeoutMs (a programmer mistake, thrown by withTimeout) still giving a sample. */
async function collectOrExplain(collectors: readonly Collector[], timeoutMs: number, sample?: Readonly<CollectResult>): Promise<CollectResult> {
  try {
    return await collectFrom(collectors, timeoutMs, sample);
  } catch (err) {
    const reason = reasonFromError(err);
    return { readings: {}, missing: Object.fromEntries(namesOf(collectors).map((n) => [n, reason])) };
  }
}

const isSlow = (c: Collector): boolean => c.kind === 'slow';
const isDerived = (c: Collector): boolean => c.kind === 'derived';
const isFast = (c: Collector): boolean => !isSlow(c) && !isDerived(c);
const namesOf = (cs: readonly Collector[]): Array<ReadingName | TableName> => cs.flatMap((c) => c.provides);
const RELATIONS: ReadonlyArray<readonly [ReadingName, ReadingName]> = [
  ['mem_used_bytes', 'mem_total_bytes'], ['mem_available_bytes', 'mem_total_bytes'], ['swap_used_bytes', 'swap_total_bytes'],
  ['mem_cached_bytes', 'mem_total_bytes'], ['mem_buffers_bytes', 'mem_total_bytes'], ['procs_running', 'procs_total'], ['procs_blocked', 'procs_total'],
];

function validNumber(kind: string, v: unknown): v is number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (kind === 'celsius') return v >= -273.15 && v <= 1000;
  if (v < 0 || v > Number.MAX_SAFE_INTEGER) return false;
  if (kind === 'percent') return v <= 100;
  return kind === 'bytes' || kind === 'count' ? Number.isInteger(v) : true;
}

/**
 * The last guard before the wire, so that no collector's slip makes the collector refuse the
 * whole sample: a value parseSample would refuse moves to `missing`, a part above its whole is
 * capped, table rows are cut to maxRows and text cells to their maxBytes, reasons to one short line,
 * and `missing` to MAX_MISSING_ENTRIES. power_source goes only with a power_w, and only a known one.
 */
export function fitToProtocol(result: CollectResult): CollectResult {
  const readings: Record<string, unknown> = {};
  const missing: Record<string, string> = {};
  for (const [name, reason] of Object.entries(result.missing)) missing[name] = shortReason(String(reason));
  const src = result.readings as Record<string, unknown>;
  for (const r of READINGS) {
    const v = src[r.name];
    if (v === undefined) continue;
    if (validNumber(r.kind, v)) readings[r.name] = v;
    else missing[r.name] = 'collector gave a value out of the protocol range';
  }
  for (const [part, whole] of RELATIONS) {
    const p = readings[part] as number | undefined;
    const w = readings[whole] as number | undefined;
    if (p !== undefined && w !== undefined && p > w) readings[part] = w;
  }
  for (const t of TABLES) {
    const rows = src[t.name];
    if (rows === undefined) continue;
    if (!Array.isArray(rows)) { missing[t.name] = 'collector gave a table that is not an array'; continue; }
    const cut = rows.slice(0, t.maxRows);
    const cols = t.columns as ReadonlyArray<{ name: string; kind: string; maxBytes?: number }>;
    if (cols.length === 1) {
      if (cut.every((x) => validNumber(cols[0]!.kind, x))) readings[t.name] = cut;
      else missing[t.name] = 'collector gave a value out of the protocol range';
      continue;
    }
    readings[t.name] = cut.filter((row) => typeof row === 'object' && row !== null).map((row: Record<string, unknown>) => {
      const out: Record<string, unknown> = {};
      for (const c of cols) {
        const cell = row[c.name];
        if (c.kind === 'text') { if (typeof cell === 'string') out[c.name] = cleanText(cell, c.maxBytes!); }
        else if (validNumber(c.kind, cell)) out[c.name] = cell;
      }
      return out;
    }).filter((row) => cols[0]!.kind !== 'text' || typeof row[cols[0]!.name] === 'string');
  }
  const source = result.fields?.power_source;
  let fields: CollectResult['fields'];
  if (source !== undefined && readings['power_w'] !== undefined) {
    if ((POWER_SOURCES as readonly string[]).includes(source)) fields = { power_source: source };
    else { delete readings['power_w']; missing['power_w'] = 'collector gave an unknown power_source'; }
  }
  const entries = Object.entries(missing).slice(0, MAX_MISSING_ENTRIES);
  return { readings: readings as Readings, missing: Object.fromEntries(entries), ...(fields ? { fields } : {}) };
}

/** Names the readings no collector takes, without hiding a value some collector did give. */
function addNotCollected(result: CollectResult): void {
  for (const [name, reason] of Object.entries(NOT_COLLECTED)) {
    if ((result.readings as Record<string, unknown>)[name] === undefined) result.missing[name] ??= reason;
  }
}

/** One sample from the fast and derived classes of COLLECTORS; the slow class is named missing (the Sampler runs it). */
export async function collectAll(timeoutMs: number): Promise<CollectResult> {
  const result = await collectFrom(COLLECTORS.filter(isFast), timeoutMs);
  for (const name of namesOf(COLLECTORS.filter(isSlow))) result.missing[name] ??= SLOW_NOT_RUN_REASON;
  mergeInto(result, await collectOrExplain(COLLECTORS.filter(isDerived), timeoutMs, result));
  addNotCollected(result);
  return fitToProtocol(result);
}

export interface SamplerOptions {
  /** How often the slow class runs, ms; 0 = slow class off. */
  slowIntervalMs: number;
  /** Time limit of each slow collector, ms; default min(0.8 × slowIntervalMs, 10_000). */
  slowTimeoutMs?: number;
  /** Default COLLECTORS. */
  collectors?: readonly Collector[];
  /** Clock for the age of the slow result, ms; default Date.now. */
  now?: () => number;
}

/** A slow result older than this many slow intervals (plus its time limit) is not sent. */
const STALE_INTERVALS = 3;

export class Sampler {
  readonly #fast: readonly Collector[];
  readonly #slow: readonly Collector[];
  readonly #derived: readonly Collector[];
  readonly #slowIntervalMs: number;
  readonly #slowTimeoutMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #slowRunning = false;
  #slowResult: CollectResult | undefined;
  #slowAt = 0;

  constructor(options: SamplerOptions) {
    const { slowIntervalMs } = options;
    if (!Number.isFinite(slowIntervalMs) || slowIntervalMs < 0) throw new RangeError(`slowIntervalMs must be 0 or a positive number, got ${slowIntervalMs}`);
    const slowTimeoutMs = options.slowTimeoutMs ?? Math.min(0.8 * slowIntervalMs, 10_000);
    if (slowIntervalMs > 0 && (!Number.isFinite(slowTimeoutMs) || slowTimeoutMs <= 0)) throw new RangeError(`slowTimeoutMs must be a positive number, got ${slowTimeoutMs}`);
    const collectors = options.collectors ?? COLLECTORS;
    this.#fast = collectors.filter(isFast);
    this.#slow = collectors.filter(isSlow);
    this.#derived = collectors.filter(isDerived);
    this.#slowIntervalMs = slowIntervalMs;
    this.#slowTimeoutMs = slowTimeoutMs;
    this.#now = options.now ?? Date.now;
  }

  /** Starts the slow class: runs it at once, then every slowIntervalMs (timer unref'd). */
  start(): void {
    if (this.#slowIntervalMs === 0 || this.#timer !== undefined || this.#slow.length === 0) return;
    void this.#runSlow();
    this.#timer = setInterval(() => void this.#runSlow(), this.#slowIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Runs the fast class under timeoutMs, merges the slow class's last result (carried until
   * refreshed), then runs the derived class on what that gave, under timeoutMs too (it does no
   * slow work: the bound is for a bug). Never rejects.
   */
  async sample(timeoutMs: number): Promise<CollectResult> {
    const result = await collectOrExplain(this.#fast, timeoutMs);
    this.#mergeSlow(result);
    if (this.#derived.length > 0) mergeInto(result, await collectOrExplain(this.#derived, timeoutMs, result));
    addNotCollected(result);
    return fitToProtocol(result);
  }

  #mergeSlow(result: CollectResult): void {
    const names = namesOf(this.#slow);
    const ageMs = this.#now() - this.#slowAt;
    let reason: string | undefined;
    if (this.#slowIntervalMs === 0) reason = SLOW_OFF_REASON;
    else if (this.#slowResult === undefined) reason = SLOW_PENDING_REASON;
    else if (ageMs > STALE_INTERVALS * this.#slowIntervalMs + this.#slowTimeoutMs) reason = `slow readings stale (last slow run ${Math.round(ageMs / 1000)} s ago)`;
    if (reason !== undefined) {
      for (const name of names) result.missing[name] = reason;
      return;
    }
    Object.assign(result.readings, this.#slowResult!.readings);
    Object.assign(result.missing, this.#slowResult!.missing);
  }

  async #runSlow(): Promise<void> {
    // A run still in progress (its collectors are each bounded, so this is short) is not doubled.
    if (this.#slowRunning) return;
    this.#slowRunning = true;
    try {
      // Replaced whole: a collector that failed this time gives its reason, not its old value.
      this.#slowResult = await collectFrom(this.#slow, this.#slowTimeoutMs);
      this.#slowAt = this.#now();
    } finally {
      this.#slowRunning = false;
    }
  }
}
