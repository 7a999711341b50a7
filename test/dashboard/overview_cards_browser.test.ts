/**
 * The overview's cards in headless chromium against a real dashboard server: side by side, each
 * field sits at the same height in every card whatever its value (a power badge beside "11.1 W",
 * a missing network reading), and within a card CPU and memory line up; `?view=cards`, as the
 * button names the view, opens the cards, and old `?view=grid` links still do.
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
/** Power and its source per host: "11.1 W" and its badge filled a card's power field, "11 W" did not. */
const POWER: ReadonlyArray<[string, number, PowerSource]> = [['pi-a', 11.1, 'estimated'], ['pi-b', 11, 'estimated'], ['db-1', 1234.5, 'measured'], ['nas-box', 65.3, 'measured']];
/** A host without network or filesystem readings: its network and disk fields have no second line. */
const BARE = 'bare';
const HOST_COUNT = POWER.length + 1;

async function serve(t: TestContext): Promise<string> {
  const now = Date.now();
  const fixture = makeStore([], { nowMs: now - 60_000 });
  for (const [name, watts, source] of POWER) {
    fixture.add({ name, status: 'online', intervalMs: INTERVAL_MS, readings: FIXTURE_READINGS }, now - 1000);
    fixture.sample(name, {
      ...FIXTURE_READINGS, cpu_pct: 12.5, temp_max_c: 51, power_w: watts, power_source: source, net_rx_bps: 12_345, net_tx_bps: 2345,
      fs: [{ mount: '/', type: 'ext4', size_bytes: 200 * GIB, used_bytes: 80 * GIB, free_bytes: 120 * GIB }],
    } as Readings, now - 500);
  }
  fixture.add({ name: BARE, status: 'online', intervalMs: INTERVAL_MS, readings: FIXTURE_READINGS }, now - 1000);
  const server = createDashboardServer(fixture.store);
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return base;
}

async function openPage(t: TestContext, url: string, width: number, height: number): Promise<Page | null> {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return null;
  const browser = await launchBrowser({ chromium, timeoutMs: 60_000 });
  t.after(() => browser.close());
  const page = await browser.newPage({ width, height });
  await page.goto(url);
  return page;
}

/** Waits for every host's card to show, in view. */
function cardsShown(page: Page): Promise<unknown> {
  return page.waitFor(`[...document.querySelectorAll('#grid .card[data-host]')].filter((c) => c.getClientRects().length > 0).length === ${HOST_COUNT}`, 8000);
}

test('overview cards at 1400 px: every field at the same height in cards side by side, whatever its value', async (t) => {
  const base = await serve(t);
  const page = await openPage(t, `${base}/?view=cards`, 1400, 900);
  if (!page) return;
  await cardsShown(page);
  await page.waitFor(`[...document.querySelectorAll('#grid .field[data-col=power] .v')].some((v) => v.textContent === '11.1 W')`);
  const m = await page.evaluate<{ rows: number; tops: Record<string, Record<string, number>>; badges: string[] }>(`(() => {
    const cards = [...document.querySelectorAll('#grid .card')];
    const top = (el) => Math.round(el.getBoundingClientRect().top);
    const tops = {};
    for (const c of cards) {
      tops[c.dataset.host] = {};
      for (const f of c.querySelectorAll('.field')) {
        tops[c.dataset.host][f.dataset.col + ' label'] = top(f.querySelector('.k'));
        tops[c.dataset.host][f.dataset.col + ' value'] = top(f.querySelector('.v'));
      }
      tops[c.dataset.host]['cpu spark'] = top(c.querySelector('.field[data-col=cpu] .spark'));
      tops[c.dataset.host]['mem spark'] = top(c.querySelector('.field[data-col=mem] .spark'));
    }
    // Each badge beside its value, not under it.
    const badges = cards.flatMap((c) => { const v = c.querySelector('.field[data-col=power] .v'), b = c.querySelector('.field[data-col=power] .badge:not([hidden])');
      return b && b.getBoundingClientRect().top >= v.getBoundingClientRect().bottom ? [c.dataset.host + ': ' + v.textContent + ' with its badge under it'] : []; });
    return { rows: new Set(cards.map(top)).size, tops, badges };
  })()`);
  assert.equal(m.rows, 1, 'all the cards side by side in one row');
  assert.deepEqual(m.badges, []);
  const first = m.tops[POWER[0]![0]]!;
  for (const [host, tops] of Object.entries(m.tops)) assert.deepEqual(tops, first, `${host}'s fields sit where ${POWER[0]![0]}'s do`);
  // Within a card, CPU and memory side by side: label, value and sparkline level.
  for (const part of ['label', 'value']) assert.equal(first[`mem ${part}`], first[`cpu ${part}`], `memory's ${part} level with CPU's`);
  assert.equal(first['mem spark'], first['cpu spark'], 'memory\'s sparkline level with CPU\'s');
  assert.deepEqual(page.consoleErrors().filter((e) => !/favicon\.ico/.test(e)), []);
});

test('overview: ?view=cards opens the cards, as the button names them; old ?view=grid links still do', async (t) => {
  const base = await serve(t);
  const page = await openPage(t, `${base}/?view=cards`, 1280, 800);
  if (!page) return;
  await cardsShown(page);
  assert.equal(await page.evaluate(`document.querySelector('button[data-view=grid]').getAttribute('aria-pressed')`), 'true');
  assert.equal(await page.evaluate(`location.search`), '?view=cards', 'the URL keeps the word its link said (a wall screen reloads it)');
  await page.click('button[data-view=table]');
  // A layout chosen with the buttons is kept by this browser, not put in links: a link copied
  // from a phone must not put a colleague's desk in the cards.
  await page.waitFor(`document.getElementById('hosts').getClientRects().length > 0 && location.search === '' && JSON.parse(localStorage.getItem('sentinel.overview')).view === 'table'`);
  await page.click('button[data-view=grid]');
  await page.waitFor(`location.search === '' && JSON.parse(localStorage.getItem('sentinel.overview')).view === 'grid'`);
  // A link's layout is that visit's: the table from a link, then the stored cards again.
  await page.goto(`${base}/?view=table`);
  await page.waitFor(`document.getElementById('hosts').getClientRects().length > 0`);
  await page.goto(`${base}/`);
  await cardsShown(page);
  await page.goto(`${base}/?view=grid`);
  await cardsShown(page);
  assert.equal(await page.evaluate(`location.search`), '?view=cards', 'an old link shows the cards, under their new name');
});
