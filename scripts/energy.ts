/**
 * `npm run energy -- [--host NAME] [--days N] [--url URL] [--token TOKEN] [--json]`: a running
 * collector's energy and cost (GET /api/energy) as tables: totals, per day, per hour, per month,
 * the projection and, for the fleet, each host. The text comes from energy_format.ts; this file
 * does the settings, the one request, and the exit codes.
 */
import { pathToFileURL } from 'node:url';
import type { EnergyReport } from '../collector/energy_report.ts';
import { MAX_PROJECTION_DAYS } from '../collector/projection.ts';
import { configFromCommandLine } from '../shared/cli.ts';
import { envName, intIn, nonEmptyString, oneOf, setting, type ConfigOf } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { MAX_TOKEN_BYTES } from '../shared/protocol.ts';
import { formatEnergyReport, reportJson, safeText } from './energy_format.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
/** Largest answer read, bytes: a fleet of 1024 hosts answers well under 1 MiB. */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
/** The longest host name the API takes, bytes (as the dashboard checks it). */
const MAX_HOST_BYTES = 253;

/** Exit codes, one per kind of failure a script may want to tell apart. */
export const EXIT = Object.freeze({
  OK: 0,
  /** Unreachable, timed out, 503, or not an energy report. */
  UNAVAILABLE: 1,
  /** A bad setting, or the collector answered 400. */
  USAGE: 2,
  /** 401: the dashboard needs its password, or refused the one given. */
  AUTH: 3,
  /** 404: no energy counted for that host. */
  NO_ENERGY: 4,
});

/** The collector's dashboard URL: http(s), no credentials, query or fragment; a path (behind a proxy) is kept. */
export function parseBaseUrl(raw: string, name: string): URL {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new ConfigError(name, `expected a URL such as ${DEFAULT_URL}, got "${safeText(raw)}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(name, `must start with http:// or https://, got "${safeText(raw)}"`);
  if (u.username !== '' || u.password !== '') throw new ConfigError(name, 'must not carry a user or password: give the password with --token');
  if (u.search !== '' || u.hash !== '') throw new ConfigError(name, 'must not carry a query or fragment');
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u;
}

function hostName(raw: string, name: string): string {
  const v = nonEmptyString(MAX_HOST_BYTES)(raw, name);
  return v.normalize('NFC');
}

export const ENERGY_SETTINGS = Object.freeze({
  url: setting<URL>({ flag: 'url', arg: 'URL', doc: 'the collector\'s dashboard', default: new URL(`${DEFAULT_URL}/`), parse: parseBaseUrl, show: (u) => u.href }),
  host: setting<string | null>({ flag: 'host', arg: 'NAME', doc: 'one host instead of the fleet', default: null, parse: hostName, show: () => 'the fleet' }),
  days: setting<number | null>({ flag: 'days', arg: 'N', doc: 'days in the per-day table and the projection\'s horizon', default: null, parse: intIn(1, MAX_PROJECTION_DAYS), show: () => "the collector's --projection-days" }),
  // Not `--token`'s own variable: SENTINEL_TOKEN is the agents' cluster token, which must never be sent to a dashboard URL.
  httpToken: setting<string>({ flag: 'http-token', arg: 'TOKEN', doc: 'the dashboard password, sent as Bearer (short: --token)', default: '', parse: nonEmptyString(MAX_TOKEN_BYTES), secret: true }),
  format: setting<'table' | 'json'>({ flag: 'format', arg: 'table|json', doc: 'tables, or the JSON report (short: --json)', default: 'table', parse: oneOf('table', 'json') }),
  timeoutMs: setting<number>({ flag: 'timeout-ms', arg: 'MS', doc: 'give up on the collector after this time', default: 10_000, parse: intIn(100, 600_000) }),
});

export type EnergyConfig = ConfigOf<typeof ENERGY_SETTINGS>;

const USAGE = `Usage: npm run energy -- [--host NAME] [--days N] [--url URL] [--token TOKEN] [--json]

Prints a running collector's energy and cost: totals (today, this month, since start), per day,
per hour (the last 24), per month, and the projection for the next N days; for the fleet, also
each host. Costs need a --tariff on the collector.

  --token TOKEN  same as --http-token TOKEN
  --json         same as --format json

Exit codes: 0 printed; 1 collector unreachable, too slow or unable to answer (503); 2 bad
setting (or 400); 3 the dashboard needs its password, or refused it (401); 4 no energy counted
for that host (404).`;

/** Flags that take a value: their value is passed on as it is, never read as a short form (`--host --json` stays a host name for parseArgs to judge). */
const VALUE_FLAGS: ReadonlySet<string> = new Set([...Object.values(ENERGY_SETTINGS).map((s) => `--${s.flag}`), '--token']);

/** Short forms the settings table cannot express: `--token X` is --http-token X, `--json` is --format json. */
export function expandAliases(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') out.push('--format', 'json');
    else if (a.startsWith('--token=')) out.push(`--http-token=${a.slice('--token='.length)}`);
    else out.push(a === '--token' ? '--http-token' : a);
    if (VALUE_FLAGS.has(a) && i + 1 < argv.length) out.push(argv[++i]!);
  }
  return out;
}

/** The request URL for a config. */
export function energyUrl(c: Pick<EnergyConfig, 'url' | 'host' | 'days'>): URL {
  const u = new URL('api/energy', c.url);
  if (c.host !== null) u.searchParams.set('host', c.host);
  if (c.days !== null) u.searchParams.set('days', String(c.days));
  return u;
}

/** A failure to print a report: what to say, and the exit code. */
export class EnergyCommandError extends Error {
  constructor(readonly exitCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EnergyCommandError';
  }
}

/** The `error` of a JSON answer, made printable; '' if there is none. */
function serverError(body: string): string {
  try {
    const v = JSON.parse(body) as { error?: unknown };
    return typeof v?.error === 'string' ? safeText(v.error) : '';
  } catch {
    return '';
  }
}

/** Whether `v` has the fields the tables read (a collector of this version, not some other server). */
export function looksLikeReport(v: unknown): v is EnergyReport {
  if (v === null || typeof v !== 'object') return false;
  const r = v as Partial<EnergyReport>;
  const figures = (f: unknown): boolean => f !== null && typeof f === 'object' && typeof (f as { kwh?: unknown }).kwh === 'number';
  return (r.scope === 'fleet' || r.scope === 'host') && typeof r.now_ms === 'number' && typeof r.days === 'number' && typeof r.hosts === 'number'
    && typeof r.time_zone === 'string' && (r.currency === null || typeof r.currency === 'string')
    && typeof r.totals === 'object' && r.totals !== null && figures(r.totals.today) && figures(r.totals.month) && figures(r.totals.total)
    && r.projection !== null && typeof r.projection === 'object'
    && Array.isArray(r.daily) && Array.isArray(r.hourly) && Array.isArray(r.monthly) && Array.isArray(r.per_host);
}

/**
 * What an HTTP answer means: the report, or the error to print. Pure, so that every status is
 * tested without a server. `where` is the collector's URL as printed.
 */
export function interpretAnswer(status: number, body: string, c: Pick<EnergyConfig, 'host' | 'httpToken'>, where: string): EnergyReport {
  const reason = serverError(body);
  const because = reason === '' ? '' : `: ${reason}`;
  switch (status) {
    case 200: {
      let v: unknown;
      try {
        v = JSON.parse(body);
      } catch {
        v = undefined;
      }
      if (!looksLikeReport(v)) throw new EnergyCommandError(EXIT.UNAVAILABLE, `${where} did not answer with an energy report (is it a Cluster Sentinel collector with energy tracking?)`);
      return v;
    }
    case 401:
      throw new EnergyCommandError(EXIT.AUTH, c.httpToken === ''
        ? `the dashboard at ${where} needs its password: pass --token TOKEN or set ${envName('http-token')} (the collector printed it at start; it is also in its DATA_DIR/http.token)`
        : `the dashboard at ${where} refused the password given (--token / ${envName('http-token')})`);
    case 404:
      throw new EnergyCommandError(EXIT.NO_ENERGY, c.host !== null
        ? `host ${JSON.stringify(safeText(c.host))}: ${reason || 'no energy counted yet (unknown, or it never reported power)'}`
        : `${where} has no /api/energy (is it a Cluster Sentinel collector with energy tracking?)`);
    case 400:
      throw new EnergyCommandError(EXIT.USAGE, `the collector refused the request${because || ' (HTTP 400)'}`);
    case 503:
      throw new EnergyCommandError(EXIT.UNAVAILABLE, `the collector at ${where} cannot answer now${because || ' (HTTP 503)'}`);
    default:
      throw new EnergyCommandError(EXIT.UNAVAILABLE, `unexpected answer from ${where}: HTTP ${status}${because}`);
  }
}

/** Why a request failed before any answer, in words a person can act on. */
export function describeFetchError(err: unknown, where: string, timeoutMs: number): EnergyCommandError {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new EnergyCommandError(EXIT.UNAVAILABLE, `no answer from the collector at ${where} within ${timeoutMs / 1000} s (--timeout-ms)`, { cause: err });
  }
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  const detail = safeText(typeof cause?.message === 'string' ? cause.message : err instanceof Error ? err.message : String(err));
  // undici names certificate failures by OpenSSL's codes (DEPTH_ZERO_SELF_SIGNED_CERT, UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED ...).
  const tls = /CERT|SSL|TLS|SIGNATURE/i.test(code)
    ? ' (for a certificate of a private CA, run with NODE_EXTRA_CA_CERTS=CA.pem)'
    : ' (is the collector running? set --url or SENTINEL_URL)';
  return new EnergyCommandError(EXIT.UNAVAILABLE, `cannot reach the collector at ${where}: ${detail}${tls}`, { cause: err });
}

/** Reads at most MAX_ANSWER_BYTES of a body. */
async function readBody(res: Response): Promise<string> {
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > MAX_ANSWER_BYTES) throw new EnergyCommandError(EXIT.UNAVAILABLE, `the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Asks the collector once; the report, or EnergyCommandError. */
export async function fetchReport(c: EnergyConfig): Promise<EnergyReport> {
  const url = energyUrl(c);
  const where = c.url.origin + c.url.pathname.replace(/\/$/, '');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (c.httpToken !== '') headers['authorization'] = `Bearer ${c.httpToken}`;
  const signal = AbortSignal.timeout(c.timeoutMs);
  let status: number;
  let body: string;
  try {
    // The collector never redirects; following one would be following someone else, password and all.
    const res = await fetch(url, { headers, signal, redirect: 'manual' });
    status = res.status;
    body = await readBody(res);
  } catch (err) {
    if (err instanceof EnergyCommandError) throw err;
    throw describeFetchError(err, where, c.timeoutMs);
  }
  return interpretAnswer(status, body, c, where);
}

async function main(): Promise<void> {
  // Piped into head: the reader left, nothing more to say.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  // The short forms become the table's flags before the shared helper reads the command line.
  process.argv.splice(2, Infinity, ...expandAliases(process.argv.slice(2)));
  const config = configFromCommandLine('energy', USAGE, ENERGY_SETTINGS);
  try {
    const report = await fetchReport(config);
    process.stdout.write(config.format === 'json' ? reportJson(report) : formatEnergyReport(report));
    process.exitCode = EXIT.OK;
  } catch (err) {
    if (!(err instanceof EnergyCommandError)) throw err;
    process.stderr.write(`energy: ${err.message}\n`);
    process.exitCode = err.exitCode;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
