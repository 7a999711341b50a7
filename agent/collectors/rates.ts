/**
 * What the counter-based collectors (cpu, disk, network) share: a reader that hands back the
 * previous and the current snapshot, and the rules that turn two counters into a rate.
 *
 * Counter rule, the same everywhere: a counter that went backwards (reboot of a device, a 32-bit
 * field that wrapped, a device removed and added under the same name) gives no rate for that
 * interval. A wrap cannot be told from a reset, so it is never "corrected" by adding 2^32: a
 * guessed correction is an absurd value when the guess is wrong. The next interval is clean again.
 */
import { performance } from 'node:perf_hooks';

/** A snapshot and the monotonic time it was taken, ms (performance.now()). */
export interface Timed<T> {
  readonly atMs: number;
  readonly value: T;
}

export interface SnapshotPair<T> {
  readonly prev: Timed<T>;
  readonly curr: Timed<T>;
}

/**
 * Wraps `read` so each call returns the snapshot the previous call left and a new one. The first
 * call has none, so it reads, waits `firstWaitMs` and reads again: the first sample already has a
 * value, over a short window. The baseline is stored before the wait, so a call that overlaps the
 * first one (after a timeout) finds it.
 */
export function pairReader<T>(read: () => T | Promise<T>, firstWaitMs: number): () => Promise<SnapshotPair<T>> {
  let last: Timed<T> | undefined;
  const take = async (): Promise<Timed<T>> => {
    const value = await read();
    return { atMs: performance.now(), value };
  };
  return async () => {
    let prev = last;
    if (prev === undefined) {
      prev = await take();
      last = prev;
      await new Promise((resolve) => setTimeout(resolve, firstWaitMs));
    }
    const curr = await take();
    // Kept even when the pair gives no value: after a reset the next interval starts clean.
    last = curr;
    return { prev, curr };
  };
}

/** curr - prev when both are finite and the counter did not go backwards; else undefined. */
export function counterDelta(prev: number | undefined, curr: number | undefined): number | undefined {
  if (prev === undefined || curr === undefined || !Number.isFinite(prev) || !Number.isFinite(curr)) return undefined;
  const delta = curr - prev;
  return delta >= 0 ? delta : undefined;
}

/** Per-second rate of `delta` over `elapsedMs`, to 0.1. */
export function perSecond(delta: number, elapsedMs: number): number {
  return Math.round((delta * 1000 * 10) / elapsedMs) / 10;
}

/** Shortest interval a rate is computed over, ms: below it a rate is mostly timer noise. */
export const MIN_RATE_INTERVAL_MS = 10;

/** Why two snapshots give no rate at all, or undefined when they do. */
export function intervalProblem(prev: Timed<unknown>, curr: Timed<unknown>): string | undefined {
  const elapsedMs = curr.atMs - prev.atMs;
  if (!Number.isFinite(elapsedMs) || elapsedMs < MIN_RATE_INTERVAL_MS) {
    return `only ${Math.max(0, Math.round(elapsedMs))} ms between readings (need ${MIN_RATE_INTERVAL_MS})`;
  }
  return undefined;
}
