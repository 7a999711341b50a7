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
import { POWERCAP_FIXTURES, RaplTree, TWO_PACKAGES_TOTAL_W, TWO_PACKAGES_WATTS } from '../helpers/rapl_tree.ts';

const INTERVAL_MS = 200;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function agentConfig(port: number): ReturnType<typeof loadConfig<typeof AGENT_SETTINGS>>['config'] {
  return loadConfig(AGENT_SETTINGS, [
    '--collector', `127.0.0.1:${port}`, '--token', 'agent-test-token', '--name', 'agent-test',
    '--interval', String(INTERVAL_MS), '--slow-interval', '0',
  ], {}).config;
}

/** Static facts without systeminformation's child processes; the kernel is whatever `facts.kernel` holds at the read. */
function scriptedFacts(facts: { kernel: string; reads?: number }): AgentHooks['readStaticFacts'] {
  return async (): Promise<StaticFactsResult> => {
    facts.reads = (facts.reads ?? 0) + 1;
    return { facts: { kernel: facts.kernel, cpu_cores: 2 }, missing: {} };
  };
}

const HOOKS: AgentHooks = { backoff: { firstMs: 50, capMs: 200 }, readStaticFacts: scriptedFacts({ kernel: 'k1' }), factsFingerprint: () => 'fixed' };

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
  const facts: { kernel: string; reads?: number } = { kernel: 'k1' };
  // The fingerprint moves with the kernel, as factsFingerprint's does with os.release().
  const hooks: AgentHooks = { ...HOOKS, readStaticFacts: scriptedFacts(facts), factsFingerprint: () => facts.kernel, factsRefreshMs: 150 };
  const startedAt = Date.now();
  const agent = await startAgent(agentConfig(fake.port), createLogger('agent', 'error'), hooks);
  try {
    await sleep(1000);
    assert.ok(agent.sender.pendingSamples >= 3, `kept before any connection: ${agent.sender.pendingSamples}`);
    fake.setDown(false);
    await waitFor('connected', () => fake.samples.length > 0);
    await sleep(300);
    assert.deepEqual(fake.framesOf('facts'), [], 'no change, no facts frame');
    assert.equal(facts.reads, 1, 'read at start only: the fingerprint did not move in ~9 refresh periods');
    facts.kernel = 'k2';
    await waitFor('facts frame', () => fake.framesOf('facts').length > 0, 5000);
    await sleep(600);
    assert.deepEqual(fake.framesOf('facts'), [{ type: 'facts', kernel: 'k2' }], 'sent once, only what changed');
    assert.equal(facts.reads, 2, 'read again once, when the fingerprint moved');
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

/** A config for the power tests: the real collectors, the slow class off. */
function powerConfig(port: number, extra: string[]): ReturnType<typeof loadConfig<typeof AGENT_SETTINGS>>['config'] {
  return loadConfig(AGENT_SETTINGS, [
    '--collector', `127.0.0.1:${port}`, '--token', 'agent-test-token', '--name', 'agent-power',
    '--interval', '250', '--slow-interval', '0', ...extra,
  ], {}).config;
}

test('power: every sample carries power_w with its source and zones (a fixture RAPL tree), and power() is the figure last sent', async () => {
  const tree = RaplTree.copy('two_packages_dram');
  tree.drawAt(TWO_PACKAGES_WATTS);
  const fake = await FakeCollector.start({ ackIntervalMs: 300 });
  const lines: string[] = [];
  const agent = await startAgent(powerConfig(fake.port, ['--power-root', tree.root]), createLogger('agent', 'info', (l) => lines.push(l)), HOOKS);
  try {
    await waitFor('four samples', () => fake.samples.length >= 4, 10_000);
  } finally {
    await agent.stop();
    await fake.close();
    tree.remove();
  }
  assert.deepEqual(fake.faults, []);
  const totals: number[] = [];
  for (const { msg } of fake.samples) {
    assert.equal(msg['power_source'], 'measured', 'the first sample too: the counters were read at start');
    const zones = msg['power_zones'] as Array<{ zone: string; watts: number }>;
    assert.deepEqual(zones.map((z) => z.zone), ['package-0', 'package-0/dram', 'package-1', 'package-1/dram']);
    // Packages and drams are all counted (none is inside another).
    const sum = zones.reduce((a, z) => a + z.watts, 0);
    assert.ok(Math.abs((msg['power_w'] as number) - sum) < 0.02, `${String(msg['power_w'])} W is the sum of ${JSON.stringify(zones)}`);
    totals.push(msg['power_w'] as number);
  }
  // The timer moving the counters may run late on a loaded machine: the median is judged, not each sample.
  const median = totals.sort((a, b) => a - b)[Math.floor(totals.length / 2)]!;
  assert.ok(Math.abs(median - TWO_PACKAGES_TOTAL_W) <= 0.1 * TWO_PACKAGES_TOTAL_W, `median ${median} W of ${JSON.stringify(totals)}, drawing ${TWO_PACKAGES_TOTAL_W}`);
  const last = fake.samples.at(-1)!.msg;
  const now = agent.power();
  assert.deepEqual([now.watts, now.source, now.atMs], [last['power_w'], 'measured', last['ts']]);
  assert.equal(lines.filter((l) => /power: /.test(l)).length, 1);
});

test('power: no RAPL counters (the none fixture) gives estimated samples, the reason logged once and sent in missing', async () => {
  const fake = await FakeCollector.start({ ackIntervalMs: 300 });
  const lines: string[] = [];
  const root = `${POWERCAP_FIXTURES}none`;
  const agent = await startAgent(powerConfig(fake.port, ['--power-root', root, '--power-class', 'desktop']), createLogger('agent', 'info', (l) => lines.push(l)), HOOKS);
  try {
    await waitFor('three samples', () => fake.samples.length >= 3, 10_000);
  } finally {
    await agent.stop();
    await fake.close();
  }
  for (const { msg } of fake.samples) {
    assert.equal(msg['power_source'], 'estimated');
    // desktop: 40 W idle to 160 W busy, plus memory.
    assert.ok((msg['power_w'] as number) >= 40 && (msg['power_w'] as number) <= 200, String(msg['power_w']));
    assert.match((msg['missing'] as Record<string, string>)['power_zones']!, /^RAPL: no intel-rapl zones in /);
  }
  assert.equal(agent.power().source, 'estimated');
  const logged = lines.filter((l) => /power: /.test(l));
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /power: estimated .*reason="no intel-rapl zones in .*class=desktop idle_w=40 max_w=160/);
});

test('power: overrides that contradict the class stop startAgent with the setting named, before any connection', async () => {
  const fake = await FakeCollector.start();
  try {
    await assert.rejects(
      startAgent(powerConfig(fake.port, ['--power-class', 'laptop', '--power-idle-w', '50']), createLogger('agent', 'error'), HOOKS),
      (err: unknown) => (err as { code?: string; setting?: string }).code === 'SENTINEL_CONFIG_INVALID' && (err as { setting?: string }).setting === '--power-idle-w',
    );
    await sleep(300);
    assert.equal(fake.connections.length, 0);
  } finally {
    await fake.close();
  }
});
