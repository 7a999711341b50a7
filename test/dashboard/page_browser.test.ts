/**
 * The overview page in headless chromium, driven over the DevTools protocol (test/helpers/cdp.ts:
 * the page holds an event stream open, which a --virtual-time-budget run would wait on for
 * ever), against a real dashboard server over a fixture store. The script renders every host with
 * its name as text, keeps the page current (pushed over /api/events, polled when the stream is
 * refused), says so when the fleet is empty, and stays cheap at 500 hosts: one element per host,
 * kept across updates. overview_browser.test.ts checks the rest of the DOM contract.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { RequestListener, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDashboardServer } from '../../dashboard/server.ts';
import { openPage } from '../helpers/cdp.ts';
import { injectedMarkup, startTags } from '../helpers/chromium.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { FIXTURE_READINGS, makeStore, type FixtureHost, type StoreFixture } from '../helpers/store_fixture.ts';

const HOSTILE = '<img src=x onerror=alert(1)>';
/** Long enough that online stays online however slow the browser is, ms. */
const INTERVAL_MS = 60_000;
const HOSTS: readonly FixtureHost[] = [
  { name: 'alpha', status: 'online', intervalMs: INTERVAL_MS },
  { name: 'beta', status: 'offline', intervalMs: INTERVAL_MS },
  { name: HOSTILE, status: 'stale' },
];
/** Hosts for the cost of a render: the fleet size the overview is built for. */
const BIG_FLEET = 500;
/** Wall-clock bound on one browser, ms. */
/** Where the screenshot for a human goes; outside the repository, per process. */
const SCREENSHOT_FILE = join(tmpdir(), `sentinel-page-${process.pid}.png`);

interface Served {
  base: string;
  fixture: StoreFixture;
  /** Requests for `path` so far. */
  requests(path: string): number;
}

/** A dashboard over `hosts`; with `refuseEvents`, /api/events answers 404 as a collector without the stream would. */
async function serve(t: TestContext, hosts: readonly FixtureHost[], opts: { refuseEvents?: boolean; capacity?: number } = {}): Promise<Served> {
  const fixture = makeStore(hosts, { capacity: opts.capacity ?? 16 });
  const server: Server = createDashboardServer(fixture.store);
  const inner = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  const counts = new Map<string, number>();
  server.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    if (opts.refuseEvents && path === '/api/events') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    for (const l of inner) l.call(server, req, res);
  });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return { base, fixture, requests: (path) => counts.get(path) ?? 0 };
}

const rowCount = `document.querySelectorAll('#hosts tbody tr').length`;
const cpuText = (name: string): string => `[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(name)})?.querySelector('td[data-col=cpu]')?.textContent ?? ''`;

interface Row {
  host: string;
  className: string;
  html: string;
}

function tableRows(dom: string): Row[] {
  const tbody = /<tbody>([\s\S]*?)<\/tbody>/.exec(dom);
  assert.ok(tbody, 'the table has a tbody');
  return [...tbody[1]!.matchAll(/<tr\b[^>]*>[\s\S]*?<\/tr>/g)].map((m) => {
    const tr = startTags(m[0])[0]!;
    return { host: tr.attrs.get('data-host') ?? '', className: tr.attrs.get('class') ?? '', html: m[0] };
  });
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

test('page in chromium: renders hosts from the API, names as text, links encoded', async (t) => {
  const served = await serve(t, HOSTS);
  const page = await openPage(t, `${served.base}/`);
  if (!page) return;
  await page.waitFor(`${rowCount} === 3 && document.getElementById('live').dataset.mode === 'sse'`, 5000);
  const dom = await page.evaluate<string>('document.documentElement.outerHTML');

  await t.test('one row per host, in name order, with its status', () => {
    const rows = tableRows(dom);
    assert.deepEqual(rows.map((r) => r.host), [HOSTILE, 'alpha', 'beta'], 'sorted by name, punctuation first');
    const want: Record<string, string> = { alpha: 'online', beta: 'offline', [HOSTILE]: 'stale' };
    for (const r of rows) {
      assert.equal(r.className, `status-${want[r.host]}`, r.host);
      // The name is a link to the host's page, its text escaped and its address percent-encoded.
      const link = startTags(r.html).find((tag) => tag.name === 'a');
      assert.equal(link?.attrs.get('class'), 'host-name', r.host);
      assert.equal(link?.attrs.get('href'), `/hosts/${encodeURIComponent(r.host)}`, r.host);
      assert.ok(r.html.includes(`>${escapeHtml(r.host)}</a>`), `${r.host} name cell: ${r.html}`);
      assert.ok(r.html.includes(`<span class="status">${want[r.host]}</span>`), `${r.host} status cell`);
    }
    assert.match(rows[1]!.html, /42\.5 %/, 'alpha shows its CPU reading');
  });

  await t.test('the fleet header, the live indicator and no error', async () => {
    const fleet = await page.evaluate<Record<string, string>>(`Object.fromEntries([...document.querySelectorAll('#fleet [data-fleet]')].map((e) => [e.dataset.fleet, e.textContent]))`);
    assert.deepEqual([fleet['hosts'], fleet['online'], fleet['stale'], fleet['offline']], ['3', '1', '1', '1']);
    assert.equal(fleet['cost'], '–', 'no cost yet');
    assert.match(dom, /<p id="live"[^>]*>live · updated [\d.]+ s ago<\/p>/);
    assert.match(dom, /<p id="error" class="warn" hidden(="")?><\/p>/, 'no error shown');
    assert.match(dom, /<p id="empty" hidden(="")?>/, 'the empty-fleet message is hidden');
  });

  await t.test('a hostile host name is text, never markup', () => {
    assert.ok(dom.includes(escapeHtml(HOSTILE)), 'the name appears escaped');
    assert.ok(startTags(dom).length > 50, 'the tag scan sees the page');
    assert.deepEqual(injectedMarkup(dom), [], 'no <img>, no second script, no handler attribute');
  });
});

test('page in chromium: a new sample shows without reloading, pushed over /api/events', async (t) => {
  const served = await serve(t, HOSTS);
  const page = await openPage(t, `${served.base}/`);
  if (!page) return;
  await page.waitFor(`document.getElementById('live').dataset.mode === 'sse' && /42\\.5 %/.test(${cpuText('alpha')})`, 5000);
  served.fixture.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: 77.5 });
  await page.waitFor(`/77\\.5 %/.test(${cpuText('alpha')})`, 3000);
  assert.equal(served.requests('/api/hosts'), 0, 'the stream\'s snapshot was the first list: no /api/hosts, no polling');
  assert.ok(served.requests('/api/events') >= 1);
});

test('page in chromium: without /api/events the page polls /api/hosts and says so', async (t) => {
  const served = await serve(t, HOSTS, { refuseEvents: true });
  const page = await openPage(t, `${served.base}/`);
  if (!page) return;
  await page.waitFor(`document.getElementById('live').dataset.mode === 'poll' && ${rowCount} === 3`, 5000);
  const before = served.requests('/api/hosts');
  served.fixture.sample('alpha', { ...FIXTURE_READINGS, cpu_pct: 61.5 });
  await page.waitFor(`/61\\.5 %/.test(${cpuText('alpha')})`, 4000);
  // A page that fetched once and stopped would be a frozen dashboard.
  await page.waitFor(`new Promise((r) => setTimeout(() => r(true), 2200))`, 4000);
  assert.ok(served.requests('/api/hosts') - before >= 2, `polled ${served.requests('/api/hosts') - before} times in about 4 s`);
  assert.match(await page.evaluate<string>(`document.getElementById('live').textContent`), /^live · updated [\d.]+ s ago$/);
  assert.equal(await page.evaluate(`document.getElementById('error').hidden`), true, 'a missing stream is not an error');
});

test('page in chromium: an empty fleet says so', async (t) => {
  const served = await serve(t, []);
  const page = await openPage(t, `${served.base}/`);
  if (!page) return;
  await page.waitFor(`document.getElementById('fleet').querySelector('[data-fleet=hosts]').textContent === '0'`, 5000);
  assert.equal(await page.evaluate(rowCount), 0);
  assert.equal(await page.evaluate(`document.getElementById('empty').hidden`), false, 'the empty-fleet message is shown');
  assert.match(await page.evaluate<string>(`document.getElementById('empty').textContent`), /^No agent has connected yet/);
  assert.equal(await page.evaluate(`document.getElementById('no-match').hidden`), true, 'not a filter that matches nothing');
});

test(`page in chromium: ${BIG_FLEET} hosts, every one changing each second, keep their elements and their order`, { timeout: 90_000 }, async (t) => {
  const names = Array.from({ length: BIG_FLEET }, (_, i) => `node-${String(i).padStart(3, '0')}`);
  const served = await serve(t, names.map((name) => ({ name, status: 'online', intervalMs: INTERVAL_MS })), { capacity: BIG_FLEET });
  let round = 0;
  const timer = setInterval(() => {
    round++;
    names.forEach((name, i) => served.fixture.sample(name, { ...FIXTURE_READINGS, cpu_pct: (i * 37 + round * 11) % 1000 / 10 }));
  }, 1000);
  t.after(() => clearInterval(timer));
  const page = await openPage(t, `${served.base}/?sort=cpu&dir=desc`, { width: 1920, height: 1080 });
  if (!page) return;
  await page.waitFor(`${rowCount} === ${BIG_FLEET} && document.getElementById('live').dataset.mode === 'sse'`, 15_000);
  // Each row element is marked; a page that rebuilt its rows would lose the marks.
  await page.evaluate(`for (const tr of document.querySelectorAll('#hosts tbody tr')) tr.__kept = true; performance.clearMeasures('sentinel-render')`);
  const start = round;
  await page.waitFor(`new Promise((r) => setTimeout(() => r(true), 6000))`, 10_000);
  // The rows near the screen (data-pin: the page's IntersectionObserver) show one moment's
  // values in their order; a row further away is drawn as it comes near.
  const seen = `(() => {
    const rows = [...document.querySelectorAll('#hosts tbody tr')];
    const near = rows.filter((tr) => tr.dataset.pin !== undefined);
    return { rows: rows.length, kept: rows.filter((tr) => tr.__kept).length, first: rows.indexOf(near[0]),
      cpu: near.map((tr) => parseFloat(tr.querySelector('td[data-col=cpu] .v').textContent)),
      renders: performance.getEntriesByName('sentinel-render').map((e) => e.duration).sort((a, b) => a - b) }; })()`;
  const sorted = (cpu: number[]): boolean => cpu.every((v, i) => i === 0 || v <= cpu[i - 1]!);
  const r = await page.evaluate<{ rows: number; kept: number; first: number; cpu: number[]; renders: number[] }>(seen);
  assert.ok(round - start >= 4, 'the fleet changed several times meanwhile');
  assert.deepEqual([r.rows, r.kept], [BIG_FLEET, BIG_FLEET], 'the same row element per host throughout');
  assert.ok(r.cpu.length >= 20 && r.first === 0, `the rows near the top of the screen are marked (${r.cpu.length} from row ${r.first})`);
  assert.ok(sorted(r.cpu), `rows on screen stay sorted by CPU, busiest first, as values change: ${r.cpu.join(' ')}`);
  // A new order redraws the rows near the screen, not all 500: the rows whose CPU text changed
  // between two renders (every host's CPU changes every second here).
  const redrawn = await page.evaluate<number>(`new Promise((resolve) => {
    const tbody = document.querySelector('#hosts tbody');
    const changed = new Set();
    const take = (list) => {
      for (const m of list) {
        const el = m.target.nodeType === 3 ? m.target.parentElement : m.target;
        if (el !== tbody && el.closest('td[data-col=cpu]')) changed.add(el.closest('tr'));
      }
    };
    const watch = new MutationObserver(take);
    const renders = () => performance.getEntriesByName('sentinel-render').length;
    const from = renders();
    const wait = () => {
      if (renders() === from + 1 && !watch.started) { watch.started = true; changed.clear(); watch.observe(tbody, { subtree: true, characterData: true, childList: true }); }
      if (renders() >= from + 2) { take(watch.takeRecords()); watch.disconnect(); resolve(changed.size); return; }
      setTimeout(wait, 5);
    };
    wait();
  })`);
  t.diagnostic(`${redrawn} of ${BIG_FLEET} rows drawn again for a new order`);
  assert.ok(redrawn > 0 && redrawn < BIG_FLEET / 2, `${redrawn} of ${BIG_FLEET} rows drawn again for a new order`);
  // Half way down the table, rows that were far from the screen: drawn as they came near,
  // and in order with their neighbours.
  await page.evaluate(`window.scrollTo(0, document.querySelector('#hosts tbody tr:nth-child(250)').getBoundingClientRect().top + scrollY)`);
  await page.waitFor(`new Promise((r) => setTimeout(() => r(true), 1500))`, 5000);
  const mid = await page.evaluate<{ first: number; cpu: number[] }>(seen);
  assert.ok(mid.first > 150 && mid.cpu.length >= 20, `rows half way down are near the screen now (${mid.cpu.length} from row ${mid.first})`);
  assert.ok(sorted(mid.cpu), `rows half way down are sorted too: ${mid.cpu.join(' ')}`);
  assert.ok(r.renders.length >= 3, `renders measured: ${r.renders.length}`);
  const at = (q: number): number => r.renders[Math.min(r.renders.length - 1, Math.floor(q * r.renders.length))]!;
  t.diagnostic(`render of ${BIG_FLEET} hosts (sentinel-render), ms: median ${at(0.5).toFixed(1)}, p95 ${at(0.95).toFixed(1)}, max ${at(1).toFixed(1)} over ${r.renders.length} renders`);
  // Loose: a shared CI machine is slow; this catches a render that grew with the square of the fleet.
  assert.ok(at(0.5) < 250, `median render ${at(0.5).toFixed(1)} ms`);
});

test('page in chromium: screenshot for a human to look at', async (t) => {
  const served = await serve(t, HOSTS);
  const page = await openPage(t, `${served.base}/`, { width: 1280, height: 720 });
  if (!page) return;
  await page.waitFor(`${rowCount} === 3`, 5000);
  const png = await page.screenshot(SCREENSHOT_FILE);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [1280, 720], 'of the window size');
  t.diagnostic(`screenshot: ${SCREENSHOT_FILE} (${png.length} bytes)`);
});
