/**
 * Graphics processors (slow class) from si.graphics(): on Linux it runs lspci, and nvidia-smi and
 * dmidecode through execFileSync/execSync, which block the calling thread until they exit
 * (16-23 ms and 6-8 child processes a call measured here; nvidia-smi on a wedged driver can take
 * seconds or hang). So the call runs in a worker thread started for each run: the agent's event
 * loop never waits on it, and a run whose worker has not answered is not started again. A run
 * measured ~67 ms wall on this VM (worker start and loading systeminformation, off the main
 * thread; no GPU here) and ~75 ms of CPU: every 15 s that was half the agent's CPU.
 *
 * So a probe that found nothing live is not repeated every slow run: where the last answer had no
 * controller, or controllers with their model only (a server's BMC VGA, an iGPU: nothing changes
 * until a driver or a card comes), the collector serves that answer again and probes anew only
 * every IDLE_REPROBE_MS. A controller with a live reading (nvidia-smi's) is probed every run, and
 * a failed probe is retried at the next run.
 *
 * Units (systeminformation's nvidia-smi query, `--format=csv,noheader,nounits`): memoryUsed and
 * memoryTotal MiB, utilizationGpu %, temperatureGpu °C, powerDraw W. Without nvidia-smi a
 * controller has its model only (vram is lspci's BAR size, not the memory: not used).
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { Readings, TableRows } from '../../shared/protocol.ts';
import type { Collector, CollectResult } from './types.ts';
import { cleanText } from './types.ts';

/** The fields of si.graphics().controllers[i] used here. */
export interface RawController {
  readonly vendor?: unknown;
  readonly model?: unknown;
  readonly name?: unknown;
  readonly utilizationGpu?: unknown;
  readonly memoryUsed?: unknown;
  readonly memoryTotal?: unknown;
  readonly temperatureGpu?: unknown;
  readonly powerDraw?: unknown;
}

export const NO_GPU_REASON = 'no GPU found';
const MIB = 1024 * 1024;
const MODEL_MAX_BYTES = 128;
const MAX_GPU_ROWS = 64;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Pure: si.graphics().controllers -> table `gpu`; no usable controller gives missing gpu. */
export function parseGraphics(controllers: readonly RawController[] | undefined): CollectResult {
  const rows: TableRows<'gpu'> = [];
  for (const c of controllers ?? []) {
    const row: TableRows<'gpu'>[number] = {};
    const model = text(c.model) || text(c.name);
    const vendor = text(c.vendor);
    const full = vendor && model && !model.toLowerCase().startsWith(vendor.toLowerCase().split(' ')[0]!) ? `${vendor} ${model}` : model;
    const util = num(c.utilizationGpu);
    const used = num(c.memoryUsed);
    const total = num(c.memoryTotal);
    const temp = num(c.temperatureGpu);
    const power = num(c.powerDraw);
    if (util !== undefined && util >= 0) row.util_pct = Math.min(100, util);
    if (total !== undefined && total >= 0) row.mem_total_bytes = Math.round(total * MIB);
    if (used !== undefined && used >= 0) row.mem_used_bytes = Math.min(Math.round(used * MIB), row.mem_total_bytes ?? Number.MAX_SAFE_INTEGER);
    if (temp !== undefined && temp >= -273.15 && temp <= 1000) row.temp_c = temp;
    if (power !== undefined && power >= 0) row.power_w = power;
    const hasReading = Object.keys(row).length > 0;
    const name = cleanText(full, MODEL_MAX_BYTES);
    if (name === '' && !hasReading) continue;
    rows.push({ model: name || 'unknown GPU', ...row });
  }
  if (rows.length === 0) return { readings: {}, missing: { gpu: NO_GPU_REASON } };
  const readings: Readings = { gpu: rows.slice(0, MAX_GPU_ROWS) };
  return { readings, missing: {} };
}

/** Runs in the worker: plain CommonJS, so it needs no TypeScript loader. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
require(workerData.siPath).graphics().then(
  (g) => parentPort.postMessage({ controllers: g.controllers }),
  (e) => parentPort.postMessage({ error: String((e && e.message) || e) }),
);
`;

/** The I/O half: si.graphics().controllers from a worker thread. */
export function graphicsInWorker(): Promise<RawController[]> {
  const siPath = createRequire(import.meta.url).resolve('systeminformation');
  return new Promise((resolve, reject) => {
    let answered = false;
    // No stdout/stderr from the worker reaches the agent's log.
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { siPath }, stdout: true, stderr: true });
    worker.unref();
    worker.on('message', (m: { controllers?: RawController[]; error?: string }) => {
      answered = true;
      // si may leave a timer or handle behind: the thread is ended rather than left to linger.
      void worker.terminate();
      if (m.error !== undefined) reject(new Error(`si.graphics(): ${m.error}`));
      else resolve(m.controllers ?? []);
    });
    worker.on('error', (err) => { answered = true; reject(err); });
    worker.on('exit', (code) => { if (!answered) reject(new Error(`si.graphics() worker exited with code ${code} before answering`)); });
  });
}

/** Time between probes while the last one found no live reading, ms (see the top of this file). */
export const IDLE_REPROBE_MS = 5 * 60_000;

/** Whether a parsed probe holds a reading that changes between runs (anything beside the model). */
function hasLiveReading(result: CollectResult): boolean {
  return (result.readings.gpu ?? []).some((row) => Object.keys(row).some((k) => k !== 'model'));
}

export interface GpuCollectorOptions {
  /** Time between probes while the last one found no live reading, ms; default IDLE_REPROBE_MS. */
  idleReprobeMs?: number;
  /** Monotonic clock, ms; default performance.now. */
  now?: () => number;
}

export function createGpuCollector(read: () => Promise<readonly RawController[]> = graphicsInWorker, options: GpuCollectorOptions = {}): Collector {
  const idleReprobeMs = options.idleReprobeMs ?? IDLE_REPROBE_MS;
  const now = options.now ?? (() => performance.now());
  /** When the unanswered call started (now(), ms), or undefined. */
  let pendingSince: number | undefined;
  /** The last answer without a live reading, and when its probe started; served until a re-probe is due. */
  let idle: { result: CollectResult; atMs: number } | undefined;
  return {
    name: 'gpu',
    kind: 'slow',
    provides: ['gpu'],
    async collect() {
      if (idle !== undefined && now() - idle.atMs < idleReprobeMs) {
        const { readings, missing } = idle.result;
        return { readings: { ...readings }, missing: { ...missing } };
      }
      if (pendingSince !== undefined) {
        throw new Error(`si.graphics() from an earlier run still unanswered after ${Math.round((now() - pendingSince) / 1000)} s`);
      }
      const startedAt = now();
      pendingSince = startedAt;
      idle = undefined;
      try {
        const result = parseGraphics(await read());
        if (!hasLiveReading(result)) idle = { result: { readings: { ...result.readings }, missing: { ...result.missing } }, atMs: startedAt };
        return result;
      } finally {
        pendingSince = undefined;
      }
    },
  };
}

export const gpuCollector: Collector = createGpuCollector();
