/**
 * CPU busy and its split, all cores and per core, from the difference between two snapshots of
 * /proc/stat (one readFileSync of ~1 KB on 2 cores; no child process). The whole collector, clock
 * included, measured 0.57 ms a call (median, worst 1.2 ms) on a 2 vCPU VM
 * (`npx tsx scripts/measure_si_calls.ts collectors 10 500`). Where /proc/stat
 * cannot be read (not Linux) the os.cpus() counters stand in, giving cpu_pct and cpu_cores_pct
 * only: they have no iowait, softirq or steal. si.currentLoad(), used before that, took ~4 ms a
 * call with 3 child processes (sh, cat, grep).
 *
 * cpu_freq_mhz is the mean over the cores of /sys/devices/system/cpu/cpuN/cpufreq/scaling_cur_freq
 * (kHz; what libuv reads for os.cpus()[i].speed, without os.cpus()'s reads of /proc/stat and
 * /proc/cpuinfo besides: that took ~0.13 ms on 2 cores, growing with the count). A VM without
 * cpufreq has no such file, so the "cpu MHz" lines of /proc/cpuinfo stand in (x86 only; ~0.1 ms on
 * 2 cores, more on large hosts). Off Linux, os.cpus() speeds.
 *
 * The first call takes a snapshot, waits FIRST_SAMPLE_WAIT_MS and takes another (rates.ts,
 * pairReader): the first sample already has a value. The agent cuts a round at 0.8 × its
 * interval, so below a 125 ms interval the first sample gives a timeout; the next has a value.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Readings } from '../../shared/protocol.ts';
import { pairReader, type Timed } from './rates.ts';
import type { Collector, CollectResult } from './types.ts';
import { reasonFromError } from './types.ts';

/** One core's counters as os.cpus()[i].times gives them: time since boot, ms. */
export interface CoreTimes {
  readonly user: number;
  readonly nice: number;
  readonly sys: number;
  readonly idle: number;
  readonly irq: number;
}

/** One CoreTimes per core, in os.cpus() order. */
export type CpuSnapshot = readonly CoreTimes[];

/** The counters of one /proc/stat cpu line, USER_HZ ticks. guest and guest_nice are already inside user and nice, so they are not kept. */
export interface CpuTicks {
  readonly user: number;
  readonly nice: number;
  readonly system: number;
  readonly idle: number;
  readonly iowait: number;
  readonly irq: number;
  readonly softirq: number;
  readonly steal: number;
}

export interface ProcStat {
  /** The aggregate `cpu` line. */
  readonly total?: CpuTicks;
  /** Every `cpuN` line, in file order; id is N (offline cores have no line). */
  readonly cores: ReadonlyArray<{ readonly id: number; readonly ticks: CpuTicks }>;
  readonly procsRunning?: number;
  readonly procsBlocked?: number;
}

/** What one snapshot read: /proc/stat, or os.cpus() where /proc/stat cannot be read. */
export type CpuSource = { readonly kind: 'proc'; readonly stat: ProcStat } | { readonly kind: 'os'; readonly cpus: CpuSnapshot };

/** Wait between the first call's two snapshots, ms: 10 ticks a core at USER_HZ 100. */
export const FIRST_SAMPLE_WAIT_MS = 100;

const TICK_FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
const OS_FIELDS = ['user', 'nice', 'sys', 'idle', 'irq'] as const;
const SPLIT_NAMES = ['cpu_user_pct', 'cpu_system_pct', 'cpu_iowait_pct', 'cpu_steal_pct'] as const;
const AGGREGATE_NAMES = ['cpu_pct', ...SPLIT_NAMES] as const;

/** 100 × part / whole to 0.1 (finer is below what 10 ms ticks resolve in 1 s), within 0..100. */
function pct(part: number, whole: number): number {
  return Math.round(Math.min(100, Math.max(0, (100 * part) / whole)) * 10) / 10;
}

/** Pure: /proc/stat text -> counters. Lines it does not know are skipped; a short cpu line is skipped. */
export function parseProcStat(text: string): ProcStat {
  let total: CpuTicks | undefined;
  const cores: Array<{ id: number; ticks: CpuTicks }> = [];
  let procsRunning: number | undefined;
  let procsBlocked: number | undefined;
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/u);
    const key = parts[0] ?? '';
    if (key === 'procs_running' || key === 'procs_blocked') {
      const n = Number(parts[1]);
      if (Number.isSafeInteger(n) && n >= 0) {
        if (key === 'procs_running') procsRunning = n;
        else procsBlocked = n;
      }
      continue;
    }
    const m = /^cpu(\d*)$/u.exec(key);
    // Kernels before 2.6.11 have no steal column; 2.6.0 has no iowait: treated as 0.
    if (m === null || parts.length < 5) continue;
    const nums = TICK_FIELDS.map((_f, i) => (parts[i + 1] === undefined ? 0 : Number(parts[i + 1])));
    if (nums.some((n) => !Number.isFinite(n) || n < 0)) continue;
    const ticks = Object.fromEntries(TICK_FIELDS.map((f, i) => [f, nums[i]])) as unknown as CpuTicks;
    if (m[1] === '') total = ticks;
    else cores.push({ id: Number(m[1]), ticks });
  }
  return { ...(total ? { total } : {}), cores, ...(procsRunning !== undefined ? { procsRunning } : {}), ...(procsBlocked !== undefined ? { procsBlocked } : {}) };
}

/**
 * Deltas of one cpu line, or why there are none. iowait may go down (proc(5): "not reliable", a
 * task that sleeps on one CPU and wakes on another): its negative delta counts as 0. Any other
 * counter going back gives no value.
 */
function tickDeltas(prev: CpuTicks, curr: CpuTicks, where: string): Record<(typeof TICK_FIELDS)[number], number> | string {
  const out = {} as Record<(typeof TICK_FIELDS)[number], number>;
  for (const f of TICK_FIELDS) {
    const d = curr[f] - prev[f];
    if (d < 0 && f !== 'iowait') return `${where} ${f} counter went backwards`;
    out[f] = Math.max(0, d);
  }
  return out;
}

function busyOf(d: Record<(typeof TICK_FIELDS)[number], number>): { busy: number; total: number } {
  const total = TICK_FIELDS.reduce((sum, f) => sum + d[f], 0);
  return { busy: total - d.idle - d.iowait, total };
}

/** Pure: two /proc/stat snapshots -> cpu_pct, its split and cpu_cores_pct, or the reasons. */
export function parseProcStatPair(prev: ProcStat, curr: ProcStat): CollectResult {
  const readings: Readings = {};
  const missing: Record<string, string> = {};
  const agg = prev.total && curr.total ? tickDeltas(prev.total, curr.total, 'CPU') : 'no aggregate cpu line in /proc/stat';
  const aggTotal = typeof agg === 'string' ? 0 : busyOf(agg).total;
  if (typeof agg === 'string' || aggTotal <= 0) {
    const reason = typeof agg === 'string' ? agg : 'no CPU time elapsed between snapshots';
    for (const name of AGGREGATE_NAMES) missing[name] = reason;
  } else {
    readings.cpu_pct = pct(busyOf(agg).busy, aggTotal);
    readings.cpu_user_pct = pct(agg.user + agg.nice, aggTotal);
    readings.cpu_system_pct = pct(agg.system + agg.irq + agg.softirq, aggTotal);
    readings.cpu_iowait_pct = pct(agg.iowait, aggTotal);
    readings.cpu_steal_pct = pct(agg.steal, aggTotal);
  }
  const cores = coresPct(prev, curr);
  if (typeof cores === 'string') missing.cpu_cores_pct = cores;
  else readings.cpu_cores_pct = cores;
  return { readings, missing };
}

function coresPct(prev: ProcStat, curr: ProcStat): number[] | string {
  if (curr.cores.length === 0) return 'no cpuN lines in /proc/stat';
  const sameIds = prev.cores.length === curr.cores.length && prev.cores.every((c, i) => c.id === curr.cores[i]!.id);
  if (!sameIds) return `CPU core count changed from ${prev.cores.length} to ${curr.cores.length}`;
  const out: number[] = [];
  for (let i = 0; i < curr.cores.length; i++) {
    const d = tickDeltas(prev.cores[i]!.ticks, curr.cores[i]!.ticks, `CPU core ${curr.cores[i]!.id}`);
    if (typeof d === 'string') return d;
    const { busy, total } = busyOf(d);
    out.push(total > 0 ? pct(busy, total) : 0);
  }
  return out;
}

/** Keeps only the counters of os.cpus()'s entries (model and speed are not needed to difference). */
export function snapshotFromCpus(cpus: ReadonlyArray<{ readonly times: CoreTimes }>): CpuSnapshot {
  return cpus.map(({ times: { user, nice, sys, idle, irq } }) => ({ user, nice, sys, idle, irq }));
}

/** The os.cpus() half: one snapshot of this machine's counters. */
export function takeSnapshot(): CpuSnapshot {
  return snapshotFromCpus(os.cpus());
}

/** os.cpus() deltas: busy % of all cores and of each core, or why there is none. */
function osBusyOrReason(prev: CpuSnapshot | undefined, curr: CpuSnapshot): { all: number; cores: number[] } | string {
  if (prev === undefined) return 'no previous CPU snapshot yet';
  if (curr.length === 0) return 'os.cpus() gave no cores';
  if (curr.length !== prev.length) return `CPU core count changed from ${prev.length} to ${curr.length}`;
  let totalMs = 0;
  let idleMs = 0;
  const cores: number[] = [];
  for (let core = 0; core < curr.length; core++) {
    let coreTotal = 0;
    let coreIdle = 0;
    for (const field of OS_FIELDS) {
      const deltaMs = curr[core]![field] - prev[core]![field];
      if (!Number.isFinite(deltaMs)) return `CPU core ${core} ${field} counter is not a finite number`;
      // A counter that went backwards (hotplug, wrap) makes the delta meaningless: no value.
      if (deltaMs < 0) return `CPU core ${core} ${field} counter went backwards`;
      coreTotal += deltaMs;
      if (field === 'idle') coreIdle += deltaMs;
    }
    totalMs += coreTotal;
    idleMs += coreIdle;
    cores.push(coreTotal > 0 ? pct(coreTotal - coreIdle, coreTotal) : 0);
  }
  if (totalMs <= 0) return 'no CPU time elapsed between snapshots';
  return { all: pct(totalMs - idleMs, totalMs), cores };
}

/** Busy % of all cores from os.cpus() snapshots, or null (parseCpuTimes says why). */
export function cpuBusyPct(prev: CpuSnapshot | undefined, curr: CpuSnapshot): number | null {
  const v = osBusyOrReason(prev, curr);
  return typeof v === 'string' ? null : v.all;
}

/** Pure: os.cpus() snapshots -> cpu_pct and cpu_cores_pct, or both in `missing` with the reason. */
export function parseCpuTimes(prev: CpuSnapshot | undefined, curr: CpuSnapshot): CollectResult {
  const v = osBusyOrReason(prev, curr);
  if (typeof v === 'string') return { readings: {}, missing: { cpu_pct: v, cpu_cores_pct: v } };
  return { readings: { cpu_pct: v.all, cpu_cores_pct: v.cores }, missing: {} };
}

/**
 * Pure: the mean clock over cores, MHz, to 1 MHz, from os.cpus() speeds; where none is above 0,
 * from the "cpu MHz" lines of /proc/cpuinfo text (undefined where it could not be read).
 */
export function parseCpuFreq(speedsMhz: readonly number[], cpuinfo: string | undefined): CollectResult {
  const mean = (xs: number[]): number => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  const speeds = speedsMhz.filter((s) => Number.isFinite(s) && s > 0);
  if (speeds.length > 0) return { readings: { cpu_freq_mhz: mean(speeds) }, missing: {} };
  const fromInfo = [...(cpuinfo ?? '').matchAll(/^cpu MHz\s*:\s*([\d.]+)\s*$/gmu)].map((m) => Number(m[1])).filter((s) => Number.isFinite(s) && s > 0);
  if (fromInfo.length > 0) return { readings: { cpu_freq_mhz: mean(fromInfo) }, missing: {} };
  return { readings: {}, missing: { cpu_freq_mhz: 'no CPU clock exposed (no cpufreq scaling_cur_freq or os.cpus() speed, and no "cpu MHz" in /proc/cpuinfo)' } };
}

/** The I/O half of the counters: /proc/stat where readable, else os.cpus(). */
export function readCpuSource(procStatPath = '/proc/stat'): CpuSource {
  try {
    return { kind: 'proc', stat: parseProcStat(readFileSync(procStatPath, 'utf8')) };
  } catch {
    return { kind: 'os', cpus: takeSnapshot() };
  }
}

/** cpufreq's current clock of core `id`, MHz, or undefined where there is none (no cpufreq: a VM). */
function readScalingMhz(id: number, sysCpu: string): number | undefined {
  try {
    return Number(readFileSync(`${sysCpu}/cpu${id}/cpufreq/scaling_cur_freq`, 'utf8')) / 1000;
  } catch {
    return undefined;
  }
}

/**
 * The I/O half of the clock. With `coreIds` (the cores of /proc/stat): cpufreq's current clock of
 * each, and /proc/cpuinfo where the first has none (cpufreq covers all cores or none). Without:
 * os.cpus() speeds, and /proc/cpuinfo only when they are all 0.
 */
export function readCpuFreq(coreIds?: readonly number[], sysCpu = '/sys/devices/system/cpu', cpuinfoPath = '/proc/cpuinfo'): CollectResult {
  let speeds: number[];
  if (coreIds !== undefined && coreIds.length > 0) {
    speeds = [];
    for (const id of coreIds) {
      const mhz = readScalingMhz(id, sysCpu);
      if (mhz === undefined && speeds.length === 0) break;
      if (mhz !== undefined) speeds.push(mhz);
    }
  } else speeds = os.cpus().map((c) => c.speed);
  if (speeds.some((s) => s > 0)) return parseCpuFreq(speeds, undefined);
  let cpuinfo: string | undefined;
  try {
    cpuinfo = readFileSync(cpuinfoPath, 'utf8');
  } catch {
    cpuinfo = undefined;
  }
  return parseCpuFreq(speeds, cpuinfo);
}

/** Pure: two snapshots of either source -> readings. A source that changed between them gives reasons. */
export function parseCpuPair(prev: Timed<CpuSource>, curr: Timed<CpuSource>): CollectResult {
  const p = prev.value;
  const c = curr.value;
  if (p.kind === 'proc' && c.kind === 'proc') return parseProcStatPair(p.stat, c.stat);
  if (p.kind === 'os' && c.kind === 'os') {
    const result = parseCpuTimes(p.cpus, c.cpus);
    for (const name of SPLIT_NAMES) result.missing[name] = 'needs /proc/stat (Linux); os.cpus() has no iowait or steal';
    return result;
  }
  const reason = 'CPU counter source changed between snapshots (/proc/stat and os.cpus())';
  return { readings: {}, missing: Object.fromEntries(['cpu_cores_pct', ...AGGREGATE_NAMES].map((n) => [n, reason])) };
}

export interface CpuCollectorOptions {
  readSource?: () => CpuSource;
  /** Given the core ids of the current /proc/stat snapshot (undefined for the os.cpus() source). */
  readFreq?: (coreIds?: readonly number[]) => CollectResult;
  firstWaitMs?: number;
}

/** A CPU collector with its own previous snapshot; the options are there for tests. */
export function createCpuCollector(options: CpuCollectorOptions = {}): Collector {
  const next = pairReader(options.readSource ?? (() => readCpuSource()), options.firstWaitMs ?? FIRST_SAMPLE_WAIT_MS);
  const readFreq = options.readFreq ?? readCpuFreq;
  return {
    name: 'cpu',
    kind: 'fast',
    provides: ['cpu_pct', 'cpu_user_pct', 'cpu_system_pct', 'cpu_iowait_pct', 'cpu_steal_pct', 'cpu_freq_mhz', 'cpu_cores_pct'],
    async collect() {
      const { prev, curr } = await next();
      const result = parseCpuPair(prev, curr);
      let freq: CollectResult;
      try {
        freq = readFreq(curr.value.kind === 'proc' ? curr.value.stat.cores.map((c) => c.id) : undefined);
      } catch (err) {
        freq = { readings: {}, missing: { cpu_freq_mhz: reasonFromError(err) } };
      }
      return { readings: { ...result.readings, ...freq.readings }, missing: { ...result.missing, ...freq.missing } };
    },
  };
}

export const cpuCollector: Collector = createCpuCollector();
