/** collector/hosts.ts over a real ShmStore: ownership, ordering of samples, eviction of long-offline hosts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOCK_SKEW_NOTE_MS, FUTURE_TOLERANCE_MS, HISTORY_CLOCK_CORRECTION_MS, HostTable } from '../../collector/hosts.ts';
import { MAX_SAMPLE_AGE_MS } from '../../collector/sample_placement.ts';
import { hostView } from '../../shared/host_view.ts';
import { MSG_HELLO, MSG_SAMPLE, PROTO_VERSION, type Hello, type Sample } from '../../shared/protocol.ts';
import { NUM, ringBytes, STR } from '../../shared/shm_layout.ts';
import { ShmStore } from '../../shared/shm_store.ts';

const T0 = 1_750_000_000_000;
function hello(host: string): Hello {
  return { type: MSG_HELLO, proto: PROTO_VERSION, host, agent: 'test', token: 't', interval_ms: 1000, os: `os of ${host}` };
}
function sample(seq: number, ts: number, cpu: number): Sample {
  return { type: MSG_SAMPLE, seq, ts, cpu_pct: cpu };
}
function view(store: ShmStore, name: string, now = T0) {
  return store.readAll().map((s) => hostView(s, now)).find((h) => h.name === name);
}

test('a replayed (older) session never overwrites a newer reading', () => {
  const store = ShmStore.create(4);
  const hosts = new HostTable(store);
  const live = { id: 1 };
  assert.equal(hosts.claim(hello('web'), live, T0).ok, true);
  assert.equal(hosts.recordSample('web', live, sample(1, T0 - 2000, 10), T0), 'stored');
  assert.equal(hosts.recordSample('web', live, sample(2, T0, 20), T0 + 1), 'stored');
  hosts.release('web', live, T0 + 2);
  // The replay: a new connection sending samples captured earlier.
  const replay = { id: 2 };
  assert.equal(hosts.claim(hello('web'), replay, T0 + 10_000).ok, true);
  assert.equal(hosts.recordSample('web', replay, sample(1, T0 - 2000, 99), T0 + 10_000), 'history');
  assert.equal(view(store, 'web')!.cpu_pct, 20, 'the newer reading stays');
  assert.deepEqual(store.readHistory(0, 0, Infinity)!.values[0], [99, 20], 'the replayed sample took its own second in the history');
  assert.equal(hosts.recordSample('web', replay, sample(2, T0 + 10_000, 30), T0 + 10_000), 'stored', 'a fresh sample is taken');
  assert.equal(hosts.recordSample('web', live, sample(3, T0 + 20_000, 40), T0 + 20_000), 'not_owner');
});

test('an agent clock far ahead, then corrected, is ignored for at most FUTURE_TOLERANCE_MS', () => {
  const store = ShmStore.create(2);
  const hosts = new HostTable(store);
  const o = { id: 1 };
  hosts.claim(hello('h'), o, T0);
  const dayMs = 86_400_000;
  assert.equal(hosts.recordSample('h', o, sample(1, T0 + dayMs, 1), T0), 'stored');
  assert.match(view(store, 'h')!.note, /clock: agent clock 86400 s ahead/);
  // Clock fixed: samples carry the true time again.
  assert.equal(hosts.recordSample('h', o, sample(2, T0 + 1000, 2), T0 + 1000), 'history');
  assert.equal(hosts.recordSample('h', o, sample(3, T0 + FUTURE_TOLERANCE_MS, 3), T0 + FUTURE_TOLERANCE_MS), 'stored');
  assert.equal(view(store, 'h')!.note, '');
  assert.ok(CLOCK_SKEW_NOTE_MS < FUTURE_TOLERANCE_MS * 10);
});

test('full: a host offline for evictAfterMs gives its slot to a new host, cleared in one write; live hosts never do', () => {
  const store = ShmStore.create(2);
  const hosts = new HostTable(store, 60_000);
  const a = { id: 1 };
  const b = { id: 2 };
  hosts.claim(hello('old'), a, T0);
  hosts.recordSample('old', a, { ...sample(1, T0, 55), mem_total_bytes: 1000 }, T0);
  hosts.claim(hello('live'), b, T0);
  hosts.release('old', a, T0 + 1000);
  assert.deepEqual(hosts.claim(hello('new'), { id: 3 }, T0 + 30_000), { ok: false, reason: 'capacity' }, 'offline 29 s: kept');
  const r = hosts.claim(hello('new'), { id: 3 }, T0 + 61_000);
  assert.equal(r.ok, true);
  assert.equal(r.ok && r.evicted, 'old');
  const v = view(store, 'new', T0 + 61_000)!;
  assert.equal(v.cpu_pct, null, 'nothing of the old host is left');
  assert.equal(v.mem_total_bytes, null);
  assert.equal(v.os, 'os of new');
  assert.equal(view(store, 'old'), undefined);
  assert.equal(hosts.size, 2);
  assert.deepEqual(hosts.claim(hello('newer'), { id: 4 }, T0 + 10_000_000), { ok: false, reason: 'capacity' }, 'both remaining hosts are live');
});

// ---- Tables, facts, restored stores and the hello clock offset -------------------------------

function tablesOf(store: ShmStore, slot: number) {
  return store.readSlot(slot, true)!.tables!;
}

test('a sample\'s tables are stored with it; a later sample without a table empties that table', () => {
  const store = ShmStore.create(2, T0, 10);
  const hosts = new HostTable(store);
  const o = { id: 1 };
  hosts.claim(hello('h'), o, T0);
  const withTables: Sample = {
    ...sample(1, T0, 5),
    cpu_cores_pct: [1, 2, 3],
    fs: [{ mount: '/', type: 'ext4', size_bytes: 100, used_bytes: 40, free_bytes: 60 }],
    procs_top: [{ name: 'node', pid: 7, cpu_pct: 120 }],
  };
  assert.equal(hosts.recordSample('h', o, withTables, T0), 'stored');
  let t = tablesOf(store, 0);
  assert.deepEqual(t.cpu_cores_pct.rows, [1, 2, 3]);
  assert.deepEqual(t.fs.rows, [{ mount: '/', type: 'ext4', size_bytes: 100, used_bytes: 40, free_bytes: 60 }]);
  assert.deepEqual(t.procs_top.rows, [{ name: 'node', pid: 7, cpu_pct: 120 }]);
  assert.equal(hosts.recordSample('h', o, { ...sample(2, T0 + 1000, 6), cpu_cores_pct: [9] }, T0 + 1000), 'stored');
  t = tablesOf(store, 0);
  assert.deepEqual(t.cpu_cores_pct.rows, [9]);
  assert.deepEqual(t.fs.rows, [], 'absent from the newest sample: not shown as current');
  assert.deepEqual(t.procs_top.rows, []);
  // An older sample (history only) leaves the latest tables alone.
  assert.equal(hosts.recordSample('h', o, { ...sample(3, T0 - 5000, 1), cpu_cores_pct: [50, 50] }, T0 + 2000), 'history');
  assert.deepEqual(tablesOf(store, 0).cpu_cores_pct.rows, [9]);
});

test('a read\'s samples: the slot is written once, with the newest, and reads exactly as if each had been written', () => {
  const samples: Sample[] = [
    { ...sample(1, T0 - 3000, 10), cpu_cores_pct: [1, 2, 3, 4], truncated: { cpu_cores_pct: 60 }, missing: { temp_cpu_c: 'no sensor' } },
    { ...sample(2, T0 - 2000, 20), fs: [{ mount: '/', type: 'ext4', size_bytes: 10, used_bytes: 4, free_bytes: 6 }], power_w: 50, power_source: 'measured' },
    sample(3, T0 - 9000, 30), // older: history only
    { ...sample(4, T0 - 1000, 40), procs_top: [{ name: 'node', pid: 7, cpu_pct: 12 }] },
  ];
  const run = (inOneRead: boolean) => {
    const store = ShmStore.create(1, T0, 30);
    const hosts = new HostTable(store);
    const latest: number[] = [];
    hosts.onLatest = (_h, s) => latest.push(s.seq);
    const o = { id: 1 };
    hosts.claim(hello('h'), o, T0);
    const lockBefore = store.readSlot(0)!.lockSeq;
    if (inOneRead) hosts.beginRead();
    const results = samples.map((m) => hosts.recordSample('h', o, m, T0));
    const seqBeforeEnd = store.readSlot(0)!.numbers[NUM.SAMPLE_SEQ];
    if (inOneRead) hosts.endRead();
    const { lockSeq, ...slot } = store.readSlot(0, true)!;
    const ring = new Uint8Array(ringBytes(30));
    store.copyRing(0, ring);
    return { results, latest, writes: (lockSeq - lockBefore) / 2, slot, ring, seqBeforeEnd, store };
  };
  const each = run(false);
  const once = run(true);
  assert.deepEqual(once.results, ['stored', 'stored', 'history', 'stored'], 'placement is decided per sample, at once');
  assert.deepEqual(each.results, once.results);
  assert.equal(each.writes, 3);
  assert.equal(once.writes, 1, 'one slot write for the read');
  assert.ok(Number.isNaN(once.seqBeforeEnd), 'until endRead the slot is not written');
  // Every field a reader sees (the bytes past a string's length or a table's rows may differ: no reader looks there).
  assert.deepEqual(once.slot, each.slot, 'the same numbers, strings and tables, truncated counts, note and emptied tables included');
  assert.equal(once.slot.strings[STR.NOTE], '', 'the newest sample\'s note');
  assert.equal(once.slot.tables!.cpu_cores_pct.truncated, 0, 'the newest sample\'s truncated counts');
  assert.deepEqual(once.slot.tables!.procs_top.rows, [{ name: 'node', pid: 7, cpu_pct: 12 }]);
  assert.deepEqual(once.slot.tables!.fs.rows, [], 'a table absent from the newest sample is empty');
  assert.deepEqual(once.ring, each.ring, 'every sample is in the history');
  assert.equal(once.store.readSlot(0)!.numbers[NUM.SAMPLES_TOTAL], 3);
  assert.equal(once.store.readSlot(0)!.numbers[NUM.SAMPLE_SEQ], 4);
  assert.deepEqual(each.latest, [1, 2, 4]);
  assert.deepEqual(once.latest, [4], 'the alert inputs take the newest');
});

test('within a read, a facts message or the end of the connection writes the deferred reading first', () => {
  const store = ShmStore.create(1, T0, 10);
  const hosts = new HostTable(store);
  const o = { id: 1 };
  hosts.claim(hello('h'), o, T0);
  hosts.beginRead();
  hosts.recordSample('h', o, sample(1, T0, 10), T0);
  assert.equal(hosts.updateFacts('h', o, { type: 'facts', kernel: '6.8' }, T0 + 5), true);
  let n = store.readSlot(0)!.numbers;
  assert.equal(n[NUM.SAMPLE_SEQ], 1, 'written before the facts');
  assert.equal(n[NUM.LAST_WRITE_MS], T0 + 5, 'the facts write comes after it');
  hosts.recordSample('h', o, sample(2, T0 + 1000, 20), T0 + 10);
  hosts.release('h', o, T0 + 20);
  n = store.readSlot(0)!.numbers;
  assert.equal(n[NUM.SAMPLE_SEQ], 2, 'written before the host went offline');
  assert.equal(n[NUM.DISCONNECTED_AT_MS], T0 + 20);
  assert.equal(n[NUM.LAST_WRITE_MS], T0 + 20);
  const lock = store.readSlot(0)!.lockSeq;
  hosts.endRead();
  assert.equal(store.readSlot(0)!.lockSeq, lock, 'nothing left to write');
  assert.equal(view(store, 'h', T0 + 20)!.kernel, '6.8');
});

test('facts update the static fields of the host; only its owner may send them', () => {
  const store = ShmStore.create(2, T0, 10);
  const hosts = new HostTable(store);
  const o = { id: 1 };
  hosts.claim({ ...hello('h'), kernel: '6.1', arch: 'x64', cpu_model: 'Old CPU', cpu_cores: 4 }, o, T0);
  assert.equal(hosts.updateFacts('h', { id: 2 }, { type: 'facts', os: 'intruder', cpu_cores: 1 }, T0 + 10), false, 'not the owner');
  assert.equal(hosts.updateFacts('nope', o, { type: 'facts', os: 'x' }, T0 + 10), false, 'unknown host');
  assert.equal(view(store, 'h')!.os, 'os of h');
  assert.equal(hosts.updateFacts('h', o, { type: 'facts', kernel: '6.8', cpu_cores: 8 }, T0 + 20), true);
  const v = view(store, 'h')!;
  assert.equal(v.kernel, '6.8');
  assert.equal(v.cpu_cores, 8);
  assert.equal(v.os, 'os of h', 'fields not in the facts are kept');
  assert.equal(v.arch, 'x64');
  assert.equal(v.cpu_model, 'Old CPU');
  assert.equal(store.readSlot(0)!.numbers[NUM.LAST_WRITE_MS], T0 + 20);
  hosts.release('h', o, T0 + 30);
  assert.equal(hosts.updateFacts('h', o, { type: 'facts', os: 'late' }, T0 + 40), false, 'a released owner no longer speaks for the host');
  assert.equal(view(store, 'h')!.os, 'os of h');
});

test('a HostTable over a restored store takes its hosts back: offline, readings and history kept, same slot on reconnect', () => {
  const before = ShmStore.create(4, T0, 10);
  const hostsBefore = new HostTable(before);
  const a = { id: 1 };
  const b = { id: 2 };
  hostsBefore.claim(hello('a'), a, T0);
  hostsBefore.claim(hello('b'), b, T0);
  for (let k = 0; k < 3; k++) {
    hostsBefore.recordSample('a', a, { ...sample(k + 1, T0 + k * 1000, 10 + k), fs: [{ mount: '/a' }] }, T0 + k * 1000);
    hostsBefore.recordSample('b', b, sample(k + 1, T0 + k * 1000, 20 + k), T0 + k * 1000);
  }
  hostsBefore.release('b', b, T0 + 2500);
  // As a restart does it: the snapshot (the state file's body) restored into a new, empty store.
  const restored = ShmStore.create(4, T0 + 60_000, 10);
  assert.deepEqual(restored.restoreFrom(new ShmStore(before.snapshot().buffer as ArrayBuffer)), { restored: 2, dropped: 0 });
  const hosts = new HostTable(restored);
  assert.equal(hosts.size, 2);
  const now = T0 + 60_000;
  const va = view(restored, 'a', now)!;
  assert.equal(va.status, 'offline', 'a was connected when saved: offline now, its agent has to come back');
  assert.equal(va.disconnected_at_ms, T0 + 2000, 'offline since it was last heard of');
  assert.equal(va.cpu_pct, 12);
  assert.equal(va.samples_total, 3);
  assert.deepEqual(tablesOf(restored, va.slot).fs.rows, [{ mount: '/a', type: '', size_bytes: null, used_bytes: null, free_bytes: null }]);
  assert.deepEqual(restored.readHistory(va.slot, 0, Infinity)!.values[0], [10, 11, 12]);
  const vb = view(restored, 'b', now)!;
  assert.equal(vb.status, 'offline');
  assert.equal(vb.disconnected_at_ms, T0 + 2500);
  assert.equal(vb.cpu_pct, 22);

  const again = { id: 3 };
  assert.deepEqual(hosts.claim(hello('b'), again, now), { ok: true, slot: vb.slot, replaced: null, evicted: null });
  assert.equal(hosts.recordSample('b', again, sample(1, T0 + 1000, 99), now), 'history', 'older than the restored latest reading');
  assert.equal(hosts.recordSample('b', again, sample(2, now, 30), now), 'stored');
  assert.equal(view(restored, 'b', now)!.samples_total, 4);
  assert.equal(view(restored, 'b', now)!.status, 'online');
  const c = hosts.claim(hello('c'), { id: 4 }, now);
  assert.equal(c.ok && c.slot, 2, 'a new name takes a free slot, never a restored one');
});

interface OffsetCase { name: string; helloTs: number | undefined; shiftMs: number }
// The hello is received at T0 (collector clock); the agent's clock reads helloTs at that moment.
const OFFSET_CASES: readonly OffsetCase[] = [
  { name: 'no ts in the hello: agent times as sent', helloTs: undefined, shiftMs: 0 },
  { name: 'agent 1.5 s behind (within 2 s): agent times as sent', helloTs: T0 - 1500, shiftMs: 0 },
  { name: 'agent exactly 2 s ahead: not shifted', helloTs: T0 + 2000, shiftMs: 0 },
  { name: 'agent 2.001 s behind: shifted', helloTs: T0 - 2001, shiftMs: 2001 },
  { name: 'agent 10 s behind: history placed 10 s later', helloTs: T0 - 10_000, shiftMs: 10_000 },
  { name: 'agent 30 s ahead: history placed 30 s earlier', helloTs: T0 + 30_000, shiftMs: -30_000 },
];

test('the hello clock offset shifts history times only beyond HISTORY_CLOCK_CORRECTION_MS', async (t) => {
  assert.equal(HISTORY_CLOCK_CORRECTION_MS, 2000);
  for (const c of OFFSET_CASES) {
    await t.test(c.name, () => {
      const store = ShmStore.create(2, T0, 900);
      const hosts = new HostTable(store);
      const o = { id: 1 };
      hosts.claim({ ...hello('h'), ...(c.helloTs === undefined ? {} : { ts: c.helloTs }) }, o, T0, T0);
      const agentNow = c.helloTs ?? T0;
      assert.equal(hosts.recordSample('h', o, sample(1, agentNow + 1000, 1), T0 + 1000), 'stored');
      assert.equal(hosts.recordSample('h', o, sample(2, agentNow + 2000, 2), T0 + 2000), 'stored');
      assert.equal(hosts.recordSample('h', o, sample(3, agentNow - 30_000, 3), T0 + 3000), 'history', 'a buffered sample');
      const h = store.readHistory(0, 0, Infinity)!;
      assert.deepEqual(h.t, [agentNow - 30_000 + c.shiftMs, agentNow + 1000 + c.shiftMs, agentNow + 2000 + c.shiftMs]);
      assert.deepEqual(h.values[0], [3, 1, 2]);
      assert.equal(store.readSlot(0)!.numbers[NUM.SAMPLE_TS_MS], agentNow + 2000, 'the latest reading keeps the agent\'s own time');
    });
  }
});

test('the clock offset belongs to the connection: a reconnect with a good clock stops the shift', () => {
  const store = ShmStore.create(2, T0, 900);
  const hosts = new HostTable(store);
  const first = { id: 1 };
  hosts.claim({ ...hello('h'), ts: T0 - 60_000 }, first, T0);
  hosts.recordSample('h', first, sample(1, T0 - 59_000, 1), T0 + 1000);
  hosts.release('h', first, T0 + 1500);
  const second = { id: 2 };
  hosts.claim({ ...hello('h'), ts: T0 + 5000 }, second, T0 + 5000);
  hosts.recordSample('h', second, sample(1, T0 + 6000, 2), T0 + 6000);
  assert.deepEqual(store.readHistory(0, 0, Infinity)!.t, [T0 + 1000, T0 + 6000]);
});

test('an agent clock far ahead, known from its hello: a replayed older sample never replaces the latest reading', () => {
  // Both hellos say the agent runs an hour ahead. The second connection replays a sample the
  // agent had buffered from before the first one's samples: older by the agent's clock and by
  // the collector's once the hello offset is applied, so it belongs to the history only.
  const store = ShmStore.create(2, T0, 900);
  const hosts = new HostTable(store);
  const ahead = 3_600_000;
  const first = { id: 1 };
  hosts.claim({ ...hello('h'), ts: T0 + ahead }, first, T0, T0);
  assert.equal(hosts.recordSample('h', first, sample(1, T0 + ahead + 1000, 1), T0 + 1000), 'stored');
  assert.equal(hosts.recordSample('h', first, sample(2, T0 + ahead + 2000, 2), T0 + 2000), 'stored');
  hosts.release('h', first, T0 + 2500);
  const replay = { id: 2 };
  hosts.claim({ ...hello('h'), ts: T0 + ahead + 10_000 }, replay, T0 + 10_000, T0 + 10_000);
  assert.equal(hosts.recordSample('h', replay, sample(1, T0 + ahead - 30_000, 3), T0 + 10_000), 'history');
  assert.equal(view(store, 'h', T0 + 10_000)!.cpu_pct, 2, 'the latest reading does not move backwards');
  assert.deepEqual(store.readHistory(0, 0, Infinity)!.t, [T0 - 30_000, T0 + 1000, T0 + 2000]);
});

test('a sample whose corrected time is beyond MAX_SAMPLE_AGE_MS behind the clock is not placed: no history, no energy', () => {
  // A hello at ts 2^53 - 1 and then samples at ts 2000: the clock offset would place them near
  // -9e15 ms, where the energy counters once took them as the fleet's "since".
  const store = ShmStore.create(2, T0, 900);
  const hosts = new HostTable(store);
  const placed: number[] = [];
  hosts.onPlaced = (_host, _slot, placedMs) => placed.push(placedMs);
  const o = { id: 1 };
  hosts.claim({ ...hello('h'), ts: Number.MAX_SAFE_INTEGER }, o, T0, T0);
  assert.equal(hosts.recordSample('h', o, sample(1, 2000, 1), T0 + 1000), 'stored', 'it may still be the latest reading');
  assert.equal(hosts.recordSample('h', o, sample(2, 3000, 2), T0 + 2000), 'stored');
  assert.deepEqual(placed, []);
  assert.deepEqual(store.readHistory(0, 0, Infinity)!.t, []);
  assert.equal(view(store, 'h', T0 + 2000)!.cpu_pct, 2);

  // The bound itself: a buffered sample exactly MAX_SAMPLE_AGE_MS old is placed, one ms older is not.
  const store2 = ShmStore.create(2, T0, 900);
  const hosts2 = new HostTable(store2);
  const placed2: number[] = [];
  hosts2.onPlaced = (_host, _slot, placedMs) => placed2.push(placedMs);
  hosts2.claim(hello('g'), o, T0, T0);
  assert.equal(hosts2.recordSample('g', o, sample(1, T0, 1), T0), 'stored');
  hosts2.recordSample('g', o, sample(2, T0 - MAX_SAMPLE_AGE_MS, 2), T0);
  hosts2.recordSample('g', o, sample(3, T0 - MAX_SAMPLE_AGE_MS - 1, 3), T0);
  assert.deepEqual(placed2, [T0, T0 - MAX_SAMPLE_AGE_MS]);
  assert.ok(MAX_SAMPLE_AGE_MS > 86_400_000, 'beyond the reference agent\'s longest buffer (24 h)');
});
