/**
 * The overview page in headless chromium, driven over the DevTools protocol (test/helpers/cdp.ts),
 * against a real dashboard server over a store filled through the collector's write path, and
 * for the live update a real collector fed by a raw agent connection. Checked against the DOM
 * contract: rows and statuses, hostile names as text under the CSP, sorting and filtering
 * remembered, the grid, thresholds and alerts, sparklines, SSE and its polling fallback, the
 * host page's charts, and screenshots (test-output/screenshots/) at desktop and phone widths.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { RequestListener, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import type { AlertFeed, EnergyInfo } from '../../dashboard/api.ts';
import { createDashboardServer } from '../../dashboard/server.ts';
import { loadConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/log.ts';
import { PROTO_VERSION, type PowerSource, type Readings } from '../../shared/protocol.ts';
import { launchBrowser, type Page } from '../helpers/cdp.ts';
import { chromiumOrSkip } from '../helpers/chromium.ts';
import { writeEnergy } from '../helpers/energy_fixture.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { RawClient } from '../helpers/net.ts';
import { FIXTURE_READINGS, makeStore, type FixtureHost, type StoreFixture } from '../helpers/store_fixture.ts';

const IMG = '<img src=x onerror=alert(1)>';
const SCRIPT = '<script>window.__pwned=1</script>';
/** Long enough that online stays online however slow the browser is, ms. */
const INTERVAL_MS = 60_000;
const GIB = 1024 ** 3;
/** A sample's readings, the others following the CPU so that every column and screenshot has something to show. */
const cpu = (cpu_pct: number): Readings => ({
  ...FIXTURE_READINGS, cpu_pct, net_rx_bps: Math.round(cpu_pct * 120_000), net_tx_bps: Math.round(cpu_pct * 30_000),
  temp_max_c: 38 + cpu_pct / 3, power_w: 90 + cpu_pct * 2,
  fs: [{ mount: '/', type: 'ext4', size_bytes: 200 * GIB, used_bytes: Math.round((60 + cpu_pct) * GIB), free_bytes: Math.round((140 - cpu_pct) * GIB) }],
});
/** The tariff the dashboard says the collector has: the header and rows show costs in euros. */
const EUR: EnergyInfo = { currency: 'EUR', timeZone: 'Europe/Paris', projectionDays: 30 };
/** Hosts whose power is measured (RAPL); the others' is estimated. */
const MEASURED = new Set(['db-1', 'hot-1', 'warm-1', 'batch-1']);
/** A sample's readings with the source of its watts. */
const sample = (name: string, cpuPct: number): Readings => {
  const source: PowerSource = MEASURED.has(name) ? 'measured' : 'estimated';
  return { ...cpu(cpuPct), power_source: source } as Readings;
};
/** Online hosts by CPU, all different, so any CPU order is one order. */
const ONLINE_CPU: ReadonlyArray<[string, number]> = [['web-1', 10], [IMG, 20], ['db-1', 45], [SCRIPT, 60], ['web-2', 80], ['warm-1', 93], ['hot-1', 97]];
const HOSTS: readonly FixtureHost[] = [
  ...ONLINE_CPU.map(([name, c]): FixtureHost => ({ name, status: 'online', intervalMs: INTERVAL_MS, readings: sample(name, c) })),
  { name: 'cache-1', status: 'stale', readings: sample('cache-1', 30) },
  { name: 'batch-1', status: 'offline', intervalMs: INTERVAL_MS, readings: sample('batch-1', 5) },
];
const STATUS: Readonly<Record<string, string>> = { ...Object.fromEntries(ONLINE_CPU.map(([n]) => [n, 'online'])), 'cache-1': 'stale', 'batch-1': 'offline' };
/** Seconds of history every online host has before the browser looks: the sparklines' whole window. */
const HISTORY_S = 900;
const FEED: AlertFeed = {
  version: 1,
  rules: [{ name: 'cpu_high', metric: 'cpu_pct', op: '>', threshold: 90, for_s: 300 }],
  alerts: [{ rule: 'cpu_high', host: 'hot-1', instance: '', metric: 'cpu_pct', op: '>', threshold: 90, for_s: 300, value: 97, state: 'firing', active_since_ms: Date.now() - 400_000, fired_at_ms: Date.now() - 100_000 }],
};
const BROWSER_TIMEOUT_MS = 60_000;
const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-output/screenshots/', import.meta.url));

/** Hosts of the visible rows, in order. */
const ROWS = `[...document.querySelectorAll('#hosts tbody tr[data-host]')].filter((tr) => tr.getClientRects().length > 0).map((tr) => tr.dataset.host)`;
/** An expression for `name`'s row (names are compared as data, not spliced into a selector). */
const row = (name: string): string => `[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(name)})`;
const cell = (name: string, col: string): string => `${row(name)}?.querySelector('td[data-col=${col}]')`;

interface Fixture {
  base: string;
  fixture: StoreFixture;
  /** GET /api/hosts requests so far. */
  hostsRequests(): number;
}

/** A dashboard server over the fixture store; `blockEvents` answers /api/events 503, as a full hub or a proxy that cuts streams. */
async function serve(t: TestContext, opts: { blockEvents?: boolean } = {}): Promise<Fixture> {
  const now = Date.now();
  const fixture = makeStore([], { nowMs: now - HISTORY_S * 1000 });
  // Online hosts get a sample a second for the whole window, wandering around their final CPU.
  for (const h of HOSTS) fixture.add(h, h.status === 'online' ? now - HISTORY_S * 1000 : now);
  ONLINE_CPU.forEach(([name, last], i) => {
    for (let s = HISTORY_S - 1; s >= 0; s--) {
      const wander = s === 0 ? 0 : 12 * Math.sin((s + i * 97) / 40) + 6 * Math.sin((s * (i + 3)) / 11);
      fixture.sample(name, { ...sample(name, Math.min(100, Math.max(0, last + wander))), mem_used_bytes: Math.round((2.5 + i * 0.6 + wander / 25) * GIB) }, now - s * 1000);
    }
  });
  // Energy as the collector counts it: ten hours today at the host's last watts, 0.25 EUR/kWh.
  HOSTS.forEach((h, i) => {
    const kwh = ((90 + (h.readings?.cpu_pct ?? 0) * 2) * 10) / 1000;
    writeEnergy(fixture.store, h.name, {
      today: [kwh, kwh * 0.25], month: [kwh * 21, kwh * 21 * 0.25], total: [kwh * 60, kwh * 60 * 0.25], sinceDays: 60,
      projection: i % 4 === 3 ? undefined : { month: [kwh * 30, kwh * 30 * 0.25], next: [kwh * 30, kwh * 30 * 0.25], days: 30 },
    }, { nowMs: now });
  });
  const server: Server = createDashboardServer(fixture.store, { feed: () => FEED, energy: EUR });
  // The dashboard's own handler, wrapped: count what the page asks for, and refuse the stream when told.
  const inner = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  let count = 0;
  server.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/api/hosts') count++;
    if (opts.blockEvents && path === '/api/events') {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no streams here\n');
      return;
    }
    for (const l of inner) l.call(server, req, res);
  });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return { base, fixture, hostsRequests: () => count };
}

/** A fresh browser (so a fresh localStorage) for one test, closed after it; null when skipped. */
async function openPage(t: TestContext, url: string, opts: { width?: number; height?: number; dark?: boolean } = {}): Promise<Page | null> {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return null;
  const browser = await launchBrowser({ chromium, timeoutMs: BROWSER_TIMEOUT_MS });
  t.after(() => browser.close());
  const page = await browser.newPage({ width: opts.width ?? 1280, height: opts.height ?? 800, dark: opts.dark ?? false });
  await page.goto(url);
  return page;
}

/** Waits for the table to show `n` rows. */
async function rowsShown(page: Page, n: number): Promise<string[]> {
  return page.waitFor<string[]>(`(() => { const r = ${ROWS}; return r.length === ${n} && r; })()`, 5000);
}

/** Console errors but the favicon the browser asks for by itself. */
function unexpectedErrors(page: Page): string[] {
  return page.consoleErrors().filter((e) => !/favicon\.ico/.test(e));
}

test('overview: every host is a row with its status, a link and a CPU cell; the fleet header counts', async (t) => {
  const { base } = await serve(t);
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  const shown = await rowsShown(page, HOSTS.length);
  assert.deepEqual([...shown].sort(), HOSTS.map((h) => h.name).sort());
  for (const h of HOSTS) {
    const r: { cls: string; link: string; href: string; cols: string[] } = await page.evaluate(`(() => { const tr = ${row(h.name)}; const a = tr.querySelector('td[data-col=name] a.host-name');
      return { cls: tr.className, link: a?.textContent, href: a?.getAttribute('href'), cols: [...tr.querySelectorAll('td[data-col]')].map((td) => td.dataset.col) }; })()`);
    assert.ok(r.cls.split(/\s+/).includes(`status-${STATUS[h.name]}`), `${h.name}: class "${r.cls}"`);
    assert.equal(r.link, h.name, 'the name as text');
    assert.equal(r.href, `/hosts/${encodeURIComponent(h.name)}`);
    for (const col of ['name', 'status', 'cpu', 'mem']) assert.ok(r.cols.includes(col), `${h.name} has td[data-col=${col}]: ${r.cols.join(',')}`);
  }
  const cpuText = await page.evaluate<string>(`${cell('db-1', 'cpu')}.textContent`);
  assert.match(cpuText, /(^|[^\d.])45(\.0)?\s*%/, `db-1's CPU cell: ${cpuText}`);
  const fleet = await page.waitFor<Record<string, string>>(`(() => { const f = Object.fromEntries([...document.querySelectorAll('#fleet [data-fleet]')].map((e) => [e.dataset.fleet, e.textContent])); return /\\b9\\b/.test(f.hosts ?? '') && f; })()`);
  for (const [k, n] of [['hosts', 9], ['online', 7], ['stale', 1], ['offline', 1]] as const) assert.match(fleet[k] ?? '', new RegExp(`\\b${n}\\b`), `[data-fleet=${k}]: ${JSON.stringify(fleet)}`);
  for (const k of ['cpu', 'memory', 'power', 'energy', 'cost', 'projected']) assert.ok(k in fleet, `[data-fleet=${k}] exists`);
  assert.match(fleet['cost'] ?? '', /^€\d+\.\d\d$/, 'the cost today in euros');
  assert.match(fleet['projected'] ?? '', /^€\d+\.\d\d$/, 'the month projected in euros');
  assert.match(fleet['power_detail'] ?? '', /^3 measured, 4 estimated$/, 'online hosts by the source of their watts');
  const renders = await page.waitFor<number>(`performance.getEntriesByName('sentinel-render').length`);
  assert.ok(renders >= 1, 'each render is measured as sentinel-render');
  assert.deepEqual(unexpectedErrors(page), []);
  assert.deepEqual(page.cspViolations(), []);
});

test('overview: hostile host names stay text and no script of theirs runs (CSP)', async (t) => {
  const { base } = await serve(t);
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await rowsShown(page, HOSTS.length);
  for (const name of [IMG, SCRIPT]) assert.equal(await page.evaluate(`${row(name)}.querySelector('a.host-name').textContent`), name);
  await page.click('button[data-view=grid]'); // the cards show the names too
  await page.waitFor(`document.querySelectorAll('#grid .card[data-host]').length === ${HOSTS.length}`);
  for (const name of [IMG, SCRIPT]) {
    assert.equal(await page.evaluate(`[...document.querySelectorAll('#grid .card')].find((c) => c.dataset.host === ${JSON.stringify(name)})?.textContent.includes(${JSON.stringify(name)})`), true, 'the card shows the name as text');
  }
  assert.equal(await page.evaluate('document.querySelectorAll("img").length'), 0, 'no <img> element');
  assert.equal(await page.evaluate('document.querySelectorAll("script").length'), 1, 'only the page\'s own script');
  assert.equal(await page.evaluate('[...document.querySelectorAll("*")].flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith("on"))).length'), 0, 'no handler attribute');
  assert.equal(await page.evaluate('typeof window.__pwned'), 'undefined');
  assert.deepEqual(unexpectedErrors(page), []);
  assert.deepEqual(page.cspViolations(), [], 'nothing even tried to run');

  // Were markup ever to slip in, the page's CSP must still stop it.
  await page.evaluate(`document.body.insertAdjacentHTML('beforeend', ${JSON.stringify(`${SCRIPT}<img src="/x" onerror="window.__pwned=2">`)}); document.body.append(Object.assign(document.createElement('script'), { textContent: 'window.__pwned = 3' }))`);
  await page.waitFor(`new Promise((r) => setTimeout(() => r(true), 200))`);
  assert.equal(await page.evaluate('typeof window.__pwned'), 'undefined', 'injected handler and script are refused');
  const directives = page.cspViolations().map((v) => v.directive);
  assert.ok(directives.includes('script-src-attr') || directives.includes('script-src'), `the handler is refused by the CSP: ${JSON.stringify(page.cspViolations())}`);
  assert.ok(directives.includes('script-src-elem') || directives.filter((d) => d === 'script-src').length >= 2, `the script element is refused by the CSP: ${JSON.stringify(page.cspViolations())}`);
});

test('overview: sort by CPU both ways; the choice survives a reload (URL) and a new visit (localStorage)', async (t) => {
  const { base } = await serve(t);
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await rowsShown(page, HOSTS.length);
  const byCpu = ONLINE_CPU.map(([n]) => n);
  /** The online hosts in the order shown (stale and offline ones may sit at either end). */
  const onlineOrder = async (): Promise<string[]> => (await page.evaluate<string[]>(ROWS)).filter((h) => STATUS[h] === 'online');
  const ariaSort = (): Promise<string> => page.evaluate<string>(`document.querySelector('#hosts th[data-col=cpu]').getAttribute('aria-sort')`);

  await page.click('th[data-col=cpu] button[data-sort=cpu]');
  const first = await page.waitFor<string>(`(() => { const s = document.querySelector('#hosts th[data-col=cpu]').getAttribute('aria-sort'); return (s === 'ascending' || s === 'descending') && s; })()`);
  const want = (dir: string): string[] => (dir === 'ascending' ? byCpu : [...byCpu].reverse());
  await page.waitFor(`JSON.stringify(${ROWS}.filter((h) => ${JSON.stringify(byCpu)}.includes(h))) === ${JSON.stringify(JSON.stringify(want(first)))}`, 3000)
    .catch(async () => assert.fail(`sorted ${first} by CPU: ${JSON.stringify(await onlineOrder())}`));

  await page.click('th[data-col=cpu] button[data-sort=cpu]');
  const second = first === 'ascending' ? 'descending' : 'ascending';
  await page.waitFor(`document.querySelector('#hosts th[data-col=cpu]').getAttribute('aria-sort') === ${JSON.stringify(second)}`, 3000);
  assert.deepEqual(await onlineOrder(), want(second), 'clicking the active key flips the direction');
  assert.equal(await page.evaluate(`document.querySelector('#hosts th[data-col=name]').getAttribute('aria-sort') ?? 'none'`), 'none', 'other columns are not sorted');

  const dir = second === 'ascending' ? 'asc' : 'desc';
  const search = new URLSearchParams(await page.evaluate<string>('location.search'));
  assert.deepEqual([search.get('sort'), search.get('dir')], ['cpu', dir], `the URL holds the choice: "${search.toString()}"`);
  const stored = await page.evaluate<string>('JSON.stringify(Object.fromEntries(Object.entries(localStorage)))');
  assert.ok(stored.includes('cpu') && stored.includes(dir), `localStorage holds the choice: ${stored}`);

  await page.goto(await page.evaluate<string>('location.href'));
  await rowsShown(page, HOSTS.length);
  assert.equal(await ariaSort(), second, 'after a reload');
  assert.deepEqual(await onlineOrder(), want(second), 'after a reload');

  await page.goto(`${base}/`);
  await rowsShown(page, HOSTS.length);
  assert.equal(await ariaSort(), second, 'a visit without a query uses localStorage');
  assert.deepEqual(await onlineOrder(), want(second));
});

test('overview: filter by name (case-insensitive) and by status hides rows', async (t) => {
  const { base } = await serve(t);
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await rowsShown(page, HOSTS.length);
  await page.type('#filter', 'WEB');
  assert.deepEqual((await rowsShown(page, 2)).sort(), ['web-1', 'web-2']);
  assert.equal(new URLSearchParams(await page.evaluate<string>('location.search')).get('q')?.toLowerCase(), 'web', 'the URL holds the filter');
  await page.type('#filter', '');
  await rowsShown(page, HOSTS.length);

  await page.select('#status-filter', 'offline');
  assert.deepEqual(await rowsShown(page, 1), ['batch-1']);
  await page.select('#status-filter', 'stale');
  assert.deepEqual(await rowsShown(page, 1), ['cache-1']);
  assert.equal(new URLSearchParams(await page.evaluate<string>('location.search')).get('status'), 'stale');
  await page.select('#status-filter', 'offline');
  await page.type('#filter', 'CH');
  assert.deepEqual(await rowsShown(page, 1), ['batch-1'], 'both filters at once (cache-1 matches the name but is stale)');
  await page.goto(await page.evaluate<string>('location.href'));
  assert.deepEqual(await rowsShown(page, 1), ['batch-1'], 'the filters survive a reload');
  assert.equal(await page.evaluate(`document.getElementById('filter').value`), 'CH');
  assert.equal(await page.evaluate(`document.getElementById('status-filter').value`), 'offline');
});

test('overview: grid view shows a card per host and is remembered', async (t) => {
  const { base } = await serve(t);
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await rowsShown(page, HOSTS.length);
  assert.equal(await page.evaluate(`document.querySelector('button[data-view=table]').getAttribute('aria-pressed')`), 'true');
  await page.click('button[data-view=grid]');
  const cards = await page.waitFor<string[]>(`(() => { const c = [...document.querySelectorAll('#grid .card[data-host]')].filter((e) => e.getClientRects().length > 0).map((e) => e.dataset.host); return c.length === ${HOSTS.length} && c; })()`);
  assert.deepEqual([...cards].sort(), HOSTS.map((h) => h.name).sort());
  assert.equal(await page.evaluate(`document.querySelector('button[data-view=grid]').getAttribute('aria-pressed')`), 'true');
  assert.equal(await page.evaluate(`document.querySelector('button[data-view=table]').getAttribute('aria-pressed')`), 'false');
  assert.equal(await page.evaluate(`document.getElementById('hosts').getClientRects().length`), 0, 'the table is hidden');
  const card = await page.evaluate<string>(`[...document.querySelectorAll('#grid .card')].find((c) => c.dataset.host === 'db-1').textContent`);
  assert.match(card, /(^|[^\d.])45(\.0)?\s*%/, `the card shows the CPU: ${card}`);
  assert.equal(new URLSearchParams(await page.evaluate<string>('location.search')).get('view'), null, 'a chosen layout is kept by this browser, not put in links');
  await page.goto(`${base}/`);
  await page.waitFor(`document.querySelectorAll('#grid .card[data-host]').length === ${HOSTS.length} && document.getElementById('hosts').getClientRects().length === 0`, 5000);
});

test('overview: values over a threshold are marked warn, firing alerts alert, and the banner lists them', async (t) => {
  const { base } = await serve(t);
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await rowsShown(page, HOSTS.length);
  const classes = (name: string): Promise<string[]> => page.evaluate<string[]>(`[...${cell(name, 'cpu')}.classList]`);
  await page.waitFor(`${cell('hot-1', 'cpu')}.classList.contains('alert')`, 3000).catch(async () => assert.fail(`hot-1 cpu classes: ${await classes('hot-1')}`));
  assert.ok((await classes('warm-1')).includes('warn'), `warm-1 (93 % > 90 %): ${await classes('warm-1')}`);
  assert.ok(!(await classes('warm-1')).includes('alert'), 'no alert fires on warm-1');
  assert.deepEqual(await classes('web-2').then((c) => c.filter((x) => x === 'warn' || x === 'alert')), [], 'web-2 at 80 % is fine');
  const banner = await page.evaluate<{ hidden: boolean; items: string[][] }>(`(() => { const b = document.getElementById('alerts-banner');
    return { hidden: b.hidden, items: [...b.querySelectorAll('li[data-alert-rule][data-alert-host]')].map((li) => [li.dataset.alertRule, li.dataset.alertHost]) }; })()`);
  assert.deepEqual(banner, { hidden: false, items: [['cpu_high', 'hot-1']] });
  // Read as a sentence, the rule's name after it (small) and in full in the tooltip.
  const item = await page.evaluate<{ text: string; title: string; rule: string; href: string }>(`(() => { const li = document.querySelector('#alerts-banner li[data-alert-rule]');
    return { text: li.innerText, title: li.title, rule: li.querySelector('.rule').textContent, href: li.querySelector('a.host-name').getAttribute('href') }; })()`);
  assert.match(item.text, /^hot-1: CPU 97\.0 % \(alert at > 90\.0 %\) · firing for \d+m \d+s cpu_high$/, item.text);
  assert.deepEqual([item.title, item.rule, item.href], ['cpu_high: cpu_pct > 90 for 5m', 'cpu_high', '/hosts/hot-1']);
});

test('overview: sparklines are SVG paths with data', async (t) => {
  const { base } = await serve(t);
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await rowsShown(page, HOSTS.length);
  const d = await page.waitFor<string>(`${row('web-1')}?.querySelector('svg.spark[data-series=cpu_pct] path')?.getAttribute('d')`, 5000);
  assert.match(d, /^M\s*[\d.]+[ ,][\d.]+/, `web-1's CPU sparkline: ${d}`);
  assert.ok(await page.evaluate(`!!${row('web-1')}.querySelector('svg.spark[data-series=mem_used_pct] path')?.getAttribute('d')`), 'and its memory one');
});

test('overview: a sample sent by an agent reaches the DOM within 2 s over SSE (real collector)', { timeout: 90_000 }, async (t) => {
  if (!chromiumOrSkip(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-overview-'));
  const token = 'overview-browser-token';
  const c = await startCollector(loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', token], {}).config, createLogger('test', 'error'));
  t.after(async () => { await c.stop(); rmSync(dir, { recursive: true, force: true }); });
  const agent = await RawClient.open(c.agentAddress.port);
  t.after(() => agent.close());
  agent.send({ type: 'hello', proto: PROTO_VERSION, host: 'live-1', agent: 'test', token, interval_ms: INTERVAL_MS });
  await agent.next('welcome', 10_000);
  agent.send({ type: 'sample', seq: 1, ts: Date.now(), ...cpu(12) });

  const page = await openPage(t, c.url);
  if (!page) return;
  await page.waitFor(`document.getElementById('live')?.dataset.mode === 'sse'`, 5000);
  await page.waitFor(`/(^|[^\\d.])12(\\.0)?\\s*%/.test(${cell('live-1', 'cpu')}?.textContent ?? '')`, 5000);
  const sentAt = Date.now();
  agent.send({ type: 'sample', seq: 2, ts: sentAt, ...cpu(73) });
  await page.waitFor(`/(^|[^\\d.])73(\\.0)?\\s*%/.test(${cell('live-1', 'cpu')}?.textContent ?? '')`, 2000, 20);
  t.diagnostic(`the sample reached the DOM ${Date.now() - sentAt} ms after the agent sent it`);
  assert.equal(await page.evaluate(`document.getElementById('live').dataset.mode`), 'sse', 'still on the stream');
  assert.match(await page.evaluate<string>(`document.getElementById('live').textContent`), /live · updated \d+(\.\d+)? s ago/);
  assert.deepEqual(unexpectedErrors(page), []);
});

test('overview: when /api/events is refused the page polls /api/hosts and still updates', { timeout: 90_000 }, async (t) => {
  const served = await serve(t, { blockEvents: true });
  const page = await openPage(t, `${served.base}/`);
  if (!page) return;
  await rowsShown(page, HOSTS.length);
  await page.waitFor(`document.getElementById('live')?.dataset.mode === 'poll'`, 5000);
  const before = served.hostsRequests();
  served.fixture.sample('db-1', cpu(61));
  // The poll runs every 2000 ms: the new value lands within one period and a little.
  await page.waitFor(`/(^|[^\\d.])61(\\.0)?\\s*%/.test(${cell('db-1', 'cpu')}?.textContent ?? '')`, 3500);
  await page.waitFor(`new Promise((r) => setTimeout(() => r(true), 2500))`, 4000);
  assert.ok(served.hostsRequests() - before >= 1, `the page polled (${served.hostsRequests() - before} requests)`);
  assert.equal(await page.evaluate(`document.getElementById('live').dataset.mode`), 'poll');
  // The refused stream is an expected error; anything else is not.
  assert.deepEqual(unexpectedErrors(page).filter((e) => !/api\/events|EventSource|503/.test(e)), []);
});

test('host page: draws its charts as SVG paths with data', async (t) => {
  const { base } = await serve(t);
  const page = await openPage(t, `${base}/hosts/web-1`, { height: 1600 });
  if (!page) return;
  const lines = await page.waitFor<string[]>(`(() => { const d = [...document.querySelectorAll('svg path')].map((p) => p.getAttribute('d') ?? '').filter((d) => /^M[\\d.]+,[\\d.]+L/.test(d)); return d.length > 0 && d; })()`, 8000);
  assert.ok(await page.evaluate<number>(`document.querySelectorAll('svg').length`) >= 7, 'a chart per family');
  assert.ok(lines.length >= 2, `CPU and memory at least have lines: ${lines.length}`);
  assert.equal(await page.evaluate(`document.getElementById('host-name').textContent`), 'web-1');
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const png = await page.screenshot(join(SCREENSHOT_DIR, 'detail.png'));
  assert.ok(png.length > 20_000, `detail.png is ${png.length} bytes`);
  // This dashboard has no collector behind it: /api/energy answers 503, and the page does without.
  assert.deepEqual(unexpectedErrors(page).filter((e) => !/\/api\/energy\?host=web-1\)$/.test(e)), []);
});

test('overview: screenshots light, dark and at 360 px; nothing overflows the phone width', async (t) => {
  const { base } = await serve(t);
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const shots: Array<{ file: string; width: number; height: number; dark: boolean; minBytes: number }> = [
    { file: 'overview-light.png', width: 1280, height: 800, dark: false, minBytes: 20_000 },
    { file: 'overview-dark.png', width: 1280, height: 800, dark: true, minBytes: 20_000 },
    { file: 'overview-narrow.png', width: 360, height: 780, dark: false, minBytes: 8_000 },
    // Every column in view: the picture for README (docs/overview.png).
    { file: 'overview-wide.png', width: 1600, height: 900, dark: false, minBytes: 20_000 },
  ];
  const backgrounds: string[] = [];
  for (const s of shots) {
    const page = await openPage(t, `${base}/`, s);
    if (!page) return;
    // A phone opens in the cards (overview.js NARROW_MEDIA).
    if (s.width === 360) await page.waitFor(`[...document.querySelectorAll('#grid .card[data-host]')].filter((c) => c.getClientRects().length > 0).length === ${HOSTS.length}`, 5000);
    else await rowsShown(page, HOSTS.length);
    await page.waitFor(`document.querySelector('[data-host="web-1"] svg.spark path')?.getAttribute('d')`, 5000).catch(() => {}); // a picture with sparklines if they come
    backgrounds.push(await page.evaluate<string>(`[getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.body).backgroundColor].join(' / ')`));
    const png = await page.screenshot(join(SCREENSHOT_DIR, s.file));
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [s.width, s.height], s.file);
    assert.ok(png.length > s.minBytes, `${s.file} is ${png.length} bytes`);
    if (s.width === 360) {
      const w = await page.evaluate<{ scroll: number; inner: number; wide: string[] }>(`({ scroll: document.documentElement.scrollWidth, inner: innerWidth,
        wide: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > innerWidth + 1 && !e.closest('.table-wrap, #grid')).slice(0, 5).map((e) => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className) })`);
      assert.ok(w.scroll <= w.inner, `the document is ${w.scroll} px wide in a ${w.inner} px viewport; too wide: ${w.wide.join(', ')}`);
    }
    assert.deepEqual(unexpectedErrors(page), [], s.file);
  }
  assert.notEqual(backgrounds[0], backgrounds[1], `the dark theme changes the background: ${backgrounds.join(' | ')}`);
  t.diagnostic(`screenshots in ${SCREENSHOT_DIR}`);
});

/** Hosts with the widest values each column shows, a typical one, and one offline for 12 days. */
async function serveWidest(t: TestContext): Promise<string> {
  const now = Date.now();
  const fixture = makeStore([], { nowMs: now - 60_000 });
  const widest = (name: string): void => {
    fixture.add({ name, status: 'online', intervalMs: INTERVAL_MS, readings: FIXTURE_READINGS }, now - 1000);
    fixture.sample(name, {
      ...FIXTURE_READINGS, cpu_pct: 99.5, mem_total_bytes: Math.round(125.7 * GIB), mem_used_bytes: Math.round(118.33 * GIB),
      net_rx_bps: Math.round(118.7 * 1024 ** 2), net_tx_bps: Math.round(987.6 * 1024), temp_max_c: 101.5, power_w: 1234.5, power_source: 'measured', uptime_s: 400 * 86_400,
      fs: [{ mount: '/srv/backups-with-a-long-name', type: 'ext4', size_bytes: Math.round(15.9 * 1024 * GIB), used_bytes: Math.round(14.2 * 1024 * GIB), free_bytes: Math.round(0.9 * 1024 * GIB) }],
    } as Readings, now - 500);
    writeEnergy(fixture.store, name, { today: [28.813, 7.2], month: [300, 70], total: [3000, 700], sinceDays: 60 }, { nowMs: now });
  };
  widest('db-primary-01.example.internal');
  fixture.add({ name: 'laptop', status: 'online', intervalMs: INTERVAL_MS, readings: FIXTURE_READINGS }, now - 1000);
  // A 16 GB machine: "4.58/15.6 GiB" was cut short in the memory column.
  fixture.sample('laptop', { ...FIXTURE_READINGS, cpu_pct: 7.25, mem_total_bytes: Math.round(15.62 * GIB), mem_used_bytes: Math.round(4.58 * GIB), power_w: 12.3, power_source: 'estimated' } as Readings, now - 500);
  writeEnergy(fixture.store, 'laptop', { today: [0.1234, 0.031], month: [3, 0.7], total: [30, 7], sinceDays: 60 }, { nowMs: now });
  fixture.add({ name: 'old-box', status: 'offline', intervalMs: INTERVAL_MS, readings: FIXTURE_READINGS }, now - 12.2 * 86_400_000);
  const server = createDashboardServer(fixture.store, { feed: () => FEED, energy: EUR });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return base;
}

test('overview at laptop widths: every value whole, no cell spilling into the next; from 1366 px no sideways scroll', async (t) => {
  const base = await serveWidest(t);
  for (const width of [1280, 1366, 1440, 1920]) {
    const page = await openPage(t, `${base}/`, { width, height: 800 });
    if (!page) return;
    await rowsShown(page, 3);
    const m = await page.evaluate<{ scroll: number; client: number; name: number; clipped: string[]; spilled: string[]; ages: string[] }>(`(() => {
      const wrap = document.getElementById('table-wrap');
      // Figures are never cut short; a mount point (disk) may end in an ellipsis.
      const clipped = [...document.querySelectorAll('#hosts tbody td:is([data-col=mem], [data-col=net]) .u')].filter((u) => u.textContent && u.scrollWidth > u.clientWidth)
        .map((u) => u.closest('td').dataset.col + ': ' + u.textContent);
      const spilled = [...document.querySelectorAll('#hosts tbody td')].filter((td) => td.dataset.col !== 'name' && td.scrollWidth > td.clientWidth)
        .map((td) => td.dataset.col + ': ' + td.textContent + ' (' + td.scrollWidth + ' > ' + td.clientWidth + ')');
      const ages = [...document.querySelectorAll('#hosts tbody td[data-col=age]')].map((td) => td.textContent);
      return { scroll: wrap.scrollWidth, client: wrap.clientWidth, name: document.querySelector('#hosts th[data-col=name]').getBoundingClientRect().width, clipped, spilled, ages };
    })()`);
    assert.ok(m.ages.includes('12d 4h'), `the offline host's age is days long: ${m.ages.join(', ')}`);
    assert.deepEqual(m.clipped, [], `${width} px: figures cut short`);
    assert.deepEqual(m.spilled, [], `${width} px: cells wider than their column`);
    if (width >= 1366) {
      assert.ok(m.scroll <= m.client, `${width} px: the table is ${m.scroll} px wide in ${m.client}`);
      assert.ok(m.name >= (width >= 1440 ? 150 : 100), `${width} px: the name column is ${m.name} px`);
    }
  }
});
