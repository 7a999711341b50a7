/**
 * Processes, in two collectors because their costs differ by a hundred times:
 *  - processCountsCollector (fast): procs_running and procs_blocked from /proc/stat, procs_total
 *    from one readdirSync of /proc counting numeric entries (0.5 ms a call with ~90 processes).
 *  - topProcessesCollector (slow): procs_top needs /proc/PID/stat of every process, and a delta
 *    of utime + stime between two runs. Each file is read synchronously into one reused buffer
 *    (open, one read, close), READ_BATCH processes at a time with a turn of the event loop
 *    between batches, so a host with thousands of processes never holds the loop for long: ~1.8 ms
 *    of CPU a run with ~100 processes. The async fs/promises reads used before took 4 thread-pool
 *    round trips a file (open, fstat, read, close) and ~5x the CPU (8.5-9.8 ms a run; both
 *    measured with process.cpuUsage() over 40 runs on a 2 vCPU VM).
 * No child process either way (si.processes() took ~73 ms with 4-6).
 *
 * procs_running and procs_blocked count runnable or blocked tasks (threads) of the whole kernel,
 * while /proc lists the processes of this PID namespace: in a container the first can exceed
 * the second, so they are capped at procs_total (the protocol requires running <= total).
 *
 * CPU ticks are USER_HZ 100: the kernel's ABI value on every Linux architecture Node runs on
 * (`getconf CLK_TCK` prints 100; only alpha and ia64 differed). Asking sysconf would take a
 * child process or a native addon.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { MAX_WIRE_ROWS, type Readings, type TableRows } from '../../shared/protocol.ts';
import { parseProcStat } from './cpu.ts';
import { intervalProblem, pairReader, type Timed } from './rates.ts';
import type { Collector, CollectResult } from './types.ts';
import { cleanText } from './types.ts';

export const USER_HZ = 100;
/** Rows in procs_top. */
export const TOP_COUNT = 5;
/** The first slow run has no earlier reading: it reads twice this far apart, ms. */
export const FIRST_TOP_WAIT_MS = 500;
const PROC_NAME_MAX_BYTES = 256;

/** Pure: procs_* from /proc/stat text and the /proc entry names. */
export function parseProcessCounts(procStat: string, procEntries: readonly string[]): CollectResult {
  const readings: Readings = {};
  const missing: Record<string, string> = {};
  const total = procEntries.filter((e) => /^\d+$/u.test(e)).length;
  const stat = parseProcStat(procStat);
  if (total > 0) readings.procs_total = total;
  else missing.procs_total = 'no numeric entries in /proc';
  const cap = (n: number): number => (total > 0 ? Math.min(n, total) : n);
  if (stat.procsRunning !== undefined) readings.procs_running = cap(stat.procsRunning);
  else missing.procs_running = 'no procs_running line in /proc/stat';
  if (stat.procsBlocked !== undefined) readings.procs_blocked = cap(stat.procsBlocked);
  else missing.procs_blocked = 'no procs_blocked line in /proc/stat';
  return { readings, missing };
}

/** One process as /proc/PID/stat describes it; ticks = utime + stime, USER_HZ. */
export interface ProcStatLine {
  readonly pid: number;
  readonly name: string;
  readonly ticks: number;
  /** Ticks after boot when it started: with pid, it tells a reused pid from the same process. */
  readonly start: number;
}

/**
 * Pure: one /proc/PID/stat line. The name (comm) sits between the first '(' and the LAST ')':
 * it may hold spaces and ')' itself ("(a) b)"). Undefined for a malformed line.
 */
export function parseProcPidStat(text: string): ProcStatLine | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // Fields from 3 (state) on; utime is field 14, stime 15, starttime 22.
  const rest = text.slice(close + 1).trim().split(/\s+/u);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const start = Number(rest[19]);
  if (![pid, utime, stime, start].every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  return { pid, name: text.slice(open + 1, close), ticks: utime + stime, start };
}

/** Key that survives pid reuse. */
const keyOf = (p: ProcStatLine): string => `${p.pid}:${p.start}`;

/** Pure: two readings of every process -> procs_top, busiest first, % of one core (like top). */
export function parseTopPair(prev: Timed<readonly ProcStatLine[]>, curr: Timed<readonly ProcStatLine[]>, count = TOP_COUNT): CollectResult {
  const problem = intervalProblem(prev, curr);
  if (problem) return { readings: {}, missing: { procs_top: problem } };
  if (curr.value.length === 0) return { readings: {}, missing: { procs_top: 'no readable /proc/PID/stat' } };
  const before = new Map(prev.value.map((p) => [keyOf(p), p.ticks]));
  // The newest start among the earlier reading's processes: one that started after it was not
  // there to be read, so all its CPU time was spent since, and it counts from 0, as top counts a
  // new task. Left out, a busy process younger than the slow interval (15 s) never showed.
  // An earlier reading of nothing tells nothing of what is new.
  let newestStart = prev.value.length === 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  for (const p of prev.value) if (p.start > newestStart) newestStart = p.start;
  const seconds = (curr.atMs - prev.atMs) / 1000;
  const busy: Array<{ p: ProcStatLine; pct: number }> = [];
  for (const p of curr.value) {
    const was = before.get(keyOf(p)) ?? (p.start > newestStart ? 0 : undefined);
    // Not read before though older than what was (a race with the listing), or a counter that
    // went back: not ranked this time.
    if (was === undefined || p.ticks < was) continue;
    busy.push({ p, pct: Math.round(((p.ticks - was) / USER_HZ / seconds) * 1000) / 10 });
  }
  // Ties (idle processes) in pid order, so the table does not shuffle between runs.
  busy.sort((a, b) => b.pct - a.pct || a.p.pid - b.p.pid);
  const rows: TableRows<'procs_top'> = busy.slice(0, Math.min(count, MAX_WIRE_ROWS)).map(({ p, pct }) => ({
    name: cleanText(p.name, PROC_NAME_MAX_BYTES) || `[${p.pid}]`,
    pid: p.pid,
    cpu_pct: pct,
  }));
  if (rows.length === 0) return { readings: {}, missing: { procs_top: 'no process seen in both readings' } };
  return { readings: { procs_top: rows }, missing: {} };
}

/** The I/O half of the counts. */
export function readProcessCounts(root = '/'): CollectResult {
  return parseProcessCounts(readFileSync(`${root}proc/stat`, 'utf8'), readdirSync(`${root}proc`));
}

/** Processes whose stat is read between two turns of the event loop. */
export const READ_BATCH = 256;
/** /proc/PID/stat is one line of ~52 fields: well under this, even with a 64-byte comm, bytes. */
const STAT_BUFFER_BYTES = 4096;
const statBuffer = Buffer.allocUnsafe(STAT_BUFFER_BYTES);

/** One /proc/PID/stat, or undefined when the process is gone (or the file is not what it should be). */
function readPidStat(path: string): ProcStatLine | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    // procfs hands the whole line to one read when the buffer holds it.
    const n = readSync(fd, statBuffer, 0, STAT_BUFFER_BYTES, 0);
    return parseProcPidStat(statBuffer.toString('utf8', 0, n));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The I/O half of the top: every /proc/PID/stat; a process gone between readdir and read is skipped. */
export async function readAllProcStats(root = '/'): Promise<ProcStatLine[]> {
  const pids = readdirSync(`${root}proc`).filter((e) => /^\d+$/u.test(e));
  const out: ProcStatLine[] = [];
  for (let i = 0; i < pids.length; i += READ_BATCH) {
    if (i > 0) await new Promise((resolve) => setImmediate(resolve));
    for (const pid of pids.slice(i, i + READ_BATCH)) {
      const line = readPidStat(`${root}proc/${pid}/stat`);
      if (line !== undefined) out.push(line);
    }
  }
  return out;
}

export function createProcessCountsCollector(root = '/'): Collector {
  return {
    name: 'processes',
    kind: 'fast',
    provides: ['procs_total', 'procs_running', 'procs_blocked'],
    async collect() {
      return readProcessCounts(root);
    },
  };
}

export function createTopProcessesCollector(read: () => Promise<readonly ProcStatLine[]> = () => readAllProcStats(), firstWaitMs = FIRST_TOP_WAIT_MS): Collector {
  const next = pairReader(read, firstWaitMs);
  return {
    name: 'procs_top',
    kind: 'slow',
    provides: ['procs_top'],
    async collect() {
      const { prev, curr } = await next();
      return parseTopPair(prev, curr);
    },
  };
}

export const processCountsCollector: Collector = createProcessCountsCollector();
export const topProcessesCollector: Collector = createTopProcessesCollector();
