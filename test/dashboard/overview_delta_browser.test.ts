/**
 * The overview page applies `delta` events in headless chromium: a real dashboard server whose
 * stream sends no snapshot after the first, a store written through the collector's write path,
 * and a value that changes in its row with no snapshot and no /api/hosts request in between.
 * Hostile names stay text.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { test } from 'node:test';
import { createDashboardServer } from '../../dashboard/server.ts';
import { openPage } from '../helpers/cdp.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
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
