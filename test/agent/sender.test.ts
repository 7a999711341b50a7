/** The agent's sender against the real collector over loopback: connect, send, lose it, reconnect. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { Sender } from '../../agent/sender.ts';
import { startCollector, type RunningCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { loadConfig } from '../../shared/config.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { hostView } from '../../shared/host_view.ts';
import { createLogger } from '../../shared/log.ts';
import { waitFor } from '../helpers/net.ts';

const TOKEN = 'sender-test-token';
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function collectorOn(port: number, extra: string[] = []): Promise<RunningCollector> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-sender-'));
  dirs.push(dir);
  const cfg = loadConfig(COLLECTOR_SETTINGS, ['--listen', `127.0.0.1:${port}`, '--http', '127.0.0.1:0', '--data-dir', dir, '--token', TOKEN, ...extra], {}).config;
  return startCollector(cfg, createLogger('collector', 'error'));
}

function sender(port: number, token = TOKEN, lines: string[] = []): Sender {
  return new Sender({
    host: '127.0.0.1', port,
    hello: { host: 'sender-host', agent: 'test', token, interval_ms: 1000 },
    log: createLogger('agent', 'info', (l) => lines.push(l)),
    backoff: { firstMs: 50, capMs: 200 },
  });
}

function cpuOf(c: RunningCollector): number | null | undefined {
  return c.store.readAll().map((s) => hostView(s, Date.now())).find((h) => h.name === 'sender-host')?.cpu_pct;
}

test('sends samples after the welcome; reconnects by itself when the collector restarts; logs once per state change', async () => {
  let c = await collectorOn(0);
  const port = c.agentAddress.port;
  const lines: string[] = [];
  const s = sender(port, TOKEN, lines);
  try {
    assert.equal(s.sendSample(Date.now(), { cpu_pct: 1 }, {}), false, 'nothing is sent before the welcome');
    s.start();
    await waitFor('ready', () => s.state === 'ready');
    assert.equal(s.sendSample(Date.now(), { cpu_pct: 12 }, {}), true);
    await waitFor('sample landed', () => cpuOf(c) === 12);

    await c.stop();
    await waitFor('link down', () => s.state !== 'ready');
    // Let it retry several times against a closed port (50-200 ms apart).
    await new Promise((r) => setTimeout(r, 1200));
    const downLines = lines.filter((l) => l.includes('link down'));
    assert.ok(downLines.length >= 1 && downLines.length <= 3, `logged once per change, not once per try:\n${downLines.join('')}`);

    c = await collectorOn(port);
    await waitFor('reconnected', () => s.state === 'ready', 5000);
    s.sendSample(Date.now(), { cpu_pct: 34 }, { load_1m: 'test reason' });
    await waitFor('sample after reconnect', () => cpuOf(c) === 34);
    const note = c.store.readAll().map((x) => hostView(x, Date.now()))[0]!.note;
    assert.equal(note, 'load_1m: test reason');
    assert.equal(lines.filter((l) => l.includes('connected to the collector')).length, 2);
  } finally {
    await s.stop();
    await c.stop();
  }
});

test('a refused token is reported with its code and retried at the capped delay', async () => {
  const c = await collectorOn(0);
  const s = sender(c.agentAddress.port, 'not-the-token');
  const codes: string[] = [];
  s.on('refused', (code: string) => codes.push(code));
  try {
    s.start();
    await waitFor('refusal', () => codes.length > 0);
    assert.equal(codes[0], ERROR_CODES.AUTH_FAILED);
    assert.notEqual(s.state, 'ready');
  } finally {
    await s.stop();
    await c.stop();
  }
});

test('stop() closes the link and stops retrying', async () => {
  const c = await collectorOn(0);
  const s = sender(c.agentAddress.port);
  s.start();
  await waitFor('ready', () => s.state === 'ready');
  await s.stop();
  assert.equal(s.state, 'stopped');
  await waitFor('host offline', () => c.store.readAll().map((x) => hostView(x, Date.now()))[0]!.status === 'offline');
  await c.stop();
});

test('two agents with one name do not knock each other off: the second waits at the capped delay', async () => {
  const c = await collectorOn(0);
  const first = sender(c.agentAddress.port);
  const second = sender(c.agentAddress.port);
  const refused: string[] = [];
  let firstDowns = 0;
  first.on('down', () => firstDowns++);
  second.on('refused', (code: string) => refused.push(code));
  try {
    first.start();
    await waitFor('first ready', () => first.state === 'ready');
    second.start();
    await waitFor('second refused', () => refused.length > 0);
    assert.equal(refused[0], ERROR_CODES.HOST_IN_USE);
    // The capped delay here is 200 ms; over a second the first connection must stay up.
    const t0 = Date.now();
    while (Date.now() - t0 < 1000) {
      first.sendSample(Date.now(), { cpu_pct: 5 }, {});
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(firstDowns, 0, 'the first agent was never knocked off');
    assert.equal(first.state, 'ready');
    assert.notEqual(second.state, 'ready');
  } finally {
    await first.stop();
    await second.stop();
    await c.stop();
  }
});

/**
 * A TCP relay that can go silent: it keeps both sockets open but stops passing bytes, as a
 * collector machine that lost power looks from the agent (no FIN, no RST).
 */
function blackholeRelay(targetPort: number): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect({ port: targetPort, host: '127.0.0.1' });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
    }
    inbound.on('data', (d) => { if (!frozen) outbound.write(d); });
    outbound.on('data', (d) => { if (!frozen) inbound.write(d); });
    inbound.on('close', () => { if (!frozen) outbound.destroy(); });
    outbound.on('close', () => { if (!frozen) inbound.destroy(); });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as { port: number }).port,
    freeze: () => { frozen = true; },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  })));
}

test('a collector that vanishes without a FIN is noticed within a few ack intervals, and the agent reconnects', async () => {
  const c = await collectorOn(0, ['--ack-interval-ms', '200']);
  const relay = await blackholeRelay(c.agentAddress.port);
  const s = sender(relay.port);
  const downs: string[] = [];
  s.on('down', (r: string) => downs.push(r));
  try {
    s.start();
    await waitFor('ready through the relay', () => s.state === 'ready');
    relay.freeze();
    const t0 = performance.now();
    const sending = setInterval(() => s.sendSample(Date.now(), { cpu_pct: 1 }, {}), 100);
    try {
      await waitFor('the agent to notice', () => downs.find((d) => d.startsWith('nothing from the collector')), 10_000);
    } finally {
      clearInterval(sending);
    }
    const ms = performance.now() - t0;
    // 3 acks of 200 ms + 2 s of slack, checked every quarter of that.
    assert.ok(ms < 4000, `noticed after ${ms.toFixed(0)} ms`);
    await waitFor('retrying', () => s.state === 'connecting' || s.state === 'waiting');
  } finally {
    await s.stop();
    await relay.close();
    await c.stop();
  }
});
