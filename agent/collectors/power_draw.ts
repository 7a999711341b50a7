/**
 * The power of every sample, and where it comes from. A 'derived' collector: the Sampler runs it
 * after the others and hands it their readings, because the estimate needs this sample's CPU %
 * and memory, and the measured figure the gpu table of the slow class.
 *
 *  - measured: the RAPL counters (power.ts) can be read: power_w (psys, else packages + dram, plus
 *    GPU board power where the gpu table reports it), power_zones, power_source 'measured';
 *  - estimated: they cannot (no powercap tree, a VM, energy_uj root-only since Linux 5.10):
 *    power_model.ts from this sample's cpu_pct and mem_total_bytes, plus GPU board power where
 *    reported (the model leaves discrete GPUs out); power_source 'estimated', power_zones missing
 *    with the RAPL reason;
 *  - neither: the counters can be read but give no figure this once (the first reading, readings
 *    too far apart): power_w and power_zones missing with that reason. No estimate stands in, so a
 *    measured host's series and badge never flip to an estimate and back for one sample.
 *
 * First sample: start() reads the counters when the agent starts, so the first sample already has
 * a delta (over the time up to it). Without start(), the first sample says "first RAPL reading".
 * The state (measured, or estimated and why) is logged at start() and once per change, never per
 * sample; every sample also carries the reason in `missing`.
 */
import os from 'node:os';
import type { Logger } from '../../shared/log.ts';
import type { Readings } from '../../shared/protocol.ts';
import { cpuClassOf, estimateWatts, resolveModel, type CpuClass, type PowerModel, type PowerModelOverrides } from '../power_model.ts';
import { DEFAULT_POWERCAP_ROOT, PowerCollector, gpuWatts, type PowerResult } from './power.ts';
import type { StaticFacts } from './static_facts.ts';
import type { Collector, CollectResult } from './types.ts';
import { shortReason } from './types.ts';

/** The agent's power settings (agent/settings.ts); null: the class default. */
export interface PowerModelSettings {
  readonly powerClass: 'auto' | CpuClass;
  readonly powerIdleW: number | null;
  readonly powerMaxW: number | null;
  readonly powerWPerGib: number | null;
}

/** What a CPU class is told from. */
export interface CpuInfo {
  readonly model?: string | undefined;
  /** Logical CPUs. */
  readonly cpus?: number | undefined;
  readonly arch?: string | undefined;
}

const DEFAULT_SETTINGS: PowerModelSettings = { powerClass: 'auto', powerIdleW: null, powerMaxW: null, powerWPerGib: null };

/** This machine's CPU as node:os sees it (/proc/cpuinfo's model name on Linux). */
export function thisCpu(): CpuInfo {
  return { model: os.cpus()[0]?.model, cpus: os.availableParallelism(), arch: os.arch() };
}

/** The static facts' CPU (what the dashboard shows), node:os for what they lack. */
export function cpuOfFacts(facts: StaticFacts, here: CpuInfo = thisCpu()): CpuInfo {
  return { model: facts.cpu_model ?? here.model, cpus: facts.cpu_cores ?? here.cpus, arch: facts.arch ?? here.arch };
}

/**
 * The estimate's figures from the settings: the class (auto: cpuClassOf the CPU), its defaults,
 * the overrides over them. Throws ConfigError naming the overrides given when they contradict
 * each other or the class (an idle above the max); call it at start.
 */
export function powerModelFor(settings: PowerModelSettings, cpu: CpuInfo): PowerModel {
  const cpus = cpu.cpus !== undefined && Number.isInteger(cpu.cpus) && cpu.cpus >= 1 ? cpu.cpus : 1;
  const cpuClass = settings.powerClass === 'auto' ? cpuClassOf(cpu.model, cpus, cpu.arch) : settings.powerClass;
  const overrides: PowerModelOverrides = {};
  const given: string[] = [];
  if (settings.powerIdleW !== null) { overrides.idleWatts = settings.powerIdleW; given.push('--power-idle-w'); }
  if (settings.powerMaxW !== null) { overrides.maxWatts = settings.powerMaxW; given.push('--power-max-w'); }
  if (settings.powerWPerGib !== null) { overrides.wattsPerGiB = settings.powerWPerGib; given.push('--power-w-per-gib'); }
  return resolveModel(cpuClass, cpus, overrides, given.length > 0 ? given.join('/') : '--power-class');
}

/** Pure: the estimate for one sample's readings (GPU board power added), or why there is none. */
export function estimateFor(readings: Readonly<Readings>, model: PowerModel): { watts: number } | { reason: string } {
  const cpuPct = readings.cpu_pct;
  const memTotalBytes = readings.mem_total_bytes;
  if (cpuPct === undefined) return { reason: 'no cpu_pct in this sample' };
  if (memTotalBytes === undefined) return { reason: 'no mem_total_bytes in this sample' };
  // The model is already resolved: its figures go in as overrides, so the CPU count no longer matters.
  const { idleWatts, maxWatts, wattsPerGiB } = model;
  const estimate = estimateWatts({ cpuPct, memTotalBytes, cpus: 1, cpuClass: model.cpuClass, overrides: { idleWatts, maxWatts, wattsPerGiB } });
  const gpu = gpuWatts(readings.gpu);
  return { watts: Math.round((estimate.watts + (gpu?.watts ?? 0)) * 100) / 100 };
}

/** Pure: a sample's power readings from the RAPL result and the sample's own readings. */
export function choosePower(rapl: PowerResult, readings: Readonly<Readings>, model: PowerModel): CollectResult {
  if ('watts' in rapl) {
    return { readings: { power_w: rapl.watts, power_zones: rapl.zones }, missing: {}, fields: { power_source: 'measured' } };
  }
  const why = shortReason(`RAPL: ${rapl.reason}`);
  if (rapl.pending === true) return { readings: {}, missing: { power_w: why, power_zones: why } };
  const estimate = estimateFor(readings, model);
  if ('reason' in estimate) return { readings: {}, missing: { power_w: shortReason(`${why}; no estimate: ${estimate.reason}`), power_zones: why } };
  return { readings: { power_w: estimate.watts }, missing: { power_zones: why }, fields: { power_source: 'estimated' } };
}

export interface PowerDrawOptions {
  /** The powercap tree; default /sys/class/powercap. */
  root?: string;
  /** The estimate's figures (powerModelFor at start); default: this machine's class defaults. */
  model?: PowerModel;
  /** Where the state goes at start() and on each change; default: nowhere. */
  log?: Logger;
  /** Monotonic clock, ms; default performance.now. */
  now?: () => number;
}

export class PowerDrawCollector implements Collector {
  readonly name = 'power';
  readonly kind = 'derived';
  readonly provides = ['power_w', 'power_zones'] as const;
  readonly root: string;
  readonly #rapl: PowerCollector;
  readonly #log: Logger | undefined;
  #model: PowerModel | undefined;
  /** 'measured', or the reason the counters cannot be read: what was last logged. */
  #state: string | undefined;

  constructor(options: PowerDrawOptions = {}) {
    this.root = options.root ?? DEFAULT_POWERCAP_ROOT;
    this.#rapl = new PowerCollector({ root: this.root, ...(options.now ? { now: options.now } : {}) });
    this.#model = options.model;
    this.#log = options.log;
  }

  /** Resolved at first use when not given, so that building the default list costs nothing. */
  get model(): PowerModel {
    this.#model ??= powerModelFor(DEFAULT_SETTINGS, thisCpu());
    return this.#model;
  }

  /** Reads the counters once (so the first sample has a delta) and logs how power will be had. */
  start(): PowerResult {
    const rapl = this.#rapl.read();
    this.#report(rapl, true);
    return rapl;
  }

  async collect(sample?: Readonly<CollectResult>): Promise<CollectResult> {
    const readings = sample?.readings ?? {};
    const rapl = this.#rapl.read(readings.gpu);
    this.#report(rapl, false);
    return choosePower(rapl, readings, this.model);
  }

  #report(rapl: PowerResult, atStart: boolean): void {
    // Counters read but no figure this once: not a change of state (at start, the normal case).
    const state = 'watts' in rapl || rapl.pending === true ? 'measured' : rapl.reason;
    if (state === this.#state) return;
    const first = this.#state === undefined;
    this.#state = state;
    if (this.#log === undefined) return;
    if (state === 'measured') {
      this.#log.info('power: measured from the RAPL counters', { root: this.root });
      return;
    }
    const m = this.model;
    const fields = { reason: state, root: this.root, class: m.cpuClass, idle_w: m.idleWatts, max_w: m.maxWatts, w_per_gib: m.wattsPerGiB };
    // At start, estimating is the normal state of a VM; a change to it later is news.
    if (first || atStart) this.#log.info('power: estimated from CPU load and memory (RAPL counters cannot be read)', fields);
    else this.#log.warn('power: estimated from now on (RAPL counters cannot be read any more)', fields);
  }
}
