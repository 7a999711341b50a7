// The overview page's logic without a DOM: the columns, how hosts sort and filter, the view
// state kept in the URL and in localStorage, what is over a threshold, and the text of the
// fleet header, the alerts banner and each host's row. Plain JavaScript (types in overview.d.ts)
// so node:test imports it as the browser runs it; page.ts inlines it after chart.js. Every
// top-level name here shares one module scope with chart.js, overview_view.js and app.js.
import { NONE, isNum, formatBytes, formatCelsius, formatDuration, formatKwh, formatMoney, formatNumber, formatPercent, formatRate, formatWatts } from './chart.js';

/** The table's columns, in page order; each is a sort key and a cell (td[data-col=KEY]). */
export const COLUMNS = Object.freeze(['name', 'status', 'age', 'cpu', 'mem', 'disk', 'net', 'temp', 'power', 'energy', 'cost', 'uptime']);
/** Where a host's watts come from (chart.js's POWER_BADGES say how the page shows each). */
export const POWER_SOURCES = Object.freeze(['measured', 'estimated']);
/** What a cost reads as while the collector has no tariff: shown as the cell's and the header's tooltip or hint. */
export const NO_TARIFF_HINT = 'cost needs a tariff: start the collector with --tariff';
export const STATUS_FILTERS = Object.freeze(['all', 'online', 'stale', 'offline']);
/** The layouts: rows of a table, or cards of a grid. */
export const VIEWS = Object.freeze(['table', 'grid']);
/**
 * Each view as the URL names it: the grid is "Cards" on its button, so `view=cards`. Its older
 * name, `view=grid`, still reads, so that old links keep working.
 */
export const VIEW_IN_URL = Object.freeze({ table: 'table', grid: 'cards' });
export const SPARK_SERIES = Object.freeze(['cpu_pct', 'mem_used_pct']);
/**
 * The view state a page starts with; serialiseQuery leaves these values out of the URL. `view`
 * is the layout the person chose, 'auto' while they chose none: the width picks it (shownView).
 */
export const DEFAULT_STATE = Object.freeze({ sort: 'name', dir: 'asc', q: '', status: 'all', view: 'auto' });
/**
 * Where the page opens in the cards while no layout was chosen: app.css's phone layout, from the
 * same width down. Every phone held upright is there (320 to 430 px), where the table shows Host,
 * Status, Age and CPU (4 of 12 columns at 390 px) and leaves memory, disk and power to a sideways
 * scroll, while a card shows every figure of a host within the width. Wider, the table stays: a
 * phone turned sideways is some 390 px high, room for one and a half cards (243 px each at
 * 844 px) against a dozen rows, and from 768 px (a tablet) the table shows memory and disk too.
 */
export const NARROW_MEDIA = '(max-width: 640px)';
/** The layout to show: the one chosen, else the cards on a narrow screen (NARROW_MEDIA matches) and the table on any other. */
export function shownView(view, narrow) {
  return VIEWS.includes(view) ? view : narrow ? 'grid' : 'table';
}
/** Longest name filter kept, characters: a host name is at most a few hundred bytes. */
export const MAX_QUERY_CHARS = 200;
/**
 * Thresholds used when the payload carries none (a collector from before alert rules): the
 * default rules' values. A payload's own `thresholds` always wins, nulls included.
 */
export const DEFAULT_THRESHOLDS = Object.freeze({ cpu_pct: 90, mem_used_pct: 90, fs_used_pct: 90, temp_max_c: 85 });

/** A new column's first direction: names A→Z, everything else worst or biggest first. */
export function defaultDir(key) {
  return key === 'name' ? 'asc' : 'desc';
}

/** formatBytes's units, in order. */
const BYTE_UNIT_NAMES = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
const STATUS_RANK = { online: 0, stale: 1, offline: 2 };
const NAME_COLLATOR = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });

/** web-2 before web-10; code-point order where the collator sees no difference, so the order is total. */
export function compareNames(a, b) {
  return NAME_COLLATOR.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

function numOrNull(v) {
  return isNum(v) ? v : null;
}

/** Reads a number from an object, null when absent or not a finite number. */
function field(obj, key) {
  return obj && typeof obj === 'object' ? numOrNull(obj[key]) : null;
}

function sumOrNull(a, b) {
  return a === null && b === null ? null : (a ?? 0) + (b ?? 0);
}

/**
 * One host of the payload with every value the page shows or sorts by: fields a collector may
 * not send yet (mem_used_pct, disk_fullest_*, alerts) read as null or empty, never undefined.
 * `prev`, the same host as normalised before: a host of the overview's stream without its facts
 * and note (sent only when they change: GET /api/events?view=overview) keeps that one's.
 */
export function normalizeHost(h, prev = null) {
  const keepFacts = prev !== null && h.agent === undefined && h.os === undefined && h.note === undefined;
  const r = h && typeof h.readings === 'object' && h.readings !== null ? h.readings : {};
  const memUsed = field(h, 'mem_used_bytes');
  const memTotal = field(h, 'mem_total_bytes');
  let memPct = field(h, 'mem_used_pct');
  if (memPct === null && h.mem_used_pct === undefined && memUsed !== null && memTotal) memPct = (memUsed / memTotal) * 100;
  const rx = field(r, 'net_rx_bps');
  const tx = field(r, 'net_tx_bps');
  const energy = h.energy && typeof h.energy === 'object' ? h.energy : null;
  const powerW = field(r, 'power_w');
  const slot = field(h, 'slot');
  return {
    name: String(h.name),
    // Where the host lives in the collector's store: `status` events address hosts by it.
    slot: slot !== null && Number.isInteger(slot) && slot >= 0 ? slot : null,
    status: Object.hasOwn(STATUS_RANK, h.status) ? h.status : 'offline',
    ageMs: field(h, 'age_ms'),
    cpuPct: field(h, 'cpu_pct'),
    cpuCores: field(h, 'cpu_cores'),
    memUsedBytes: memUsed,
    memTotalBytes: memTotal,
    memPct,
    diskPct: field(h, 'disk_fullest_pct'),
    diskMount: typeof h.disk_fullest_mount === 'string' ? h.disk_fullest_mount : null,
    rxBps: rx,
    txBps: tx,
    netBps: sumOrNull(rx, tx),
    tempC: field(r, 'temp_max_c'),
    powerW,
    // A source without watts says nothing.
    powerSource: powerW !== null && POWER_SOURCES.includes(h.power_source) ? h.power_source : null,
    todayKwh: field(energy, 'today_kwh'),
    todayCost: field(energy, 'today_cost'),
    uptimeS: field(h, 'uptime_s'),
    // The core count is sent with every delta; the rest of the facts only when they change.
    facts: factsOf(keepFacts ? { ...prev.machine, cpu_cores: h.cpu_cores } : h),
    machine: keepFacts ? prev.machine : { os: h.os, kernel: h.kernel, arch: h.arch, cpu_model: h.cpu_model, agent: h.agent },
    note: keepFacts ? prev.note : typeof h.note === 'string' ? h.note : '',
    alerts: Array.isArray(h.alerts) ? h.alerts.filter((a) => a && typeof a.metric === 'string') : [],
  };
}

/** What the row's tooltip says of the machine. */
function factsOf(h) {
  return [h.os, h.kernel, h.arch, h.cpu_model, isNum(h.cpu_cores) ? `${h.cpu_cores} cores` : '', h.agent]
    .filter((s) => typeof s === 'string' && s !== '').join(' · ');
}

/** The payload's hosts, normalised; entries without a string name are dropped. */
export function normalizeHosts(payload) {
  const list = payload && Array.isArray(payload.hosts) ? payload.hosts : [];
  return list.filter((h) => h && typeof h === 'object' && typeof h.name === 'string').map((h) => normalizeHost(h));
}

/** A `status` event's character per status (dashboard/api.ts STATUS_CHARS); any other: no host in that slot. */
const STATUS_OF_CHAR = Object.freeze({ o: 'online', s: 'stale', f: 'offline' });

/** Each host's alerts as the payload lists them under the host (rule, metric, instance, state), in feed order. */
export function hostAlertsOf(alerts) {
  const out = new Map();
  for (const a of Array.isArray(alerts) ? alerts : []) {
    if (!a || typeof a !== 'object' || typeof a.host !== 'string' || typeof a.metric !== 'string') continue;
    let list = out.get(a.host);
    if (!list) out.set(a.host, (list = []));
    list.push({ rule: a.rule, metric: a.metric, instance: a.instance, state: a.state });
  }
  return out;
}

function sameAlerts(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.rule !== y.rule || x.metric !== y.metric || x.instance !== y.instance || x.state !== y.state) return false;
  }
  return true;
}

/**
 * A `status` event ({ statuses, alerts? }: dashboard/api.ts StatusPayload) applied to normalised
 * hosts. Each host takes the status of its slot's character; with `alerts`, each host's alerts
 * from that list. Hosts whose slot now holds no host are left out (`gone`); a host without a
 * slot (an older collector) keeps its status. Returns a new array: changed hosts are new objects
 * (named in `changed`), the others the same ones; `statusChanged` when any status did.
 */
export function applyStatusEvent(hosts, data) {
  const statuses = data && typeof data.statuses === 'string' ? data.statuses : null;
  const byHost = data && Array.isArray(data.alerts) ? hostAlertsOf(data.alerts) : null;
  const out = [];
  const changed = [];
  let statusChanged = false;
  let gone = 0;
  for (const old of hosts) {
    let h = old;
    if (statuses !== null && h.slot !== null) {
      const status = STATUS_OF_CHAR[statuses[h.slot]];
      if (status === undefined) { gone++; continue; }
      if (status !== h.status) { h = { ...h, status }; statusChanged = true; }
    }
    if (byHost !== null) {
      const list = byHost.get(h.name) ?? [];
      if (!sameAlerts(list, h.alerts)) h = h === old ? { ...h, alerts: list } : Object.assign(h, { alerts: list });
    }
    if (h !== old) changed.push(h.name);
    out.push(h);
  }
  return { hosts: out, changed, statusChanged, gone };
}

/** The value a column sorts by (null: nothing to sort by, kept last). */
export function sortValue(host, key) {
  switch (key) {
    case 'name': return host.name;
    case 'status': return STATUS_RANK[host.status];
    case 'age': return host.ageMs;
    case 'cpu': return host.cpuPct;
    case 'mem': return host.memPct;
    case 'disk': return host.diskPct;
    case 'net': return host.netBps;
    case 'temp': return host.tempC;
    case 'power': return host.powerW;
    case 'energy': return host.todayKwh;
    case 'cost': return host.todayCost;
    case 'uptime': return host.uptimeS;
    default: return null;
  }
}

/**
 * A comparator of normalised hosts by `key` in `dir`. Hosts without a value go last whichever
 * the direction (a missing reading is not the smallest one); ties go by name A→Z, so the order
 * never depends on the order the hosts came in.
 */
export function hostComparator(key, dir) {
  const sign = dir === 'desc' ? -1 : 1;
  return (a, b) => {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    if (va === null || vb === null) {
      if (va !== vb) return va === null ? 1 : -1;
    } else {
      const c = key === 'name' ? compareNames(va, vb) : va - vb;
      if (c !== 0) return sign * c;
    }
    return compareNames(a.name, b.name);
  };
}

/** Whether a host passes the name filter (substring, any case) and the status filter. */
export function matchesFilter(host, q, status) {
  if (status !== 'all' && host.status !== status) return false;
  const needle = q.trim().toLowerCase();
  return needle === '' || host.name.toLowerCase().includes(needle);
}

/** The hosts to show, filtered and sorted by `state`. Does not change `hosts`. */
export function visibleHosts(hosts, state) {
  return hosts.filter((h) => matchesFilter(h, state.q, state.status)).sort(hostComparator(state.sort, state.dir));
}

/**
 * Rows the page draws at first, and how many more each "Show more" adds. Every row is DOM the
 * browser lays out and styles again as values change: at 10,000 hosts all drawn, headless
 * Chromium on a 2-core machine was busy 100 % of the time, with 530,000 DOM nodes, a 4.3 s long
 * task and 9 s before the rows appeared (`npm run bench -- page --hosts 10000`). The filter, the
 * sort (worst first) and the status choice bring any host into the first rows.
 */
export const PAGE_ROWS = 500;

/**
 * The first `limit` of `matching` (visibleHosts' list) to draw, and what the page says about
 * them: the count beside the controls, and the "Show more" button's text (null: all are drawn).
 */
export function pageModel(matching, total, limit) {
  const rows = matching.length > limit ? matching.slice(0, limit) : matching;
  const hidden = matching.length - rows.length;
  const count = rows.length === total ? `${total} shown`
    : hidden === 0 || matching.length === total ? `${rows.length} of ${total} shown`
      : `${rows.length} of ${matching.length} matching shown (${total} hosts)`;
  const more = hidden > 0 ? `Show ${Math.min(PAGE_ROWS, hidden)} more (${hidden} not shown)` : null;
  return { rows, count, more };
}

/**
 * Slot numbers as `/api/sparklines?slots=` takes them (dashboard/slot_list.ts): sorted, without
 * repeats, runs written as ranges (`0-499,612`). Anything but a whole number >= 0 is left out.
 */
export function slotList(slots) {
  const sorted = [...new Set(slots.filter((s) => Number.isInteger(s) && s >= 0))].sort((a, b) => a - b);
  const parts = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j === i ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Longest `slots=` list the page sends; past it, it asks for every host (the server takes 8,192). */
export const MAX_SPARK_SLOTS_CHARS = 6000;

/**
 * The sparklines to ask for: those of the rows drawn (`rows`, of `total` hosts). Every host's
 * (`slots` null, one answer every page shares) when every row is drawn, or when their list would
 * be too long; else the drawn rows' slots. `names`: the hosts the answer covers (null: all).
 */
export function sparkRequest(rows, total) {
  if (rows.length >= total) return { slots: null, names: null };
  const slots = slotList(rows.map((h) => h.slot));
  if (slots.length > MAX_SPARK_SLOTS_CHARS) return { slots: null, names: null };
  return { slots, names: new Set(rows.map((h) => h.name)) };
}

/** Each state key's check: the value, or undefined when it is not one the page knows. */
const STATE_CHECKS = {
  sort: (v) => (COLUMNS.includes(v) ? v : undefined),
  dir: (v) => (v === 'asc' || v === 'desc' ? v : undefined),
  q: (v) => (typeof v === 'string' && v.length <= MAX_QUERY_CHARS ? v : undefined),
  status: (v) => (STATUS_FILTERS.includes(v) ? v : undefined),
  view: (v) => (VIEWS.includes(v) ? v : VIEWS.find((k) => VIEW_IN_URL[k] === v)),
};

/** The valid keys of `source` (a key -> value getter); unknown keys and bad values are left out. */
function pickState(get) {
  const out = {};
  for (const [key, check] of Object.entries(STATE_CHECKS)) {
    const v = check(get(key));
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** The valid state keys of a query string ('?sort=cpu&dir=desc'). */
export function parseQuery(search) {
  let params;
  try {
    params = new URLSearchParams(typeof search === 'string' ? search : '');
  } catch {
    return {};
  }
  return pickState((k) => params.get(k) ?? undefined);
}

/**
 * What serialiseStored writes as `v`. Pages before the automatic layout wrote no `v`, and wrote
 * `view: 'table'` on every visit, chosen or not: only their cards were a choice.
 */
const STORED_VERSION = 2;

/** The valid state keys of what localStorage held (JSON text; anything else gives {}). */
export function parseStored(text) {
  let obj;
  try {
    obj = typeof text === 'string' ? JSON.parse(text) : null;
  } catch {
    return {};
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return {};
  const out = pickState((k) => (Object.hasOwn(obj, k) ? obj[k] : undefined));
  if (obj.v !== STORED_VERSION && out.view === 'table') delete out.view;
  return out;
}

/**
 * The state to start with: the URL's when it names any (a shared link shows what it says),
 * else what this browser last used, over the defaults. A sort without a direction gets the
 * column's first direction. A URL that names no layout opens in the one chosen in this browser:
 * a layout is a person's choice for their screen, and a link about hosts says nothing of it.
 */
export function initialState(search, storedText) {
  const fromUrl = parseQuery(search);
  const stored = parseStored(storedText);
  const picked = Object.keys(fromUrl).length > 0 ? fromUrl : stored;
  const state = { ...DEFAULT_STATE, ...picked };
  if (picked.sort !== undefined && picked.dir === undefined) state.dir = defaultDir(state.sort);
  if (fromUrl.view === undefined && stored.view !== undefined) state.view = stored.view;
  return state;
}

/**
 * The query string for `state` ('' when it is all defaults), keys in a fixed order. Sort and
 * direction go together: a sort alone would read back with the column's first direction. The
 * layout only as the page's own link named it (`linkView`: `view=cards` bookmarked for a wall
 * screen, kept through its reloads) while it still shows: a layout is a choice for one screen,
 * kept by this browser (serialiseStored), and a link copied from a phone must not put a
 * colleague's desk in the cards.
 */
export function serialiseQuery(state, linkView = undefined) {
  const params = new URLSearchParams();
  if (state.sort !== DEFAULT_STATE.sort || state.dir !== DEFAULT_STATE.dir) {
    params.set('sort', state.sort);
    params.set('dir', state.dir);
  }
  for (const key of ['q', 'status']) {
    if (state[key] !== DEFAULT_STATE[key]) params.set(key, state[key]);
  }
  if (linkView !== undefined && state.view === linkView) params.set('view', VIEW_IN_URL[linkView]);
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

/**
 * The state as localStorage keeps it, with `chosenView`, the layout this person chose with the
 * page's buttons, as its layout, and none while they chose none: a layout that came with a link
 * is that visit's, not a choice to keep.
 */
export function serialiseStored(state, chosenView = state.view) {
  const kept = Object.fromEntries(Object.keys(DEFAULT_STATE).filter((k) => k !== 'view').map((k) => [k, state[k]]));
  return JSON.stringify({ ...kept, ...(chosenView !== DEFAULT_STATE.view ? { view: chosenView } : {}), v: STORED_VERSION });
}

/** The state after a click on column `key`'s header: the active column flips, another starts at its first direction. */
export function toggleSort(state, key) {
  if (state.sort === key) return { ...state, dir: state.dir === 'asc' ? 'desc' : 'asc' };
  return { ...state, sort: key, dir: defaultDir(key) };
}

/** Which column shows an alert on a metric; metrics not listed mark the row only. */
const METRIC_COLUMN = {
  cpu_pct: 'cpu', cpu_user_pct: 'cpu', cpu_system_pct: 'cpu', cpu_iowait_pct: 'cpu', cpu_steal_pct: 'cpu',
  mem_used_pct: 'mem', mem_used_bytes: 'mem', swap_used_pct: 'mem',
  fs_used_pct: 'disk', net_rx_bps: 'net', net_tx_bps: 'net', temp_max_c: 'temp', temp_cpu_c: 'temp',
  power_w: 'power', uptime_s: 'uptime', offline_s: 'status',
};

/** Per column, the worst alert state of a host's alerts ('firing' over 'pending'). */
export function alertStates(alerts) {
  const out = {};
  for (const a of alerts) {
    const col = METRIC_COLUMN[a.metric];
    if (col && (out[col] !== 'firing')) out[col] = a.state === 'firing' ? 'firing' : 'pending';
  }
  return out;
}

/**
 * How a value reads against its rule: 'alert' while a rule on it fires; 'warn' while it is
 * over the threshold (strictly, as the default rules' `>`) or a rule on it is pending; '' else.
 */
export function level(value, threshold, alertState) {
  if (alertState === 'firing') return 'alert';
  if (alertState === 'pending') return 'warn';
  return isNum(value) && isNum(threshold) && value > threshold ? 'warn' : '';
}

/** The payload's thresholds, or the defaults when it has none; each null where no rule applies. */
export function thresholdsOf(payload) {
  const t = payload && payload.thresholds;
  if (!t || typeof t !== 'object') return DEFAULT_THRESHOLDS;
  return { cpu_pct: field(t, 'cpu_pct'), mem_used_pct: field(t, 'mem_used_pct'), fs_used_pct: field(t, 'fs_used_pct'), temp_max_c: field(t, 'temp_max_c') };
}

/** Age of a last sample as the rows show it: whole seconds under a minute, then '4m 7s'. */
export function formatAge(ms) {
  if (!isNum(ms)) return NONE;
  const s = Math.max(0, Math.floor(ms / 1000));
  return s < 60 ? `${s} s` : formatDuration(s);
}

/** Used of total in the total's unit: '4.19/8 GiB' (narrow, for a table cell); '–' for an unknown part. */
export function formatBytesPair(used, total) {
  if (!isNum(total)) return isNum(used) ? formatBytes(used) : NONE;
  const unit = formatBytes(total).split(' ')[1];
  const scale = 1024 ** BYTE_UNIT_NAMES.indexOf(unit);
  const part = (v) => {
    if (!isNum(v)) return NONE;
    const x = v / scale;
    return formatNumber(x, Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2);
  };
  return `${part(used)}/${part(total)} ${unit}`;
}

/** Power of a host or of the fleet: W below 10 kW, then kW. */
export function formatPower(w) {
  return isNum(w) && Math.abs(w) >= 10_000 ? `${formatNumber(w / 1000, 1)} kW` : formatWatts(w);
}

function cell(text, sub = '', lvl = '', extra = {}) {
  return { text, sub, level: lvl, badge: '', hint: '', ...extra };
}

/** The payload's currency (ISO 4217 code) when the collector has a tariff; null otherwise. */
export function currencyOf(payload) {
  const c = payload && payload.summary && typeof payload.summary === 'object' ? payload.summary.currency : null;
  return typeof c === 'string' && /^[A-Za-z]{3}$/.test(c) ? c.toUpperCase() : null;
}


/**
 * What a host's row (or card) shows, without its age (the page ticks that itself): per column
 * the main text, a smaller second text and its level. `host` is a normalised host.
 */
export function rowModel(host, thresholds, currency = null) {
  const al = alertStates(host.alerts);
  const memSub = host.memTotalBytes === null ? '' : formatBytesPair(host.memUsedBytes, host.memTotalBytes);
  return {
    name: host.name,
    href: `/hosts/${encodeURIComponent(host.name)}`,
    status: host.status,
    firing: host.alerts.some((a) => a.state === 'firing'),
    title: [host.name, host.facts, host.note ? `missing: ${host.note}` : ''].filter(Boolean).join('\n'),
    cells: {
      status: cell(host.status, '', al.status === 'firing' ? 'alert' : ''),
      cpu: cell(formatPercent(host.cpuPct), '', level(host.cpuPct, thresholds.cpu_pct, al.cpu)),
      mem: cell(formatPercent(host.memPct), memSub, level(host.memPct, thresholds.mem_used_pct, al.mem)),
      disk: cell(formatPercent(host.diskPct), host.diskMount ?? '', level(host.diskPct, thresholds.fs_used_pct, al.disk)),
      net: cell(host.netBps === null ? NONE : `↓ ${formatRate(host.rxBps)}`, host.netBps === null ? '' : `↑ ${formatRate(host.txBps)}`, level(null, null, al.net)),
      temp: cell(isNum(host.tempC) ? `${host.tempC.toFixed(0)} °C` : NONE, '', level(host.tempC, thresholds.temp_max_c, al.temp)),
      power: cell(formatPower(host.powerW), '', level(null, null, al.power), { badge: host.powerSource ?? '' }),
      energy: cell(formatKwh(host.todayKwh)),
      // Without a tariff there is no cost to show, only why.
      cost: currency === null && host.todayCost === null
        ? cell(NONE, '', '', { hint: host.todayKwh === null ? '' : NO_TARIFF_HINT })
        : cell(formatMoney(host.todayCost, currency)),
      uptime: cell(formatDuration(host.uptimeS), '', level(null, null, al.uptime)),
    },
  };
}

/** The summary's field, or its value worked out from the hosts when the payload lacks it. */
function summaryField(summary, key, derive) {
  return summary && summary[key] !== undefined ? numOrNull(summary[key]) : derive();
}

/** '3 measured, 9 estimated' (parts that are 0 left out); '' when no host reports power. */
export function powerSourcesText(summary) {
  const total = field(summary, 'power_hosts') ?? 0;
  const measured = field(summary, 'power_measured_hosts') ?? 0;
  const estimated = field(summary, 'power_estimated_hosts') ?? 0;
  const unsaid = total - measured - estimated;
  return [[measured, 'measured'], [estimated, 'estimated'], [unsaid, 'source not said']]
    .filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`).join(', ');
}

/**
 * The fleet header: the text of each [data-fleet=KEY]. A summary field the collector does not
 * send yet is worked out from the online hosts; one it sends as null shows as '–'. Energy and
 * cost come from the summary only (an older collector sends none: '–'). Each figure with a
 * second line has it under KEY_detail: how many hosts measure their power, this month so far,
 * or why there is no cost (no tariff).
 */
export function fleetModel(payload, hosts) {
  const s = payload && typeof payload.summary === 'object' && payload.summary !== null ? payload.summary : {};
  const online = hosts.filter((h) => h.status === 'online');
  const sum = (pick) => {
    const vals = online.map(pick).filter(isNum);
    return vals.length === 0 ? null : vals.reduce((a, b) => a + b, 0);
  };
  const count = (status) => summaryField(s, status, () => hosts.filter((h) => h.status === status).length) ?? 0;
  const cores = summaryField(s, 'cpu_cores', () => sum((h) => h.cpuCores));
  const cpu = summaryField(s, 'cpu_pct', () => {
    const weighted = online.filter((h) => isNum(h.cpuPct));
    const w = weighted.reduce((a, h) => a + (h.cpuCores ?? 1), 0);
    return w === 0 ? null : weighted.reduce((a, h) => a + h.cpuPct * (h.cpuCores ?? 1), 0) / w;
  });
  const memUsed = summaryField(s, 'mem_used_bytes', () => sum((h) => h.memUsedBytes));
  const memTotal = summaryField(s, 'mem_total_bytes', () => sum((h) => h.memTotalBytes));
  const power = summaryField(s, 'power_w', () => sum((h) => h.powerW));
  const ofCores = isNum(cores) && cores > 0 ? ` of ${formatNumber(cores, 0)} cores` : '';
  const currency = currencyOf(payload);
  // null: no tariff; undefined: a collector from before energy, which says nothing about it.
  const noTariff = s.currency === null;
  const money = (key) => formatMoney(field(s, key), currency);
  const monthKwh = field(s, 'energy_month_kwh');
  const projKwh = field(s, 'projected_month_kwh');
  const projCost = field(s, 'projected_month_cost');
  return {
    hosts: String(summaryField(s, 'hosts', () => hosts.length) ?? 0),
    online: String(count('online')),
    stale: String(count('stale')),
    offline: String(count('offline')),
    cpu: isNum(cpu) ? `${formatPercent(cpu)}${ofCores}` : NONE,
    memory: isNum(memTotal) ? `${formatBytes(memUsed)} / ${formatBytes(memTotal)}` : NONE,
    power: formatPower(power),
    power_detail: powerSourcesText(s),
    energy: formatKwh(field(s, 'energy_today_kwh')),
    energy_detail: monthKwh === null ? '' : `month ${formatKwh(monthKwh)}`,
    cost: formatCost(s.cost_today, currency),
    cost_detail: noTariff ? 'needs --tariff' : field(s, 'cost_month') === null ? '' : `month ${money('cost_month')}`,
    // The month's projected cost, or with no tariff its kWh (the cost needs one).
    projected: currency !== null && projCost !== null ? formatMoney(projCost, currency) : formatKwh(projKwh),
    projected_detail: projKwh === null ? '' : currency !== null && projCost !== null ? formatKwh(projKwh) : noTariff ? 'cost needs --tariff' : '',
  };
}

/**
 * A cost: a number (with `currency` when given, through Intl: '€4.20'; else two decimals) or
 * { amount, currency }; anything else '–'.
 */
export function formatCost(c, currency = null) {
  if (isNum(c)) return formatMoney(c, currency);
  if (c && typeof c === 'object' && isNum(c.amount)) return formatMoney(c.amount, typeof c.currency === 'string' && c.currency ? c.currency : currency);
  return NONE;
}

/** Most alerts the banner lists; the rest are counted. */
export const MAX_BANNER_ALERTS = 12;

/** Seconds as the Age column reads: '45 s', then '1m 3s'. */
const formatSeconds = (v) => formatAge(isNum(v) ? v * 1000 : null);
const formatCount = (v) => formatNumber(v, 0);
const formatPerSecond = (v) => (isNum(v) ? `${formatNumber(v, 1)}/s` : NONE);
const formatMhz = (v) => (isNum(v) ? `${formatNumber(v, 0)} MHz` : NONE);

/**
 * How the banner names each metric a rule may test (collector/alert_rules.ts ALERT_METRICS) and
 * writes its values, in the metric's unit and, where the table has the metric, as the table
 * does. Temperatures keep a decimal: whole degrees read 85.4 against a rule at 85 as
 * '85 °C (alert at > 85 °C)'.
 */
const ALERT_METRIC_TEXT = Object.freeze({
  cpu_pct: ['CPU', formatPercent],
  cpu_user_pct: ['CPU user', formatPercent],
  cpu_system_pct: ['CPU system', formatPercent],
  cpu_iowait_pct: ['CPU I/O wait', formatPercent],
  cpu_steal_pct: ['CPU steal', formatPercent],
  cpu_freq_mhz: ['CPU clock', formatMhz],
  load_1m: ['load (1 min)', formatNumber],
  load_5m: ['load (5 min)', formatNumber],
  load_15m: ['load (15 min)', formatNumber],
  mem_used_pct: ['memory', formatPercent],
  mem_total_bytes: ['memory total', formatBytes],
  mem_used_bytes: ['memory used', formatBytes],
  mem_available_bytes: ['memory available', formatBytes],
  mem_cached_bytes: ['page cache', formatBytes],
  mem_buffers_bytes: ['buffers', formatBytes],
  swap_used_pct: ['swap', formatPercent],
  swap_total_bytes: ['swap total', formatBytes],
  swap_used_bytes: ['swap used', formatBytes],
  fs_used_pct: ['disk', formatPercent],
  disk_read_bps: ['disk read', formatRate],
  disk_write_bps: ['disk write', formatRate],
  disk_read_iops: ['disk reads', formatPerSecond],
  disk_write_iops: ['disk writes', formatPerSecond],
  net_rx_bps: ['network in', formatRate],
  net_tx_bps: ['network out', formatRate],
  temp_cpu_c: ['CPU temperature', formatCelsius],
  temp_max_c: ['temperature', formatCelsius],
  procs_total: ['processes', formatCount],
  procs_running: ['processes running', formatCount],
  procs_blocked: ['processes blocked', formatCount],
  power_w: ['power', formatPower],
  uptime_s: ['up for', formatSeconds],
  offline_s: ['offline for', formatSeconds],
});

/** A rule's `for` as --alerts takes it: '5m', '90s'. */
function forText(s) {
  return s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`;
}

/**
 * What one firing alert says: the metric and its value against the rule's threshold, both in
 * the metric's unit ('CPU 97.0 % (alert at > 90.0 %)', 'offline for 1m 3s (alert at > 60 s)'),
 * and for how long it has fired, as the Age column counts. A metric the page does not know
 * reads by its name with a plain number.
 */
function alertText(a, nowMs) {
  const [words, format] = Object.hasOwn(ALERT_METRIC_TEXT, a.metric) ? ALERT_METRIC_TEXT[a.metric] : [String(a.metric), formatNumber];
  // A duration's threshold is the number of seconds the rule was given, not a duration to read.
  const limit = format === formatSeconds ? `${formatNumber(a.threshold, 1)} s` : format(a.threshold);
  const instance = typeof a.instance === 'string' && a.instance !== '' ? ` ${a.instance}` : '';
  const since = nowMs !== null && isNum(a.fired_at_ms) ? ` · firing for ${formatAge(nowMs - a.fired_at_ms)}` : '';
  return `${words}${instance} ${format(a.value)} (alert at ${a.op} ${limit})${since}`;
}

/**
 * The banner's lines: firing alerts only (pending ones show on their rows), at most
 * MAX_BANNER_ALERTS, each with its host, what it says of it (alertText), the rule's name, and
 * the rule as --alerts writes it for a tooltip: operators know their alerts by their rules.
 */
export function bannerModel(payload) {
  const all = payload && Array.isArray(payload.alerts) ? payload.alerts : [];
  const firing = all.filter((a) => a && a.state === 'firing' && typeof a.rule === 'string' && typeof a.host === 'string');
  const nowMs = field(payload, 'now_ms');
  const lines = firing.slice(0, MAX_BANNER_ALERTS).map((a) => ({
    rule: a.rule,
    host: a.host,
    href: `/hosts/${encodeURIComponent(a.host)}`,
    detail: alertText(a, nowMs),
    title: `${a.rule}: ${a.metric} ${a.op} ${a.threshold}${isNum(a.for_s) && a.for_s > 0 ? ` for ${forText(a.for_s)}` : ''}`,
  }));
  return { count: firing.length, lines, more: Math.max(0, firing.length - lines.length) };
}
