/**
 * The collector's agent port, in-process, over real TCP on loopback: handshake, validation,
 * isolation of a broken agent, capacity, takeover of a host by a newer connection, shutdown.
 */
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startCollector, type RunningCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS, type CollectorConfig } from '../../collector/settings.ts';
import { loadConfig } from '../../shared/config.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { hostView } from '../../shared/host_view.ts';
import { createLogger } from '../../shared/log.ts';
import { encodeFrame } from '../../shared/frame_codec.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { STR } from '../../shared/shm_layout.ts';
import { RawClient, waitFor } from '../helpers/net.ts';

const TOKEN = 'test-cluster-token';
let dir: string;
let c: RunningCollector;

function config(extra: string[] = []): CollectorConfig {
  return loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', TOKEN, '--capacity', '10', '--hello-timeout-ms', '300', '--failed-handshakes-per-minute', '100000', ...extra], {}).config;
}

function hello(host: string, token = TOKEN): Record<string, unknown> {
  return { type: 'hello', proto: PROTO_VERSION, host, agent: 'test', token, interval_ms: 1000 };
}

function sample(seq: number, cpu = 10): Record<string, unknown> {
  return { type: 'sample', seq, ts: Date.now(), cpu_pct: cpu, mem_total_bytes: 100, mem_used_bytes: 50, mem_available_bytes: 50 };
}

function hostsNow(): ReturnType<typeof hostView>[] {
  return c.store.readAll().map((s) => hostView(s, Date.now()));
}

async function agent(host: string): Promise<RawClient> {
  const a = await RawClient.open(c.agentAddress.port);
  a.send(hello(host));
  await a.next('welcome');
  return a;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sentinel-server-'));
  c = await startCollector(config(), createLogger('test', 'error'));
});

after(async () => {
  await c.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('hello -> welcome, samples land in shared memory, seq and readings visible', async () => {
  const a = await agent('good-1');
  const welcome = a.messages.find((m) => m['type'] === 'welcome')!;
  assert.equal(welcome['proto'], PROTO_VERSION);
  assert.equal(welcome['host'], 'good-1');
  a.send(sample(1, 11));
  a.send(sample(2, 22));
  const h = await waitFor('good-1 sample 2', () => hostsNow().find((x) => x.name === 'good-1' && x.sample_seq === 2));
  assert.equal(h.cpu_pct, 22);
  assert.equal(h.status, 'online');
  assert.equal(h.mem_used_bytes, 50);
  a.close();
  await waitFor('good-1 offline', () => hostsNow().find((x) => x.name === 'good-1' && x.status === 'offline'));
});

const REFUSALS: Array<{ name: string; frames: (raw: RawClient) => void; code: string }> = [
  { name: 'wrong token', frames: (r) => r.send(hello('x', 'wrong')), code: ERROR_CODES.AUTH_FAILED },
  { name: 'sample before hello', frames: (r) => r.send(sample(1)), code: ERROR_CODES.PROTO_UNEXPECTED },
  { name: 'old protocol version', frames: (r) => r.send({ ...hello('x'), proto: 0 }), code: ERROR_CODES.PROTO_VERSION },
  { name: 'frame of length 0', frames: (r) => r.sendBytes(Buffer.alloc(4)), code: ERROR_CODES.FRAME_EMPTY },
  { name: 'hello larger than 4 KiB', frames: (r) => r.sendBytes(Buffer.from('00002000', 'hex')), code: ERROR_CODES.FRAME_TOO_LARGE },
  { name: 'not msgpack at all', frames: (r) => r.sendBytes(Buffer.from('\x7fELF\x02\x01\x01')), code: ERROR_CODES.FRAME_TOO_LARGE },
  { name: 'silence: no hello in time', frames: () => {}, code: ERROR_CODES.HELLO_TIMEOUT },
];

for (const r of REFUSALS) {
  test(`refused before the welcome: ${r.name} -> ${r.code}, connection closed`, async () => {
    const raw = await RawClient.open(c.agentAddress.port);
    r.frames(raw);
    const err = await raw.next('error');
    assert.equal(err['code'], r.code);
    assert.equal(typeof err['message'], 'string');
    assert.equal(await raw.waitClosed(), true);
  });
}

test('a browser on the agents\' port gets an HTTP 400 saying what the port is, and where the dashboard is', async () => {
  const res = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port: c.agentAddress.port, path: '/', headers: { accept: 'text/html' } }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => { body += d; });
      r.on('end', () => resolve({ status: r.statusCode ?? 0, type: String(r.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
  });
  assert.equal(res.status, 400);
  assert.equal(res.type, 'text/plain; charset=utf-8');
  assert.match(res.body, /agent port.*not HTTP/);
  assert.match(res.body, /dashboard has its own port.*--http/);
  // The collector goes on taking agents.
  const a = await agent('after-browser');
  a.close();
});

test('a TLS client on the plain agents\' port: the error names a TLS handshake and the flags that fix it', async () => {
  // The bytes a real TLS client opens with, caught by a plain TCP listener.
  const clientHello = await new Promise<Buffer>((resolve, reject) => {
    const sink = createServer((s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); sink.close(); }));
    sink.listen(0, '127.0.0.1', () => {
      const t = tlsConnect({ host: '127.0.0.1', port: (sink.address() as AddressInfo).port, servername: 'collector.test' });
      t.on('error', () => undefined);
    });
    sink.on('error', reject);
  });
  const raw = await RawClient.open(c.agentAddress.port);
  raw.sendBytes(clientHello);
  const err = await raw.next('error');
  assert.equal(err['code'], ERROR_CODES.FRAME_TOO_LARGE);
  assert.match(String(err['message']), /TLS handshake.*--tls-cert and --tls-key/);
  assert.equal(await raw.waitClosed(), true);
});

const BAD_AFTER_WELCOME: Array<{ name: string; msg: Record<string, unknown>; code: string }> = [
  { name: 'cpu 150 %', msg: { ...sample(1), cpu_pct: 150 }, code: ERROR_CODES.PROTO_BAD_FIELD },
  { name: 'negative bytes', msg: { ...sample(1), mem_total_bytes: -1 }, code: ERROR_CODES.PROTO_BAD_FIELD },
  { name: 'NaN load', msg: { ...sample(1), load_1m: Number.NaN }, code: ERROR_CODES.PROTO_BAD_FIELD },
  { name: 'missing ts', msg: { type: 'sample', seq: 1 }, code: ERROR_CODES.PROTO_BAD_FIELD },
  { name: 'unknown type', msg: { type: 'exec', cmd: 'rm -rf /' }, code: ERROR_CODES.PROTO_UNKNOWN_TYPE },
  { name: 'second hello', msg: hello('bad'), code: ERROR_CODES.PROTO_UNEXPECTED },
];

for (const b of BAD_AFTER_WELCOME) {
  test(`a bad frame from one agent closes only that agent: ${b.name} -> ${b.code}`, async () => {
    const good = await agent('steady');
    const bad = await agent('broken');
    good.send(sample(1, 5));
    bad.send(b.msg);
    const err = await bad.next('error');
    assert.equal(err['code'], b.code);
    await bad.waitClosed();
    // The good agent carries on: its next sample lands and its connection stays open.
    good.send(sample(2, 6));
    const h = await waitFor('steady sample 2', () => hostsNow().find((x) => x.name === 'steady' && x.sample_seq === 2));
    assert.equal(h.cpu_pct, 6);
    assert.equal(good.closed, false);
    assert.equal(hostsNow().find((x) => x.name === 'broken')!.status, 'offline');
    good.close();
  });
}

test('a backlog arriving many samples to a read: every one counted and in the history, the slot written about once a read', async () => {
  const a = await agent('backlog');
  const slot = c.store.readAll().find((s) => s.strings[STR.HOST] === 'backlog')!.index;
  const lockBefore = c.store.readSlot(slot)!.lockSeq;
  const N = 60;
  const t0 = Date.now() - N * 1000;
  // One write of 60 frames (~6 KB): on loopback it arrives in one read, or a few.
  a.sendBytes(Buffer.concat(Array.from({ length: N }, (_, i) => encodeFrame({ ...sample(i + 1, i), ts: t0 + i * 1000 }))));
  const h = await waitFor('backlog sample 60', () => hostsNow().find((x) => x.name === 'backlog' && x.sample_seq === N));
  assert.equal(h.cpu_pct, N - 1);
  assert.equal(h.samples_total, N);
  const history = c.store.readHistory(slot, t0 - 1, t0 + N * 1000)!;
  assert.equal(history.t.length, N, 'one history point per sample');
  const writes = (c.store.readSlot(slot)!.lockSeq - lockBefore) / 2;
  assert.ok(writes >= 1 && writes < N / 4, `${writes} slot writes for ${N} samples`);
  a.close();
});

test('a replayed seq is refused and does not overwrite the newer reading', async () => {
  const a = await agent('replay');
  a.send(sample(5, 50));
  await waitFor('seq 5', () => hostsNow().find((x) => x.name === 'replay' && x.sample_seq === 5));
  a.send(sample(4, 40));
  assert.equal((await a.next('error'))['code'], ERROR_CODES.PROTO_BAD_FIELD);
  assert.equal(hostsNow().find((x) => x.name === 'replay')!.cpu_pct, 50);
});

test('a second live connection for the same host is refused (HOST_IN_USE); the first carries on', async () => {
  const first = await agent('twin');
  first.send(sample(1, 11));
  const second = await RawClient.open(c.agentAddress.port);
  second.send(hello('twin'));
  assert.equal((await second.next('error'))['code'], ERROR_CODES.HOST_IN_USE);
  await second.waitClosed();
  first.send(sample(2, 22));
  await waitFor('twin still fed by the first connection', () => hostsNow().find((x) => x.name === 'twin' && x.cpu_pct === 22));
  assert.equal(first.closed, false);
  first.close();
});

test('once the owner has gone quiet (no FIN), a newer connection takes the host over; the slot is kept', async () => {
  // interval 100 ms: the owner counts as gone after 3 intervals without a sample.
  const quiet = await RawClient.open(c.agentAddress.port);
  quiet.send({ ...hello('quiet'), interval_ms: 100 });
  await quiet.next('welcome');
  const slot = hostsNow().find((x) => x.name === 'quiet')!.slot;
  await new Promise((r) => setTimeout(r, 450));
  const fresh = await agent('quiet');
  assert.equal((await quiet.next('error'))['code'], ERROR_CODES.HOST_REPLACED);
  await quiet.waitClosed();
  fresh.send(sample(1, 33));
  const h = await waitFor('quiet from the new connection', () => hostsNow().find((x) => x.name === 'quiet' && x.cpu_pct === 33));
  assert.equal(h.slot, slot);
  assert.equal(h.status, 'online', 'the old connection closing did not mark the host offline');
  fresh.close();
});

test('a host that reconnects keeps its slot', async () => {
  const a = await agent('comeback');
  const slot = hostsNow().find((x) => x.name === 'comeback')!.slot;
  a.close();
  await waitFor('comeback offline', () => hostsNow().find((x) => x.name === 'comeback' && x.status === 'offline'));
  const b = await agent('comeback');
  b.send(sample(1));
  await waitFor('comeback online', () => hostsNow().find((x) => x.name === 'comeback' && x.status === 'online'));
  assert.equal(hostsNow().find((x) => x.name === 'comeback')!.slot, slot);
  b.close();
});

test('when capacity is full a new host gets CAPACITY_FULL and existing hosts keep their slots', async () => {
  // Earlier tests used some of the slots; fill the rest.
  const before = hostsNow();
  const fillers: RawClient[] = [];
  for (let i = before.length; i < c.store.capacity; i++) fillers.push(await agent(`filler-${i}`));
  const extra = await RawClient.open(c.agentAddress.port);
  extra.send(hello('one-too-many'));
  assert.equal((await extra.next('error'))['code'], ERROR_CODES.CAPACITY_FULL);
  const after = hostsNow();
  assert.equal(after.length, c.store.capacity);
  for (const h of before) assert.equal(after.find((x) => x.name === h.name)!.slot, h.slot);
  // A known host still gets back in.
  const known = await agent(before[0]!.name);
  known.close();
  for (const f of fillers) f.close();
});

test('connections beyond --max-connections are told TOO_MANY_CONNECTIONS and closed', async () => {
  const local = mkdtempSync(join(tmpdir(), 'sentinel-cap-'));
  const c2 = await startCollector(loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', local, '--token', TOKEN, '--max-connections', '2'], {}).config, createLogger('test', 'error'));
  try {
    const held = [await RawClient.open(c2.agentAddress.port), await RawClient.open(c2.agentAddress.port)];
    await waitFor('two sessions', () => c2.agents.connectionCount === 2);
    const third = await RawClient.open(c2.agentAddress.port);
    assert.equal((await third.next('error'))['code'], ERROR_CODES.TOO_MANY_CONNECTIONS);
    await third.waitClosed();
    held[0]!.send(hello('under-cap'));
    assert.equal((await held[0]!.next('welcome'))['host'], 'under-cap');
    for (const h of held) h.close();
  } finally {
    await c2.stop();
    rmSync(local, { recursive: true, force: true });
  }
});

test('an agent with a long interval is not closed as idle between its samples', async () => {
  // idle timeout 1 s, interval 1 s: the session's own timeout becomes 3 x 1 s + slack.
  const local = mkdtempSync(join(tmpdir(), 'sentinel-idle-'));
  const c2 = await startCollector(loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', local, '--token', TOKEN, '--idle-timeout-ms', '1000'], {}).config, createLogger('test', 'error'));
  try {
    const a = await RawClient.open(c2.agentAddress.port);
    a.send(hello('slow'));
    await a.next('welcome');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(a.closed, false, 'still connected after more than --idle-timeout-ms of silence');
    a.close();
  } finally {
    await c2.stop();
    rmSync(local, { recursive: true, force: true });
  }
});

test('stop tells connected agents SHUTDOWN and closes them', async () => {
  const local = mkdtempSync(join(tmpdir(), 'sentinel-stop-'));
  const c2 = await startCollector(loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', local, '--token', TOKEN], {}).config, createLogger('test', 'error'));
  const a = await RawClient.open(c2.agentAddress.port);
  a.send(hello('leaving'));
  await a.next('welcome');
  await c2.stop();
  assert.equal((await a.next('error'))['code'], ERROR_CODES.SHUTDOWN);
  assert.equal(await a.waitClosed(), true);
  rmSync(local, { recursive: true, force: true });
});
