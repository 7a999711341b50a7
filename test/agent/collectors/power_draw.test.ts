import { test } from 'node:test';
import { advance, copyTree, handClock } from '../../helpers/rapl_tree.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIRST_READING_REASON, type PowerResult } from '../../../agent/collectors/power.ts';
import { PowerDrawCollector, choosePower, cpuOfFacts, estimateFor, powerModelFor, type PowerModelSettings } from '../../../agent/collectors/power_draw.ts';
import { Sampler } from '../../../agent/collectors/index.ts';
import type { Collector } from '../../../agent/collectors/types.ts';
import { resolveModel, type PowerModel } from '../../../agent/power_model.ts';
import { ERROR_CODES } from '../../../shared/errors.ts';
import { createLogger } from '../../../shared/log.ts';
import { parseSample } from '../../../shared/protocol.ts';

const GIB = 1024 ** 3;
const tree = (name: string): string => new URL(`../../fixtures/powercap/${name}`, import.meta.url).pathname;
/** Log lines, kept. */
function lines(): { log: ReturnType<typeof createLogger>; seen: string[] } {
  const seen: string[] = [];
  return { log: createLogger('agent', 'debug', (l) => seen.push(l)), seen };
}

const LAPTOP: PowerModel = resolveModel('laptop', 8);
/** A sample at 50 % CPU with 16 GiB: laptop 8 + (45 - 8) × 0.5 + 0.392 × 16 = 32.772, to 0.1. */
const HALF_BUSY = { cpu_pct: 50, mem_total_bytes: 16 * GIB };
const MEASURED: PowerResult = { watts: 30, zones: [{ zone: 'package-0', watts: 25 }, { zone: 'package-0/dram', watts: 5 }], source: 'measured' };
const DENIED: PowerResult = { reason: 'package-0: energy_uj: permission denied (EACCES; root only since Linux 5.10, CVE-2020-8694)' };

const CHOOSE_CASES: ReadonlyArray<{ name: string; rapl: PowerResult; readings: Record<string, unknown>; expect: ReturnType<typeof choosePower> }> = [
  {
    name: 'measured wins over the estimate, zones and source travel with it',
    rapl: MEASURED, readings: HALF_BUSY,
    expect: { readings: { power_w: 30, power_zones: [{ zone: 'package-0', watts: 25 }, { zone: 'package-0/dram', watts: 5 }] }, missing: {}, fields: { power_source: 'measured' } },
  },
  {
    name: 'counters unreadable: estimated, and power_zones says why',
    rapl: DENIED, readings: HALF_BUSY,
    expect: { readings: { power_w: 32.8 }, missing: { power_zones: `RAPL: ${DENIED.reason}` }, fields: { power_source: 'estimated' } },
  },
  {
    name: 'estimated plus GPU board power where reported',
    rapl: { reason: 'no /x (ENOENT): no powercap driver, or a VM' }, readings: { ...HALF_BUSY, gpu: [{ model: 'NVIDIA A2', power_w: 20.25 }, { model: 'Matrox' }] },
    expect: { readings: { power_w: 53.05 }, missing: { power_zones: 'RAPL: no /x (ENOENT): no powercap driver, or a VM' }, fields: { power_source: 'estimated' } },
  },
  {
    name: 'first reading (pending): no figure and no estimate standing in, the reason on both',
    rapl: { reason: FIRST_READING_REASON, pending: true }, readings: HALF_BUSY,
    expect: { readings: {}, missing: { power_w: `RAPL: ${FIRST_READING_REASON}`, power_zones: `RAPL: ${FIRST_READING_REASON}` } },
  },
  {
    name: 'unreadable and no CPU % in the sample: no figure, both reasons',
    rapl: DENIED, readings: { mem_total_bytes: GIB },
    expect: { readings: {}, missing: { power_w: `RAPL: ${DENIED.reason}; no estimate: no cpu_pct in this sample`, power_zones: `RAPL: ${DENIED.reason}` } },
  },
];
for (const c of CHOOSE_CASES) {
  test(`choosePower: ${c.name}`, () => {
    assert.deepEqual(choosePower(c.rapl, c.readings, LAPTOP), c.expect);
  });
}

test('estimateFor: the model on the sample\'s own CPU % and memory; a missing input is a reason', () => {
  assert.deepEqual(estimateFor({ cpu_pct: 0, mem_total_bytes: 0 }, LAPTOP), { watts: 8 });
  assert.deepEqual(estimateFor({ cpu_pct: 100, mem_total_bytes: 0 }, LAPTOP), { watts: 45 });
  assert.deepEqual(estimateFor({ cpu_pct: 50 }, LAPTOP), { reason: 'no mem_total_bytes in this sample' });
});

const S = (over: Partial<PowerModelSettings> = {}): PowerModelSettings => ({ powerClass: 'auto', powerIdleW: null, powerMaxW: null, powerWPerGib: null, ...over });
const configError = (setting: RegExp) => (err: unknown): boolean => {
  const e = err as { code?: string; setting?: string };
  return e.code === ERROR_CODES.CONFIG_INVALID && setting.test(e.setting ?? '');
};

test('powerModelFor: auto takes the class from the CPU; a class given wins; overrides replace defaults', () => {
  const epyc = { model: 'AMD EPYC 7B13', cpus: 4, arch: 'x64' };
  assert.deepEqual(powerModelFor(S(), epyc), { cpuClass: 'server', idleWatts: 0.74 * 4, maxWatts: 3.5 * 4, wattsPerGiB: 0.392 });
  assert.equal(powerModelFor(S(), { model: 'Cortex-A72', cpus: 4, arch: 'arm64' }).cpuClass, 'sbc');
  assert.equal(powerModelFor(S({ powerClass: 'desktop' }), epyc).cpuClass, 'desktop');
  assert.deepEqual(powerModelFor(S({ powerClass: 'laptop', powerIdleW: 5, powerWPerGib: 0 }), epyc), { cpuClass: 'laptop', idleWatts: 5, maxWatts: 45, wattsPerGiB: 0 });
  assert.equal(powerModelFor(S(), {}).cpuClass, 'unknown', 'nothing known of the CPU');
});

test('powerModelFor: overrides that contradict the class stop the agent, naming the settings given', () => {
  assert.throws(() => powerModelFor(S({ powerClass: 'laptop', powerIdleW: 50 }), {}), configError(/^--power-idle-w$/));
  assert.throws(() => powerModelFor(S({ powerIdleW: 100, powerMaxW: 90 }), {}), configError(/^--power-idle-w\/--power-max-w$/));
  assert.throws(() => powerModelFor(S({ powerMaxW: Number.NaN }), {}), configError(/^--power-max-w$/));
});

test('cpuOfFacts: the static facts first, node:os for what they lack', () => {
  const here = { model: 'os model', cpus: 2, arch: 'x64' };
  assert.deepEqual(cpuOfFacts({ cpu_model: 'AMD EPYC', cpu_cores: 64 }, here), { model: 'AMD EPYC', cpus: 64, arch: 'x64' });
  assert.deepEqual(cpuOfFacts({}, here), here);
});

test('PowerDrawCollector (two_packages_dram): start() primes the counters, so the first sample is measured; zones and total across reads', async () => {
  const root = copyTree('two_packages_dram');
  const c = handClock();
  const { log, seen } = lines();
  try {
    const power = new PowerDrawCollector({ root, model: LAPTOP, now: c.now, log });
    assert.equal(power.kind, 'derived');
    assert.ok('pending' in power.start());
    c.tick(1000);
    advance(root, 'intel-rapl:0', 10_000_000);
    advance(root, 'intel-rapl:0/intel-rapl:0:0', 2_000_000);
    advance(root, 'intel-rapl:1', 12_000_000);
    advance(root, 'intel-rapl:1/intel-rapl:1:0', 1_500_000);
    const first = await power.collect({ readings: HALF_BUSY, missing: {} });
    assert.deepEqual(first, {
      readings: { power_w: 25.5, power_zones: [{ zone: 'package-0', watts: 10 }, { zone: 'package-0/dram', watts: 2 }, { zone: 'package-1', watts: 12 }, { zone: 'package-1/dram', watts: 1.5 }] },
      missing: {},
      fields: { power_source: 'measured' },
    });
    c.tick(2000);
    advance(root, 'intel-rapl:0', 40_000_000);
    advance(root, 'intel-rapl:1', 20_000_000);
    const second = await power.collect({ readings: { ...HALF_BUSY, gpu: [{ model: 'NVIDIA', power_w: 70 }] }, missing: {} });
    assert.equal(second.readings.power_w, 100, '20 + 0 + 10 + 0 W, plus 70 W of GPU board power');
    assert.deepEqual(second.readings.power_zones?.at(-1), { zone: 'gpu', watts: 70 });
    assert.equal(seen.filter((l) => /power: /.test(l)).length, 1, 'the state is logged once, at start');
    assert.match(seen[0]!, /info +agent power: measured from the RAPL counters/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('PowerDrawCollector without start(): the first sample says "first RAPL reading", with no estimate in its place', async () => {
  const root = copyTree('one_package');
  try {
    const power = new PowerDrawCollector({ root, model: LAPTOP });
    const r = await power.collect({ readings: HALF_BUSY, missing: {} });
    assert.deepEqual(r, { readings: {}, missing: { power_w: `RAPL: ${FIRST_READING_REASON}`, power_zones: `RAPL: ${FIRST_READING_REASON}` } });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

const FALLBACK_CASES = [
  { fixture: 'unreadable', reason: /^RAPL: package-0: energy_uj: .*EISDIR/ },
  { fixture: 'none', reason: /^RAPL: no intel-rapl zones in / },
  { fixture: 'does-not-exist', reason: /^RAPL: no \/.*does-not-exist \(ENOENT\): no powercap driver, or a VM$/ },
];
for (const f of FALLBACK_CASES) {
  test(`PowerDrawCollector (${f.fixture}): estimated from the first sample on, the reason in missing and logged once`, async () => {
    const { log, seen } = lines();
    const power = new PowerDrawCollector({ root: tree(f.fixture), model: LAPTOP, log });
    power.start();
    for (let i = 0; i < 3; i++) {
      const r = await power.collect({ readings: HALF_BUSY, missing: {} });
      assert.equal(r.readings.power_w, 32.8);
      assert.deepEqual(r.fields, { power_source: 'estimated' });
      assert.match(r.missing['power_zones']!, f.reason);
      assert.equal(r.missing['power_w'], undefined);
    }
    assert.equal(seen.length, 1, seen.join(''));
    assert.match(seen[0]!, /info +agent power: estimated from CPU load and memory .* reason=.* class=laptop idle_w=8 max_w=45 w_per_gib=0.392/);
  });
}

test('PowerDrawCollector: counters that become unreadable later turn the host to estimated, logged once as a warning', async () => {
  const root = copyTree('one_package');
  const c = handClock();
  const { log, seen } = lines();
  try {
    const power = new PowerDrawCollector({ root, model: LAPTOP, now: c.now, log });
    power.start();
    c.tick(1000);
    assert.equal((await power.collect({ readings: HALF_BUSY, missing: {} })).fields?.power_source, 'measured');
    rmSync(join(root, 'intel-rapl:0', 'energy_uj'));
    for (let i = 0; i < 3; i++) {
      c.tick(1000);
      assert.equal((await power.collect({ readings: HALF_BUSY, missing: {} })).fields?.power_source, 'estimated');
    }
    assert.equal(seen.length, 2, seen.join(''));
    assert.match(seen[1]!, /warn +agent power: estimated from now on .*energy_uj: not present \(ENOENT\)/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('Sampler: the derived power collector sees the fast readings and the slow gpu table; power_source survives fitToProtocol and parseSample', async () => {
  const root = copyTree('none');
  try {
    const fast: Collector = { name: 'cpu+mem', kind: 'fast', provides: ['cpu_pct', 'mem_total_bytes'], collect: async () => ({ readings: HALF_BUSY, missing: {} }) };
    const gpu: Collector = { name: 'gpu', kind: 'slow', provides: ['gpu'], collect: async () => ({ readings: { gpu: [{ model: 'NVIDIA A2', power_w: 10 }] }, missing: {} }) };
    const power = new PowerDrawCollector({ root, model: LAPTOP });
    const sampler = new Sampler({ slowIntervalMs: 60_000, slowTimeoutMs: 1000, collectors: [fast, gpu, power] });
    sampler.start();
    try {
      let r = await sampler.sample(500);
      for (const deadline = Date.now() + 5000; r.readings.gpu === undefined && Date.now() < deadline;) r = await sampler.sample(500);
      assert.equal(r.readings.power_w, 42.8, 'estimate 32.8 W + GPU 10 W');
      assert.deepEqual(r.fields, { power_source: 'estimated' });
      const wire = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...r.readings, ...r.fields, missing: r.missing });
      assert.equal(wire.power_source, 'estimated');
      assert.equal(wire.power_w, 42.8);
    } finally {
      sampler.stop();
    }
    // A derived collector that throws costs only its own readings, like any other.
    const broken: Collector = { name: 'power', kind: 'derived', provides: ['power_w', 'power_zones'], collect: async () => { throw new Error('EIO: boom'); } };
    const r = await new Sampler({ slowIntervalMs: 0, collectors: [fast, broken] }).sample(500);
    assert.equal(r.readings.cpu_pct, 50);
    assert.equal(r.missing['power_w'], 'EIO: boom');
    assert.equal(r.fields, undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('PowerDrawCollector, a real permission denial (energy_uj root-only, as since Linux 5.10): estimated, with EACCES as the reason', (t) => {
  if (process.getuid?.() !== 0) { t.skip('needs root, to run the reader as nobody on a root-only file'); return; }
  const root = copyTree('two_packages_dram');
  try {
    // The tree as the kernel has it since 5.10: directories open to all, energy_uj 0400 root.
    chmodSync(root, 0o755);
    chmodSync(join(root, 'intel-rapl:0', 'energy_uj'), 0o400);
    const code = `
      import { PowerDrawCollector } from './agent/collectors/power_draw.ts';
      import { resolveModel } from './agent/power_model.ts';
      const power = new PowerDrawCollector({ root: ${JSON.stringify(root)}, model: resolveModel('laptop', 1) });
      power.start();
      console.log(JSON.stringify(await power.collect({ readings: { cpu_pct: 50, mem_total_bytes: ${16 * GIB} }, missing: {} })));`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)), uid: 65534, gid: 65534, encoding: 'utf8', timeout: 30_000,
      env: { ...process.env, HOME: '/tmp' },
    });
    assert.equal(run.status, 0, run.stderr);
    const r = JSON.parse(run.stdout) as ReturnType<typeof choosePower>;
    assert.deepEqual([r.readings.power_w, r.fields?.power_source], [32.8, 'estimated']);
    assert.equal(r.missing['power_zones'], 'RAPL: package-0: energy_uj: permission denied (EACCES; root only since Linux 5.10, CVE-2020-8694)');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
