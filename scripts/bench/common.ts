/** Shared bits of the benchmarks: timing loops, the machine description, and result files. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';

export interface Machine { cores: number; model: string; node: string; date: string }

export function machine(): Machine {
  return { cores: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString() };
}

/**
 * Runs `fn` for about `ms` milliseconds after a warm-up, `rounds` times, and returns the median
 * rate in operations per second. Medians of rounds, because this machine is shared and noisy.
 */
export function opsPerSecond(fn: () => void, ms = 400, rounds = 5): number {
  const warmEnd = performance.now() + ms / 2;
  while (performance.now() < warmEnd) for (let i = 0; i < 100; i++) fn();
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const start = performance.now();
    const end = start + ms;
    let now = start;
    while (now < end) {
      for (let i = 0; i < 100; i++) fn();
      n += 100;
      now = performance.now();
    }
    rates.push(n / ((now - start) / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)]!;
}

/**
 * Runs `lanes` loops at once, each awaiting `step()` again and again until `untilMs`
 * (performance.now() time), and returns the sum of what the steps returned. Each lane adds its
 * step's result only after the await: `total += await step()` would read `total` before the await
 * and so lose the additions of the lanes that finished meanwhile (ingest.ts once counted half its
 * pool's work that way).
 */
export async function sumLanes(lanes: number, untilMs: number, step: () => Promise<number>): Promise<number> {
  let total = 0;
  const lane = async (): Promise<void> => {
    while (performance.now() < untilMs) {
      const n = await step();
      total += n;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return total;
}

export function writeResult(name: string, data: unknown): string {
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}.json`, dir);
  writeFileSync(file, JSON.stringify({ machine: machine(), ...(data as object) }, null, 2) + '\n');
  return file.pathname;
}

export function table(rows: Array<Record<string, string | number>>): string {
  const cols = Object.keys(rows[0] ?? {});
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]): string => cells.map((s, i) => s.padStart(width[i]!)).join('  ');
  return [line(cols), line(width.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join('\n');
}

const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url));

/** Newest modification time under `path` (a file or a tree), ms; 0 when it is not there. */
export function newestMtimeMs(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, e)));
  return newest;
}

/**
 * Builds with the project's own tsc (`-p config`) when `out` (relative to the checkout) is
 * missing or older than any of `inputs` (files or trees, relative to the checkout), as
 * `npm run build` would; returns why it built, or ''. A benchmark of what deployments run
 * measures the sources as they are.
 */
export function buildIfStale(label: string, config: string, out: string, inputs: readonly string[]): string {
  const builtAt = statSync(join(CHECKOUT, out), { throwIfNoEntry: false })?.mtimeMs;
  const sourcesAt = Math.max(...inputs.map((p) => newestMtimeMs(join(CHECKOUT, p))));
  if (builtAt !== undefined && builtAt >= sourcesAt) return '';
  const why = builtAt === undefined ? `${out} missing` : `${out} older than its sources`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(CHECKOUT, 'node_modules/typescript/bin/tsc'), '-p', config], { cwd: CHECKOUT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc -p ${config} failed (${why}):\n${r.stdout}${r.stderr}`);
  const msg = `${why}: built in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  console.log(`${label}: ${msg}`);
  return msg;
}
