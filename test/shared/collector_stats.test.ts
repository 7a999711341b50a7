import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { CollectorStats, PEER_CLOSED, STATS_CODES, WEBHOOK_RESULTS, type CollectorStatsSnapshot } from '../../shared/collector_stats.ts';
import { ERROR_CODES, ShmError } from '../../shared/errors.ts';
import * as layout from '../../shared/shm_layout.ts';
import { ShmStore } from '../../shared/shm_store.ts';

const NOW_MS = 1_700_000_000_000;
const C = ERROR_CODES;

test('collector_stats: layout constants are named, 8-aligned, disjoint and fill STATS_BYTES', () => {
  const fields: Array<[string, number, number]> = [
    ['MAGIC', layout.STATS_OFF_MAGIC, 8], ['LAYOUT_VERSION', layout.STATS_OFF_LAYOUT_VERSION, 8], ['STARTED_AT_MS', layout.STATS_OFF_STARTED_AT_MS, 8],
    ['CONNECTED_AGENTS', layout.STATS_OFF_CONNECTED_AGENTS, 8], ['CONNECTIONS_ACCEPTED', layout.STATS_OFF_CONNECTIONS_ACCEPTED, 8],
    ['FRAMES_RECEIVED', layout.STATS_OFF_FRAMES_RECEIVED, 8], ['SESSIONS_CLOSED_BY_PEER', layout.STATS_OFF_SESSIONS_CLOSED_BY_PEER, 8],
    ['ALERTS_FIRING', layout.STATS_OFF_ALERTS_FIRING, 8], ['WEBHOOK_DELIVERED', layout.STATS_OFF_WEBHOOK_DELIVERED, 8],
    ['WEBHOOK_FAILED', layout.STATS_OFF_WEBHOOK_FAILED, 8], ['WEBHOOK_DROPPED', layout.STATS_OFF_WEBHOOK_DROPPED, 8],
    ['FRAMES_REJECTED', layout.STATS_OFF_FRAMES_REJECTED, layout.STATS_CODE_SLOTS * 8],
    ['SESSIONS_ENDED', layout.STATS_OFF_SESSIONS_ENDED, layout.STATS_CODE_SLOTS * 8],
    ['CONNECTIONS_REFUSED', layout.STATS_OFF_CONNECTIONS_REFUSED, layout.STATS_CODE_SLOTS * 8],
  ];
  const sorted = [...fields].sort((a, b) => a[1] - b[1]);
  for (const [name, off] of fields) assert.equal(off % 8, 0, `${name} is 8-aligned`);
  for (let i = 1; i < sorted.length; i++) {
    const [prevName, prevOff, prevLen] = sorted[i - 1]!;
    assert.ok(prevOff + prevLen <= sorted[i]![1], `${prevName} ends before ${sorted[i]![0]} starts`);
  }
  const [, lastOff, lastLen] = sorted[sorted.length - 1]!;
  assert.equal(layout.STATS_BYTES, lastOff + lastLen);
});

test('collector_stats: every error code has a counter slot, in the order of errors.ts, with room to grow', () => {
  assert.deepEqual(STATS_CODES, Object.values(ERROR_CODES));
  assert.ok(STATS_CODES.length < layout.STATS_CODE_SLOTS, `${STATS_CODES.length} codes, ${layout.STATS_CODE_SLOTS} slots`);
});

test('collector_stats: a new buffer reads all zeros but its start time; every code and result present', () => {
  const s = CollectorStats.create(NOW_MS).snapshot();
  assert.equal(s.started_at_ms, NOW_MS);
  assert.deepEqual(s, {
    started_at_ms: NOW_MS, connected_agents: 0, connections_accepted_total: 0, frames_received_total: 0,
    frames_rejected_total: Object.fromEntries(STATS_CODES.map((c) => [c, 0])),
    sessions_ended_total: { ...Object.fromEntries(STATS_CODES.map((c) => [c, 0])), [PEER_CLOSED]: 0 },
    connections_refused_total: Object.fromEntries(STATS_CODES.map((c) => [c, 0])),
    alerts_firing: 0, webhook_deliveries_total: { delivered: 0, failed: 0, dropped: 0 },
    capacity: null, slots_used: null,
  } satisfies CollectorStatsSnapshot);
});

test('collector_stats: each method moves its own field and nothing else', async (t) => {
  type Edit = (s: CollectorStats) => void;
  const CASES: ReadonlyArray<{ name: string; run: Edit; want: (s: CollectorStatsSnapshot) => void }> = [
    { name: 'connectionAccepted', run: (s) => { s.connectionAccepted(); s.connectionAccepted(); }, want: (x) => { x.connections_accepted_total = 2; } },
    { name: 'connectionRefused', run: (s) => s.connectionRefused(C.RATE_LIMITED), want: (x) => { x.connections_refused_total[C.RATE_LIMITED] = 1; } },
    { name: 'agentConnected x3, agentDisconnected x2', run: (s) => { s.agentConnected(); s.agentConnected(); s.agentConnected(); s.agentDisconnected(); s.agentDisconnected(); }, want: (x) => { x.connected_agents = 1; } },
    { name: 'framesReceived', run: (s) => { s.framesReceived(3); s.framesReceived(0); s.framesReceived(1); }, want: (x) => { x.frames_received_total = 4; } },
    { name: 'frameRejected', run: (s) => { s.frameRejected(C.FRAME_TOO_LARGE); s.frameRejected(C.FRAME_TOO_LARGE); s.frameRejected(C.STATE_FILE_INVALID); }, want: (x) => { x.frames_rejected_total[C.FRAME_TOO_LARGE] = 2; x.frames_rejected_total[C.STATE_FILE_INVALID] = 1; } },
    { name: 'sessionEnded by code and by peer', run: (s) => { s.sessionEnded(C.IDLE_TIMEOUT); s.sessionEnded(null); s.sessionEnded(null); }, want: (x) => { x.sessions_ended_total[C.IDLE_TIMEOUT] = 1; x.sessions_ended_total[PEER_CLOSED] = 2; } },
    { name: 'setAlertsFiring', run: (s) => { s.setAlertsFiring(7); s.setAlertsFiring(3); }, want: (x) => { x.alerts_firing = 3; } },
    { name: 'webhookDeliveries', run: (s) => { s.webhookDeliveries('delivered'); s.webhookDeliveries('failed', 2); s.webhookDeliveries('dropped', 5); }, want: (x) => { x.webhook_deliveries_total = { delivered: 1, failed: 2, dropped: 5 }; } },
    { name: 'setWebhookDeliveries', run: (s) => { s.webhookDeliveries('delivered', 9); s.setWebhookDeliveries('delivered', 4); }, want: (x) => { x.webhook_deliveries_total.delivered = 4; } },
  ];
  for (const c of CASES) {
    await t.test(c.name, () => {
      const stats = CollectorStats.create(NOW_MS);
      const want = stats.snapshot();
      c.run(stats);
      c.want(want);
      assert.deepEqual(stats.snapshot(), want);
    });
  }
});

test('collector_stats: 64-bit counters go past 2^32', () => {
  const stats = CollectorStats.create();
  stats.framesReceived(2 ** 32 - 1);
  stats.framesReceived(2);
  stats.webhookDeliveries('delivered', 2 ** 40);
  assert.equal(stats.snapshot().frames_received_total, 2 ** 32 + 1);
  assert.equal(stats.snapshot().webhook_deliveries_total.delivered, 2 ** 40);
});

test('collector_stats: snapshot(store) adds the store\'s capacity and slots in use', () => {
  const store = ShmStore.create(5, NOW_MS, 10);
  store.allocateSlot();
  store.allocateSlot();
  const s = CollectorStats.create(NOW_MS).snapshot(store);
  assert.equal(s.capacity, 5);
  assert.equal(s.slots_used, 2);
});

test('collector_stats: attaching shares the same counters; a foreign buffer is refused', () => {
  const a = CollectorStats.create(NOW_MS);
  const b = new CollectorStats(a.buffer);
  a.framesReceived(5);
  b.frameRejected(C.PROTO_VERSION);
  assert.equal(b.snapshot().frames_received_total, 5);
  assert.equal(a.snapshot().frames_rejected_total[C.PROTO_VERSION], 1);
  assert.equal(b.buffer, a.buffer);

  assert.throws(() => new CollectorStats(new SharedArrayBuffer(layout.STATS_BYTES)), ShmError, 'zeroed: no magic');
  assert.throws(() => new CollectorStats(new SharedArrayBuffer(layout.STATS_BYTES + 8)), ShmError, 'wrong size');
  const wrongVersion = new SharedArrayBuffer(layout.STATS_BYTES);
  new Uint8Array(wrongVersion).set(new Uint8Array(a.buffer));
  new BigInt64Array(wrongVersion)[layout.STATS_OFF_LAYOUT_VERSION >> 3] = BigInt(layout.STATS_LAYOUT_VERSION + 1);
  assert.throws(() => new CollectorStats(wrongVersion), (err: unknown) => err instanceof ShmError && err.code === C.SHM_INCONSISTENT);
  assert.throws(() => new CollectorStats(new ArrayBuffer(layout.STATS_BYTES) as unknown as SharedArrayBuffer), TypeError);
  // The slot store's buffer is not a stats buffer either.
  assert.throws(() => new CollectorStats(ShmStore.create(1).buffer as SharedArrayBuffer), ShmError);
});

test('collector_stats: programmer mistakes throw', () => {
  const s = CollectorStats.create();
  assert.throws(() => s.setAlertsFiring(-1), RangeError);
  assert.throws(() => s.setAlertsFiring(1.5), RangeError);
  assert.throws(() => s.webhookDeliveries('delivered', Number.NaN), RangeError);
  assert.throws(() => s.webhookDeliveries('lost' as (typeof WEBHOOK_RESULTS)[number]), TypeError);
  assert.throws(() => s.setWebhookDeliveries('failed', -3), RangeError);
  // An unknown code is not counted anywhere, and does not throw (a session must still end).
  const before = s.snapshot();
  s.frameRejected('SENTINEL_NOT_A_CODE' as typeof C.FRAME_EMPTY);
  assert.deepEqual(s.snapshot(), before);
});

function startReader(buffer: SharedArrayBuffer, frames: number): { ready: Promise<void>; done: Promise<Record<string, unknown>> } {
  const w = new Worker(new URL('../helpers/worker_boot.mjs', import.meta.url), {
    workerData: { buffer, frames, timeoutMs: 20_000, module: new URL('./collector_stats_worker.ts', import.meta.url).href },
  });
  let onReady!: () => void;
  const ready = new Promise<void>((r) => { onReady = r; });
  const done = new Promise<Record<string, unknown>>((resolve, reject) => {
    w.on('message', (m: Record<string, unknown>) => (m['type'] === 'ready' ? onReady() : resolve(m)));
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`worker exited ${code}`)); });
  });
  return { ready, done };
}

test('collector_stats: a real worker thread reads what the main thread counts, never backwards, never torn', async () => {
  const FRAMES = 300_000;
  const stats = CollectorStats.create(NOW_MS);
  const reader = startReader(stats.buffer, FRAMES);
  await reader.ready;
  // As the collector's main thread would: a session is welcomed, sends frames, ends.
  for (let i = 0; i < FRAMES; i++) {
    if (i % 1000 === 0) { stats.connectionAccepted(); stats.agentConnected(); }
    stats.framesReceived(1);
    if (i % 1000 === 999) { stats.agentDisconnected(); stats.sessionEnded(null); }
    if (i % 50_000 === 0) stats.frameRejected(C.PROTO_BAD_FIELD);
  }
  stats.setAlertsFiring(2);
  stats.webhookDeliveries('failed', 3);
  const r = await reader.done;
  const last = r['last'] as CollectorStatsSnapshot;
  assert.equal(r['backwards'], 0, 'no counter read went down');
  assert.equal(r['gaugeOutOfRange'], 0, 'connected agents read 0 or 1, never torn or negative');
  assert.ok((r['reads'] as number) > 0);
  assert.equal(last.frames_received_total, FRAMES, 'the worker saw the last count');
  // Everything counted before the last frame is visible with it.
  assert.equal(last.connections_accepted_total, FRAMES / 1000);
  assert.equal(last.frames_rejected_total[C.PROTO_BAD_FIELD], FRAMES / 50_000);
  assert.equal(last.started_at_ms, NOW_MS);
  console.log(`collector_stats: the worker took ${r['reads'] as number} snapshots, ${r['midway'] as number} of them mid-count`);
});
