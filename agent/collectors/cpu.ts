/**
 * CPU busy, all cores, from the difference between two os.cpus() snapshots of per-core time
 * counters. On Linux libuv reads /proc/stat, /proc/cpuinfo and one cpufreq/scaling_cur_freq per
 * core with plain synchronous reads: no child process (strace -f -e trace=execve,clone shows none).
 * Measured on Linux (Debian 12, 2 vCPU VM, Node 20): ~0.13 ms a call (p90 ~0.2 ms), the event
 * loop blocked for all of it, ~0.1 ms of that in os.cpus(); it grows with the core count.
 * si.currentLoad(), used before, took ~4 ms a call (p90 ~9 ms), blocked, with 3 child processes
 * (sh, cat, grep), and ~510 ms the first time.
 *
 * The first call has no earlier snapshot, so it takes one, waits FIRST_SAMPLE_WAIT_MS and takes
 * another: the first sample carries a value, measured over that short window. Later calls compare
 * with the snapshot the previous call left, so each value covers the time since the last sample.
 * The agent cuts a round at 0.8 × its interval, so below a 125 ms interval the first sample gives
 * cpu_pct as timed out; the baseline is kept, and the next sample has a value.
 *
 * os.cpus() gives user, nice, sys, idle and irq only; iowait, softirq and steal are in neither the
 * idle nor the total ticks (as with si.currentLoad(), which did add steal as busy).
 */
import os from 'node:os';
import type { Collector, CollectResult } from './types.ts';

/** One core's counters as os.cpus()[i].times gives them: time since boot, ms (kernel ticks × 10 ms at USER_HZ 100). */
export interface CoreTimes {
  readonly user: number;
  readonly nice: number;
  readonly sys: number;
  readonly idle: number;
  readonly irq: number;
}

/** One CoreTimes per core, in os.cpus() order. */
export type CpuSnapshot = readonly CoreTimes[];

/** Wait between the first call's two snapshots, ms: 10 ticks a core at USER_HZ 100, so that value moves in steps of 10 % / cores. */
export const FIRST_SAMPLE_WAIT_MS = 100;

const CPU_PCT_MAX = 100;
/** One decimal place: finer digits are below what a 1 s sample of 10 ms ticks can resolve. */
const CPU_PCT_STEPS_PER_UNIT = 10;
const FIELDS = ['user', 'nice', 'sys', 'idle', 'irq'] as const;

/** Keeps only the counters of os.cpus()'s entries (model and speed are not needed to difference). */
export function snapshotFromCpus(cpus: ReadonlyArray<{ readonly times: CoreTimes }>): CpuSnapshot {
  return cpus.map(({ times: { user, nice, sys, idle, irq } }) => ({ user, nice, sys, idle, irq }));
}

/** The I/O half: one snapshot of this machine's counters. */
export function takeSnapshot(): CpuSnapshot {
  return snapshotFromCpus(os.cpus());
}

/** Busy % from prev to curr, or why there is none. */
function busyPctOrReason(prev: CpuSnapshot | undefined, curr: CpuSnapshot): number | string {
  if (prev === undefined) return 'no previous CPU snapshot yet';
  if (curr.length === 0) return 'os.cpus() gave no cores';
  if (curr.length !== prev.length) return `CPU core count changed from ${prev.length} to ${curr.length}`;
  let totalMs = 0;
  let idleMs = 0;
  for (let core = 0; core < curr.length; core++) {
    for (const field of FIELDS) {
      const deltaMs = curr[core][field] - prev[core][field];
      if (!Number.isFinite(deltaMs)) return `CPU core ${core} ${field} counter is not a finite number`;
      // A counter that went backwards (hotplug, wrap, a different source) makes the whole delta
      // meaningless, not just that core's: no value rather than a negative or absurd one.
      if (deltaMs < 0) return `CPU core ${core} ${field} counter went backwards`;
      totalMs += deltaMs;
      if (field === 'idle') idleMs += deltaMs;
    }
  }
  if (totalMs <= 0) return 'no CPU time elapsed between snapshots';
  // Every delta is >= 0 and idle is part of the total, so this is already 0..100; the clamp only
  // guards against rounding.
  const pct = Math.min(CPU_PCT_MAX, Math.max(0, CPU_PCT_MAX * (1 - idleMs / totalMs)));
  return Math.round(pct * CPU_PCT_STEPS_PER_UNIT) / CPU_PCT_STEPS_PER_UNIT;
}

/**
 * Busy % of all cores from `prev` to `curr`: 100 × (1 − Δidle / Δtotal), to 0.1, within 0..100.
 * Null when there is no `prev`, when no time passed (Δtotal <= 0), or when the core count changed
 * or a counter went backwards; parseCpuTimes says which.
 */
export function cpuBusyPct(prev: CpuSnapshot | undefined, curr: CpuSnapshot): number | null {
  const v = busyPctOrReason(prev, curr);
  return typeof v === 'number' ? v : null;
}

/** cpuBusyPct as readings: cpu_pct, or cpu_pct in `missing` with the reason. */
export function parseCpuTimes(prev: CpuSnapshot | undefined, curr: CpuSnapshot): CollectResult {
  const v = busyPctOrReason(prev, curr);
  return typeof v === 'number' ? { readings: { cpu_pct: v }, missing: {} } : { readings: {}, missing: { cpu_pct: v } };
}

/**
 * A CPU collector with its own previous snapshot. `readSnapshot` and `firstWaitMs` are there for
 * tests; the agent uses cpuCollector.
 */
export function createCpuCollector(readSnapshot: () => CpuSnapshot = takeSnapshot, firstWaitMs = FIRST_SAMPLE_WAIT_MS): Collector {
  let prev: CpuSnapshot | undefined;
  return {
    name: 'cpu',
    provides: ['cpu_pct'],
    async collect() {
      let base = prev;
      if (base === undefined) {
        base = readSnapshot();
        // Stored before waiting, so a call that overlaps this one (after a timeout) has a baseline too.
        prev = base;
        await new Promise((resolve) => setTimeout(resolve, firstWaitMs));
      }
      const curr = readSnapshot();
      // Kept even when the comparison fails: after a hotplug or a wrap the next sample starts clean.
      prev = curr;
      return parseCpuTimes(base, curr);
    },
  };
}

export const cpuCollector: Collector = createCpuCollector();
