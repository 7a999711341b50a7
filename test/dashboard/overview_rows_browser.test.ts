/**
 * The overview draws at most PAGE_ROWS rows (dashboard/static/overview.js pageModel) and a
 * "Show more" button for the rest, in headless chromium against a real dashboard server over a
 * store of more hosts than that: the first rows of the sorted, filtered list are drawn and no
 * others are in the DOM; the count and the button say how many are left; the button draws more;
 * sorting and filtering reach any host and start from the first rows again; focus moves to the
 * first row the button drew; cards follow the same cap and the table's rows leave the DOM; a
 * sample for a drawn host reaches its row over the stream, one for a host not drawn breaks nothing.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { test, type TestContext } from 'node:test';
import { createDashboardServer } from '../../dashboard/server.ts';
import { PAGE_ROWS } from '../../dashboard/static/overview.js';
import type { Readings } from '../../shared/protocol.ts';
import { launchBrowser, type Page } from '../helpers/cdp.ts';
import { chromiumOrSkip } from '../helpers/chromium.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { FIXTURE_READINGS, makeStore, type StoreFixture } from '../helpers/store_fixture.ts';

/** More hosts than the page draws at first. */
const HOSTS = PAGE_ROWS + 120;
/** Long enough that every host stays online however slow the browser is, ms. */
const INTERVAL_MS = 60_000;
const name = (i: number): string => `node-${String(i).padStart(4, '0')}`;
const readings = (cpu: number): Readings => ({ ...FIXTURE_READINGS, cpu_pct: cpu });

/** Hosts of the drawn table rows, in order (every tr[data-host] in the DOM, drawn or not). */
const ROWS = `[...document.querySelectorAll('#hosts tbody tr[data-host]')].map((tr) => tr.dataset.host)`;
const STATE = `({ rows: ${ROWS}, count: document.getElementById('shown').textContent,
  more: document.getElementById('more-rows').hidden ? null : document.getElementById('show-more').textContent })`;

interface Shown { rows: string[]; count: string; more: string | null }

async function serve(t: TestContext): Promise<{ base: string; fixture: StoreFixture; server: Server }> {
  const now = Date.now();
  const fixture = makeStore([], { capacity: HOSTS, nowMs: now - 300_000 });
  // Host i in slot i - 1.
  for (let i = 1; i <= HOSTS; i++) fixture.add({ name: name(i), status: 'online', intervalMs: INTERVAL_MS, readings: readings(i % 100) }, now);
  const server: Server = createDashboardServer(fixture.store);
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return { base, fixture, server };
}

async function openPage(t: TestContext, url: string): Promise<Page | null> {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return null;
  const browser = await launchBrowser({ chromium, timeoutMs: 60_000 });
  t.after(() => browser.close());
  const page = await browser.newPage({ width: 1280, height: 800 });
  await page.goto(url);
  return page;
}

/** Waits until the page shows `rows` rows (and, when given, this first row), then what it shows. */
function shown(page: Page, rows: number, first?: string): Promise<Shown> {
  return page.waitFor<Shown>(`(() => { const s = ${STATE}; return s.rows.length === ${rows} && (${JSON.stringify(first ?? null)} === null || s.rows[0] === ${JSON.stringify(first ?? null)}) && s; })()`, 15_000);
}

test(`overview: ${HOSTS} hosts draw the first ${PAGE_ROWS} rows and a "Show more" for the rest; sort, filter and the button reach every host`, { timeout: 120_000 }, async (t) => {
  const { base, fixture } = await serve(t);
  const page = await openPage(t, `${base}/`);
  if (!page) return;

  const first = await shown(page, PAGE_ROWS, name(1));
  assert.deepEqual(first.rows, Array.from({ length: PAGE_ROWS }, (_, i) => name(i + 1)), 'the first rows by name, and no other row in the DOM');
  assert.equal(first.count, `${PAGE_ROWS} of ${HOSTS} shown`);
  assert.equal(first.more, `Show 120 more (120 not shown)`);

  // Sorted the other way, the last names come first: the cap applies to the sorted list.
  await page.click('#sort-dir');
  const desc = await shown(page, PAGE_ROWS, name(HOSTS));
  assert.equal(desc.rows.at(-1), name(HOSTS - PAGE_ROWS + 1));

  // A sample for a drawn host reaches its row over the stream; one for a host not drawn is harmless.
  fixture.sample(name(1), readings(3), Date.now());
  fixture.sample(name(HOSTS), readings(77), Date.now());
  const cpuCell = (host: string): string => `[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(host)})?.querySelector('td[data-col=cpu]')?.textContent ?? ''`;
  await page.waitFor(`/(^|[^\\d.])77(\\.0)?\\s*%/.test(${cpuCell(name(HOSTS))})`, 10_000);

  await page.click('#show-more');
  const all = await shown(page, HOSTS, name(HOSTS));
  assert.equal(all.count, `${HOSTS} shown`);
  assert.equal(all.more, null, 'nothing left: no button');
  assert.equal(await page.evaluate<string>('document.activeElement?.textContent ?? ""'), name(HOSTS - PAGE_ROWS), 'focus on the first row just drawn, not on the hidden button');

  // A new filter starts from the first rows again.
  await page.type('#filter', 'node-00');
  const filtered = await shown(page, 99, name(99));
  assert.equal(filtered.count, `99 of ${HOSTS} shown`);
  assert.equal(filtered.more, null);
  await page.type('#filter', '');
  const again = await shown(page, PAGE_ROWS, name(HOSTS));
  assert.equal(again.count, `${PAGE_ROWS} of ${HOSTS} shown`);

  // The cards keep to the same cap, and the table's rows leave the DOM with their layout.
  await page.click('button[data-view=grid]');
  const cards = await page.waitFor<number>(`(() => { const n = document.querySelectorAll('#grid [data-host]').length; return n === ${PAGE_ROWS} && n; })()`, 15_000);
  assert.equal(cards, PAGE_ROWS);
  assert.equal(await page.evaluate<number>(`${ROWS}.length`), 0, 'no table row left in the DOM');
  assert.match(await page.evaluate<string>(`document.getElementById('show-more').textContent`), /^Show 120 more/u);
  assert.deepEqual(page.consoleErrors().filter((e) => !/favicon\.ico/.test(e)), []);
  assert.deepEqual(page.cspViolations(), []);
});

test(`overview: ${HOSTS} hosts: the page asks for the sparklines of the rows it draws, by slot, and for every host's once it draws them all`, { timeout: 120_000 }, async (t) => {
  const { base, fixture, server } = await serve(t);
  // A few minutes of history for a host at each end of the list, so their lines have points
  // (the page's sparklines have a point per 15 s).
  for (const i of [1, HOSTS]) for (let s = 12; s >= 1; s--) fixture.sample(name(i), readings(5 * s), Date.now() - s * 15_000);
  const asked: Array<string | null> = [];
  server.prependListener('request', (req) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/sparklines') asked.push(url.searchParams.get('slots'));
  });
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  const spark = (host: string): string => `[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(host)})?.querySelector('td[data-col=cpu] svg.spark path')?.getAttribute('d') ?? ''`;
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(ok(), `${what}: asked ${JSON.stringify(asked)}`);
  };

  await shown(page, PAGE_ROWS, name(1));
  await until('the first rows\' sparklines', () => asked.includes(`0-${PAGE_ROWS - 1}`));
  await page.waitFor(`(${spark(name(1))}).length > 10`, 10_000);

  // The other way round: other rows, their slots asked for (within the 2 s between requests).
  await page.click('#sort-dir');
  await shown(page, PAGE_ROWS, name(HOSTS));
  await until('the rows drawn after the new order', () => asked.includes(`${HOSTS - PAGE_ROWS}-${HOSTS - 1}`));
  await page.waitFor(`(${spark(name(HOSTS))}).length > 10`, 10_000);
  assert.ok(asked.every((slots) => slots !== null), 'no request for every host while 500 of 620 are drawn');

  // Every row drawn: one answer for every host, which every page shares.
  const before = asked.length;
  await page.click('#show-more');
  await shown(page, HOSTS);
  await until('every host\'s, once every row is drawn', () => asked.slice(before).some((slots) => slots === null));
  await page.waitFor(`(${spark(name(1))}).length > 10 && (${spark(name(HOSTS))}).length > 10`, 10_000);
  assert.ok(asked.length <= 8, `a few requests, not one per render (${asked.length})`);
});

/**
 * The server of `serve`, whose first /api/sparklines answer is held until `release()`, and whose
 * answers to a `slots=` list are 431 when `refuseSlots` (a collector whose header limit is low).
 */
function sparkServer(server: Server, refuseSlots: boolean) {
  const inner = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  server.removeAllListeners('request');
  const asked: Array<string | null> = [];
  let held: (() => void) | null = null;
  let holding = !refuseSlots;
  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const pass = (): void => { for (const l of inner) l.call(server, req, res); };
    if (url.pathname !== '/api/sparklines') { pass(); return; }
    asked.push(url.searchParams.get('slots'));
    if (refuseSlots && url.searchParams.has('slots')) { res.writeHead(431).end(); return; }
    if (holding) { holding = false; held = pass; return; }
    pass();
  });
  return { asked, release: (): void => { held?.(); held = null; }, isHeld: (): boolean => held !== null };
}

test(`overview: ${HOSTS} hosts: rows drawn while a sparklines request is on its way get theirs soon after, not 15 s later`, { timeout: 120_000 }, async (t) => {
  const { base, fixture, server } = await serve(t);
  for (const i of [1, HOSTS]) for (let s = 12; s >= 1; s--) fixture.sample(name(i), readings(5 * s), Date.now() - s * 15_000);
  const sp = sparkServer(server, false);
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  const spark = (host: string): string => `[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(host)})?.querySelector('td[data-col=cpu] svg.spark path')?.getAttribute('d') ?? ''`;
  await shown(page, PAGE_ROWS, name(1));
  const deadline = Date.now() + 10_000;
  while (!sp.isHeld() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(sp.asked, [`0-${PAGE_ROWS - 1}`], 'the first rows\' sparklines asked for, and held');
  // Other rows drawn while that answer is held; then it comes, for the rows drawn before.
  await page.click('#sort-dir');
  await shown(page, PAGE_ROWS, name(HOSTS));
  sp.release();
  const asked = Date.now();
  await page.waitFor(`(${spark(name(HOSTS))}).length > 10`, 10_000);
  assert.ok(Date.now() - asked < 8000, 'the new rows\' lines came within seconds');
  assert.equal(sp.asked[1], `${HOSTS - PAGE_ROWS}-${HOSTS - 1}`, 'the rows drawn meanwhile asked for next');
});

test(`overview: ${HOSTS} hosts: a collector that refuses the slot list (431) is asked for every host's sparklines instead`, { timeout: 120_000 }, async (t) => {
  const { base, fixture, server } = await serve(t);
  for (let s = 12; s >= 1; s--) fixture.sample(name(1), readings(5 * s), Date.now() - s * 15_000);
  const sp = sparkServer(server, true);
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await shown(page, PAGE_ROWS, name(1));
  const spark = `[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(name(1))})?.querySelector('td[data-col=cpu] svg.spark path')?.getAttribute('d') ?? ''`;
  await page.waitFor(`(${spark}).length > 10`, 10_000);
  assert.deepEqual(sp.asked.slice(0, 2), [`0-${PAGE_ROWS - 1}`, null], 'the list, refused, then every host\'s');
  // Later requests do not try the list again.
  await page.click('#sort-dir');
  await shown(page, PAGE_ROWS, name(HOSTS));
  await new Promise((r) => setTimeout(r, 2500));
  assert.ok(sp.asked.slice(1).every((slots) => slots === null), JSON.stringify(sp.asked));
});
