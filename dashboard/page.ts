/**
 * The pages: the fleet overview (/) and a host's detail page (/hosts/NAME), each one
 * self-contained HTML document with its style and script inline (no external font, script or
 * style, so they work on an air-gapped network). Each page's Content-Security-Policy allows
 * exactly its inline blocks by their SHA-256 hashes, so no 'unsafe-inline' is needed and any
 * other script that might slip into a page would not run. The scripts fill the pages from the
 * API with textContent only, so agent text is always text, never markup.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkoutRoot } from '../shared/checkout.ts';

export interface PageAsset {
  html: Buffer;
  /** The Content-Security-Policy for the page, naming its inline script and style by hash. */
  csp: string;
}

/** The overview page (html, csp) and the host detail page. */
export interface PageAssets extends PageAsset {
  detail: PageAsset;
}

/** How often the host page asks for new readings, ms (the overview is pushed updates). Agents sample every 1000 ms by default. */
export const PAGE_REFRESH_MS = 1000;

/** The overview table's columns: [key, header, numeric]. Keys are overview.js's COLUMNS. */
const OVERVIEW_COLUMNS: ReadonlyArray<[key: string, title: string, numeric: boolean]> = [
  ['name', 'Host', false], ['status', 'Status', false], ['age', 'Age', true], ['cpu', 'CPU', true],
  ['mem', 'Memory', true], ['disk', 'Disk', true], ['net', 'Network', true], ['temp', 'Temp', true],
  ['power', 'Power', true], ['energy', 'Energy today', true], ['cost', 'Cost today', true], ['uptime', 'Uptime', true],
];

/**
 * The fleet header's figures: [key, label, status dot, second line]. A figure with a second line
 * has it in [data-fleet=KEY_detail] (overview.js's fleetModel).
 */
const FLEET: ReadonlyArray<[key: string, label: string, dot: boolean, detail: boolean]> = [
  ['hosts', 'Hosts', false, false], ['online', 'Online', true, false], ['stale', 'Stale', true, false], ['offline', 'Offline', true, false],
  ['cpu', 'CPU', false, false], ['memory', 'Memory', false, false], ['power', 'Power', false, true],
  ['energy', 'Energy today', false, true], ['cost', 'Cost today', false, true], ['projected', 'Projected month', false, true],
];

/** The start of both pages, up to </head>: the style goes where __CSS__ stands. */
function documentHead(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<style>__CSS__</style>
</head>
`;
}

const HTML = `${documentHead('Cluster Sentinel')}<body class="overview">
<header>
  <h1>Cluster Sentinel</h1>
  <p id="live" class="live" data-mode="connecting" title="Time since the page last got readings from the collector">connecting…</p>
  <p id="live-note" class="sr-only" aria-live="polite"></p>
</header>
<main>
  <noscript><p class="warn">This page needs JavaScript to refresh. The same data is at <a href="/api/hosts">/api/hosts</a>.</p></noscript>
  <dl id="fleet" aria-label="Fleet">
${FLEET.map(([key, label, dot, detail]) => `    <div class="stat stat-${key}"><dt>${dot ? `<span class="dot status-${key}"></span>` : ''}${label}</dt><dd data-fleet="${key}">–</dd>${detail ? `<dd class="stat-detail" data-fleet="${key}_detail"></dd>` : ''}</div>`).join('\n')}
  </dl>
  <section id="alerts-banner" aria-labelledby="alerts-title" hidden><h2 id="alerts-title">Alerts firing</h2><ul></ul></section>
  <p id="error" class="warn" hidden></p>
  <div class="controls">
    <input id="filter" type="search" aria-label="Filter hosts by name" placeholder="Filter by name" maxlength="200" autocomplete="off" spellcheck="false">
    <select id="status-filter" aria-label="Show hosts by status">
      <option value="all">All statuses</option><option value="online">Online</option><option value="stale">Stale</option><option value="offline">Offline</option>
    </select>
    <span class="sort-by"><select id="sort-key" aria-label="Sort by">${OVERVIEW_COLUMNS.map(([key, title]) => `<option value="${key}">${title}</option>`).join('')}</select><button type="button" id="sort-dir" aria-label="Sort direction">↑</button></span>
    <span class="views" role="group" aria-label="Layout"><button type="button" data-view="table" aria-pressed="true">Table</button><button type="button" data-view="grid" aria-pressed="false">Cards</button></span>
    <span id="shown" class="shown"></span>
  </div>
  <div id="table-wrap" class="table-wrap">
  <table id="hosts" aria-label="Hosts">
    <colgroup>${OVERVIEW_COLUMNS.map(([key]) => `<col class="col-${key}">`).join('')}</colgroup>
    <thead><tr>
${OVERVIEW_COLUMNS.map(([key, title, numeric]) => `      <th scope="col" data-col="${key}"${numeric ? ' class="num"' : ''} aria-sort="none"><button type="button" data-sort="${key}">${title}</button></th>`).join('\n')}
    </tr></thead>
    <tbody></tbody>
  </table>
  </div>
  <div id="grid" class="grid" hidden></div>
  <p id="empty" hidden>No agent has connected yet. Start one with the command the collector printed.</p>
  <p id="no-match" hidden>No host matches the filter.</p>
  <p id="more-rows" class="more-rows" hidden><button type="button" id="show-more">Show more</button> Or narrow the list: filter by name or status, or sort the worst first.</p>
</main>
<script type="module">__JS__</script>
</body>
</html>
`;

/** One card per reading family; detail_view.js fills each card's body. */
const FAMILIES: ReadonlyArray<[id: string, title: string]> = [
  ['system', 'System'], ['cpu', 'CPU'], ['memory', 'Memory'], ['load', 'Load'],
  ['disk', 'Disks and filesystems'], ['network', 'Network'], ['temps', 'Temperatures'],
  ['gpu', 'GPUs'], ['power', 'Power'], ['energy', 'Energy and cost'], ['procs', 'Processes'],
];

const DETAIL_HTML = `${documentHead('Host · Cluster Sentinel')}<body class="detail" data-refresh-ms="${PAGE_REFRESH_MS}">
<header>
  <h1><a href="/">Cluster Sentinel</a> / <span id="host-name">…</span></h1>
  <p id="host-status"><span class="dot"></span><span class="status">connecting</span></p>
  <p id="live" class="live" title="Time since the page last got readings from the collector">connecting…</p>
</header>
<main>
  <noscript><p class="warn">This page needs JavaScript to refresh.</p></noscript>
  <p id="error" class="warn" hidden></p>
  <section id="alerts-banner" aria-labelledby="alerts-title" hidden><h2 id="alerts-title">Alerts on this host</h2><ul></ul></section>
  <section id="charts" class="card" aria-labelledby="charts-title">
    <h2 id="charts-title">History</h2>
    <div class="charts"></div>
  </section>
  <div class="cards">
${FAMILIES.map(([id, title]) => `  <section id="${id}" class="card" aria-labelledby="${id}-title"><h2 id="${id}-title">${title}</h2><div class="body"></div></section>`).join('\n')}
  </div>
</main>
<script type="module">__JS__</script>
</body>
</html>
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

function cspFor(js: string, css: string): string {
  return `default-src 'none'; script-src ${sha256(js)}; style-src ${sha256(css)}; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}

function build(template: string, js: string, css: string): PageAsset {
  if (js.includes('</script') || css.includes('</style')) throw new Error('page assets must not close their own element');
  const html = template.replace('__CSS__', () => css).replace('__JS__', () => js);
  return { html: Buffer.from(html, 'utf8'), csp: cspFor(js, css) };
}

/** A sibling import of the static modules: `import { a, b } from './chart.js';`, on one line or several. */
const LOCAL_IMPORT = /^import \{[^}]*\} from '\.\/[a-z_]+\.js';\n/gm;

/**
 * A page's modules joined into one inline module script, in dependency order, their
 * imports of each other removed (their exports are harmless in a module script). One inline
 * script keeps the page self-contained and its CSP a single hash: serving the modules from
 * this origin instead would need script-src 'self'. The files share one scope, so their
 * top-level names must differ (test/dashboard/page.test.ts parses each page's script).
 */
function joinModules(dir: URL, files: readonly string[]): string {
  return files.map((f) => readFileSync(new URL(f, dir), 'utf8').replace(LOCAL_IMPORT, '')).join('\n');
}

/** Builds both pages from dashboard/static/ once, at worker start. */
export function loadPageAssets(): PageAssets {
  const dir = new URL('dashboard/static/', checkoutRoot(import.meta.url));
  const read = (f: string): string => readFileSync(new URL(f, dir), 'utf8');
  const css = read('app.css');
  const overview = build(HTML, joinModules(dir, ['chart.js', 'overview.js', 'overview_view.js', 'app.js']), css);
  const detail = build(DETAIL_HTML, joinModules(dir, ['chart.js', 'detail_view.js', 'detail.js']), css + read('detail.css'));
  return { ...overview, detail };
}
