/**
 * TLS on the agent port and HTTPS on the dashboard, with a private CA made by
 * scripts/make_tls_certs.sh (real openssl). The agent always verifies the collector.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { Sender, type SenderTls } from '../../agent/sender.ts';
import { startCollector, type RunningCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { loadConfig } from '../../shared/config.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { encodeFrame, FrameDecoder, type Message } from '../../shared/frame_codec.ts';
import { hostView } from '../../shared/host_view.ts';
import { createLogger } from '../../shared/log.ts';
import { httpRequest } from '../helpers/http_client.ts';
import { RawClient, waitFor } from '../helpers/net.ts';
import { makeCerts, type TestCerts } from '../helpers/tls_certs.ts';

const TOKEN = 'tls-test-token';
let certs: TestCerts;
let other: TestCerts;
let dir: string;
let c: RunningCollector;
const senders: Sender[] = [];

before(async () => {
  certs = makeCerts();
  other = makeCerts(); // a second, unrelated CA
  dir = mkdtempSync(join(tmpdir(), 'sentinel-tls-collector-'));
  const cfg = loadConfig(COLLECTOR_SETTINGS, [
    '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', TOKEN, '--failed-handshakes-per-minute', '1000',
    '--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--https-cert', certs.certFile, '--https-key', certs.keyFile, '--hello-timeout-ms', '1000',
  ], {}).config;
  c = await startCollector(cfg, createLogger('collector', 'error'));
});

after(async () => {
  await Promise.all(senders.map((s) => s.stop()));
  await c.stop();
  for (const d of [dir, certs.dir, other.dir]) rmSync(d, { recursive: true, force: true });
});

function sender(name: string, tls: SenderTls, host = '127.0.0.1'): { s: Sender; downs: string[] } {
  const downs: string[] = [];
  const s = new Sender({ host, port: c.agentAddress.port, hello: { host: name, agent: 'test', token: TOKEN, interval_ms: 1000 }, log: createLogger('agent', 'error'), tls, backoff: { firstMs: 50, capMs: 200 } });
  s.on('down', (reason: string) => downs.push(reason));
  senders.push(s);
  s.start();
  return { s, downs };
}

test('an agent with the private CA connects over TLS and its samples land', async () => {
  const { s } = sender('tls-good', { ca: certs.ca });
  await waitFor('welcome over TLS', () => s.state === 'ready');
  s.sendSample(Date.now(), { cpu_pct: 42 }, {});
  await waitFor('sample landed', () => c.store.readAll().map((x) => hostView(x, Date.now())).find((h) => h.name === 'tls-good')?.cpu_pct === 42);
  const byName = sender('tls-by-name', { ca: certs.ca }, 'localhost');
  await waitFor('welcome when connecting by DNS name', () => byName.s.state === 'ready');
});

test('the agent refuses a collector it cannot verify: system CAs only, another CA, or the wrong name', async () => {
  const cases: Array<[string, SenderTls]> = [
    ['system CAs', {}],
    ['another CA', { ca: other.ca }],
    ['wrong name', { ca: certs.ca, servername: 'not-the-collector.example' }],
  ];
  for (const [what, tls] of cases) {
    const { s, downs } = sender(`tls-bad-${what}`, tls);
    await waitFor(`${what}: a TLS failure`, () => downs.find((d) => d.startsWith('TLS:')));
    assert.notEqual(s.state, 'ready', what);
    await s.stop();
  }
  const seen = c.store.readAll().map((x) => hostView(x, Date.now())).filter((h) => h.name.startsWith('tls-bad'));
  assert.deepEqual(seen, [], 'no unverified agent got a slot');
});

test('plain TCP to the TLS port gets no welcome and is closed', async () => {
  const raw = await RawClient.open(c.agentAddress.port);
  raw.send({ type: 'hello', proto: 1, host: 'plain', agent: 'x', token: TOKEN });
  await raw.waitClosed(5000);
  assert.equal(raw.messages.find((m) => m['type'] === 'welcome'), undefined);
});

test('the dashboard serves HTTPS verified by the private CA; plain HTTP gets no page', async () => {
  const url = `https://localhost:${c.httpAddress.port}/api/hosts`;
  const res = await httpRequest(url, { ca: certs.ca });
  assert.equal(res.status, 200);
  assert.ok(JSON.parse(res.body).hosts.some((h: { name: string }) => h.name === 'tls-good'));
  assert.match(c.url, /^https:/);
  await assert.rejects(httpRequest(url), /self-signed|unable to verify|certificate/i, 'without the CA the client refuses');
  const plain = await httpRequest(`http://127.0.0.1:${c.httpAddress.port}/api/hosts`).catch((e: Error) => e);
  assert.ok(plain instanceof Error || plain.status >= 400, 'plain HTTP is not served');
});

test('the hello deadline runs from the TCP accept: time spent before and in TLS counts', async () => {
  // 700 ms of silence before the TLS handshake, 500 ms after it: 1.2 s > --hello-timeout-ms 1000.
  const raw = connect({ port: c.agentAddress.port, host: '127.0.0.1' });
  raw.on('error', () => {});
  await new Promise((r) => setTimeout(r, 700));
  const secure = tlsConnect({ socket: raw, ca: certs.ca, servername: 'localhost' });
  secure.on('error', () => {});
  const closed = new Promise<void>((resolve) => secure.once('close', () => resolve()));
  const decoder = new FrameDecoder();
  const replies: Message[] = [];
  secure.on('data', (chunk: Buffer) => replies.push(...decoder.push(chunk).messages));
  await new Promise<void>((resolve) => secure.once('secureConnect', () => resolve()));
  await new Promise((r) => setTimeout(r, 500));
  if (!secure.destroyed) secure.write(encodeFrame({ type: 'hello', proto: 1, host: 'late-over-tls', agent: 'test', token: TOKEN }));
  await closed;
  assert.equal(replies.find((m) => m['type'] === 'welcome'), undefined);
  assert.equal(replies.find((m) => m['type'] === 'error')?.['code'], ERROR_CODES.HELLO_TIMEOUT);
});

test('stopping a TLS collector with a handshake in progress finishes promptly', async () => {
  const d = mkdtempSync(join(tmpdir(), 'sentinel-tls-stop-'));
  const cfg = loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', d, '--token', TOKEN, '--tls-cert', certs.certFile, '--tls-key', certs.keyFile], {}).config;
  const other = await startCollector(cfg, createLogger('collector', 'error'));
  const raw = connect({ port: other.agentAddress.port, host: '127.0.0.1' }); // connects, never starts TLS
  raw.on('error', () => {});
  await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
  await waitFor('the connection to be counted', () => other.agents.connectionCount === 1);
  const t0 = performance.now();
  await other.stop();
  const ms = performance.now() - t0;
  raw.destroy();
  rmSync(d, { recursive: true, force: true });
  assert.ok(ms < 3000, `stop took ${ms.toFixed(0)} ms`);
});
