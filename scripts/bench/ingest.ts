/**
 * Ingest flat out: a real collector process; a few connections, each after a real hello, send
 * the realistic sample (scripts/bench/sample.ts) as fast as the socket takes them. Reports
 * samples/s that landed in shared memory (read back through the dashboard API) and the ratio
 * to the decode-only rate of one core measured in this same run on this machine.
 *
 * Also the question of a decode pool (node-worker-threads-pool): the same decoding run by a
 * StaticPool of 1 and 2 workers, batches of BATCH frames transferred to them, against one
 * thread decoding inline. A pool is adopted only if it raises the ceiling on this machine.
 *
 * `npm run bench -- ingest [--quick]`
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeFrame, FrameDecoder } from '../../shared/frame_codec.ts';
import type { HostsPayload } from '../../dashboard/api.ts';
import { StaticPool } from 'node-worker-threads-pool';
import { decodeSampleFast } from '../../shared/sample_decoder.ts';
import type { Message } from '../../shared/frame_codec.ts';
import { SAMPLE } from './sample.ts';
import { machine, opsPerSecond, table, writeResult } from './common.ts';

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

/** Writes batches of frames with rising seq until the deadline, respecting backpressure. */
function blast(s: Socket, deadline: number): Promise<number> {
  let seq = 0;
  let sent = 0;
  return new Promise((resolve) => {
    const pump = (): void => {
      while (Date.now() < deadline) {
        const frames: Buffer[] = [];
        for (let i = 0; i < BATCH; i++) frames.push(encodeFrame({ ...(SAMPLE as Message), seq: ++seq, ts: Date.now() }));
        sent += BATCH;
        if (!s.write(Buffer.concat(frames))) { s.once('drain', pump); return; }
      }
      resolve(sent);
    };
    pump();
  });
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
    let done = 0;
    const t0 = performance.now();
    const end = t0 + ms;
    const lane = async (): Promise<void> => {
      while (performance.now() < end) {
        const b = batchOf();
        done += (await pool.exec(b, [b.buffer])) as number;
      }
    };
    await Promise.all(Array.from({ length: size * 2 }, lane));
    return done / ((performance.now() - t0) / 1000);
  } finally {
    await pool.destroy();
  }
}

async function main(): Promise<void> {
  const body = encodeFrame(SAMPLE as Message).subarray(4);
  const decodeOnly = opsPerSecond(() => decodeSampleFast(body), QUICK ? 200 : 400, QUICK ? 3 : 5);
  const pool1 = await poolRate(1, QUICK ? 1000 : 3000);
  const pool2 = await poolRate(2, QUICK ? 1000 : 3000);
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-'));
  const token = 'bench-token';
  const child = spawn(process.execPath, [...process.execArgv, ...(process.env['BENCH_PROF'] ? ['--cpu-prof', '--cpu-prof-dir=' + process.env['BENCH_PROF']] : []), 'collector/main.ts', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', token, '--log-level', 'error'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
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
    const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => openAgent(port, token, `bench-${i}`)));
    const before = await landed(base);
    const t0 = Date.now();
    const sent = (await Promise.all(sockets.map((s) => blast(s, t0 + DURATION_MS)))).reduce((a, b) => a + b, 0);
    // Let the collector drain what is still in flight, then count.
    let after = await landed(base);
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await landed(base);
      if (now === after) break;
      after = now;
    }
    const seconds = (Date.now() - t0) / 1000;
    const rate = (after - before) / seconds;
    const result = {
      connections: CONNECTIONS, duration_s: seconds, frames_sent: sent, samples_landed: after - before,
      landed_per_s: Math.round(rate), decode_only_per_s: Math.round(decodeOnly), ratio_to_decode_only: rate / decodeOnly,
      sample_bytes: body.length, pool_1_worker_per_s: Math.round(pool1), pool_2_workers_per_s: Math.round(pool2),
      pool_2_vs_one_thread: pool2 / decodeOnly,
      targets: { landed_per_s: 500_000, ratio_to_decode_only: 0.8 },
    };
    const m = machine();
    console.log(`ingest: ${m.cores} cores, ${m.model}, node ${m.node}; client and collector share the machine\n`);
    console.log(table([{ connections: CONNECTIONS, 'sample bytes': body.length, 'sent': sent, 'landed': after - before, 'landed/s': Math.round(rate), 'target': 500_000, 'decode-only/s (1 core)': Math.round(decodeOnly), ratio: result.ratio_to_decode_only.toFixed(2), 'ratio target': 0.8 }]));
    console.log('\ndecode pool (node-worker-threads-pool StaticPool, batches of ' + BATCH + ' frames transferred):');
    console.log(table([
      { decoding: 'one thread, inline', 'frames/s': Math.round(decodeOnly), 'vs inline': '1.00' },
      { decoding: 'pool of 1 worker', 'frames/s': Math.round(pool1), 'vs inline': (pool1 / decodeOnly).toFixed(2) },
      { decoding: 'pool of 2 workers', 'frames/s': Math.round(pool2), 'vs inline': (pool2 / decodeOnly).toFixed(2) },
    ]));
    console.log(`written: ${writeResult('ingest', result)}`);
    for (const s of sockets) s.destroy();
  } finally {
    // Its last save on the way out must find its directory: remove it once the collector is gone.
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    if (child.exitCode === null && child.signalCode === null) await gone;
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
