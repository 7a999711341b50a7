/**
 * How many agents one collector holds at 1 sample/s each, at what latency, CPU and RSS.
 *
 * `npm run bench -- fleet [--agents 1000,10000,max] [--seconds 60] [--quick] [--procs N]`
 * (also --interval-ms, --save-interval-s, --history-s, --probe-slots N, --reads static|data, --out FILE). "max" is the collector's open-file limit
 * less FD_RESERVE, read at run time: each agent costs the collector one fd.
 *
 * Per step: a fresh collector is started in this process (startCollector, as main.ts does);
 * simulated agents in child processes (fleet_sim.ts) connect from several loopback addresses,
 * do the real hello with the cluster token and send one ~590-byte sample per interval, stamped
 * with its send time; once all are welcomed (the ramp) and a short settle, a window of --seconds
 * is measured:
 * - send -> shared memory: a worker thread here (fleet_probe.ts) polls the store every ~1 ms
 *   (every slot up to --probe-slots, 2,000 by default; beyond, an even sample of that many);
 * - send -> dashboard: a client of GET /api/events in its own process (fleet_sse.ts);
 * - CPU of this process from /proc/self/stat less the probe thread's own, split by thread from
 *   /proc/self/task (main; dashboard worker = threads that startCollector started; the rest:
 *   libuv pool, GC, the tsx loader); VmRSS each second; connections held, samples landed and
 *   errors from the collector's counters and the simulators'.
 * A fresh collector per step, rather than one for all: each step starts from an empty store and
 * heap, so slots, history and garbage of a bigger step never weigh on the next; start-up costs
 * about a second.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { scrypt } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { startCollector, type RunningCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { loadConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/log.ts';
import { NUM } from '../../shared/shm_layout.ts';
import { machine, table, writeResult } from './common.ts';
import { startFloorSink } from './fleet_floor.ts';
import {
  cpuPercent, LatencyHistogram, mappingRssBytes, maxAgentsForFdLimit, mean, parseFleetArgs, parseOpenFileLimit, parseStat, parseVmRssBytes,
  planFleet, projectFleet, withoutProfiling, type FleetOptions, type LatencySummary, type Projection,
} from './fleet_lib.ts';
import type { ProbeReport } from './fleet_probe.ts';
import type { SimStart, SimStats } from './fleet_sim.ts';
import type { SseStats } from './fleet_sse.ts';

const TARGETS = Object.freeze({ maxAgents: 19_000, cpuPct: 35, shmP99Ms: 5, rssBytes: 300 * 1024 * 1024, sseP99Ms: 50, sseAtAgents: 10_000 });
const HELLO_WINDOW = 16;
const TOKEN = 'fleet-bench-token';
const MB = 1024 * 1024;
const TSX_API = import.meta.resolve('tsx/esm/api');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function once<T>(emitter: ChildProcess | Worker, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { emitter.off('message', on); reject(new Error(`no "${type}" within ${timeoutMs} ms`)); }, timeoutMs);
    const on = (m: { type: string }): void => {
      if (m.type !== type) return;
      clearTimeout(timer);
      emitter.off('message', on);
      resolve(m as T);
    };
    emitter.on('message', on);
  });
}

function spawnChild(name: string): ChildProcess {
  // Profiling flags stay with the collector's process (`node --cpu-prof --import tsx fleet.ts`):
  // profiled simulators would slow the ramp and profile the load, not the collector.
  const execArgv = withoutProfiling(process.execArgv);
  return fork(fileURLToPath(new URL(`./${name}`, import.meta.url)), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function startProbe(buffer: SharedArrayBuffer, maxSlots: number): Worker {
  // As dashboard/worker_boot.mjs: Node 20 does not carry the tsx loader into worker threads, so
  // the worker registers it before loading the TypeScript module.
  const probe = new URL('./fleet_probe.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(probe)}); });`;
  return new Worker(boot, { eval: true, workerData: { buffer, maxSlots } });
}

/** utime + stime of every thread of this process, ticks, by thread id. */
function threadTicks(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const t = parseStat(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8'));
      out.set(Number(tid), t.utime + t.stime);
    } catch { /* the thread ended meanwhile */ }
  }
  return out;
}

function processTicks(): number {
  const t = parseStat(readFileSync('/proc/self/stat', 'utf8'));
  return t.utime + t.stime;
}

const rss = (): number => parseVmRssBytes(readFileSync('/proc/self/status', 'utf8')) ?? 0;

function samplesTotal(c: RunningCollector): number {
  const out = new Float64Array(1);
  let n = 0;
  for (let i = 0; i < c.store.slotsUsed(); i++) if (c.store.readNumbers(i, [NUM.SAMPLES_TOTAL], out) >= 0 && out[0]! > 0) n += out[0]!;
  return n;
}

/** CPU µs per sample from a share of one core (%) and a rate (samples/s). */
function usPerSample(cpuPct: number, perS: number): number {
  return perS > 0 ? (cpuPct / 100) * 1e6 / perS : 0;
}

function sumCounts(...maps: Array<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of maps) for (const [k, v] of Object.entries(m)) if (v > 0) out[k] = (out[k] ?? 0) + v;
  return out;
}

interface Ramped {
  plan: ReturnType<typeof planFleet>;
  sims: ChildProcess[];
  rampS: number;
  rampComplete: boolean;
}

/**
 * Starts the simulators (pushed onto `children`, for the caller to stop) against `port`, waits
 * until every agent is welcomed or refused (or the deadline), then lets the fleet settle.
 */
async function rampFleet(agents: number, o: FleetOptions, port: number, token: string, children: ChildProcess[]): Promise<Ramped> {
  // Ramp: every simulator connects its agents, a few hellos at a time.
  const plan = planFleet(agents, o.procs);
  const latest: SimStats[] = [];
  const sims: ChildProcess[] = [];
  const t0 = Date.now();
  plan.forEach((p, k) => {
    const sim = spawnChild('fleet_sim.ts');
    children.push(sim);
    sims.push(sim);
    sim.on('message', (m: SimStats) => { if (m.type === 'stats') latest[k] = m; });
    sim.send({ type: 'start', port, token, addresses: p.addresses, firstIndex: p.firstIndex, count: p.count, intervalMs: o.intervalMs, helloWindow: HELLO_WINDOW } satisfies SimStart);
  });
  // At worst ~50 hellos/s on a busy machine (each costs one scrypt), plus start-up.
  const rampDeadline = t0 + 30_000 + agents * 20;
  let lastPrint = t0;
  let rampComplete = true;
  while (!(latest.length === plan.length && latest.every((s) => s?.rampMs !== null))) {
    if (Date.now() > rampDeadline) {
      // Measured all the same, with what is held: the agents still in their hello count as errors.
      rampComplete = false;
      process.stderr.write(`fleet ${agents}: ramp incomplete after ${Math.round((Date.now() - t0) / 1000)} s; measuring what is held\n`);
      break;
    }
    await sleep(100);
    if (Date.now() - lastPrint >= 5000) {
      lastPrint = Date.now();
      process.stderr.write(`fleet ${agents}: ramp ${Math.round((lastPrint - t0) / 1000)} s, ${latest.reduce((n, s) => n + (s?.welcomed ?? 0), 0)} welcomed\n`);
    }
  }
  const rampS = (Date.now() - t0) / 1000;
  // Settle: every agent sends once and the start-up garbage goes before the window opens.
  await sleep(o.quick ? 1000 : 2000);
  return { plan, sims, rampS, rampComplete };
}

function askSims(sims: ChildProcess[]): Promise<SimStats[]> {
  return Promise.all(sims.map((s) => { const p = once<SimStats>(s, 'stats', 10_000); s.send({ type: 'stats' }); return p; }));
}

async function stopChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((ch) => new Promise<void>((r) => {
    if (ch.exitCode !== null || !ch.connected) { r(); return; }
    ch.once('exit', () => r());
    ch.send({ type: 'stop' });
    setTimeout(() => { ch.kill('SIGKILL'); r(); }, 10_000).unref();
  })));
}

/** The floor sink's figures over its window (fleet_floor.ts). */
export interface FloorResult {
  window_s: number;
  welcomed: number;
  samples_per_s: number;
  /** The sink's thread (this process's main thread, nothing else running in it), % of one core. */
  cpu_pct: number;
  us_per_sample: number;
  errors: number;
}

/** The same fleet against the floor sink: what reading, framing and decoding alone cost here. */
async function runFloor(agents: number, o: FleetOptions): Promise<FloorResult> {
  const sink = await startFloorSink(TOKEN);
  const children: ChildProcess[] = [];
  try {
    await rampFleet(agents, o, sink.port, TOKEN, children);
    const a = sink.counts();
    const t0 = Date.now();
    const ticks0 = threadTicks().get(process.pid) ?? 0;
    await sleep(o.floorSeconds * 1000);
    const ticks1 = threadTicks().get(process.pid) ?? 0;
    const wallMs = Date.now() - t0;
    const b = sink.counts();
    const samples = b.samples - a.samples;
    const cpuPct = cpuPercent(ticks1 - ticks0, wallMs);
    return {
      window_s: wallMs / 1000, welcomed: b.welcomed, samples_per_s: samples / (wallMs / 1000), cpu_pct: cpuPct,
      us_per_sample: usPerSample(cpuPct, samples / (wallMs / 1000)), errors: b.errors + (agents - b.welcomed),
    };
  } finally {
    await stopChildren(children);
    await sink.close();
  }
}

export interface StepResult {
  agents: number;
  procs: number;
  source_addresses: number;
  ramp_s: number;
  /** False when some agents were neither welcomed nor refused by the ramp deadline (30 s + 20 ms an agent). */
  ramp_complete: boolean;
  window_s: number;
  held: { at_end: number; min: number };
  /** seen_by_probe: new samples the probe saw in the slots it watches (probe_slots of them). */
  samples_per_s: { sent: number; landed: number; seen_by_probe: number };
  cpu_pct: { process: number; probe: number; collector: number; main_thread: number; dashboard_worker: number; other_threads: number; simulators: number };
  rss_bytes: { before_agents: number; mean: number; max: number };
  /** At the end of the window: the store's resident pages, and the main thread's JavaScript heap. */
  memory_at_end: { shm_resident_bytes: number | null; shm_bytes_per_agent: number | null; main_heap_used_bytes: number };
  latency_send_to_shm: LatencySummary & { resolution_ms: 1; probe_scan_us: number; probe_slots: number };
  latency_send_to_sse: LatencySummary & { events: number; bytes_per_event: number; sample_time_regressions: number };
  errors: { collector: Record<string, number>; simulators: Record<string, number>; total: number; sse: string | null };
  backlogged_sends: number;
  /** State saves completed in the window (their copying, gzip and writing are in the figures above), and the last one's duration. */
  state_saves: { in_window: number; last_ms: number };
  /** The collector's event-loop delay over the window (perf_hooks, 1 ms resolution), ms. */
  event_loop_delay_ms: { p50: number; p99: number; max: number };
  /** CPU per sample landed, µs: the main thread's, and the whole collector's (process less the probe). */
  us_per_sample: { main_thread: number; collector: number };
  /** The same agents against the floor sink after the step (--floor-seconds); null when off. */
  floor: FloorResult | null;
}

async function runStep(agents: number, o: FleetOptions): Promise<StepResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-fleet-'));
  const slack = 64;
  const { config } = loadConfig(COLLECTOR_SETTINGS, [
    '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', TOKEN, '--log-level', 'error',
    '--capacity', String(agents + slack), '--max-connections', String(agents + slack),
    '--max-connections-per-address', String(agents), '--max-pending-per-address', String(HELLO_WINDOW * 4),
    '--save-interval-s', String(o.saveIntervalS), ...(o.historyS === null ? [] : ['--history-s', String(o.historyS)]),
  ], {});
  const before = new Set(threadTicks().keys());
  const c = await startCollector(config, createLogger('collector', 'error'), { staticReads: o.reads === 'static' });
  const dashboardTids = new Set([...threadTicks().keys()].filter((t) => !before.has(t)));
  const probe = startProbe(c.store.buffer as SharedArrayBuffer, o.probeSlots);
  const children: ChildProcess[] = [];
  try {
    const { tid: probeTid } = await once<{ tid: number }>(probe, 'ready', 30_000);
    const sse = spawnChild('fleet_sse.ts');
    children.push(sse);
    sse.send({ type: 'start', url: c.url, httpToken: c.httpToken });
    const sseReady = await once<{ error: string | null }>(sse, 'ready', 30_000);
    if (sseReady.error) throw new Error(`event stream: ${sseReady.error}`);
    const rssBefore = rss();

    const { plan, sims, rampS, rampComplete } = await rampFleet(agents, o, c.agentAddress.port, c.token, children);
    const ask = (): Promise<SimStats[]> => askSims(sims);
    probe.postMessage({ type: 'reset' });
    sse.send({ type: 'reset' });
    const simA = await ask();
    const w0 = Date.now();
    const procA = processTicks();
    const thrA = threadTicks();
    const landedA = samplesTotal(c);
    const savesA = c.saver?.saves ?? 0;
    const probeA = await (async () => { const p = once<ProbeReport>(probe, 'report', 10_000); probe.postMessage({ type: 'report' }); return p; })();
    // The collector's event loop (this thread): how long a sample that arrived could wait behind
    // other work (timers, GC, saves) before its read ran.
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const rssSeries: number[] = [];
    let minHeld = Number.POSITIVE_INFINITY;
    while (Date.now() - w0 < o.seconds * 1000) {
      await sleep(Math.min(1000, o.seconds * 1000 - (Date.now() - w0)));
      rssSeries.push(rss());
      minHeld = Math.min(minHeld, c.stats.snapshot().connected_agents);
    }
    loopDelay.disable();
    const procB = processTicks();
    const thrB = threadTicks();
    const wallMs = Date.now() - w0;
    const landedB = samplesTotal(c);
    const probeB = await (async () => { const p = once<ProbeReport>(probe, 'report', 10_000); probe.postMessage({ type: 'report' }); return p; })();
    const sseStats = await (async () => { const p = once<SseStats>(sse, 'stats', 10_000); sse.send({ type: 'stats' }); return p; })();
    const simB = await ask();
    const snap = c.stats.snapshot(c.store);
    const shmResident = mappingRssBytes(readFileSync('/proc/self/smaps', 'utf8'), c.store.buffer.byteLength);
    const heapUsed = process.memoryUsage().heapUsed;
    // BENCH_HEAP_SNAPSHOT=DIR: the main thread's heap at the end of the window, to see what a
    // connection costs in JS objects (taken after every figure above, so it slows none of them).
    const snapDir = process.env['BENCH_HEAP_SNAPSHOT'];
    if (snapDir) process.stderr.write(`fleet ${agents}: heap snapshot ${writeHeapSnapshot(join(snapDir, `fleet-${agents}.heapsnapshot`))}\n`);

    const d = (tid: number): number => (thrB.get(tid) ?? 0) - (thrA.get(tid) ?? 0);
    const pct = (ticks: number): number => cpuPercent(ticks, wallMs);
    let dash = 0;
    let other = 0;
    for (const tid of thrB.keys()) {
      if (tid === process.pid || tid === probeTid) continue;
      if (dashboardTids.has(tid)) dash += d(tid); else other += d(tid);
    }
    const probeTicks = probeB.cpuTicks - probeA.cpuTicks;
    const processPct = pct(procB - procA);
    const simCpuUs = simB.reduce((n, s) => n + s.cpuUs, 0) - simA.reduce((n, s) => n + s.cpuUs, 0);
    const sum = (xs: SimStats[], f: (s: SimStats) => number): number => xs.reduce((n, s) => n + f(s), 0);
    const collectorErrors = sumCounts(snap.frames_rejected_total, snap.sessions_ended_total, snap.connections_refused_total);
    const simErrors = sumCounts(
      ...simB.map((s) => s.errorCodes),
      {
        connect_failed: sum(simB, (s) => s.connectFailed), closed_unexpectedly: sum(simB, (s) => s.closedUnexpectedly),
        still_in_hello: agents - sum(simB, (s) => s.welcomed + s.connectFailed),
      },
    );
    const landedPerS = (landedB - landedA) / (wallMs / 1000);
    const shm = LatencyHistogram.fromJSON(probeB.histogram).summary();
    const sseSummary = LatencyHistogram.fromJSON(sseStats.histogram).summary();
    return {
      agents, procs: plan.length, source_addresses: plan.reduce((n, p) => n + p.addresses.length, 0), ramp_s: rampS, ramp_complete: rampComplete, window_s: wallMs / 1000,
      held: { at_end: snap.connected_agents, min: Number.isFinite(minHeld) ? minHeld : snap.connected_agents },
      samples_per_s: {
        sent: (sum(simB, (s) => s.sent) - sum(simA, (s) => s.sent)) / (wallMs / 1000),
        landed: landedPerS,
        seen_by_probe: probeB.landed / (wallMs / 1000),
      },
      cpu_pct: {
        process: processPct, probe: pct(probeTicks), collector: processPct - pct(probeTicks), main_thread: pct(d(process.pid)),
        dashboard_worker: pct(dash), other_threads: pct(other), simulators: simCpuUs / 1000 / wallMs * 100,
      },
      rss_bytes: { before_agents: rssBefore, mean: mean(rssSeries) ?? 0, max: Math.max(...rssSeries) },
      memory_at_end: { shm_resident_bytes: shmResident, shm_bytes_per_agent: shmResident === null ? null : shmResident / agents, main_heap_used_bytes: heapUsed },
      latency_send_to_shm: { ...shm, resolution_ms: 1, probe_scan_us: probeB.scanUsMean, probe_slots: probeB.watched },
      latency_send_to_sse: { ...sseSummary, events: sseStats.hostEvents, bytes_per_event: sseStats.events > 0 ? sseStats.bytes / sseStats.events : 0, sample_time_regressions: sseStats.regressions },
      errors: {
        collector: collectorErrors, simulators: simErrors, sse: sseStats.error,
        total: Object.values(collectorErrors).reduce((a, b) => a + b, 0) + Object.values(simErrors).reduce((a, b) => a + b, 0) + (sseStats.error ? 1 : 0),
      },
      backlogged_sends: sum(simB, (s) => s.backlogged) - sum(simA, (s) => s.backlogged),
      state_saves: { in_window: (c.saver?.saves ?? 0) - savesA, last_ms: c.saver?.lastDurationMs ?? 0 },
      event_loop_delay_ms: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
      us_per_sample: { main_thread: usPerSample(pct(d(process.pid)), landedPerS), collector: usPerSample(processPct - pct(probeTicks), landedPerS) },
      floor: null,
    };
  } finally {
    await stopChildren(children);
    probe.postMessage({ type: 'stop' });
    await probe.terminate();
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function stepRow(s: StepResult): Record<string, string | number> {
  const ms = (x: number | null): string => (x === null ? '-' : String(x));
  return {
    agents: s.agents, 'ramp s': s.ramp_s.toFixed(1), held: s.held.min === s.held.at_end ? s.held.at_end : `${s.held.min}-${s.held.at_end}`,
    'landed/s': Math.round(s.samples_per_s.landed), 'sent/s': Math.round(s.samples_per_s.sent),
    'CPU % (main/dash/other)': `${s.cpu_pct.collector.toFixed(1)} (${s.cpu_pct.main_thread.toFixed(1)}/${s.cpu_pct.dashboard_worker.toFixed(1)}/${s.cpu_pct.other_threads.toFixed(1)})`,
    'probe %': s.cpu_pct.probe.toFixed(1),
    'RSS MiB mean/max': `${Math.round(s.rss_bytes.mean / MB)}/${Math.round(s.rss_bytes.max / MB)}`,
    'shm ms p50/p99/max': `${ms(s.latency_send_to_shm.p50_ms)}/${ms(s.latency_send_to_shm.p99_ms)}/${ms(s.latency_send_to_shm.max_ms)}`,
    'SSE ms p50/p99/max': `${ms(s.latency_send_to_sse.p50_ms)}/${ms(s.latency_send_to_sse.p99_ms)}/${ms(s.latency_send_to_sse.max_ms)}`,
    errors: s.errors.total,
    'saves (last ms)': `${s.state_saves.in_window} (${Math.round(s.state_saves.last_ms)})`,
  };
}

/** What the step cost per sample beside the floor sink's cost for the same agents. */
function floorLine(s: StepResult): string {
  const us = s.us_per_sample;
  const own = `CPU a sample landed: main thread ${us.main_thread.toFixed(1)} µs, whole collector ${us.collector.toFixed(1)} µs`;
  const f = s.floor;
  if (f === null) return `${own} (no floor: --floor-seconds 0)`;
  return `${own}; floor (the same agents into a sink that only reads, frames and decodes, ${f.window_s.toFixed(0)} s): `
    + `${f.cpu_pct.toFixed(1)} % of one core, ${f.us_per_sample.toFixed(1)} µs a sample, ${f.errors} errors `
    + `-> main thread ${(us.main_thread / f.us_per_sample).toFixed(2)}x the floor, whole collector ${(us.collector / f.us_per_sample).toFixed(2)}x`;
}

function targetRows(steps: StepResult[]): Array<Record<string, string | number>> {
  const rows: Array<Record<string, string | number>> = [];
  const big = steps.reduce((a, b) => (b.agents > a.agents ? b : a));
  const yes = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  rows.push({ target: `${TARGETS.maxAgents} agents held`, step: big.agents, measured: big.held.min, verdict: yes(big.held.min >= TARGETS.maxAgents) });
  rows.push({ target: `CPU < ${TARGETS.cpuPct} % of one core`, step: big.agents, measured: `${big.cpu_pct.collector.toFixed(1)} %`, verdict: yes(big.cpu_pct.collector < TARGETS.cpuPct) });
  rows.push({ target: `send->shm p99 < ${TARGETS.shmP99Ms} ms`, step: big.agents, measured: `${big.latency_send_to_shm.p99_ms ?? '-'} ms`, verdict: yes((big.latency_send_to_shm.p99_ms ?? Infinity) < TARGETS.shmP99Ms) });
  rows.push({ target: 'zero errors', step: big.agents, measured: big.errors.total, verdict: yes(big.errors.total === 0) });
  rows.push({ target: `RSS < ${TARGETS.rssBytes / MB} MiB`, step: big.agents, measured: `${Math.round(big.rss_bytes.max / MB)} MiB max`, verdict: yes(big.rss_bytes.max < TARGETS.rssBytes) });
  const sseStep = steps.reduce((a, b) => (Math.abs(b.agents - TARGETS.sseAtAgents) < Math.abs(a.agents - TARGETS.sseAtAgents) ? b : a));
  rows.push({ target: `SSE p99 < ${TARGETS.sseP99Ms} ms at ${TARGETS.sseAtAgents}`, step: sseStep.agents, measured: `${sseStep.latency_send_to_sse.p99_ms ?? '-'} ms`, verdict: yes((sseStep.latency_send_to_sse.p99_ms ?? Infinity) < TARGETS.sseP99Ms) });
  // A target checked at another size than it names is only indicative.
  for (const r of rows) if (r['step'] !== (String(r['target']).includes('SSE') ? TARGETS.sseAtAgents : TARGETS.maxAgents)) r['verdict'] = `${String(r['verdict'])} (at ${r['step']})`;
  return rows;
}

async function main(): Promise<void> {
  const fdLimit = parseOpenFileLimit(readFileSync('/proc/self/limits', 'utf8')) ?? 1_048_576;
  const maxAgents = maxAgentsForFdLimit(fdLimit);
  const o = parseFleetArgs(process.argv.slice(2), maxAgents);
  const m = machine();
  const started = Date.now();
  console.log(`fleet: ${m.cores} cores, ${m.model}, node ${m.node}; collector in this process, simulators in child processes on the same cores`);
  console.log(`open-file limit ${fdLimit} -> max ${maxAgents} agents; steps ${o.agents.join(', ')}; ${o.seconds} s window each; 1 sample per ${o.intervalMs} ms per agent`);
  // Starts libuv's thread pool now, so that its threads are not taken for the dashboard worker's.
  await new Promise((r) => scrypt('warm', 'up', 16, r));
  const steps: StepResult[] = [];
  for (const n of o.agents) {
    const s = await runStep(n, o);
    if (o.floorSeconds > 0) s.floor = await runFloor(n, o);
    steps.push(s);
    console.log(`\nstep ${n} agents (${s.procs} simulator processes, ${s.source_addresses} source addresses; ramp ${s.ramp_s.toFixed(1)} s; window ${s.window_s.toFixed(1)} s):`);
    console.log(table([stepRow(s)]));
    const mem = s.memory_at_end;
    const eld = s.event_loop_delay_ms;
    console.log(`collector event-loop delay p50/p99/max ${eld.p50.toFixed(1)}/${eld.p99.toFixed(1)}/${eld.max.toFixed(1)} ms`);
    console.log(`memory at the end: shared memory resident ${mem.shm_resident_bytes === null ? '?' : `${Math.round(mem.shm_resident_bytes / MB)} MiB (${Math.round(mem.shm_bytes_per_agent! / 1024)} KiB an agent)`}, main thread's heap ${Math.round(mem.main_heap_used_bytes / MB)} MiB`);
    if (s.errors.total > 0) console.log(`errors: ${JSON.stringify({ collector: s.errors.collector, simulators: s.errors.simulators, sse: s.errors.sse })}`);
    console.log(floorLine(s));
  }
  console.log('\nall steps:');
  console.log(table(steps.map(stepRow)));
  console.log('CPU: % of one core, collector = process less the probe thread; latency resolution 1 ms (Date.now()); SSE: the fleet once on connect, then a delta every 25 ms and a status event every second.');
  const projection: Projection = projectFleet(steps.map((s) => ({ agents: s.agents, cpuPct: s.cpu_pct.collector, rssBytes: s.rss_bytes.mean, rssBeforeBytes: s.rss_bytes.before_agents })));
  const proj = (n: number | null, r: number | null): string => (n === null ? '-' : `${n.toLocaleString('en')} agents, RSS ~${r === null ? '-' : Math.round(r / MB)} MiB`);
  console.log(`\nprojection (fit over the steps: ${projection.cpu_base_pct.toFixed(1)} % + ${projection.cpu_pct_per_1000_agents.toFixed(2)} % per 1,000 agents; RSS ${Math.round(projection.rss_base_bytes / MB)} MiB + ${(projection.rss_bytes_per_agent / 1024).toFixed(1)} KiB per agent), where fds are no limit:`);
  console.log(`  at 35 % of one core: ${proj(projection.agents_at_35pct, projection.rss_bytes_at_35pct)}`);
  console.log(`  at one core:         ${proj(projection.agents_at_100pct, projection.rss_bytes_at_100pct)}`);
  console.log('\ntargets:');
  console.log(table(targetRows(steps)));
  const result = {
    options: { ...o, fd_limit: fdLimit, max_agents: maxAgents, hello_window_per_process: HELLO_WINDOW },
    steps, projection, targets: { ...TARGETS, rows: targetRows(steps) }, run_s: (Date.now() - started) / 1000,
  };
  if (o.out) writeFileSync(o.out, JSON.stringify({ machine: m, ...result }, null, 2) + '\n');
  console.log(`\nwritten: ${o.out ?? writeResult('fleet', result)} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
