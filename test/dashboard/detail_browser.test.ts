/**
 * The host page in headless chromium, against a real collector process fed by a raw protocol
 * client: one host sends every reading and table (with hostile text), another leaves families
 * out with reasons. The rendered DOM is checked family by family, for injected markup, and for
 * charts; the overview is checked for links to the host pages.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from '../helpers/cdp.ts';
import { chromiumOrSkip, dumpDom, injectedMarkup, screenshot, startTags, textOf } from '../helpers/chromium.ts';
import { httpRequest } from '../helpers/http_client.ts';
import { getJson, RawClient, waitFor } from '../helpers/net.ts';
import { startTs, waitForOutput, type Proc } from '../helpers/procs.ts';

const HOSTILE = '<img src=x onerror=alert(1)>';
/** Characters a path segment must have encoded: the link and the page must agree on the name. */
const FULL = `full/${HOSTILE}?#%`;
const SPARSE = 'sparse';
const ZONE_MARKUP = '<b onclick=x>dram';
const RLO = '\u202E';
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
/** Long enough that the hosts stay online however slow the browser is, ms. */
const INTERVAL_MS = 60_000;
/** Seconds of history sent before the browser looks; GAP_S seconds from GAP_AT_S are left out. */
const HISTORY_S = 12;
const GAP_AT_S = 5;
/** More than two steps: the charts must break their lines there. */
const GAP_S = 3;
const CHROMIUM_TIMEOUT_MS = 45_000;
const SCREENSHOT_FILE = join(tmpdir(), `sentinel-detail-${process.pid}.png`);

const READINGS_FULL = {
  cpu_pct: 42.5, cpu_user_pct: 30.5, cpu_system_pct: 8, cpu_iowait_pct: 2.5, cpu_steal_pct: 1.5, cpu_freq_mhz: 3400,
  load_1m: 1.25, load_5m: 0.75, load_15m: 0.5,
  mem_total_bytes: 16 * GIB, mem_used_bytes: 6 * GIB, mem_available_bytes: 10 * GIB, mem_cached_bytes: 4 * GIB, mem_buffers_bytes: 512 * MIB,
  swap_total_bytes: 2 * GIB, swap_used_bytes: 256 * MIB, uptime_s: 3 * 86_400 + 7200,
  disk_read_bps: 5 * MIB, disk_write_bps: 1.5 * MIB, disk_read_iops: 120, disk_write_iops: 45.5,
  net_rx_bps: 2 * MIB, net_tx_bps: 256 * 1024, temp_cpu_c: 58.5, temp_max_c: 71,
  procs_total: 312, procs_running: 3, procs_blocked: 1, power_w: 310, power_source: 'measured',
};

const NET_ROWS = [
  { name: 'eth0', rx_bps: 1.5 * MIB, tx_bps: 200 * 1024, rx_pps: 1200, tx_pps: 800, rx_errs_ps: 0.5, tx_errs_ps: 0, rx_drops_ps: 2, tx_drops_ps: 0.25 },
  { name: `${RLO}${HOSTILE}`, rx_bps: 512 * 1024, tx_bps: 56 * 1024, rx_pps: 10, tx_pps: 20, rx_errs_ps: 0, tx_errs_ps: 0, rx_drops_ps: 0, tx_drops_ps: 0 },
  // 24 more: shared memory keeps 24 interfaces, so the page must say 2 are not shown.
  ...Array.from({ length: 24 }, (_, i) => ({ name: `veth${String(i).padStart(2, '0')}`, rx_bps: 0, tx_bps: 0 })),
];

const TABLES_FULL = {
  cpu_cores_pct: [12.5, 87.5, 50, 0],
  temp_cores_c: [55, 61.5],
  fs: [
    // 5 GiB reserved for root: full as df counts it, 40 / (40 + 55) = 42.1 %, as the overview's disk column.
    { mount: '/', type: 'ext4', size_bytes: 100 * GIB, used_bytes: 40 * GIB, free_bytes: 55 * GIB },
    { mount: `/mnt/${RLO}${HOSTILE}`, type: 'xfs', size_bytes: 10 * GIB, used_bytes: 9.5 * GIB, free_bytes: 0.5 * GIB },
  ],
  net: NET_ROWS,
  gpu: [{ model: `GPU ${HOSTILE}`, util_pct: 73.5, mem_used_bytes: 10 * GIB, mem_total_bytes: 40 * GIB, temp_c: 66, power_w: 250 }],
  // Shared memory keeps 32 bytes of a zone name: a short piece of markup.
  power_zones: [{ zone: 'package-0', watts: 280 }, { zone: ZONE_MARKUP, watts: 30 }],
  procs_top: [
    { name: 'idle-ish', pid: 7, cpu_pct: 0.5 },
    { name: 'postgres', pid: 4242, cpu_pct: 150.5 },
    { name: HOSTILE, pid: 666, cpu_pct: 99 },
    { name: 'nginx', pid: 80, cpu_pct: 12 },
    { name: 'sshd', pid: 22, cpu_pct: 3 },
    { name: 'cron', pid: 11, cpu_pct: 1 },
  ],
};

const MISSING_SPARSE = { gpu: `no GPU found ${HOSTILE}`, temp_cpu_c: 'no sensors', temp_max_c: 'no sensors', temp_cores_c: 'no sensors', cpu_steal_pct: 'not a VM' };

interface Fleet {
  base: string;
  close(): Promise<void>;
}

/** A collector process and one raw client per host, each having sent HISTORY_S seconds of samples. */
async function startFleet(): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-detail-'));
  const token = randomBytes(16).toString('hex');
  const procs: Proc[] = [];
  const clients: RawClient[] = [];
  const close = async (): Promise<void> => {
    for (const c of clients) c.close();
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // A flat tariff: the host page shows what the collector counted, priced, and its days from /api/energy.
    const collector = startTs('collector/main.ts', ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', token, '--tariff', '0.25 EUR', '--timezone', 'UTC']);
    procs.push(collector);
    const agentPort = Number((await waitForOutput(collector, /agents:\s+127\.0\.0\.1:(\d+)/, 30_000))[1]);
    const base = (await waitForOutput(collector, /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//, 30_000))[1]!;
    const now = Date.now();
    const hosts: Array<[string, (s: number) => Record<string, unknown>]> = [
      [FULL, (s) => ({ ...READINGS_FULL, ...TABLES_FULL, cpu_pct: s === HISTORY_S - 1 ? 42.5 : 10 + s })],
      [SPARSE, (s) => ({ cpu_pct: 5 + s, mem_total_bytes: 4 * GIB, mem_used_bytes: GIB, load_1m: 0.1, uptime_s: 60, cpu_user_pct: 4, missing: MISSING_SPARSE })],
    ];
    for (const [host, sample] of hosts) {
      const c = await RawClient.open(agentPort);
      clients.push(c);
      c.send({ type: 'hello', proto: 1, host, agent: '0.1.0-test', token, interval_ms: INTERVAL_MS, ts: now, os: `Debian ${HOSTILE}`, kernel: '6.1.0-test', arch: 'x64', cpu_model: 'Test CPU "9000"', cpu_cores: 4 });
      await c.next('welcome', 10_000);
      for (let s = 0; s < HISTORY_S; s++) {
        if (s >= GAP_AT_S && s < GAP_AT_S + GAP_S) continue;
        c.send({ type: 'sample', seq: s + 1, ts: now - (HISTORY_S - 1 - s) * 1000, ...sample(s) });
      }
    }
    await waitFor('both hosts with their history', async () => {
      const h = await getJson<{ t: number[] }>(`${base}/api/hosts/${encodeURIComponent(FULL)}/history?seconds=60`);
      const s = await getJson<{ t: number[] }>(`${base}/api/hosts/${SPARSE}/history?seconds=60`);
      return h.t.length === HISTORY_S - GAP_S && s.t.length === HISTORY_S - GAP_S;
    }, 15_000, 100);
    return { base, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A card's text by its section id. */
function card(dom: string, id: string): string {
  const m = new RegExp(`<section id="${id}"[^>]*>([\\s\\S]*?)</section>`).exec(dom);
  assert.ok(m, `section #${id} exists`);
  return textOf(m[1]!);
}

// One collector and its two hosts for every test of this file.
let fleet: Fleet;
before(async () => { fleet = await startFleet(); });
after(() => fleet?.close());

test('host page: served as one document with a hash-only CSP', async () => {
  const res = await httpRequest(`${fleet.base}/hosts/${encodeURIComponent(FULL)}`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8$/);
  assert.equal(res.headers['cache-control'], 'no-cache');
  const csp = String(res.headers['content-security-policy']);
  assert.match(csp, /(^|;)\s*default-src 'none'(;|$)/, csp);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|script-src[^;]*'self'/, csp);
  assert.doesNotMatch(res.body, /<script[^>]*\ssrc=|<link[^>]*\shref=|url\(/, 'nothing loaded from elsewhere');
  const script = /<script type="module">([\s\S]*?)<\/script>/.exec(res.body)![1]!;
  const style = /<style>([\s\S]*?)<\/style>/.exec(res.body)![1]!;
  const hash = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
  assert.ok(csp.includes(`script-src ${hash(script)};`), 'the CSP names the inline script');
  assert.ok(csp.includes(`style-src ${hash(style)};`), 'the CSP names the inline style');
  assert.doesNotMatch(script, /^import /m, 'the modules are joined, their imports of each other removed');
});

test('host page in chromium: every family, hostile text as text, charts, links', { timeout: 180_000 }, async (t) => {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return;
  const opts = { chromium, virtualTimeBudgetMs: 4000, timeoutMs: CHROMIUM_TIMEOUT_MS };
  const dom = await dumpDom(`${fleet.base}/hosts/${encodeURIComponent(FULL)}`, opts);

  await t.test('the header names the host and says the page is live', () => {
    assert.ok(dom.includes(`<span id="host-name">${FULL.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</span>`), 'the name, decoded from the path, as text');
    assert.match(dom, /<p id="live"[^>]*>live · updated [\d.]+ s ago<\/p>/);
    assert.match(dom, /<span class="status">online<\/span>/);
    assert.match(dom, /<p id="error" class="warn" hidden(="")?><\/p>/, 'no error shown');
  });

  await t.test('every family shows the values sent, formatted', () => {
    const want: Record<string, string[]> = {
      system: ['3d 2h', `Debian ${HOSTILE}`, '6.1.0-test', 'x64', 'Test CPU "9000"', 'Cores 4', '0.1.0-test', 'Booted'],
      cpu: ['Busy 42.5 %', 'user 30.5 % · system 8.0 % · iowait 2.5 % · steal 1.5 %', '3400 MHz', 'cpu0 13 %', 'cpu1 88 %', 'cpu3 0 %'],
      memory: ['6 GiB of 16 GiB', 'Available 10 GiB', 'Cached 4 GiB', 'Buffers 512 MiB', '256 MiB of 2 GiB'],
      load: ['1 min 1.25', '5 min 0.75', '15 min 0.5', 'per core 0.31'],
      disk: ['Read 5 MiB/s', 'Write 1.5 MiB/s', '120/s', '45.5/s', '/ ext4 40 GiB / 100 GiB 42.1 %', 'xfs 9.5 GiB / 10 GiB 95.0 %'],
      network: ['Received 2 MiB/s', 'Sent 256 KiB/s', 'eth0 1.5 MiB/s 200 KiB/s 1200 / 800 0.5 / 0 2 / 0.3', 'veth21', '+2 more not shown'],
      temps: ['CPU package 58.5 °C', 'Hottest sensor 71.0 °C', 'Core 0 55.0 °C', 'Core 1 61.5 °C'],
      gpu: [`GPU ${HOSTILE}`, '73.5 %', '10 GiB / 40 GiB', '66.0 °C', '250 W'],
      power: ['Drawing 310 W M measured', 'Source measured by the hardware', 'package-0 280 W', `${ZONE_MARKUP} 30 W`],
      procs: ['Total 312', 'Running 3', 'Blocked 1', 'postgres 4242 150.5 %', `${HOSTILE} 666 99 %`, 'nginx 80 12 %', 'sshd 22 3 %', 'cron 11 1 %'],
    };
    for (const [id, parts] of Object.entries(want)) {
      const text = card(dom, id);
      for (const p of parts) assert.ok(text.includes(p), `#${id} shows "${p}": ${text}`);
      assert.doesNotMatch(text, /not reported/i, `#${id} is reported`);
    }
    assert.ok(!card(dom, 'procs').includes('idle-ish'), 'only the top 5 processes');
    assert.ok(!card(dom, 'network').includes('veth22'), 'rows beyond what shared memory keeps are not shown');
  });

  await t.test('hostile text is text: no element, no handler, no bidi override', () => {
    assert.ok(card(dom, 'network').includes(`\uFFFD${HOSTILE}`), 'the interface name, its override replaced');
    assert.ok(card(dom, 'disk').includes(`/mnt/\uFFFD${HOSTILE}`), 'the mount point, its override replaced');
    assert.ok(!dom.includes(RLO), 'no bidi override reaches the page');
    assert.deepEqual(injectedMarkup(dom), [], 'no injected element or handler');
    assert.ok(startTags(dom).length > 100, 'the tag scan sees the page');
  });

  await t.test('the host\'s alerts are listed, its text as text', () => {
    // filesystem_full (> 90 %, no delay) fires for the 95 % filesystem as soon as the sample lands.
    assert.match(dom, /<section id="alerts-banner" aria-labelledby="alerts-title">/, 'shown');
    const alerts = card(dom, 'alerts-banner');
    assert.equal(alerts, `Alerts on this host filesystem_full fs_used_pct on /mnt/\uFFFD${HOSTILE} firing`);
  });

  await t.test('charts are inline SVG with path data, broken at the gap', () => {
    const svgs = [...dom.matchAll(/<svg\b[^>]*>([\s\S]*?)<\/svg>/g)].map((m) => m[1]!);
    assert.equal(svgs.length, 7, 'seven charts');
    const paths = startTags(dom).filter((tag) => tag.name === 'path').map((tag) => tag.attrs.get('d') ?? '');
    assert.ok(paths.length >= 9, `every series has a line (${paths.length})`);
    for (const d of paths) assert.match(d, /^(M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)*(h0)?)+$/, 'path data');
    const cpu = paths[0]!;
    assert.equal(cpu.match(/M/g)?.length, 2, `the line breaks where ${GAP_S} seconds are missing: ${cpu}`);
    assert.match(textOf(svgs[0]!), /^0 % .*100 % now .*-1 min$/, 'the CPU chart has its axes');
    assert.match(card(dom, 'charts'), /CPU busy busy 42\.5 %/, 'the latest value beside the chart');
    assert.match(card(dom, 'charts'), /Network rx 2 MiB\/s tx 256 KiB\/s/);
    assert.match(card(dom, 'charts'), /Power measured 310 W/, 'the power line is labelled with its source');
  });

  await t.test('the energy card shows what the collector counted, priced in its tariff\'s currency', () => {
    const energy = card(dom, 'energy');
    // A few seconds at 310 W: tenths of a Wh, and cents rounded to nothing.
    const wh = String.raw`(\d+(\.\d)?|< 0\.1) Wh`;
    assert.match(energy, new RegExp(`Today ${wh} €0\\.\\d\\d This month ${wh} €0\\.\\d\\d Since \\d{4}-\\d\\d-\\d\\d`), energy);
    assert.doesNotMatch(energy, /--tariff/, 'a tariff is set');
    assert.match(energy, new RegExp(`Per day Day Energy Cost Hours counted \\d{4}-\\d\\d-\\d\\d ${wh} €0\\.\\d\\d`), `the day from /api/energy: ${energy}`);
  });

  await t.test('the overview links each host to its page', async () => {
    // Driven over the DevTools protocol: the overview keeps /api/events open, and chromium's
    // virtual time (dumpDom) does not advance while a request is open.
    const browser = await launchBrowser({ chromium });
    let overview: string;
    let links: Array<string | null>;
    try {
      const page = await browser.newPage({ width: 1280, height: 800 });
      await page.goto(`${fleet.base}/`);
      await page.waitFor(`document.querySelectorAll('#hosts a.host-name').length >= 2`, 15_000);
      // The table's links (the grid view holds the same links for its cards).
      links = await page.evaluate<Array<string | null>>(`[...document.querySelectorAll('#hosts a.host-name')].map((a) => a.getAttribute('href'))`);
      overview = await page.evaluate<string>('document.documentElement.outerHTML');
    } finally {
      await browser.close();
    }
    assert.deepEqual(links, [`/hosts/${encodeURIComponent(FULL)}`, `/hosts/${SPARSE}`]);
    assert.deepEqual(injectedMarkup(overview), []);
  });

  await t.test('a host that leaves families out says so, with its reasons', async () => {
    const sparse = await dumpDom(`${fleet.base}/hosts/${SPARSE}`, opts);
    assert.equal(card(sparse, 'gpu'), `GPUs Not reported by this host — no GPU found ${HOSTILE}`);
    assert.equal(card(sparse, 'temps'), 'Temperatures Not reported by this host — no sensors', 'one reason for all three: said once');
    assert.equal(card(sparse, 'procs'), 'Processes Not reported by this host.', 'no reason given: the plain text');
    assert.equal(card(sparse, 'power'), 'Power Not reported by this host.');
    assert.match(card(sparse, 'cpu'), /Busy 16\.0 %.*missing — cpu_steal_pct: not a VM/, 'a partly reported family names what is missing');
    const charts = card(sparse, 'charts');
    assert.match(charts, /Power power – .*no data in the last 15 minutes/, 'a chart without data says so');
    assert.match(charts, /Hottest temperature no sensors not reported by this host/, 'with the agent\'s reason where it gave one, in place of an axis');
    assert.doesNotMatch(charts, /Hottest temperature[^A-Z]*°C/, 'no scale drawn for nothing');
    assert.match(sparse, /<section id="alerts-banner" aria-labelledby="alerts-title" hidden(="")?>/, 'no alert: no alerts section');
    assert.deepEqual(injectedMarkup(sparse), []);
  });

  await t.test('screenshot for a human to look at', async () => {
    await screenshot(`${fleet.base}/hosts/${encodeURIComponent(FULL)}`, SCREENSHOT_FILE, { ...opts, width: 1280, height: 1600 });
    t.diagnostic(`screenshot: ${SCREENSHOT_FILE}`);
  });
});
