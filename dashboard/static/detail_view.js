// The host page's cards: one per reading family, filled from /api/hosts/NAME. Every value that
// came from an agent goes in with textContent, never as markup. Inlined by page.ts after chart.js.
import {
  NONE, POWER_BADGES, isNum, formatBytes, formatCelsius, formatDuration, formatKwh, formatMoney, formatNumber, formatPercent, formatRate, formatWatts,
} from './chart.js';

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** A bar filled to `fraction` (0..1); red from 90 %. */
export function meter(fraction, extra = '') {
  const f = isNum(fraction) ? Math.max(0, Math.min(1, fraction)) : 0;
  const wrap = el('span', `meter${f >= 0.9 ? ' high' : ''}${extra ? ` ${extra}` : ''}`);
  const bar = el('span');
  bar.style.width = `${f * 100}%`;
  wrap.appendChild(bar);
  wrap.setAttribute('aria-hidden', 'true');
  return wrap;
}

/** Label/value pairs as a <dl>; a value may be a string or a node. */
function facts(pairs) {
  const dl = el('dl', 'facts');
  for (const [label, value] of pairs) {
    // A bar with its text needs the whole width.
    const row = el('div', value instanceof Node ? 'wide' : '');
    row.appendChild(el('dt', '', label));
    const dd = el('dd');
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = value === '' || value === null || value === undefined ? NONE : String(value);
    row.appendChild(dd);
    dl.appendChild(row);
  }
  return dl;
}

/** A value with a bar in front of it. */
function barred(fraction, text) {
  const span = el('span', 'barred');
  if (isNum(fraction)) span.appendChild(meter(fraction));
  span.appendChild(el('span', '', text));
  return span;
}

/**
 * A table of `rows` under `headers`. Columns in `numeric` are right-aligned figures; columns in
 * `text` hold agent text of any length (names, mount points), the only cells that may break
 * anywhere: a figure or a date broken mid-token reads as another value.
 */
function table(headers, rows, numeric = [], text = [0]) {
  const wrap = el('div', 'table-wrap');
  const t = el('table');
  const tr = el('tr');
  headers.forEach((h, i) => { const th = el('th', numeric.includes(i) ? 'num' : '', h); th.scope = 'col'; tr.appendChild(th); });
  t.appendChild(el('thead')).appendChild(tr);
  const tbody = t.appendChild(el('tbody'));
  for (const cells of rows) {
    const row = tbody.appendChild(el('tr'));
    cells.forEach((c, i) => {
      const td = row.appendChild(el('td', numeric.includes(i) ? 'num' : text.includes(i) ? 'text' : ''));
      if (c instanceof Node) td.appendChild(c); else td.textContent = c;
    });
  }
  wrap.appendChild(t);
  return wrap;
}

function more(n) {
  return n > 0 ? el('p', 'sub more', `+${n} more not shown`) : null;
}

/** The host's note ("name: reason; name: reason") as a map from name to reason. */
export function parseNote(note) {
  const out = new Map();
  for (const part of (note || '').split('; ')) {
    const colon = part.indexOf(': ');
    if (colon > 0) out.set(part.slice(0, colon), part.slice(colon + 2));
    else if (part) out.set(part, '');
  }
  return out;
}

/** Which readings (r) and tables (t) make up each card; a card whose all are absent says so. */
export const FAMILIES = {
  cpu: ['r:cpu_pct', 'r:cpu_user_pct', 'r:cpu_system_pct', 'r:cpu_iowait_pct', 'r:cpu_steal_pct', 'r:cpu_freq_mhz', 't:cpu_cores_pct'],
  memory: ['r:mem_total_bytes', 'r:mem_used_bytes', 'r:mem_available_bytes', 'r:mem_cached_bytes', 'r:mem_buffers_bytes', 'r:swap_total_bytes', 'r:swap_used_bytes'],
  load: ['r:load_1m', 'r:load_5m', 'r:load_15m'],
  disk: ['r:disk_read_bps', 'r:disk_write_bps', 'r:disk_read_iops', 'r:disk_write_iops', 't:fs'],
  network: ['r:net_rx_bps', 'r:net_tx_bps', 't:net'],
  temps: ['r:temp_cpu_c', 'r:temp_max_c', 't:temp_cores_c'],
  gpu: ['t:gpu'],
  power: ['r:power_w', 't:power_zones'],
  procs: ['r:procs_total', 'r:procs_running', 'r:procs_blocked', 't:procs_top'],
};

function has(h, key) {
  const name = key.slice(2);
  if (key[0] === 'r') return isNum(h.readings?.[name]);
  return (h.tables?.[name]?.length ?? 0) > 0 || (h.truncated?.[name] ?? 0) > 0;
}

/**
 * A card's state: reported at all, and the reasons the agent gave for what is missing. `reasons`
 * names each missing reading with its reason; `why` says the same for a card with nothing at
 * all, once when every reading gave the same reason ("no sensors", not three times over).
 */
export function familyState(h, notes, keys) {
  const reasons = [];
  const texts = new Set();
  for (const key of keys) {
    const name = key.slice(2);
    if (has(h, key) || !notes.has(name)) continue;
    const text = notes.get(name);
    reasons.push(text ? `${name}: ${text}` : name);
    texts.add(text);
  }
  const [only] = texts;
  const why = texts.size === 1 && only ? only : reasons.join('; ');
  return { reported: keys.some((k) => has(h, k)), reasons, why };
}

const pct = (part, whole) => (isNum(part) && isNum(whole) && whole > 0 ? part / whole : null);
/**
 * How full a filesystem is, as df's Use% and the overview's disk column (disk_fullest_pct): used /
 * (used + free), so the blocks reserved for root count as full; used / size where free is unknown.
 */
const fsFill = (f) => (isNum(f.free_bytes) ? pct(f.used_bytes, isNum(f.used_bytes) ? f.used_bytes + f.free_bytes : null) : pct(f.used_bytes, f.size_bytes));

const CARDS = {
  cpu(h, r, tb) {
    const split = el('span', 'split');
    const stack = el('span', 'stack');
    stack.setAttribute('aria-hidden', 'true');
    const parts = [['user', r.cpu_user_pct], ['system', r.cpu_system_pct], ['iowait', r.cpu_iowait_pct], ['steal', r.cpu_steal_pct]];
    for (const [name, v] of parts) {
      const seg = stack.appendChild(el('span', `seg seg-${name}`));
      seg.style.width = `${isNum(v) ? Math.min(100, v) : 0}%`;
    }
    split.appendChild(stack);
    split.appendChild(el('span', 'legend', parts.map(([name, v]) => `${name} ${formatPercent(v)}`).join(' · ')));
    const out = [facts([
      ['Busy', barred(isNum(r.cpu_pct) ? r.cpu_pct / 100 : null, formatPercent(r.cpu_pct))],
      ['Split', split],
      ['Frequency', isNum(r.cpu_freq_mhz) ? `${formatNumber(r.cpu_freq_mhz, 0)} MHz` : NONE],
    ])];
    const cores = tb.cpu_cores_pct || [];
    if (cores.length > 0) {
      const grid = el('div', 'cores');
      cores.forEach((v, i) => {
        const core = grid.appendChild(el('div', 'core'));
        core.appendChild(el('span', 'core-label', `cpu${i}`));
        core.appendChild(meter(isNum(v) ? v / 100 : null));
        core.appendChild(el('span', 'num', isNum(v) ? `${v.toFixed(0)} %` : NONE));
      });
      out.push(grid);
    }
    return out;
  },
  memory(h, r) {
    return [facts([
      ['Used', barred(pct(r.mem_used_bytes, r.mem_total_bytes), `${formatBytes(r.mem_used_bytes)} of ${formatBytes(r.mem_total_bytes)}`)],
      ['Available', formatBytes(r.mem_available_bytes)],
      ['Cached', formatBytes(r.mem_cached_bytes)],
      ['Buffers', formatBytes(r.mem_buffers_bytes)],
      ['Swap', r.swap_total_bytes === 0 ? 'none' : !isNum(r.swap_total_bytes) ? NONE : barred(pct(r.swap_used_bytes, r.swap_total_bytes), `${formatBytes(r.swap_used_bytes)} of ${formatBytes(r.swap_total_bytes)}`)],
    ])];
  },
  load(h, r) {
    const perCore = isNum(r.load_1m) && h.cpu_cores ? formatNumber(r.load_1m / h.cpu_cores) : NONE;
    return [facts([['1 min', formatNumber(r.load_1m)], ['5 min', formatNumber(r.load_5m)], ['15 min', formatNumber(r.load_15m)], ['1 min per core', perCore]])];
  },
  disk(h, r, tb, tr) {
    const fs = tb.fs || [];
    return [
      facts([['Read', formatRate(r.disk_read_bps)], ['Write', formatRate(r.disk_write_bps)],
        ['Read ops', isNum(r.disk_read_iops) ? `${formatNumber(r.disk_read_iops, 1)}/s` : NONE],
        ['Write ops', isNum(r.disk_write_iops) ? `${formatNumber(r.disk_write_iops, 1)}/s` : NONE]]),
      fs.length === 0 ? el('p', 'sub', 'No filesystems reported.') : table(['Mount', 'Type', 'Used / size', 'Fill'], fs.map((f) => {
        const fill = fsFill(f);
        return [f.mount ?? NONE, f.type || NONE, `${formatBytes(f.used_bytes)} / ${formatBytes(f.size_bytes)}`, barred(fill, formatPercent(fill === null ? null : 100 * fill))];
      })),
      more(tr.fs ?? 0),
    ];
  },
  network(h, r, tb, tr) {
    const net = tb.net || [];
    const perS = (a, b) => `${formatNumber(a, 1)} / ${formatNumber(b, 1)}`;
    return [
      facts([['Received', formatRate(r.net_rx_bps)], ['Sent', formatRate(r.net_tx_bps)]]),
      net.length === 0 ? el('p', 'sub', 'No interfaces reported.') : table(['Interface', 'Rx', 'Tx', 'Packets rx / tx per s', 'Errors rx / tx per s', 'Drops rx / tx per s'], net.map((n) => [
        n.name ?? NONE, formatRate(n.rx_bps), formatRate(n.tx_bps), perS(n.rx_pps, n.tx_pps), perS(n.rx_errs_ps, n.tx_errs_ps), perS(n.rx_drops_ps, n.tx_drops_ps),
      ]), [1, 2, 3, 4, 5]),
      more(tr.net ?? 0),
    ];
  },
  temps(h, r, tb, tr) {
    const cores = tb.temp_cores_c || [];
    const out = [facts([['CPU package', formatCelsius(r.temp_cpu_c)], ['Hottest sensor', formatCelsius(r.temp_max_c)]])];
    if (cores.length > 0) out.push(facts(cores.map((c, i) => [`Core ${i}`, formatCelsius(c)])));
    out.push(more(tr.temp_cores_c ?? 0));
    return out;
  },
  gpu(h, r, tb, tr) {
    return [table(['Model', 'Utilisation', 'Memory', 'Temperature', 'Power'], (tb.gpu || []).map((g) => [
      g.model ?? NONE, barred(isNum(g.util_pct) ? g.util_pct / 100 : null, formatPercent(g.util_pct)),
      `${formatBytes(g.mem_used_bytes)} / ${formatBytes(g.mem_total_bytes)}`, formatCelsius(g.temp_c), formatWatts(g.power_w),
    ]), [3, 4]), more(tr.gpu ?? 0)];
  },
  power(h, r, tb, tr) {
    const drawing = el('span', '', formatWatts(r.power_w));
    const badge = powerBadge(h.power_source);
    if (badge) drawing.appendChild(badge);
    const zones = tb.power_zones || [];
    return [
      // A node: the source's explanation takes the card's width.
      facts([['Drawing', drawing], ['Source', el('span', 'power-source', POWER_SOURCE_TEXT[h.power_source] ?? 'not said by the agent')]]),
      zones.length === 0 ? null : table(['Zone (RAPL)', 'Power'], zones.map((z) => [z.zone ?? NONE, formatWatts(z.watts)]), [1]),
      more(tr.power_zones ?? 0),
    ];
  },
  procs(h, r, tb, tr) {
    const top = (tb.procs_top || []).slice().sort((a, b) => (b.cpu_pct ?? -1) - (a.cpu_pct ?? -1)).slice(0, 5);
    return [
      facts([['Total', formatNumber(r.procs_total, 0)], ['Running', formatNumber(r.procs_running, 0)], ['Blocked', formatNumber(r.procs_blocked, 0)]]),
      top.length === 0 ? el('p', 'sub', 'No process list reported.') : table(['Top by CPU', 'PID', 'CPU'], top.map((p) => [
        p.name ?? NONE, formatNumber(p.pid, 0), isNum(p.cpu_pct) ? `${formatNumber(p.cpu_pct, 1)} %` : NONE,
      ]), [1, 2]),
      more(tr.procs_top ?? 0),
      // The agent reads every process on its slow class, not every second: say what the figures are.
      ...(top.length === 0 ? [] : [el('p', 'sub', "% of one core, averaged between the agent's readings of every process (every 15 s by default)")]),
    ];
  },
};

/** What the power card says of each source. */
const POWER_SOURCE_TEXT = {
  measured: 'measured by the hardware (RAPL energy counters or a power sensor)',
  estimated: 'estimated by the agent from CPU load and memory (no sensor readable)',
};

/** The watts' badge (chart.js's POWER_BADGES): letter chip, the word for screen readers, tooltip; null without a source. */
export function powerBadge(source) {
  const b = POWER_BADGES[source];
  if (!b) return null;
  const badge = el('span', 'badge');
  badge.dataset.source = source;
  badge.title = b.title;
  badge.appendChild(el('span', 'mark', b.mark)).setAttribute('aria-hidden', 'true');
  badge.appendChild(el('span', 'sr-only', ` ${b.label}`));
  return badge;
}

/** Most days the per-day table lists, newest first. */
const ENERGY_DAYS_SHOWN = 14;

/**
 * The energy card: kWh and cost today, this month, since the collector first counted this host,
 * and the projection, from the host's `energy` (shared/host_view.ts). `tariff` is what the page
 * knows of the collector's tariff: { currency } (null: no tariff, kWh only; undefined: not known
 * yet) and the per-day rows of /api/energy when it answered (else no per-day table).
 */
export function energyNodes(h, tariff) {
  const e = h.energy;
  if (!e || typeof e !== 'object') {
    return [el('p', 'absent', isNum(h.readings?.power_w)
      ? 'Nothing counted yet: the collector starts with the next power reading.'
      : 'Nothing counted: the collector counts energy from the host\'s power readings, and this host sends none.')];
  }
  const currency = tariff.currency ?? null;
  const money = (v) => formatMoney(v, currency);
  const p = e.projection && typeof e.projection === 'object' ? e.projection : null;
  const rows = [
    ['today', 'Today', e.today_kwh, e.today_cost],
    ['month', 'This month', e.month_kwh, e.month_cost],
    ['total', `Since ${localTime(e.since_ms)}`, e.total_kwh, e.total_cost],
    ['projected-month', 'This month, projected', p?.month_kwh, p?.month_cost],
    ['projected-next', p && isNum(p.days) ? `Next ${formatNumber(p.days, 0)} days, projected` : 'Next days, projected', p?.next_kwh, p?.next_cost],
  ];
  const wrap = el('div', 'table-wrap');
  const t = wrap.appendChild(el('table', 'energy'));
  const head = t.appendChild(el('thead')).appendChild(el('tr'));
  for (const [text, cls] of [['', ''], ['Energy', 'num'], ['Cost', 'num']]) {
    const th = head.appendChild(el('th', cls, text));
    th.scope = 'col';
  }
  const body = t.appendChild(el('tbody'));
  for (const [key, label, kwh, cost] of rows) {
    const tr = body.appendChild(el('tr'));
    tr.dataset.energy = key;
    const th = tr.appendChild(el('th', '', label));
    th.scope = 'row';
    tr.appendChild(el('td', 'num kwh', formatKwh(kwh)));
    tr.appendChild(el('td', 'num cost', money(cost)));
  }
  const out = [wrap];
  if (!p) out.push(el('p', 'sub', 'No projection yet: it needs a few hours of readings.'));
  if (tariff.currency === null) out.push(el('p', 'sub no-tariff', 'Cost needs a tariff: start the collector with --tariff.'));
  const daily = Array.isArray(tariff.daily) ? tariff.daily.filter((d) => d && typeof d.label === 'string').slice(-ENERGY_DAYS_SHOWN).reverse() : [];
  if (daily.length > 0) {
    out.push(el('h3', 'per-day-title', 'Per day'));
    const perDay = table(['Day', 'Energy', 'Cost', 'Hours counted'], daily.map((d) => [
      d.label, formatKwh(d.kwh), money(d.cost), isNum(d.covered_s) ? formatNumber(d.covered_s / 3600, 1) : NONE,
    ]), [1, 2, 3], []);
    perDay.classList.add('per-day');
    out.push(perDay);
  }
  return out;
}

function two(n) {
  return String(n).padStart(2, '0');
}

/** Local time as YYYY-MM-DD HH:MM:SS, the same in every browser locale. */
export function localTime(ms) {
  if (!isNum(ms)) return NONE;
  const d = new Date(ms);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function systemCard(h, notes) {
  const known = new Set(Object.values(FAMILIES).flat().map((k) => k.slice(2)));
  const other = [...notes].filter(([name]) => !known.has(name)).map(([name, why]) => (why ? `${name}: ${why}` : name));
  const out = [facts([
    ['Uptime', formatDuration(h.readings?.uptime_s ?? h.uptime_s)], ['Booted', localTime(h.boot_time_ms)],
    ['OS', h.os], ['Kernel', h.kernel], ['Architecture', h.arch], ['CPU model', h.cpu_model],
    ['Cores', h.cpu_cores === null || h.cpu_cores === undefined ? NONE : String(h.cpu_cores)], ['Agent', h.agent],
    ['Sampling every', isNum(h.interval_ms) ? `${formatNumber(h.interval_ms / 1000, 1)} s` : NONE],
  ])];
  if (other.length > 0) out.push(el('p', 'sub note', other.join('; ')));
  return out;
}

/**
 * The host's active alerts (the `alerts` of /api/hosts/NAME), firing before pending, each as its
 * rule, what it watches (the metric, and the filesystem for per-filesystem rules) and its state.
 */
export function hostAlertLines(alerts) {
  const list = Array.isArray(alerts)
    ? alerts.filter((a) => a && typeof a.rule === 'string' && (a.state === 'firing' || a.state === 'pending'))
    : [];
  // Stable: within a state, the collector's order.
  list.sort((a, b) => (a.state === b.state ? 0 : a.state === 'firing' ? -1 : 1));
  return list.map((a) => ({
    rule: a.rule,
    metric: typeof a.metric === 'string' ? a.metric : '',
    instance: typeof a.instance === 'string' ? a.instance : '',
    state: a.state,
  }));
}

/** The alerts section of the host page: hidden when the host has none. */
export function renderHostAlerts(section, alerts) {
  const lines = hostAlertLines(alerts);
  section.hidden = lines.length === 0;
  section.querySelector('ul').replaceChildren(...lines.map((a) => {
    const li = el('li', `state-${a.state}`);
    li.appendChild(el('span', 'rule', a.rule));
    li.appendChild(el('span', 'detail', a.metric));
    if (a.instance !== '') li.appendChild(el('span', 'instance', `on ${a.instance}`));
    li.appendChild(el('span', 'state', a.state));
    return li;
  }));
}

/**
 * Fills every family card of the page from a HostDetail, and the energy card with what the page
 * knows of the tariff (energyNodes).
 */
export function renderCards(h, tariff = { currency: undefined, daily: null }) {
  const notes = parseNote(h.note);
  document.querySelector('#system .body').replaceChildren(...systemCard(h, notes));
  for (const [id, keys] of Object.entries(FAMILIES)) {
    const body = document.querySelector(`#${id} .body`);
    const state = familyState(h, notes, keys);
    if (!state.reported) {
      const why = state.why !== '' ? ` — ${state.why}` : '.';
      body.replaceChildren(el('p', 'absent', `Not reported by this host${why}`));
      continue;
    }
    const nodes = CARDS[id](h, h.readings || {}, h.tables || {}, h.truncated || {}).filter(Boolean);
    if (state.reasons.length > 0) nodes.push(el('p', 'sub missing', `missing — ${state.reasons.join('; ')}`));
    body.replaceChildren(...nodes);
  }
  document.querySelector('#energy .body').replaceChildren(...energyNodes(h, tariff));
}
