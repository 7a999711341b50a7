import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseSample } from '../../../shared/protocol.ts';
import { NO_GPU_REASON, createGpuCollector, gpuCollector, graphicsInWorker, parseGraphics, type RawController } from '../../../agent/collectors/gpu.ts';
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

test('graphicsInWorker on this machine: si.graphics() answers from a worker thread', async () => {
  assert.equal(gpuCollector.kind, 'slow');
  const list = await graphicsInWorker();
  assert.ok(Array.isArray(list));
  const r = await gpuCollector.collect();
  assert.ok(r.readings.gpu !== undefined || r.missing['gpu'] === NO_GPU_REASON, JSON.stringify(r.missing));
  assertValidSample(r);
});
