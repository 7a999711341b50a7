/**
 * `npx tsx scripts/measure_si_calls.ts [ROUNDS] [GAP_MS]`: which `systeminformation` calls are cheap
 * enough for every sample on this machine, and which belong in a slower class. For each call:
 * median and worst wall time over ROUNDS calls (after one warm-up), and how many child
 * processes and file reads it made per call. Child processes are counted by wrapping
 * node:child_process before systeminformation is loaded (instrumentation for this script only).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cp = require('node:child_process') as Record<string, unknown>;
const fs = require('node:fs') as Record<string, unknown>;
const counts = { spawns: 0, reads: 0 };
for (const name of ['exec', 'execFile', 'spawn', 'execSync', 'execFileSync', 'spawnSync']) {
  const orig = cp[name] as (...a: unknown[]) => unknown;
  cp[name] = (...args: unknown[]) => { counts.spawns++; return orig.apply(cp, args); };
}
for (const name of ['readFile', 'readFileSync', 'readdir', 'readdirSync']) {
  const orig = fs[name] as (...a: unknown[]) => unknown;
  fs[name] = (...args: unknown[]) => { counts.reads++; return orig.apply(fs, args); };
}
const si = (await import('systeminformation')).default as unknown as Record<string, () => Promise<unknown>>;

const CALLS = ['currentLoad', 'mem', 'cpuCurrentSpeed', 'fsSize', 'disksIO', 'fsStats', 'networkStats', 'networkInterfaces', 'cpuTemperature', 'graphics', 'processes', 'osInfo', 'cpu', 'blockDevices', 'time'];
const rounds = Number(process.argv[2] ?? 5);
// Some calls keep state between calls and answer at once when called again too soon (disksIO,
// fsStats, processes): a gap like the agent's interval measures what a sample really costs.
const gapMs = Number(process.argv[3] ?? 1000);
const rows: Array<Record<string, string | number>> = [];
for (const name of CALLS) {
  const fn = si[name]!;
  try { await fn(); } catch { /* warm-up: first calls read static facts */ }
  const times: number[] = [];
  counts.spawns = 0;
  counts.reads = 0;
  let error = '';
  for (let i = 0; i < rounds; i++) {
    await new Promise((r) => setTimeout(r, gapMs));
    const t = performance.now();
    try { await fn(); } catch (err) { error = err instanceof Error ? err.message : String(err); }
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  rows.push({ call: name, median_ms: Number(times[times.length >> 1]!.toFixed(1)), worst_ms: Number(times[times.length - 1]!.toFixed(1)), spawns_per_call: counts.spawns / rounds, reads_per_call: counts.reads / rounds, ...(error ? { error: error.slice(0, 60) } : {}) });
}
console.table(rows);
process.exit(0);
