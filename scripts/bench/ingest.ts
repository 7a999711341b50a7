/**
 * Ingest flat out: a real collector process; a few connections, each after a real hello, send
 * sample frames as fast as the socket takes them. Reports samples/s that landed in shared
 * memory (read back through the dashboard API) and the ratio to the decode-only rate measured
 * in this same run on this machine.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeBody, encodeFrame, FrameDecoder } from '../../shared/frame_codec.ts';
import type { HostsPayload } from '../../dashboard/api.ts';
import { SAMPLE } from './codec.ts';
import { machine, opsPerSecond, table, writeResult } from './common.ts';

const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 4);
const DURATION_MS = Number(process.env['BENCH_DURATION_MS'] ?? 5000);
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
        for (let i = 0; i < BATCH; i++) frames.push(encodeFrame({ ...SAMPLE, seq: ++seq, ts: Date.now() }));
        sent += BATCH;
        if (!s.write(Buffer.concat(frames))) { s.once('drain', pump); return; }
      }
      resolve(sent);
    };
    pump();
  });
}

async function main(): Promise<void> {
  const decodeOnly = opsPerSecond(() => decodeBody(encodeFrame(SAMPLE).subarray(4)), 400, 5);
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-'));
  const token = 'bench-token';
  const child = spawn(process.execPath, [...process.execArgv, 'collector/main.ts', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', token, '--log-level', 'error'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
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
    };
    const m = machine();
    console.log(`ingest: ${m.cores} cores, ${m.model}, node ${m.node}; client and collector share the machine\n`);
    console.log(table([{ connections: CONNECTIONS, 'sent': sent, 'landed': after - before, 'landed/s': Math.round(rate), 'decode-only/s (1 core)': Math.round(decodeOnly), ratio: result.ratio_to_decode_only.toFixed(2) }]));
    console.log(`written: ${writeResult('ingest', result)}`);
    for (const s of sockets) s.destroy();
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
