/**
 * Child process of the fleet benchmark: simulates many agents, each a real TCP connection that
 * does the real hello and then sends one sample per interval, stamped with its send time.
 *
 * Cheap by design, so that the collector is what gets measured: the sample frame is encoded once
 * and only seq and ts are patched per send; one timer drives every agent of this process (a wheel
 * of 1-ms buckets over the interval, each agent in the bucket of its random phase); acks are
 * decoded only to notice an `error` frame.
 *
 * Talks to the benchmark over IPC: `start` -> `progress`... ; `stats` -> `stats`; `stop` -> exit.
 */
import { connect, type Socket } from 'node:net';
import { encodeFrame, FrameDecoder } from '../../shared/frame_codec.ts';
import { frameTemplate, patchFrame, type FrameTemplate } from './fleet_lib.ts';

export interface SimStart {
  type: 'start';
  port: number;
  token: string;
  addresses: string[];
  firstIndex: number;
  count: number;
  intervalMs: number;
  /** Hellos under way at once from this process: the collector checks 4 tokens at a time, so more only waits. */
  helloWindow: number;
}

export interface SimStats {
  type: 'stats';
  welcomed: number;
  /** Connections that failed before a welcome (connect error, refusal, close). */
  connectFailed: number;
  /** Welcomed sessions that ended without being asked to. */
  closedUnexpectedly: number;
  /** Error frames received, by code. */
  errorCodes: Record<string, number>;
  /** Samples written so far. */
  sent: number;
  /** Sends that found the previous frame of that agent still queued in its socket. */
  backlogged: number;
  /** First connect to the last welcome or failure, ms; null while under way. */
  rampMs: number | null;
  cpuUs: number;
  rssBytes: number;
}

interface Agent {
  sock: Socket;
  frame: Buffer;
  seq: number;
  open: boolean;
}

const errorCodes: Record<string, number> = {};
let welcomed = 0;
let connectFailed = 0;
let closedUnexpectedly = 0;
let sent = 0;
let backlogged = 0;
let rampStart = 0;
let rampMs: number | null = null;
let stopping = false;
const agents: Agent[] = [];

function countError(code: unknown): void {
  const k = typeof code === 'string' ? code : 'unknown';
  errorCodes[k] = (errorCodes[k] ?? 0) + 1;
}

function run(cfg: SimStart): void {
  const tpl: FrameTemplate = frameTemplate();
  const wheel: Agent[][] = Array.from({ length: cfg.intervalMs }, () => []);
  let next = 0;
  let inFlight = 0;
  rampStart = Date.now();

  const settled = (): void => {
    inFlight--;
    if (welcomed + connectFailed === cfg.count && rampMs === null) rampMs = Date.now() - rampStart;
    openMore();
  };

  const openOne = (i: number): void => {
    const host = `fleet-${cfg.firstIndex + i}`;
    const localAddress = cfg.addresses[i % cfg.addresses.length]!;
    const sock = connect({ port: cfg.port, host: '127.0.0.1', localAddress });
    sock.setNoDelay(true);
    const decoder = new FrameDecoder();
    let agent: Agent | null = null;
    let done = false;
    const fail = (): void => { if (!done) { done = true; connectFailed++; settled(); } };
    sock.once('connect', () => {
      sock.write(encodeFrame({ type: 'hello', proto: 1, host, agent: 'fleet-bench', token: cfg.token, interval_ms: cfg.intervalMs, os: 'Debian GNU/Linux 12', kernel: '6.1.0-18-amd64', arch: 'x64', cpu_model: 'AMD EPYC 7B13', cpu_cores: 8, ts: Date.now() }));
    });
    sock.on('data', (chunk: Buffer) => {
      let messages: Array<Record<string, unknown>>;
      try {
        messages = decoder.push(chunk).messages;
      } catch {
        countError('bench_undecodable');
        sock.destroy();
        return;
      }
      for (const m of messages) {
        if (m['type'] === 'welcome' && !done) {
          done = true;
          welcomed++;
          agent = { sock, frame: Buffer.from(tpl.frame), seq: 0, open: true };
          agents.push(agent);
          // A random phase within the interval: the fleet's sends spread evenly over each second.
          wheel[Math.floor(Math.random() * cfg.intervalMs)]!.push(agent);
          settled();
        } else if (m['type'] === 'error') {
          countError(m['code']);
        }
      }
    });
    sock.on('error', () => {});
    sock.once('close', () => {
      if (agent) {
        agent.open = false;
        if (!stopping) closedUnexpectedly++;
      } else fail();
    });
  };

  const openMore = (): void => {
    while (inFlight < cfg.helloWindow && next < cfg.count) {
      inFlight++;
      openOne(next++);
    }
  };
  openMore();

  // One timer for all agents: every ms bucket passed since the last tick is sent.
  let last = Date.now();
  setInterval(() => {
    const now = Date.now();
    const steps = Math.min(now - last, cfg.intervalMs);
    for (let t = now - steps + 1; t <= now; t++) {
      for (const a of wheel[t % cfg.intervalMs]!) {
        if (!a.open) continue;
        if (a.sock.writableLength > 0) {
          // The last frame is still queued (the collector is behind): never patch a queued buffer.
          backlogged++;
          a.frame = Buffer.from(tpl.frame);
        }
        patchFrame(tpl, a.frame, ++a.seq, Date.now());
        a.sock.write(a.frame);
        sent++;
      }
    }
    last = now;
  }, 1);
}

function stats(): SimStats {
  const cpu = process.cpuUsage();
  return {
    type: 'stats', welcomed, connectFailed, closedUnexpectedly, errorCodes: { ...errorCodes }, sent, backlogged, rampMs,
    cpuUs: cpu.user + cpu.system, rssBytes: process.memoryUsage.rss(),
  };
}

process.on('message', (m: { type: string }) => {
  if (m.type === 'start') {
    run(m as SimStart);
    const progress = setInterval(() => {
      process.send!(stats());
      if (rampMs !== null) clearInterval(progress);
    }, 250);
  } else if (m.type === 'stats') {
    process.send!(stats());
  } else if (m.type === 'stop') {
    stopping = true;
    for (const a of agents) a.sock.destroy();
    process.send!(stats(), () => process.exit(0));
  }
});
// The benchmark gone (killed, crashed): nothing is left to report to.
process.on('disconnect', () => process.exit(0));
