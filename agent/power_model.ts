/**
 * Estimated power, for hosts where nothing can be measured (no RAPL, a VM, not root):
 *
 *   watts = idle + (max - idle) × cpuPct / 100 + wattsPerGiB × memory GiB
 *
 * idle and max are the whole host's draw at 0 % and 100 % CPU, memory left out (it has its own
 * term). Figures are per CPU class, or per logical CPU for the classes whose size varies most
 * (server, unknown); a host's own figures (overrides, from the agent's settings) replace them.
 *
 * Every default is rough: a typical figure for the class, not a measurement of any machine. They
 * are there so a fleet total is of the right order, and the page marks every such figure as
 * estimated. Origins:
 *  - server, unknown: 0.74 W idle and 3.5 W busy per logical CPU, 0.392 W per GB of memory: the
 *    Cloud Carbon Footprint coefficients (AWS averages from SPECpower_ssj2008 results; memory
 *    0.000392 kWh per GB-hour), which scale from a 2-vCPU VM to a 128-thread host. `unknown` uses
 *    them because a host whose CPU is not recognised is most often a VM.
 *  - desktop: 40 W idle, 160 W busy: a 65-125 W TDP CPU, board, SSD, fans, and PSU losses; no
 *    discrete GPU (its board power is measured, gpu table).
 *  - laptop: 8 W idle, 45 W busy: a 15-28 W TDP (U/P/H-series) CPU turbos to about twice its TDP,
 *    plus screen and board.
 *  - sbc: 3 W idle, 7 W busy, no memory term: Raspberry Pi 4/5 board figures (~2.7-3 W idle,
 *    ~6.4-7 W with every core busy), RAM on the board included.
 */
import { ConfigError } from '../shared/errors.ts';

export const CPU_CLASSES = ['desktop', 'laptop', 'server', 'sbc', 'unknown'] as const;
export type CpuClass = (typeof CPU_CLASSES)[number];

export interface ClassDefaults {
  /** W at 0 % CPU: the host's, or per logical CPU if perCpu. */
  readonly idleWatts: number;
  /** W at 100 % CPU: the host's, or per logical CPU if perCpu. */
  readonly maxWatts: number;
  readonly perCpu: boolean;
  /** W per GiB of installed memory. */
  readonly wattsPerGiB: number;
}

export const CLASS_DEFAULTS: Readonly<Record<CpuClass, ClassDefaults>> = Object.freeze({
  server: { idleWatts: 0.74, maxWatts: 3.5, perCpu: true, wattsPerGiB: 0.392 },
  unknown: { idleWatts: 0.74, maxWatts: 3.5, perCpu: true, wattsPerGiB: 0.392 },
  desktop: { idleWatts: 40, maxWatts: 160, perCpu: false, wattsPerGiB: 0.392 },
  laptop: { idleWatts: 8, maxWatts: 45, perCpu: false, wattsPerGiB: 0.392 },
  sbc: { idleWatts: 3, maxWatts: 7, perCpu: false, wattsPerGiB: 0 },
});

/** A host's own figures; each replaces its class default. Whole-host watts. */
export interface PowerModelOverrides {
  idleWatts?: number;
  maxWatts?: number;
  wattsPerGiB?: number;
}

/** The figures an estimate uses, whole host. */
export interface PowerModel {
  readonly cpuClass: CpuClass;
  readonly idleWatts: number;
  readonly maxWatts: number;
  readonly wattsPerGiB: number;
}

/** Bounds of a setting: a host above 100 kW or 100 W per GiB is a typo. */
export const MAX_HOST_WATTS = 100_000;
export const MAX_WATTS_PER_GIB = 100;
const GIB = 1024 ** 3;

const isArm = (arch: string): boolean => /^(arm|aarch64)/iu.test(arch);

/** First rule that matches names the class; `why` documents each rule. */
const CLASS_RULES: ReadonlyArray<{ cls: CpuClass; why: string; test: (model: string, cpus: number, arch: string) => boolean }> = [
  { cls: 'unknown', why: 'hypervisor placeholder model (QEMU, KVM): the host CPU is hidden', test: (m) => /\b(QEMU|KVM|Bochs)\b|Virtual CPU/iu.test(m) },
  { cls: 'server', why: 'server and workstation CPU families', test: (m) => /Xeon|EPYC|Opteron|Threadripper|Neoverse|Graviton|Ampere|Altra|ThunderX|Kunpeng|POWER\d/iu.test(m) },
  { cls: 'sbc', why: 'ARM board SoC with at most 8 CPUs (Raspberry Pi, Rockchip, Allwinner, Amlogic)', test: (m, c, a) => isArm(a) && c <= 8 && (m === '' || /Cortex-A|BCM\d|Raspberry|Rockchip|RK\d{4}|Allwinner|Amlogic/iu.test(m)) },
  { cls: 'laptop', why: 'Apple silicon (Asahi Linux)', test: (m) => /\bApple M\d/iu.test(m) },
  { cls: 'laptop', why: 'Intel mobile suffixes (U, Y, H, HQ, HK, HS, HX, P, M, MQ, G7) and mobile lines', test: (m) => /\bi[3579]-\d{4,5}(U|Y|H|HQ|HK|HS|HX|P|M|MQ|G\d)\b|\bCore\S* Ultra [3579] \d{3}[UHV]\b|\bCore\S* m[357]-|\b(Pentium|Celeron)\S*( Silver)? N\d{4}|\bAtom\b/iu.test(m) },
  { cls: 'laptop', why: 'AMD mobile suffixes (U, H, HS, HX) and Ryzen AI', test: (m) => /\bRyzen\b.*\b\d{4}(U|H|HS|HX)\b|\bRyzen AI\b/iu.test(m) },
  { cls: 'desktop', why: 'x86 desktop lines', test: (m, _c, a) => !isArm(a) && /\bCore\b|Ryzen|Pentium|Celeron|Athlon|Phenom|\bFX-/iu.test(m) },
  { cls: 'server', why: '32 or more logical CPUs under a name not recognised above', test: (_m, c) => c >= 32 },
];

/** The class of a CPU from its model text, logical CPU count and architecture (table above). */
export function cpuClassOf(cpuModel: string | undefined, cpus: number | undefined, arch: string | undefined): CpuClass {
  const model = (cpuModel ?? '').trim();
  const n = cpus !== undefined && Number.isFinite(cpus) && cpus > 0 ? cpus : 1;
  for (const rule of CLASS_RULES) if (rule.test(model, n, arch ?? '')) return rule.cls;
  return 'unknown';
}

function checkWatts(value: number | undefined, what: string, max: number, setting: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new ConfigError(setting, `${what} must be a number from 0 to ${max}, got ${String(value)}`);
  }
}

/**
 * The class defaults for `cpus` logical CPUs with `overrides` applied, checked: raises ConfigError
 * (naming `setting`) for a value out of range or an idle above the max. Call it once at start.
 */
export function resolveModel(cpuClass: CpuClass, cpus: number, overrides: PowerModelOverrides = {}, setting = 'power model'): PowerModel {
  if (!CPU_CLASSES.includes(cpuClass)) throw new ConfigError(setting, `CPU class must be one of ${CPU_CLASSES.join(', ')}, got ${String(cpuClass)}`);
  if (!Number.isInteger(cpus) || cpus < 1) throw new RangeError(`cpus must be a whole number above 0, got ${cpus}`);
  checkWatts(overrides.idleWatts, 'idle watts', MAX_HOST_WATTS, setting);
  checkWatts(overrides.maxWatts, 'max watts', MAX_HOST_WATTS, setting);
  checkWatts(overrides.wattsPerGiB, 'watts per GiB', MAX_WATTS_PER_GIB, setting);
  const d = CLASS_DEFAULTS[cpuClass];
  const scale = d.perCpu ? cpus : 1;
  const idleWatts = overrides.idleWatts ?? d.idleWatts * scale;
  const maxWatts = overrides.maxWatts ?? d.maxWatts * scale;
  if (idleWatts > maxWatts) throw new ConfigError(setting, `idle watts (${idleWatts}) above max watts (${maxWatts})`);
  return { cpuClass, idleWatts, maxWatts, wattsPerGiB: overrides.wattsPerGiB ?? d.wattsPerGiB };
}

export interface EstimateInput {
  /** Busy % of all CPUs, 0-100 (values outside are clamped). */
  cpuPct: number;
  memTotalBytes: number;
  /** Logical CPUs. */
  cpus: number;
  /** The class; absent: cpuClassOf(cpuModel, cpus, arch). */
  cpuClass?: CpuClass;
  cpuModel?: string;
  arch?: string;
  overrides?: PowerModelOverrides;
}

export interface PowerEstimate extends PowerModel {
  /** Estimated draw, W, to 0.1. */
  readonly watts: number;
  /** The memory term, W. */
  readonly memWatts: number;
  readonly source: 'estimated';
}

/** The model's figure for one sample. Throws RangeError for a cpuPct or memTotalBytes that is not a number. */
export function estimateWatts(input: EstimateInput): PowerEstimate {
  const { cpuPct, memTotalBytes, cpus } = input;
  if (typeof cpuPct !== 'number' || !Number.isFinite(cpuPct)) throw new RangeError(`cpuPct must be a finite number, got ${cpuPct}`);
  if (typeof memTotalBytes !== 'number' || !Number.isFinite(memTotalBytes) || memTotalBytes < 0) throw new RangeError(`memTotalBytes must be 0 or more, got ${memTotalBytes}`);
  const cpuClass = input.cpuClass ?? cpuClassOf(input.cpuModel, cpus, input.arch);
  const model = resolveModel(cpuClass, cpus, input.overrides);
  const load = Math.min(100, Math.max(0, cpuPct)) / 100;
  const memWatts = model.wattsPerGiB * (memTotalBytes / GIB);
  const watts = Math.round((model.idleWatts + (model.maxWatts - model.idleWatts) * load + memWatts) * 10) / 10;
  return { ...model, watts, memWatts: Math.round(memWatts * 100) / 100, source: 'estimated' };
}

/** A settings parser (shared/config.ts style) for a number of watts from `min` to `max`, decimals allowed. */
export function wattsIn(min: number, max: number): (raw: string, name: string) => number {
  return (raw, name) => {
    const v = Number(raw.trim());
    if (raw.trim() === '' || !Number.isFinite(v) || v < min || v > max) throw new ConfigError(name, `must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return v;
  };
}
