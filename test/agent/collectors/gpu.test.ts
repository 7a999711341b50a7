import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseSample } from '../../../shared/protocol.ts';
import { IDLE_REPROBE_MS, NO_GPU_REASON, createGpuCollector, gpuCollector, graphicsInWorker, parseGraphics, type RawController } from '../../../agent/collectors/gpu.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

const controllers = (name: string): RawController[] =>
  (JSON.parse(readFileSync(new URL(`../../fixtures/si/${name}`, import.meta.url), 'utf8')) as { controllers: RawController[] }).controllers;
function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.deepEqual(sample[name as keyof typeof sample], value);
}
const MIB = 1024 * 1024;

test('parseGraphics: nvidia-smi readings in MiB/%/°C/W; an iGPU with its model only; an empty controller left out', () => {
  const r = parseGraphics(controllers('graphics_nvidia.json'));
  assert.deepEqual(r, {
    readings: {
      gpu: [
        { model: 'NVIDIA Corporation GeForce RTX 3080', util_pct: 37, mem_total_bytes: 10240 * MIB, mem_used_bytes: 1536 * MIB, temp_c: 64, power_w: 112.5 },
        { model: 'Intel Corporation UHD Graphics 630' },
      ],
    },
    missing: {},
  });
  assertValidSample(r);
});

test('parseGraphics: hostile values are cleaned, clamped or dropped', () => {
  const r = parseGraphics(controllers('graphics_hostile.json'));
  const row = r.readings.gpu?.[0];
  assert.ok(row !== undefined);
  assert.ok(Buffer.byteLength(row.model!) <= 128 && !/[\u001b\u202e]/u.test(row.model!), row.model);
  assert.equal(row.util_pct, 100);
  assert.equal(row.mem_used_bytes, 8192 * MIB, 'used capped at total');
  assert.equal(row.temp_c, undefined);
  assert.equal(row.power_w, undefined);
  assertValidSample(r);
});

test('parseGraphics: no controller (recorded on this VM) is "no GPU found"', () => {
  for (const c of [controllers('recorded_graphics.json'), [], undefined, [{ model: '', vendor: '' }]]) {
    assert.deepEqual(parseGraphics(c), { readings: {}, missing: { gpu: NO_GPU_REASON } });
  }
  assert.equal(parseGraphics([{ model: 'Tesla T4' }]).readings.gpu?.[0]?.model, 'Tesla T4');
  assert.equal(parseGraphics([{ vendor: 'NVIDIA', model: 'NVIDIA A100' }]).readings.gpu?.[0]?.model, 'NVIDIA A100', 'vendor not repeated');
});

test('collector: an unanswered call is not started again; once it ends the next run works', async () => {
  let release: (c: RawController[]) => void = () => {};
  let calls = 0;
  const collector = createGpuCollector(() => { calls++; return new Promise((resolve) => { release = resolve; }); });
  const first = collector.collect();
  await assert.rejects(collector.collect(), /si\.graphics\(\) from an earlier run still unanswered/);
  assert.equal(calls, 1);
  release([{ model: 'Tesla T4', utilizationGpu: 5 }]);
  assert.deepEqual((await first).readings.gpu, [{ model: 'Tesla T4', util_pct: 5 }]);
  const later = collector.collect();
  release([]);
  assert.deepEqual(await later, { readings: {}, missing: { gpu: NO_GPU_REASON } });
  assert.equal(calls, 2);
});

test('collector: probes again every run only while a controller has a live reading', async () => {
  const cases: Array<{ name: string; answer: RawController[]; probesIn3Runs: number }> = [
    { name: 'no controller', answer: [], probesIn3Runs: 1 },
    { name: 'model only (BMC VGA)', answer: [{ vendor: 'ASPEED Technology, Inc.', model: 'ASPEED Graphics Family' }], probesIn3Runs: 1 },
    { name: 'nvidia-smi readings', answer: [{ model: 'Tesla T4', utilizationGpu: 5, memoryUsed: 10 }], probesIn3Runs: 3 },
  ];
  for (const c of cases) {
    let clock = 0;
    let probes = 0;
    const collector = createGpuCollector(async () => { probes++; return c.answer; }, { now: () => clock });
    const first = await collector.collect();
    for (let i = 0; i < 2; i++) {
      clock += 15_000;
      assert.deepEqual(await collector.collect(), first, c.name);
    }
    assert.equal(probes, c.probesIn3Runs, c.name);
  }
});

test('collector: an idle answer is served for IDLE_REPROBE_MS, then probed again; a failure is retried at the next run', async () => {
  let clock = 0;
  let answer: () => Promise<RawController[]> = async () => [];
  let probes = 0;
  const collector = createGpuCollector(() => { probes++; return answer(); }, { now: () => clock });
  assert.deepEqual(await collector.collect(), { readings: {}, missing: { gpu: NO_GPU_REASON } });
  clock += IDLE_REPROBE_MS - 1;
  const served = await collector.collect();
  served.missing['gpu'] = 'changed by a caller';
  assert.deepEqual(await collector.collect(), { readings: {}, missing: { gpu: NO_GPU_REASON } }, 'a caller\'s change to an answer served is not kept');
  assert.equal(probes, 1, 'not yet due');
  clock += 1;
  answer = async () => { throw new Error('lspci: not found'); };
  await assert.rejects(collector.collect(), /lspci/);
  assert.equal(probes, 2, 'due: probed again');
  answer = async () => [{ model: 'Tesla T4', temperatureGpu: 40 }];
  clock += 15_000;
  assert.deepEqual((await collector.collect()).readings.gpu, [{ model: 'Tesla T4', temp_c: 40 }], 'a failed probe is retried at the next run');
  assert.equal(probes, 3);
  answer = async () => [];
  clock += 15_000;
  assert.deepEqual(await collector.collect(), { readings: {}, missing: { gpu: NO_GPU_REASON } }, 'a GPU that vanished is seen at the next run');
  assert.equal(probes, 4);
});

test('graphicsInWorker on this machine: si.graphics() answers from a worker thread', async () => {
  assert.equal(gpuCollector.kind, 'slow');
  const list = await graphicsInWorker();
  assert.ok(Array.isArray(list));
  const r = await gpuCollector.collect();
  assert.ok(r.readings.gpu !== undefined || r.missing['gpu'] === NO_GPU_REASON, JSON.stringify(r.missing));
  assertValidSample(r);
});
