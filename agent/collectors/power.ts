/**
 * Measured power from the RAPL energy counters in /sys/class/powercap (Linux powercap framework,
 * driver intel_rapl_msr). AMD Zen kernels (5.8+) register their package/core counters through the
 * same driver, so they too appear as `intel-rapl:*` zones. Plain sysfs reads, no child process.
 *
 * Zones: `intel-rapl:N` is a top-level zone (package-N, or psys), `intel-rapl:N:M` a sub-zone of
 * it (core, uncore, dram). /sys/class/powercap lists every zone flat (symlinks), the devices tree
 * nests them; both shapes are read and each zone is kept once, by its directory name. Not read:
 * `intel-rapl-mmio:*`, the same package counter reached through MMIO on newer laptops (adding it
 * counts the package twice: ColinIanKing/powerstat#5), and the `intel-rapl` control-type directory.
 *
 * Since Linux 5.10 energy_uj is readable by root only (CVE-2020-8694, "PLATYPUS":
 * powercap/powercap#7); an agent that is not root gets EACCES, which is a reason, not a crash.
 *
 * Watts = energy delta / time delta per zone, from two readings (PowerCollector keeps the last one).
 * Wraparound and what the total counts: see raplWatts and totalWatts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { TableRows } from '../../shared/protocol.ts';
import { reasonFromError, shortReason } from './types.ts';

export const DEFAULT_POWERCAP_ROOT = '/sys/class/powercap';
/** Readings further apart than this, ms, give no watts: a counter may have wrapped more than once. */
export const DEFAULT_MAX_INTERVAL_MS = 60_000;
export const FIRST_READING_REASON = 'first RAPL reading: no energy delta yet';

/** One zone as read from sysfs. */
export interface RaplZone {
  /** Directory name: `intel-rapl:0:1`. */
  readonly id: string;
  /** Id of the zone this one is a part of (`intel-rapl:0`); absent for a top-level zone. */
  readonly parent?: string;
  /** Contents of `name`: package-0, core, uncore, dram, psys ... */
  readonly name?: string;
  /** Counter, µJ. */
  readonly energyUj?: number;
  /** Highest value of the counter, µJ, after which it starts again at 0. */
  readonly maxEnergyRangeUj?: number;
  /** Why name or energyUj could not be read. */
  readonly reason?: string;
}

export interface RaplRead {
  zones: RaplZone[];
  /** Why there are no zones at all. */
  reason?: string;
}

/** Zones read at one instant; `atMs` from a monotonic clock (performance.now()). */
export interface RaplSnapshot {
  readonly atMs: number;
  readonly zones: readonly RaplZone[];
}

/** Watts of one zone between two snapshots, or why there are none. */
export interface ZoneWatts {
  readonly id: string;
  readonly parent?: string;
  readonly name?: string;
  readonly watts?: number;
  readonly reason?: string;
}

export type RaplTotal = { watts: number; counted: string[]; basis: 'psys' | 'packages' } | { reason: string };

/**
 * Watts, or why not. `pending`: the counters that count could all be read this time, but give no
 * figure yet (the first reading, a zone that just appeared, readings too far apart); the next
 * reading will. Without it, the counters cannot be read (no tree, a VM, permission denied).
 */
export type PowerResult =
  | { watts: number; zones: Array<{ zone: string; watts: number }>; source: 'measured' }
  | { reason: string; pending?: true };

const ZONE_RE = /^intel-rapl(?::\d+)+$/u;
const MAX_DEPTH = 4;
const round2 = (w: number): number => Math.round(w * 100) / 100;

/** `intel-rapl:0:1` -> `intel-rapl:0`; a top-level id -> undefined. */
export function parentOf(id: string): string | undefined {
  const cut = id.slice(0, id.lastIndexOf(':'));
  return ZONE_RE.test(cut) ? cut : undefined;
}

/** Orders zones by their numbers: intel-rapl:0:2 before intel-rapl:0:10 before intel-rapl:1. */
function byZoneNumbers(a: string, b: string): number {
  const na = a.split(':').slice(1).map(Number);
  const nb = b.split(':').slice(1).map(Number);
  for (let i = 0; i < Math.max(na.length, nb.length); i++) {
    const d = (na[i] ?? -1) - (nb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/** A file's read failure as a reason; EACCES/EPERM carry the hint that explains them. */
export function fileReason(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') return `${file}: permission denied (${code}; root only since Linux 5.10, CVE-2020-8694)`;
  if (code === 'ENOENT') return `${file}: not present (ENOENT)`;
  return shortReason(`${file}: ${reasonFromError(err)}`);
}

function listZoneDirs(dir: string): string[] {
  try {
    return readdirSync(dir).filter((d) => ZONE_RE.test(d));
  } catch {
    return [];
  }
}

type Field = { value: string } | { reason: string };
function readField(dir: string, file: string): Field {
  try {
    return { value: readFileSync(`${dir}/${file}`, 'utf8').trim() };
  } catch (err) {
    return { reason: fileReason(file, err) };
  }
}

/** A counter's text as µJ, or undefined if it is not a whole number this side of 2^53. */
function microjoules(text: string): number | undefined {
  if (!/^\d+$/u.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function readZone(id: string, dir: string): RaplZone {
  const parent = parentOf(id);
  const base = { id, ...(parent !== undefined ? { parent } : {}) };
  const name = readField(dir, 'name');
  if ('reason' in name) return { ...base, reason: name.reason };
  const max = readField(dir, 'max_energy_range_uj');
  const maxEnergyRangeUj = 'value' in max ? microjoules(max.value) : undefined;
  const withMax = { ...base, name: name.value, ...(maxEnergyRangeUj !== undefined ? { maxEnergyRangeUj } : {}) };
  const energy = readField(dir, 'energy_uj');
  if ('reason' in energy) return { ...withMax, reason: energy.reason };
  const energyUj = microjoules(energy.value);
  if (energyUj === undefined) return { ...withMax, reason: `energy_uj: not a counter (${shortReason(energy.value).slice(0, 40)})` };
  return { ...withMax, energyUj };
}

/**
 * The I/O half: every `intel-rapl:*` zone under `root`, flat or nested, each once, in zone order.
 * A file that cannot be read becomes that zone's reason; no zones at all gives `reason`.
 */
export function readRaplZones(root = DEFAULT_POWERCAP_ROOT): RaplRead {
  try {
    statSync(root);
  } catch (err) {
    return { zones: [], reason: `no ${root} (${(err as NodeJS.ErrnoException).code ?? 'error'}): no powercap driver, or a VM` };
  }
  const dirs = new Map<string, string>();
  const walk = (dir: string, depth: number): void => {
    for (const id of listZoneDirs(dir)) {
      const path = `${dir}/${id}`;
      if (!dirs.has(id)) dirs.set(id, path);
      if (depth < MAX_DEPTH) walk(path, depth + 1);
    }
  };
  walk(root, 1);
  if (dirs.size === 0) return { zones: [], reason: `no intel-rapl zones in ${root} (CPU not supported by intel_rapl_msr, or a VM)` };
  const zones = [...dirs.keys()].sort(byZoneNumbers).map((id) => readZone(id, dirs.get(id)!));
  return { zones };
}

/**
 * Pure: watts per zone of `curr` from the counters of `prev`.
 *
 * Wraparound: the kernel reports max_energy_range_uj as the 32-bit status mask in energy units
 * (get_max_energy_counter: rapl_unit_xlate(ENERGY_STATUS_MASK)), so energy_uj runs 0..max and the
 * next step after max is 0. A counter lower than before has wrapped once: delta + max. The exact
 * period is max + one energy unit (15-61 µJ, not exposed in sysfs); leaving it out is an error of
 * under 0.0001 W at one-second readings. More than one wrap cannot be seen, so readings more than
 * `maxIntervalMs` apart (a package wraps in ~20 min at 200 W) give a reason, not a figure.
 */
export function raplWatts(prev: RaplSnapshot, curr: RaplSnapshot, maxIntervalMs = DEFAULT_MAX_INTERVAL_MS): ZoneWatts[] {
  const elapsedMs = curr.atMs - prev.atMs;
  const before = new Map(prev.zones.map((z) => [z.id, z]));
  return curr.zones.map((z): ZoneWatts => {
    const base = { id: z.id, ...(z.parent !== undefined ? { parent: z.parent } : {}), ...(z.name !== undefined ? { name: z.name } : {}) };
    const p = before.get(z.id);
    const fail = (reason: string): ZoneWatts => ({ ...base, reason });
    if (z.reason !== undefined || z.energyUj === undefined) return fail(z.reason ?? 'energy_uj not read');
    if (p === undefined) return fail('zone appeared since the last reading');
    if (p.energyUj === undefined) return fail(`no previous counter (${p.reason ?? 'not read'})`);
    if (p.name !== z.name) return fail('zone changed since the last reading');
    if (!(elapsedMs > 0)) return fail('no time between the two readings');
    if (elapsedMs > maxIntervalMs) return fail(`readings ${Math.round(elapsedMs / 1000)} s apart: the counter may have wrapped more than once`);
    let delta = z.energyUj - p.energyUj;
    if (delta < 0) {
      const max = z.maxEnergyRangeUj;
      if (max === undefined || max <= 0) return fail('counter went back and max_energy_range_uj is unknown');
      delta += max;
      if (delta < 0) return fail('counter above max_energy_range_uj');
    }
    // µJ per ms is mW: / 1000 gives W.
    return { ...base, watts: round2(delta / elapsedMs / 1000) };
  });
}

/** How a zone is shown: `package-0`, `package-0/dram`, or its id when it has no name. */
export function zoneLabel(z: ZoneWatts, all: readonly ZoneWatts[]): string {
  const own = z.name ?? z.id;
  if (z.parent === undefined) return own;
  const parent = all.find((p) => p.id === z.parent);
  return `${parent?.name ?? z.parent}/${own}`;
}

/**
 * Pure: the machine's RAPL total, counting nothing twice.
 *  - psys (a top-level zone on some Intel laptops/desktops since Skylake) is the whole platform,
 *    package and DRAM included (powercap/powercap#3, powercap/raplcap#8): where it has a figure
 *    or a reason, the total is psys alone.
 *  - Otherwise every top-level zone (package-N; package-N-die-M on multi-die parts) plus every
 *    `dram` sub-zone: core (PP0) and uncore (PP1, graphics) are inside their package, DRAM is
 *    not (Intel SDM vol. 3B, RAPL domains; sustainable-computing-io/kepler#156).
 *  - Other sub-zones are taken to be inside their parent.
 * A zone that would be counted but has no figure makes the total a reason: a sum without one
 * package would look like a real, lower figure.
 */
export function totalWatts(zones: readonly ZoneWatts[]): RaplTotal {
  const top = zones.filter((z) => z.parent === undefined);
  const psys = top.filter((z) => z.name === 'psys');
  const basis = psys.length > 0 ? 'psys' : 'packages';
  const counted = basis === 'psys' ? psys : [...top, ...zones.filter((z) => z.parent !== undefined && z.name === 'dram')];
  if (counted.length === 0) return { reason: 'no RAPL package or psys zone' };
  const failed = counted.find((z) => z.watts === undefined);
  if (failed !== undefined) return { reason: shortReason(`${zoneLabel(failed, zones)}: ${failed.reason ?? 'no figure'}`) };
  const watts = round2(counted.reduce((sum, z) => sum + z.watts!, 0));
  return { watts, counted: counted.map((z) => z.id), basis };
}

/** Pure: why the zones totalWatts would count cannot be read at all, or undefined if they all can. */
export function unreadableReason(zones: readonly RaplZone[]): string | undefined {
  const asRead = zones.map((z): ZoneWatts => ({
    id: z.id,
    ...(z.parent !== undefined ? { parent: z.parent } : {}),
    ...(z.name !== undefined ? { name: z.name } : {}),
    ...(z.energyUj !== undefined ? { watts: 0 } : { reason: z.reason ?? 'energy_uj not read' }),
  }));
  const total = totalWatts(asRead);
  return 'reason' in total ? total.reason : undefined;
}

/** Pure: summed board power of the GPUs whose row has power_w (gpu table), or undefined if none has. */
export function gpuWatts(rows: Readonly<TableRows<'gpu'>> | undefined): { watts: number; gpus: number } | undefined {
  const powers = (rows ?? []).map((r) => r.power_w).filter((w): w is number => typeof w === 'number' && Number.isFinite(w) && w >= 0);
  if (powers.length === 0) return undefined;
  return { watts: round2(powers.reduce((a, b) => a + b, 0)), gpus: powers.length };
}

export interface PowerCollectorOptions {
  /** Default /sys/class/powercap. */
  root?: string;
  /** Monotonic clock, ms; default performance.now. */
  now?: () => number;
  /** Default DEFAULT_MAX_INTERVAL_MS. */
  maxIntervalMs?: number;
}

/** Keeps the previous reading and turns each new one into watts. */
export class PowerCollector {
  readonly #root: string;
  readonly #now: () => number;
  readonly #maxIntervalMs: number;
  #prev: RaplSnapshot | undefined;

  constructor(options: PowerCollectorOptions = {}) {
    this.#root = options.root ?? DEFAULT_POWERCAP_ROOT;
    this.#now = options.now ?? (() => performance.now());
    this.#maxIntervalMs = options.maxIntervalMs ?? DEFAULT_MAX_INTERVAL_MS;
    if (!(this.#maxIntervalMs > 0)) throw new RangeError(`maxIntervalMs must be a positive number, got ${this.#maxIntervalMs}`);
  }

  /**
   * Reads the counters; watts since the previous call, or why not. `gpuRows` (the last gpu table)
   * adds the GPUs' board power as zone `gpu`, except where the total is psys, which already
   * covers the platform. Never throws.
   */
  read(gpuRows?: Readonly<TableRows<'gpu'>>): PowerResult {
    let read: RaplRead;
    try {
      read = readRaplZones(this.#root);
    } catch (err) {
      read = { zones: [], reason: reasonFromError(err) };
    }
    const snapshot: RaplSnapshot = { atMs: this.#now(), zones: read.zones };
    const prev = this.#prev;
    this.#prev = read.reason === undefined ? snapshot : undefined;
    if (read.reason !== undefined) return { reason: shortReason(read.reason) };
    const unreadable = unreadableReason(read.zones);
    if (unreadable !== undefined) return { reason: unreadable };
    if (prev === undefined) return { reason: FIRST_READING_REASON, pending: true };
    const perZone = raplWatts(prev, snapshot, this.#maxIntervalMs);
    const total = totalWatts(perZone);
    // Every counted counter was read just now: what failed is the delta from the last reading.
    if ('reason' in total) return { reason: total.reason, pending: true };
    const zones = perZone.filter((z) => z.watts !== undefined).map((z) => ({ zone: zoneLabel(z, perZone), watts: z.watts! }));
    const gpu = total.basis === 'psys' ? undefined : gpuWatts(gpuRows);
    if (gpu !== undefined) zones.push({ zone: 'gpu', watts: gpu.watts });
    return { watts: round2(total.watts + (gpu?.watts ?? 0)), zones, source: 'measured' };
  }
}
