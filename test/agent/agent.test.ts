/**
 * The whole agent (startAgent: sampler, sender, static facts) against a fake collector on
 * loopback that goes away and comes back: every sample reaches it, none twice on one connection.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changedFacts, startAgent, type AgentHooks } from '../../agent/agent.ts';
import type { StaticFactsResult } from '../../agent/collectors/static_facts.ts';
import { AGENT_SETTINGS } from '../../agent/settings.ts';
import { loadConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/log.ts';
import { FakeCollector, type ReceivedSample } from '../helpers/fake_collector.ts';
import { waitFor } from '../helpers/net.ts';

const INTERVAL_MS = 200;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function agentConfig(port: number): ReturnType<typeof loadConfig<typeof AGENT_SETTINGS>>['config'] {
  return loadConfig(AGENT_SETTINGS, [
    '--collector', `127.0.0.1:${port}`, '--token', 'agent-test-token', '--name', 'agent-test',
    '--interval', String(INTERVAL_MS), '--slow-interval', '0',
  ], {}).config;
}

/** Static facts without systeminformation's child processes; the kernel is whatever `facts.kernel` holds at the read. */
function scriptedFacts(facts: { kernel: string }): AgentHooks['readStaticFacts'] {
  return async (): Promise<StaticFactsResult> => ({ facts: { kernel: facts.kernel, cpu_cores: 2 }, missing: {} });
}

const HOOKS: AgentHooks = { backoff: { firstMs: 50, capMs: 200 }, readStaticFacts: scriptedFacts({ kernel: 'k1' }) };

/** Samples deduplicated by ts, oldest first. */
function uniqueByTs(samples: readonly ReceivedSample[]): number[] {
  return [...new Set(samples.map((s) => s.ts))].sort((a, b) => a - b);
}

test('a collector away for 2.5 s loses nothing: samples from before, during and after arrive, no gap, none twice on a connection', async () => {
  const fake = await FakeCollector.start({ ackIntervalMs: 300 });
  const lines: string[] = [];
  const agent = await startAgent(agentConfig(fake.port), createLogger('agent', 'info', (l) => lines.push(l)), HOOKS);
  let downAt = 0;
  let upAt = 0;
  try {
    await waitFor('five samples', () => fake.samples.length >= 5, 5000);
    downAt = Date.now();
    fake.setDown(true);
    await sleep(2500);
    assert.ok(agent.sender.pendingSamples >= 10, `kept while away: ${agent.sender.pendingSamples}`);
    upAt = Date.now();
    fake.setDown(false);
    await waitFor('five samples taken after the return', () => fake.samples.filter((s) => s.ts > upAt).length >= 5, 5000);
  } finally {
    await agent.stop();
    await fake.close();
  }
  assert.deepEqual(fake.faults, [], 'every frame valid, seq 1, 2, 3 ... on each connection');
  assert.ok(fake.connections.length >= 2, 'reconnected');
  const ts = uniqueByTs(fake.samples);
  const gaps = ts.slice(1).map((t, i) => t - ts[i]!);
  const odd = gaps.filter((g) => g < INTERVAL_MS / 2 || g > INTERVAL_MS * 1.5);
  assert.deepEqual(odd, [], `consecutive ts ${INTERVAL_MS} ms apart, give or take half: ${ts.length} samples`);
  assert.ok(ts[0]! < downAt && ts[ts.length - 1]! > upAt, 'from before the outage to after it');
  const during = ts.filter((t) => t > downAt && t < upAt).length;
  assert.ok(during >= Math.floor((upAt - downAt) / INTERVAL_MS) - 2, `${during} samples taken during the ${upAt - downAt} ms outage`);
  for (let c = 0; c < fake.connections.length; c++) {
    const onConn = fake.samples.filter((s) => s.conn === c).map((s) => s.ts);
    assert.ok(onConn.every((t, i) => i === 0 || t > onConn[i - 1]!), `connection ${c}: ts strictly increasing`);
  }
  // Only samples written but not yet acked at the cut (acks every 300 ms) may come twice.
  const repeats = fake.samples.length - ts.length;
  assert.ok(repeats <= 4, `${repeats} samples resent`);
  assert.ok(lines.some((l) => /sending \d+ samples kept while the collector was away/.test(l)));
});

test('samples taken before the collector was ever reached are sent; a changed static fact goes out once as a facts frame', async () => {
  const fake = await FakeCollector.start({ ackIntervalMs: 200 });
  fake.setDown(true);
  const facts = { kernel: 'k1' };
  const hooks: AgentHooks = { ...HOOKS, readStaticFacts: scriptedFacts(facts), factsRefreshMs: 150 };
  const startedAt = Date.now();
  const agent = await startAgent(agentConfig(fake.port), createLogger('agent', 'error'), hooks);
  try {
    await sleep(1000);
    assert.ok(agent.sender.pendingSamples >= 3, `kept before any connection: ${agent.sender.pendingSamples}`);
    fake.setDown(false);
    await waitFor('connected', () => fake.samples.length > 0);
    await sleep(300);
    assert.deepEqual(fake.framesOf('facts'), [], 'no change, no facts frame');
    facts.kernel = 'k2';
    await waitFor('facts frame', () => fake.framesOf('facts').length > 0, 5000);
    await sleep(600);
    assert.deepEqual(fake.framesOf('facts'), [{ type: 'facts', kernel: 'k2' }], 'sent once, only what changed');
    const ts = uniqueByTs(fake.samples);
    assert.ok(ts[0]! < startedAt + 2 * INTERVAL_MS, 'the first sample, taken while the collector was away, arrived');
    assert.equal(fake.samples.length, ts.length, 'nothing twice: the link never broke');
  } finally {
    await agent.stop();
    await fake.close();
  }
  assert.deepEqual(fake.faults, []);
  assert.equal(fake.connections[0]!.hello!['kernel'], 'k1');
});

test('changedFacts: only known facts that differ', () => {
  assert.equal(changedFacts({ kernel: 'a', cpu_cores: 2 }, { kernel: 'a', cpu_cores: 2 }), undefined);
  assert.deepEqual(changedFacts({ kernel: 'a', cpu_cores: 2 }, { kernel: 'b', cpu_cores: 2 }), { kernel: 'b' });
  assert.deepEqual(changedFacts({ kernel: 'a' }, { os: 'X' }), { os: 'X' });
  assert.equal(changedFacts({ kernel: 'a' }, {}), undefined, 'a fact that could not be read this time is not sent as a change');
});
