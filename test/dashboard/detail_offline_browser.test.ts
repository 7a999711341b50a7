/**
 * An offline host's page in headless chromium over the DevTools protocol (test/helpers/cdp.ts),
 * against a real dashboard server over a store filled through the collector's write path: the
 * header says how old its last sample is, and its cards look old, greyed as the overview greys
 * offline rows; an online host's page beside it does not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDashboardServer } from '../../dashboard/server.ts';
import { launchBrowser } from '../helpers/cdp.ts';
import { chromiumOrSkip } from '../helpers/chromium.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { makeStore } from '../helpers/store_fixture.ts';

/** How long before the page looks the offline host sent its last sample and went, ms: 3m 12s. */
const GONE_FOR_MS = 192_000;
/** Long enough that the online host stays online however slow the browser is, ms. */
const INTERVAL_MS = 60_000;

/** The header's text and title, and how the CPU card's figures and the cards look. */
interface Look { status: string; title: string; busyColor: string; mutedColor: string; filter: string; chartFilter: string }
const LOOK = `(() => {
  const cards = document.querySelector('.cards');
  return {
    status: document.getElementById('host-status').textContent,
    title: document.getElementById('host-status').title,
    busyColor: getComputedStyle(document.querySelector('#cpu .facts dd')).color,
    // A label of the facts: the page's muted text colour.
    mutedColor: getComputedStyle(document.querySelector('#cpu .facts dt')).color,
    filter: getComputedStyle(cards).filter,
    chartFilter: getComputedStyle(document.getElementById('charts')).filter,
  };
})()`;

test('host page of an offline host: the age of its last sample, and greyed cards', { timeout: 90_000 }, async (t) => {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return;
  const now = Date.now();
  const fixture = makeStore([], { nowMs: now - GONE_FOR_MS });
  fixture.add({ name: 'gone-1', status: 'offline' }, now - GONE_FOR_MS);
  fixture.add({ name: 'live-1', status: 'online', intervalMs: INTERVAL_MS }, now);
  const server = createDashboardServer(fixture.store);
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const browser = await launchBrowser({ chromium });
  t.after(() => browser.close());
  const page = await browser.newPage({ width: 1400, height: 900 });

  await page.goto(`${base}/hosts/gone-1`);
  const gone = await page.waitFor<Look>(`document.querySelector('#host-status .age') && ${LOOK}`, 8000);
  assert.match(gone.status, /^offline · last sample 3m 1[2-9]s ago$/, 'how long ago its last sample came');
  assert.match(gone.title, /^disconnected at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  assert.equal(gone.busyColor, gone.mutedColor, 'its figures in the muted colour');
  assert.equal(gone.filter, 'grayscale(1)', 'its cards without colour');
  assert.equal(gone.chartFilter, 'grayscale(1)', 'its charts without colour');

  await page.goto(`${base}/hosts/live-1`);
  const live = await page.waitFor<Look>(`document.querySelector('#host-status .age') && ${LOOK}`, 8000);
  assert.match(live.status, /^online · last sample \d+\.\d s ago$/);
  assert.equal(live.title, '');
  assert.notEqual(live.busyColor, live.mutedColor, 'an online host\'s figures in the text colour');
  assert.deepEqual([live.filter, live.chartFilter], ['none', 'none']);
  assert.deepEqual(page.consoleErrors().filter((e) => !/favicon\.ico/.test(e)), []);
});
