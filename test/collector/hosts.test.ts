/** collector/hosts.ts over a real ShmStore: ownership, ordering of samples, eviction of long-offline hosts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOCK_SKEW_NOTE_MS, FUTURE_TOLERANCE_MS, HostTable } from '../../collector/hosts.ts';
import { hostView } from '../../shared/host_view.ts';
import { MSG_HELLO, MSG_SAMPLE, PROTO_VERSION, type Hello, type Sample } from '../../shared/protocol.ts';
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
