/**
 * The overview page applies `status` events in headless chromium: after the snapshot on connect,
 * a host turns stale by the clock alone (no sample, no snapshot), another turns offline when its
 * agent goes (a slot write, no sample), and an alert that starts firing shows on its row and in
 * the banner, all with no further snapshot on the stream and no /api/hosts request. Hostile
 * names stay text.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { test } from 'node:test';
import type { AlertFeed } from '../../dashboard/api.ts';
import { createDashboardServer } from '../../dashboard/server.ts';
import { MSG_HELLO, parseHello, PROTO_VERSION } from '../../shared/protocol.ts';
import { openPage } from '../helpers/cdp.ts';
import { closeServer, listenLoopback, tapWrites } from '../helpers/http_client.ts';
import { FIXTURE_READINGS, makeStore } from '../helpers/store_fixture.ts';

const IMG = '<img src=x onerror=window.__pwned=1>';
/** Online for three of these after a sample: far longer than the test, unless the clock jumps, ms. */
const INTERVAL_MS = 60_000;
const row = (name: string): string => `[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(name)})`;
const cell = (name: string, col: string): string => `${row(name)}?.querySelector('td[data-col=${col}]')`;
const statusText = (name: string): string => `(${cell(name, 'status')}?.textContent ?? '').trim()`;
const fleet = (key: string): string => `document.querySelector('#fleet [data-fleet=${key}]').textContent`;

test('overview: statuses age to stale and offline, and an alert appears, from status events alone', { timeout: 90_000 }, async (t) => {
  const fx = makeStore([
    { name: 'web-1', status: 'online', intervalMs: INTERVAL_MS, readings: { ...FIXTURE_READINGS, cpu_pct: 95 } },
    { name: IMG, status: 'online', intervalMs: INTERVAL_MS },
    { name: 'db-1', status: 'online', intervalMs: INTERVAL_MS },
  ]);
  // The dashboard's clock, moved ahead by the test: nothing is written to web-1's slot, time passes.
  let skewMs = 0;
  const RULES = [{ name: 'cpu_high', metric: 'cpu_pct', op: '>', threshold: 99, for_s: 0 }];
  let feed: AlertFeed = { version: 1, rules: RULES, alerts: [] };
  const server: Server = createDashboardServer(fx.store, { now: () => Date.now() + skewMs, feed: () => feed, events: { statusGapMs: 200 } });
  let hostsRequests = 0;
  let snapshots = 0;
  server.prependListener('request', (req, res) => {
    if (req.url === '/api/hosts') hostsRequests++;
    if (!req.url?.startsWith('/api/events')) return;
    // Counts the `hosts` events written on the stream.
    tapWrites(res, (text) => {
      if (text !== null && text.startsWith('event: hosts')) snapshots++;
      return undefined;
    });
  });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const page = await openPage(t, `${base}/`);
  if (!page) return;
  await page.waitFor(`document.getElementById('live').dataset.mode === 'sse' && document.querySelectorAll('#hosts tbody tr[data-host]').length === 3`, 15_000);
  // The stream's snapshot has landed, and nothing else is on its way.
  await page.waitFor(`new Promise((r) => setTimeout(() => r(true), 500))`, 5000);
  assert.equal(snapshots, 1, 'one snapshot, on connect');
  const requestsBefore = hostsRequests;
  const rendersBefore = await page.evaluate<number>(`performance.getEntriesByName('sentinel-render').length`);
  assert.equal(await page.evaluate<string>(statusText('web-1')), 'online');
  assert.equal(await page.evaluate<string>(fleet('online')), '3');

  // Four minutes on: three intervals without a sample, every host is stale by the clock alone.
  skewMs = 4 * 60_000;
  await page.waitFor(`${statusText('web-1')} === 'stale' && ${statusText(IMG)} === 'stale' && ${fleet('stale')} === '3'`, 5000);
  assert.equal(await page.evaluate<string>(`${row('web-1')}.className`), 'status-stale');
  assert.equal(await page.evaluate<number>(`performance.getEntriesByName('sentinel-render').length`), rendersBefore, 'rows redrawn in place, no whole render');

  // db-1's agent goes: the collector marks the slot disconnected (no sample). Its connection
  // is taken over (the old one has gone quiet by the moved clock), then released.
  const owner = { id: 987_654 };
  const hello = parseHello({ type: MSG_HELLO, proto: PROTO_VERSION, host: 'db-1', agent: 'a/1', token: 't', interval_ms: INTERVAL_MS });
  assert.ok(fx.table.claim(hello, owner, Date.now() + skewMs).ok);
  fx.table.release('db-1', owner, Date.now() + skewMs);
  await page.waitFor(`${statusText('db-1')} === 'offline' && ${fleet('offline')} === '1' && ${fleet('stale')} === '2'`, 5000);

  // An alert starts firing on web-1: its CPU cell and the banner show it.
  feed = {
    version: 2, rules: RULES,
    alerts: [{ rule: 'cpu_high', host: 'web-1', instance: '', metric: 'cpu_pct', op: '>', threshold: 90, for_s: 0, value: 95, state: 'firing', active_since_ms: Date.now(), fired_at_ms: Date.now() }],
  };
  await page.waitFor(`${cell('web-1', 'cpu')}.classList.contains('alert') && !document.getElementById('alerts-banner').hidden`, 5000);
  const banner = await page.evaluate<string[][]>(`[...document.querySelectorAll('#alerts-banner li[data-alert-rule]')].map((li) => [li.dataset.alertRule, li.dataset.alertHost])`);
  assert.deepEqual(banner, [['cpu_high', 'web-1']]);
  // It goes again.
  feed = { version: 3, rules: RULES, alerts: [] };
  await page.waitFor(`!${cell('web-1', 'cpu')}.classList.contains('alert') && document.getElementById('alerts-banner').hidden`, 5000);

  assert.equal(snapshots, 1, 'no snapshot after the first');
  assert.equal(hostsRequests, requestsBefore, 'no /api/hosts request: the stream did it');
  assert.equal(await page.evaluate<boolean>(`window.__pwned === undefined && document.querySelectorAll('#hosts img').length === 0`), true);
  assert.deepEqual(page.cspViolations(), []);
});
