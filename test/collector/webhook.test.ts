/** collector/webhook.ts against real node:http receivers on loopback, with small timeouts. */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import type { AlertTransition } from '../../collector/alerts.ts';
import { WebhookNotifier, type WebhookOptions } from '../../collector/webhook.ts';
import { createLogger } from '../../shared/log.ts';
import { SENTINEL_VERSION } from '../../shared/version.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { waitFor } from '../helpers/net.ts';

interface Received { method: string; url: string; headers: IncomingHttpHeaders; body: string }

/**
 * A receiver: `answer` gets each request (numbered from 0) and its response; it may answer,
 * or not (to hang). Bodies are recorded in arrival order.
 */
async function receiver(answer: (n: number, res: ServerResponse, body: string) => void = (_n, res) => res.end('ok')) {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      got.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      answer(got.length - 1, res, body);
    });
  });
  const url = await listenLoopback(server);
  return { url, got, close: () => closeServer(server) };
}

function capture() {
  const lines: string[] = [];
  return { lines, log: createLogger('collector', 'debug', (l) => lines.push(l)) };
}

function transition(status: 'firing' | 'resolved', rule = 'cpu_high', host = 'web-1'): AlertTransition {
  const alert = {
    rule, host, instance: '', metric: 'cpu_pct', op: '>' as const, threshold: 90, for_s: 300, value: 97.5,
    state: 'firing' as const, active_since_ms: 1000, fired_at_ms: 301_000,
  };
  return status === 'firing' ? { status, alert, at_ms: 301_000 } : { status, alert: { ...alert, resolved_at_ms: 400_000 }, at_ms: 400_000 };
}

const FAST: WebhookOptions = { timeoutMs: 500, retries: 3, backoffMs: 10 };

test('POST with the contract body and headers; the path and query are kept', async () => {
  const r = await receiver((_n, res) => res.writeHead(204).end());
  const { log } = capture();
  const n = new WebhookNotifier([`${r.url}/hooks/alert?token=s3cret`], log, { ...FAST, now: () => 123_456 });
  try {
    const t = transition('resolved');
    n.notify(t);
    await waitFor('delivery', () => n.stats().delivered === 1);
    assert.equal(r.got.length, 1);
    const req = r.got[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/hooks/alert?token=s3cret');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['user-agent'], `cluster-sentinel/${SENTINEL_VERSION}`);
    assert.equal(Number(req.headers['content-length']), Buffer.byteLength(req.body));
    assert.deepEqual(JSON.parse(req.body), { status: 'resolved', alert: t.alert, collector: { version: SENTINEL_VERSION }, sent_at_ms: 123_456 });
    assert.equal(JSON.parse(req.body).alert.resolved_at_ms, 400_000);
    assert.deepEqual(n.stats(), { delivered: 1, failed: 0, dropped: 0, queued: 0 });
  } finally {
    await n.close(100);
    await r.close();
  }
});

test('status codes: 2xx delivered; 408, 429, 5xx retried with backoff; other codes failed at once', async () => {
  const cases: Array<{ name: string; codes: number[]; requests: number; delivered: number; failed: number }> = [
    { name: '500 twice then 200: the third try', codes: [500, 500, 200], requests: 3, delivered: 1, failed: 0 },
    { name: '429, 408, 503, then 201', codes: [429, 408, 503, 201], requests: 4, delivered: 1, failed: 0 },
    { name: '500 beyond the retries: failed after 1 + 3 tries', codes: [500, 500, 500, 500, 200], requests: 4, delivered: 0, failed: 1 },
    { name: '404 is not retried', codes: [404, 200], requests: 1, delivered: 0, failed: 1 },
    { name: '400 is not retried', codes: [400, 200], requests: 1, delivered: 0, failed: 1 },
    { name: 'a redirect is not followed', codes: [302, 200], requests: 1, delivered: 0, failed: 1 },
  ];
  for (const c of cases) {
    const r = await receiver((i, res) => res.writeHead(c.codes[i] ?? 200).end('x'.repeat(100)));
    const { log, lines } = capture();
    const n = new WebhookNotifier([r.url], log, FAST);
    try {
      const start = Date.now();
      n.notify(transition('firing'));
      await waitFor(c.name, () => n.stats().delivered + n.stats().failed === 1);
      await new Promise((res) => setTimeout(res, 50)); // no stray request after the outcome
      assert.equal(r.got.length, c.requests, c.name);
      assert.deepEqual(n.stats(), { delivered: c.delivered, failed: c.failed, dropped: 0, queued: 0 }, c.name);
      // Backoff 10, 20, 40 ms before tries 2, 3, 4.
      const minWait = [0, 0, 10, 30, 70][c.requests]!;
      assert.ok(Date.now() - start >= minWait, `${c.name}: backed off`);
      if (c.failed) assert.ok(lines.some((l) => l.includes('webhook delivery failed') && l.includes(`reason="HTTP ${c.codes[0]}"`)), `${c.name}: logged`);
    } finally {
      await n.close(100);
      await r.close();
    }
  }
});

test('the backoff doubles from backoffMs between tries', async () => {
  const at: number[] = [];
  const r = await receiver((_i, res) => { at.push(performance.now()); res.writeHead(503).end(); });
  const { log } = capture();
  const n = new WebhookNotifier([r.url], log, { timeoutMs: 500, retries: 3, backoffMs: 40 });
  try {
    n.notify(transition('firing'));
    await waitFor('failed', () => n.stats().failed === 1, 3000);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    assert.equal(gaps.length, 3);
    [40, 80, 160].forEach((min, i) => assert.ok(gaps[i]! >= min - 1, `gap ${i + 1}: ${gaps[i]!.toFixed(1)} ms, want >= ${min}`));
    // Jitter is at most 10 %; the rest of the bound is room for a loaded machine's timers.
    assert.ok(gaps[2]! < 160 * 1.1 + 1000, `gap 3: ${gaps[2]!.toFixed(1)} ms, jitter is small`);
  } finally {
    await n.close(100);
    await r.close();
  }
});

test('a receiver that never answers: timeout and retry, while notify() returns at once', async () => {
  const r = await receiver(() => { /* never answers */ });
  const { log } = capture();
  const n = new WebhookNotifier([r.url], log, { timeoutMs: 500, retries: 1, backoffMs: 10, maxQueue: 100_000 });
  try {
    n.notify(transition('firing'));
    await waitFor('first request', () => r.got.length === 1);
    const calls = 20_000;
    const t = transition('firing');
    let worst = 0;
    const start = performance.now();
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      n.notify(t);
      worst = Math.max(worst, performance.now() - t0);
    }
    const meanMs = (performance.now() - start) / calls;
    // Bounds loose enough for a loaded 2-core machine, yet far below the receiver's timeout: a
    // notify() that waited on the hanging request would take 500 ms.
    assert.ok(meanMs < 1, `mean notify() ${meanMs.toFixed(4)} ms`);
    assert.ok(worst < 250, `slowest notify() ${worst.toFixed(2)} ms`);
    await waitFor('the retry after the timeout', () => r.got.length === 2, 3000);
    await waitFor('failed after the retry', () => n.stats().failed === 1, 3000);
    assert.equal(n.stats().queued, calls, 'the rest waits its turn');
  } finally {
    const t0 = Date.now();
    await n.close(50);
    assert.ok(Date.now() - t0 < 1000);
    await r.close();
  }
});

test('a dead port counts failed after the retries; the log shows the origin only', async () => {
  const r = await receiver();
  const url = r.url;
  await r.close();
  const { log, lines } = capture();
  const n = new WebhookNotifier([`${url}/x?token=TOPSECRET`], log, { timeoutMs: 500, retries: 2, backoffMs: 10 });
  try {
    n.notify(transition('firing'));
    await waitFor('failure', () => n.stats().failed === 1);
    assert.deepEqual(n.stats(), { delivered: 0, failed: 1, dropped: 0, queued: 0 });
    assert.equal(lines.filter((l) => l.includes('will retry')).length, 2, 'two retries');
    const failed = lines.find((l) => l.includes('webhook delivery failed'));
    assert.ok(failed, lines.join(''));
    assert.match(failed, /reason=ECONNREFUSED/);
    assert.match(failed, / attempts=3 /);
    assert.ok(failed.includes(`url=${url} `), failed);
    assert.ok(lines.every((l) => !l.includes('TOPSECRET') && !l.includes('/x')), 'no path or query in the log');
  } finally {
    await n.close(100);
  }
});

test('a full queue drops its oldest entry and counts it', async () => {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => { release = resolve; });
  const r = await receiver((i, res) => { if (i === 0) void held.then(() => res.end()); else res.end(); });
  const { log, lines } = capture();
  const n = new WebhookNotifier([r.url], log, { ...FAST, timeoutMs: 5000, maxQueue: 3 });
  try {
    n.notify(transition('firing', 'r0'));
    await waitFor('first in flight', () => r.got.length === 1);
    for (let i = 1; i <= 6; i++) n.notify(transition('firing', `r${i}`));
    assert.deepEqual(n.stats(), { delivered: 0, failed: 0, dropped: 3, queued: 4 });
    assert.equal(lines.filter((l) => l.includes('queue full')).length, 1, 'one log line per overflow, not per drop');
    release();
    await waitFor('the rest', () => n.stats().delivered === 4);
    assert.deepEqual(r.got.map((g) => JSON.parse(g.body).alert.rule), ['r0', 'r4', 'r5', 'r6']);
    assert.deepEqual(n.stats(), { delivered: 4, failed: 0, dropped: 3, queued: 0 });
  } finally {
    release();
    await n.close(100);
    await r.close();
  }
});

test('a full queue drops from the host with the most waiting: one host\'s churning alerts never push out another\'s', async () => {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => { release = resolve; });
  const r = await receiver((i, res) => { if (i === 0) void held.then(() => res.end()); else res.end(); });
  const { log } = capture();
  const n = new WebhookNotifier([r.url], log, { ...FAST, timeoutMs: 5000, maxQueue: 10 });
  try {
    n.notify(transition('firing', 'fs_full', 'churner'));
    await waitFor('first in flight', () => r.got.length === 1);
    // The churner fires and resolves 64 alerts a round; the database's alert comes in the middle of it.
    for (let i = 0; i < 30; i++) n.notify(transition(i % 2 === 0 ? 'firing' : 'resolved', `fs_full_${i}`, 'churner'));
    n.notify(transition('firing', 'cpu_busy', 'db'));
    for (let i = 30; i < 60; i++) n.notify(transition(i % 2 === 0 ? 'firing' : 'resolved', `fs_full_${i}`, 'churner'));
    n.notify(transition('resolved', 'cpu_busy', 'db'));
    assert.equal(n.stats().queued, 11, 'ten waiting and one in flight');
    release();
    await waitFor('the queue drained', () => n.stats().queued === 0);
    const sent = r.got.map((g) => { const b = JSON.parse(g.body); return `${b.status} ${b.alert.host} ${b.alert.rule}`; });
    assert.ok(sent.includes('firing db cpu_busy') && sent.includes('resolved db cpu_busy'), `the database's alert went out: ${sent.join(', ')}`);
    assert.ok(sent.indexOf('firing db cpu_busy') < sent.indexOf('resolved db cpu_busy'), 'in order');
    // What the churner kept is its newest, in order.
    assert.deepEqual(sent.filter((x) => x.includes('churner')).slice(1), Array.from({ length: 8 }, (_, k) => `${(52 + k) % 2 === 0 ? 'firing' : 'resolved'} churner fs_full_${52 + k}`));
    assert.deepEqual(n.stats(), { delivered: 11, failed: 0, dropped: 52, queued: 0 });
  } finally {
    release();
    await n.close(100);
    await r.close();
  }
});

test('order is kept: firing before resolved even when the firing needs a retry', async () => {
  const r = await receiver((i, res) => res.writeHead(i === 0 ? 503 : 200).end());
  const { log } = capture();
  const n = new WebhookNotifier([r.url], log, FAST);
  try {
    n.notify(transition('firing', 'a'));
    n.notify(transition('resolved', 'a'));
    n.notify(transition('firing', 'b'));
    await waitFor('all three', () => n.stats().delivered === 3);
    assert.deepEqual(r.got.map((g) => { const b = JSON.parse(g.body); return `${b.status} ${b.alert.rule}`; }), ['firing a', 'firing a', 'resolved a', 'firing b']);
  } finally {
    await n.close(100);
    await r.close();
  }
});

test('each URL has its own queue: a hanging receiver does not delay another', async () => {
  const slow = await receiver(() => { /* never answers */ });
  const fast = await receiver();
  const { log } = capture();
  const n = new WebhookNotifier([slow.url, fast.url], log, { ...FAST, timeoutMs: 5000 });
  try {
    for (let i = 0; i < 5; i++) n.notify(transition('firing', `r${i}`));
    await waitFor('the fast receiver gets all five', () => fast.got.length === 5, 2000);
    assert.equal(slow.got.length, 1, 'the slow one is still on its first');
    assert.deepEqual(n.stats(), { delivered: 5, failed: 0, dropped: 0, queued: 5 });
  } finally {
    await n.close(50);
    await slow.close();
    await fast.close();
  }
});

test('close(): bounded, stops retries, counts what it gives up', async () => {
  // In flight at close: waited for at most the bound, then cut (failed); the queue is dropped.
  const hang = await receiver(() => { /* never answers */ });
  const { log } = capture();
  const n = new WebhookNotifier([hang.url], log, { ...FAST, timeoutMs: 10_000 });
  n.notify(transition('firing', 'a'));
  n.notify(transition('firing', 'b'));
  await waitFor('in flight', () => hang.got.length === 1);
  const t0 = Date.now();
  await n.close(100);
  const took = Date.now() - t0;
  assert.ok(took >= 90 && took < 1000, `close took ${took} ms`);
  assert.deepEqual(n.stats(), { delivered: 0, failed: 1, dropped: 1, queued: 0 });
  n.notify(transition('firing', 'c'));
  assert.deepEqual(n.stats(), { delivered: 0, failed: 1, dropped: 2, queued: 0 }, 'after close: dropped');
  await hang.close();

  // Waiting for a retry at close: the retry never happens.
  const err = await receiver((_i, res) => res.writeHead(500).end());
  const n2 = new WebhookNotifier([err.url], log, { ...FAST, backoffMs: 600 });
  n2.notify(transition('firing'));
  await waitFor('first try', () => err.got.length === 1);
  await new Promise((res) => setTimeout(res, 20));
  const t1 = Date.now();
  await n2.close(1000);
  // Well under the 600 ms backoff: close did not wait for the retry.
  assert.ok(Date.now() - t1 < 400, 'nothing in flight: close returns at once');
  await new Promise((res) => setTimeout(res, 900));
  assert.equal(err.got.length, 1, 'no retry after close');
  assert.deepEqual(n2.stats(), { delivered: 0, failed: 1, dropped: 0, queued: 0 });
  await err.close();

  // A retryable failure landing while close() waits is not retried.
  const late = await receiver((_i, res) => { setTimeout(() => res.writeHead(500).end(), 50); });
  const n4 = new WebhookNotifier([late.url], log, { ...FAST, backoffMs: 10 });
  n4.notify(transition('firing'));
  await waitFor('in flight', () => late.got.length === 1);
  await n4.close(2000);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(late.got.length, 1, 'no retry after close');
  assert.deepEqual(n4.stats(), { delivered: 0, failed: 1, dropped: 0, queued: 0 });
  await late.close();

  // A quick answer in flight is waited for and counted delivered.
  const slowOk = await receiver((_i, res) => { setTimeout(() => res.end(), 50); });
  const n3 = new WebhookNotifier([slowOk.url], log, FAST);
  n3.notify(transition('firing'));
  await waitFor('in flight', () => slowOk.got.length === 1);
  await n3.close(2000);
  assert.deepEqual(n3.stats(), { delivered: 1, failed: 0, dropped: 0, queued: 0 });
  await slowOk.close();
});

test('a receiver streaming an endless body is cut; its status stands', async () => {
  const r = await receiver((_i, res) => {
    res.writeHead(200);
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const pump = (): void => { while (res.write(chunk)) { /* fill */ } res.once('drain', pump); };
    res.on('error', () => {});
    pump();
  });
  const { log } = capture();
  const n = new WebhookNotifier([r.url], log, { ...FAST, timeoutMs: 3000 });
  try {
    const t0 = Date.now();
    n.notify(transition('firing'));
    await waitFor('delivered', () => n.stats().delivered === 1, 2000);
    assert.ok(Date.now() - t0 < 1500, 'not waiting for the timeout');
  } finally {
    await n.close(100);
    await r.close();
  }
});
