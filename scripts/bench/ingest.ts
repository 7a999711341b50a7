/**
 * Ingest flat out: a real collector process; a few connections, each after a real hello, send
 * the realistic sample (scripts/bench/sample.ts) as fast as the socket takes them. Reports
 * samples/s that landed in shared memory (read back through the dashboard API) and the ratio
 * to the decode-only rate of one core measured in this same run on this machine.
 *
 * Also the question of a decode pool (node-worker-threads-pool): the same decoding run by a
 * StaticPool of 1 and 2 workers, batches of BATCH frames transferred to them, against one
 * thread decoding inline; and the collector itself run a second time with 2 ingest workers
 * (--ingest-workers 2, collector/ingest_pool.ts) against the main thread alone, the default;
 * and a third time as its service runs it, compiled (dist-collector/, `npm run build`) under
 * plain node, against the sources through tsx: samples/s, CPU a sample, and the RSS of each
 * collector idle, before any agent.
 *
 * `npm run bench -- ingest [--quick]`
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeFrame, FrameDecoder } from '../../shared/frame_codec.ts';
import type { HostsPayload } from '../../dashboard/api.ts';
import { StaticPool } from 'node-worker-threads-pool';
import { Worker } from 'node:worker_threads';
import { decodeSampleFast } from '../../shared/sample_decoder.ts';
import type { Message } from '../../shared/frame_codec.ts';
import { SAMPLE } from './sample.ts';
import { buildIfStale, machine, opsPerSecond, sumLanes, table, writeResult } from './common.ts';
import { frameTemplate, parseStat, parseVmRssBytes, patchFrame, TICKS_PER_SECOND } from './fleet_lib.ts';

const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 4);
const QUICK = process.argv.includes('--quick');
const DURATION_MS = Number(process.env['BENCH_DURATION_MS'] ?? (QUICK ? 2000 : 5000));
const BATCH = 256; // frames per write: the collector sees many frames per read, as under load
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function landed(base: string): Promise<number> {
  const p = (await (await fetch(`${base}/api/hosts`)).json()) as HostsPayload;
  return p.hosts.reduce((n, h) => n + h.samples_total, 0);
}

function openAgent(port: number, token: string, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' }, () => s.write(encodeFrame({ type: 'hello', proto: 1, host, agent: 'bench', token, interval_ms: 1000 })));
    const d = new FrameDecoder();
    s.on('data', (c: Buffer) => {
      for (const m of d.push(c).messages) {
        if (m['type'] === 'welcome') { s.removeAllListeners('data'); s.on('data', () => {}); resolve(s); }
        else reject(new Error(`refused: ${String(m['code'])}`));
      }
    });
    s.once('error', reject);
  });
}

/**
 * Writes batches of frames with rising seq until the deadline, respecting backpressure. The
 * frame is encoded once (fleet_lib's template) and each copy has only seq and ts patched, so the
 * sender, which shares the machine's two cores with the collector, costs as little as it can:
 * in a real fleet the senders are other machines.
 */
function blast(s: Socket, deadline: number): Promise<number> {
  const tpl = frameTemplate(SAMPLE as Record<string, unknown>);
  const len = tpl.frame.length;
  const batch = Buffer.alloc(len * BATCH);
  for (let i = 0; i < BATCH; i++) tpl.frame.copy(batch, i * len);
  let seq = 0;
  let sent = 0;
  return new Promise((resolve) => {
    const pump = (): void => {
      while (Date.now() < deadline) {
        const b = Buffer.from(batch); // the socket keeps what it was given until it is sent
        const ts = Date.now();
        for (let i = 0; i < BATCH; i++) patchFrame(tpl, b.subarray(i * len, (i + 1) * len), ++seq, ts);
        sent += BATCH;
        if (!s.write(b)) { s.once('drain', pump); return; }
      }
      resolve(sent);
    };
    pump();
  });
}

/** CPU time (user + system) of process `pid` so far, µs, from /proc/PID/stat. */
function processCpuUs(pid: number): number {
  const f = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return ((f.utime + f.stime) / TICKS_PER_SECOND) * 1e6;
}

/** Frames decoded per second by a StaticPool of `size` workers, batches in flight two per worker. */
async function poolRate(size: number, ms: number): Promise<number> {
  const pool = new StaticPool({ size, task: fileURLToPath(new URL('./ingest_pool_boot.mjs', import.meta.url)) });
  const one = encodeFrame({ ...(SAMPLE as Message), seq: 1, ts: Date.now() });
  const batchOf = (): Uint8Array => {
    const b = new Uint8Array(one.length * BATCH);
    for (let i = 0; i < BATCH; i++) b.set(one, i * one.length);
    return b;
  };
  try {
    await Promise.all(Array.from({ length: size }, () => pool.exec(batchOf()))); // warm-up: workers loaded
    const t0 = performance.now();
    const done = await sumLanes(size * 2, t0 + ms, async () => {
      const b = batchOf();
      // StaticPool.exec takes no transfer list (a second argument is ignored): an executor does.
      return (await pool.createExecutor().setTransferList([b.buffer as ArrayBuffer]).exec(b)) as number;
    });
    return done / ((performance.now() - t0) / 1000);
  } finally {
    await pool.destroy();
  }
}

/**
 * The same batches decoded by one bare worker_threads Worker running the same task file, two
 * batches in flight, transferred: what a pool costs beyond the thread itself.
 */
async function bareWorkerRate(ms: number): Promise<number> {
  const worker = new Worker(fileURLToPath(new URL('./ingest_pool_boot.mjs', import.meta.url)));
  const one = encodeFrame({ ...(SAMPLE as Message), seq: 1, ts: Date.now() });
  const batchOf = (): Uint8Array => {
    const b = new Uint8Array(one.length * BATCH);
    for (let i = 0; i < BATCH; i++) b.set(one, i * one.length);
    return b;
  };
  const waiting: Array<(n: number) => void> = [];
  worker.on('message', (n: number) => waiting.shift()?.(n));
  const exec = (b: Uint8Array): Promise<number> => new Promise((resolve) => { waiting.push(resolve); worker.postMessage(b, [b.buffer as ArrayBuffer]); });
  try {
    await exec(batchOf()); // warm-up: the worker loaded
    const t0 = performance.now();
    const done = await sumLanes(2, t0 + ms, () => exec(batchOf()));
    return done / ((performance.now() - t0) / 1000);
  } finally {
    await worker.terminate();
  }
}

interface CollectorRun {
  sent: number; landed: number; seconds: number; rate: number; cpuUs: number; usPerSample: number; cpuPct: number; senderPct: number;
  /** The collector's RSS once started, before any agent, MiB. */
  idleRssMiB: number;
}

const COLLECTOR_BUILD = 'dist-collector/collector/main.js';
/** What the collector's build is compiled from (tsconfig.collector.json). */
const COLLECTOR_INPUTS = ['collector', 'dashboard', 'shared', 'tsconfig.json', 'tsconfig.collector.json', 'package-lock.json'];

/** VmRSS of process `pid`, MiB (NaN where /proc is not there). */
function rssMiB(pid: number): number {
  try {
    return (parseVmRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8')) ?? Number.NaN) / 2 ** 20;
  } catch {
    return Number.NaN;
  }
}

/**
 * One real collector process with `workers` ingest workers, CONNECTIONS agents sending flat
 * out for DURATION_MS; what landed in its shared memory, and its CPU.
 */
async function collectorRun(workers: number, compiled = false): Promise<CollectorRun> {
  const extraArgs = ['--ingest-workers', String(workers)];
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-'));
  const token = 'bench-token';
  // From the sources through tsx (this process's own loader flags), or compiled under plain node.
  const entry = compiled ? [COLLECTOR_BUILD] : [...process.execArgv, 'collector/main.ts'];
  const child = spawn(process.execPath, [...(process.env['BENCH_PROF'] ? ['--cpu-prof', '--cpu-prof-dir=' + process.env['BENCH_PROF']] : []), ...entry, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', token, '--log-level', 'error', ...extraArgs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    const { port, base } = await new Promise<{ port: number; base: string }>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const a = /agents:\s+\S+:(\d+)/.exec(out);
        const d = /dashboard: (http:\/\/\S+?)\//.exec(out);
        if (a && d) resolve({ port: Number(a[1]), base: d[1]! });
      });
      child.once('exit', (code) => reject(new Error(`collector exited ${code}`)));
    });
    // Idle: started, its dashboard worker up (it printed its address), no agent yet.
    await new Promise((r) => setTimeout(r, 1000));
    const idleRssMiB = rssMiB(child.pid!);
    // Workers start at the first bulk read: a burst from other connections starts them, untimed.
    if (workers > 0) {
      const warm = await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => openAgent(port, token, `bench-warm-${i}`)));
      await Promise.all(warm.map((s) => blast(s, Date.now() + 1500)));
      for (const s of warm) s.destroy();
      await new Promise((r) => setTimeout(r, 500));
    }
    const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => openAgent(port, token, `bench-${i}`)));
    const before = await landed(base);
    const cpu0 = processCpuUs(child.pid!);
    const senderCpu0 = process.cpuUsage();
    const t0 = Date.now();
    const sent = (await Promise.all(sockets.map((s) => blast(s, t0 + DURATION_MS)))).reduce((a, b) => a + b, 0);
    const senderCpu = process.cpuUsage(senderCpu0);
    // Let the collector drain what is still in flight, then count.
    let after = await landed(base);
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await landed(base);
      if (now === after) break;
      after = now;
    }
    const seconds = (Date.now() - t0) / 1000;
    // The collector's CPU over the window (the last landed() requests included: a few ms).
    const cpuUs = processCpuUs(child.pid!) - cpu0;
    for (const s of sockets) s.destroy();
    const n = after - before;
    return {
      sent, landed: n, seconds, rate: n / seconds, cpuUs, usPerSample: cpuUs / Math.max(1, n), cpuPct: (cpuUs / 1e4) / seconds,
      senderPct: ((senderCpu.user + senderCpu.system) / 1e4) / seconds, idleRssMiB,
    };
  } finally {
    // Its last save on the way out must find its directory: remove it once the collector is gone.
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    if (child.exitCode === null && child.signalCode === null) await gone;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const body = encodeFrame(SAMPLE as Message).subarray(4);
  const decodeRate = (): number => opsPerSecond(() => decodeSampleFast(body), QUICK ? 200 : 400, QUICK ? 3 : 5);
  // Decode-only is measured just before and just after the collectors' windows and averaged:
  // this shared VM's speed drifts by tens of percent within a minute.
  const decodeBefore = decodeRate();
  const pool1 = await poolRate(1, QUICK ? 1000 : 3000);
  const pool2 = await poolRate(2, QUICK ? 1000 : 3000);
  const bare1 = await bareWorkerRate(QUICK ? 1000 : 3000);
  buildIfStale('ingest', 'tsconfig.collector.json', COLLECTOR_BUILD, COLLECTOR_INPUTS);
  const inline = await collectorRun(0);
  const pooled = await collectorRun(2);
  const built = await collectorRun(0, true);
  const decodeAfter = decodeRate();
  const decodeOnly = (decodeBefore + decodeAfter) / 2;
  const rate = inline.rate;
  const usPerSample = inline.usPerSample;
  const result = {
    connections: CONNECTIONS, duration_s: inline.seconds, frames_sent: inline.sent, samples_landed: inline.landed,
    landed_per_s: Math.round(rate), decode_only_per_s: Math.round(decodeOnly),
    decode_only_before_after_per_s: [Math.round(decodeBefore), Math.round(decodeAfter)],
    ratio_to_decode_only: rate / decodeOnly,
    collector_cpu_pct_of_one_core: inline.cpuPct,
    collector_cpu_us_per_sample: usPerSample, decode_only_us_per_sample: 1e6 / decodeOnly,
    cost_ratio_decode_to_collector: (1e6 / decodeOnly) / usPerSample,
    sender_cpu_pct_of_one_core: inline.senderPct,
    with_2_ingest_workers: {
      landed_per_s: Math.round(pooled.rate), ratio_to_decode_only: pooled.rate / decodeOnly, vs_inline: pooled.rate / rate,
      collector_cpu_pct_of_one_core: pooled.cpuPct, collector_cpu_us_per_sample: pooled.usPerSample, sender_cpu_pct_of_one_core: pooled.senderPct,
    },
    compiled: {
      landed_per_s: Math.round(built.rate), vs_tsx: built.rate / rate, collector_cpu_us_per_sample: built.usPerSample, cpu_vs_tsx: built.usPerSample / usPerSample,
      idle_rss_mib: built.idleRssMiB, tsx_idle_rss_mib: inline.idleRssMiB,
    },
    sample_bytes: body.length, pool_1_worker_per_s: Math.round(pool1), pool_2_workers_per_s: Math.round(pool2),
    pool_2_vs_one_thread: pool2 / decodeOnly, bare_worker_per_s: Math.round(bare1),
    targets: { landed_per_s: 500_000, ratio_to_decode_only: 0.8 },
  };
  const m = machine();
  console.log(`ingest: ${m.cores} cores, ${m.model}, node ${m.node}; client and collector share the machine\n`);
  console.log(table([
    { collector: 'main thread only (default)', connections: CONNECTIONS, 'sample bytes': body.length, 'sent': inline.sent, 'landed': inline.landed, 'landed/s': Math.round(rate), 'target': 500_000, 'decode-only/s (1 core)': Math.round(decodeOnly), ratio: result.ratio_to_decode_only.toFixed(2), 'ratio target': 0.8, 'CPU µs/sample': usPerSample.toFixed(2), 'CPU % of a core': inline.cpuPct.toFixed(0) },
    { collector: 'compiled (dist-collector/, plain node)', connections: CONNECTIONS, 'sample bytes': body.length, 'sent': built.sent, 'landed': built.landed, 'landed/s': Math.round(built.rate), 'target': 500_000, 'decode-only/s (1 core)': Math.round(decodeOnly), ratio: (built.rate / decodeOnly).toFixed(2), 'ratio target': 0.8, 'CPU µs/sample': built.usPerSample.toFixed(2), 'CPU % of a core': built.cpuPct.toFixed(0) },
    { collector: '--ingest-workers 2', connections: CONNECTIONS, 'sample bytes': body.length, 'sent': pooled.sent, 'landed': pooled.landed, 'landed/s': Math.round(pooled.rate), 'target': 500_000, 'decode-only/s (1 core)': Math.round(decodeOnly), ratio: (pooled.rate / decodeOnly).toFixed(2), 'ratio target': 0.8, 'CPU µs/sample': pooled.usPerSample.toFixed(2), 'CPU % of a core': pooled.cpuPct.toFixed(0) },
  ]));
  console.log(`\ncollector (main thread only): ${inline.cpuPct.toFixed(0)} % of one core, ${usPerSample.toFixed(2)} µs of CPU per sample landed against ${(1e6 / decodeOnly).toFixed(2)} µs to decode one (${result.cost_ratio_decode_to_collector.toFixed(2)} of its cost is decoding); sender ${inline.senderPct.toFixed(0)} % of one core; decode-only before / after: ${Math.round(decodeBefore)} / ${Math.round(decodeAfter)}/s`);
  console.log(`with 2 ingest workers: ${(pooled.rate / rate).toFixed(2)}x the samples a second of the main thread alone, ${(pooled.usPerSample / usPerSample).toFixed(2)}x its CPU a sample`);
  console.log(`compiled, as the service runs it: ${(built.rate / rate).toFixed(2)}x the samples a second of the sources through tsx, ${(built.usPerSample / usPerSample).toFixed(2)}x its CPU a sample; idle RSS ${built.idleRssMiB.toFixed(0)} MiB against ${inline.idleRssMiB.toFixed(0)} MiB (${(built.idleRssMiB / inline.idleRssMiB).toFixed(2)}x)`);
  console.log('\ndecode pool (node-worker-threads-pool StaticPool, batches of ' + BATCH + ' frames transferred):');
  console.log(table([
    { decoding: 'one thread, inline', 'frames/s': Math.round(decodeOnly), 'vs inline': '1.00' },
    { decoding: 'pool of 1 worker', 'frames/s': Math.round(pool1), 'vs inline': (pool1 / decodeOnly).toFixed(2) },
    { decoding: 'pool of 2 workers', 'frames/s': Math.round(pool2), 'vs inline': (pool2 / decodeOnly).toFixed(2) },
    { decoding: 'one bare Worker (no pool)', 'frames/s': Math.round(bare1), 'vs inline': (bare1 / decodeOnly).toFixed(2) },
  ]));
  console.log(`written: ${writeResult('ingest', result)}`);
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
