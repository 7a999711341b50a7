/**
 * Ingest workers (collector/ingest_pool.ts) in a real collector: bulk reads over real TCP decoded
 * and placed by real worker threads, frames they leave handled on the main thread in order,
 * errors as without workers, and a shutdown with a batch out.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startCollector, type RunningCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { loadConfig } from '../../shared/config.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { encodeFrame, type Message } from '../../shared/frame_codec.ts';
import { hostView } from '../../shared/host_view.ts';
import { createLogger } from '../../shared/log.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { RawClient, waitFor } from '../helpers/net.ts';

const TOKEN = 'test-cluster-token';
let dir: string;
let c: RunningCollector;

async function collector(d: string): Promise<RunningCollector> {
  const argv = ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', d, '--token', TOKEN, '--capacity', '10', '--ingest-workers', '2', '--save-interval-s', '0'];
  const running = await startCollector(loadConfig(COLLECTOR_SETTINGS, argv, {}).config, createLogger('test', 'error'));
  const pool = running.agents.options.ingest!;
  pool.start();
  await waitFor('ingest workers up', () => pool.ready, 20_000);
  return running;
}

async function agent(port: number, host: string): Promise<RawClient> {
  const a = await RawClient.open(port);
  a.send({ type: 'hello', proto: PROTO_VERSION, host, agent: 'test', token: TOKEN, interval_ms: 1000 });
  await a.next('welcome');
  return a;
}

/** Sample `seq`, `ageS` seconds old, with cpu_pct = seq and a filesystem table. */
function sample(seq: number, ageS: number): Message {
  return {
    type: 'sample', seq, ts: Date.now() - ageS * 1000, cpu_pct: seq % 100, mem_total_bytes: 100, mem_used_bytes: 50, mem_available_bytes: 50,
    power_w: 10, fs: [{ mount: `/m${seq}`, size_bytes: 100, used_bytes: seq, free_bytes: 100 - (seq % 100) }],
  };
}

function bytesOf(msgs: Message[]): Buffer {
  return Buffer.concat(msgs.map((m) => encodeFrame(m)));
}

function view(host: string): ReturnType<typeof hostView> | undefined {
  const slot = c.store.readAll().find((s) => s.strings[0] === host);
  return slot ? hostView(slot, Date.now()) : undefined;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sentinel-ingest-'));
  c = await collector(dir);
});

after(async () => {
  await c.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a bulk read lands through the workers; a facts frame among the samples, and what follows, on the main thread in order', async () => {
  const pool = c.agents.options.ingest!;
  const before = { ...pool.counts };
  const a = await agent(c.agentAddress.port, 'bulk-1');
  // 120 samples a second apart (a backlog), a facts message, 80 more: one write, so bulk reads.
  const msgs: Message[] = [];
  for (let i = 1; i <= 120; i++) msgs.push(sample(i, 300 - i));
  msgs.push({ type: 'facts', os: 'Bulkix 1', kernel: '6.1', arch: 'x64', cpu_model: 'test', cpu_cores: 4 });
  for (let i = 121; i <= 200; i++) msgs.push(sample(i, 300 - i));
  a.sendBytes(bytesOf(msgs));
  const v = await waitFor('all 200 samples', () => (view('bulk-1')?.samples_total === 200 ? view('bulk-1') : undefined));
  assert.equal(v.cpu_pct, 0); // 200 % 100: the last sample is the latest
  assert.equal(v.os, 'Bulkix 1');
  assert.ok(pool.counts.batches > before.batches, 'no batch went to a worker');
  assert.ok(pool.counts.frames - before.frames >= 100, `workers handled ${pool.counts.frames - before.frames} frames`);
  // Every sample in the history, each in its own second, in order.
  const slot = c.store.readAll().find((s) => s.strings[0] === 'bulk-1')!;
  const h = c.store.readHistory(slot.index, 0, Date.now() + 1000)!;
  assert.equal(h.t.length, 200);
  for (let k = 1; k < h.t.length; k++) assert.ok(h.t[k]! > h.t[k - 1]!);
  // The energy counters took every placed sample (10 W over ~199 s), as without workers.
  const e = c.energy.toJSON() as { hosts?: Record<string, unknown> };
  assert.ok(JSON.stringify(e).includes('bulk-1'), 'energy has no counters for the host');
  // A later single sample (one frame a read) goes through the main thread and still lands.
  a.send(sample(201, 0));
  await waitFor('sample 201', () => view('bulk-1')?.samples_total === 201);
  a.close();
});

test('a seq that does not rise in the middle of a bulk read: the samples before it land, the agent gets the same error as without workers, another agent is untouched', async () => {
  const pool = c.agents.options.ingest!;
  const before = pool.counts.frames;
  const bad = await agent(c.agentAddress.port, 'bulk-bad');
  const good = await agent(c.agentAddress.port, 'bulk-good');
  const msgs: Message[] = [];
  for (let i = 1; i <= 40; i++) msgs.push(sample(i, 100 - i));
  msgs.push(sample(5, 10)); // seq 5 again
  for (let i = 41; i <= 60; i++) msgs.push(sample(i, 100 - i));
  bad.sendBytes(bytesOf(msgs));
  good.sendBytes(bytesOf(Array.from({ length: 50 }, (_, k) => sample(k + 1, 60 - k))));
  const err = await bad.next('error');
  assert.equal(err['code'], ERROR_CODES.PROTO_BAD_FIELD);
  assert.match(String(err['message']), /seq: must increase/);
  assert.ok(await bad.waitClosed());
  assert.equal(view('bulk-bad')!.samples_total, 40);
  assert.ok(pool.counts.frames - before >= 40, `workers handled ${pool.counts.frames - before} frames`);
  await waitFor('the other agent\'s 50 samples', () => view('bulk-good')?.samples_total === 50);
  good.send(sample(51, 0));
  await waitFor('its next sample', () => view('bulk-good')?.samples_total === 51);
  good.close();
});

test('a defect in taking a worker\'s batch in (the alert watcher throws) ends only that session, never the collector', async () => {
  const pool = c.agents.options.ingest!;
  const hosts = c.agents.options.hosts;
  const watch = hosts.onLatest;
  hosts.onLatest = (host, s) => {
    if (host === 'bulk-cursed') throw new Error('watcher defect');
    watch?.(host, s);
  };
  try {
    const before = pool.counts.batches;
    const cursed = await agent(c.agentAddress.port, 'bulk-cursed');
    const fine = await agent(c.agentAddress.port, 'bulk-fine');
    cursed.sendBytes(bytesOf(Array.from({ length: 60 }, (_, k) => sample(k + 1, 90 - k))));
    const err = await cursed.next('error');
    assert.equal(err['code'], ERROR_CODES.PROTO_BAD_FIELD);
    assert.ok(await cursed.waitClosed());
    assert.ok(pool.counts.batches > before, 'the samples went to a worker');
    fine.sendBytes(bytesOf(Array.from({ length: 30 }, (_, k) => sample(k + 1, 40 - k))));
    await waitFor('the other agent\'s 30 samples', () => view('bulk-fine')?.samples_total === 30);
    assert.equal(fine.closed, false);
    fine.close();
  } finally {
    hosts.onLatest = watch;
  }
});

test('a malformed frame in a bulk read: refused with the codec\'s error code, the samples before it kept', async () => {
  const a = await agent(c.agentAddress.port, 'bulk-malformed');
  const good = bytesOf(Array.from({ length: 30 }, (_, k) => sample(k + 1, 40 - k)));
  const broken = Buffer.from([0, 0, 0, 3, 0x81, 0xa1, 0x61]); // a map whose value is missing
  a.sendBytes(Buffer.concat([good, broken, bytesOf([sample(31, 1)])]));
  const err = await a.next('error');
  assert.equal(err['code'], ERROR_CODES.FRAME_MALFORMED);
  assert.equal(view('bulk-malformed')!.samples_total, 30);
});

test('stopping the collector with batches out: it stops, the workers end, nothing hangs', async () => {
  const d = mkdtempSync(join(tmpdir(), 'sentinel-ingest-stop-'));
  try {
    const c2 = await collector(d);
    const pool = c2.agents.options.ingest!;
    const agents = await Promise.all([1, 2, 3].map((k) => agent(c2.agentAddress.port, `stop-${k}`)));
    for (const a of agents) a.sendBytes(bytesOf(Array.from({ length: 2000 }, (_, k) => sample(k + 1, 2100 - k))));
    await waitFor('a batch out', () => pool.pending > 0 || pool.counts.batches > 0);
    await c2.stop();
    assert.equal(pool.pending, 0);
    assert.equal(pool.ready, false);
    await assert.rejects(pool.run({ frames: new Uint8Array(0), slot: 0, clockOffsetMs: 0, newestMs: 0, samples: 0, lastSeq: 0, nowMs: 0, limits: { maxDepth: 8, maxStringBytes: 4096, maxArrayLength: 4096, maxMapSize: 256 } }), /closed/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
