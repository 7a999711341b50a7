/**
 * Power, energy and cost on the pages (issue 4), in headless chromium over the DevTools protocol
 * (test/helpers/cdp.ts), against a real dashboard server over a store filled through the
 * collector's write path, with the energy figures written into the slots as the collector's
 * energy service writes them (test/helpers/energy_fixture.ts). The fleet header's kWh, cost and
 * projection in the tariff's currency, or kWh only without a tariff; the measured / estimated
 * badge; sorting by watts and by cost; the host page's power chart labelled with its source,
 * its energy card and, when /api/energy answers, its per-day table.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { EnergyQuery } from '../../collector/energy_report.ts';
import type { EnergyInfo } from '../../dashboard/api.ts';
import { createDashboardServer, type DashboardServerOptions } from '../../dashboard/server.ts';
import type { PowerSource, Readings } from '../../shared/protocol.ts';
import { openPage, type Page } from '../helpers/cdp.ts';
import { writeEnergy, type EnergyFigures } from '../helpers/energy_fixture.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { FIXTURE_READINGS, makeStore } from '../helpers/store_fixture.ts';

/** Long enough that online stays online however slow the browser is, ms. */
const INTERVAL_MS = 60_000;
/** Seconds of history each host with power has: its chart has a line. */
const HISTORY_S = 90;
/** The page's size in these tests: every column of the table in view. */
const WIDE = { width: 1440, height: 900 };
const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-output/screenshots/', import.meta.url));
const EUR: EnergyInfo = { currency: 'EUR', timeZone: 'Europe/Paris', projectionDays: 30 };

interface PowerHost {
  name: string;
  status: 'online' | 'offline';
  /** Watts of the last sample; null: the host reports no power. */
  watts: number | null;
  source?: PowerSource;
  energy?: EnergyFigures;
}

/** Four hosts whose watts and costs sort differently; every figure below is worked out from these. */
const HOSTS: readonly PowerHost[] = [
  {
    name: 'rapl-1', status: 'online', watts: 212, source: 'measured',
    energy: { today: [1.5, 0.36], month: [22.4, 5.4], total: [61.2, 14.7], sinceDays: 20, projection: { month: [45.2, 10.85], next: [43.5, 10.44], days: 30 } },
  },
  { name: 'model-1', status: 'online', watts: 95, source: 'estimated', energy: { today: [0.5, 0.12], month: [8.1, 1.94], total: [8.1, 1.94], sinceDays: 5 } },
  { name: 'bare-1', status: 'online', watts: null },
  {
    name: 'gone-1', status: 'offline', watts: 40, source: 'measured',
    energy: { today: [2, 0.48], month: [3, 0.72], total: [3, 0.72], sinceDays: 3, projection: { month: [6, 1.44], next: [5.5, 1.32], days: 30 } },
  },
];
/** The summary of HOSTS: online watts, every host's energy, projections (model-1 adds its month so far). */
const FLEET_EUR = {
  power: '307 W', power_detail: '1 measured, 1 estimated', energy: '4.00 kWh', energy_detail: 'month 33.5 kWh',
  cost: '€0.96', cost_detail: 'month €8.06', projected: '€14.23', projected_detail: '59.3 kWh',
};
const FLEET_NO_TARIFF = { ...FLEET_EUR, cost: '–', cost_detail: 'needs --tariff', projected: '59.3 kWh', projected_detail: 'cost needs --tariff' };

function readings(h: PowerHost, wobble: number): Readings {
  const r: Record<string, unknown> = { ...FIXTURE_READINGS, cpu_pct: 20 + wobble };
  if (h.watts !== null) {
    r['power_w'] = h.watts + (wobble === 0 ? 0 : wobble / 2);
    r['power_source'] = h.source;
  }
  return r as Readings;
}

interface Served { base: string; server: Server }

/** A dashboard over HOSTS, with `energy` settings and the collector's per-day answer when given. */
async function serve(t: TestContext, opts: { energy?: EnergyInfo; energyQuery?: DashboardServerOptions['energyQuery'] } = {}): Promise<Served> {
  const now = Date.now();
  const fixture = makeStore([], { nowMs: now - HISTORY_S * 1000 });
  for (const h of HOSTS) {
    fixture.add({ name: h.name, status: h.status, intervalMs: INTERVAL_MS, readings: readings(h, 0) }, h.status === 'online' ? now - HISTORY_S * 1000 : now);
  }
  for (const h of HOSTS) {
    if (h.status !== 'online') continue;
    for (let s = HISTORY_S - 1; s >= 0; s--) fixture.sample(h.name, readings(h, s === 0 ? 0 : 8 * Math.sin(s / 7)), now - s * 1000);
  }
  const priced = opts.energy?.currency != null;
  for (const h of HOSTS) if (h.energy) writeEnergy(fixture.store, h.name, h.energy, { nowMs: now, priced });
  const server = createDashboardServer(fixture.store, { energy: opts.energy, energyQuery: opts.energyQuery });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return { base, server };
}

const ROWS = `[...document.querySelectorAll('#hosts tbody tr[data-host]')].map((tr) => tr.dataset.host)`;
const row = (name: string): string => `[...document.querySelectorAll('#hosts tbody tr')].find((tr) => tr.dataset.host === ${JSON.stringify(name)})`;
const FLEET = `Object.fromEntries([...document.querySelectorAll('#fleet [data-fleet]')].map((e) => [e.dataset.fleet, e.textContent]))`;

/** The fleet header's power, energy, cost and projection figures, once the page shows them. */
async function fleetFigures(page: Page): Promise<Record<string, string>> {
  const f = await page.waitFor<Record<string, string>>(`(() => { const f = ${FLEET}; return f.hosts === '4' && f.energy !== '–' && f; })()`, 5000);
  return Object.fromEntries(Object.entries(f).filter(([k]) => /^(power|energy|cost|projected)/.test(k)));
}

/** A host's power, energy and cost cells as shown: value, badge (source, letter, spoken word, tooltip) and the cost's tooltip. */
interface PowerCells { power: string; badge: { source: string; mark: string; spoken: string; title: string } | null; energy: string; cost: string; costTitle: string | null }
function powerCells(page: Page, name: string): Promise<PowerCells> {
  return page.evaluate<PowerCells>(`(() => {
    const tr = ${row(name)};
    const td = (col) => tr.querySelector('td[data-col=' + col + ']');
    const b = td('power').querySelector('.badge');
    return { power: td('power').querySelector('.v').textContent,
      badge: b && !b.hidden ? { source: b.dataset.source, mark: b.querySelector('.mark').textContent, spoken: b.querySelector('.sr-only').textContent.trim(), title: b.title } : null,
      energy: td('energy').querySelector('.v').textContent, cost: td('cost').querySelector('.v').textContent, costTitle: td('cost').getAttribute('title') };
  })()`);
}

function unexpectedErrors(page: Page): string[] {
  return page.consoleErrors().filter((e) => !/favicon\.ico/.test(e));
}

test('energy page: the fleet header shows watts by source, kWh, cost and the projection in euros', async (t) => {
  const { base } = await serve(t, { energy: EUR });
  const page = await openPage(t, `${base}/`, WIDE);
  if (!page) return;
  assert.deepEqual(await fleetFigures(page), FLEET_EUR);
  const labels = await page.evaluate<string[]>(`[...document.querySelectorAll('#fleet dt')].map((e) => e.textContent)`);
  for (const l of ['Power', 'Energy today', 'Cost today', 'Projected month']) assert.ok(labels.includes(l), `a figure labelled ${l}: ${labels.join(', ')}`);
  assert.deepEqual(unexpectedErrors(page), []);
  assert.deepEqual(page.cspViolations(), []);
});

test('energy page: the badge says measured or estimated, to the eye and to a screen reader, in the table and the cards', async (t) => {
  const { base } = await serve(t, { energy: EUR });
  const page = await openPage(t, `${base}/`, WIDE);
  if (!page) return;
  await page.waitFor(`${ROWS}.length === ${HOSTS.length} && ${row('rapl-1')}.querySelector('td[data-col=cost] .v').textContent !== '–'`, 5000);
  const rapl = await powerCells(page, 'rapl-1');
  const model = await powerCells(page, 'model-1');
  assert.deepEqual({ ...rapl, badge: { ...rapl.badge!, title: '' } }, { power: '212 W', badge: { source: 'measured', mark: 'M', spoken: 'measured', title: '' }, energy: '1.50 kWh', cost: '€0.36', costTitle: null });
  assert.deepEqual({ ...model, badge: { ...model.badge!, title: '' } }, { power: '95 W', badge: { source: 'estimated', mark: 'E', spoken: 'estimated', title: '' }, energy: '500 Wh', cost: '€0.12', costTitle: null });
  assert.match(rapl.badge!.title, /^Measured: /);
  assert.match(model.badge!.title, /^Estimated: /);
  assert.deepEqual(await powerCells(page, 'bare-1'), { power: '–', badge: null, energy: '–', cost: '–', costTitle: null }, 'no power: no badge, nothing counted');
  // The letter is decoration for assistive technology; the word is read instead.
  assert.equal(await page.evaluate(`${row('rapl-1')}.querySelector('.badge .mark').getAttribute('aria-hidden')`), 'true');
  const look = await page.evaluate<string[]>(`['rapl-1', 'model-1'].map((n) => { const s = getComputedStyle(document.querySelector('#hosts tbody tr[data-host="' + n + '"] .badge')); return s.borderStyle + ' ' + s.backgroundColor; })`);
  assert.notEqual(look[0], look[1], `measured and estimated look different: ${look.join(' | ')}`);
  assert.match(look[1]!, /^dashed/, 'estimated is dashed, not only another colour');

  await page.click('button[data-view=grid]');
  const cards = await page.waitFor<Record<string, string | null>>(`(() => { const cs = [...document.querySelectorAll('#grid .card[data-host]')]; if (cs.length !== ${HOSTS.length}) return null;
    return Object.fromEntries(cs.map((c) => { const b = c.querySelector('.field[data-col=power] .badge'); return [c.dataset.host, b && !b.hidden ? b.dataset.source + ' ' + b.textContent : null]; })); })()`, 5000);
  assert.deepEqual(cards, { 'rapl-1': 'measured M measured', 'model-1': 'estimated E estimated', 'bare-1': null, 'gone-1': 'measured M measured' });
  const card = await page.evaluate<string>(`[...document.querySelectorAll('#grid .card')].find((c) => c.dataset.host === 'rapl-1').textContent`);
  for (const part of ['212 W', '1.50 kWh', '€0.36']) assert.ok(card.includes(part), `the card shows ${part}: ${card}`);
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot(join(SCREENSHOT_DIR, 'energy-grid.png'));
  assert.deepEqual(unexpectedErrors(page), []);
});

test('energy page: without a tariff the page shows kWh and says cost needs --tariff', async (t) => {
  const { base } = await serve(t);
  const page = await openPage(t, `${base}/`, WIDE);
  if (!page) return;
  assert.deepEqual(await fleetFigures(page), FLEET_NO_TARIFF);
  await page.waitFor(`${row('rapl-1')}?.querySelector('td[data-col=energy] .v').textContent === '1.50 kWh'`, 5000);
  const rapl = await powerCells(page, 'rapl-1');
  assert.deepEqual([rapl.power, rapl.badge?.source, rapl.energy, rapl.cost], ['212 W', 'measured', '1.50 kWh', '–']);
  assert.match(rapl.costTitle ?? '', /--tariff/, 'the cost cell says why it is empty');
  assert.equal((await powerCells(page, 'bare-1')).costTitle, null, 'a host with nothing counted has nothing to explain');
  assert.equal(await page.evaluate(`document.getElementById('error').hidden`), true, 'no tariff is not an error');
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot(join(SCREENSHOT_DIR, 'energy-no-tariff.png'));
  assert.deepEqual(unexpectedErrors(page), []);
});

test('energy page: sort by watts and by cost, both ways, hosts without a value last', async (t) => {
  const { base } = await serve(t, { energy: EUR });
  const page = await openPage(t, `${base}/`, WIDE);
  if (!page) return;
  await page.waitFor(`${ROWS}.length === ${HOSTS.length} && ${row('gone-1')}.querySelector('td[data-col=cost] .v').textContent === '€0.48'`, 5000);
  const cases: Array<[string, string, string[]]> = [
    ['power', 'descending', ['rapl-1', 'model-1', 'gone-1', 'bare-1']],
    ['power', 'ascending', ['gone-1', 'model-1', 'rapl-1', 'bare-1']],
    ['cost', 'descending', ['gone-1', 'rapl-1', 'model-1', 'bare-1']],
    ['cost', 'ascending', ['model-1', 'rapl-1', 'gone-1', 'bare-1']],
    ['energy', 'descending', ['gone-1', 'rapl-1', 'model-1', 'bare-1']],
  ];
  for (const [col, dir, want] of cases) {
    await page.click(`th[data-col=${col}] button[data-sort=${col}]`);
    await page.waitFor(`document.querySelector('#hosts th[data-col=${col}]').getAttribute('aria-sort') === ${JSON.stringify(dir)}`, 3000);
    await page.waitFor(`JSON.stringify(${ROWS}) === ${JSON.stringify(JSON.stringify(want))}`, 3000)
      .catch(async () => assert.fail(`sorted ${dir} by ${col}: ${JSON.stringify(await page.evaluate(ROWS))}`));
    const search: URLSearchParams = new URLSearchParams(await page.evaluate<string>('location.search'));
    assert.deepEqual([search.get('sort'), search.get('dir')], [col, dir === 'ascending' ? 'asc' : 'desc'], 'the URL holds the choice');
  }
  assert.deepEqual(unexpectedErrors(page), []);
});

/** The host page's energy card as shown: per row key, [label, kWh, cost]. */
const ENERGY_ROWS = `Object.fromEntries([...document.querySelectorAll('#energy tr[data-energy]')].map((tr) => [tr.dataset.energy, [tr.querySelector('th').textContent, tr.querySelector('td.kwh').textContent, tr.querySelector('td.cost').textContent]]))`;

test('energy page: the host page charts the watts labelled with their source and shows the energy card', async (t) => {
  const { base } = await serve(t, { energy: EUR });
  const page = await openPage(t, `${base}/hosts/rapl-1`, { width: 1280, height: 1800 });
  if (!page) return;
  const chart = await page.waitFor<{ legend: string; aria: string; d: string }>(`(() => { const f = document.querySelector('figure[data-chart=power_w]'); const d = f?.querySelector('path.line')?.getAttribute('d');
    return d && { legend: f.querySelector('.legend').textContent, aria: f.querySelector('svg').getAttribute('aria-label'), d }; })()`, 8000);
  assert.equal(chart.legend, 'measured 212 W');
  assert.equal(chart.aria, 'Power (measured), last 15 minutes');
  assert.match(chart.d, /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+){20,}/, 'a line through the history');
  const power = await page.evaluate<string>(`document.querySelector('#power .body').textContent`);
  assert.match(power, /Drawing\s*212 WM measured/, 'the watts with their badge');
  assert.match(power, /measured by the hardware/);

  // The currency comes from /api/hosts here: this dashboard has no /api/energy (503).
  const rows = await page.waitFor<Record<string, string[]>>(`(() => { const r = ${ENERGY_ROWS}; return r.today?.[2] === '€0.36' && r; })()`, 5000);
  const since = await page.evaluate<string>(`document.querySelector('#energy tr[data-energy=total] th').textContent`);
  assert.match(since, /^Since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  assert.deepEqual(rows, {
    today: ['Today', '1.50 kWh', '€0.36'],
    month: ['This month', '22.4 kWh', '€5.40'],
    total: [since, '61.2 kWh', '€14.70'],
    'projected-month': ['This month, projected', '45.2 kWh', '€10.85'],
    'projected-next': ['Next 30 days, projected', '43.5 kWh', '€10.44'],
  });
  assert.equal(await page.evaluate(`document.querySelector('#energy .per-day')`), null, 'no /api/energy: no per-day table');
  assert.equal(await page.evaluate(`document.getElementById('error').hidden`), true, 'a missing /api/energy is not an error');
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot(join(SCREENSHOT_DIR, 'energy-detail.png'));
  assert.deepEqual(unexpectedErrors(page).filter((e) => !/api\/energy|503/.test(e)), []);
  assert.deepEqual(page.cspViolations(), []);

  await page.goto(`${base}/hosts/model-1`);
  const est = await page.waitFor<string>(`(() => { const l = document.querySelector('figure[data-chart=power_w] .legend')?.textContent; return /^estimated /.test(l ?? '') && l; })()`, 8000);
  assert.equal(est, 'estimated 95 W');
  const modelRows = await page.waitFor<Record<string, string[]>>(`(() => { const r = ${ENERGY_ROWS}; return r.today?.[2] === '€0.12' && r; })()`, 5000);
  assert.deepEqual(modelRows['today']!.slice(1), ['500 Wh', '€0.12'], 'below 1 kWh in Wh');
  assert.deepEqual(modelRows['projected-month']!.slice(1), ['–', '–'], 'no projection yet');
  assert.match(await page.evaluate<string>(`document.querySelector('#energy .body').textContent`), /No projection yet/);

  await page.goto(`${base}/hosts/bare-1`);
  await page.waitFor(`/Nothing counted/.test(document.querySelector('#energy .body').textContent)`, 5000);
});

test('energy page: the host page without a tariff shows kWh and why there is no cost', async (t) => {
  const { base } = await serve(t);
  const page = await openPage(t, `${base}/hosts/rapl-1`, { width: 1280, height: 1800 });
  if (!page) return;
  await page.waitFor(`document.querySelector('#energy .no-tariff')`, 5000);
  const rows = await page.evaluate<Record<string, string[]>>(ENERGY_ROWS);
  assert.deepEqual(rows['today']!.slice(1), ['1.50 kWh', '–']);
  assert.deepEqual(rows['projected-next']!.slice(1), ['43.5 kWh', '–']);
  assert.match(await page.evaluate<string>(`document.querySelector('#energy .no-tariff').textContent`), /--tariff/);
});

test('energy page: the host page lists the days /api/energy reports, newest first', async (t) => {
  const asked: string[] = [];
  const daily = [
    { label: '2026-11-20', kwh: 4.9, cost: 1.18, covered_s: 86_400 },
    { label: '2026-11-21', kwh: 5.1, cost: 1.22, covered_s: 79_200 },
    { label: '2026-11-22', kwh: 1.5, cost: 0.36, covered_s: 30_600 },
  ];
  const { base } = await serve(t, {
    energy: EUR,
    energyQuery: async (q: EnergyQuery) => {
      asked.push(String(q.host));
      return { status: 200, body: { now_ms: Date.now(), currency: 'EUR', tariff: 'flat 0.24 EUR/kWh', time_zone: 'Europe/Paris', scope: 'host', host: q.host, daily, hourly: [], monthly: [], per_host: [] } };
    },
  });
  const page = await openPage(t, `${base}/hosts/rapl-1`, { width: 1280, height: 1800 });
  if (!page) return;
  const rows = await page.waitFor<string[][]>(`(() => { const r = [...document.querySelectorAll('#energy .per-day tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)); return r.length > 0 && r; })()`, 5000);
  assert.deepEqual(rows, [
    ['2026-11-22', '1.50 kWh', '€0.36', '8.5'],
    ['2026-11-21', '5.10 kWh', '€1.22', '22'],
    ['2026-11-20', '4.90 kWh', '€1.18', '24'],
  ]);
  assert.ok(asked.includes('rapl-1'), `asked for the host: ${asked.join(', ')}`);
});

test('energy page: screenshots of the overview with power and cost, light and dark', async (t) => {
  const { base } = await serve(t, { energy: EUR });
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  for (const dark of [false, true]) {
    const page = await openPage(t, `${base}/?sort=power&dir=desc`, WIDE);
    if (!page) return;
    if (dark) await page.setColorScheme(true);
    await fleetFigures(page);
    const png = await page.screenshot(join(SCREENSHOT_DIR, dark ? 'energy-overview-dark.png' : 'energy-overview.png'));
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [1440, 900]);
    assert.deepEqual(unexpectedErrors(page), []);
  }
});
