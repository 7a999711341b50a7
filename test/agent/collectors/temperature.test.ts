import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSample } from '../../../shared/protocol.ts';
import {
  NO_SENSORS_REASON,
  createTemperatureCollector,
  milliToCelsius,
  parseTemperatures,
  readHwmon,
  readTemperatures,
  temperatureCollector,
  type HwmonSensor,
  type ThermalZone,
} from '../../../agent/collectors/temperature.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.deepEqual(sample[name as keyof typeof sample], value);
}
/** A fixture sysfs tree under test/fixtures/sys/, as a root ending in '/'. */
const tree = (name: string): string => new URL(`../../fixtures/sys/${name}/`, import.meta.url).pathname;

const TREE_CASES: ReadonlyArray<{ name: string; root: string; readings: Record<string, unknown>; missing: Record<string, RegExp> }> = [
  {
    // Core labels out of file order and with gaps (Core 0, 4, 8); drivetemp's 99 °C is never read; nvme 38.85 -> 38.9.
    name: 'intel: coretemp package, cores in core order, acpitz and nvme, drivetemp skipped',
    root: tree('intel'),
    readings: { temp_cpu_c: 45, temp_max_c: 45, temp_cores_c: [42, 44, 43.6] },
    missing: {},
  },
  {
    name: 'xeon2: two packages listed in reverse hwmon order: hottest package, cores package 0 first',
    root: tree('xeon2'),
    readings: { temp_cpu_c: 61, temp_max_c: 61, temp_cores_c: [50, 51, 60, 59] },
    missing: {},
  },
  {
    name: 'amd: k10temp Tctl, a disconnected sensor at -128 °C dropped, no per-core sensors',
    root: tree('amd'),
    readings: { temp_cpu_c: 61.3, temp_max_c: 61.3 },
    missing: { temp_cores_c: /no per-core sensors/ },
  },
  {
    name: 'rpi: no hwmon class, thermal zone cpu-thermal',
    root: tree('rpi'),
    readings: { temp_cpu_c: 51.5, temp_max_c: 51.5 },
    missing: { temp_cores_c: /no per-core sensors/ },
  },
  {
    name: 'no sysfs at all (like this VM)',
    root: tree('does-not-exist'),
    readings: {},
    missing: { temp_cpu_c: /^no temperature sensors exposed/, temp_max_c: /^no temperature sensors exposed/, temp_cores_c: /^no temperature sensors exposed/ },
  },
];
for (const c of TREE_CASES) {
  test(`readTemperatures (fixture tree): ${c.name}`, async () => {
    const result = readTemperatures(c.root);
    assert.deepEqual(result.readings, c.readings);
    assert.deepEqual(Object.keys(result.missing).sort(), Object.keys(c.missing).sort());
    for (const [name, re] of Object.entries(c.missing)) assert.match(result.missing[name]!, re, name);
    assertValidSample(result);
    assert.deepEqual(await createTemperatureCollector(c.root).collect(), result);
  });
}

const s = (chip: string, input: string, label?: string, dir = `hw-${chip}`): HwmonSensor => ({ dir, chip, input, ...(label ? { label } : {}) });
const PURE_CASES: ReadonlyArray<{ name: string; sensors: HwmonSensor[]; zones: ThermalZone[]; cpu?: number; max?: number }> = [
  { name: 'k10temp Tdie preferred over Tctl (Tctl carries an offset)', sensors: [s('k10temp', '75000', 'Tctl'), s('k10temp', '55000', 'Tdie')], zones: [], cpu: 55, max: 75 },
  { name: 'zenpower Tdie', sensors: [s('zenpower', '48125', 'Tdie')], zones: [], cpu: 48.1, max: 48.1 },
  { name: 'acpitz only: last-resort CPU reading', sensors: [s('acpitz', '30000')], zones: [], cpu: 30, max: 30 },
  { name: 'nvme only: no CPU reading, max from nvme', sensors: [s('nvme', '41000', 'Composite')], zones: [], max: 41 },
  { name: 'zones: x86_pkg_temp before acpitz', sensors: [], zones: [{ type: 'acpitz', temp: '70000' }, { type: 'x86_pkg_temp', temp: '52000' }], cpu: 52, max: 70 },
  { name: 'zones ignored where hwmon has sensors', sensors: [s('nvme', '41000')], zones: [{ type: 'x86_pkg_temp', temp: '90000' }], max: 41 },
  { name: 'garbage and out-of-range inputs are dropped', sensors: [s('coretemp', 'N/A', 'Package id 0'), s('coretemp', '255000', 'Core 0'), s('it8728', '')], zones: [] },
];
for (const c of PURE_CASES) {
  test(`parseTemperatures: ${c.name}`, () => {
    const r = parseTemperatures(c.sensors, c.zones);
    assert.equal(r.readings.temp_cpu_c, c.cpu);
    assert.equal(r.readings.temp_max_c, c.max);
    if (c.cpu === undefined) assert.ok(r.missing['temp_cpu_c']);
    if (c.max === undefined) assert.match(r.missing['temp_max_c']!, /no temperature sensor gave a plausible reading/);
    assertValidSample(r);
  });
}

test('milliToCelsius: millidegrees to 0.1 °C within -40..150', () => {
  assert.equal(milliToCelsius('45000\n'), 45);
  assert.equal(milliToCelsius('-5500'), -5.5);
  assert.equal(milliToCelsius('38850'), 38.9);
  assert.equal(milliToCelsius('-128000'), undefined);
  assert.equal(milliToCelsius(''), undefined);
});

test('readHwmon: labels paired with inputs, temp10 after temp3, drivetemp never read', () => {
  const sensors = readHwmon(tree('intel'));
  assert.deepEqual(sensors.map((x) => `${x.dir}/${x.chip}/${x.label ?? '-'}=${x.input}`), [
    'hwmon0/acpitz/-=27800',
    'hwmon1/coretemp/Package id 0=45000',
    'hwmon1/coretemp/Core 4=44000',
    'hwmon1/coretemp/Core 0=42000',
    'hwmon1/coretemp/Core 8=43560',
    'hwmon2/nvme/Composite=38850',
  ]);
});

test('temperatureCollector on this machine: values in range, or the plain reason', async () => {
  const result = await temperatureCollector.collect();
  for (const n of temperatureCollector.provides) assert.ok(result.readings[n] !== undefined || result.missing[n] !== undefined, n);
  if (readHwmon().length === 0 && result.readings.temp_max_c === undefined) assert.equal(result.missing['temp_max_c'], NO_SENSORS_REASON);
  assertValidSample(result);
});
