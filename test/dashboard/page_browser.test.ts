import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDashboardServer } from '../../dashboard/server.ts';
import { chromiumOrSkip, dumpDom, screenshot, startTags } from '../helpers/chromium.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { makeStore, type FixtureHost } from '../helpers/store_fixture.ts';

const HOSTILE = '<img src=x onerror=alert(1)>';
/** Long enough that online stays online however slow the browser is, ms. */
const INTERVAL_MS = 60_000;
const HOSTS: readonly FixtureHost[] = [
  { name: 'alpha', status: 'online', intervalMs: INTERVAL_MS },
  { name: 'beta', status: 'offline', intervalMs: INTERVAL_MS },
  { name: HOSTILE, status: 'stale' },
];
/** Virtual time the page runs before the dump: the page refreshes every PAGE_REFRESH_MS (1000). */
const VIRTUAL_TIME_BUDGET_MS = 5000;
/** Wall-clock bound on one chromium run, ms. */
const CHROMIUM_TIMEOUT_MS = 30_000;
/** Where the screenshot for a human goes; outside the repository. */
// Per process, so suites running side by side do not overwrite each other's picture.
const SCREENSHOT_FILE = join(tmpdir(), `sentinel-page-${process.pid}.png`);

interface Served {
  base: string;
  /** Requests for /api/hosts since the last reset. */
  apiRequests(): number;
  resetCount(): void;
}

async function serve(t: { after: (fn: () => Promise<void>) => void }, hosts: readonly FixtureHost[]): Promise<Served> {
  const server: Server = createDashboardServer(makeStore(hosts).store);
  let count = 0;
  // Runs before the dashboard's own listener: counts what the page's script asks for.
  server.prependListener('request', (req) => {
    if (req.method === 'GET' && new URL(req.url ?? '/', 'http://x').pathname === '/api/hosts') count++;
  });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return { base, apiRequests: () => count, resetCount: () => { count = 0; } };
}

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

test('page in chromium: renders hosts from /api/hosts, escapes names, refreshes itself', async (t) => {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return;
  const served = await serve(t, HOSTS);
  served.resetCount();
  const started = Date.now();
  const dom = await dumpDom(`${served.base}/`, { chromium, virtualTimeBudgetMs: VIRTUAL_TIME_BUDGET_MS, timeoutMs: CHROMIUM_TIMEOUT_MS });
  const requests = served.apiRequests();
  t.diagnostic(`chromium ran ${Date.now() - started} ms; the page fetched /api/hosts ${requests} times`);

  await t.test('one row per host, with its status, rendered by the script', () => {
    const rows = tableRows(dom);
    assert.deepEqual(rows.map((r) => r.host), [HOSTILE, 'alpha', 'beta'], 'rows in the API order');
    const want: Record<string, string> = { alpha: 'online', beta: 'offline', [HOSTILE]: 'stale' };
    for (const r of rows) {
      assert.equal(r.className, `status-${want[r.host]}`, r.host);
      // The name is a link to the host's page, its text escaped and its address percent-encoded.
      const link = `<a class="host-name" href="/hosts/${escapeHtml(encodeURIComponent(r.host))}">${escapeHtml(r.host)}</a>`;
      assert.ok(r.html.includes(link), `${r.host} name cell: ${r.html}`);
      assert.ok(r.html.includes(`<span class="status">${want[r.host]}</span>`), `${r.host} status cell`);
    }
    assert.match(rows[1]!.html, /42\.5 %/, 'alpha shows its CPU reading');
    assert.match(dom, /<p id="summary"[^>]*>3 hosts: 1 online, 1 stale, 1 offline<\/p>/);
    assert.match(dom, /<p id="live"[^>]*>live · updated [\d.]+ s ago<\/p>/);
    assert.match(dom, /<p id="error" class="warn" hidden(="")?><\/p>/, 'no error shown');
    assert.match(dom, /<p id="empty" hidden(="")?>/, 'the empty-fleet message is hidden');
  });

  await t.test('a hostile host name is text, never markup', () => {
    assert.ok(dom.includes('&lt;img src=x onerror=alert(1)&gt;'), 'the name appears escaped');
    const tags = startTags(dom);
    assert.ok(tags.length > 20, 'the tag scan sees the page');
    assert.deepEqual(tags.filter((tag) => tag.name === 'img'), [], 'no <img> element');
    const handlers = tags.flatMap((tag) => [...tag.attrs.keys()].filter((a) => a.startsWith('on')).map((a) => `${tag.name}[${a}]`));
    assert.deepEqual(handlers, [], 'no event-handler attribute');
  });

  await t.test('the page refreshes itself', () => {
    // One fetch at load, then one a second of virtual time: a page that fetched once and
    // stopped would be a frozen dashboard.
    assert.ok(requests >= 2, `the page fetched /api/hosts ${requests} times in ${VIRTUAL_TIME_BUDGET_MS} ms of virtual time`);
  });
});

test('page in chromium: an empty fleet says so', async (t) => {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return;
  const served = await serve(t, []);
  const dom = await dumpDom(`${served.base}/`, { chromium, virtualTimeBudgetMs: 1500, timeoutMs: CHROMIUM_TIMEOUT_MS });
  assert.deepEqual(tableRows(dom), []);
  assert.match(dom, /<p id="summary"[^>]*>0 hosts: 0 online, 0 stale, 0 offline<\/p>/);
  assert.match(dom, /<p id="empty">No agent has connected yet/, 'the empty-fleet message is shown');
});

test('page in chromium: screenshot for a human to look at', async (t) => {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return;
  const served = await serve(t, HOSTS);
  await screenshot(`${served.base}/`, SCREENSHOT_FILE, { chromium, width: 1280, height: 720, virtualTimeBudgetMs: 2000, timeoutMs: CHROMIUM_TIMEOUT_MS });
  const png = await readFile(SCREENSHOT_FILE);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [1280, 720], 'of the window size');
  t.diagnostic(`screenshot: ${SCREENSHOT_FILE} (${png.length} bytes)`);
});
