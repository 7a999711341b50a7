/**
 * Nothing lost, with real processes: a collector killed with SIGKILL while an agent sends is
 * started again on the same data directory; the history from before the kill is restored from
 * the state file, and the samples the agent kept while the collector was away (and those the
 * collector had not yet saved, which it had therefore not acked) arrive afterwards, each at its
 * own second: no gap, no duplicate, and the latest reading never moves backwards.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Sender } from '../../agent/sender.ts';
import type { HistoryPayload, HostDetailPayload } from '../../dashboard/api.ts';
import { createLogger } from '../../shared/log.ts';
import { getJson, waitFor } from '../helpers/net.ts';
import { freePort, startCollectorProcess, type Proc } from '../helpers/procs.ts';

const TOKEN = 'restart-token';
const HOST = 'survivor';
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });


function startCollector(dataDir: string, agentPort: number, httpPort: number): Promise<{ proc: Proc; base: string }> {
  return startCollectorProcess(dataDir, agentPort, httpPort, TOKEN, ['--save-interval-s', '1', '--ack-interval-ms', '300']);
}

/** Sample k carries its own number as load_1m (exact in the history's float32), at second k after `t0`. */
function history(base: string): Promise<HistoryPayload> {
  return getJson<HistoryPayload>(`${base}/api/hosts/${encodeURIComponent(HOST)}/history?seconds=900`);
}

test('collector SIGKILLed while an agent sends: history restored, buffered and unacked samples arrive, no gap, no duplicate', { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sentinel-restart-'));
  dirs.push(dataDir);
  const agentPort = await freePort();
  const httpPort = await freePort();
  let { proc, base } = await startCollector(dataDir, agentPort, httpPort);
  const sender = new Sender({ host: '127.0.0.1', port: agentPort, hello: { host: HOST, agent: 'restart-test', token: TOKEN, interval_ms: 1000 }, log: createLogger('agent', 'error') });
  sender.start();
  // Sample times in the past, one second apart (one history bucket each), sent 25 a second, so
  // that minutes of history take seconds; mid-second, so no rounding moves one to a neighbour.
  const t0 = (Math.floor(Date.now() / 1000) - 600) * 1000 + 500;
  let k = 0;
  const send = (): void => { sender.sendSample(t0 + k * 1000, { load_1m: k, cpu_pct: k % 100 }, {}); k++; };
  let producer = setInterval(send, 40);
  let killedAtK = -1;
  try {
    await waitFor('100 samples in the history', async () => (await history(base)).t.length >= 100, 20_000, 100);
    proc.child.kill('SIGKILL');
    assert.equal(await proc.exited, null, 'killed by the signal');
    killedAtK = k;
    const saved = statSync(join(dataDir, 'state.bin'));
    assert.ok(saved.size > 0, 'a state file was saved before the kill');
    // The agent goes on sampling while the collector is away: these are buffered.
    await waitFor('the agent to notice', () => sender.state !== 'ready', 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    ({ proc, base } = await startCollector(dataDir, agentPort, httpPort));
    await waitFor('samples flowing again', () => k > killedAtK + 80 && sender.state === 'ready', 30_000, 50);
    clearInterval(producer);
    producer = setInterval(() => undefined, 1000);
    const total = k;
    const last = await waitFor(`all ${total} samples in the history`, async () => {
      const h = await history(base);
      return h.t.length >= total ? h : null;
    }, 30_000, 200);
    // Exactly one point per second from t0, in order, each holding its own sample.
    assert.equal(last.t.length, total, `no duplicate: ${last.t.length} points for ${total} samples`);
    const gaps: number[] = [];
    last.t.forEach((t, i) => { if (t !== t0 + i * 1000 || last.values['load_1m']![i] !== i) gaps.push(i); });
    assert.deepEqual(gaps, [], `every sample at its own second (first wrong at k=${gaps[0]}, killed at k=${killedAtK})`);
    const detail = await getJson<HostDetailPayload>(`${base}/api/hosts/${encodeURIComponent(HOST)}`);
    assert.equal(detail.host.sample_ts_ms, t0 + (total - 1) * 1000, 'the latest reading is the newest sample, not a replayed one');
    assert.equal(detail.host.readings.load_1m, total - 1);
    console.log(`restart: ${total} samples, killed at k=${killedAtK}, all ${total} in the history after the restart; state file ${statSync(join(dataDir, 'state.bin')).size} bytes`);
  } finally {
    clearInterval(producer);
    await sender.stop();
    await proc.stop();
  }
});
