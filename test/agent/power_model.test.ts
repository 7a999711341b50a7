import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES } from '../../shared/errors.ts';
import { CLASS_DEFAULTS, CPU_CLASSES, cpuClassOf, estimateWatts, resolveModel, wattsIn, type CpuClass } from '../../agent/power_model.ts';

const GIB = 1024 ** 3;
const configError = (setting: RegExp) => (err: unknown): boolean => {
  const e = err as { code?: string; setting?: string };
  return e.code === ERROR_CODES.CONFIG_INVALID && setting.test(e.setting ?? '');
};

const CLASS_CASES: ReadonlyArray<{ model: string; cpus: number; arch: string; cls: CpuClass }> = [
  { model: 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz', cpus: 80, arch: 'x64', cls: 'server' },
  { model: 'AMD EPYC 7B13', cpus: 2, arch: 'x64', cls: 'server' },
  { model: 'AMD Ryzen Threadripper 3970X 32-Core Processor', cpus: 64, arch: 'x64', cls: 'server' },
  { model: 'Neoverse-N1', cpus: 4, arch: 'arm64', cls: 'server' },
  { model: 'QEMU Virtual CPU version 2.5+', cpus: 4, arch: 'x64', cls: 'unknown' },
  { model: 'Common KVM processor', cpus: 8, arch: 'x64', cls: 'unknown' },
  { model: 'Cortex-A72', cpus: 4, arch: 'aarch64', cls: 'sbc' },
  { model: 'ARM Cortex-A76', cpus: 4, arch: 'arm64', cls: 'sbc' },
  { model: '', cpus: 4, arch: 'armv7l', cls: 'sbc' },
  { model: 'Cortex-A72', cpus: 16, arch: 'arm64', cls: 'unknown' },
  { model: 'Apple M2', cpus: 8, arch: 'arm64', cls: 'laptop' },
  { model: 'Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz', cpus: 8, arch: 'x64', cls: 'laptop' },
  { model: '12th Gen Intel(R) Core(TM) i7-1260P', cpus: 16, arch: 'x64', cls: 'laptop' },
  { model: '11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz', cpus: 8, arch: 'x64', cls: 'laptop' },
  { model: 'Intel(R) Core(TM) i7-4700MQ CPU @ 2.40GHz', cpus: 8, arch: 'x64', cls: 'laptop' },
  { model: 'Intel(R) Core(TM) Ultra 7 155H', cpus: 22, arch: 'x64', cls: 'laptop' },
  { model: 'Intel(R) Celeron(R) N4020 CPU @ 1.10GHz', cpus: 2, arch: 'x64', cls: 'laptop' },
  { model: 'AMD Ryzen 7 5800U with Radeon Graphics', cpus: 16, arch: 'x64', cls: 'laptop' },
  { model: 'AMD Ryzen 9 7945HX with Radeon Graphics', cpus: 32, arch: 'x64', cls: 'laptop' },
  { model: 'Intel(R) Core(TM) i7-10700K CPU @ 3.80GHz', cpus: 16, arch: 'x64', cls: 'desktop' },
  { model: 'Intel(R) Core(TM) i5-12400F', cpus: 12, arch: 'x64', cls: 'desktop' },
  { model: 'AMD Ryzen 9 7950X 16-Core Processor', cpus: 32, arch: 'x64', cls: 'desktop' },
  { model: 'AMD Ryzen 5 5600G with Radeon Graphics', cpus: 12, arch: 'x64', cls: 'desktop' },
  { model: 'Some Future CPU 9000', cpus: 96, arch: 'x64', cls: 'server' },
  { model: 'Some Future CPU 9000', cpus: 4, arch: 'x64', cls: 'unknown' },
];
for (const c of CLASS_CASES) {
  test(`cpuClassOf: ${JSON.stringify(c.model)} ×${c.cpus} ${c.arch} -> ${c.cls}`, () => {
    assert.equal(cpuClassOf(c.model, c.cpus, c.arch), c.cls);
  });
}

test('cpuClassOf: missing model, count or arch -> unknown, never throws', () => {
  assert.equal(cpuClassOf(undefined, undefined, undefined), 'unknown');
  assert.equal(cpuClassOf(undefined, Number.NaN, 'x64'), 'unknown');
});

const MODEL_CASES: ReadonlyArray<{ name: string; input: Parameters<typeof estimateWatts>[0]; watts: number; memWatts?: number }> = [
  // desktop: 40 + (160 - 40) × 0.25 + 0.392 × 16 = 76.272 -> 76.3
  { name: 'desktop at 25 % with 16 GiB', input: { cpuPct: 25, memTotalBytes: 16 * GIB, cpus: 8, cpuClass: 'desktop' }, watts: 76.3, memWatts: 6.27 },
  // laptop idle: 8 + 0.392 × 8 = 11.136 -> 11.1
  { name: 'laptop idle with 8 GiB', input: { cpuPct: 0, memTotalBytes: 8 * GIB, cpus: 8, cpuClass: 'laptop' }, watts: 11.1 },
  // server per logical CPU: 2 CPUs: idle 1.48, max 7; at 50 %: 1.48 + 5.52 × 0.5 = 4.24; + 0.392 × 4 = 5.808 -> 5.8
  { name: 'server (a 2-vCPU VM) at 50 % with 4 GiB: per-CPU figures', input: { cpuPct: 50, memTotalBytes: 4 * GIB, cpus: 2, cpuClass: 'server' }, watts: 5.8 },
  // 64 CPUs at 100 %: 3.5 × 64 = 224 + 0.392 × 256 = 324.352 -> 324.4
  { name: 'server with 64 CPUs flat out and 256 GiB', input: { cpuPct: 100, memTotalBytes: 256 * GIB, cpus: 64, cpuClass: 'server' }, watts: 324.4 },
  // sbc: 3 + 4 × 0.75 = 6, no memory term
  { name: 'sbc at 75 %: no memory term', input: { cpuPct: 75, memTotalBytes: 8 * GIB, cpus: 4, cpuClass: 'sbc' }, watts: 6, memWatts: 0 },
  { name: 'cpuPct above 100 is clamped', input: { cpuPct: 140, memTotalBytes: 0, cpus: 4, cpuClass: 'desktop' }, watts: 160 },
  { name: 'cpuPct below 0 is clamped', input: { cpuPct: -5, memTotalBytes: 0, cpus: 4, cpuClass: 'desktop' }, watts: 40 },
  // overrides replace the class figures (whole host, even for a per-CPU class): 100 + 200 × 0.5 + 0.5 × 32
  { name: 'overrides: idle, max and W/GiB', input: { cpuPct: 50, memTotalBytes: 32 * GIB, cpus: 48, cpuClass: 'server', overrides: { idleWatts: 100, maxWatts: 300, wattsPerGiB: 0.5 } }, watts: 216 },
  // only max overridden: idle from the class (40): 40 + (60 - 40) × 1
  { name: 'override of max alone keeps the class idle', input: { cpuPct: 100, memTotalBytes: 0, cpus: 4, cpuClass: 'desktop', overrides: { maxWatts: 60 } }, watts: 60 },
  // class from the model: i7-8550U -> laptop: 8 + 37 × 0.1 = 11.7
  { name: 'class found from the CPU model', input: { cpuPct: 10, memTotalBytes: 0, cpus: 8, cpuModel: 'Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz', arch: 'x64' }, watts: 11.7 },
];
for (const c of MODEL_CASES) {
  test(`estimateWatts: ${c.name}`, () => {
    const e = estimateWatts(c.input);
    assert.equal(e.watts, c.watts);
    assert.equal(e.source, 'estimated');
    if (c.memWatts !== undefined) assert.equal(e.memWatts, c.memWatts);
  });
}

test('estimateWatts: grows with CPU load and with memory (a seeded sweep, seed 7)', () => {
  let seed = 7;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  for (let i = 0; i < 200; i++) {
    const cls = CPU_CLASSES[Math.floor(rnd() * CPU_CLASSES.length)]!;
    const cpus = 1 + Math.floor(rnd() * 128);
    const pct = rnd() * 100;
    const mem = Math.floor(rnd() * 512) * GIB;
    const base = estimateWatts({ cpuPct: pct, memTotalBytes: mem, cpus, cpuClass: cls });
    const busier = estimateWatts({ cpuPct: Math.min(100, pct + 10), memTotalBytes: mem, cpus, cpuClass: cls });
    assert.ok(busier.watts >= base.watts, `${cls} ${cpus} ${pct}`);
    assert.ok(base.watts >= base.idleWatts - 0.05 && base.watts <= base.maxWatts + base.memWatts + 0.05);
  }
});

test('resolveModel: class defaults scaled per CPU where the class says so', () => {
  assert.deepEqual(resolveModel('desktop', 16), { cpuClass: 'desktop', idleWatts: 40, maxWatts: 160, wattsPerGiB: 0.392 });
  const server = resolveModel('server', 10);
  assert.ok(Math.abs(server.idleWatts - 10 * CLASS_DEFAULTS.server.idleWatts) < 1e-9 && Math.abs(server.maxWatts - 35) < 1e-9);
});

const BAD_OVERRIDES: ReadonlyArray<{ name: string; cls: CpuClass; overrides: Record<string, unknown> }> = [
  { name: 'idle above max (both given)', cls: 'desktop', overrides: { idleWatts: 200, maxWatts: 100 } },
  { name: 'idle above the class max', cls: 'sbc', overrides: { idleWatts: 50 } },
  { name: 'negative idle', cls: 'desktop', overrides: { idleWatts: -1 } },
  { name: 'max not a number', cls: 'desktop', overrides: { maxWatts: Number.NaN } },
  { name: 'max as text', cls: 'desktop', overrides: { maxWatts: '100' } },
  { name: 'W/GiB too large', cls: 'desktop', overrides: { wattsPerGiB: 1000 } },
];
for (const c of BAD_OVERRIDES) {
  test(`resolveModel: refuses ${c.name} with a ConfigError naming the setting`, () => {
    assert.throws(() => resolveModel(c.cls, 4, c.overrides as never, 'power-max-w'), configError(/^power-max-w$/));
  });
}

test('resolveModel / estimateWatts: programmer mistakes are RangeErrors; an unknown class is a ConfigError', () => {
  assert.throws(() => resolveModel('desktop', 0), RangeError);
  assert.throws(() => estimateWatts({ cpuPct: Number.NaN, memTotalBytes: 0, cpus: 1, cpuClass: 'desktop' }), RangeError);
  assert.throws(() => estimateWatts({ cpuPct: 1, memTotalBytes: -1, cpus: 1, cpuClass: 'desktop' }), RangeError);
  assert.throws(() => resolveModel('mainframe' as CpuClass, 4), configError(/^power model$/));
});

test('wattsIn: decimals accepted in range; anything else is a ConfigError naming the setting', () => {
  const parse = wattsIn(0, 1000);
  assert.equal(parse('2.5', 'power-idle-w'), 2.5);
  assert.equal(parse(' 0 ', 'power-idle-w'), 0);
  for (const raw of ['', 'abc', '-1', '1001', 'Infinity', '1e400']) assert.throws(() => parse(raw, 'power-idle-w'), configError(/^power-idle-w$/), raw);
});
