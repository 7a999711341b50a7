/** Shared bits of the benchmarks: timing loops, the machine description, and result files. */
import { mkdirSync, writeFileSync } from 'node:fs';
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
