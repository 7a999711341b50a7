import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostsPayload } from '../../dashboard/api.ts';
import { createDashboardServer } from '../../dashboard/server.ts';
import type { HostView } from '../../shared/host_view.ts';
import { closeServer, httpRequest, listenLoopback, type HttpResult } from '../helpers/http_client.ts';
import { FIXTURE_AGENT, FIXTURE_READINGS, makeStore, type FixtureHost } from '../helpers/store_fixture.ts';

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
      const script = /<script>([\s\S]*?)<\/script>/.exec(res.body)![1]!;
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
  assert.deepEqual(payload.summary, { hosts: 4, online: 2, stale: 1, offline: 1 });
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
  for (const path of ['/', '/api/hosts', '/metrics', '/nope']) {
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
