/**
 * The agent server's counters (shared/collector_stats.ts) over real TCP on loopback: a real
 * AgentServer with its own store and stats, one good agent's frame stream, bad frames before
 * and after the welcome, a host in use, a takeover, a silent peer, a refusal, and shutdown. Connected agents
 * must come back to 0 whichever way sessions end.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Authenticator } from '../../collector/auth.ts';
import { HostTokenSet } from '../../collector/host_tokens.ts';
import { HostTable } from '../../collector/hosts.ts';
import { AgentServer, type AgentServerOptions } from '../../collector/server.ts';
import { metricsText } from '../../dashboard/metrics.ts';
import { CollectorStats, PEER_CLOSED, type CollectorStatsSnapshot } from '../../shared/collector_stats.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { DEFAULT_GUARD_LIMITS } from '../../shared/msgpack_guard.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { NUM, STR } from '../../shared/shm_layout.ts';
import { ShmStore } from '../../shared/shm_store.ts';
import { parseProm } from '../helpers/prom_parse.ts';
import { RawClient, waitFor } from '../helpers/net.ts';

const TOKEN = 'stats-cluster-token';
const C = ERROR_CODES;
const dirs: string[] = [];
const servers: AgentServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(extra: Partial<AgentServerOptions> = {}): Promise<{ server: AgentServer; stats: CollectorStats; store: ShmStore; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-stats-'));
  dirs.push(dir);
  const store = ShmStore.create(8, Date.now(), 10);
  const stats = CollectorStats.create();
  const server = new AgentServer({
    hosts: new HostTable(store), auth: new Authenticator(new HostTokenSet(dir), TOKEN, 'cluster'),
    maxHelloBytes: 4096, maxFrameBytes: 256 * 1024, guardLimits: DEFAULT_GUARD_LIMITS,
    helloTimeoutMs: 400, idleTimeoutMs: 30_000, ackIntervalMs: 1000,
    maxConnections: 64, maxConnectionsPerAddress: 64, maxPendingPerAddress: 64, failedHandshakesPerMinute: 10_000,
    log: createLogger('test', 'error'), stats, ...extra,
  });
  servers.push(server);
  const { port } = await server.listen('127.0.0.1', 0);
  return { server, stats, store, port };
}

function hello(host: string, token = TOKEN): Record<string, unknown> {
  return { type: 'hello', proto: PROTO_VERSION, host, agent: 'test', token, interval_ms: 1000 };
}

function sample(seq: number): Record<string, unknown> {
  return { type: 'sample', seq, ts: Date.now(), cpu_pct: 10 + seq, mem_total_bytes: 100, mem_used_bytes: 50 };
}

async function welcomed(port: number, host: string): Promise<RawClient> {
  const a = await RawClient.open(port);
  a.send(hello(host));
  await a.next('welcome');
  return a;
}

/** The by-code counts that are not zero. */
function nonZero(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== 0));
}

test('server stats: a good stream and bad frames are counted; connected agents return to 0', async () => {
  const { server, stats, store, port } = await start();
  const snap = (): CollectorStatsSnapshot => stats.snapshot(store);

  // One good agent: a hello and five samples, six frames.
  const good = await welcomed(port, 'good');
  assert.equal(snap().connected_agents, 1);
  for (let seq = 1; seq <= 5; seq++) good.send(sample(seq));
  await waitFor('six frames received', () => snap().frames_received_total === 6);

  // After its welcome, an agent sends a frame of an unknown type: two frames, one rejected.
  const bad = await welcomed(port, 'bad');
  assert.equal(snap().connected_agents, 2);
  bad.send({ type: 'exec', cmd: 'rm -rf /' });
  assert.equal((await bad.next('error'))['code'], C.PROTO_UNKNOWN_TYPE);
  await bad.waitClosed();
  await waitFor('bad agent uncounted', () => snap().connected_agents === 1);

  // Before any hello: a zero-length frame (decodes to nothing), and a wrong token.
  const empty = await RawClient.open(port);
  empty.sendBytes(Buffer.alloc(4));
  assert.equal((await empty.next('error'))['code'], C.FRAME_EMPTY);
  const wrong = await RawClient.open(port);
  wrong.send(hello('intruder', 'wrong-token'));
  assert.equal((await wrong.next('error'))['code'], C.AUTH_FAILED);
  await Promise.all([empty.waitClosed(), wrong.waitClosed()]);

  let s = snap();
  assert.equal(s.frames_received_total, 6 + 2 + 1, 'good 6, bad 2, wrong token 1; the empty frame is no frame');
  assert.deepEqual(nonZero(s.frames_rejected_total), { [C.PROTO_UNKNOWN_TYPE]: 1, [C.FRAME_EMPTY]: 1, [C.AUTH_FAILED]: 1 });
  assert.equal(s.connections_accepted_total, 4);
  assert.equal(s.connected_agents, 1);
  assert.deepEqual(nonZero(s.connections_refused_total), {});

  // The good agent hangs up.
  good.close();
  await waitFor('connected agents back to 0', () => snap().connected_agents === 0);
  s = snap();
  assert.deepEqual(nonZero(s.sessions_ended_total), { [C.PROTO_UNKNOWN_TYPE]: 1, [C.FRAME_EMPTY]: 1, [C.AUTH_FAILED]: 1, [PEER_CLOSED]: 1 });
  assert.equal(s.capacity, 8);
  assert.equal(s.slots_used, 2, 'good and bad hold slots; the refused never got one');

  // The same counts as a scrape reads them.
  const parsed = parseProm(metricsText([], Date.now(), s));
  const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
    parsed.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
  assert.equal(value('sentinel_collector_frames_received_total'), 9);
  assert.equal(value('sentinel_collector_frames_rejected_total', { code: C.PROTO_UNKNOWN_TYPE }), 1);
  assert.equal(value('sentinel_collector_frames_rejected_total', { code: C.FRAME_TOO_LARGE }), 0);
  assert.equal(value('sentinel_collector_connected_agents'), 0);
  assert.equal(value('sentinel_collector_sessions_ended_total', { reason: PEER_CLOSED }), 1);

  await server.close();
  assert.equal(snap().connected_agents, 0);
});

test('server stats: a host in use, a takeover, a silent peer and a shutdown each end one session; the gauge balances', async () => {
  const { server, stats, port } = await start();
  // interval 100 ms: the owner counts as gone after 3 intervals without a sample.
  const first = await RawClient.open(port);
  first.send({ ...hello('web-1'), interval_ms: 100 });
  await first.next('welcome');
  // While the owner is live, a second hello for its name is refused: a rejected frame.
  const twin = await RawClient.open(port);
  twin.send(hello('web-1'));
  assert.equal((await twin.next('error'))['code'], C.HOST_IN_USE);
  assert.equal(stats.snapshot().connected_agents, 1);
  // Once it has gone quiet, a newer connection takes over: the old session ends, the gauge stays at 1.
  await new Promise((r) => setTimeout(r, 450));
  const second = await welcomed(port, 'web-1');
  assert.equal((await first.next('error'))['code'], C.HOST_REPLACED);
  await waitFor('one agent connected after the takeover', () => stats.snapshot().connected_agents === 1);

  // A peer that never says hello: timed out by the sweep. Not a rejected frame, but an ended session.
  const silent = await RawClient.open(port);
  assert.equal((await silent.next('error'))['code'], C.HELLO_TIMEOUT);
  const other = await welcomed(port, 'web-2');
  assert.equal(stats.snapshot().connected_agents, 2);

  await server.close();
  await Promise.all([second.waitClosed(), other.waitClosed()]);
  const s = stats.snapshot();
  assert.equal(s.connected_agents, 0);
  assert.deepEqual(nonZero(s.sessions_ended_total), { [C.HOST_IN_USE]: 1, [C.HOST_REPLACED]: 1, [C.HELLO_TIMEOUT]: 1, [C.SHUTDOWN]: 2 });
  assert.deepEqual(nonZero(s.frames_rejected_total), { [C.HOST_IN_USE]: 1 });
  assert.equal(s.frames_received_total, 4, 'four hellos');
  assert.equal(s.connections_accepted_total, 5);
});

test('server stats: a connection over the limit is refused and counted by code, not accepted', async () => {
  const { stats, port } = await start({ maxConnections: 1 });
  const a = await welcomed(port, 'only');
  const b = await RawClient.open(port);
  assert.equal((await b.next('error'))['code'], C.TOO_MANY_CONNECTIONS);
  const s = stats.snapshot();
  assert.deepEqual(nonZero(s.connections_refused_total), { [C.TOO_MANY_CONNECTIONS]: 1 });
  assert.equal(s.connections_accepted_total, 1);
  assert.equal(s.connected_agents, 1);
  a.close();
  b.close();
  await waitFor('connected agents back to 0', () => stats.snapshot().connected_agents === 0);
});

test('server stats: without stats the server runs as before', async () => {
  const { port } = await start({ stats: undefined });
  const a = await welcomed(port, 'plain');
  a.send(sample(1));
  a.send({ type: 'exec' });
  assert.equal((await a.next('error'))['code'], C.PROTO_UNKNOWN_TYPE);
});

test('a defect in what watches a host\'s readings ends only that session, never the collector', async () => {
  const store = ShmStore.create(8, Date.now(), 10);
  const hosts = new HostTable(store);
  // The reading of a read is written at its end (HostTable.endRead), outside the per-frame
  // handling: a watcher that throws there must still close only its own session.
  hosts.onLatest = (host) => { if (host === 'cursed') throw new Error('watcher defect'); };
  const { port } = await start({ hosts });
  const fine = await welcomed(port, 'fine');
  const cursed = await welcomed(port, 'cursed');
  cursed.send(sample(1));
  const err = await cursed.next('error');
  assert.equal(err['code'], C.PROTO_BAD_FIELD);
  assert.equal(await cursed.waitClosed(), true);
  fine.send(sample(1));
  fine.send(sample(2));
  const seqOf = (name: string): number | undefined => store.readAll().find((s) => s.strings[STR.HOST] === name)?.numbers[NUM.SAMPLE_SEQ];
  await waitFor('fine sample 2 stored', () => seqOf('fine') === 2);
  assert.equal(seqOf('cursed'), 1, 'the sample itself was stored before the watcher failed');
  assert.equal(fine.closed, false);
  fine.close();
});
