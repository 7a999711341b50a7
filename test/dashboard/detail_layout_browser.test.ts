/**
 * The host page's tables in headless chromium over the DevTools protocol (test/helpers/cdp.ts),
 * against a real dashboard server over a store filled through the collector's write path: a
 * host with every table, wide figures and long names, and the energy card with its per-day
 * table. At common desktop sizes no table scrolls sideways; at every size figures and dates
 * stay on one line (only names may break) and the page itself never scrolls sideways.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EnergyQuery } from '../../collector/energy_report.ts';
import { createDashboardServer } from '../../dashboard/server.ts';
import type { Readings } from '../../shared/protocol.ts';
import { launchBrowser } from '../helpers/cdp.ts';
import { chromiumOrSkip } from '../helpers/chromium.ts';
import { writeEnergy } from '../helpers/energy_fixture.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { FIXTURE_READINGS, makeStore } from '../helpers/store_fixture.ts';

const HOST = 'wide-1';
/** Long enough that the host stays online however slow the browser is, ms. */
const INTERVAL_MS = 60_000;
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
/** Desktop windows where every table must fit its card: 4 columns of cards at 1400 and 1745 are the narrowest. */
const DESKTOP = [[1280, 800], [1366, 768], [1400, 900], [1440, 900], [1745, 900], [1920, 1080]] as const;
const PHONE = [390, 844] as const;

/** A busy host: interface names as long as Linux allows (15 bytes), figures as wide as they get in practice. */
const NET = ['enp0s31f6', 'wlp0s20f3', 'br-0123456789ab', 'docker0', 'veth1a2b3c4d', 'tailscale0', 'virbr0-nic'].map((name, i) => ({
  name, rx_bps: 123.4 * MIB * (i + 1), tx_bps: 98.7 * MIB, rx_pps: 123_456.7, tx_pps: 98_765.4,
  rx_errs_ps: 1234.5, tx_errs_ps: 999.9, rx_drops_ps: 12_345.6, tx_drops_ps: 9876.5,
}));
const TABLES = {
  net: NET,
  fs: [
    { mount: '/', type: 'ext4', size_bytes: 1000 * GIB, used_bytes: 900 * GIB, free_bytes: 100 * GIB },
    { mount: '/var/lib/docker/overlay2/0123456789abcdef0123456789abcdef/merged', type: 'overlay', size_bytes: 1000 * GIB, used_bytes: 123 * GIB, free_bytes: 877 * GIB },
  ],
  gpu: [{ model: 'NVIDIA RTX A6000 Ada Generation', util_pct: 100, mem_used_bytes: 47.5 * GIB, mem_total_bytes: 48 * GIB, temp_c: 102.5, power_w: 299.5 }],
  power_zones: [{ zone: 'package-0', watts: 1234.5 }, { zone: 'dram', watts: 99.5 }],
  procs_top: [{ name: 'a-process-name-without-spaces-0123456789', pid: 4_194_303, cpu_pct: 3199.9 }, { name: 'postgres', pid: 4242, cpu_pct: 150.5 }],
};
/** 14 days, the most the card lists, with four-digit costs. */
const DAILY = Array.from({ length: 14 }, (_, i) => ({ label: `2026-11-${String(10 + i).padStart(2, '0')}`, kwh: 123.456, cost: 1234.56, covered_s: 86_400 }));

/** Each table's overflow, each figure or date broken across lines, and the page's own width. */
interface Layout {
  wraps: Array<{ card: string; scrollWidth: number; clientWidth: number }>;
  broken: string[];
  page: { scrollWidth: number; clientWidth: number };
  dates: number;
}
const LAYOUT = `(() => {
  const wraps = [...document.querySelectorAll('.card .table-wrap')].map((w) => ({ card: w.closest('.card').id, scrollWidth: w.scrollWidth, clientWidth: w.clientWidth }));
  // A text run on one line has one box; broken across lines, one a line.
  const lines = (cell) => { const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT); let most = 0;
    for (let n = walk.nextNode(); n; n = walk.nextNode()) { const r = document.createRange(); r.selectNodeContents(n); most = Math.max(most, r.getClientRects().length); } return most; };
  // Every cell but agent text (td.text), and the energy card's period labels.
  const broken = [...document.querySelectorAll('.card td:not(.text), #energy tbody th')].filter((c) => lines(c) > 1).map((c) => c.closest('.card').id + ': ' + c.textContent);
  const dates = [...document.querySelectorAll('#energy .per-day tbody td:first-child')].filter((c) => /^\\d{4}-\\d\\d-\\d\\d$/.test(c.textContent) && lines(c) === 1).length;
  return { wraps, broken, page: { scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }, dates };
})()`;

test('host page layout: tables fit their cards at desktop sizes; figures and dates never break', { timeout: 120_000 }, async (t) => {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return;
  const now = Date.now();
  const fixture = makeStore([], { nowMs: now });
  const readings = { ...FIXTURE_READINGS, ...TABLES, power_w: 1333.5, power_source: 'measured', net_rx_bps: 1.2 * GIB, net_tx_bps: 690 * MIB } as unknown as Readings;
  fixture.add({ name: HOST, status: 'online', intervalMs: INTERVAL_MS, cpuModel: 'AMD EPYC 9654 96-Core Processor', readings }, now);
  writeEnergy(fixture.store, HOST, {
    today: [123.456, 1234.56], month: [12_345.6, 98_765.43], total: [123_456.7, 987_654.32], sinceDays: 400,
    projection: { month: [23_456.7, 123_456.78], next: [23_456.7, 123_456.78], days: 30 },
  }, { nowMs: now });
  const server = createDashboardServer(fixture.store, {
    energy: { currency: 'EUR', timeZone: 'UTC', projectionDays: 30 },
    energyQuery: async (q: EnergyQuery) => ({ status: 200, body: { now_ms: Date.now(), currency: 'EUR', tariff: 'flat 10 EUR/kWh', time_zone: 'UTC', scope: 'host', host: q.host, daily: DAILY, hourly: [], monthly: [], per_host: [] } }),
  });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const browser = await launchBrowser({ chromium });
  t.after(() => browser.close());
  const page = await browser.newPage({ width: PHONE[0], height: PHONE[1] });

  for (const [width, height] of [...DESKTOP, PHONE]) {
    await t.test(`${width}x${height}`, async (st) => {
      await page.setViewport(width, height);
      await page.goto(`${base}/hosts/${HOST}`);
      await page.waitFor(`document.querySelectorAll('#energy .per-day tbody tr').length === ${DAILY.length} && document.querySelectorAll('#network tbody tr').length === ${NET.length}`, 8000);
      const layout = await page.evaluate<Layout>(LAYOUT);
      const shot = join(tmpdir(), `sentinel-detail-layout-${process.pid}-${width}.png`);
      await page.screenshot(shot, { fullPage: true });
      st.diagnostic(`screenshot: ${shot}`);
      assert.deepEqual(new Set(layout.wraps.map((w) => w.card)), new Set(['disk', 'network', 'gpu', 'power', 'energy', 'procs']), 'every table is there');
      // A phone may scroll a table inside its card, never the page.
      const clipped = width === PHONE[0] ? [] : layout.wraps.filter((w) => w.scrollWidth > w.clientWidth);
      assert.deepEqual({ broken: layout.broken, clipped }, { broken: [], clipped: [] }, 'no figure, date or period label broken across lines; no table wider than its card');
      assert.equal(layout.dates, DAILY.length, 'every per-day date on one line');
      assert.ok(layout.page.scrollWidth <= layout.page.clientWidth, `the page does not scroll sideways: ${JSON.stringify(layout.page)}`);
    });
  }
});
