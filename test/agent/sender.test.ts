/**
 * The agent's sender over loopback: against the real collector (connect, send, lose it,
 * reconnect), and against a fake one (test/helpers/fake_collector.ts) that can go away, hold
 * back its acks and stall its reads, for the buffering: nothing lost to a short outage.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { SampleBuffer } from '../../agent/sample_buffer.ts';
import { MAX_UNSENT_BYTES, Sender, type SenderOptions } from '../../agent/sender.ts';
import { startCollector, type RunningCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { loadConfig } from '../../shared/config.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { hostView } from '../../shared/host_view.ts';
import { createLogger } from '../../shared/log.ts';
import { FakeCollector } from '../helpers/fake_collector.ts';
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
    s.sendSample(Date.now(), { cpu_pct: 1 }, {});
    assert.equal(s.pendingSamples, 1, 'a sample before the welcome is kept');
    s.start();
    await waitFor('ready', () => s.state === 'ready');
    s.sendSample(Date.now(), { cpu_pct: 12 }, {});
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

// ---------- buffering, against a fake collector ----------

const T0 = 1_700_000_000_000;
/** Sample i's ts: one a second from T0, so that order and gaps are plain to see. */
const tsOf = (i: number): number => T0 + i * 1000;

function fakeSender(port: number, extra: Partial<SenderOptions> = {}, lines: string[] = []): Sender {
  return new Sender({
    host: '127.0.0.1', port,
    hello: { host: 'buffer-host', agent: 'test', token: TOKEN, interval_ms: 1000, kernel: 'k1' },
    log: createLogger('agent', 'info', (l) => lines.push(l)),
    backoff: { firstMs: 20, capMs: 100 },
    ...extra,
  });
}

async function withFake(fake: FakeCollector, s: Sender, body: () => Promise<void>): Promise<void> {
  try {
    await body();
    assert.deepEqual(fake.faults, [], 'every frame valid, seq 1, 2, 3 ... on each connection');
  } finally {
    await s.stop();
    await fake.close();
  }
}

test('samples taken while the collector is away arrive after it is back: in ts order, each once, seq from 1 on the new connection', async () => {
  const fake = await FakeCollector.start({ ackIntervalMs: 50 });
  const s = fakeSender(fake.port);
  await withFake(fake, s, async () => {
    s.start();
    await waitFor('ready', () => s.state === 'ready');
    for (let i = 0; i < 3; i++) s.sendSample(tsOf(i), { cpu_pct: i }, {});
    await waitFor('the first three acked', () => s.pendingSamples === 0);
    fake.setDown(true);
    await waitFor('link down', () => s.state !== 'ready');
    for (let i = 3; i < 8; i++) s.sendSample(tsOf(i), { cpu_pct: i }, {});
    assert.equal(s.pendingSamples, 5);
    fake.setDown(false);
    await waitFor('all eight', () => fake.samples.length >= 8);
    const second = fake.samples.filter((x) => x.conn === fake.connections.length - 1);
    assert.deepEqual(second.map((x) => x.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(second.map((x) => x.ts), [3, 4, 5, 6, 7].map(tsOf), 'the outage, oldest first, with their own ts');
    assert.deepEqual(fake.samples.map((x) => x.ts), [0, 1, 2, 3, 4, 5, 6, 7].map(tsOf), 'no gap, no repeat');
    s.sendSample(tsOf(8), { cpu_pct: 8 }, {});
    await waitFor('a new one after the backlog', () => fake.samples.length === 9);
    assert.equal(fake.samples[8]!.seq, 6);
  });
});

test('samples not acknowledged when the link drops are resent after the reconnect; acknowledged ones are not', async () => {
  const fake = await FakeCollector.start({ ackIntervalMs: 5000, autoAck: false });
  const s = fakeSender(fake.port);
  await withFake(fake, s, async () => {
    s.start();
    await waitFor('ready', () => s.state === 'ready');
    for (let i = 0; i < 10; i++) s.sendSample(tsOf(i), { cpu_pct: i }, {});
    await waitFor('ten written', () => fake.samples.length === 10);
    assert.equal(s.pendingSamples, 10, 'kept until acknowledged');
    fake.connections[0]!.ack(6);
    await waitFor('six released', () => s.pendingSamples === 4);
    fake.cutAll();
    await waitFor('four resent', () => fake.samples.length === 14);
    const resent = fake.samples.slice(10);
    assert.ok(resent.every((x) => x.conn === 1));
    assert.deepEqual(resent.map((x) => x.seq), [1, 2, 3, 4]);
    assert.deepEqual(resent.map((x) => x.ts), [6, 7, 8, 9].map(tsOf));
    // Every ts arrived; only the unacknowledged ones twice.
    const counts = new Map<number, number>();
    for (const x of fake.samples) counts.set(x.ts, (counts.get(x.ts) ?? 0) + 1);
    assert.deepEqual([...counts.values()], [1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
  });
});

test('the buffer is bounded by count: the oldest are dropped, counted in an event and logged once for the outage', async () => {
  const fake = await FakeCollector.start();
  fake.setDown(true);
  const lines: string[] = [];
  const s = fakeSender(fake.port, { bufferMaxSamples: 5 }, lines);
  const dropped: number[] = [];
  s.on('dropped', (n: number) => dropped.push(n));
  await withFake(fake, s, async () => {
    s.start();
    for (let i = 0; i < 8; i++) s.sendSample(tsOf(i), { cpu_pct: i }, {});
    assert.equal(s.pendingSamples, 5);
    assert.equal(s.droppedSamples, 3);
    assert.deepEqual(dropped, [1, 1, 1]);
    fake.setDown(false);
    await waitFor('the five kept', () => fake.samples.length === 5);
    assert.deepEqual(fake.samples.map((x) => x.ts), [3, 4, 5, 6, 7].map(tsOf), 'the newest five, oldest first');
    assert.deepEqual(fake.samples.map((x) => x.seq), [1, 2, 3, 4, 5]);
    const logged = lines.filter((l) => l.includes('samples dropped'));
    assert.equal(logged.length, 1, logged.join(''));
    assert.match(logged[0]!, /\b3 samples dropped\b.*at most 5 samples/);
  });
});

test('the buffer is bounded by bytes too, whichever bound is hit first', async () => {
  const fake = await FakeCollector.start();
  fake.setDown(true);
  const readings = { cpu_pct: 50, fs: [{ mount: '/'.padEnd(300, 'x'), type: 'ext4', size_bytes: 1e9 }] };
  const frameBytes = new SampleBuffer(1, 1e9).push(tsOf(0), { ts: tsOf(0), ...readings }).bytes;
  const s = fakeSender(fake.port, { bufferMaxSamples: 100, bufferMaxBytes: 3 * frameBytes + 10 });
  await withFake(fake, s, async () => {
    s.start();
    for (let i = 0; i < 6; i++) s.sendSample(tsOf(i), readings, {});
    assert.equal(s.pendingSamples, 3);
    assert.equal(s.droppedSamples, 3);
    fake.setDown(false);
    await waitFor('the three kept', () => fake.samples.length === 3);
    assert.deepEqual(fake.samples.map((x) => x.ts), [3, 4, 5].map(tsOf));
  });
});

test('a backlog of 5,000 samples (12 MB) is replayed as the socket drains: the unsent-bytes guard holds, the link stays up', async () => {
  // The collector stops reading for 300 ms at the first sample. Loopback's kernel buffers take ~4 MB
  // here; written at once, the rest of the backlog would pile up in the socket and trip the guard.
  const fake = await FakeCollector.start({ ackIntervalMs: 100, stallMs: 300 });
  fake.setDown(true);
  const s = fakeSender(fake.port, { bufferMaxSamples: 10_000, bufferMaxBytes: 32 * 1024 * 1024 });
  // Only drops after the welcome count: while the fake is down, each refused try ends in a 'down',
  // and the last of them may be delivered after the long synchronous loop below has finished.
  const downs: string[] = [];
  let welcomed = false;
  s.on('ready', () => { welcomed = true; });
  s.on('down', (r: string) => { if (welcomed) downs.push(r); });
  const N = 5000;
  const readings = { cpu_pct: 1, fs: Array.from({ length: 12 }, (_, k) => ({ mount: `/mnt/${k}/`.padEnd(120, 'm'), type: 'ext4', size_bytes: 1e12, used_bytes: 1e11, free_bytes: 9e11 })) };
  await withFake(fake, s, async () => {
    s.start();
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < N; i++) s.sendSample(tsOf(i), readings, {});
    const backlogBytes = N * new SampleBuffer(1, 1e9).push(tsOf(0), { ts: tsOf(0), ...readings }).bytes;
    assert.ok(backlogBytes > 8 * MAX_UNSENT_BYTES, `the backlog (${backlogBytes} bytes) is well over the guard`);
    assert.equal(welcomed, false, 'no welcome while the collector is down');
    fake.setDown(false);
    await waitFor('ready', () => s.state === 'ready');
    // New samples taken during the replay go after the backlog.
    s.sendSample(tsOf(N), readings, {});
    s.sendSample(tsOf(N + 1), readings, {});
    await waitFor(`${N + 2} samples`, () => fake.samples.length >= N + 2, 8000);
    const conn = fake.connections.length - 1;
    const took = fake.samples[N + 1]!.at - fake.connections[conn]!.welcomedAt;
    console.log(`replay: ${N} samples (${(backlogBytes / 1e6).toFixed(1)} MB) in ${took.toFixed(0)} ms on loopback, 300 ms of it stalled`);
    assert.deepEqual(downs, [], 'the link stayed up');
    assert.equal(fake.connections.length, 1, 'one welcomed connection');
    assert.ok(fake.samples.every((x, i) => x.conn === conn && x.seq === i + 1 && x.ts === tsOf(i)), 'one connection, in order, no gap');
    await waitFor('all acknowledged', () => s.pendingSamples === 0);
  });
});

test('facts: sendFacts on a live link sends a facts frame; while down, the next hello carries them; the hello carries its ts', async () => {
  const fake = await FakeCollector.start();
  const s = fakeSender(fake.port);
  await withFake(fake, s, async () => {
    const t0 = Date.now();
    s.start();
    await waitFor('ready', () => s.state === 'ready');
    const hello1 = fake.connections[0]!.hello!;
    assert.ok(typeof hello1['ts'] === 'number' && hello1['ts'] >= t0 && hello1['ts'] <= Date.now(), `hello ts ${String(hello1['ts'])}`);
    assert.equal(hello1['kernel'], 'k1');
    s.sendFacts({ kernel: 'k2', cpu_cores: 8 });
    await waitFor('facts frame', () => fake.framesOf('facts').length === 1);
    assert.deepEqual(fake.framesOf('facts')[0], { type: 'facts', kernel: 'k2', cpu_cores: 8 });

    fake.setDown(true);
    await waitFor('link down', () => s.state !== 'ready');
    s.sendFacts({ os: 'Debian GNU/Linux 13' });
    const t1 = Date.now();
    fake.setDown(false);
    await waitFor('ready again', () => s.state === 'ready' && fake.connections.length === 2);
    const hello2 = fake.connections[1]!.hello!;
    assert.equal(hello2['os'], 'Debian GNU/Linux 13');
    assert.equal(hello2['kernel'], 'k2');
    assert.equal(hello2['cpu_cores'], 8);
    assert.ok((hello2['ts'] as number) >= t1);
    s.sendSample(tsOf(0), { cpu_pct: 1 }, {});
    await waitFor('a sample on the new connection', () => fake.connections[1]!.frames.length > 0);
    assert.deepEqual(fake.connections[1]!.frames.map((m) => m['type']), ['sample'], 'no facts frame: the hello had them');
  });
});

test('against a collector that never acks (an older one), written samples are not kept', async () => {
  const fake = await FakeCollector.start({ ackIntervalMs: 0 });
  const s = fakeSender(fake.port);
  await withFake(fake, s, async () => {
    s.start();
    await waitFor('ready', () => s.state === 'ready');
    for (let i = 0; i < 3; i++) s.sendSample(tsOf(i), { cpu_pct: i }, {});
    assert.equal(s.pendingSamples, 0);
    await waitFor('three', () => fake.samples.length === 3);
  });
});

test('stop() drops what is held and ignores later samples', async () => {
  const fake = await FakeCollector.start();
  fake.setDown(true);
  const lines: string[] = [];
  const s = fakeSender(fake.port, {}, lines);
  s.start();
  for (let i = 0; i < 4; i++) s.sendSample(tsOf(i), { cpu_pct: i }, {});
  await s.stop();
  assert.equal(s.pendingSamples, 0);
  s.sendSample(tsOf(5), { cpu_pct: 5 }, {});
  assert.equal(s.pendingSamples, 0);
  assert.ok(lines.some((l) => /stopping: 4 samples waiting to be sent \(no link to the collector\) are lost/.test(l)), lines.join(''));
  assert.ok(!lines.some((l) => /sent since/.test(l)), 'none was written');
  await fake.close();
});

/** A sender linked to a fake collector that never acks by itself, with `n` samples written to it. */
async function withWritten(n: number): Promise<{ fake: FakeCollector; s: Sender; lines: string[] }> {
  const fake = await FakeCollector.start({ ackIntervalMs: 60_000, autoAck: false });
  const lines: string[] = [];
  const s = fakeSender(fake.port, {}, lines);
  s.start();
  await waitFor('ready', () => s.state === 'ready');
  for (let i = 0; i < n; i++) s.sendSample(tsOf(i), { cpu_pct: i }, {});
  await waitFor(`${n} written`, () => fake.samples.length === n);
  return { fake, s, lines };
}

const stopLines = (lines: string[]): string => lines.filter((l) => l.includes('stopping:')).join('');

test('stop() with samples written but not yet acknowledged says the collector has them', async () => {
  const { fake, s, lines } = await withWritten(5);
  fake.connections[0]!.ack(2);
  await waitFor('two released', () => s.pendingSamples === 3);
  await s.stop();
  const said = stopLines(lines);
  assert.match(said, /stopping: 3 samples sent since the collector's last acknowledgement are not kept for resending \(a collector that is up has them\)/, said);
  assert.doesNotMatch(said, /lost/, said);
  await fake.close();
});

test('stop() after the link was cut: the samples written on it wait to be sent again, and are said to be lost', async () => {
  const { fake, s, lines } = await withWritten(3);
  // Cut before any ack: the three written go back to waiting (the next connection would resend
  // them), with the one sampled while down.
  fake.setDown(true);
  fake.cutAll();
  await waitFor('link down', () => s.state !== 'ready');
  s.sendSample(tsOf(3), { cpu_pct: 3 }, {});
  await s.stop();
  const said = stopLines(lines);
  assert.match(said, /stopping: 4 samples waiting to be sent \(no link to the collector\) are lost/, said);
  assert.doesNotMatch(said, /sent since/, said);
  await fake.close();
});

test('a sample the collector refuses is not resent forever: the unacknowledged ones go, and the link carries on', async () => {
  const fake = await FakeCollector.start({ ackIntervalMs: 5000, autoAck: false, refuseTs: new Set([tsOf(2)]) });
  const lines: string[] = [];
  const s = fakeSender(fake.port, {}, lines);
  const refused: string[] = [];
  s.on('refused', (code: string) => refused.push(code));
  try {
    s.start();
    await waitFor('ready', () => s.state === 'ready');
    s.sendSample(tsOf(0), { cpu_pct: 0 }, {});
    s.sendSample(tsOf(1), { cpu_pct: 1 }, {});
    await waitFor('two', () => fake.samples.length === 2);
    fake.connections[0]!.ack(2);
    await waitFor('acked', () => s.pendingSamples === 0);
    s.sendSample(tsOf(2), { cpu_pct: 2 }, {});
    s.sendSample(tsOf(3), { cpu_pct: 3 }, {});
    await waitFor('refused', () => refused.length === 1);
    await waitFor('back', () => s.state === 'ready' && fake.connections.length === 2);
    s.sendSample(tsOf(4), { cpu_pct: 4 }, {});
    await waitFor('the next one', () => fake.samples.some((x) => x.ts === tsOf(4)));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(refused, [ERROR_CODES.PROTO_BAD_FIELD], 'refused once, not on every reconnect');
    assert.deepEqual(fake.samples.map((x) => [x.conn, x.seq, x.ts]), [[0, 1, tsOf(0)], [0, 2, tsOf(1)], [1, 1, tsOf(4)]]);
    assert.equal(s.droppedSamples, 2, 'the refused one and the one written after it');
    assert.ok(lines.some((l) => /refused a sample \(SENTINEL_PROTO_BAD_FIELD\): the 2 unacknowledged/.test(l)));
  } finally {
    await s.stop();
    await fake.close();
  }
});
