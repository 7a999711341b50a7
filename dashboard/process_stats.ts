/**
 * The collector process's own figures for /metrics, under the names every Prometheus client
 * library uses (process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds,
 * process_max_fds): the signs that a collector is full, since each agent holds one open file
 * and the collector's CPU grows with its agents. Read in the dashboard worker; CPU time and
 * resident memory are the whole process's (getrusage and RSS are per process, not per thread).
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessStats {
  cpuSeconds: number;
  residentBytes: number;
  /** null where /proc/self/fd cannot be read (not Linux). */
  openFds: number | null;
  /** The soft limit on open files; null when unknown or unlimited. */
  maxFds: number | null;
}

/** The soft "Max open files" of /proc/self/limits, or null. Pure, for tests. */
export function maxOpenFiles(limits: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
}

export function readProcessStats(): ProcessStats {
  const cpu = process.cpuUsage();
  let openFds: number | null = null;
  let maxFds: number | null = null;
  try {
    // One entry is the directory handle readdir itself holds while listing.
    openFds = Math.max(0, readdirSync('/proc/self/fd').length - 1);
    maxFds = maxOpenFiles(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    /* not Linux: those two are left out */
  }
  return { cpuSeconds: (cpu.user + cpu.system) / 1e6, residentBytes: process.memoryUsage.rss(), openFds, maxFds };
}
