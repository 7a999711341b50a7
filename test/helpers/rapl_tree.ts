/**
 * Test helper (not a test): a fixture powercap tree (test/fixtures/powercap/) copied to a temp dir,
 * whose energy counters a timer moves at known rates, as a machine drawing those watts would.
 */
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export const POWERCAP_FIXTURES = new URL('../fixtures/powercap/', import.meta.url).pathname;

export class RaplTree {
  #timer: NodeJS.Timeout | undefined;

  private constructor(readonly root: string) {}

  /** A copy of fixture `name` (symlinks kept as they are: the flat sub-zone links stay relative). */
  static copy(name: string): RaplTree {
    const root = mkdtempSync(join(tmpdir(), 'rapl-tree-'));
    cpSync(join(POWERCAP_FIXTURES, name), root, { recursive: true, verbatimSymlinks: true });
    return new RaplTree(root);
  }

  /** energy_uj of zone `dir` (relative to the root, e.g. intel-rapl:0/intel-rapl:0:0), µJ. */
  energy(dir: string): number {
    return Number(readFileSync(join(this.root, dir, 'energy_uj'), 'utf8'));
  }

  /** Sets a counter by rename, so a reader never sees a half-written file (sysfs reads are atomic too). */
  setEnergy(dir: string, uj: number): void {
    const file = join(this.root, dir, 'energy_uj');
    writeFileSync(`${file}.new`, `${Math.round(uj)}\n`);
    renameSync(`${file}.new`, file);
  }

  /**
   * Moves every zone of `watts` (dir -> W) from now on at that rate, every `everyMs`. Each counter
   * is set from the time elapsed since the start, not by a step per tick, so a late timer does
   * not lower the rate; a reader sees at most `everyMs` (plus event-loop lag) of lag.
   */
  drawAt(watts: Readonly<Record<string, number>>, everyMs = 25): void {
    this.stop();
    const t0 = performance.now();
    const base = Object.fromEntries(Object.keys(watts).map((dir) => [dir, this.energy(dir)]));
    // W × ms × 1000 = µJ.
    const tick = (): void => {
      const elapsedMs = performance.now() - t0;
      for (const [dir, w] of Object.entries(watts)) this.setEnergy(dir, base[dir]! + w * elapsedMs * 1000);
    };
    tick();
    this.#timer = setInterval(tick, everyMs);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  remove(): void {
    this.stop();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** two_packages_dram drawing 10 W + 3 W (package-0 + its dram) and 15 W + 2 W: 30 W in all. */
export const TWO_PACKAGES_WATTS = Object.freeze({
  'intel-rapl:0': 10,
  'intel-rapl:0/intel-rapl:0:0': 3,
  'intel-rapl:1': 15,
  'intel-rapl:1/intel-rapl:1:0': 2,
});
export const TWO_PACKAGES_TOTAL_W = 30;

/** A fixture tree copied to a fresh temp dir (symlinks kept), so a test can move its counters; its root. */
export function copyTree(name: string): string {
  return RaplTree.copy(name).root;
}

/** Adds `deltaUj` to a zone's energy_uj (dir relative to the root, e.g. intel-rapl:0/intel-rapl:0:0). */
export function advance(root: string, dir: string, deltaUj: number): void {
  const file = join(root, dir, 'energy_uj');
  writeFileSync(file, `${Number(readFileSync(file, 'utf8')) + deltaUj}\n`);
}

/** A clock the test moves by hand. */
export function handClock(startMs = 1000): { now: () => number; tick: (ms: number) => void } {
  let t = startMs;
  return { now: () => t, tick: (ms) => { t += ms; } };
}
