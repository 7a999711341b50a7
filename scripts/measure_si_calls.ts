/**
 * `npx tsx scripts/measure_si_calls.ts collectors [ROUNDS] [GAP_MS]`: the same for this agent's
 * own collectors (agent/collectors/index.ts): each collector alone, then the whole fast class as
 * one round and the whole slow class, wall time, CPU time (process.cpuUsage(): every thread of this
 * process, the thread pool and a GPU probe's worker included, children not) and child processes per
 * round. The GPU collector's si.graphics() runs in a worker thread, whose child processes this
 * wrapper cannot see (the `graphics` row of the si table counts them); after its first probe finds
 * no live GPU it answers from memory until IDLE_REPROBE_MS (gpu.ts), so its later rounds cost
 * next to nothing.
 *
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

if (process.argv[2] === 'collectors') {
  const { COLLECTORS, collectFrom } = await import('../agent/collectors/index.ts');
  const rounds = Number(process.argv[3] ?? 10);
  const gapMs = Number(process.argv[4] ?? 1000);
  const fast = COLLECTORS.filter((c) => c.kind === undefined || c.kind === 'fast');
  const slow = COLLECTORS.filter((c) => c.kind === 'slow');
  const units: Array<{ name: string; run: () => Promise<unknown> }> = [
    ...COLLECTORS.map((c) => ({ name: `${c.kind ?? 'fast'}: ${c.name}`, run: () => c.collect() })),
    { name: 'FAST CLASS (one round)', run: () => collectFrom(fast, 10_000) },
    { name: 'SLOW CLASS (one run)', run: () => collectFrom(slow, 10_000) },
  ];
  const rows: Array<Record<string, string | number>> = [];
  for (const unit of units) {
    await unit.run(); // warm-up: the delta collectors take their baseline (and wait) here
    const times: number[] = [];
    const cpuMs: number[] = [];
    counts.spawns = 0;
    for (let i = 0; i < rounds; i++) {
      await new Promise((r) => setTimeout(r, gapMs));
      const t = performance.now();
      const c = process.cpuUsage();
      await unit.run();
      const used = process.cpuUsage(c);
      times.push(performance.now() - t);
      cpuMs.push((used.user + used.system) / 1000);
    }
    times.sort((a, b) => a - b);
    cpuMs.sort((a, b) => a - b);
    rows.push({
      unit: unit.name, median_ms: Number(times[times.length >> 1]!.toFixed(2)), worst_ms: Number(times[times.length - 1]!.toFixed(2)),
      cpu_median_ms: Number(cpuMs[cpuMs.length >> 1]!.toFixed(2)), spawns_per_round: counts.spawns / rounds,
    });
  }
  console.table(rows);
  process.exit(0);
}

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
