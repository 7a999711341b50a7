// The overview's DOM: one keyed element per host (a table row or a card), updated cell by cell
// and only where the text changed, so a page of 500 hosts costs little each second. Agent text
// goes in with textContent, links with encodeURIComponent (done in overview.js's rowModel).
// Inlined by page.ts after chart.js and overview.js, before app.js.
import { POWER_BADGES, sparkPath } from './chart.js';
import { COLUMNS } from './overview.js';

const SVG_XMLNS = 'http://www.w3.org/2000/svg';
/** Sparkline box, SVG user units: one unit between points (60 points), 0–100 % over the height. */
const SPARK_W = 59;
const SPARK_H = 20;
/** The sparkline in each column that has one. */
const SPARK_OF = { cpu: 'cpu_pct', mem: 'mem_used_pct' };
const NUMERIC_COLS = new Set(['age', 'cpu', 'mem', 'disk', 'net', 'temp', 'power', 'energy', 'cost', 'uptime']);
/** Labels of the card fields, in card order; the table's headers are in page.ts. */
const FIELD_LABELS = { cpu: 'CPU', mem: 'Memory', disk: 'Disk', net: 'Network', temp: 'Temp', power: 'Power', uptime: 'Uptime', energy: 'Energy today', cost: 'Cost today' };
const LEVEL_TITLES = { warn: 'over its alert threshold, or an alert is pending', alert: 'alert firing' };

export function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function makeSpark(series) {
  const svg = document.createElementNS(SVG_XMLNS, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('data-series', series);
  svg.setAttribute('viewBox', `0 0 ${SPARK_W} ${SPARK_H}`);
  // Stretched to the box CSS gives it; the stroke keeps its width (vector-effect in app.css).
  svg.setAttribute('preserveAspectRatio', 'none');
  // The value is in the cell's text; the line is a picture of its last 15 minutes.
  svg.setAttribute('aria-hidden', 'true');
  const path = svg.appendChild(document.createElementNS(SVG_XMLNS, 'path'));
  return { svg, path, src: null, d: '' };
}

/** A cell's parts: where its level goes (box), its text (v) and second text (u). */
function makeCell(box, vClass = 'v') {
  const v = box.appendChild(make('span', vClass));
  const u = box.appendChild(make('span', 'u'));
  return { box, v, u, text: null, sub: null, level: '', hint: '', badge: '', badgeEl: null };
}

/**
 * The power cell's badge, after the value (chart.js's POWER_BADGES): a letter chip that screen
 * readers skip, the word itself for them in a visually hidden span, and the explanation as the
 * tooltip. Made on first use; hidden, not removed, when the source goes.
 */
function setBadge(cell, source) {
  if (cell.badge === source) return;
  cell.badge = source;
  const b = POWER_BADGES[source];
  if (!b) {
    if (cell.badgeEl) cell.badgeEl.hidden = true;
    return;
  }
  if (!cell.badgeEl) {
    cell.badgeEl = cell.box.insertBefore(make('span', 'badge'), cell.u);
    cell.badgeEl.appendChild(make('span', 'mark')).setAttribute('aria-hidden', 'true');
    cell.badgeEl.appendChild(make('span', 'sr-only'));
  }
  const el = cell.badgeEl;
  el.hidden = false;
  el.dataset.source = source;
  el.title = b.title;
  el.firstChild.textContent = b.mark;
  el.lastChild.textContent = ` ${b.label}`;
}

/** A cell's tooltip: its level's meaning when it has one, else its hint (why a value is missing). */
function setTitle(cell, level, hint) {
  if (cell.level === level && cell.hint === hint) return;
  const title = level ? LEVEL_TITLES[level] : hint;
  if (title) cell.box.title = title; else cell.box.removeAttribute('title');
  cell.hint = hint;
}

function addSpark(item, key, box) {
  const series = SPARK_OF[key];
  if (series) item.sparks[series] = makeSpark(series);
  if (series) box.insertBefore(item.sparks[series].svg, box.firstChild);
}

/** A table row for host `name`: tr[data-host] with td[data-col=KEY] for every column. */
export function createRow(name, href) {
  const tr = make('tr');
  tr.dataset.host = name;
  const item = { root: tr, rootClass: '', status: '', firing: false, title: null, link: null, cells: {}, age: null, sparks: {}, ageMs: null, stale: false, drawFrom: null, index: -1 };
  for (const key of COLUMNS) {
    const td = tr.appendChild(make('td', NUMERIC_COLS.has(key) ? 'num' : ''));
    td.dataset.col = key;
    if (key === 'name') {
      item.link = td.appendChild(make('a', 'host-name', name));
      item.link.setAttribute('href', href);
    } else if (key === 'status') {
      td.appendChild(make('span', 'dot'));
      item.cells.status = makeCell(td, 'status');
    } else if (key === 'age') {
      item.age = { v: td.appendChild(make('span', 'v')), text: null };
    } else {
      item.cells[key] = makeCell(td);
      addSpark(item, key, td);
    }
  }
  return item;
}

/** A card for host `name`: .card[data-host] with the row's information as fields. */
export function createCard(name, href) {
  const card = make('article', 'card');
  card.dataset.host = name;
  const item = { root: card, rootClass: 'card', status: '', firing: false, title: null, link: null, cells: {}, age: null, sparks: {}, ageMs: null, stale: false, drawFrom: null, index: -1 };
  const head = card.appendChild(make('header', 'card-head'));
  head.appendChild(make('span', 'dot'));
  item.link = head.appendChild(make('a', 'host-name', name));
  item.link.setAttribute('href', href);
  const status = head.appendChild(make('span', 'field-status'));
  status.dataset.col = 'status';
  item.cells.status = makeCell(status, 'status');
  const age = head.appendChild(make('span', 'field-age'));
  age.dataset.col = 'age';
  item.age = { v: age.appendChild(make('span', 'v')), text: null };
  const fields = card.appendChild(make('div', 'fields'));
  for (const [key, label] of Object.entries(FIELD_LABELS)) {
    const f = fields.appendChild(make('div', `field${SPARK_OF[key] ? ' has-spark' : ''}`));
    f.dataset.col = key;
    f.appendChild(make('span', 'k', label));
    item.cells[key] = makeCell(f);
    addSpark(item, key, f);
  }
  return item;
}

/**
 * Sets a span's text only when it differs from what it shows: unchanged cells cost nothing.
 * A changed one has its Text node's data replaced in place, one mutation where textContent
 * would remove the node and make another.
 */
function setText(cell, prop, node, text) {
  if (cell[prop] === text) return;
  cell[prop] = text;
  const t = node.firstChild;
  if (t !== null && text !== '') t.data = text; else node.textContent = text;
}

/** Brings a host's element up to `m` (a rowModel), touching only what changed. */
export function updateItem(item, m) {
  if (item.status !== m.status || item.firing !== m.firing) {
    item.status = m.status;
    item.firing = m.firing;
    item.root.className = `${item.rootClass ? `${item.rootClass} ` : ''}status-${m.status}`;
    if (m.firing) item.root.dataset.alert = 'firing'; else delete item.root.dataset.alert;
  }
  if (item.title !== m.title) {
    item.title = m.title;
    item.link.title = m.title;
  }
  for (const key in item.cells) {
    const cell = item.cells[key];
    const c = m.cells[key];
    setText(cell, 'text', cell.v, c.text);
    setText(cell, 'sub', cell.u, c.sub);
    setTitle(cell, c.level, c.hint);
    if (cell.level !== c.level) {
      cell.box.classList.toggle('warn', c.level === 'warn');
      cell.box.classList.toggle('alert', c.level === 'alert');
      cell.level = c.level;
    }
    setBadge(cell, c.badge);
  }
}

/** Sets the age text (done every second, between updates too). */
export function updateAge(item, text) {
  setText(item.age, 'text', item.age.v, text);
}

/**
 * Draws a host's sparklines from `series` ({ cpu_pct: [...], mem_used_pct: [...] } or
 * undefined). Skipped while the arrays are the ones drawn last; a path is set only when it changed.
 */
export function updateSparks(item, series) {
  for (const name in item.sparks) {
    const s = item.sparks[name];
    const values = series && Array.isArray(series[name]) ? series[name] : null;
    if (values === s.src && s.src !== null) continue;
    s.src = values;
    const d = values === null ? '' : sparkPath(values, SPARK_W, SPARK_H);
    if (d === s.d) continue;
    s.d = d;
    if (d) s.path.setAttribute('d', d); else s.path.removeAttribute('d');
  }
}

/** Indices into `seq` of one longest strictly increasing run (entries < 0 never belong). */
function longestIncreasing(seq) {
  const tails = [];
  const prev = new Array(seq.length).fill(-1);
  for (let i = 0; i < seq.length; i++) {
    if (seq[i] < 0) continue;
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seq[tails[mid]] < seq[i]) lo = mid + 1; else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1];
    tails[lo] = i;
  }
  const keep = new Set();
  for (let i = tails.length > 0 ? tails[tails.length - 1] : -1; i >= 0; i = prev[i]) keep.add(i);
  return keep;
}

/**
 * Makes `container`'s children exactly `nodes`, in that order, with the fewest moves: nothing
 * when the order is unchanged; otherwise the longest run already in order stays put and only
 * the others move (a row whose CPU overtook three others is one move, not a rebuilt table).
 */
export function placeInOrder(container, nodes) {
  const children = container.children;
  if (children.length === nodes.length && nodes.every((n, i) => children[i] === n)) return false;
  const wanted = new Set(nodes);
  for (const child of Array.from(children)) if (!wanted.has(child)) container.removeChild(child);
  const at = new Map();
  Array.from(children).forEach((child, i) => at.set(child, i));
  const keep = longestIncreasing(nodes.map((n) => at.get(n) ?? -1));
  let next = null;
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (!keep.has(i)) container.insertBefore(nodes[i], next);
    next = nodes[i];
  }
  return true;
}

/** Fills [data-fleet=KEY] from a fleetModel, text only where it changed. */
export function renderFleet(root, fleet) {
  for (const node of root.querySelectorAll('[data-fleet]')) {
    const text = fleet[node.dataset.fleet];
    if (text !== undefined && node.textContent !== text) node.textContent = text;
  }
}

/** Rebuilds the alerts banner from a bannerModel; hidden when nothing fires. */
export function renderBanner(banner, model) {
  banner.hidden = model.count === 0;
  const title = banner.querySelector('h2');
  const text = model.count === 1 ? '1 alert firing' : `${model.count} alerts firing`;
  if (title.textContent !== text) title.textContent = text;
  const items = model.lines.map((a) => {
    const li = make('li');
    li.dataset.alertRule = a.rule;
    li.dataset.alertHost = a.host;
    li.title = a.title;
    const link = li.appendChild(make('a', 'host-name', a.host));
    link.setAttribute('href', a.href);
    li.append(': ');
    li.appendChild(make('span', 'detail', a.detail));
    // The rule's name last and small: the sentence is for reading, the name for operators.
    li.append(' ');
    li.appendChild(make('span', 'rule', a.rule));
    return li;
  });
  if (model.more > 0) items.push(make('li', 'more', `+${model.more} more`));
  banner.querySelector('ul').replaceChildren(...items);
}
