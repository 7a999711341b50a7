/** The collector's settings: defaults, then SENTINEL_* environment variables, then flags. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_FRAME_BYTES, MAX_FRAME_BYTES_CEILING } from '../shared/frame_codec.ts';
import { DEFAULT_GUARD_LIMITS } from '../shared/msgpack_guard.ts';
import { intIn, nonEmptyString, oneOf, optionalFile, parseHostPort, setting, type ConfigOf } from '../shared/config.ts';
import { MAX_CAPACITY, MAX_HISTORY_POINTS } from '../shared/shm_store.ts';
import { DEFAULT_HISTORY_POINTS } from '../shared/shm_layout.ts';
import { MAX_TOKEN_BYTES } from '../shared/protocol.ts';
import { DEFAULT_HISTORY_DAYS, DEFAULT_HOURLY_DAYS, MAX_HISTORY_DAYS } from './energy.ts';
import { MAX_PROJECTION_DAYS } from './projection.ts';
import { parseTariff, parseTimeZone, systemTimeZone } from './tariff.ts';
import { DEFAULT_ALERT_RULES, formatAlertRules, parseAlertRules, parseWebhookUrls, type AlertRule } from './alert_rules.ts';
import { parseAllowedHosts } from '../dashboard/host_check.ts';

/** Default data directory: under the user's home, so it survives reboots and checkouts. */
export const DEFAULT_DATA_DIR = join(homedir(), '.cluster-sentinel');

/** The value of --http-token that turns dashboard authentication off even beyond localhost. */
export const HTTP_TOKEN_NONE = 'none';

/**
 * Every setting and limit, with its default. README's Security section lists the same limits;
 * `--help` is generated from this table.
 */
export const COLLECTOR_SETTINGS = Object.freeze({
  listen: setting({ flag: 'listen', arg: 'HOST:PORT', doc: 'where agents connect (TCP, or TLS with --tls-cert)', default: parseHostPort('0.0.0.0:8765', 'listen'), parse: parseHostPort }),
  http: setting({ flag: 'http', arg: 'HOST:PORT', doc: 'dashboard and API (HTTP, or HTTPS with --https-cert)', default: parseHostPort('127.0.0.1:8080', 'http'), parse: parseHostPort }),
  dataDir: setting({ flag: 'data-dir', arg: 'DIR', doc: 'tokens, the saved state and the control socket live here', default: DEFAULT_DATA_DIR, parse: nonEmptyString(4096) }),
  capacity: setting({ flag: 'capacity', arg: 'HOSTS', doc: 'host slots in shared memory (16 KiB each, plus its history)', default: 1024, parse: intIn(1, MAX_CAPACITY) }),
  historyS: setting({ flag: 'history-s', arg: 'S', doc: 'seconds of per-second history kept per host in shared memory (39 KiB per host at 900)', default: DEFAULT_HISTORY_POINTS, parse: intIn(60, MAX_HISTORY_POINTS) }),
  saveIntervalS: setting({ flag: 'save-interval-s', arg: 'S', doc: 'save shared memory to DATA_DIR/state.bin this often (and on stop); 0: never', default: 10, parse: intIn(0, 3600) }),
  evictAfterS: setting({ flag: 'evict-after-s', arg: 'S', doc: 'when all slots are taken, a host offline this long gives its slot to a new one', default: 600, parse: intIn(0, 365 * 86_400) }),
  // Credentials.
  auth: setting({ flag: 'auth', arg: 'MODE', doc: 'cluster: the cluster token or a host\'s own token; per-host: only tokens made by `npm run token`', default: 'cluster' as const, parse: oneOf('cluster', 'per-host') }),
  token: setting({ flag: 'token', arg: 'TOKEN', doc: 'cluster token; default: read or create DATA_DIR/cluster.token', default: '', parse: nonEmptyString(MAX_TOKEN_BYTES), secret: true, reload: true }),
  tlsCert: setting({ flag: 'tls-cert', arg: 'FILE', doc: 'PEM certificate (chain): agents connect over TLS', default: '', parse: optionalFile }),
  tlsKey: setting({ flag: 'tls-key', arg: 'FILE', doc: 'PEM private key for --tls-cert', default: '', parse: optionalFile }),
  httpsCert: setting({ flag: 'https-cert', arg: 'FILE', doc: 'PEM certificate (chain): the dashboard serves HTTPS', default: '', parse: optionalFile }),
  httpsKey: setting({ flag: 'https-key', arg: 'FILE', doc: 'PEM private key for --https-cert', default: '', parse: optionalFile }),
  httpAllowedHosts: setting({ flag: 'http-allowed-hosts', arg: 'NAMES', doc: 'without a dashboard password, the Host names it answers besides IP addresses and localhost (comma-separated; .example.org for a whole domain): a guard against DNS rebinding', default: [] as readonly string[], parse: parseAllowedHosts, show: (names) => (names.length ? names.join(',') : '(none)') }),
  httpToken: setting({ flag: 'http-token', arg: 'TOKEN', doc: `dashboard/API password (Bearer, or Basic with any user); default: none on a loopback address, else read or create DATA_DIR/http.token; "${HTTP_TOKEN_NONE}" turns it off`, default: '', parse: nonEmptyString(MAX_TOKEN_BYTES), secret: true }),
  // Limits on the agent port.
  maxConnections: setting({ flag: 'max-connections', arg: 'N', doc: 'agent connections held at once, authenticated or not', default: 4096, parse: intIn(1, 1_000_000) }),
  maxConnectionsPerAddress: setting({ flag: 'max-connections-per-address', arg: 'N', doc: 'agent connections from one IPv4 address or IPv6 /64', default: 256, parse: intIn(1, 1_000_000) }),
  maxPendingPerAddress: setting({ flag: 'max-pending-per-address', arg: 'N', doc: 'connections from one address not yet welcomed (in TLS, before or during the token check)', default: 32, parse: intIn(1, 1_000_000) }),
  failedHandshakesPerMinute: setting({ flag: 'failed-handshakes-per-minute', arg: 'N', doc: 'failed hellos allowed per address a minute; beyond, it is refused until it cools down', default: 10, parse: intIn(1, 1_000_000) }),
  maxHelloBytes: setting({ flag: 'max-hello-bytes', arg: 'BYTES', doc: 'largest first frame (the hello); nothing may come before it', default: 4096, parse: intIn(256, 65_536) }),
  maxFrameBytes: setting({ flag: 'max-frame-bytes', arg: 'BYTES', doc: 'largest frame after the welcome', default: DEFAULT_MAX_FRAME_BYTES, parse: intIn(1024, MAX_FRAME_BYTES_CEILING) }),
  maxDepth: setting({ flag: 'max-depth', arg: 'N', doc: 'msgpack nesting depth (the top map is 1)', default: DEFAULT_GUARD_LIMITS.maxDepth, parse: intIn(2, 64) }),
  maxStringBytes: setting({ flag: 'max-string-bytes', arg: 'BYTES', doc: 'longest msgpack string', default: DEFAULT_GUARD_LIMITS.maxStringBytes, parse: intIn(256, 1 << 20) }),
  maxArrayItems: setting({ flag: 'max-array-items', arg: 'N', doc: 'most items in a msgpack array', default: DEFAULT_GUARD_LIMITS.maxArrayLength, parse: intIn(16, 1 << 20) }),
  maxMapEntries: setting({ flag: 'max-map-entries', arg: 'N', doc: 'most entries in a msgpack map', default: DEFAULT_GUARD_LIMITS.maxMapSize, parse: intIn(64, 1 << 16) }),
  helloTimeoutMs: setting({ flag: 'hello-timeout-ms', arg: 'MS', doc: 'a new connection must finish TLS and send its hello within this time', default: 5000, parse: intIn(100, 60_000) }),
  idleTimeoutMs: setting({ flag: 'idle-timeout-ms', arg: 'MS', doc: 'close an agent that sends nothing for this long (at least 3 of its intervals + 5 s)', default: 60_000, parse: intIn(1000, 3_600_000) }),
  // 10 s: with state saved every 10 s (the default), an ack's seq can move no more often, so a
  // shorter interval only adds acks that say nothing new (at 19,000 agents each is a loopback
  // write, ~26 us); an agent then notices a collector that vanished without a FIN in 32 s
  // (3 intervals + 2 s), and loses nothing meanwhile (it keeps what is not acknowledged).
  // Off by default, by measurement (`npm run bench -- ingest`, 2 cores): the collector with 2
  // ingest workers landed fewer samples a second than with none, at about twice the CPU a sample
  // (README, Benchmarks). A machine with cores to spare may differ: the benchmark measures both.
  ingestWorkers: setting({ flag: 'ingest-workers', arg: 'N', doc: 'threads that decode and store bulk reads (many samples in one read, as an agent\'s backlog after an outage), started at the first; 0: all on the main thread', default: 0, parse: intIn(0, 64) }),
  ackIntervalMs: setting({ flag: 'ack-interval-ms', arg: 'MS', doc: 'how often agents are sent an ack, so they notice a vanished collector', default: 10_000, parse: intIn(100, 60_000) }),
  // Limits on the dashboard.
  httpMaxConnections: setting({ flag: 'http-max-connections', arg: 'N', doc: 'dashboard connections held at once', default: 256, parse: intIn(1, 100_000) }),
  httpHeadersTimeoutMs: setting({ flag: 'http-headers-timeout-ms', arg: 'MS', doc: 'a request\'s headers must arrive within this time', default: 10_000, parse: intIn(100, 600_000) }),
  httpKeepAliveTimeoutMs: setting({ flag: 'http-keepalive-timeout-ms', arg: 'MS', doc: 'an idle kept-alive dashboard connection is closed after this time', default: 5000, parse: intIn(100, 600_000) }),
  httpMaxHeaderBytes: setting({ flag: 'http-max-header-bytes', arg: 'BYTES', doc: 'request line and headers together; more is answered 431', default: 16 * 1024, parse: intIn(1024, 1 << 20) }),
  dashboardHeapMb: setting({ flag: 'dashboard-heap-mb', arg: 'MIB', doc: 'heap ceiling of the dashboard worker; beyond it the worker is restarted', default: 256, parse: intIn(16, 16_384) }),
  httpRequestTimeoutMs: setting({ flag: 'http-request-timeout-ms', arg: 'MS', doc: 'a whole request must arrive within this time', default: 15_000, parse: intIn(100, 600_000) }),
  // Alerts.
  alerts: setting({
    flag: 'alerts', arg: 'RULES',
    doc: 'alert rules over the defaults, ";"-separated: "NAME: METRIC OP THRESHOLD [for DURATION]" adds or replaces, "NAME: off" removes (README, Alerts)',
    default: DEFAULT_ALERT_RULES as readonly AlertRule[], parse: (raw: string, name: string) => parseAlertRules(raw, DEFAULT_ALERT_RULES, name), show: formatAlertRules,
  }),
  webhooks: setting({ flag: 'webhooks', arg: 'URLS', doc: 'http(s) URLs, space-separated, each POSTed a JSON body when an alert fires or resolves', default: [] as readonly string[], parse: (raw: string, name: string) => parseWebhookUrls(raw, name), show: (urls) => (urls.length ? urls.join(' ') : '(none)') }),
  webhookTimeoutMs: setting({ flag: 'webhook-timeout-ms', arg: 'MS', doc: 'a webhook delivery must complete within this time; failures are retried 3 times with backoff', default: 5000, parse: intIn(100, 120_000) }),
  // Energy and cost.
  tariff: setting({
    flag: 'tariff', arg: 'SPEC',
    doc: 'electricity price: "0.2516 EUR" (flat, per kWh) or "EUR; peak 0.27 mon-fri 06:00-22:00; offpeak 0.2068 mon-fri 22:00-06:00; offpeak 0.2068 sat-sun" (README, Power and cost); empty: kWh only, no cost',
    // Checked here against the system zone; the collector parses it again in --timezone.
    default: '', parse: (raw: string, name: string) => (raw.trim() === '' ? '' : parseTariff(raw, name).spec), show: (v) => (v === '' ? '(none: kWh only)' : v),
  }),
  timeZone: setting({ flag: 'timezone', arg: 'ZONE', doc: 'IANA time zone of the tariff\'s hours and of energy days and months, e.g. Europe/Paris', default: systemTimeZone(), parse: (raw: string, name: string) => parseTimeZone(raw, name) }),
  energyGapS: setting({ flag: 'energy-gap-s', arg: 'S', doc: 'a host silent this long (and 3 of its intervals) leaves a gap in its energy, not a guess', default: 60, parse: intIn(1, 86_400) }),
  energyHistoryDays: setting({ flag: 'energy-history-days', arg: 'DAYS', doc: 'days of per-day energy and cost kept per host', default: DEFAULT_HISTORY_DAYS, parse: intIn(1, MAX_HISTORY_DAYS) }),
  energyHourlyDays: setting({ flag: 'energy-hourly-days', arg: 'DAYS', doc: 'days of per-hour energy and cost kept per host (no more than --energy-history-days; 768 bytes a day per host)', default: DEFAULT_HOURLY_DAYS, parse: intIn(1, MAX_HISTORY_DAYS) }),
  projectionDays: setting({ flag: 'projection-days', arg: 'DAYS', doc: 'horizon of the cost projection ("the next N days"), from the last 7 days\' average', default: 30, parse: intIn(1, MAX_PROJECTION_DAYS) }),
  logLevel: setting({ flag: 'log-level', arg: 'LEVEL', doc: 'debug, info, warn or error', default: 'info' as const, parse: oneOf('debug', 'info', 'warn', 'error'), reload: true }),
  logFormat: setting({ flag: 'log-format', arg: 'FORMAT', doc: 'text (one line an event, key=value) or json (one JSON object a line)', default: 'text' as const, parse: oneOf('text', 'json'), reload: true }),
});

export type CollectorConfig = ConfigOf<typeof COLLECTOR_SETTINGS>;
