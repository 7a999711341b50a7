// The overview's pure logic, imported exactly as the browser gets it (page.ts inlines the file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  COLUMNS, DEFAULT_STATE, NARROW_MEDIA, DEFAULT_THRESHOLDS, MAX_BANNER_ALERTS, MAX_QUERY_CHARS, PAGE_ROWS, pageModel,
  NO_TARIFF_HINT, alertStates, applyStatusEvent, bannerModel, compareNames, currencyOf, defaultDir, fleetModel, formatAge, formatBytesPair, formatCost, formatPower, powerSourcesText,
  hostComparator, initialState, level, matchesFilter, normalizeHost, normalizeHosts, parseQuery, parseStored, rowModel,
  serialiseQuery, serialiseStored, shownView, sparkRequest, thresholdsOf, toggleSort, visibleHosts, hostAlertsOf, MAX_SPARK_SLOTS_CHARS,
  type ColumnKey, type OverviewHost, type SortDir, type ViewState,
} from '../../dashboard/static/overview.js';

const GIB = 1024 ** 3;
const HOSTILE = '<img src=x onerror=alert(1)>';

/** A HostView-shaped object as the API sends it; `over` replaces fields, `readings` merges. */
function apiHost(name: string, over: Record<string, unknown> = {}, readings: Record<string, number | null> = {}): Record<string, unknown> {
  return {
    name, status: 'online', age_ms: 500, cpu_pct: 10, cpu_cores: 4, mem_used_bytes: 2 * GIB, mem_total_bytes: 8 * GIB,
    uptime_s: 3600, os: 'Debian', kernel: '6.1', arch: 'x64', cpu_model: 'CPU', agent: 'sentinel-agent/0.1.0', note: '',
    mem_used_pct: 25, disk_fullest_pct: 40, disk_fullest_mount: '/', alerts: [],
    ...over,
    readings: { net_rx_bps: 1000, net_tx_bps: 500, temp_max_c: 50, power_w: 100, ...readings },
  };
}

/** The API's energy block of a host (shared/host_view.ts HostEnergy). */
function energy(todayKwh: number, todayCost: number | null, projection: Record<string, number | null> | null = null): Record<string, unknown> {
  return { today_kwh: todayKwh, today_cost: todayCost, month_kwh: todayKwh * 10, month_cost: todayCost === null ? null : todayCost * 10, total_kwh: todayKwh * 20, total_cost: todayCost === null ? null : todayCost * 20, since_ms: 1_700_000_000_000, projection };
}

/** Hosts with distinct values per column and some nulls, for the sort table. */
const SORT_HOSTS: OverviewHost[] = [
  normalizeHost(apiHost('web-10', { cpu_pct: 50, age_ms: 3000, mem_used_pct: 70, disk_fullest_pct: null, uptime_s: 100, energy: energy(0.5, 0.15) }, { net_rx_bps: 5, net_tx_bps: 5, temp_max_c: 60, power_w: null })),
  normalizeHost(apiHost('web-2', { cpu_pct: null, status: 'stale', age_ms: 9000, mem_used_pct: 20, disk_fullest_pct: 90, uptime_s: 50, energy: null }, { net_rx_bps: null, net_tx_bps: null, temp_max_c: null, power_w: 300 })),
  normalizeHost(apiHost('alpha', { cpu_pct: 50, status: 'offline', age_ms: null, mem_used_pct: null, disk_fullest_pct: 10, uptime_s: null, energy: energy(2.25, 0.6) }, { net_rx_bps: 100, net_tx_bps: null, temp_max_c: 70, power_w: 200 })),
  normalizeHost(apiHost('Beta', { cpu_pct: 95, age_ms: 100, mem_used_pct: 90, disk_fullest_pct: 50, uptime_s: 900, energy: energy(1.5, null) }, { net_rx_bps: 1, net_tx_bps: 2, temp_max_c: 40, power_w: 100 })),
];

test('compareNames: natural order, case only breaks ties, a total order', () => {
  const names = ['web-10', 'web-2', 'Web-2', 'alpha', 'web-1', HOSTILE, 'db'];
  assert.deepEqual([...names].sort(compareNames), [HOSTILE, 'alpha', 'db', 'web-1', 'web-2', 'Web-2', 'web-10']);
  for (const a of names) for (const b of names) assert.equal(Math.sign(compareNames(a, b)), -Math.sign(compareNames(b, a)) || 0, `${a} vs ${b}`);
  assert.equal(compareNames('x', 'x'), 0);
});

test('hostComparator: every column both ways, missing values last, ties by name', () => {
  const cases: Array<[ColumnKey, SortDir, string[]]> = [
    ['name', 'asc', ['alpha', 'Beta', 'web-2', 'web-10']],
    ['name', 'desc', ['web-10', 'web-2', 'Beta', 'alpha']],
    ['status', 'asc', ['Beta', 'web-10', 'web-2', 'alpha']],
    ['status', 'desc', ['alpha', 'web-2', 'Beta', 'web-10']],
    ['age', 'asc', ['Beta', 'web-10', 'web-2', 'alpha']],
    ['age', 'desc', ['web-2', 'web-10', 'Beta', 'alpha']],
    // web-10 and alpha tie at 50 %: by name in both directions.
    ['cpu', 'asc', ['alpha', 'web-10', 'Beta', 'web-2']],
    ['cpu', 'desc', ['Beta', 'alpha', 'web-10', 'web-2']],
    ['mem', 'asc', ['web-2', 'web-10', 'Beta', 'alpha']],
    ['mem', 'desc', ['Beta', 'web-10', 'web-2', 'alpha']],
    ['disk', 'asc', ['alpha', 'Beta', 'web-2', 'web-10']],
    ['disk', 'desc', ['web-2', 'Beta', 'alpha', 'web-10']],
    // net is rx + tx; alpha has rx only (100), web-2 neither.
    ['net', 'asc', ['Beta', 'web-10', 'alpha', 'web-2']],
    ['net', 'desc', ['alpha', 'web-10', 'Beta', 'web-2']],
    ['temp', 'asc', ['Beta', 'web-10', 'alpha', 'web-2']],
    ['temp', 'desc', ['alpha', 'web-10', 'Beta', 'web-2']],
    ['power', 'asc', ['Beta', 'alpha', 'web-2', 'web-10']],
    ['power', 'desc', ['web-2', 'alpha', 'Beta', 'web-10']],
    // web-2 has no energy counted; Beta no cost (no tariff when its figure was taken).
    ['energy', 'asc', ['web-10', 'Beta', 'alpha', 'web-2']],
    ['energy', 'desc', ['alpha', 'Beta', 'web-10', 'web-2']],
    ['cost', 'asc', ['web-10', 'alpha', 'Beta', 'web-2']],
    ['cost', 'desc', ['alpha', 'web-10', 'Beta', 'web-2']],
    ['uptime', 'asc', ['web-2', 'web-10', 'Beta', 'alpha']],
    ['uptime', 'desc', ['Beta', 'web-10', 'web-2', 'alpha']],
  ];
  assert.deepEqual(new Set(cases.map(([k]) => k)), new Set(COLUMNS), 'every column has cases');
  for (const [key, dir, want] of cases) {
    // Any input order gives the same output: the order is total.
    for (const input of [SORT_HOSTS, [...SORT_HOSTS].reverse()]) {
      assert.deepEqual([...input].sort(hostComparator(key, dir)).map((h) => h.name), want, `${key} ${dir}`);
    }
  }
});

test('filtering: name substring in any case, and status', () => {
  const cases: Array<[string, string, ViewState['status'], string[]]> = [
    ['nothing filtered', '', 'all', ['alpha', 'Beta', 'web-2', 'web-10']],
    ['substring, any case', 'WEB', 'all', ['web-2', 'web-10']],
    ['surrounding spaces ignored', '  bet ', 'all', ['Beta']],
    ['status only', '', 'stale', ['web-2']],
    ['both', 'a', 'offline', ['alpha']],
    ['nothing matches', 'zzz', 'all', []],
    ['markup is just text', '<img', 'all', []],
  ];
  for (const [name, q, status, want] of cases) {
    assert.deepEqual(visibleHosts(SORT_HOSTS, { ...DEFAULT_STATE, q, status }).map((h) => h.name), want, name);
  }
  assert.equal(matchesFilter(normalizeHost(apiHost(HOSTILE)), 'onerror', 'all'), true);
  const before = SORT_HOSTS.map((h) => h.name);
  visibleHosts(SORT_HOSTS, { ...DEFAULT_STATE, sort: 'cpu', dir: 'desc' });
  assert.deepEqual(SORT_HOSTS.map((h) => h.name), before, 'the input is not reordered');
});

test('pageModel: the first `limit` rows, the count beside the controls, and the "Show more" text while rows are left', () => {
  const list = (n: number): OverviewHost[] => Array.from({ length: n }, (_, i) => normalizeHost(apiHost(`h${i}`)));
  const cases: Array<[string, number, number, number, number, string, string | null]> = [
    // what, matching, total, limit, rows drawn, count, more
    ['all drawn', 3, 3, PAGE_ROWS, 3, '3 shown', null],
    ['filtered, all matching drawn', 2, 9, PAGE_ROWS, 2, '2 of 9 shown', null],
    ['none match', 0, 9, PAGE_ROWS, 0, '0 of 9 shown', null],
    ['exactly the limit', PAGE_ROWS, PAGE_ROWS, PAGE_ROWS, PAGE_ROWS, `${PAGE_ROWS} shown`, null],
    ['one over', PAGE_ROWS + 1, PAGE_ROWS + 1, PAGE_ROWS, PAGE_ROWS, `${PAGE_ROWS} of ${PAGE_ROWS + 1} shown`, 'Show 1 more (1 not shown)'],
    ['a large fleet', 10_000, 10_000, PAGE_ROWS, PAGE_ROWS, `${PAGE_ROWS} of 10000 shown`, `Show ${PAGE_ROWS} more (${10_000 - PAGE_ROWS} not shown)`],
    ['filtered and capped: of those matching, and the fleet', 2_000, 10_000, PAGE_ROWS, PAGE_ROWS, `${PAGE_ROWS} of 2000 matching shown (10000 hosts)`, `Show ${PAGE_ROWS} more (${2_000 - PAGE_ROWS} not shown)`],
    ['filtered, one over the cap', PAGE_ROWS + 1, 10_000, PAGE_ROWS, PAGE_ROWS, `${PAGE_ROWS} of ${PAGE_ROWS + 1} matching shown (10000 hosts)`, 'Show 1 more (1 not shown)'],
    ['filtered down to the cap: all matching drawn', PAGE_ROWS, 10_000, PAGE_ROWS, PAGE_ROWS, `${PAGE_ROWS} of 10000 shown`, null],
    ['after two "Show more"', 10_000, 10_000, 3 * PAGE_ROWS, 3 * PAGE_ROWS, `${3 * PAGE_ROWS} of 10000 shown`, `Show ${PAGE_ROWS} more (${10_000 - 3 * PAGE_ROWS} not shown)`],
  ];
  for (const [what, matching, total, limit, rows, count, more] of cases) {
    const hosts = list(matching);
    const m = pageModel(hosts, total, limit);
    assert.equal(m.rows.length, rows, what);
    assert.deepEqual(m.rows.map((h) => h.name), hosts.slice(0, rows).map((h) => h.name), `${what}: the first of the list, in its order`);
    assert.equal(m.count, count, what);
    assert.equal(m.more, more, what);
  }
  assert.ok(PAGE_ROWS >= 100 && PAGE_ROWS <= 1000, 'a page that fits a screen or a few, not the fleet');
});

test('sparkRequest: every host\'s sparklines when every row is drawn, else the drawn rows\' slots and names', () => {
  const list = (n: number, slotOf = (i: number): number | null => i): OverviewHost[] => Array.from({ length: n }, (_, i) => normalizeHost(apiHost(`h${i}`, { slot: slotOf(i) })));
  assert.deepEqual(sparkRequest(list(3), 3), { slots: null, names: null }, 'all drawn: one answer every page shares');
  assert.deepEqual(sparkRequest([], 0), { slots: null, names: null });
  const drawn = pageModel(list(10_000), 10_000, PAGE_ROWS).rows;
  const r = sparkRequest(drawn, 10_000);
  assert.equal(r.slots, `0-${PAGE_ROWS - 1}`);
  assert.deepEqual([...r.names!].sort(), drawn.map((h) => h.name).sort());
  // A sorted page: scattered slots, listed in order.
  const scattered = list(5, (i) => [40, 7, 8, 9, 1][i]!);
  assert.deepEqual(sparkRequest(scattered, 100), { slots: '1,7-9,40', names: new Set(['h0', 'h1', 'h2', 'h3', 'h4']) });
  // A host without a slot (an older collector) is named but not listed.
  assert.equal(sparkRequest(list(3, (i) => (i === 1 ? null : i)), 9).slots, '0,2');
  // A list too long to send (many rows drawn, scattered): every host's instead.
  const many = list(3000, (i) => i * 7);
  assert.deepEqual(sparkRequest(many, 30_000), { slots: null, names: null });
  assert.ok(MAX_SPARK_SLOTS_CHARS > 500 * 6, 'a first page of scattered five-digit slots fits');
});

test('parseQuery: known keys with valid values only', () => {
  const cases: Array<[string, string, Partial<ViewState>]> = [
    ['empty', '', {}],
    ['everything', '?sort=cpu&dir=desc&q=web&status=online&view=grid', { sort: 'cpu', dir: 'desc', q: 'web', status: 'online', view: 'grid' }],
    ['the cards as their button names them', '?view=cards', { view: 'grid' }],
    ['the table', '?view=table', { view: 'table' }],
    ['unknown keys ignored', '?foo=bar&sort=temp', { sort: 'temp' }],
    ['bad values ignored', '?sort=cpu_pct&dir=up&status=dead&view=list&q=ok', { q: 'ok' }],
    ['case matters', '?sort=CPU&view=Grid', {}],
    ['case matters for cards too', '?view=Cards', {}],
    ['an empty filter is a filter', '?q=', { q: '' }],
    ['percent-encoded filter', `?q=${encodeURIComponent(HOSTILE)}`, { q: HOSTILE }],
    ['a filter too long is dropped', `?q=${'x'.repeat(MAX_QUERY_CHARS + 1)}`, {}],
    ['the first of repeated keys', '?sort=cpu&sort=mem', { sort: 'cpu' }],
    ['prototype names are not keys', '?__proto__=x&constructor=y&toString=z', {}],
  ];
  for (const [name, search, want] of cases) assert.deepEqual(parseQuery(search), want, name);
  assert.deepEqual(parseQuery(undefined), {});
});

test('parseStored: JSON objects only, known keys with valid values only', () => {
  const cases: Array<[string, unknown, Partial<ViewState>]> = [
    ['nothing stored', null, {}],
    ['not JSON', '{sort: cpu', {}],
    ['an array', '["cpu"]', {}],
    ['a number', '5', {}],
    ['JSON null', 'null', {}],
    ['valid', '{"sort":"mem","dir":"asc","view":"grid"}', { sort: 'mem', dir: 'asc', view: 'grid' }],
    ['wrong types and values dropped', '{"sort":1,"dir":"desc","q":["x"],"status":"online","view":"grid ","extra":1}', { dir: 'desc', status: 'online' }],
    ['own keys only', '{"__proto__":{"sort":"cpu"}}', {}],
  ];
  for (const [name, text, want] of cases) assert.deepEqual(parseStored(text), want, name);
});

test('initialState: the URL when it names anything, else localStorage, over the defaults', () => {
  const stored = serialiseStored({ sort: 'temp', dir: 'asc', q: 'db', status: 'stale', view: 'grid' });
  const cases: Array<[string, string, string | null, ViewState]> = [
    ['defaults', '', null, { ...DEFAULT_STATE }],
    ['stored only', '', stored, { sort: 'temp', dir: 'asc', q: 'db', status: 'stale', view: 'grid' }],
    ['the URL wins as a whole', '?view=table', stored, { ...DEFAULT_STATE, view: 'table' }],
    ['a URL without a layout takes the one chosen here', '?sort=cpu', stored, { ...DEFAULT_STATE, sort: 'cpu', dir: 'desc', view: 'grid' }],
    ['an invalid URL is as none', '?sort=nope', stored, { sort: 'temp', dir: 'asc', q: 'db', status: 'stale', view: 'grid' }],
    ['a sort without direction takes the column\'s first', '?sort=cpu', null, { ...DEFAULT_STATE, sort: 'cpu', dir: 'desc' }],
    ['stored sort without direction', '', '{"sort":"name"}', { ...DEFAULT_STATE }],
    ['garbage stored', '', '\u0000', { ...DEFAULT_STATE }],
  ];
  for (const [name, search, text, want] of cases) assert.deepEqual(initialState(search, text), want, name);
});

test('the layout: the one chosen, else the cards on a narrow screen; never in the URL, stored only when chosen with the buttons', () => {
  assert.equal(DEFAULT_STATE.view, 'auto', 'no layout chosen');
  const cases: Array<[ViewState['view'], boolean, string]> = [
    ['auto', true, 'grid'], ['auto', false, 'table'],
    ['table', true, 'table'], ['table', false, 'table'], ['grid', true, 'grid'], ['grid', false, 'grid'],
  ];
  for (const [view, narrow, want] of cases) assert.equal(shownView(view, narrow), want, `${view}, ${narrow ? 'narrow' : 'wide'}`);
  // app.css's phone layout starts at the same width.
  assert.equal(NARROW_MEDIA, '(max-width: 640px)');
  assert.ok(readFileSync(new URL('../../dashboard/static/app.css', import.meta.url), 'utf8').includes(`@media ${NARROW_MEDIA}`));

  const auto: ViewState = { ...DEFAULT_STATE, sort: 'cpu', dir: 'desc' };
  assert.equal(serialiseQuery(auto), '?sort=cpu&dir=desc');
  assert.ok(!serialiseStored(auto).includes('view'), serialiseStored(auto));
  assert.deepEqual(initialState('', serialiseStored(auto)), auto);
  // Chosen, either one: stored, whatever the width would pick; never in the URL, so a link copied
  // from a phone does not put a colleague's desk in the cards.
  assert.equal(serialiseQuery({ ...DEFAULT_STATE, view: 'table' }), '');
  assert.equal(initialState('', serialiseStored({ ...DEFAULT_STATE, view: 'table' })).view, 'table');
  assert.equal(initialState('', serialiseStored({ ...DEFAULT_STATE, view: 'grid' })).view, 'grid');
  // A layout that came with a link is that visit's: storage keeps the one chosen (or none).
  const fromLink = initialState('?view=cards', serialiseStored({ ...DEFAULT_STATE, view: 'table' }));
  assert.equal(fromLink.view, 'grid', 'the link opens the cards for this visit');
  assert.equal(initialState('', serialiseStored(fromLink, 'table')).view, 'table', 'the next visit is back to the chosen table');
  assert.ok(!serialiseStored(fromLink, 'auto').includes('view'), 'and with none chosen, none is stored');
});

test('parseStored: a page from before the automatic layout stored the table on every visit: only its cards were chosen', () => {
  const old = (view: string): string => JSON.stringify({ sort: 'cpu', dir: 'desc', q: '', status: 'all', view });
  assert.deepEqual(parseStored(old('table')), { sort: 'cpu', dir: 'desc', q: '', status: 'all' });
  assert.deepEqual(parseStored(old('grid')), { sort: 'cpu', dir: 'desc', q: '', status: 'all', view: 'grid' });
  assert.equal(initialState('', old('table')).view, 'auto');
});

test('serialiseQuery: defaults left out, sort and direction together, and it reads back (seed 20260)', () => {
  assert.equal(serialiseQuery({ ...DEFAULT_STATE }), '');
  assert.equal(serialiseQuery({ ...DEFAULT_STATE, sort: 'cpu', dir: 'asc' }), '?sort=cpu&dir=asc');
  assert.equal(serialiseQuery({ ...DEFAULT_STATE, dir: 'desc' }), '?sort=name&dir=desc');
  assert.equal(serialiseQuery({ sort: 'cpu', dir: 'desc', q: 'web', status: 'online', view: 'grid' }), '?sort=cpu&dir=desc&q=web&status=online');
  // A link may still name the layout, as the cards' button does; old links with view=grid open them too.
  assert.equal(initialState('?view=cards', null).view, 'grid');
  assert.equal(initialState('?view=grid', null).view, 'grid');
  let seed = 20260;
  const pick = <T>(xs: readonly T[]): T => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return xs[seed % xs.length]!;
  };
  for (let i = 0; i < 300; i++) {
    const state: ViewState = {
      sort: pick(COLUMNS), dir: pick(['asc', 'desc'] as const), q: pick(['', 'web', ' a&b=c ', HOSTILE, 'é/%?#']),
      status: pick(['all', 'online', 'stale', 'offline'] as const), view: pick(['table', 'grid', 'auto'] as const),
    };
    assert.deepEqual(initialState(serialiseQuery(state), null), { ...state, view: 'auto' }, `URL ${serialiseQuery(state)}`);
    assert.deepEqual(initialState('', serialiseStored(state)), state, 'localStorage');
  }
});

test('toggleSort: the active column flips, another starts at its first direction', () => {
  const cases: Array<[Partial<ViewState>, ColumnKey, Partial<ViewState>]> = [
    [{ sort: 'name', dir: 'asc' }, 'name', { sort: 'name', dir: 'desc' }],
    [{ sort: 'cpu', dir: 'desc' }, 'cpu', { sort: 'cpu', dir: 'asc' }],
    [{ sort: 'name', dir: 'desc' }, 'cpu', { sort: 'cpu', dir: 'desc' }],
    [{ sort: 'cpu', dir: 'asc' }, 'name', { sort: 'name', dir: 'asc' }],
  ];
  for (const [from, key, want] of cases) {
    const got = toggleSort({ ...DEFAULT_STATE, q: 'x', ...from }, key);
    assert.deepEqual(got, { ...DEFAULT_STATE, q: 'x', ...want }, `${from.sort} ${from.dir} + ${key}`);
  }
  assert.equal(defaultDir('name'), 'asc');
  for (const key of COLUMNS.filter((k) => k !== 'name')) assert.equal(defaultDir(key), 'desc', key);
});

test('level: warn over the threshold or while pending, alert while firing', () => {
  const cases: Array<[string, number | null, number | null, 'pending' | 'firing' | undefined, string]> = [
    ['under', 50, 90, undefined, ''],
    ['at the threshold is not over it', 90, 90, undefined, ''],
    ['over', 90.1, 90, undefined, 'warn'],
    ['no threshold', 99, null, undefined, ''],
    ['no value', null, 90, undefined, ''],
    ['pending', 50, 90, 'pending', 'warn'],
    ['firing', 50, 90, 'firing', 'alert'],
    ['firing without a value', null, null, 'firing', 'alert'],
  ];
  for (const [name, v, t, s, want] of cases) assert.equal(level(v, t, s), want, name);
});

test('alertStates: each metric on its column, firing over pending', () => {
  const a = (metric: string, state: 'pending' | 'firing'): { rule: string; metric: string; instance: string; state: 'pending' | 'firing' } => ({ rule: 'r', metric, instance: '', state });
  assert.deepEqual(alertStates([]), {});
  assert.deepEqual(alertStates([a('cpu_pct', 'pending'), a('cpu_pct', 'firing'), a('fs_used_pct', 'pending'), a('load_1m', 'firing')]), { cpu: 'firing', disk: 'pending' });
  assert.deepEqual(alertStates([a('mem_used_pct', 'firing'), a('swap_used_pct', 'pending')]), { mem: 'firing' });
  assert.deepEqual(alertStates([a('offline_s', 'firing'), a('temp_max_c', 'pending'), a('power_w', 'firing'), a('net_rx_bps', 'pending')]), { status: 'firing', temp: 'pending', power: 'firing', net: 'pending' });
});

test('thresholdsOf: the payload\'s, nulls kept; the defaults only when it has none', () => {
  assert.deepEqual(thresholdsOf({}), DEFAULT_THRESHOLDS);
  assert.deepEqual(thresholdsOf(null), DEFAULT_THRESHOLDS);
  assert.deepEqual(thresholdsOf({ thresholds: { cpu_pct: 80, mem_used_pct: null, fs_used_pct: 95, temp_max_c: 'hot' } }), { cpu_pct: 80, mem_used_pct: null, fs_used_pct: 95, temp_max_c: null });
});

test('formatting: ages, power, cost, memory pairs', () => {
  const cases: Array<[string, string, string]> = [
    ['age under a second', formatAge(999), '0 s'],
    ['age in whole seconds', formatAge(59_999), '59 s'],
    ['age past a minute', formatAge(247_000), '4m 7s'],
    ['age unknown', formatAge(null), '–'],
    ['a negative age is now', formatAge(-5), '0 s'],
    ['watts', formatPower(310), '310 W'],
    ['kilowatts', formatPower(12_345), '12.3 kW'],
    ['no power', formatPower(null), '–'],
    ['no cost yet', formatCost(null), '–'],
    ['cost as a number', formatCost(3.5), '3.50'],
    ['cost in a currency', formatCost(3.5, 'USD'), '$3.50'],
    ['cost with its currency', formatCost({ amount: 1.234, currency: 'EUR' }), '€1.23'],
    ['cost of another shape', formatCost('12'), '–'],
    ['memory pair', formatBytesPair(3 * GIB, 8 * GIB), '3/8 GiB'],
    ['memory pair, fractions', formatBytesPair(28.94 * GIB, 64 * GIB), '28.9/64 GiB'],
    ['memory in a smaller unit than total', formatBytesPair(512 * 1024 ** 2, 16 * GIB), '0.5/16 GiB'],
    ['total unknown', formatBytesPair(3 * GIB, null), '3 GiB'],
    ['both unknown', formatBytesPair(null, null), '–'],
  ];
  for (const [name, got, want] of cases) assert.equal(got, want, name);
});

test('normalizeHost: missing fields read as null, memory % worked out when absent', () => {
  const old = normalizeHost({ name: 'old', status: 'online', cpu_pct: 5, mem_used_bytes: GIB, mem_total_bytes: 4 * GIB, readings: { net_rx_bps: 10 } });
  assert.equal(old.memPct, 25, 'from used / total');
  assert.deepEqual([old.diskPct, old.diskMount, old.tempC, old.powerW, old.txBps, old.ageMs], [null, null, null, null, null, null]);
  assert.deepEqual([old.powerSource, old.todayKwh, old.todayCost], [null, null, null], 'a collector from before energy');
  assert.equal(old.netBps, 10, 'rx alone');
  assert.deepEqual(old.alerts, []);
  const sentNull = normalizeHost(apiHost('n', { mem_used_pct: null }));
  assert.equal(sentNull.memPct, null, 'a null the collector sent stays null');
  assert.equal(normalizeHost({ name: 'x', status: 'weird' }).status, 'offline', 'an unknown status is not shown as online');
  assert.equal(normalizeHost({ name: 'x', cpu_pct: Number.NaN, readings: null }).cpuPct, null);
  assert.equal(normalizeHost(apiHost('x', { alerts: [null, { rule: 'r' }, { rule: 'r', metric: 'cpu_pct', state: 'firing' }] })).alerts.length, 1);
  assert.deepEqual(normalizeHosts({ hosts: [apiHost('a'), null, { name: 5 }, 'b', apiHost('c')] }).map((h) => h.name), ['a', 'c']);
  assert.deepEqual(normalizeHosts({}), []);
});

test('normalizeHost: a host of the overview\'s stream without its facts and note keeps those of the same host before', () => {
  const first = normalizeHost({ ...apiHost('web-1'), os: 'Debian GNU/Linux 12', kernel: '6.1.0', arch: 'x64', cpu_model: 'EPYC', cpu_cores: 2, agent: '0.1.0', note: 'gpu: no GPU found' });
  assert.equal(first.facts, 'Debian GNU/Linux 12 · 6.1.0 · x64 · EPYC · 2 cores · 0.1.0');
  assert.equal(first.note, 'gpu: no GPU found');
  // A delta of the overview's view: no agent, os, kernel, arch, cpu_model or note.
  const lean = { name: 'web-1', slot: 0, status: 'online', cpu_pct: 7, cpu_cores: 2, readings: {} };
  const next = normalizeHost(lean, first);
  assert.equal(next.cpuPct, 7);
  assert.equal(next.facts, first.facts);
  assert.equal(next.note, first.note);
  // Without a host before (or with its facts sent), the host's own say.
  assert.equal(normalizeHost(lean).facts, '2 cores');
  assert.equal(normalizeHost(lean).note, '');
  const renoted = normalizeHost({ ...lean, agent: '0.2.0', os: 'Debian GNU/Linux 13', note: '' }, first);
  assert.equal(renoted.note, '', 'a note that went away');
  assert.match(renoted.facts, /Debian GNU\/Linux 13/);
  // The core count comes with every delta: the tooltip follows it, with the facts kept.
  assert.equal(normalizeHost({ ...lean, cpu_cores: 4 }, first).facts, 'Debian GNU/Linux 12 · 6.1.0 · x64 · EPYC · 4 cores · 0.1.0');
  assert.equal(normalizeHost(lean, normalizeHost(lean, first)).facts, first.facts, 'kept across several deltas');
  // normalizeHosts never takes an index for a host before.
  assert.equal(normalizeHosts({ hosts: [lean, lean] })[1]!.facts, '2 cores');
});

test('applyStatusEvent: statuses by slot, alerts by host, hosts whose slot is empty leave; unchanged hosts stay the same objects', async (t) => {
  const alert = (host: string, state = 'firing'): Record<string, unknown> => ({ rule: 'cpu_high', host, instance: '', metric: 'cpu_pct', op: '>', threshold: 90, for_s: 0, value: 95, state, active_since_ms: 1, fired_at_ms: 1 });
  const hosts = [
    normalizeHost(apiHost('a', { slot: 0 })),
    normalizeHost(apiHost(HOSTILE, { slot: 1, alerts: [{ rule: 'cpu_high', metric: 'cpu_pct', instance: '', state: 'pending' }] })),
    normalizeHost(apiHost('c', { slot: 2, status: 'offline' })),
    normalizeHost(apiHost('old-collector')),
  ];
  assert.deepEqual(hosts.map((h) => h.slot), [0, 1, 2, null]);
  const cases: ReadonlyArray<[string, Record<string, unknown>, { statuses: string[]; changed: string[]; statusChanged: boolean; gone: number; alerts?: number[] }]> = [
    ['nothing changed', { statuses: 'oof' }, { statuses: ['online', 'online', 'offline', 'online'], changed: [], statusChanged: false, gone: 0 }],
    ['a turns stale by the clock', { statuses: 'sof' }, { statuses: ['stale', 'online', 'offline', 'online'], changed: ['a'], statusChanged: true, gone: 0 }],
    ['an alert fires on a, the pending one goes', { statuses: 'oof', alerts: [alert('a')] }, { statuses: ['online', 'online', 'offline', 'online'], changed: ['a', HOSTILE], statusChanged: false, gone: 0, alerts: [1, 0, 0, 0] }],
    ['the same alerts: nothing changes', { statuses: 'oof', alerts: [alert(HOSTILE, 'pending')] }, { statuses: ['online', 'online', 'offline', 'online'], changed: [], statusChanged: false, gone: 0, alerts: [0, 1, 0, 0] }],
    ['slot 2 holds no host any more', { statuses: 'oo.' }, { statuses: ['online', 'online', 'online'], changed: [], statusChanged: false, gone: 1 }],
    ['a shorter list: the slot beyond leaves too', { statuses: 'so' }, { statuses: ['stale', 'online', 'online'], changed: ['a'], statusChanged: true, gone: 1 }],
    ['not a status event: nothing', { hosts: [] }, { statuses: ['online', 'online', 'offline', 'online'], changed: [], statusChanged: false, gone: 0 }],
  ];
  for (const [name, data, want] of cases) {
    await t.test(name, () => {
      const r = applyStatusEvent(hosts, data);
      assert.deepEqual(r.hosts.map((h) => h.status), want.statuses);
      assert.deepEqual(r.changed, want.changed);
      assert.equal(r.statusChanged, want.statusChanged);
      assert.equal(r.gone, want.gone);
      if (want.alerts) assert.deepEqual(r.hosts.map((h) => h.alerts.length), want.alerts);
      for (const h of r.hosts) if (!r.changed.includes(h.name)) assert.equal(h, hosts.find((x) => x.name === h.name), `${h.name} is the same object`);
    });
  }
  assert.equal(hosts[0]!.status, 'online', 'the input is not changed');
  assert.deepEqual([...hostAlertsOf([alert('a'), null, { host: 'b' }, alert('a', 'pending')]).entries()].map(([k, v]) => [k, v.map((a) => a.state)]), [['a', ['firing', 'pending']]]);
});

test('rowModel: text, second text and level per column; the link encodes the name', () => {
  const t = { cpu_pct: 90, mem_used_pct: 90, fs_used_pct: 90, temp_max_c: 85 };
  const h = normalizeHost(apiHost(HOSTILE, {
    cpu_pct: 95.25, mem_used_pct: 91, mem_used_bytes: 7.28 * GIB, disk_fullest_pct: 97, disk_fullest_mount: '/data', uptime_s: 3 * 86400 + 7200,
    alerts: [{ rule: 'filesystem_full', metric: 'fs_used_pct', instance: '/data', state: 'firing' }, { rule: 'memory_high', metric: 'mem_used_pct', instance: '', state: 'pending' }],
  }, { net_rx_bps: 2 * 1024 ** 2, net_tx_bps: 256 * 1024, temp_max_c: 71, power_w: 12_345 }));
  const m = rowModel(h, t);
  assert.equal(m.href, `/hosts/${encodeURIComponent(HOSTILE)}`);
  assert.equal(m.firing, true);
  assert.match(m.title, /^<img src=x onerror=alert\(1\)>\nDebian · 6\.1 · x64 · CPU · 4 cores · sentinel-agent\/0\.1\.0$/);
  const cells = Object.fromEntries(Object.entries(m.cells).map(([k, c]) => [k, [c.text, c.sub, c.level]]));
  assert.deepEqual(cells, {
    status: ['online', '', ''],
    cpu: ['95.3 %', '', 'warn'],
    mem: ['91.0 %', '7.28/8 GiB', 'warn'],
    disk: ['97.0 %', '/data', 'alert'],
    net: ['↓ 2 MiB/s', '↑ 256 KiB/s', ''],
    temp: ['71 °C', '', ''],
    power: ['12.3 kW', '', ''],
    energy: ['–', '', ''],
    cost: ['–', '', ''],
    uptime: ['3d 2h', '', ''],
  });
  assert.equal(m.cells.power.badge, '', 'no source said: no badge');
  const none = rowModel(normalizeHost({ name: 'bare', status: 'offline', note: 'cpu: no proc' }), { cpu_pct: null, mem_used_pct: null, fs_used_pct: null, temp_max_c: null });
  assert.ok(Object.values(none.cells).filter((c) => c !== none.cells.status).every((c) => c.text === '–' && c.sub === '' && c.level === ''), JSON.stringify(none.cells));
  assert.equal(none.firing, false);
  assert.equal(none.title, 'bare\nmissing: cpu: no proc');
  const offline = rowModel(normalizeHost(apiHost('gone', { status: 'offline', alerts: [{ rule: 'host_offline', metric: 'offline_s', instance: '', state: 'firing' }] })), t);
  assert.equal(offline.cells.status.level, 'alert', 'host_offline marks the status cell');
});

test('rowModel: watts with their source\'s badge, kWh and cost today in the tariff\'s currency', () => {
  const t = { cpu_pct: 90, mem_used_pct: 90, fs_used_pct: 90, temp_max_c: 85 };
  const cases: Array<[string, Record<string, unknown>, string | null, { power: string; badge: string; energy: string; cost: string; hint: string }]> = [
    ['measured, in euros', { power_source: 'measured', energy: energy(1.234, 0.3085) }, 'EUR', { power: '100 W', badge: 'measured', energy: '1.23 kWh', cost: '€0.31', hint: '' }],
    ['estimated, in dollars', { power_source: 'estimated', energy: energy(0.4, 0.06) }, 'USD', { power: '100 W', badge: 'estimated', energy: '400 Wh', cost: '$0.06', hint: '' }],
    // Up a couple of minutes: '0.000 kWh' read as nothing drawn.
    ['a couple of minutes: Wh', { power_source: 'measured', energy: energy(0.0008, 0.0002) }, 'EUR', { power: '100 W', badge: 'measured', energy: '0.8 Wh', cost: '€0.00', hint: '' }],
    ['no tariff: kWh, and why there is no cost', { power_source: 'estimated', energy: energy(12.5, null) }, null, { power: '100 W', badge: 'estimated', energy: '12.5 kWh', cost: '–', hint: NO_TARIFF_HINT }],
    ['nothing counted yet', { power_source: 'measured', energy: null }, 'EUR', { power: '100 W', badge: 'measured', energy: '–', cost: '–', hint: '' }],
    ['an unknown source is no badge', { power_source: 'guessed', energy: energy(1, 0.2) }, 'EUR', { power: '100 W', badge: '', energy: '1.00 kWh', cost: '€0.20', hint: '' }],
  ];
  for (const [name, over, currency, want] of cases) {
    const m = rowModel(normalizeHost(apiHost('h', over)), t, currency);
    const c = m.cells;
    assert.deepEqual({ power: c.power.text, badge: c.power.badge, energy: c.energy.text, cost: c.cost.text, hint: c.cost.hint }, want, name);
  }
  const noWatts = rowModel(normalizeHost(apiHost('h', { power_source: 'measured' }, { power_w: null })), t, 'EUR');
  assert.deepEqual([noWatts.cells.power.text, noWatts.cells.power.badge], ['–', ''], 'a source without watts says nothing');
});

test('sorting by energy goes by the amount, not by its text: 900 Wh is less than 2.00 kWh', () => {
  const hosts = [['wh', 0.9], ['kwh', 2], ['tiny', 0.00001], ['none', null], ['zero', 0]].map(([name, kwh]) => normalizeHost(apiHost(name as string, { energy: kwh === null ? null : energy(kwh as number, null) })));
  const t = DEFAULT_THRESHOLDS;
  const shown = (dir: SortDir): string[] => visibleHosts(hosts, { ...DEFAULT_STATE, sort: 'energy', dir }).map((h) => `${h.name} ${rowModel(h, t).cells.energy.text}`);
  assert.deepEqual(shown('desc'), ['kwh 2.00 kWh', 'wh 900 Wh', 'tiny < 0.1 Wh', 'zero 0 Wh', 'none –']);
  assert.deepEqual(shown('asc'), ['zero 0 Wh', 'tiny < 0.1 Wh', 'wh 900 Wh', 'kwh 2.00 kWh', 'none –']);
});

test('currencyOf and powerSourcesText read the summary defensively', () => {
  assert.equal(currencyOf({ summary: { currency: 'EUR' } }), 'EUR');
  assert.equal(currencyOf({ summary: { currency: 'chf' } }), 'CHF');
  for (const bad of [{ summary: { currency: null } }, { summary: { currency: '<b>' } }, { summary: {} }, {}, null]) assert.equal(currencyOf(bad), null, JSON.stringify(bad));
  const cases: Array<[string, unknown, string]> = [
    ['both kinds', { power_hosts: 12, power_measured_hosts: 3, power_estimated_hosts: 9 }, '3 measured, 9 estimated'],
    ['measured only', { power_hosts: 2, power_measured_hosts: 2, power_estimated_hosts: 0 }, '2 measured'],
    ['a host that did not say', { power_hosts: 3, power_measured_hosts: 1, power_estimated_hosts: 1 }, '1 measured, 1 estimated, 1 source not said'],
    ['no power', { power_hosts: 0, power_measured_hosts: 0, power_estimated_hosts: 0 }, ''],
    ['an older collector', { power_hosts: 2 }, '2 source not said'],
    ['nothing', null, ''],
  ];
  for (const [name, summary, want] of cases) assert.equal(powerSourcesText(summary), want, name);
});

test('fleetModel: the summary\'s figures; missing ones worked out from online hosts', () => {
  const hosts = [apiHost('a', { cpu_pct: 50, cpu_cores: 4 }, { power_w: 100 }), apiHost('b', { cpu_pct: 10, cpu_cores: 12 }, { power_w: null }), apiHost('c', { status: 'offline', cpu_pct: 99 })];
  const summary = { hosts: 3, online: 2, stale: 0, offline: 1, cpu_pct: 20, cpu_cores: 16, mem_used_bytes: 4 * GIB, mem_total_bytes: 16 * GIB, power_w: 100, power_hosts: 1, alerts_firing: 0, cost_today: null };
  const base = { hosts: '3', online: '2', stale: '0', offline: '1', cpu: '20.0 % of 16 cores', memory: '4 GiB / 16 GiB', power: '100 W' };
  const noEnergy = { power_detail: '', energy: '–', energy_detail: '', cost: '–', cost_detail: '', projected: '–', projected_detail: '' };
  const cases: Array<[string, unknown, Record<string, string>]> = [
    ['full summary', { summary, hosts }, { ...base, ...noEnergy, power_detail: '1 source not said' }],
    ['counts only (an older collector)', { summary: { hosts: 3, online: 2, stale: 0, offline: 1 }, hosts }, { ...base, ...noEnergy }],
    ['nulls the collector sent', { summary: { ...summary, cpu_pct: null, mem_total_bytes: null, power_w: null, power_hosts: 0 }, hosts }, { ...base, ...noEnergy, cpu: '–', memory: '–', power: '–' }],
    ['no summary, no hosts', {}, { ...base, ...noEnergy, hosts: '0', online: '0', offline: '0', cpu: '–', memory: '–', power: '–' }],
    ['a bare cost (no currency field)', { summary: { ...summary, cost_today: 4.2 }, hosts }, { ...base, ...noEnergy, power_detail: '1 source not said', cost: '4.20' }],
  ];
  for (const [name, payload, want] of cases) assert.deepEqual(fleetModel(payload, normalizeHosts(payload)), want, name);
});

test('fleetModel: power by source, kWh, cost and the projection, in the tariff\'s currency or kWh only', () => {
  const energySummary = {
    hosts: 12, online: 12, stale: 0, offline: 0, power_w: 412, power_hosts: 12, power_measured_hosts: 3, power_estimated_hosts: 9,
    energy_today_kwh: 4.8125, energy_month_kwh: 98.25, cost_today: 1.203, cost_month: 24.561, projected_month_kwh: 300.4, projected_month_cost: 75.1, currency: 'EUR',
  };
  const pick = (f: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(f).filter(([k]) => /^(power|energy|cost|projected)/.test(k)));
  const cases: Array<[string, Record<string, unknown>, Record<string, string>]> = [
    ['a tariff in euros', energySummary, {
      power: '412 W', power_detail: '3 measured, 9 estimated', energy: '4.81 kWh', energy_detail: 'month 98.3 kWh',
      cost: '€1.20', cost_detail: 'month €24.56', projected: '€75.10', projected_detail: '300 kWh',
    }],
    ['no tariff: kWh, and what cost needs', { ...energySummary, cost_today: null, cost_month: null, projected_month_cost: null, currency: null }, {
      power: '412 W', power_detail: '3 measured, 9 estimated', energy: '4.81 kWh', energy_detail: 'month 98.3 kWh',
      cost: '–', cost_detail: 'needs --tariff', projected: '300 kWh', projected_detail: 'cost needs --tariff',
    }],
    ['a tariff, but no projection yet', { ...energySummary, projected_month_kwh: null, projected_month_cost: null }, {
      power: '412 W', power_detail: '3 measured, 9 estimated', energy: '4.81 kWh', energy_detail: 'month 98.3 kWh',
      cost: '€1.20', cost_detail: 'month €24.56', projected: '–', projected_detail: '',
    }],
    ['the first minutes of the day: Wh', { ...energySummary, energy_today_kwh: 0.0374, energy_month_kwh: 0.0374, cost_today: 0.0094, cost_month: 0.0094 }, {
      power: '412 W', power_detail: '3 measured, 9 estimated', energy: '37.4 Wh', energy_detail: 'month 37.4 Wh',
      cost: '€0.01', cost_detail: 'month €0.01', projected: '€75.10', projected_detail: '300 kWh',
    }],
    ['a tariff, no power counted yet', { ...energySummary, power_w: null, power_hosts: 0, power_measured_hosts: 0, power_estimated_hosts: 0, energy_today_kwh: null, energy_month_kwh: null, cost_today: null, cost_month: null, projected_month_kwh: null, projected_month_cost: null }, {
      power: '–', power_detail: '', energy: '–', energy_detail: '', cost: '–', cost_detail: '', projected: '–', projected_detail: '',
    }],
  ];
  for (const [name, s, want] of cases) assert.deepEqual(pick(fleetModel({ summary: s, hosts: [] }, [])), want, name);
});

test('bannerModel: firing alerts only, each a sentence: host, metric and value against threshold in its unit, for how long', () => {
  const now = 1_700_000_000_000;
  const alert = (host: string, state: 'pending' | 'firing', extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    rule: 'filesystem_full', host, instance: '/data', metric: 'fs_used_pct', op: '>', threshold: 90, for_s: 0, value: 93.14, state,
    active_since_ms: now - 200_000, fired_at_ms: state === 'firing' ? now - 125_000 : null, ...extra,
  });
  const m = bannerModel({ now_ms: now, alerts: [alert(HOSTILE, 'firing'), alert('b', 'pending'), alert('c', 'firing', { instance: '', rule: 'cpu_high', metric: 'cpu_pct', value: null, for_s: 300 })] });
  assert.equal(m.count, 2);
  assert.equal(m.more, 0);
  assert.deepEqual(m.lines, [
    { rule: 'filesystem_full', host: HOSTILE, href: `/hosts/${encodeURIComponent(HOSTILE)}`, detail: 'disk /data 93.1 % (alert at > 90.0 %) · firing for 2m 5s', title: 'filesystem_full: fs_used_pct > 90' },
    { rule: 'cpu_high', host: 'c', href: '/hosts/c', detail: 'CPU – (alert at > 90.0 %) · firing for 2m 5s', title: 'cpu_high: cpu_pct > 90 for 5m' },
  ]);
  // Every metric in its unit, as the table writes it; the value and the threshold alike.
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['offline: a duration, its threshold the seconds the rule names', { metric: 'offline_s', op: '>', threshold: 60, value: 63.4, fired_at_ms: now - 2000 }, 'offline for 1m 3s (alert at > 60 s) · firing for 2 s'],
    ['CPU: percent with one decimal both sides', { metric: 'cpu_pct', op: '>', threshold: 90, value: 97, fired_at_ms: now - 300_000 }, 'CPU 97.0 % (alert at > 90.0 %) · firing for 5m 0s'],
    ['memory', { metric: 'mem_used_pct', op: '>=', threshold: 95.5, value: 96.04 }, 'memory 96.0 % (alert at >= 95.5 %) · firing for 2m 5s'],
    ['temperature keeps a decimal: 85.4 is over 85', { metric: 'temp_max_c', op: '>', threshold: 85, value: 85.4 }, 'temperature 85.4 °C (alert at > 85.0 °C) · firing for 2m 5s'],
    ['network in bytes per second', { metric: 'net_rx_bps', op: '>', threshold: 100 * 1024 ** 2, value: 123.4 * 1024 ** 2 }, 'network in 123 MiB/s (alert at > 100 MiB/s) · firing for 2m 5s'],
    ['power as the table shows it', { metric: 'power_w', op: '>', threshold: 10_000, value: 12_345 }, 'power 12.3 kW (alert at > 10 kW) · firing for 2m 5s'],
    ['swap in bytes', { metric: 'swap_used_bytes', op: '>', threshold: 1024 ** 3, value: 1.5 * 1024 ** 3 }, 'swap used 1.5 GiB (alert at > 1 GiB) · firing for 2m 5s'],
    ['a load average', { metric: 'load_1m', op: '>', threshold: 8, value: 12.345 }, 'load (1 min) 12.35 (alert at > 8) · firing for 2m 5s'],
    ['uptime below a threshold: rebooted', { metric: 'uptime_s', op: '<', threshold: 600, value: 45 }, 'up for 45 s (alert at < 600 s) · firing for 2m 5s'],
    ['a metric the page does not know reads by its name', { metric: 'gpu_pct', op: '>', threshold: 50, value: 75.123 }, 'gpu_pct 75.12 (alert at > 50) · firing for 2m 5s'],
    ['no firing time: no "firing for"', { metric: 'cpu_pct', op: '>', threshold: 90, value: 91, fired_at_ms: null }, 'CPU 91.0 % (alert at > 90.0 %)'],
  ];
  for (const [name, over, want] of cases) {
    assert.equal(bannerModel({ now_ms: now, alerts: [alert('h', 'firing', { instance: '', ...over })] }).lines[0]?.detail, want, name);
  }
  assert.equal(bannerModel({ alerts: [alert('h', 'firing')] }).lines[0]?.detail, 'disk /data 93.1 % (alert at > 90.0 %)', 'no now_ms: no "firing for"');
  assert.deepEqual(bannerModel({ alerts: [alert('b', 'pending')] }), { count: 0, lines: [], more: 0 });
  assert.deepEqual(bannerModel({}), { count: 0, lines: [], more: 0 });
  assert.deepEqual(bannerModel({ alerts: 'x' }), { count: 0, lines: [], more: 0 });
  const many = bannerModel({ now_ms: now, alerts: Array.from({ length: MAX_BANNER_ALERTS + 5 }, (_, i) => alert(`h${i}`, 'firing')) });
  assert.deepEqual([many.count, many.lines.length, many.more], [MAX_BANNER_ALERTS + 5, MAX_BANNER_ALERTS, 5]);
});
