/**
 * Temperatures from /sys/class/hwmon/hwmon{N}/{name,temp*_input,temp*_label}, and from
 * /sys/class/thermal/thermal_zone{N}/{type,temp} where no hwmon sensor exists. Plain sysfs reads,
 * no child process (si.cpuTemperature() spawned 2-7 a call). Each coretemp read makes the kernel
 * ask the measured core (an IPI and an MSR read, some µs), so the cost grows with the core count:
 * ~2-3 µs a file plus that. drivetemp sensors are skipped: each read is an ATA command to the
 * disk, which must not be woken or queued behind every second.
 *
 * temp_cpu_c, first rule that has a value: coretemp "Package id N" (hottest package); k10temp or
 * zenpower Tdie, else Tctl (hottest chip; Tctl may carry a fan-curve offset on older Ryzen);
 * a hwmon chip named cpu_thermal/cpu-thermal (Raspberry Pi and other SoCs); thermal zone
 * x86_pkg_temp or cpu*thermal; acpitz (hwmon or zone, a motherboard reading near the CPU) last.
 * temp_cores_c: coretemp "Core N", packages in package order, cores by N. temp_max_c: hottest of
 * every sensor read. Values outside -40..150 °C are the marks of a disconnected sensor (-128,
 * 255) and are dropped.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Readings } from '../../shared/protocol.ts';
import type { Collector, CollectResult } from './types.ts';

/** One hwmon temperature: chip directory (hwmon3), its `name`, label (if any), raw temp*_input text. */
export interface HwmonSensor {
  readonly dir: string;
  readonly chip: string;
  readonly label?: string;
  readonly input: string;
}

/** One thermal zone: its `type` and raw `temp` text (millidegrees). */
export interface ThermalZone {
  readonly type: string;
  readonly temp: string;
}

export const NO_SENSORS_REASON = 'no temperature sensors exposed in /sys/class/hwmon or /sys/class/thermal';
const MIN_PLAUSIBLE_C = -40;
const MAX_PLAUSIBLE_C = 150;
const SKIPPED_CHIPS = new Set(['drivetemp']);

/** Millidegrees text -> °C to 0.1, or undefined when it is not a plausible reading. */
export function milliToCelsius(text: string): number | undefined {
  const milli = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(milli)) return undefined;
  const c = Math.round(milli / 100) / 10;
  return c >= MIN_PLAUSIBLE_C && c <= MAX_PLAUSIBLE_C ? c : undefined;
}

const maxOf = (xs: readonly number[]): number | undefined => (xs.length > 0 ? Math.max(...xs) : undefined);

/** Pure: the sensors and zones read -> temp_cpu_c, temp_cores_c, temp_max_c or the reasons. */
export function parseTemperatures(sensors: readonly HwmonSensor[], zones: readonly ThermalZone[]): CollectResult {
  const hw = sensors.map((s) => ({ ...s, c: milliToCelsius(s.input) })).filter((s): s is HwmonSensor & { c: number } => s.c !== undefined);
  const zs = zones.map((z) => ({ type: z.type.trim(), c: milliToCelsius(z.temp) })).filter((z): z is { type: string; c: number } => z.c !== undefined);
  // Zones are a fallback: where hwmon exists, the same zones usually appear there as chips too.
  const useZones = hw.length === 0;
  const hwOf = (pred: (s: HwmonSensor) => boolean): number[] => hw.filter(pred).map((s) => s.c);
  const zoneOf = (pred: (type: string) => boolean): number[] => (useZones ? zs.filter((z) => pred(z.type)).map((z) => z.c) : []);
  const amd = (s: HwmonSensor): boolean => s.chip === 'k10temp' || s.chip === 'zenpower';
  const cpuRules: ReadonlyArray<() => number[]> = [
    () => hwOf((s) => s.chip === 'coretemp' && /^Package id \d+$/u.test(s.label ?? '')),
    () => { const tdie = hwOf((s) => amd(s) && s.label === 'Tdie'); return tdie.length > 0 ? tdie : hwOf((s) => amd(s) && s.label === 'Tctl'); },
    () => hwOf((s) => s.chip === 'cpu_thermal' || s.chip === 'cpu-thermal'),
    () => zoneOf((t) => t === 'x86_pkg_temp' || /^cpu\d*[-_]thermal$/u.test(t)),
    () => [...hwOf((s) => s.chip === 'acpitz'), ...zoneOf((t) => t === 'acpitz')],
  ];
  let cpu: number | undefined;
  for (const rule of cpuRules) {
    cpu = maxOf(rule());
    if (cpu !== undefined) break;
  }
  const all = useZones ? zs.map((z) => z.c) : hw.map((s) => s.c);
  const readings: Readings = {};
  const missing: Record<string, string> = {};
  const none = sensors.length === 0 && zones.length === 0;
  if (cpu !== undefined) readings.temp_cpu_c = cpu;
  else missing.temp_cpu_c = none ? NO_SENSORS_REASON : 'no CPU sensor among the temperature sensors (coretemp, k10temp, cpu_thermal, acpitz)';
  const max = maxOf(all);
  if (max !== undefined) readings.temp_max_c = max;
  else missing.temp_max_c = none ? NO_SENSORS_REASON : 'no temperature sensor gave a plausible reading';
  const cores = coreTemps(hw);
  if (cores.length > 0) readings.temp_cores_c = cores;
  else missing.temp_cores_c = none ? NO_SENSORS_REASON : 'no per-core sensors (coretemp "Core N" labels)';
  return { readings, missing };
}

/** coretemp "Core N" readings, chips ordered by their "Package id", cores by N within a chip. */
function coreTemps(hw: ReadonlyArray<HwmonSensor & { c: number }>): number[] {
  const chips = new Map<string, { pkg: number; cores: Array<[number, number]> }>();
  for (const s of hw) {
    if (s.chip !== 'coretemp') continue;
    const chip = chips.get(s.dir) ?? { pkg: Number.MAX_SAFE_INTEGER, cores: [] };
    chips.set(s.dir, chip);
    const pkg = /^Package id (\d+)$/u.exec(s.label ?? '');
    const core = /^Core (\d+)$/u.exec(s.label ?? '');
    if (pkg) chip.pkg = Number(pkg[1]);
    if (core) chip.cores.push([Number(core[1]), s.c]);
  }
  return [...chips.values()].sort((a, b) => a.pkg - b.pkg).flatMap((chip) => chip.cores.sort((a, b) => a[0] - b[0]).map(([, c]) => c));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    // A sensor that is listed but not readable (EIO, ENODATA: disconnected) is skipped.
    return undefined;
  }
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** Orders hwmon2 before hwmon10 and temp3_input before temp10_input (by the first number in the name). */
const indexOf = (name: string): number => Number(/\d+/u.exec(name)?.[0] ?? 0);
const byIndex = (a: string, b: string): number => indexOf(a) - indexOf(b);

/** The I/O half: every hwmon temperature under `root`, chips in hwmon order. */
export function readHwmon(root = '/'): HwmonSensor[] {
  const base = `${root}sys/class/hwmon`;
  const out: HwmonSensor[] = [];
  for (const dir of listDir(base).filter((d) => /^hwmon\d+$/u.test(d)).sort(byIndex)) {
    const chip = readText(`${base}/${dir}/name`) ?? '';
    if (SKIPPED_CHIPS.has(chip)) continue;
    const inputs = listDir(`${base}/${dir}`).filter((f) => /^temp\d+_input$/u.test(f)).sort(byIndex);
    for (const file of inputs) {
      const input = readText(`${base}/${dir}/${file}`);
      if (input === undefined) continue;
      const label = readText(`${base}/${dir}/${file.replace('_input', '_label')}`);
      out.push({ dir, chip, input, ...(label !== undefined ? { label } : {}) });
    }
  }
  return out;
}

/** The I/O half: every thermal zone under `root`. */
export function readThermalZones(root = '/'): ThermalZone[] {
  const base = `${root}sys/class/thermal`;
  const out: ThermalZone[] = [];
  for (const dir of listDir(base).filter((d) => /^thermal_zone\d+$/u.test(d)).sort(byIndex)) {
    const temp = readText(`${base}/${dir}/temp`);
    if (temp !== undefined) out.push({ type: readText(`${base}/${dir}/type`) ?? '', temp });
  }
  return out;
}

/** Reads hwmon, and the thermal zones only where hwmon has no sensor. */
export function readTemperatures(root = '/'): CollectResult {
  const sensors = readHwmon(root);
  return parseTemperatures(sensors, sensors.length > 0 ? [] : readThermalZones(root));
}

export function createTemperatureCollector(root = '/'): Collector {
  return {
    name: 'temperature',
    kind: 'fast',
    provides: ['temp_cpu_c', 'temp_max_c', 'temp_cores_c'],
    async collect() {
      return readTemperatures(root);
    },
  };
}

export const temperatureCollector: Collector = createTemperatureCollector();
