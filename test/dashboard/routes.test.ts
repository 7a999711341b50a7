import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostsPayload } from '../../dashboard/api.ts';
import { createDashboardServer } from '../../dashboard/server.ts';
import type { HostView } from '../../shared/host_view.ts';
import { closeServer, httpRequest, listenLoopback, type HttpResult } from '../helpers/http_client.ts';
import { FIXTURE_AGENT, FIXTURE_READINGS, makeStore, type FixtureHost } from '../helpers/store_fixture.ts';
import { STR } from '../../shared/shm_layout.ts';

const NOW_MS = 1_700_000_000_000;
const HOSTILE = '<img src=x onerror=alert(1)>';

const HOSTS: readonly FixtureHost[] = [
  { name: 'alpha', status: 'online' },
  { name: 'beta', status: 'stale' },
  { name: 'gamma', status: 'offline', readings: { cpu_pct: 99.5, uptime_s: 12 }, missing: { load_1m: 'not available' } },
  { name: HOSTILE, status: 'online' },
];

async function startServer(t: { after: (fn: () => Promise<void>) => void }, httpToken = ''): Promise<string> {
  const fixture = makeStore(HOSTS, { nowMs: NOW_MS });
  // A fixed clock: ages and statuses do not depend on how fast the test runs.
  const server = createDashboardServer(fixture.store, { now: () => NOW_MS, httpToken });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return base;
}

function assertSecurityHeaders(res: HttpResult, what: string): void {
  const csp = String(res.headers['content-security-policy'] ?? '');
  // Scripts run only where the CSP names them by hash (the page), nowhere else.
  assert.match(csp, /(^|;)\s*default-src 'none'(;|$)/, `${what}: CSP ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|script-src[^;]*'self'/, `${what}: CSP ${csp}`);
  assert.equal(res.headers['x-content-type-options'], 'nosniff', what);
  assert.equal(res.headers['referrer-policy'], 'no-referrer', what);
}

interface RouteCase {
  name: string;
  method: string;
  /** Sent verbatim as the request target. */
  path: string;
  status: number;
  type: RegExp;
  headers?: Record<string, string>;
  /** Extra checks on the answer. */
  check?: (res: HttpResult) => void;
}

const ROUTE_CASES: readonly RouteCase[] = [
  {
    name: 'GET / is the page shell', method: 'GET', path: '/', status: 200, type: /^text\/html; charset=utf-8$/,
    check: (res) => {
      assert.match(res.body, /^<!doctype html>/i);
      // Self-contained: nothing loaded from elsewhere, not even from this origin.
      assert.doesNotMatch(res.body, /<script[^>]*\ssrc=|<link[^>]*\shref=|@import|url\(/);
      // The one inline script and the one inline style are exactly those the CSP allows by hash.
      const csp = String(res.headers['content-security-policy']);
      const script = /<script type="module">([\s\S]*?)<\/script>/.exec(res.body)![1]!;
      const style = /<style>([\s\S]*?)<\/style>/.exec(res.body)![1]!;
      const hash = (x: string): string => `'sha256-${createHash('sha256').update(x, 'utf8').digest('base64')}'`;
      assert.match(csp, new RegExp(`script-src ${hash(script).replace(/[+/]/g, '\\$&')}(;|$)`));
      assert.match(csp, new RegExp(`style-src ${hash(style).replace(/[+/]/g, '\\$&')}(;|$)`));
      assert.equal((res.body.match(/<script/g) ?? []).length, 1);
      assert.match(script, /fetch\('\/api\/hosts'/);
    },
  },
  { name: 'GET / with a query string', method: 'GET', path: '/?view=all', status: 200, type: /^text\/html/ },
  { name: 'no separate script: the page is self-contained', method: 'GET', path: '/app.js', status: 404, type: /^application\/json/ },
  { name: 'GET /api/hosts is never cached', method: 'GET', path: '/api/hosts', status: 200, type: /^application\/json/, headers: { 'cache-control': 'no-store' } },
  { name: 'GET /api/hosts with a query string', method: 'GET', path: '/api/hosts?since=0&x=%3Cb%3E', status: 200, type: /^application\/json/, check: (res) => assert.equal((JSON.parse(res.body) as HostsPayload).summary.hosts, HOSTS.length) },
  {
    name: 'GET /healthz', method: 'GET', path: '/healthz', status: 200, type: /^application\/json/, headers: { 'cache-control': 'no-store' },
    check: (res) => assert.deepEqual(JSON.parse(res.body), { ok: true, capacity: 16, slots_used: HOSTS.length }),
  },
  {
    name: 'GET /api/alerts without a feed: no rules, no alerts', method: 'GET', path: '/api/alerts', status: 200, type: /^application\/json/, headers: { 'cache-control': 'no-store' },
    check: (res) => assert.deepEqual(JSON.parse(res.body), { now_ms: NOW_MS, rules: [], alerts: [] }),
  },
  {
    name: 'GET /api/sparklines: every host, 60 points by default', method: 'GET', path: '/api/sparklines', status: 200, type: /^application\/json/, headers: { 'cache-control': 'no-store' },
    check: (res) => {
      const p = JSON.parse(res.body) as { points: number; hosts: Record<string, { cpu_pct: unknown[] }> };
      assert.equal(p.points, 60);
      assert.equal(Object.keys(p.hosts).length, HOSTS.length);
      for (const h of Object.values(p.hosts)) assert.equal(h.cpu_pct.length, 60);
    },
  },
  { name: 'GET /api/sparklines with points', method: 'GET', path: '/api/sparklines?seconds=60&points=12', status: 200, type: /^application\/json/, check: (res) => assert.equal(JSON.parse(res.body).step_ms, 5000) },
  {
    name: 'GET /api/sparklines?slots=: only the hosts in those slots', method: 'GET', path: '/api/sparklines?slots=0,2-2', status: 200, type: /^application\/json/,
    check: (res) => assert.deepEqual(Object.keys((JSON.parse(res.body) as { hosts: object }).hosts), [HOSTS[0]!.name, HOSTS[2]!.name]),
  },
  ...['slots=a', 'slots=3-1', 'slots=16', 'slots=0-99999', `slots=${'1,'.repeat(5000)}1`].map((q): RouteCase => ({
    name: `GET /api/sparklines?${q.slice(0, 30)} is refused with why`, method: 'GET', path: `/api/sparklines?${q}`, status: 400, type: /^application\/json/,
    check: (res) => assert.match((JSON.parse(res.body) as { error: string }).error, /^slots/),
  })),
  ...['points=0', 'points=301', 'points=abc', 'points=', 'seconds=1.5', 'seconds=-1', 'seconds=86401'].map((q): RouteCase => ({
    name: `GET /api/sparklines?${q} is refused`, method: 'GET', path: `/api/sparklines?${q}`, status: 400, type: /^application\/json/,
  })),
  { name: 'unknown path', method: 'GET', path: '/nope', status: 404, type: /^application\/json/, check: (res) => assert.deepEqual(JSON.parse(res.body), { error: 'not found' }) },
  { name: 'a path below an API route', method: 'GET', path: '/api/hosts/alpha/nope', status: 404, type: /^application\/json/ },
  { name: 'no file server behind the page', method: 'GET', path: '/static/app.js', status: 404, type: /^application\/json/ },
  { name: 'dot segments do not escape', method: 'GET', path: '/../package.json', status: 404, type: /^application\/json/ },
  { name: 'encoded dot segments do not escape', method: 'GET', path: '/%2e%2e/%2e%2e/package.json', status: 404, type: /^application\/json/ },
  ...(['POST', 'PUT', 'DELETE', 'PATCH'] as const).flatMap((method) => ['/', '/api/hosts'].map((path): RouteCase => ({
    name: `${method} ${path} is refused`, method, path, status: 405, type: /^application\/json/, headers: { allow: 'GET, HEAD' },
    check: (res) => assert.deepEqual(JSON.parse(res.body), { error: 'method not allowed' }),
  }))),
];

test('routes: status, content type and security headers', async (t) => {
  const base = await startServer(t);
  for (const c of ROUTE_CASES) {
    await t.test(c.name, async () => {
      const res = await httpRequest(base, { rawPath: c.path, method: c.method, ...(c.method === 'POST' || c.method === 'PUT' ? { body: '{}' } : {}) });
      assert.equal(res.status, c.status, `${c.method} ${c.path}: ${res.body}`);
      assert.match(String(res.headers['content-type']), c.type);
      assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body), 'content-length matches the body');
      assertSecurityHeaders(res, `${c.method} ${c.path}`);
      for (const [k, v] of Object.entries(c.headers ?? {})) assert.equal(res.headers[k], v, `header ${k}`);
      c.check?.(res);
    });
  }
});

test('routes: HEAD answers with the headers of GET and no body', async (t) => {
  const base = await startServer(t);
  for (const path of ['/', '/api/hosts', '/healthz', '/nope']) {
    await t.test(path, async () => {
      const [get, head] = [await httpRequest(base + path), await httpRequest(base + path, { method: 'HEAD' })];
      assert.equal(head.status, get.status);
      assert.equal(head.body, '');
      assert.equal(head.headers['content-type'], get.headers['content-type']);
      assert.equal(head.headers['content-length'], get.headers['content-length']);
      assertSecurityHeaders(head, `HEAD ${path}`);
    });
  }
});

test('routes: /api/hosts reports every host as HostTable wrote it', async (t) => {
  const base = await startServer(t);
  const res = await httpRequest(`${base}/api/hosts`);
  assert.equal(res.status, 200);
  const payload = JSON.parse(res.body) as HostsPayload;
  assert.equal(payload.now_ms, NOW_MS);
  const { hosts, online, stale, offline } = payload.summary;
  assert.deepEqual({ hosts, online, stale, offline }, { hosts: 4, online: 2, stale: 1, offline: 1 });
  assert.equal(payload.collector.slots_used, 4);
  assert.equal(payload.collector.capacity, 16);
  // Sorted by name (code units: '<' sorts before letters).
  assert.deepEqual(payload.hosts.map((h) => h.name), [HOSTILE, 'alpha', 'beta', 'gamma']);

  const byName = new Map(payload.hosts.map((h) => [h.name, h]));
  const expectFull = (h: HostView, status: HostView['status'], ageMs: number): void => {
    assert.equal(h.status, status, h.name);
    assert.equal(h.age_ms, ageMs, `${h.name} age_ms`);
    assert.equal(h.agent, FIXTURE_AGENT);
    assert.equal(h.cpu_pct, FIXTURE_READINGS.cpu_pct);
    assert.equal(h.mem_total_bytes, FIXTURE_READINGS.mem_total_bytes);
    assert.equal(h.mem_used_bytes, FIXTURE_READINGS.mem_used_bytes);
    assert.equal(h.mem_available_bytes, FIXTURE_READINGS.mem_available_bytes);
    assert.deepEqual(h.load, [FIXTURE_READINGS.load_1m, FIXTURE_READINGS.load_5m, FIXTURE_READINGS.load_15m]);
    assert.equal(h.uptime_s, FIXTURE_READINGS.uptime_s);
    assert.equal(h.samples_total, 1);
    assert.equal(h.cpu_cores, 4);
    assert.equal(h.note, '');
  };
  expectFull(byName.get('alpha')!, 'online', 0);
  expectFull(byName.get(HOSTILE)!, 'online', 0);
  // Stale: its one sample is older than ONLINE_INTERVALS intervals of 1000 ms.
  expectFull(byName.get('beta')!, 'stale', 4000);

  const gamma = byName.get('gamma')!;
  assert.equal(gamma.status, 'offline');
  assert.equal(gamma.connected_since_ms, null);
  assert.equal(gamma.disconnected_at_ms, NOW_MS);
  assert.equal(gamma.cpu_pct, 99.5);
  assert.equal(gamma.uptime_s, 12);
  // Readings absent from the last sample are null, never a stale number.
  assert.equal(gamma.mem_total_bytes, null);
  assert.deepEqual(gamma.load, [null, null, null]);
  assert.equal(gamma.note, 'load_1m: not available');

  const FIELD_TYPES: ReadonlyArray<[keyof HostView, string]> = [
    ['name', 'string'], ['status', 'string'], ['agent', 'string'], ['os', 'string'], ['cpu_model', 'string'], ['note', 'string'],
    ['samples_total', 'number'], ['slot', 'number'],
  ];
  for (const h of payload.hosts) {
    for (const [field, type] of FIELD_TYPES) assert.equal(typeof h[field], type, `${h.name}.${field}`);
    for (const field of ['age_ms', 'cpu_pct', 'mem_total_bytes', 'mem_used_bytes', 'mem_available_bytes', 'uptime_s'] as const) {
      assert.ok(h[field] === null || typeof h[field] === 'number', `${h.name}.${field}`);
    }
    assert.equal(h.load.length, 3);
  }
});

test('routes: a hostile host name is plain data in the JSON', async (t) => {
  const base = await startServer(t);
  const res = await httpRequest(`${base}/api/hosts`);
  const payload = JSON.parse(res.body) as HostsPayload;
  assert.equal(payload.hosts.filter((h) => h.name === HOSTILE).length, 1);
  // JSON is data: the name is not HTML-escaped here (the page escapes), and nosniff plus the
  // JSON type keep a browser from ever reading this answer as HTML.
  assert.ok(res.body.includes(JSON.stringify(HOSTILE)));
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
});

test('routes: with a password, every route but /healthz needs it, as Bearer or as Basic with any user', async (t) => {
  const PASSWORD = 'dash-secret';
  const base = await startServer(t, PASSWORD);
  const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  for (const path of ['/', '/api/hosts', '/api/events', '/api/alerts', '/api/sparklines', '/api/hosts/alpha', '/api/hosts/alpha/history', '/hosts/alpha', '/metrics', '/nope']) {
    const res = await httpRequest(base + path);
    assert.equal(res.status, 401, path);
    assert.match(String(res.headers['www-authenticate']), /^Basic realm=/, path);
    assert.ok(!res.body.includes('alpha'), `${path}: no reading leaks in a 401`);
  }
  const cases: Array<[string, number]> = [
    [`Bearer ${PASSWORD}`, 200],
    [`bearer ${PASSWORD}`, 200],
    [basic('anyone', PASSWORD), 200],
    [basic('', PASSWORD), 200],
    [`Bearer ${PASSWORD}x`, 401],
    [`Bearer ${PASSWORD.slice(0, -1)}`, 401],
    [basic(PASSWORD, 'x'), 401],
    ['Basic !!!notbase64', 401],
    [`Digest ${PASSWORD}`, 401],
    ['', 401],
  ];
  for (const [authorization, status] of cases) {
    const res = await httpRequest(`${base}/api/hosts`, { headers: authorization ? { authorization } : {} });
    assert.equal(res.status, status, authorization);
  }
  assert.equal((await httpRequest(`${base}/healthz`)).status, 200, 'health checks need no password');
});

test('routes: without a password, a Host that is not an IP address, localhost or an allowed name is refused (DNS rebinding)', async (t) => {
  const fixture = makeStore(HOSTS, { nowMs: NOW_MS });
  const server = createDashboardServer(fixture.store, { now: () => NOW_MS, allowedHosts: ['sentinel.lan', '.example.org'] });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const port = new URL(base).port;
  // A page at attacker.example that pointed its name at 127.0.0.1: its requests carry its name.
  for (const path of ['/', '/api/hosts', '/api/events', '/api/events?view=overview', '/api/alerts', '/api/sparklines', '/api/hosts/alpha', '/api/hosts/alpha/history', '/hosts/alpha', '/metrics', '/nope']) {
    const res = await httpRequest(base + path, { headers: { host: `attacker.example:${port}` } });
    assert.equal(res.status, 403, path);
    assert.match(res.body, /--http-allowed-hosts/, `${path}: says how to allow a name`);
    assert.ok(!res.body.includes('alpha'), `${path}: no reading leaks`);
  }
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `dash.localhost:${port}`, `sentinel.lan:${port}`, `mon.example.org:${port}`, 'SENTINEL.LAN']) {
    const res = await httpRequest(`${base}/api/hosts`, { headers: { host } });
    assert.equal(res.status, 200, host);
  }
  // What holds nothing secret answers under any name: a machine joining the fleet asks by the collector's name.
  assert.equal((await httpRequest(`${base}/healthz`, { headers: { host: 'collector.corp' } })).status, 200);
  assert.equal((await httpRequest(`${base}/favicon.ico`, { headers: { host: 'collector.corp' } })).status, 200);
});

test('routes: with a password, the Host is not checked (a rebound page has no credentials to send)', async (t) => {
  const base = await startServer(t, 'pw-1');
  const res = await httpRequest(`${base}/api/hosts`, { headers: { host: 'monitor.corp:8080', authorization: 'Bearer pw-1' } });
  assert.equal(res.status, 200);
  assert.equal((await httpRequest(`${base}/api/hosts`, { headers: { host: 'monitor.corp:8080' } })).status, 401);
});

test('routes: /metrics is Prometheus text with hostile host names escaped, never cached', async (t) => {
  const base = await startServer(t);
  const res = await httpRequest(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(res.headers['cache-control'], 'no-store');
  assertSecurityHeaders(res, '/metrics');
  assert.match(res.body, /^sentinel_host_up\{host="alpha"\} 1$/m);
  assert.match(res.body, /^sentinel_host_up\{host="<img src=x onerror=alert\(1\)>"\} 1$/m);
  for (const line of res.body.split('\n')) {
    if (line === '' || line.startsWith('# ')) continue;
    assert.match(line, /^[a-z_0-9]+(\{.*\})? [-+0-9.eInfNa]+$/, line);
  }
});

// ---- Host detail and history: /api/hosts/NAME and /api/hosts/NAME/history?seconds=N ----------

/** Names that need percent-encoding in a path; each must reach its own host. */
const ENCODED_NAMES: readonly string[] = ['rack 3/node<1>', 'сервер-1', '日本-😀', 'a%20b', 'q?x=1#frag', HOSTILE];

interface DetailBody { now_ms: number; host: { name: string; status: string; cpu_pct: number | null; tables: Record<string, unknown[]>; truncated: Record<string, number> } }
interface HistoryBody { host: string; seconds: number; step_ms: number; series: string[]; t: number[]; values: Record<string, Array<number | null>> }

/** The usual hosts, one with tables, and the names of ENCODED_NAMES; a 900-second history each. */
async function startDetailServer(t: { after: (fn: () => Promise<void>) => void }, httpToken = ''): Promise<string> {
  const fixture = makeStore(HOSTS, { nowMs: NOW_MS });
  fixture.add({
    name: 'tabled', status: 'online',
    readings: { ...FIXTURE_READINGS, cpu_cores_pct: [10, 90], fs: [{ mount: '/', type: 'ext4', size_bytes: 1000, used_bytes: 250, free_bytes: 750 }], net: [{ name: 'eth0', rx_bps: 12.5 }] },
  }, NOW_MS);
  for (const name of ENCODED_NAMES.filter((n) => n !== HOSTILE)) fixture.add({ name, status: 'online' }, NOW_MS);
  const server = createDashboardServer(fixture.store, { now: () => NOW_MS, httpToken });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return base;
}

const hostPath = (name: string, rest = ''): string => `/api/hosts/${encodeURIComponent(name)}${rest}`;

const DETAIL_CASES: readonly RouteCase[] = [
  {
    name: 'GET /api/hosts/NAME: the host with its tables, never cached', method: 'GET', path: hostPath('tabled'), status: 200, type: /^application\/json; charset=utf-8$/,
    headers: { 'cache-control': 'no-store' },
    check: (res) => {
      const body = JSON.parse(res.body) as DetailBody;
      assert.equal(body.now_ms, NOW_MS);
      assert.equal(body.host.name, 'tabled');
      assert.equal(body.host.status, 'online');
      assert.equal(body.host.cpu_pct, FIXTURE_READINGS.cpu_pct);
      assert.deepEqual(body.host.tables['cpu_cores_pct'], [10, 90]);
      assert.deepEqual(body.host.tables['fs'], [{ mount: '/', type: 'ext4', size_bytes: 1000, used_bytes: 250, free_bytes: 750 }]);
      assert.equal((body.host.tables['net']![0] as Record<string, unknown>)['rx_bps'], 12.5);
      assert.deepEqual(body.host.tables['gpu'], []);
      assert.equal(body.host.truncated['fs'], 0);
    },
  },
  { name: 'GET /api/hosts/NAME of an offline host', method: 'GET', path: hostPath('gamma'), status: 200, type: /^application\/json/, check: (res) => assert.equal((JSON.parse(res.body) as DetailBody).host.status, 'offline') },
  { name: 'unknown host: 404', method: 'GET', path: hostPath('nope'), status: 404, type: /^application\/json/, check: (res) => assert.deepEqual(JSON.parse(res.body), { error: 'no such host' }) },
  { name: 'a name differing only in case: 404', method: 'GET', path: hostPath('ALPHA'), status: 404, type: /^application\/json/ },
  { name: 'a truncated UTF-8 escape (%E0%A4%A): 400', method: 'GET', path: '/api/hosts/%E0%A4%A', status: 400, type: /^application\/json/, check: (res) => assert.match((JSON.parse(res.body) as { error: string }).error, /percent-encoding/) },
  { name: 'an escape of a byte that is not UTF-8 (%FF): 400', method: 'GET', path: '/api/hosts/%FF', status: 400, type: /^application\/json/ },
  { name: 'a lone %: 400', method: 'GET', path: '/api/hosts/a%', status: 400, type: /^application\/json/ },
  { name: 'bad percent-encoding in the history path: 400', method: 'GET', path: '/api/hosts/%E0%A4%A/history?seconds=60', status: 400, type: /^application\/json/ },
  {
    name: 'GET /api/hosts/NAME/history?seconds=60', method: 'GET', path: `${hostPath('alpha', '/history')}?seconds=60`, status: 200, type: /^application\/json/,
    headers: { 'cache-control': 'no-store' },
    check: (res) => {
      const body = JSON.parse(res.body) as HistoryBody;
      assert.equal(body.host, 'alpha');
      assert.equal(body.seconds, 60);
      assert.equal(body.step_ms, 1000);
      assert.deepEqual(body.t, [NOW_MS], 'the fixture\'s one sample');
      assert.deepEqual(body.values['cpu_pct'], [FIXTURE_READINGS.cpu_pct]);
      assert.deepEqual(body.values['net_rx_bps'], [null]);
      assert.deepEqual(Object.keys(body.values), body.series);
    },
  },
  { name: 'history without seconds: the whole ring', method: 'GET', path: hostPath('alpha', '/history'), status: 200, type: /^application\/json/, check: (res) => assert.equal((JSON.parse(res.body) as HistoryBody).seconds, 900) },
  { name: 'history seconds beyond the ring is clamped to it', method: 'GET', path: `${hostPath('alpha', '/history')}?seconds=86400`, status: 200, type: /^application\/json/, check: (res) => assert.equal((JSON.parse(res.body) as HistoryBody).seconds, 900) },
  { name: 'history of a stale host still has its point', method: 'GET', path: `${hostPath('beta', '/history')}?seconds=60`, status: 200, type: /^application\/json/, check: (res) => assert.deepEqual((JSON.parse(res.body) as HistoryBody).t, [NOW_MS - 4000]) },
  { name: 'history of an unknown host: 404', method: 'GET', path: `${hostPath('nope', '/history')}?seconds=60`, status: 404, type: /^application\/json/ },
  ...(['0', 'abc', '1e9', '-5', '1.5', '', '86401', 'Infinity', 'NaN'] as const).map((s): RouteCase => ({
    name: `history seconds=${s || '(empty)'}: 400`, method: 'GET', path: `${hostPath('alpha', '/history')}?seconds=${s}`, status: 400, type: /^application\/json/,
    check: (res) => assert.match((JSON.parse(res.body) as { error: string }).error, /seconds must be a whole number from 1 to 86400/),
  })),
  { name: 'a path below history: 404', method: 'GET', path: hostPath('alpha', '/history/x'), status: 404, type: /^application\/json/ },
  { name: 'POST to a host: 405', method: 'POST', path: hostPath('alpha'), status: 405, type: /^application\/json/ },
];

test('routes: host detail and history', async (t) => {
  const base = await startDetailServer(t);
  for (const c of DETAIL_CASES) {
    await t.test(c.name, async () => {
      const res = await httpRequest(base, { rawPath: c.path, method: c.method, ...(c.method === 'POST' ? { body: '{}' } : {}) });
      assert.equal(res.status, c.status, `${c.method} ${c.path}: ${res.body}`);
      assert.match(String(res.headers['content-type']), c.type);
      assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body));
      assertSecurityHeaders(res, `${c.method} ${c.path}`);
      for (const [k, v] of Object.entries(c.headers ?? {})) assert.equal(res.headers[k], v, `header ${k}`);
      c.check?.(res);
    });
  }
});

test('routes: names with /, spaces, <, % and non-ASCII reach their own host when encoded with encodeURIComponent', async (t) => {
  const base = await startDetailServer(t);
  for (const name of ENCODED_NAMES) {
    await t.test(JSON.stringify(name), async () => {
      const detail = await httpRequest(base, { rawPath: hostPath(name) });
      assert.equal(detail.status, 200, `${hostPath(name)}: ${detail.body}`);
      assert.equal((JSON.parse(detail.body) as DetailBody).host.name, name);
      const history = await httpRequest(base, { rawPath: `${hostPath(name, '/history')}?seconds=60` });
      assert.equal(history.status, 200, history.body);
      const body = JSON.parse(history.body) as HistoryBody;
      assert.equal(body.host, name);
      assert.deepEqual(body.t, [NOW_MS]);
    });
  }
});

test('routes: host names made only of dots ("." and "..") reach their host too', async (t) => {
  // Refused at the hello now (normaliseHostName: no browser can keep them in a path, even as
  // %2E), but a store saved before may hold them, and a raw client can still ask: URL parsing
  // reads "." / ".." and "%2E" / "%2E%2E" in a path as dot segments and removes them.
  const fixture = makeStore([{ name: 'dot-1', status: 'online' }, { name: 'dot-2', status: 'online' }], { nowMs: NOW_MS });
  // Named in the store itself, as a state saved before the rule would restore them.
  fixture.store.write(0, { strings: [[STR.HOST, '.']] });
  fixture.store.write(1, { strings: [[STR.HOST, '..']] });
  const server = createDashboardServer(fixture.store, { now: () => NOW_MS });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  for (const name of ['.', '..']) {
    for (const path of [hostPath(name), `/api/hosts/${name === '.' ? '%2E' : '%2E%2E'}`]) {
      await t.test(path, async () => {
        const res = await httpRequest(base, { rawPath: path });
        assert.equal(res.status, 200, `${path}: ${res.status} ${res.body}`);
        assert.equal((JSON.parse(res.body) as DetailBody).host.name, name);
      });
    }
  }
});

test('routes: HEAD of host detail and history answers the GET headers with no body; a password guards them', async (t) => {
  const base = await startDetailServer(t);
  for (const path of [hostPath('alpha'), `${hostPath('alpha', '/history')}?seconds=60`, hostPath('nope'), '/api/hosts/%E0%A4%A']) {
    const [get, head] = [await httpRequest(base, { rawPath: path }), await httpRequest(base, { rawPath: path, method: 'HEAD' })];
    assert.equal(head.status, get.status, path);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], get.headers['content-length'], path);
  }
  const guarded = await startDetailServer(t, 'pw');
  for (const path of [hostPath('alpha'), `${hostPath('alpha', '/history')}?seconds=60`, hostPath('nope')]) {
    const res = await httpRequest(guarded, { rawPath: path });
    assert.equal(res.status, 401, path);
    assert.ok(!res.body.includes('alpha'), 'no reading in a 401');
    assert.equal((await httpRequest(guarded, { rawPath: path, headers: { authorization: 'Bearer pw' } })).status, path === hostPath('nope') ? 404 : 200, path);
  }
});
