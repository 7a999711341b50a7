/**
 * The overview on a phone, in headless chromium against a real dashboard server: with no layout
 * chosen (none in the URL, none in localStorage) a narrow screen opens in the cards, with every
 * host's memory, disk and power inside the screen, and a URL that names no layout; turned
 * sideways it shows the table. A layout chosen, by a link (`?view=table`) or by a click, stays
 * through a turn of the screen and a reload. The width is overview.js's NARROW_MEDIA.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createDashboardServer } from '../../dashboard/server.ts';
import type { PowerSource, Readings } from '../../shared/protocol.ts';
import { launchBrowser, type Page } from '../helpers/cdp.ts';
import { chromiumOrSkip } from '../helpers/chromium.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { FIXTURE_READINGS, makeStore } from '../helpers/store_fixture.ts';

/** Long enough that every host stays online however slow the browser is, ms. */
const INTERVAL_MS = 60_000;
const GIB = 1024 ** 3;
/** The reviewer's phone, held upright, and turned sideways. */
const PHONE = { width: 390, height: 844 };
const SIDEWAYS = { width: 844, height: 390 };
/** The narrowest screen README promises. */
const SMALL_PHONE = { width: 360, height: 780 };
/** A host with the widest figures a card shows, and two ordinary ones. */
const HOSTS: ReadonlyArray<[name: string, readings: Partial<Readings> & { power_source?: PowerSource }]> = [
  ['db-primary-01.example.internal', {
    cpu_pct: 99.5, mem_total_bytes: Math.round(125.7 * GIB), mem_used_bytes: Math.round(118.33 * GIB), power_w: 1234.5, power_source: 'measured',
    net_rx_bps: Math.round(118.7 * 1024 ** 2), net_tx_bps: Math.round(987.6 * 1024), temp_max_c: 101.5, uptime_s: 400 * 86_400,
    fs: [{ mount: '/srv/backups-with-a-long-name', type: 'ext4', size_bytes: Math.round(15.9 * 1024 * GIB), used_bytes: Math.round(14.2 * 1024 * GIB), free_bytes: Math.round(0.9 * 1024 * GIB) }],
  }],
  ['web-1', { cpu_pct: 12.5, power_w: 65.3, power_source: 'estimated', fs: [{ mount: '/', type: 'ext4', size_bytes: 200 * GIB, used_bytes: 80 * GIB, free_bytes: 120 * GIB }] }],
  ['pi-a', { cpu_pct: 3, power_w: 4.2, power_source: 'estimated', fs: [{ mount: '/', type: 'ext4', size_bytes: 32 * GIB, used_bytes: 9 * GIB, free_bytes: 23 * GIB }] }],
];
/** The figures a phone user scrolled sideways for: every card's must be on screen. */
const FIELDS = ['mem', 'disk', 'power'];

async function serve(t: TestContext): Promise<string> {
  const now = Date.now();
  const fixture = makeStore([], { nowMs: now - 60_000 });
  for (const [name, readings] of HOSTS) {
    fixture.add({ name, status: 'online', intervalMs: INTERVAL_MS, readings: FIXTURE_READINGS }, now - 1000);
    fixture.sample(name, { ...FIXTURE_READINGS, ...readings } as Readings, now - 500);
  }
  const server = createDashboardServer(fixture.store);
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return base;
}

/** A fresh browser (so nothing in localStorage) at `size`, closed after the test; null when skipped. */
async function phonePage(t: TestContext, size: { width: number; height: number }): Promise<Page | null> {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return null;
  const browser = await launchBrowser({ chromium, timeoutMs: 60_000 });
  t.after(() => browser.close());
  return browser.newPage(size);
}

/** Waits until `layout` shows every host and the other layout is hidden. */
function shows(page: Page, layout: 'grid' | 'table'): Promise<unknown> {
  const items = layout === 'grid' ? '#grid .card[data-host]' : '#hosts tbody tr[data-host]';
  const other = layout === 'grid' ? 'table-wrap' : 'grid';
  return page.waitFor(`[...document.querySelectorAll('${items}')].filter((e) => e.getClientRects().length > 0).length === ${HOSTS.length}
    && document.getElementById('${other}').getClientRects().length === 0
    && document.querySelector('button[data-view=${layout}]').getAttribute('aria-pressed') === 'true'`, 8000)
    .catch(async (err: unknown) => assert.fail(`expected the ${layout === 'grid' ? 'cards' : 'table'}: ${String(err)}; pressed: ${await page.evaluate<string>(`document.querySelector('button[aria-pressed=true]')?.dataset.view`)}`));
}

/** Each card's memory, disk and power figures that are not wholly inside the screen's width. */
function offScreen(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const out = [];
    for (const card of document.querySelectorAll('#grid .card[data-host]')) {
      for (const col of ${JSON.stringify(FIELDS)}) {
        const v = card.querySelector('.field[data-col=' + col + '] .v');
        const r = v?.getBoundingClientRect();
        if (!r || r.width === 0 || r.left < 0 || r.right > innerWidth) out.push(card.dataset.host + ' ' + col + ': ' + (v ? v.textContent + ' at ' + Math.round(r.left) + '..' + Math.round(r.right) : 'missing') + ' of ' + innerWidth);
      }
    }
    return out;
  })()`);
}

/** A few frames for a layout change the new width might cause, before the page is looked at. */
const settle = (page: Page): Promise<unknown> => page.evaluate(`new Promise((r) => setTimeout(r, 300))`);
const search = (page: Page): Promise<string> => page.evaluate<string>('location.search');
const stored = (page: Page): Promise<string | null> => page.evaluate<string | null>(`localStorage.getItem('sentinel.overview')`);

test('overview on a phone with no layout chosen: the cards, every memory, disk and power figure on screen; sideways, the table', async (t) => {
  const base = await serve(t);
  for (const size of [PHONE, SMALL_PHONE]) {
    const page = await phonePage(t, size);
    if (!page) return;
    await page.goto(`${base}/`);
    await shows(page, 'grid');
    assert.deepEqual(await offScreen(page), [], `${size.width} px`);
    assert.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= innerWidth'), `${size.width} px: no sideways scroll`);
    assert.equal(await search(page), '', 'the URL names no layout the person did not choose');
    assert.ok(!(await stored(page) ?? '').includes('"view"'), `nor does localStorage: ${await stored(page)}`);
    if (size !== PHONE) continue;
    // Turned sideways and back: no layout was chosen, so the width still picks it.
    await page.setViewport(SIDEWAYS.width, SIDEWAYS.height);
    await shows(page, 'table');
    await page.setViewport(PHONE.width, PHONE.height);
    await shows(page, 'grid');
    assert.equal(await search(page), '');
    assert.deepEqual(page.consoleErrors().filter((e) => !/favicon\.ico/.test(e)), []);
  }
});

test('overview on a phone: ?view=table keeps the table; a layout chosen by a click stays through a turn and a reload', async (t) => {
  const base = await serve(t);
  const page = await phonePage(t, PHONE);
  if (!page) return;
  await page.goto(`${base}/?view=table`);
  await shows(page, 'table');
  assert.equal(await search(page), '?view=table');

  // A new browser profile would do too; clearing storage is quicker. Cards open, the table is clicked.
  await page.evaluate(`localStorage.clear()`);
  await page.goto(`${base}/`);
  await shows(page, 'grid');
  await page.click('button[data-view=table]');
  await shows(page, 'table');
  assert.equal(await search(page), '', 'a chosen layout is kept by this browser, not put in links');
  await page.goto(`${base}/`);
  await shows(page, 'table');
  await page.setViewport(SIDEWAYS.width, SIDEWAYS.height);
  await page.setViewport(PHONE.width, PHONE.height);
  await settle(page);
  await shows(page, 'table');

  // The cards chosen by pressing their button while the width had picked them: they stay sideways.
  await page.evaluate(`localStorage.clear()`);
  await page.goto(`${base}/`);
  await shows(page, 'grid');
  await page.click('button[data-view=grid]');
  await page.waitFor(`JSON.parse(localStorage.getItem('sentinel.overview')).view === 'grid'`, 3000);
  await page.setViewport(SIDEWAYS.width, SIDEWAYS.height);
  await settle(page);
  await shows(page, 'grid');
  await page.goto(`${base}/`);
  await shows(page, 'grid');

  // A remembered state from before the layout followed the width: it wrote view "table" on every visit, chosen or not.
  await page.setViewport(PHONE.width, PHONE.height);
  await page.evaluate(`localStorage.setItem('sentinel.overview', '{"sort":"cpu","dir":"desc","q":"","status":"all","view":"table"}')`);
  await page.goto(`${base}/`);
  await shows(page, 'grid');
  assert.equal(await search(page), '?sort=cpu&dir=desc', 'the rest of it still holds');
});
