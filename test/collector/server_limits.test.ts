/**
 * The agent port's admission rules over real loopback sockets: failed-handshake rate limit per
 * address, connections per address, per-host tokens (made by the real `npm run token`), acks,
 * and the timing of good and bad tokens. Other loopback source addresses (127.0.0.x) stand in
 * for other machines.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startCollector, type RunningCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { loadConfig } from '../../shared/config.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { RawClient, waitFor } from '../helpers/net.ts';
import { runTs } from '../helpers/procs.ts';

const TOKEN = 'limits-cluster-token';
const dirs: string[] = [];
const running: RunningCollector[] = [];
after(async () => {
  await Promise.all(running.map((c) => c.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function collector(extra: string[] = []): Promise<{ c: RunningCollector; dir: string; logs: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-limits-'));
  dirs.push(dir);
  const logs: string[] = [];
  const cfg = loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', TOKEN, ...extra], {}).config;
  const c = await startCollector(cfg, createLogger('collector', 'info', (l) => logs.push(l)));
  running.push(c);
  return { c, dir, logs };
}

function hello(host: string, token = TOKEN): Record<string, unknown> {
  return { type: 'hello', proto: PROTO_VERSION, host, agent: 'test', token, interval_ms: 1000 };
}

/** One handshake from `from`; resolves with the reply type and code. */
async function handshake(c: RunningCollector, host: string, token: string, from = '127.0.0.1'): Promise<{ type: string; code?: string; client: RawClient }> {
  const client = await RawClient.open(c.agentAddress.port, '127.0.0.1', from);
  client.send(hello(host, token));
  const reply = await waitFor('a reply', () => client.messages[0] ?? (client.closed ? { type: 'closed' } : null), 5000);
  return { type: String(reply['type']), code: reply['code'] as string | undefined, client };
}

test('wrong tokens by the thousand: 10 are answered AUTH_FAILED, the rest RATE_LIMITED at once; other addresses carry on', async () => {
  const { c, logs } = await collector();
  const codes = new Map<string, number>();
  const count = (r: { type: string; code?: string; client: RawClient }): void => {
    codes.set(r.code ?? r.type, (codes.get(r.code ?? r.type) ?? 0) + 1);
    r.client.close();
  };
  const started = performance.now();
  // One at a time first: exactly the allowance is checked, then the address is refused.
  for (let i = 0; i < 15; i++) {
    const r = await handshake(c, `h-${i}`, `wrong-${i}`, '127.0.0.9');
    assert.equal(r.code, i < 10 ? ERROR_CODES.AUTH_FAILED : ERROR_CODES.RATE_LIMITED, `attempt ${i + 1}`);
    count(r);
  }
  // Then in parallel bursts: every one refused before its token is read.
  for (let batch = 0; batch < 20; batch++) {
    const n = batch < 19 ? 50 : 35;
    (await Promise.all(Array.from({ length: n }, (_, i) => handshake(c, `h${batch}-${i}`, `wrong-${batch}-${i}`, '127.0.0.9')))).forEach(count);
  }
  const ms = performance.now() - started;
  assert.deepEqual(Object.fromEntries(codes), { [ERROR_CODES.AUTH_FAILED]: 10, [ERROR_CODES.RATE_LIMITED]: 990 });
  const good = await handshake(c, 'good-neighbour', TOKEN, '127.0.0.10');
  assert.equal(good.type, 'welcome', 'another address is served');
  good.client.close();
  const blocked = logs.filter((l) => l.includes('address refused for failed handshakes'));
  assert.ok(blocked.length >= 1 && blocked.length <= 3, `logged when the address is blocked, not per attempt (${blocked.length})`);
  assert.ok(!logs.some((l) => l.includes('wrong-')), 'no presented token is ever logged');
  console.log(`rate limit: 1000 wrong-token handshakes from one address in ${ms.toFixed(0)} ms: ${JSON.stringify(Object.fromEntries(codes))}`);
});

test('connections per address are capped; other addresses are not affected', async () => {
  const { c } = await collector(['--max-connections-per-address', '5']);
  const held = await Promise.all(Array.from({ length: 5 }, () => RawClient.open(c.agentAddress.port, '127.0.0.1', '127.0.0.21')));
  const sixth = await RawClient.open(c.agentAddress.port, '127.0.0.1', '127.0.0.21');
  const refusal = await sixth.next('error');
  assert.equal(refusal['code'], ERROR_CODES.TOO_MANY_CONNECTIONS);
  const other = await handshake(c, 'other-address', TOKEN, '127.0.0.22');
  assert.equal(other.type, 'welcome');
  for (const h of held) h.close();
  await waitFor('the count to drop', () => c.agents.connectionCount <= 1);
  const again = await handshake(c, 'after', TOKEN, '127.0.0.21');
  assert.equal(again.type, 'welcome', 'freed slots are usable again');
  again.client.close();
  other.client.close();
});

test('acks without saving (--save-interval-s 0): the welcome names the interval, and acks carry the last accepted seq', async () => {
  const { c } = await collector(['--ack-interval-ms', '100', '--save-interval-s', '0']);
  const r = await handshake(c, 'acked', TOKEN);
  assert.equal(r.type, 'welcome');
  assert.equal(r.client.messages[0]!['ack_interval_ms'], 100);
  r.client.send({ type: 'sample', seq: 1, ts: Date.now(), cpu_pct: 5 });
  await waitFor('an ack of seq 1', () => r.client.messages.find((m) => m['type'] === 'ack' && m['seq'] === 1), 3000);
  r.client.close();
});

test('the sweep reaches every session: 45 agents (more than its 10 slices) are each acked every interval, 15 silent ones time out', async () => {
  const { c } = await collector(['--ack-interval-ms', '200', '--save-interval-s', '0', '--hello-timeout-ms', '400', '--max-connections-per-address', '100']);
  const agents = await Promise.all(Array.from({ length: 45 }, (_, i) => handshake(c, `swept-${i}`, TOKEN)));
  assert.ok(agents.every((a) => a.type === 'welcome'));
  // Connections that never say hello: each must be closed by its deadline, whichever slice holds it.
  const silent = await Promise.all(Array.from({ length: 15 }, () => RawClient.open(c.agentAddress.port)));
  const t0 = Date.now();
  for (const [i, a] of agents.entries()) a.client.send({ type: 'sample', seq: 1, ts: Date.now(), cpu_pct: i });
  await new Promise((r) => setTimeout(r, 1000));
  const acks = agents.map((a) => a.client.messages.filter((m) => m['type'] === 'ack').length);
  // 1000 ms at one ack per 200 ms (the sweep's round is 100 ms): about 5 each; at least 3 allows a slow machine.
  assert.ok(acks.every((n) => n >= 3), `acks per agent: ${acks.join(' ')}`);
  assert.ok(agents.every((a) => a.client.messages.some((m) => m['type'] === 'ack' && m['seq'] === 1)), 'every ack names the last sample');
  await waitFor('every silent connection closed', () => (silent.every((s) => s.closed) ? true : null), 3000);
  assert.ok(Date.now() - t0 < 3000);
  for (const s of silent) assert.equal(s.messages.find((m) => m['type'] === 'error')?.['code'], ERROR_CODES.HELLO_TIMEOUT);
  for (const a of agents) a.client.close();
});

test('durable acks: with saving on, an ack confirms a sample only once a saved state file holds it', async () => {
  const { c, dir } = await collector(['--ack-interval-ms', '100', '--save-interval-s', '2']);
  const r = await handshake(c, 'durable', TOKEN);
  assert.equal(r.type, 'welcome');
  r.client.send({ type: 'sample', seq: 1, ts: Date.now(), cpu_pct: 5 });
  const sentAt = Date.now();
  const acked = await waitFor('an ack of seq 1', () => r.client.messages.find((m) => m['type'] === 'ack' && m['seq'] === 1), 6000);
  assert.ok(acked);
  // Acks went on meanwhile (the link stays proven alive) but said 0 until the save.
  assert.ok(r.client.messages.some((m) => m['type'] === 'ack' && m['seq'] === 0), 'acks before the save confirm nothing');
  assert.ok(existsSync(join(dir, 'state.bin')), 'the save happened before the ack');
  assert.ok(Date.now() - sentAt < 6000);
  r.client.close();
});

test('per-host tokens from `npm run token`: bound to their host, cluster token refused for it, revocation ends the session', async () => {
  const { c, dir } = await collector(['--auth', 'cluster']);
  const made = await runTs('scripts/token.ts', ['add', 'web<1>', '--data-dir', dir]);
  assert.equal(made.code, 0, made.stderr);
  const token = /^\s+(\S{43})$/m.exec(made.stdout)![1]!;
  const listed = await runTs('scripts/token.ts', ['list', '--data-dir', dir]);
  assert.match(listed.stdout, /"web<1>"\tmade /);
  assert.ok(!listed.stdout.includes(token), 'list never shows a token');

  assert.equal((await handshake(c, 'web<1>', TOKEN)).code, ERROR_CODES.AUTH_FAILED, 'cluster token refused for a host with its own');
  assert.equal((await handshake(c, 'db', token)).code, ERROR_CODES.AUTH_FAILED, 'the token opens no other host');
  const ok = await handshake(c, 'web<1>', token);
  assert.equal(ok.type, 'welcome');

  const revoked = await runTs('scripts/token.ts', ['revoke', 'web<1>', '--data-dir', dir]);
  assert.equal(revoked.code, 0, revoked.stderr);
  const end = await ok.client.next('error', 5000);
  assert.equal(end['code'], ERROR_CODES.AUTH_REVOKED);
  assert.equal((await handshake(c, 'web<1>', token)).code, ERROR_CODES.AUTH_FAILED, 'the revoked token opens nothing');
  const bad = await runTs('scripts/token.ts', ['add', 'bad\u001bname', '--data-dir', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /NAME: contains a control/);
});

test('per-host mode: the cluster token opens nothing', async () => {
  const { c } = await collector(['--auth', 'per-host']);
  assert.equal((await handshake(c, 'anyone', TOKEN)).code, ERROR_CODES.AUTH_FAILED);
});

// A wrong token costs one scrypt whoever the host is, so its answer time tells no one without a
// working token whether a host is known. A good token is remembered once scrypt accepted it
// (collector/auth.ts): later hellos with it are answered sooner, which tells its holder nothing
// the welcome does not (a fleet reconnecting after a restart is admitted in seconds).
test('handshake time does not tell a known host from an unknown one; a good token is never slower', async () => {
  const { c, dir } = await collector(['--failed-handshakes-per-minute', '100000']);
  const made = await runTs('scripts/token.ts', ['add', 'timed', '--data-dir', dir]);
  const token = /^\s+(\S{43})$/m.exec(made.stdout)![1]!;
  const kinds: Array<[string, string, string]> = [
    ['good token', 'timed', token],
    ['wrong token', 'timed', token.replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A'))],
    ['unknown host', 'nobody-here', token],
  ];
  const times = new Map<string, number[]>(kinds.map(([k]) => [k, []]));
  for (let round = 0; round < 25; round++) {
    for (const [kind, host, tok] of kinds) {
      const t = performance.now();
      const r = await handshake(c, host, tok);
      times.get(kind)!.push(performance.now() - t);
      r.client.close();
      if (kind === 'good token') await waitFor('released', () => c.agents.connectionCount === 0);
    }
  }
  const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const m = Object.fromEntries([...times].map(([k, v]) => [k, median(v)]));
  console.log(`handshake medians (ms): ${JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v.toFixed(2))])))}`);
  const ratio = m['unknown host']! / m['wrong token']!;
  assert.ok(ratio > 0.5 && ratio < 2, `unknown host: median ${m['unknown host']!.toFixed(2)} ms vs wrong token ${m['wrong token']!.toFixed(2)} ms`);
  assert.ok(m['good token']! < 2 * m['wrong token']!, `good token: median ${m['good token']!.toFixed(2)} ms vs wrong token ${m['wrong token']!.toFixed(2)} ms`);
});

test('"hello, then hang up" floods are counted: the address is refused, nothing queues, a real agent is welcomed at once', async () => {
  const { c } = await collector();
  const from = '127.0.0.31';
  let refused = 0;
  for (let burst = 0; burst < 20; burst++) {
    await Promise.all(Array.from({ length: 25 }, async () => {
      const client = await RawClient.open(c.agentAddress.port, '127.0.0.1', from).catch(() => null);
      if (!client) return;
      client.send(hello(`drop-${burst}`, 'wrong-token'));
      client.close();
    }));
    await new Promise((r) => setImmediate(r));
  }
  await waitFor('the flooding address to be refused', async () => {
    const probe = await RawClient.open(c.agentAddress.port, '127.0.0.1', from);
    const reply = await waitFor('a reply', () => probe.messages[0] ?? (probe.closed ? { code: 'closed' } : null));
    probe.close();
    if (reply['code'] === ERROR_CODES.RATE_LIMITED) refused++;
    return reply['code'] === ERROR_CODES.RATE_LIMITED;
  }, 5000);
  const t0 = performance.now();
  const good = await handshake(c, 'real-agent', TOKEN, '127.0.0.32');
  const ms = performance.now() - t0;
  assert.equal(good.type, 'welcome');
  assert.ok(ms < 1500, `a real agent waited ${ms.toFixed(0)} ms behind the flood`);
  assert.ok(refused >= 1);
  good.client.close();
});

test('connections from one address that have not been welcomed are capped (--max-pending-per-address)', async () => {
  const { c } = await collector(['--max-pending-per-address', '4']);
  const silent = await Promise.all(Array.from({ length: 4 }, () => RawClient.open(c.agentAddress.port, '127.0.0.1', '127.0.0.41')));
  const fifth = await RawClient.open(c.agentAddress.port, '127.0.0.1', '127.0.0.41');
  const refusal = await fifth.next('error');
  assert.equal(refusal['code'], ERROR_CODES.TOO_MANY_CONNECTIONS);
  assert.match(String(refusal['message']), /handshakes in progress/);
  // Welcomed connections no longer count as pending.
  silent[0]!.send(hello('pending-0'));
  await silent[0]!.next('welcome');
  const again = await handshake(c, 'pending-next', TOKEN, '127.0.0.41');
  assert.equal(again.type, 'welcome');
  for (const s of [...silent, again.client]) s.close();
});

test('a revocation is acted on even when a hello re-read the token file first', async () => {
  const { c, dir } = await collector();
  const made = await runTs('scripts/token.ts', ['add', 'revoked-host', '--data-dir', dir]);
  const token = /^\s+(\S{43})$/m.exec(made.stdout)![1]!;
  const live = await handshake(c, 'revoked-host', token);
  assert.equal(live.type, 'welcome');
  const revoked = await runTs('scripts/token.ts', ['revoke', 'revoked-host', '--data-dir', dir]);
  assert.equal(revoked.code, 0);
  // Any hello makes the collector re-read the file before its timer does.
  (await handshake(c, 'someone', 'wrong', '127.0.0.51')).client.close();
  const end = await live.client.next('error', 5000);
  assert.equal(end['code'], ERROR_CODES.AUTH_REVOKED);
});

test('a token file that exists but cannot be read: the cluster token opens nothing (fail closed)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-failclosed-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'host_tokens.json'), '{"format":1,"tokens":[{"host":"web"'); // cut short
  const logs: string[] = [];
  const cfg = loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', TOKEN], {}).config;
  const c = await startCollector(cfg, createLogger('collector', 'info', (l) => logs.push(l)));
  running.push(c);
  assert.ok(logs.some((l) => l.includes('host tokens unreadable')), logs.join(''));
  assert.equal((await handshake(c, 'web', TOKEN)).code, ERROR_CODES.AUTH_FAILED);
  assert.equal((await handshake(c, 'any-other', TOKEN, '127.0.0.61')).code, ERROR_CODES.AUTH_FAILED);
  writeFileSync(join(dir, 'host_tokens.json'), '{"format":1,"tokens":[]}');
  assert.equal((await handshake(c, 'any-other', TOKEN, '127.0.0.62')).type, 'welcome', 'once readable, the cluster token works again');
});
