// The host page's script: reads /api/hosts/NAME and its history every second, fills the cards
// and draws the charts as inline SVG (createElementNS; no agent text ever reaches the SVG).
// Inlined by page.ts after chart.js and detail_view.js, as one module script.
import { POWER_BADGES, chartModel, formatDuration, isNum, liveState } from './chart.js';
import { el, localTime, parseNote, renderCards, renderHostAlerts } from './detail_view.js';

const REFRESH_MS = Number(document.body.dataset.refreshMs) || 1000;
// After this long without a successful refresh the page says it is no longer live.
const LOST_AFTER_MS = 3 * REFRESH_MS + 1000;
// A request on a dead connection can hang for minutes; aborting it lets the next refresh retry.
const FETCH_TIMEOUT_MS = Math.max(5000, 2 * REFRESH_MS);
/** The longest history the API keeps and the charts show, ms. */
const HISTORY_MS = 900_000;
const SVG_NS = 'http://www.w3.org/2000/svg';

/** How often the tariff and the per-day energy are asked for, ms: they change by the hour. */
const ENERGY_REFRESH_MS = 60_000;
/** Date.now() when they were last asked for; 0: never. */
let energyAskedAt = 0;
/** The last host detail shown, to show again when the tariff arrives. */
let lastHost = null;

/** The charts, each with its API series and a label per line (the power line is labelled with its source). */
const CHARTS = [
  { title: 'CPU busy', kind: 'percent', lines: [['cpu_pct', 'busy']] },
  { title: 'Memory used', kind: 'bytes', lines: [['mem_used_bytes', 'used']] },
  { title: 'Load, 1 min', kind: 'number', lines: [['load_1m', 'load']] },
  { title: 'Network', kind: 'rate', lines: [['net_rx_bps', 'rx'], ['net_tx_bps', 'tx']] },
  { title: 'Disk', kind: 'rate', lines: [['disk_read_bps', 'read'], ['disk_write_bps', 'write']] },
  { title: 'Hottest temperature', kind: 'celsius', lines: [['temp_max_c', 'hottest']] },
  { title: 'Power', kind: 'watts', lines: [['power_w', 'power']] },
];
const SERIES = CHARTS.flatMap((c) => c.lines.map(([s]) => s));

const live = document.getElementById('live');
const errorBox = document.getElementById('error');
const statusBox = document.getElementById('host-status');
const alertsBox = document.getElementById('alerts-banner');
const main = document.querySelector('main');
let lastOkAt = 0;
/** Where the host's watts come from (the power chart's label); null when not said. */
let powerSource = null;
/**
 * What the page knows of the collector's tariff: its currency (null: none, kWh only; undefined:
 * not known yet) and the per-day energy from /api/energy (null while that is not served).
 */
const tariff = { currency: undefined, daily: null };

// The name is the path's one segment after /hosts/, percent-encoded by whoever made the link.
let hostName = null;
try {
  hostName = decodeURIComponent(location.pathname.slice('/hosts/'.length));
} catch {
  hostName = null;
}
document.getElementById('host-name').textContent = hostName ?? '(bad address)';
if (hostName !== null) document.title = `${hostName} · Cluster Sentinel`;
const apiBase = hostName === null ? null : `/api/hosts/${encodeURIComponent(hostName)}`;

/** Samples kept in the page: merged from each history answer, oldest dropped past HISTORY_MS. */
const kept = { t: [], values: Object.fromEntries(SERIES.map((s) => [s, []])), stepMs: 1000, nowMs: 0 };
let historyOkAt = 0;

function mergeHistory(h) {
  const lastT = kept.t.length > 0 ? kept.t[kept.t.length - 1] : -Infinity;
  for (let i = 0; i < h.t.length; i++) {
    if (!(h.t[i] > lastT)) continue;
    kept.t.push(h.t[i]);
    for (const s of SERIES) kept.values[s].push(h.values?.[s]?.[i] ?? null);
  }
  const keepFrom = h.now_ms - HISTORY_MS;
  let drop = 0;
  while (drop < kept.t.length && kept.t[drop] < keepFrom) drop++;
  if (drop > 0) {
    kept.t.splice(0, drop);
    for (const s of SERIES) kept.values[s].splice(0, drop);
  }
  kept.stepMs = isNum(h.step_ms) ? h.step_ms : 1000;
  kept.nowMs = Math.max(kept.nowMs, h.now_ms);
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const figures = CHARTS.map((spec) => {
  const fig = el('figure', 'chart');
  const cap = fig.appendChild(el('figcaption'));
  cap.appendChild(el('span', 'chart-title', spec.title));
  const legend = cap.appendChild(el('span', 'legend'));
  fig.dataset.chart = spec.lines[0][0];
  const svg = fig.appendChild(svgEl('svg', { viewBox: '0 0 320 120', role: 'img', 'aria-label': `${spec.title}, last 15 minutes` }));
  document.querySelector('#charts .charts').appendChild(fig);
  return { spec, legend, svg, label: '' };
});

/** A line's label: the power line says where its watts come from. */
function lineLabel(series, label) {
  return series === 'power_w' && POWER_BADGES[powerSource] ? POWER_BADGES[powerSource].label : label;
}

/** The agent's reason for the first of a chart's series it says is missing, or null (none said, or no sample yet). */
function missingReason(spec) {
  if (lastHost === null) return null;
  const notes = parseNote(lastHost.note);
  for (const [series] of spec.lines) if (notes.has(series)) return notes.get(series) || 'not reported';
  return null;
}

function lastValue(values) {
  for (let i = values.length - 1; i >= 0; i--) if (isNum(values[i])) return values[i];
  return null;
}

function drawCharts() {
  for (const figure of figures) {
    const { spec, legend, svg } = figure;
    const ariaLabel = `${spec.title}${spec.lines.length === 1 && lineLabel(spec.lines[0][0], '') ? ` (${lineLabel(spec.lines[0][0], '')})` : ''}, last 15 minutes`;
    if (figure.label !== ariaLabel) {
      figure.label = ariaLabel;
      svg.setAttribute('aria-label', ariaLabel);
    }
    const m = chartModel({
      t: kept.t, lines: spec.lines.map(([s]) => ({ values: kept.values[s] })),
      nowMs: kept.nowMs, maxWindowMs: HISTORY_MS, stepMs: kept.stepMs, kind: spec.kind,
    });
    const nodes = [];
    const empty = m.paths.every((d) => d === '');
    // Nothing in 15 minutes: no scale of nothing (a 0-1 °C axis read as a reading), and the
    // agent's reason where it gave one ("no sensors"), in the legend, which wraps.
    const why = empty ? missingReason(spec) : null;
    if (!empty) {
      for (const tick of m.yTicks) {
        nodes.push(svgEl('line', { class: 'grid', x1: m.plot.left, x2: m.plot.right, y1: tick.y, y2: tick.y }));
        nodes.push(svgEl('text', { class: 'tick', x: m.plot.left - 4, y: tick.y + 3, 'text-anchor': 'end' }, tick.label));
      }
      for (const tick of m.xTicks) {
        const anchor = tick.x >= m.plot.right - 1 ? 'end' : tick.x <= m.plot.left + 1 ? 'start' : 'middle';
        nodes.push(svgEl('text', { class: 'tick', x: tick.x, y: m.height - 4, 'text-anchor': anchor }, tick.label));
      }
      m.paths.forEach((d, i) => { if (d) nodes.push(svgEl('path', { class: `line line-${i}`, d })); });
    } else {
      nodes.push(svgEl('text', { class: 'nodata', x: (m.plot.left + m.plot.right) / 2, y: (m.plot.top + m.plot.bottom) / 2, 'text-anchor': 'middle' }, why === null ? 'no data in the last 15 minutes' : 'not reported by this host'));
    }
    svg.replaceChildren(...nodes);
    if (why !== null) legend.replaceChildren(el('span', 'key missing', why));
    else legend.replaceChildren(...spec.lines.map(([s, label], i) => el('span', `key key-${i}`, `${lineLabel(s, label)} ${m.format(lastValue(kept.values[s]))}`)));
  }
}

/** How long ago, by the collector's clock: '2.4 s' under a minute, then '3m 12s', '2h 5m', '3d 2h'. */
function ago(ms) {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : formatDuration(ms / 1000);
}

function renderHeader(h, nowMs) {
  statusBox.className = `status-${h.status}`;
  const ageMs = isNum(h.received_at_ms) ? Math.max(0, nowMs - h.received_at_ms) : null;
  const age = ageMs === null ? (h.status === 'offline' ? 'disconnected, no sample' : 'no sample yet') : `last sample ${ago(ageMs)} ago`;
  statusBox.replaceChildren(el('span', 'dot'), el('span', 'status', h.status), el('span', 'age', ` · ${age}`));
  statusBox.title = h.status === 'offline' && isNum(h.disconnected_at_ms) ? `disconnected at ${localTime(h.disconnected_at_ms)}` : '';
  // The cards of an offline host hold its last sample, not the present: greyed (detail.css).
  main.classList.toggle('status-offline', h.status === 'offline');
}

function tickLive() {
  const { lost, text } = liveState(lastOkAt, !errorBox.hidden, Date.now(), LOST_AFTER_MS);
  live.classList.toggle('lost', lost);
  live.textContent = text;
}

/** A JSON answer, or null for any failure: for what the page can do without. */
async function jsonOrNull(url) {
  try {
    const signal = typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(FETCH_TIMEOUT_MS) : undefined;
    const res = await fetch(url, { cache: 'no-store', headers: { accept: 'application/json' }, signal });
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/**
 * The tariff's currency and the per-day energy: from /api/energy when the collector serves it
 * (a 404 or 503 leaves the per-day table out), else the currency from /api/hosts's summary.
 * Asked for only while the host has energy counted: a host without power has nothing to price.
 */
async function refreshEnergy() {
  energyAskedAt = Date.now();
  const data = hostName === null ? null : await jsonOrNull(`/api/energy?host=${encodeURIComponent(hostName)}`);
  if (data && typeof data === 'object' && Object.hasOwn(data, 'currency')) {
    tariff.currency = typeof data.currency === 'string' ? data.currency : null;
    tariff.daily = Array.isArray(data.daily) ? data.daily : null;
  } else {
    tariff.daily = null;
    const hosts = await jsonOrNull('/api/hosts');
    if (hosts && hosts.summary && Object.hasOwn(hosts.summary, 'currency')) tariff.currency = typeof hosts.summary.currency === 'string' ? hosts.summary.currency : null;
  }
  // At once, not at the next refresh: the costs get their currency as soon as it is known.
  if (lastHost !== null) renderCards(lastHost, tariff);
}

async function getJson(url) {
  const signal = typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(FETCH_TIMEOUT_MS) : undefined;
  const res = await fetch(url, { cache: 'no-store', headers: { accept: 'application/json' }, signal });
  if (res.status === 404) throw Object.assign(new Error(`No host named “${hostName}” on this collector.`), { plain: true });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.json();
}

async function refresh() {
  try {
    if (apiBase === null) throw Object.assign(new Error('This address does not name a host.'), { plain: true });
    // First the whole window, then only what is new since the last answer (with some overlap).
    const seconds = historyOkAt === 0 ? HISTORY_MS / 1000 : Math.min(HISTORY_MS / 1000, Math.ceil((Date.now() - historyOkAt) / 1000) + 3);
    const [detail, hist] = await Promise.allSettled([getJson(apiBase), getJson(`${apiBase}/history?seconds=${seconds}`)]);
    if (detail.status === 'rejected') throw detail.reason;
    const host = detail.value.host;
    renderHeader(host, detail.value.now_ms);
    renderHostAlerts(alertsBox, host.alerts);
    // A collector that puts its currency beside the host says it best.
    if (Object.hasOwn(detail.value, 'currency')) tariff.currency = typeof detail.value.currency === 'string' ? detail.value.currency : null;
    renderCards(host, tariff);
    lastHost = host;
    powerSource = host.power_source ?? null;
    if (host.energy && Date.now() - energyAskedAt >= ENERGY_REFRESH_MS) void refreshEnergy();
    // The charts' window ends at the collector's now, even while the history cannot be read.
    kept.nowMs = Math.max(kept.nowMs, detail.value.now_ms);
    if (hist.status === 'fulfilled') {
      mergeHistory(hist.value);
      historyOkAt = Date.now();
    }
    drawCharts();
    lastOkAt = Date.now();
    errorBox.hidden = true;
  } catch (err) {
    errorBox.hidden = false;
    errorBox.textContent = err && err.plain ? err.message : `Cannot reach the collector: ${err && err.message ? err.message : err}`;
  } finally {
    tickLive();
    setTimeout(refresh, REFRESH_MS);
  }
}

setInterval(tickLive, 250);
refresh();
