/**
 * `npm run energy` (scripts/energy.ts) as a person runs it: the real program as a child process
 * against a real collector (ports chosen by the system, a temporary data directory, a flat tariff
 * of 0.25 EUR in UTC, a dashboard password) fed by a raw agent client with power samples one
 * second apart in the recent past; then its failures against nothing, against a server that
 * never answers, and against one that answers wrongly. Plus the pure parts: settings, short
 * forms, the meaning of each HTTP status.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { EnergyReport } from '../../collector/energy_report.ts';
import {
  ENERGY_SETTINGS, energyUrl, EXIT, expandAliases, interpretAnswer, parseBaseUrl,
} from '../../scripts/energy.ts';
import { loadConfig } from '../../shared/config.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { RawClient, waitFor } from '../helpers/net.ts';
import { startTs, waitForOutput, type Proc } from '../helpers/procs.ts';

const AGENT_TOKEN = 'energy-cli-agent-token';
const PASSWORD = 'energy-cli-dashboard-password';
const HOUR_MS = 3_600_000;
/** Seconds of samples per host: 100 intervals of one second. */
const SECONDS = 100;
/** 36 kW for 100 s is 1 kWh (0.25 EUR); 7.2 kW is 0.2 kWh (0.05 EUR). Named so that cost order is not name order. */
const HOSTS = [['zeta-big', 36_000], ['alpha-small', 7_200]] as const;

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs `npm run energy -- ARGS` (the script itself) to its end, within 20 s. */
async function energy(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  // No setting leaks in from the environment of the test run.
  const p = startTs('scripts/energy.ts', args, { SENTINEL_URL: '', SENTINEL_HTTP_TOKEN: '', SENTINEL_HOST: '', SENTINEL_DAYS: '', SENTINEL_FORMAT: '', ...env });
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** A port nothing listens on: taken from the system, then freed. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

let dataDir = '';
let collector: Proc | null = null;
let base = '';
/** The samples' first instant: SECONDS of them end 10 s or more before the run, inside one UTC hour. */
let t0 = 0;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sentinel-energy-cli-'));
  collector = startTs('collector/main.ts', [
    '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dataDir, '--token', AGENT_TOKEN, '--http-token', PASSWORD,
    '--log-level', 'warn', '--tariff', '0.25 EUR', '--timezone', 'UTC', '--projection-days', '30',
  ]);
  base = (await waitForOutput(collector, /dashboard: (http:\/\/\S+?)\/\s/, 30_000))[1]!;
  const agentPort = Number((await waitForOutput(collector, /agents:\s+\S+:(\d+)/, 5000))[1]);
  const end = Date.now() - 10_000;
  t0 = end - SECONDS * 1000;
  // Keep the run inside one hour, so it is one row of the per-hour and per-day tables.
  if (Math.floor(t0 / HOUR_MS) !== Math.floor(end / HOUR_MS)) t0 = Math.floor(end / HOUR_MS) * HOUR_MS - (SECONDS + 10) * 1000;
  for (const [host, watts] of HOSTS) {
    const c = await RawClient.open(agentPort);
    c.send({ type: 'hello', proto: PROTO_VERSION, host, agent: 'energy-cli-test', token: AGENT_TOKEN, interval_ms: 1000 });
    await c.next('welcome', 10_000);
    for (let k = 0; k <= SECONDS; k++) c.send({ type: 'sample', seq: k + 1, ts: t0 + k * 1000, power_w: watts, power_source: 'measured', cpu_pct: 5 });
    // Counted once the collector's report has it; the connection may then go.
    await waitFor(`the energy of ${host}`, async () => {
      const res = await fetch(`${base}/api/energy?host=${host}`, { headers: { authorization: `Bearer ${PASSWORD}` } });
      return res.ok && ((await res.json()) as EnergyReport).totals.total.covered_s === SECONDS;
    }, 15_000, 100);
    c.close();
  }
});

after(async () => {
  await collector?.stop('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const iso = (ms: number): string => new Date(ms).toISOString();
/** A line of a table: the label, then cells separated by runs of spaces. */
const row = (...cells: string[]): RegExp => new RegExp(`^ {2}${cells.map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join(' +')}$`, 'm');

test('the fleet: totals, the day, hour and month of the samples, the projection, hosts by cost', { timeout: 60_000 }, async () => {
  const r = await energy(['--url', base, '--days', '3'], { SENTINEL_HTTP_TOKEN: PASSWORD });
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^Energy of the fleet \(2 hosts\), \d{4}-\d\d-\d\d \d\d:\d\d \(UTC\)\nTariff: 0\.25 EUR\n/);
  // 1 kWh + 0.2 kWh over 200 host-seconds (3 min, to the minute).
  assert.match(out, row('since start', '1.200 kWh', '0.30 EUR', '0h 03m', `since ${iso(t0).slice(0, 16).replace('T', ' ')}`));
  if (iso(t0).slice(0, 10) === iso(Date.now()).slice(0, 10)) assert.match(out, row('today', '1.200 kWh', '0.30 EUR', '0h 03m'));
  assert.match(out, /^Per day, the last 3 days$/m);
  assert.match(out, row(iso(t0).slice(0, 10), '1.200 kWh', '0.30 EUR', '0h 03m'));
  assert.match(out, row(iso(t0).slice(0, 13), '1.200 kWh', '0.30 EUR', '0h 03m'), 'the per-hour row');
  assert.match(out, row(iso(t0).slice(0, 7), '1.200 kWh', '0.30 EUR', '0h 03m'), 'the per-month row');
  // Each host at its average while watched, for a whole day: 864 + 172.8 kWh a day; 3 days of it.
  assert.match(out, row('daily average', '1036.800 kWh', '259.20 EUR'));
  assert.match(out, row('next 3 days', '3110.400 kWh', '777.60 EUR'));
  const hosts = out.slice(out.indexOf('Per host, by projected month cost')).split('\n').slice(2, 4);
  assert.match(hosts[0]!, /^ {2}zeta-big +1\.000 kWh +0\.25 EUR +1\.000 kWh +0\.25 EUR +\d+\.\d{3} kWh +\d+\.\d\d EUR$/);
  // Below 1 kWh in Wh.
  assert.match(hosts[1]!, /^ {2}alpha-small +200 Wh +0\.05 EUR +200 Wh +0\.05 EUR /);
  assert.equal(r.stderr, '');
});

test('--host: one host, no table of hosts; --token gives the password', { timeout: 30_000 }, async () => {
  const r = await energy(['--url', base, '--host', 'zeta-big', '--token', PASSWORD]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Energy of host zeta-big, /);
  assert.match(r.stdout, row('since start', '1.000 kWh', '0.25 EUR', '0h 02m', `since ${iso(t0).slice(0, 16).replace('T', ' ')}`));
  assert.match(r.stdout, row(iso(t0).slice(0, 13), '1.000 kWh', '0.25 EUR', '0h 02m'));
  assert.match(r.stdout, /^Projection, the next 30 days$/m, "the collector's --projection-days when --days is not given");
  assert.match(r.stdout, row('daily average', '864.000 kWh', '216.00 EUR'));
  assert.ok(!r.stdout.includes('Per host'));
});

test('--json: the report as JSON', { timeout: 30_000 }, async () => {
  const r = await energy(['--url', base, '--json', '--host', 'alpha-small', '--days', '5'], { SENTINEL_HTTP_TOKEN: PASSWORD });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as EnergyReport;
  assert.equal(report.scope, 'host');
  assert.equal(report.host, 'alpha-small');
  assert.equal(report.days, 5);
  assert.equal(report.currency, 'EUR');
  assert.ok(Math.abs(report.totals.total.kwh - 0.2) < 1e-9, `kWh ${report.totals.total.kwh}`);
  assert.ok(Math.abs(report.totals.total.cost! - 0.05) < 1e-9, `cost ${report.totals.total.cost}`);
  const fleet = JSON.parse((await energy(['--url', base, '--format', 'json'], { SENTINEL_HTTP_TOKEN: PASSWORD })).stdout) as EnergyReport;
  assert.deepEqual(fleet.per_host.map((h) => h.host), ['alpha-small', 'zeta-big']);
});

test('failures: one clear line on stderr, nothing on stdout, an exit code for each kind', { timeout: 90_000 }, async () => {
  const cases: Array<{ name: string; args: string[]; env?: NodeJS.ProcessEnv; code: number; stderr: RegExp }> = [
    { name: 'no password', args: ['--url', base], code: EXIT.AUTH, stderr: /^energy: the dashboard at http:\/\/127\.0\.0\.1:\d+ needs its password: pass --token TOKEN or set SENTINEL_HTTP_TOKEN/ },
    { name: 'a wrong password', args: ['--url', base, '--token', 'wrong'], code: EXIT.AUTH, stderr: /refused the password given/ },
    { name: 'an unknown host', args: ['--url', base, '--host', 'nobody'], env: { SENTINEL_HTTP_TOKEN: PASSWORD }, code: EXIT.NO_ENERGY, stderr: /^energy: host "nobody": no energy counted/ },
    { name: '--days 0', args: ['--url', base, '--days', '0'], code: EXIT.USAGE, stderr: /^energy: --days: must be from 1 to 366, got 0$/m },
    { name: '--days 367', args: ['--days', '367'], code: EXIT.USAGE, stderr: /--days: must be from 1 to 366/ },
    { name: '--days x', args: ['--days', 'x'], code: EXIT.USAGE, stderr: /--days: expected a whole number/ },
    { name: 'an unknown flag', args: ['--hots', 'a'], code: EXIT.USAGE, stderr: /^energy: command line: .*--hots/ },
    { name: 'a URL without its scheme', args: ['--url', '127.0.0.1:8080'], code: EXIT.USAGE, stderr: /^energy: --url: expected a URL such as http:\/\/127\.0\.0\.1:8080, got "127\.0\.0\.1:8080"$/m },
    { name: 'a URL of another scheme', args: ['--url', 'localhost:8080'], code: EXIT.USAGE, stderr: /^energy: --url: must start with http:\/\/ or https:\/\// },
    { name: 'SENTINEL_DAYS checked too', args: ['--url', base], env: { SENTINEL_DAYS: '-1' }, code: EXIT.USAGE, stderr: /^energy: SENTINEL_DAYS: must be from 1 to 366/ },
  ];
  const port = await closedPort();
  cases.push({ name: 'nothing listening', args: ['--url', `http://127.0.0.1:${port}`], code: EXIT.UNAVAILABLE, stderr: new RegExp(`^energy: cannot reach the collector at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\\(is the collector running\\? set --url or SENTINEL_URL\\)$`, 'm') });
  for (const c of cases) {
    const r = await energy(c.args, c.env);
    assert.equal(r.code, c.code, `${c.name}: exit ${r.code}, stderr ${r.stderr}`);
    assert.match(r.stderr, c.stderr, c.name);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${c.name}: one line, got ${JSON.stringify(r.stderr)}`);
    assert.equal(r.stdout, '', c.name);
  }
});

test('failures: a collector that never answers (timeout), one that cannot (503), and servers that are not one', { timeout: 60_000 }, async () => {
  // Accepts the connection, reads the request, never answers.
  const silent: Server = createServer((s) => s.on('error', () => {}).resume());
  const http: HttpServer = createHttpServer((req, res) => {
    const path = req.url ?? '';
    if (path.startsWith('/busy/')) res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"the collector did not answer within 5 s"}');
    else if (path.startsWith('/html/')) res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>');
    else if (path.startsWith('/moved/')) res.writeHead(302, { location: 'http://192.0.2.1/api/energy' }).end();
    else if (path.startsWith('/bad/')) res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"days must be a whole number from 1 to 366 \\u001b[2J"}');
    else res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  const httpUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  try {
    const cases: Array<{ name: string; args: string[]; code: number; stderr: RegExp }> = [
      { name: 'timeout', args: ['--url', silentUrl, '--timeout-ms', '300'], code: EXIT.UNAVAILABLE, stderr: /^energy: no answer from the collector at http:\/\/127\.0\.0\.1:\d+ within 0\.3 s \(--timeout-ms\)$/m },
      { name: '503', args: ['--url', `${httpUrl}/busy`], code: EXIT.UNAVAILABLE, stderr: /^energy: the collector at http:\/\/127\.0\.0\.1:\d+\/busy cannot answer now: the collector did not answer within 5 s$/m },
      { name: 'not a report', args: ['--url', `${httpUrl}/html/`], code: EXIT.UNAVAILABLE, stderr: /did not answer with an energy report/ },
      { name: 'a redirect is not followed', args: ['--url', `${httpUrl}/moved/`], code: EXIT.UNAVAILABLE, stderr: /unexpected answer from .*: HTTP 302/ },
      { name: '400, its reason made safe', args: ['--url', `${httpUrl}/bad/`], code: EXIT.USAGE, stderr: /^energy: the collector refused the request: days must be a whole number from 1 to 366 \uFFFD\[2J$/m },
      { name: 'no /api/energy there', args: ['--url', httpUrl], code: EXIT.NO_ENERGY, stderr: /has no \/api\/energy/ },
    ];
    for (const c of cases) {
      const started = Date.now();
      const r = await energy(c.args);
      assert.equal(r.code, c.code, `${c.name}: exit ${r.code}, stderr ${r.stderr}`);
      assert.match(r.stderr, c.stderr, c.name);
      assert.equal(r.stdout, '', c.name);
      assert.ok(Date.now() - started < 15_000, `${c.name} took ${Date.now() - started} ms`);
    }
  } finally {
    silent.close();
    http.close();
    http.closeAllConnections();
  }
});

test('settings: defaults, environment, flags, and the short forms --token and --json', () => {
  const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(ENERGY_SETTINGS, expandAliases(argv), env).config;
  const d = load([]);
  assert.equal(d.url.href, 'http://127.0.0.1:8080/');
  assert.equal(d.host, null);
  assert.equal(d.days, null, "unset: the collector's own default");
  assert.equal(d.httpToken, '');
  assert.equal(d.format, 'table');
  assert.equal(d.timeoutMs, 10_000);

  const e = load([], { SENTINEL_URL: 'https://sentinel.example/', SENTINEL_HTTP_TOKEN: 'pw', SENTINEL_DAYS: '7', SENTINEL_TOKEN: 'the agents\' cluster token' });
  assert.equal(e.url.href, 'https://sentinel.example/');
  assert.equal(e.httpToken, 'pw', 'SENTINEL_HTTP_TOKEN, never SENTINEL_TOKEN (the cluster token must not go to a dashboard URL)');
  assert.equal(e.days, 7);
  assert.equal(load([], { SENTINEL_TOKEN: 'cluster' }).httpToken, '');

  const f = load(['--token', 'a', '--json', '--host', 'web-1', '--days', '12'], { SENTINEL_HTTP_TOKEN: 'pw', SENTINEL_DAYS: '7' });
  assert.equal(f.httpToken, 'a', 'the flag wins');
  assert.equal(f.format, 'json');
  assert.equal(f.host, 'web-1');
  assert.equal(f.days, 12);
  assert.equal(load(['--token=b']).httpToken, 'b');
  assert.equal(load(['--token=--json']).httpToken, '--json', 'a value is never taken for a flag');
  assert.deepEqual(expandAliases(['--host', '--json', '--token', '--json', '--json']), ['--host', '--json', '--http-token', '--json', '--format', 'json']);
  assert.equal(load(['--host', 'Cafe\u0301']).host, 'Caf\u00e9', 'host names NFC, as the collector keeps them');

  for (const [argv, flag] of [[['--days', '0'], '--days'], [['--url', 'ftp://x/'], '--url'], [['--url', 'http://u:p@x/'], '--url'], [['--host', ''], '--host'], [['--json=yes'], 'command line'], [['--timeout-ms', '5'], '--timeout-ms']] as const) {
    assert.throws(() => load([...argv]), (err: { code?: string; setting?: string }) => err.code === ERROR_CODES.CONFIG_INVALID && err.setting === flag, argv.join(' '));
  }
});

test('the request: the path under the URL, the host percent-encoded, days only when asked', () => {
  const url = parseBaseUrl('http://10.0.0.5:8080', '--url');
  assert.equal(energyUrl({ url, host: null, days: null }).href, 'http://10.0.0.5:8080/api/energy');
  assert.equal(energyUrl({ url, host: 'web 1/&x', days: 7 }).href, 'http://10.0.0.5:8080/api/energy?host=web+1%2F%26x&days=7');
  assert.equal(energyUrl({ url: parseBaseUrl('https://proxy.example/sentinel', '--url'), host: null, days: null }).href, 'https://proxy.example/sentinel/api/energy');
});

test('each HTTP answer and what it means (exit code)', () => {
  const c = { host: null, httpToken: '' };
  const exitOf = (status: number, body: string, cfg: { host: string | null; httpToken: string } = c): number => {
    try {
      interpretAnswer(status, body, cfg, 'http://x');
      return EXIT.OK;
    } catch (err) {
      return (err as { exitCode: number }).exitCode;
    }
  };
  const cases: Array<[string, number, string, number]> = [
    ['401', 401, '{"error":"authentication required"}', EXIT.AUTH],
    ['404', 404, '{"error":"no energy counted for this host"}', EXIT.NO_ENERGY],
    ['400', 400, '{"error":"days must be ..."}', EXIT.USAGE],
    ['503', 503, '{"error":"energy is not tracked here"}', EXIT.UNAVAILABLE],
    ['500', 500, 'oops', EXIT.UNAVAILABLE],
    ['200 but not JSON', 200, '<html>', EXIT.UNAVAILABLE],
    ['200 but another shape', 200, '{"scope":"fleet"}', EXIT.UNAVAILABLE],
  ];
  for (const [name, status, body, code] of cases) assert.equal(exitOf(status, body), code, name);
});
