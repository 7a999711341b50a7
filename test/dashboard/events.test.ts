import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get, request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AlertFeed, HostsPayload, StatusPayload } from '../../dashboard/api.ts';
import { EventHub, formatEvent } from '../../dashboard/events.ts';
import { createDashboardServer } from '../../dashboard/server.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { waitFor } from '../helpers/net.ts';
import { FIXTURE_READINGS, makeStore } from '../helpers/store_fixture.ts';

/** Upper bound on any wait in this file, ms. */
const WAIT_MS = 5000;

interface SseEvent {
  event: string;
  data: string;
  atMs: number;
}

/** A GET /api/events reader: parses events as they arrive. */
function openStream(url: string): Promise<{ res: IncomingMessage; events: SseEvent[]; next: (pred: (e: SseEvent) => boolean) => Promise<SseEvent>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      const events: SseEvent[] = [];
      const waiters: Array<{ pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }> = [];
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const e: SseEvent = { event: 'message', data: '', atMs: Date.now() };
          let isEvent = false;
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) { e.event = line.slice(7); isEvent = true; }
            if (line.startsWith('data: ')) { e.data += line.slice(6); isEvent = true; }
          }
          if (!isEvent) continue;
          events.push(e);
          for (const w of [...waiters]) if (w.pred(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
        }
      });
      // An event that came before anyone waited (the first snapshot can arrive with the
      // headers) still counts, once.
      const taken = new Set<SseEvent>();
      const next = (pred: (e: SseEvent) => boolean): Promise<SseEvent> => new Promise((res2, rej2) => {
        const early = events.find((e) => !taken.has(e) && pred(e));
        if (early) { taken.add(early); res2(early); return; }
        const timer = setTimeout(() => rej2(new Error(`no matching event within ${WAIT_MS} ms`)), WAIT_MS);
        waiters.push({ pred, resolve: (e) => { clearTimeout(timer); taken.add(e); res2(e); } });
      });
      resolve({ res, events, next, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

test('formatEvent: one event, single-line data only', () => {
  assert.equal(formatEvent('hosts', '{"a":1}'), 'event: hosts\ndata: {"a":1}\n\n');
  assert.throws(() => formatEvent('hosts', 'a\nb'), TypeError);
  assert.throws(() => formatEvent('ho\nsts', 'a'), TypeError);
});

test('events: a new sample reaches a connected client within a second, with the /api/hosts payload', async (t) => {
  const fx = makeStore([{ name: 'alpha', status: 'online', intervalMs: 60_000 }]);
  const server = createDashboardServer(fx.store);
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const stream = await openStream(`${base}/api/events`);
  t.after(() => stream.close());
  assert.equal(stream.res.statusCode, 200);
  assert.match(String(stream.res.headers['content-type']), /^text\/event-stream/);
  assert.equal(stream.res.headers['cache-control'], 'no-store');
  assert.match(String(stream.res.headers['content-security-policy']), /default-src 'none'/);
  const first = await stream.next((e) => e.event === 'hosts');
  const payload = JSON.parse(first.data);
  assert.equal(payload.hosts[0].name, 'alpha');
  assert.equal(payload.hosts[0].cpu_pct, FIXTURE_READINGS.cpu_pct);
  assert.equal(payload.summary.online, 1);

  const sentAt = Date.now();
  fx.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: 77.25 }, sentAt);
  // Since deltas, a sample travels in the next tick's `delta` event (snapshots every 2 s carry it too).
  const seen = await stream.next((e) => (e.event === 'hosts' || e.event === 'delta') && JSON.parse(e.data).hosts[0].cpu_pct === 77.25);
  const latency = seen.atMs - sentAt;
  // A tick is 25 ms: well under a second plus scheduling.
  assert.ok(latency < 2000, `sample reached the stream after ${latency} ms`);
  t.diagnostic(`sample to event: ${latency} ms`);
});

test('events: nothing changes, a status event still comes every statusGap, and no snapshot after the first', async (t) => {
  const fx = makeStore([{ name: 'alpha', status: 'online', intervalMs: 60_000 }]);
  const server = createDashboardServer(fx.store, { events: { tickMs: 20, minGapMs: 100, maxGapMs: 150, statusGapMs: 150 } });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const stream = await openStream(`${base}/api/events`);
  t.after(() => stream.close());
  await stream.next((e) => e.event === 'hosts');
  await new Promise((r) => setTimeout(r, 700));
  const n = stream.events.filter((e) => e.event === 'status').length;
  // 700 ms / 150 ms ≈ 4 status events after the snapshot (timers may run late).
  assert.ok(n >= 3 && n <= 7, `${n} status events in 700 ms with statusGap 150 ms`);
  assert.equal(stream.events.filter((e) => e.event === 'hosts').length, 1, 'the snapshot only on connect');
});

test('events: without a status source, snapshots still come every maxGap (the mode before status events)', async (t) => {
  let n = 0;
  const hub = new EventHub(() => JSON.stringify({ n: ++n }), () => 0, { tickMs: 20, maxGapMs: 150 },
    { reset: () => undefined, changed: () => [], build: () => '', size: () => 1 });
  const server = createServer((req, res) => hub.accept(req, res, {}));
  const base = await listenLoopback(server);
  t.after(() => { hub.close(); return closeServer(server); });
  const stream = await openStream(`${base}/`);
  t.after(() => stream.close());
  await stream.next((e) => e.event === 'hosts');
  await new Promise((r) => setTimeout(r, 700));
  const k = stream.events.filter((e) => e.event === 'hosts').length;
  assert.ok(k >= 3 && k <= 8, `${k} snapshots in 700 ms with maxGap 150 ms`);
  assert.equal(stream.events.filter((e) => e.event === 'status').length, 0);
});

test('events: a status event carries the summary, every slot\'s status as the clock ages it, and the alerts only when they changed', async (t) => {
  const T0 = Date.now();
  // The dashboard's clock, moved ahead by the test (the hub's timing follows it too).
  let skewMs = 0;
  const fx = makeStore([
    { name: 'alpha', status: 'online', intervalMs: 1000 },
    { name: '<img src=x onerror=alert(1)>', status: 'online', intervalMs: 1000 },
    { name: 'gamma', status: 'offline', intervalMs: 1000 },
  ], { nowMs: T0 });
  const alert = { rule: 'cpu_high', host: '<img src=x onerror=alert(1)>', instance: '', metric: 'cpu_pct', op: '>', threshold: 90, for_s: 0, value: 95, state: 'firing' as const, active_since_ms: T0, fired_at_ms: T0 };
  let feed: AlertFeed = { version: 1, rules: [{ name: 'cpu_high', metric: 'cpu_pct', op: '>', threshold: 90, for_s: 0 }], alerts: [] };
  const server = createDashboardServer(fx.store, { now: () => Date.now() + skewMs, feed: () => feed, events: { tickMs: 20, statusGapMs: 50 } });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const stream = await openStream(`${base}/api/events`);
  t.after(() => stream.close());
  const snap = JSON.parse((await stream.next((e) => e.event === 'hosts')).data) as HostsPayload;
  const slotOf = new Map(snap.hosts.map((h) => [h.name, h.slot]));
  const first = JSON.parse((await stream.next((e) => e.event === 'status')).data) as StatusPayload;
  assert.equal(first.statuses.length, 3);
  assert.equal(first.statuses[slotOf.get('alpha')!], 'o');
  assert.equal(first.statuses[slotOf.get('gamma')!], 'f');
  assert.deepEqual([first.summary.online, first.summary.stale, first.summary.offline], [2, 0, 1]);
  assert.equal(first.alerts, undefined, 'the snapshot had this version of the alerts');
  assert.ok(!('hosts' in first), 'no host list: stream readers that look for one skip it');
  // No sample for more than three intervals: stale, by the clock alone.
  skewMs = 3500;
  const aged = JSON.parse((await stream.next((e) => e.event === 'status' && JSON.parse(e.data).now_ms >= T0 + 3500)).data) as StatusPayload;
  assert.equal(aged.statuses[slotOf.get('alpha')!], 's');
  assert.deepEqual([aged.summary.online, aged.summary.stale, aged.summary.offline], [0, 2, 1]);
  // A new alert feed: the next status event carries it, once.
  feed = { ...feed, version: 2, alerts: [alert] };
  const withAlerts = JSON.parse((await stream.next((e) => e.event === 'status' && JSON.parse(e.data).alerts !== undefined)).data) as StatusPayload;
  assert.deepEqual(withAlerts.alerts, [alert]);
  assert.equal(withAlerts.summary.alerts_firing, 1);
  assert.equal(withAlerts.thresholds?.cpu_pct, 90);
  const after = await stream.next((e) => e.event === 'status' && JSON.parse(e.data).alerts === undefined && JSON.parse(e.data).summary.alerts_firing === 1);
  assert.ok(after.data.length < 2000, `a lean status event: ${after.data.length} bytes`);
  assert.equal(stream.events.filter((e) => e.event === 'hosts').length, 1, 'no snapshot after the first');
});

test('events: HEAD answers the stream headers and ends', async (t) => {
  const server = createDashboardServer(makeStore([]).store);
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${base}/api/events`, { method: 'HEAD' }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 200);
});

test('events: beyond maxClients a stream is refused with 503 and the others go on', async (t) => {
  const fx = makeStore([{ name: 'alpha', status: 'online', intervalMs: 60_000 }]);
  const server = createDashboardServer(fx.store, { events: { maxClients: 2 } });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const a = await openStream(`${base}/api/events`);
  const b = await openStream(`${base}/api/events`);
  const c = await openStream(`${base}/api/events`);
  t.after(() => { a.close(); b.close(); c.close(); });
  assert.equal(a.res.statusCode, 200);
  assert.equal(b.res.statusCode, 200);
  assert.equal(c.res.statusCode, 503);
  assert.equal(c.res.headers['retry-after'], '15');
  // A closed stream frees its place.
  a.close();
  await new Promise((r) => setTimeout(r, 100));
  const d = await openStream(`${base}/api/events`);
  t.after(() => d.close());
  assert.equal(d.res.statusCode, 200);
});

/** Serves `hub` on a loopback port for the test's duration; closes both after it. */
async function serveHub(t: TestContext, hub: EventHub): Promise<number> {
  const server = createServer((req, res) => hub.accept(req, res, {}));
  await listenLoopback(server);
  t.after(() => { hub.close(); return closeServer(server); });
  const addr = server.address();
  assert.ok(addr && typeof addr === 'object');
  return addr.port;
}

/** A raw client that asks for the stream and never reads: the kernel buffers fill, writes back up. */
function stalledClient(port: number): Socket {
  const sock = connect(port, '127.0.0.1');
  sock.pause();
  sock.write('GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n');
  return sock;
}

/** A hub on a plain node:http server whose snapshots are big, numbered strings. */
async function bigHub(t: TestContext, opts: ConstructorParameters<typeof EventHub>[2]): Promise<{ hub: EventHub; port: number; snapshots: () => number }> {
  let n = 0;
  // ~256 KiB per event: a non-reading client fills the socket buffers after a few.
  const pad = 'x'.repeat(256 * 1024);
  const hub = new EventHub(() => JSON.stringify({ n: ++n, pad }), () => n, opts);
  return { hub, port: await serveHub(t, hub), snapshots: () => n };
}

test('events: a client that stops reading is at most one snapshot behind, then dropped when stalled', async (t) => {
  const { hub, port, snapshots } = await bigHub(t, { tickMs: 5, minGapMs: 0, maxGapMs: 0, stallMs: 800 });
  const sock = stalledClient(port);
  const start = Date.now();
  // Many snapshots are made, most of them replaced unsent: nothing queues without bound.
  await waitFor('snapshots replaced for the slow client', () => hub.dropped > 10, WAIT_MS);
  assert.equal(hub.size, 1);
  assert.ok(hub.pushes > 20, `${hub.pushes} pushes`);
  const made = snapshots();
  // Stalled past stallMs: the server closes it (seen on the server: a paused client socket
  // would not notice the close until it read its buffers).
  while (hub.size > 0) {
    assert.ok(Date.now() - start < WAIT_MS, 'slow client never dropped');
    await new Promise((r) => setTimeout(r, 20));
  }
  const droppedAfter = Date.now() - start;
  assert.ok(droppedAfter >= 700, `dropped after ${droppedAfter} ms`);
  sock.destroy();
  assert.ok(made > 20);
});

test('events: a client that reads slowly still gets the newest snapshot', async (t) => {
  const { hub, port, snapshots } = await bigHub(t, { tickMs: 5, minGapMs: 0, maxGapMs: 0, stallMs: 60_000 });
  const sock = stalledClient(port);
  // However slowly this machine runs, the socket buffers fill and the hub starts replacing.
  await waitFor('the client to fall behind', () => hub.dropped > 0, WAIT_MS);
  // Read again: what arrives ends with snapshots at least as new as the last one made before.
  const last = snapshots();
  let text = '';
  sock.setEncoding('utf8');
  sock.on('data', (c: string) => { text = (text + c).slice(-600 * 1024); });
  sock.resume();
  // The backlog drains (at most two snapshots: one in the socket, one waiting) and then the
  // newest arrive; a hub that queued every snapshot would take far longer to catch up.
  const newest = (): number => Math.max(0, ...[...text.matchAll(/"n":(\d+)/g)].map((m) => Number(m[1])));
  await waitFor(`a snapshot at least as new as ${last}`, () => newest() >= last, WAIT_MS);
  sock.destroy();
});

test('events: a delta carries only the hosts that changed, within a tick of the sample', async (t) => {
  const fx = makeStore([
    { name: 'alpha', status: 'online', intervalMs: 60_000 },
    { name: 'beta', status: 'online', intervalMs: 60_000 },
    { name: '<img src=x onerror=alert(1)>', status: 'online', intervalMs: 60_000 },
  ]);
  // No snapshot after the first: whatever arrives is a delta.
  const server = createDashboardServer(fx.store, { events: { tickMs: 25, minGapMs: 60_000, maxGapMs: 60_000 } });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const stream = await openStream(`${base}/api/events`);
  t.after(() => stream.close());
  await stream.next((e) => e.event === 'hosts');
  const latencies: number[] = [];
  for (let k = 0; k < 10; k++) {
    const sentAt = Date.now();
    fx.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: k }, sentAt);
    const e = await stream.next((x) => x.event === 'delta' && JSON.parse(x.data).hosts.some((h: { cpu_pct: number }) => h.cpu_pct === k));
    latencies.push(e.atMs - sentAt);
    const d = JSON.parse(e.data) as { now_ms: number; hosts: Array<{ name: string; sample_ts_ms: number; status: string; alerts: unknown[] }> };
    assert.deepEqual(d.hosts.map((h) => h.name), ['alpha'], 'only the host that changed');
    assert.equal(d.hosts[0]!.sample_ts_ms, sentAt);
    assert.equal(d.hosts[0]!.status, 'online');
    assert.ok(typeof d.now_ms === 'number');
  }
  // A hostile name travels as JSON data: the event stays one line.
  fx.sample('<img src=x onerror=alert(1)>', FIXTURE_READINGS, Date.now());
  const hostile = await stream.next((x) => x.event === 'delta' && x.data.includes('onerror'));
  assert.equal(JSON.parse(hostile.data).hosts[0].name, '<img src=x onerror=alert(1)>');
  assert.equal(stream.events.filter((e) => e.event === 'hosts').length, 1, 'no snapshot in between');
  latencies.sort((a, b) => a - b);
  // One 25 ms tick plus scheduling on a busy shared machine.
  assert.ok(latencies[Math.floor(latencies.length / 2)]! < 250, `median sample to delta ${latencies.join(',')} ms`);
  t.diagnostic(`sample to delta event: ${latencies.join(', ')} ms`);
});

test('events: a busy client gets its missed slots merged into one delta (or a snapshot), never a queue', async (t) => {
  let n = 0;
  const pad = 'x'.repeat(256 * 1024);
  const built: number[] = [];
  /** Whether each build was a tick's, for every ready client (true), or one client's catch-up. */
  const shared: boolean[] = [];
  const FLEET = 100;
  let tickNo = 0;
  const hub = new EventHub(() => JSON.stringify({ n: ++n, pad }), () => 0, { tickMs: 5, minGapMs: 60_000, maxGapMs: 60_000, stallMs: 60_000 }, {
    reset: () => undefined,
    // Three slots change on each tick, walking the fleet.
    changed: () => { tickNo++; return [tickNo % FLEET, (tickNo + 1) % FLEET, (tickNo + 2) % FLEET]; },
    build: (slots, isShared) => { const list = [...slots]; built.push(list.length); shared.push(isShared); return formatEvent('delta', JSON.stringify({ slots: list, pad })); },
    size: () => FLEET,
  });
  const sock = stalledClient(await serveHub(t, hub));
  await waitFor('deltas merged for the busy client', () => hub.dropped > 30, WAIT_MS);
  const builtWhileBusy = built.length;
  // Read again: the client is owed one delta of the slots it missed (at most the fleet), or a snapshot.
  let text = '';
  sock.setEncoding('utf8');
  sock.on('data', (c: string) => { text = (text + c).slice(-600 * 1024); });
  const snapshotsBefore = n;
  sock.resume();
  await waitFor('the client caught up', () => built.length > builtWhileBusy + 2 || n > snapshotsBefore, WAIT_MS);
  assert.ok(built.every((size) => size <= FLEET), `merged deltas stay within the fleet: ${built.join(',')}`);
  // What it missed is built for it alone (the overview's stream then says every host's facts again).
  assert.ok(shared.slice(builtWhileBusy).includes(false), `builds after the client read again: ${shared.slice(builtWhileBusy).join(',')}`);
  assert.equal(shared[0], true, 'the first build, before the client was busy, was a tick\'s');
  assert.ok(built.length < hub.deltas + 10, 'one build per tick, not one per client and tick');
  sock.destroy();
});

test('with deltas, snapshots are spaced by their size (snapshotBytesPerS): a large fleet is not re-sent every 2 s', async (t) => {
  let clock = 1_000_000;
  let n = 0;
  let size = 100;
  const snapshots: number[] = [];
  const hub = new EventHub(() => { snapshots.push(clock); return JSON.stringify({ n: ++n, pad: 'x'.repeat(size) }); }, () => ++n,
    { tickMs: 60_000, minGapMs: 2000, maxGapMs: 5000, stallMs: 60_000, snapshotBytesPerS: 1000, now: () => clock },
    { reset: () => undefined, changed: () => [], build: () => '', size: () => 1 });
  const server = createServer((req, res) => hub.accept(req, res, {}));
  await listenLoopback(server);
  t.after(() => { hub.close(); return closeServer(server); });
  const res = await new Promise<IncomingMessage>((resolve) => get(`http://127.0.0.1:${(server.address() as { port: number }).port}/`, resolve));
  res.resume();
  t.after(() => res.destroy());
  // A small snapshot: the configured gaps.
  assert.deepEqual(hub.snapshotGapsMs(), { min: 2000, max: 5000 });
  // A snapshot of ~10,000 bytes at 1,000 bytes/s: the next waits ~10 s, changed or not.
  size = 10_000;
  clock += 5000;
  hub.tick();
  const gaps = hub.snapshotGapsMs();
  assert.ok(gaps.min > 10_000 && gaps.min < 10_200 && gaps.max === gaps.min, JSON.stringify(gaps));
  const count = snapshots.length;
  clock += 6000;
  hub.tick();
  assert.equal(snapshots.length, count, 'not after 6 s');
  clock += 4500;
  hub.tick();
  assert.equal(snapshots.length, count + 1, 'after its size allows');
});

test('events: a busy client\'s status events replace each other, and one with new alerts is never replaced by one without', async (t) => {
  let version = 1;
  let built = 0;
  const pad = 'x'.repeat(64 * 1024);
  const hub = new EventHub(() => JSON.stringify({ snapshot: true, pad: pad.repeat(4) }), () => 0, { tickMs: 5, statusGapMs: 5, stallMs: 60_000 }, {
    reset: () => undefined,
    changed: () => [],
    build: () => '',
    size: () => 1,
    status: {
      alertsVersion: () => version,
      build: (withAlerts) => { built++; return formatEvent('status', JSON.stringify({ n: built, alerts: withAlerts ? version : null, pad })); },
    },
  });
  const sock = stalledClient(await serveHub(t, hub));
  await waitFor('status events replaced for the busy client', () => hub.dropped > 10, WAIT_MS);
  // The alerts change while the client is behind: what waits for it now carries them.
  version = 2;
  const pushedAt = hub.statuses;
  await waitFor('more status events pushed', () => hub.statuses > pushedAt + 10, WAIT_MS);
  assert.ok(built <= 2 * hub.statuses, `${built} built for ${hub.statuses} pushes: at most two variants each`);
  let text = '';
  sock.setEncoding('utf8');
  sock.on('data', (c: string) => { text += c; });
  sock.resume();
  await waitFor('the new alerts reach the client', () => /"alerts":2/.test(text), WAIT_MS);
  sock.destroy();
  // Bounded: far fewer status events arrived than were pushed.
  const received = (text.match(/event: status/g) ?? []).length;
  assert.ok(received < hub.statuses, `${received} received of ${hub.statuses} pushed`);
});

test('events: ?view=overview streams each host with what the page shows, its facts and note in the snapshot and again only when they change', async (t) => {
  const fx = makeStore([
    { name: 'alpha', status: 'online', intervalMs: 60_000, missing: { gpu: 'no GPU found' } },
    { name: 'beta', status: 'online', intervalMs: 60_000 },
  ]);
  const server = createDashboardServer(fx.store, { events: { tickMs: 25 } });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const bad = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    get(`${base}/api/events?view=compact`, (res) => { let body = ''; res.setEncoding('utf8'); res.on('data', (c: string) => { body += c; }); res.on('end', () => resolve({ status: res.statusCode ?? 0, body })); }).on('error', reject);
  });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /view must be full .* or overview/);

  const stream = await openStream(`${base}/api/events?view=overview`);
  t.after(() => stream.close());
  type Host = Record<string, unknown> & { name: string; readings: Record<string, unknown> };
  const snapshot = JSON.parse((await stream.next((e) => e.event === 'hosts')).data) as HostsPayload & { hosts: Host[] };
  assert.ok(snapshot.summary && snapshot.thresholds !== undefined && Array.isArray(snapshot.alerts), 'the payload around the hosts is /api/hosts\' own');
  const alpha0 = snapshot.hosts.find((h) => h.name === 'alpha')!;
  assert.equal(alpha0['os'], 'Debian GNU/Linux 12');
  assert.match(String(alpha0['note']), /gpu: no GPU found/);
  assert.equal(alpha0['status'], 'online');
  assert.deepEqual(Object.keys(alpha0.readings), ['net_rx_bps', 'net_tx_bps', 'temp_max_c', 'power_w']);
  for (const k of ['received_at_ms', 'load', 'mem_available_bytes', 'boot_time_ms']) assert.ok(!(k in alpha0), `${k} is not the overview's`);

  const deltaWith = (pred: (h: Host) => boolean): Promise<Host> => stream.next((e) => e.event === 'delta' && (JSON.parse(e.data) as { hosts: Host[] }).hosts.some(pred))
    .then((e) => (JSON.parse(e.data) as { hosts: Host[] }).hosts.find(pred)!);
  // The stream's first delta of a slot may say its facts again (it cannot know what a snapshot
  // said); from then on only a change does.
  fx.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: 60 }, Date.now());
  await deltaWith((h) => h.name === 'alpha' && h['cpu_pct'] === 60);
  fx.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: 61 }, Date.now());
  const plain = await deltaWith((h) => h.name === 'alpha' && h['cpu_pct'] === 61);
  for (const k of ['agent', 'os', 'kernel', 'arch', 'cpu_model', 'note']) assert.ok(!(k in plain), `${k} left out: it did not change`);
  assert.equal(plain['status'], 'online');

  // The note changes (it is written with each sample): the next delta says it, the one after does not.
  const NO_SENSOR = { temp_max_c: 'no sensor' };
  fx.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: 62 }, Date.now(), NO_SENSOR);
  const noted = await deltaWith((h) => h.name === 'alpha' && h['cpu_pct'] === 62);
  assert.equal(noted['note'], 'temp_max_c: no sensor');
  assert.equal(noted['os'], 'Debian GNU/Linux 12', 'the facts travel with the note');
  fx.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: 63 }, Date.now(), NO_SENSOR);
  assert.ok(!('note' in (await deltaWith((h) => h.name === 'alpha' && h['cpu_pct'] === 63))));

  // A client that comes later has them in its snapshot. A snapshot may hold facts of a moment
  // between two ticks, so the next delta of each host says them again, to every client; the one
  // after leaves them out, for the new client as for the first.
  const late = await openStream(`${base}/api/events?view=overview`);
  t.after(() => late.close());
  const lateSnapshot = JSON.parse((await late.next((e) => e.event === 'hosts')).data) as { hosts: Host[] };
  assert.equal(lateSnapshot.hosts.find((h) => h.name === 'alpha')!['note'], 'temp_max_c: no sensor');
  fx.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: 64 }, Date.now(), NO_SENSOR);
  assert.ok((await late.next((e) => e.event === 'delta' && e.data.includes('"cpu_pct":64'))).data.includes('"note":"temp_max_c: no sensor"'));
  assert.equal((await deltaWith((h) => h.name === 'alpha' && h['cpu_pct'] === 64))['note'], 'temp_max_c: no sensor');
  fx.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: 66 }, Date.now(), NO_SENSOR);
  assert.ok(!(await late.next((e) => e.event === 'delta' && e.data.includes('"cpu_pct":66'))).data.includes('"note"'));
  assert.ok(!('note' in (await deltaWith((h) => h.name === 'alpha' && h['cpu_pct'] === 66))));

  // The plain stream is unchanged: every field, every time.
  const fullStream = await openStream(`${base}/api/events`);
  t.after(() => fullStream.close());
  await fullStream.next((e) => e.event === 'hosts');
  fx.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: 65 }, Date.now(), NO_SENSOR);
  const full = JSON.parse((await fullStream.next((e) => e.event === 'delta' && e.data.includes('"cpu_pct":65'))).data) as { hosts: Host[] };
  assert.equal(full.hosts[0]!['note'], 'temp_max_c: no sensor');
  assert.ok('received_at_ms' in full.hosts[0]! && 'load' in full.hosts[0]!);
});
