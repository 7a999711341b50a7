/**
 * The overview page applies `delta` events in headless chromium: a real dashboard server whose
 * stream sends no snapshot after the first, a store written through the collector's write path,
 * and a value that changes in its row with no snapshot and no /api/hosts request in between.
 * Hostile names stay text.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { test, type TestContext } from 'node:test';
import { EMPTY_ALERT_FEED, NO_ENERGY_INFO } from '../../dashboard/api.ts';
import { hostsJsonOf } from '../../dashboard/hosts_json.ts';
import { createDashboardServer } from '../../dashboard/server.ts';
import { openPage } from '../helpers/cdp.ts';
import { closeServer, listenLoopback, tapWrites } from '../helpers/http_client.ts';
import { FIXTURE_READINGS, makeStore } from '../helpers/store_fixture.ts';

const IMG = '<img src=x onerror=window.__pwned=1>';
const INTERVAL_MS = 60_000;
const cell = (name: string, col: string): string =>
  `[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(name)})?.querySelector('td[data-col=${col}]')?.textContent ?? ''`;

test('overview: a delta event changes its host\'s row in place, without a snapshot', async (t) => {
  const fx = makeStore([
    { name: 'web-1', status: 'online', intervalMs: INTERVAL_MS, readings: { ...FIXTURE_READINGS, cpu_pct: 10 } },
    { name: IMG, status: 'online', intervalMs: INTERVAL_MS, readings: { ...FIXTURE_READINGS, cpu_pct: 20 } },
  ]);
  let hostsRequests = 0;
  // Snapshots only on connect: whatever changes afterwards arrives as a delta.
  const server: Server = createDashboardServer(fx.store, { events: { tickMs: 25, minGapMs: 600_000, maxGapMs: 600_000 } });
  server.prependListener('request', (req) => { if (req.url === '/api/hosts') hostsRequests++; });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await page.waitFor(`document.getElementById('live').dataset.mode === 'sse' && document.querySelectorAll('#hosts tbody tr[data-host]').length === 2`, 15_000);
  assert.match(await page.evaluate<string>(cell('web-1', 'cpu')), /^10(\.0)?\s?%$/);
  const requestsBefore = hostsRequests;
  const rendersBefore = await page.evaluate<number>(`performance.getEntriesByName('sentinel-render').length`);

  fx.sample('web-1', { ...FIXTURE_READINGS, cpu_pct: 87.5 }, Date.now());
  fx.sample(IMG, { ...FIXTURE_READINGS, cpu_pct: 66 }, Date.now());
  await page.waitFor(`(${cell('web-1', 'cpu')}).startsWith('87.5') && (${cell(IMG, 'cpu')}).startsWith('66')`, 10_000);

  assert.equal(hostsRequests, requestsBefore, 'no /api/hosts request: the delta did it');
  assert.equal(await page.evaluate<number>(`performance.getEntriesByName('sentinel-render').length`), rendersBefore, 'no whole render: the rows changed in place');
  assert.ok(await page.evaluate<number>(`performance.getEntriesByName('sentinel-delta').length`) >= 1);
  // The hostile name is a row's text, never markup.
  assert.equal(await page.evaluate<boolean>(`window.__pwned === undefined && document.querySelectorAll('#hosts img').length === 0`), true);
  assert.equal(await page.evaluate<string>(`[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(IMG)}).querySelector('td[data-col=name]').textContent.trim()`), IMG);
  assert.deepEqual(page.cspViolations(), []);
});

test('overview: a row far from the screen is drawn when it comes near, and rows are drawn from deltas at most four times a second', async (t) => {
  const names = Array.from({ length: 120 }, (_, i) => `web-${String(i).padStart(3, '0')}`);
  const fx = makeStore(names.map((name) => ({ name, status: 'online' as const, intervalMs: INTERVAL_MS, readings: { ...FIXTURE_READINGS, cpu_pct: 10 } })), { capacity: 128 });
  const server: Server = createDashboardServer(fx.store, { events: { tickMs: 25, minGapMs: 600_000, maxGapMs: 600_000 } });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  const row = (name: string): string => `[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(name)})`;
  const top = names[0]!;
  const far = names[names.length - 1]!;
  // Rows near the screen carry data-pin (set by the page's IntersectionObserver); the last of
  // 120 rows, ~3,800 px down an 800 px window, does not.
  await page.waitFor(`document.getElementById('live').dataset.mode === 'sse' && document.querySelectorAll('#hosts tbody tr[data-host]').length === 120
    && ${row(top)}.dataset.pin !== undefined && ${row(far)}.dataset.pin === undefined`, 15_000);

  fx.sample(top, { ...FIXTURE_READINGS, cpu_pct: 87.5 }, Date.now());
  fx.sample(far, { ...FIXTURE_READINGS, cpu_pct: 66 }, Date.now());
  await page.waitFor(`(${cell(top, 'cpu')}).startsWith('87.5')`, 10_000);
  // Both came in the same delta: the row no one can see was left for later...
  assert.match(await page.evaluate<string>(cell(far, 'cpu')), /^10(\.0)?\s?%$/, 'a row far from the screen is not drawn at each delta');
  // ...and is drawn as it comes near, with no new sample.
  await page.evaluate(`${row(far)}.scrollIntoView()`);
  await page.waitFor(`(${cell(far, 'cpu')}).startsWith('66')`, 10_000);
  await page.evaluate(`window.scrollTo(0, 0)`);
  await page.waitFor(`${row(top)}.dataset.pin !== undefined`, 10_000);

  // A sample every 25 ms for 2 s, each of a row on screen: one delta each, but the rows are
  // drawn at most once every 250 ms.
  const before = await page.evaluate<number>(`performance.getEntriesByName('sentinel-delta').length`);
  for (let k = 0; k < 80; k++) {
    fx.sample(names[k % 10]!, { ...FIXTURE_READINGS, cpu_pct: 20 + (k % 50) }, Date.now());
    await new Promise((r) => setTimeout(r, 25));
  }
  await page.waitFor(`(${cell(names[9]!, 'cpu')}).startsWith('${20 + (79 % 50)}')`, 10_000);
  const starts = await page.evaluate<number[]>(`performance.getEntriesByName('sentinel-delta').slice(${before}).map((e) => e.startTime)`);
  assert.ok(starts.length >= 2, `rows were drawn from the deltas (${starts.length} frames)`);
  const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
  assert.ok(Math.min(...gaps) >= 245, `frames ${gaps.map((g) => g.toFixed(0)).join(', ')} ms apart: at least 250 ms`);
  assert.deepEqual(page.cspViolations(), []);
});

test('overview: the page\'s stream (?view=overview) leaves a host\'s facts and note out of its deltas, and the row keeps them, or takes new ones when they change', async (t) => {
  const fx = makeStore([
    { name: 'web-1', status: 'online', intervalMs: INTERVAL_MS, missing: { gpu: 'no GPU found' }, readings: { ...FIXTURE_READINGS, cpu_pct: 10 } },
  ]);
  const server: Server = createDashboardServer(fx.store, { events: { tickMs: 25, minGapMs: 600_000, maxGapMs: 600_000 } });
  const streams: string[] = [];
  server.prependListener('request', (req) => { if (req.url?.startsWith('/api/events')) streams.push(req.url); });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  const title = `document.querySelector('#hosts tbody tr[data-host="web-1"] a')?.title ?? ''`;
  await page.waitFor(`document.getElementById('live').dataset.mode === 'sse' && document.querySelectorAll('#hosts tbody tr[data-host]').length === 1`, 15_000);
  assert.deepEqual(streams, ['/api/events?view=overview'], 'the page asks for its own view');
  assert.match(await page.evaluate<string>(title), /Debian GNU\/Linux 12[\s\S]*missing: gpu: no GPU found/);
  // Samples whose deltas leave the facts out: the tooltip keeps them.
  for (const cpu of [31, 32, 33]) {
    fx.sample('web-1', { ...FIXTURE_READINGS, cpu_pct: cpu }, Date.now(), { gpu: 'no GPU found' });
    await page.waitFor(`(${cell('web-1', 'cpu')}).startsWith('${cpu}')`, 10_000);
  }
  assert.match(await page.evaluate<string>(title), /Debian GNU\/Linux 12[\s\S]*missing: gpu: no GPU found/);
  // A new note comes with the next delta.
  fx.sample('web-1', { ...FIXTURE_READINGS, cpu_pct: 44 }, Date.now(), { temp_max_c: 'no sensor' });
  await page.waitFor(`(${cell('web-1', 'cpu')}).startsWith('44')`, 10_000);
  await page.waitFor(`/missing: temp_max_c: no sensor/.test(${title}) && !/gpu/.test(${title})`, 10_000);
  assert.deepEqual(page.cspViolations(), []);
});

/**
 * A dashboard server whose first `/api/events` request (the page's stream) is held unanswered
 * until `releaseStream()`, and whose first `/api/hosts` request is held too when `holdHosts`,
 * until answered through `hostsHeld()`: a proxy that holds the stream back, a slow link.
 */
function heldServer(store: Parameters<typeof createDashboardServer>[0], holdHosts: boolean) {
  const server: Server = createDashboardServer(store, { events: { tickMs: 25, minGapMs: 600_000, maxGapMs: 600_000 } });
  const inner = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  server.removeAllListeners('request');
  const pass = (req: IncomingMessage, res: ServerResponse): void => { for (const l of inner) l.call(server, req, res); };
  let stream: [IncomingMessage, ServerResponse] | null = null;
  let streamSeen = false;
  let released = false;
  let hosts: ServerResponse | null = null;
  let hostsAt = 0;
  let hostsCount = 0;
  let streamAt = 0;
  let aborted = false;
  let abortedAt = 0;
  server.on('request', (req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path === '/api/events' && !streamSeen && !released) { streamSeen = true; streamAt = Date.now(); stream = [req, res]; return; }
    if (path === '/api/hosts') hostsCount++;
    if (path === '/api/hosts' && hostsAt === 0) {
      hostsAt = Date.now();
      if (holdHosts) {
        hosts = res;
        res.on('close', () => { if (!res.writableFinished) { aborted = true; abortedAt = Date.now(); } });
        return;
      }
    }
    pass(req, res);
  });
  return {
    server,
    releaseStream(): void { released = true; if (stream) pass(...stream); stream = null; },
    /** Date.now() of the first /api/hosts request; 0: none yet. */
    hostsAt: () => hostsAt,
    /** Date.now() when the held stream request came; 0: none yet. */
    streamAt: () => streamAt,
    hostsCount: () => hostsCount,
    hostsHeld: () => hosts,
    hostsAborted: () => aborted,
    /** Date.now() when the page gave the held /api/hosts request up; 0: not yet. */
    hostsAbortedAt: () => abortedAt,
  };
}

test('overview: the stream\'s snapshot is the first list; while it is held back, /api/hosts is fetched after 3 s', async (t) => {
  const fx = makeStore([{ name: 'web-1', status: 'online', intervalMs: INTERVAL_MS, readings: { ...FIXTURE_READINGS, cpu_pct: 10 } }]);
  const h = heldServer(fx.store, false);
  const base = await listenLoopback(h.server);
  t.after(() => closeServer(h.server));
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await page.waitFor(`document.querySelectorAll('#hosts tbody tr[data-host]').length === 1`, 15_000);
  assert.ok(h.streamAt() > 0 && h.hostsAt() - h.streamAt() >= 2000, `/api/hosts asked for ${h.hostsAt() - h.streamAt()} ms after the stream was opened: only once its snapshot was late`);
  assert.match(await page.evaluate<string>(cell('web-1', 'cpu')), /^10(\.0)?\s?%$/, 'the row from /api/hosts');
  assert.notEqual(await page.evaluate<string>(`document.getElementById('live').dataset.mode`), 'sse');
  // The stream comes through: it takes over, and no further /api/hosts is asked for.
  h.releaseStream();
  await page.waitFor(`document.getElementById('live').dataset.mode === 'sse'`, 10_000);
  fx.sample('web-1', { ...FIXTURE_READINGS, cpu_pct: 55 }, Date.now());
  await page.waitFor(`(${cell('web-1', 'cpu')}).startsWith('55')`, 10_000);
  assert.equal(await page.evaluate<boolean>(`document.getElementById('error').hidden`), true);
  assert.equal(h.hostsCount(), 1, 'one /api/hosts, and no polling once the stream took over');
});

test('overview: a snapshot the page cannot read: the page polls /api/hosts, and a fresh stream takes over later', { timeout: 60_000 }, async (t) => {
  const fx = makeStore([{ name: 'web-1', status: 'online', intervalMs: INTERVAL_MS, readings: { ...FIXTURE_READINGS, cpu_pct: 10 } }]);
  const server: Server = createDashboardServer(fx.store, { events: { tickMs: 25, minGapMs: 600_000, maxGapMs: 600_000 } });
  let hostsRequests = 0;
  let streams = 0;
  let broken = false;
  server.prependListener('request', (req, res) => {
    if (req.url === '/api/hosts') hostsRequests++;
    if (!req.url?.startsWith('/api/events')) return;
    streams++;
    if (broken) return;
    // The first snapshot's JSON loses its first brace.
    tapWrites(res, (text) => {
      if (broken || text === null || !text.includes('event: hosts\ndata: {')) return undefined;
      broken = true;
      return text.replace('event: hosts\ndata: {', 'event: hosts\ndata: ');
    });
  });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await page.waitFor(`document.querySelectorAll('#hosts tbody tr[data-host]').length === 1 && document.getElementById('live').dataset.mode === 'poll'`, 10_000);
  assert.ok(broken, 'the snapshot was broken');
  assert.ok(hostsRequests >= 1, 'the list from /api/hosts');
  // The stream is tried again (15 s later): its snapshot is whole, and it takes over.
  await page.waitFor(`document.getElementById('live').dataset.mode === 'sse'`, 30_000);
  assert.equal(streams, 2);
  const polls = hostsRequests;
  fx.sample('web-1', { ...FIXTURE_READINGS, cpu_pct: 64 }, Date.now());
  await page.waitFor(`(${cell('web-1', 'cpu')}).startsWith('64')`, 10_000);
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(hostsRequests, polls, 'no polling once the stream took over');
  assert.equal(await page.evaluate<boolean>(`document.getElementById('error').hidden`), true);
});

test('overview: polling on a slow link: an /api/hosts answer whose body takes longer than 5 s is still taken', { timeout: 60_000 }, async (t) => {
  const fx = makeStore([{ name: 'web-1', status: 'online', intervalMs: INTERVAL_MS, readings: { ...FIXTURE_READINGS, cpu_pct: 10 } }]);
  const server: Server = createDashboardServer(fx.store);
  const inner = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  server.removeAllListeners('request');
  const BODY_MS = 6500;
  let answered = 0;
  server.on('request', (req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    // No stream here (a proxy that cuts them): the page polls.
    if (path === '/api/events') { res.writeHead(503, { 'content-type': 'text/plain' }).end('no streams\n'); return; }
    if (path !== '/api/hosts') { for (const l of inner) l.call(server, req, res); return; }
    // Every answer starts at once and takes BODY_MS to finish, as 13 MiB over a slow link.
    const body = hostsJsonOf(fx.store).payloadJson(Date.now(), EMPTY_ALERT_FEED, NO_ENERGY_INFO);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
    res.write(body.subarray(0, 10));
    const timer = setTimeout(() => { answered++; res.end(body.subarray(10)); }, BODY_MS);
    res.on('close', () => clearTimeout(timer));
  });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await page.waitFor(`document.querySelectorAll('#hosts tbody tr[data-host]').length === 1 && document.getElementById('live').dataset.mode === 'poll'`, 20_000);
  assert.ok(answered >= 1);
  assert.match(await page.evaluate<string>(cell('web-1', 'cpu')), /^10(\.0)?\s?%$/);
  assert.equal(await page.evaluate<boolean>(`document.getElementById('error').hidden`), true, 'no error: the answer was coming');
});

test('overview: an /api/hosts request still on its way when the stream takes over is aborted, and nothing of it is applied over newer deltas', async (t) => {
  const fx = makeStore([{ name: 'web-1', status: 'online', intervalMs: INTERVAL_MS, readings: { ...FIXTURE_READINGS, cpu_pct: 10 } }]);
  // The stream is held back until the page has asked for /api/hosts; that answer is held (a 13
  // MiB answer on a slow link). The page aborts it once the stream's snapshot is in; were it
  // given anyway, with the list as of a moment after the snapshot but before a newer delta, only
  // the page's knowing that the stream took over could keep it out.
  const h = heldServer(fx.store, true);
  const base = await listenLoopback(h.server);
  t.after(() => closeServer(h.server));
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  const deadline = Date.now() + 10_000;
  while (h.hostsHeld() === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(h.hostsHeld() !== null, 'the page asked for /api/hosts while the stream was held');
  h.releaseStream();
  await page.waitFor(`document.getElementById('live').dataset.mode === 'sse' && document.querySelectorAll('#hosts tbody tr[data-host]').length === 1`, 15_000);
  const body = hostsJsonOf(fx.store).payloadJson(Date.now(), EMPTY_ALERT_FEED, NO_ENERGY_INFO);
  fx.sample('web-1', { ...FIXTURE_READINGS, cpu_pct: 77 }, Date.now());
  await page.waitFor(`(${cell('web-1', 'cpu')}).startsWith('77')`, 10_000);
  const deadline2 = Date.now() + 3000;
  while (!h.hostsAborted() && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.hostsAborted(), true, 'the page gave up the request once the stream took over');
  assert.ok(h.hostsAbortedAt() - h.hostsAt() < 4500, `given up ${h.hostsAbortedAt() - h.hostsAt()} ms after it was asked: by the snapshot, not the page's own 5 s limit`);
  if (!h.hostsHeld()!.destroyed) h.hostsHeld()!.writeHead(200, { 'content-type': 'application/json' }).end(body);
  // Time for the page to take it in, had it wanted to.
  await new Promise((r) => setTimeout(r, 1000));
  assert.match(await page.evaluate<string>(cell('web-1', 'cpu')), /^77/, 'the delta\'s value stays');
  assert.equal(await page.evaluate<boolean>(`document.getElementById('error').hidden`), true);
});

/**
 * Samples every 400 ms whose CPU reverses the order each round, with a status event every 200
 * ms; from `switchAfter` rounds on (0: from the start, the page opened sorted by CPU), a
 * MutationObserver checks at every DOM change that the rows near the screen (data-pin) show
 * CPU in falling order. `switchAfter` > 0: the page starts in name order, busy drawing rows
 * from deltas, and is switched to CPU order then.
 */
async function sortedCheck(t: TestContext, switchAfter: number): Promise<void> {
  const N = 30;
  const names = Array.from({ length: N }, (_, i) => `h-${String(i).padStart(2, '0')}`);
  // Round r gives host i a CPU that reverses the order of the round before.
  const cpuOf = (i: number, r: number): number => (r % 2 === 0 ? i : N - 1 - i) + r / 100;
  const fx = makeStore(names.map((name, i) => ({ name, status: 'online' as const, intervalMs: INTERVAL_MS, readings: { ...FIXTURE_READINGS, cpu_pct: cpuOf(i, 0) } })), { capacity: N });
  // A status event every 200 ms: several fall between a delta and the next whole render.
  const server: Server = createDashboardServer(fx.store, { events: { tickMs: 25, statusGapMs: 200, minGapMs: 600_000, maxGapMs: 600_000 } });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const page = await openPage(t, `${base}/${switchAfter === 0 ? '?sort=cpu&dir=desc' : ''}`, { width: 1280, height: 2400 });
  if (!page) return;
  await page.waitFor(`document.getElementById('live').dataset.mode === 'sse' && document.querySelectorAll('#hosts tbody tr[data-host]').length === ${N}`, 15_000);
  const observe = `(() => {
    window.__unsorted = [];
    window.__checks = 0;
    const tbody = document.querySelector('#hosts tbody');
    new MutationObserver(() => {
      window.__checks++;
      const cpu = [...tbody.querySelectorAll('tr[data-pin]')].map((tr) => parseFloat(tr.querySelector('td[data-col=cpu] .v').textContent));
      if (cpu.some((v, i) => i > 0 && v > cpu[i - 1]) && window.__unsorted.length < 5) window.__unsorted.push(cpu.join(' '));
    }).observe(tbody, { subtree: true, childList: true, characterData: true });
  })()`;
  // Switched in one task with the observer's start: the new order is drawn before the task ends.
  const toCpu = `(() => { const s = document.getElementById('sort-key'); s.value = 'cpu'; s.dispatchEvent(new Event('change')); ${observe}; })()`;
  if (switchAfter === 0) await page.evaluate(observe);
  // New values every 400 ms: each delta lands within a second of the last whole render, so it
  // waits for the next one while status events come and go.
  let k = 0;
  const write = (): void => { k++; names.forEach((name, i) => fx.sample(name, { ...FIXTURE_READINGS, cpu_pct: cpuOf(i, k) }, Date.now())); };
  const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));
  const ROUNDS = 10 + switchAfter;
  for (let r = 1; r <= ROUNDS; r++) {
    write();
    if (r === switchAfter) {
      // A second delta soon after the first: its rows wait ~200 ms for their frame (four a
      // second at most). The switch comes meanwhile, then a third delta, whose values that
      // waiting frame would draw into the new order.
      await sleep(60);
      write();
      await sleep(60);
      await page.evaluate(toCpu);
      await sleep(30);
      write();
    }
    await sleep(400);
  }
  // The last values, in their order, in the end.
  const top = k % 2 === 0 ? names[N - 1]! : names[0]!;
  await page.waitFor(`document.querySelector('#hosts tbody tr[data-host]').dataset.host === ${JSON.stringify(top)}
    && parseFloat(document.querySelector('#hosts tbody tr td[data-col=cpu] .v').textContent) === ${Math.round(cpuOf(k % 2 === 0 ? N - 1 : 0, k) * 10) / 10}`, 10_000);
  const seen = await page.evaluate<{ unsorted: string[]; checks: number; pinned: number }>(`({ unsorted: window.__unsorted, checks: window.__checks, pinned: document.querySelectorAll('#hosts tbody tr[data-pin]').length })`);
  assert.ok(seen.pinned >= 10 && seen.checks >= 2, `the check saw the rows change (${seen.checks} changes, ${seen.pinned} rows near the screen)`);
  assert.deepEqual(seen.unsorted, [], 'rows near the screen in CPU order after every change');
}

test('overview: sorted by CPU, the rows on screen never show newer values in an older order, however deltas and status events interleave', { timeout: 60_000 }, (t) => sortedCheck(t, 0));

test('overview: switched from name order to CPU order while rows from deltas wait to be drawn, they are not drawn in the new order with newer values', { timeout: 60_000 }, (t) => sortedCheck(t, 2));
