/**
 * A real network with real link failures (Linux, root): the collector and three agents each in
 * their own network namespace with their own address on a private bridge inside this machine.
 * One agent's link is cut (its bridge port brought down, as a pulled cable): its host turns stale,
 * then offline, while the other two stay online; once the link is back, the agent reconnects by
 * itself and the samples it kept while cut off arrive, filling the gap in the host's history.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { HistoryPayload, HostsPayload } from '../../dashboard/api.ts';
import { waitFor } from '../helpers/net.ts';
import { NetnsHttp, netnsOrSkip, startTsInNetns, TestNetwork } from '../helpers/netns.ts';
import { waitForOutput, type Proc } from '../helpers/procs.ts';

const TOKEN = 'netns-token';
const AGENTS = ['ns-agent-1', 'ns-agent-2', 'ns-agent-3'] as const;
/** The agents' sampling interval, ms: a host is stale after 3 of them without a sample. */
const INTERVAL_MS = 500;
/**
 * The collector acks this often; an agent gives up a silent link after 3 of them + 2 s (3.5 s).
 * The collector closes a silent agent after 3 of its intervals + 5 s (6.5 s): then it is offline.
 */
const ACK_INTERVAL_MS = 500;
const POLL_MS = 100;

const cleanups: Array<() => unknown> = [];
// In reverse: processes stop before their namespaces go.
after(async () => { for (const c of cleanups.reverse()) await c(); });

type Host = HostsPayload['hosts'][number];

test('private network in namespaces: a cut link turns its host stale then offline, the others stay online; back up, the agent reconnects and its buffered samples arrive', { timeout: 120_000 }, async (t) => {
  if (!netnsOrSkip(t)) return;
  const started = performance.now();
  const net = new TestNetwork(AGENTS.length);
  cleanups.push(() => net.remove());
  net.create();
  const dataDir = mkdtempSync(join(tmpdir(), 'sentinel-netns-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const procs: Proc[] = [];
  cleanups.push(() => Promise.all(procs.map((p) => p.stop('SIGKILL'))));

  // The collector listens on the bridge's address only; its dashboard on its namespace's loopback.
  const collector = startTsInNetns(net.hub, 'collector/main.ts', [
    '--listen', `${net.hubAddress}:0`, '--http', '127.0.0.1:0', '--data-dir', dataDir, '--token', TOKEN,
    '--ack-interval-ms', String(ACK_INTERVAL_MS), '--idle-timeout-ms', '1000', '--log-level', 'info', '--log-format', 'json',
  ]);
  procs.push(collector);
  const agentPort = Number((await waitForOutput(collector, new RegExp(`agents:\\s+${net.hubAddress.replaceAll('.', '\\.')}:(\\d+)`), 45_000))[1]);
  const base = (await waitForOutput(collector, /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//))[1]!;
  const http = new NetnsHttp(net.hub, base);
  cleanups.push(() => http.close());
  const hosts = (): Promise<HostsPayload> => http.getJson<HostsPayload>('/api/hosts');

  const agents = AGENTS.map((name, i) => {
    const p = startTsInNetns(net.members[i]!.ns, 'agent/main.ts', [
      '--collector', `${net.hubAddress}:${agentPort}`, '--name', name, '--interval', String(INTERVAL_MS), '--slow-interval', '0',
    ], { SENTINEL_TOKEN: TOKEN });
    procs.push(p);
    return p;
  });

  const byName = (p: HostsPayload): Map<string, Host> => new Map(p.hosts.map((h) => [h.name, h]));
  const describe = (p: HostsPayload): string => p.hosts.map((h) => `${h.name}=${h.status}`).join(' ');
  let last: HostsPayload | null = null;
  const allOnline = await waitFor('all three agents online, each from its own address', async () => {
    last = await hosts();
    return AGENTS.every((n) => byName(last!).get(n)?.status === 'online') ? last : null;
  }, 60_000, 200).catch((err: Error) => {
    throw new Error(`${err.message}; hosts: ${last ? describe(last) : 'none'}; agent stderr: ${agents.map((a) => a.stderr().slice(-300)).join(' | ')}`);
  });
  assert.deepEqual(allOnline.hosts.map((h) => h.name).sort(), [...AGENTS]);
  // Where the collector saw each agent's connections come from (its log, one JSON object a line).
  const connectedFrom = (name: string): string[] => collector.stderr().split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    const e = JSON.parse(line) as { msg?: string; host?: string; from?: string };
    return e.msg === 'agent connected' && e.host === name ? [e.from!.replace(/:\d+$/, '')] : [];
  });
  AGENTS.forEach((name, i) => assert.deepEqual(connectedFrom(name), [net.members[i]!.address], `${name} connected once, from its own address`));
  const setupMs = performance.now() - started;

  // A few samples in, then the link of the first agent is cut at the bridge.
  const [victim, ...others] = AGENTS;
  const member = net.members[0]!;
  await new Promise((r) => setTimeout(r, 1500));
  const before = byName(await hosts()).get(victim)!;
  const cutAtMs = Date.now();
  net.setLink(member, false);

  // Poll through the outage: the victim goes online -> stale -> offline; the others never leave online.
  const seen: string[] = [];
  const othersNotOnline: string[] = [];
  const watch = async (until: (h: Host) => boolean, what: string, timeoutMs: number): Promise<Host> => waitFor(what, async () => {
    const p = await hosts();
    const m = byName(p);
    for (const n of others) if (m.get(n)?.status !== 'online') othersNotOnline.push(`${n}=${m.get(n)?.status} (age ${m.get(n)?.age_ms} ms) at +${Date.now() - cutAtMs} ms`);
    const h = m.get(victim)!;
    if (seen[seen.length - 1] !== h.status) seen.push(h.status);
    return until(h) ? h : null;
  }, timeoutMs, POLL_MS);

  await watch((h) => h.status === 'offline', `${victim} offline after its link was cut`, 20_000);
  const offlineAfterMs = Date.now() - cutAtMs;
  // (A first poll slowed past the stale threshold by a busy machine may miss the first online.)
  assert.match(seen.join(), /^(online,)?stale,offline$/, `the cut host goes stale before offline (seen: ${seen.join(' -> ')})`);
  assert.match(agents[0]!.stderr(), /collector link down: nothing from the collector for \d+ ms/, 'the agent noticed the silent link by itself');
  // Long enough cut off to have buffered several seconds of samples.
  await new Promise((r) => setTimeout(r, 1000));

  const restoredAtMs = Date.now();
  net.setLink(member, true);
  await watch((h) => h.status === 'online' && h.connected_since_ms! > restoredAtMs - 1000, `${victim} back online by itself`, 45_000);
  const reconnectMs = Date.now() - restoredAtMs;
  assert.deepEqual(othersNotOnline, [], 'the hosts whose links were not cut stayed online throughout');
  assert.deepEqual(connectedFrom(victim), [member.address, member.address], 'the cut agent connected again, from its address');
  // Between the welcome and its first sample a connected host counts as stale: a poll may land there.
  assert.match(seen.join(), /offline,(stale,)?online$/, `back online (seen: ${seen.join(' -> ')})`);

  // The buffered samples arrived: the collector counted them, every second of the outage now has
  // a point in the host's history, and the agent says it sent them. Without the buffer, only the
  // live samples after the reconnect would come and the outage would stay a gap.
  const outageMs = restoredAtMs - cutAtMs;
  // At least 60% of the samples due in the outage: a busy machine may skip a round.
  const due = outageMs / INTERVAL_MS;
  // Counted beyond the live samples taken since the link came back (those already received
  // before the cut but not yet acknowledged are resent and not counted again).
  let counted = 0;
  let live = 0;
  await waitFor('the buffered samples counted by the collector', async () => {
    const total = byName(await hosts()).get(victim)!.samples_total!;
    live = Math.ceil((Date.now() - restoredAtMs) / INTERVAL_MS) + 1;
    counted = total - before.samples_total!;
    return counted - live >= 0.6 * due;
  }, 5000, 200).catch((err: Error) => { throw new Error(`${err.message}: samples_total grew by ${counted} since before the cut, of which up to ${live} live since the link came back; ${due.toFixed(1)} were due in the ${outageMs} ms outage`); });
  const history = await http.getJson<HistoryPayload>(`/api/hosts/${encodeURIComponent(victim)}/history?seconds=120`);
  const secondsWithPoint = new Set(history.t.map((ms) => Math.floor(ms / 1000)));
  const outageSeconds: number[] = [];
  for (let s = Math.floor(cutAtMs / 1000) + 1; s < Math.floor(restoredAtMs / 1000); s++) outageSeconds.push(s);
  const missing = outageSeconds.filter((s) => !secondsWithPoint.has(s)).map((s) => s * 1000 - cutAtMs);
  assert.ok(outageSeconds.length >= 5, `an outage of ${outageSeconds.length} whole seconds`);
  assert.deepEqual(missing, [], `seconds of the outage without a point in the history (ms after the cut): ${missing.join(', ')}`);
  const sent = Number((await waitFor('the agent to log its backlog', () => /sending (\d+) samples kept while the collector was away/.exec(agents[0]!.stderr()), 5000))[1]);
  assert.ok(sent >= 0.6 * due, `${sent} buffered samples sent for a ${outageMs} ms outage at ${INTERVAL_MS} ms`);
  // The others kept reporting all along, and still do.
  const final = byName(await hosts());
  for (const n of others) assert.equal(final.get(n)?.status, 'online', `${n} online at the end`);

  console.log(`netns: setup ${(setupMs / 1000).toFixed(1)} s; cut host offline ${offlineAfterMs} ms after the cut; link restored after ${outageMs} ms; agent back ${reconnectMs} ms later with ${sent} buffered samples; history covers all ${outageSeconds.length} seconds of the outage`);

  // Cleanup checked here too: nothing of the test network may outlive the test.
  await Promise.all(procs.map((p) => p.stop()));
  await http.close();
  net.remove();
  assert.deepEqual(net.remaining(), [], 'every namespace of the test network removed');
});
