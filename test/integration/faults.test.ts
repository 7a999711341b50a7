/**
 * Faults, with real processes: the collector killed with SIGKILL under load and started again
 * (agents come back by themselves, spread out by their jittered backoff, and readings resume),
 * and a data directory that cannot be used (the collector says so and serves anyway).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Sender } from '../../agent/sender.ts';
import type { HostsPayload } from '../../dashboard/api.ts';
import { createLogger } from '../../shared/log.ts';
import { getJson, RawClient, waitFor } from '../helpers/net.ts';
import { freePort, runTs, startCollectorProcess, startTs, waitForOutput, type Proc } from '../helpers/procs.ts';

const TOKEN = 'faults-token';
const AGENTS = 24;
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sentinel-faults-'));
  dirs.push(d);
  return d;
}

/** A port free right now (the collector must come back on the same one). */

async function startCollector(dataDir: string, agentPort: number, httpPort: number): Promise<{ proc: Proc; api: string }> {
  const { proc, base } = await startCollectorProcess(dataDir, agentPort, httpPort, TOKEN);
  return { proc, api: `${base}/api/hosts` };
}

test('collector SIGKILLed under load and restarted: agents reconnect with jitter, readings resume', { timeout: 120_000 }, async () => {
  const dataDir = tempDir();
  const agentPort = await freePort();
  const httpPort = await freePort();
  let { proc, api } = await startCollector(dataDir, agentPort, httpPort);
  const readyAt = new Map<string, number[]>();
  const senders: Sender[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const name = `load-${i}`;
    readyAt.set(name, []);
    // The agent's own backoff (500 ms first, doubling, full jitter): nothing tuned for the test.
    const s = new Sender({ host: '127.0.0.1', port: agentPort, hello: { host: name, agent: 'faults', token: TOKEN, interval_ms: 200 }, log: createLogger('agent', 'error') });
    s.on('ready', () => readyAt.get(name)!.push(performance.now()));
    s.start();
    senders.push(s);
  }
  let value = 0;
  const load = setInterval(() => { value = (value + 1) % 100; for (const s of senders) s.sendSample(Date.now(), { cpu_pct: value }, {}); }, 50);
  try {
    await waitFor('every agent online', async () => (await getJson<HostsPayload>(api)).summary.online === AGENTS, 15_000);
    proc.child.kill('SIGKILL');
    const killedAt = performance.now();
    assert.equal(await proc.exited, null, 'killed by the signal');
    await waitFor('every agent to notice', () => senders.every((s) => s.state !== 'ready'), 10_000);
    ({ proc, api } = await startCollector(dataDir, agentPort, httpPort));
    const upAt = performance.now();
    await waitFor('every agent back online after the restart', async () => (await getJson<HostsPayload>(api)).summary.online === AGENTS, 45_000, 200);
    const back = [...readyAt.values()].map((times) => times[1]!).sort((a, b) => a - b);
    const spread = back[back.length - 1]! - back[0]!;
    const sameInstant = back.filter((t) => t - back[0]! < 20).length;
    console.log(`faults: collector up ${(upAt - killedAt).toFixed(0)} ms after SIGKILL; ${AGENTS} agents back within ${(back[back.length - 1]! - upAt).toFixed(0)} ms of it, reconnects spread over ${spread.toFixed(0)} ms, ${sameInstant} in the first 20 ms`);
    assert.ok(sameInstant < AGENTS / 2, `no stampede: ${sameInstant} of ${AGENTS} reconnected within 20 ms of the first`);
    // Readings resume: fresh samples land for every host.
    const before = new Map((await getJson<HostsPayload>(api)).hosts.map((h) => [h.name, h.samples_total]));
    await waitFor('fresh samples from every host', async () => (await getJson<HostsPayload>(api)).hosts.every((h) => h.samples_total > (before.get(h.name) ?? 0)), 10_000);
  } finally {
    clearInterval(load);
    await Promise.all(senders.map((s) => s.stop()));
    await proc.stop();
  }
});

test('a data directory that cannot be used: logged clearly, agents and the dashboard still served', { timeout: 60_000 }, async () => {
  const parent = tempDir();
  const notADir = join(parent, 'file');
  writeFileSync(notADir, 'a regular file where the data directory should be');
  const proc = startTs('collector/main.ts', ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', join(notADir, 'data'), '--token', TOKEN]);
  try {
    const port = Number((await waitForOutput(proc, /agents:\s+127\.0\.0\.1:(\d+)/, 30_000))[1]);
    const api = `${(await waitForOutput(proc, /dashboard: (http:\/\/\S+?)\/\s/))[1]}/api/hosts`;
    assert.match(proc.stderr(), /data directory unusable; running without it.*ENOTDIR/);
    const a = await RawClient.open(port);
    a.send({ type: 'hello', proto: 1, host: 'survivor', agent: 'faults', token: TOKEN, interval_ms: 1000 });
    await a.next('welcome');
    a.send({ type: 'sample', seq: 1, ts: Date.now(), cpu_pct: 61 });
    await waitFor('the sample served', async () => (await getJson<HostsPayload>(api)).hosts.find((h) => h.name === 'survivor' && h.cpu_pct === 61));
    a.close();
  } finally {
    await proc.stop();
  }
});

test('a second collector on a data directory in use: it exits saying how to go on, and the first keeps serving', { timeout: 60_000 }, async () => {
  const dataDir = tempDir();
  const { proc, base } = await startCollectorProcess(dataDir, await freePort(), await freePort(), TOKEN);
  try {
    const second = await runTs('collector/main.ts', ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dataDir, '--token', TOKEN], 30_000);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /another collector is running with data directory /);
    assert.match(second.stderr, /stop it first \(Ctrl-C in its terminal\), or run this one beside it with its own --data-dir, --listen and --http/);
    assert.doesNotMatch(second.stderr, /^\s+at /m, 'a message, not a stack trace');
    assert.ok(Array.isArray((await getJson<HostsPayload>(`${base}/api/hosts`)).hosts), 'the first still answers');
  } finally {
    await proc.stop();
  }
});
