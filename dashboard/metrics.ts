/**
 * The fleet as Prometheus metrics (text format 0.0.4), one series per host and metric, labelled
 * `host`, followed by the collector's own health. Pure: the caller reads the hosts from shared
 * memory, the stats snapshot from the stats buffer, and passes the scrape's clock.
 *
 * Choices, so that a query means what it says:
 * - Status is two families: `sentinel_host_up` (1 online, else 0) keeps one series per host
 *   whatever happens, and `sentinel_host_status{status}` is one-hot over every status (as
 *   kube-state-metrics does for pod phases). A `status` label on `up` would end one series and
 *   start another at each change, breaking `up == 0` alerts and rate windows.
 * - Readings and tables are written only while the host is online; a stale or offline host's
 *   last readings are old, so Prometheus gets a gap, not a flat fake line. Their age stays
 *   visible in `sentinel_host_last_sample_age_seconds`.
 * - A null reading is left out, never written as NaN.
 * - No sample timestamps: every value is as of the scrape, and Prometheus' staleness handling
 *   works only without them.
 * - Which reading becomes which metric, in which unit: dashboard/metric_families.ts.
 * - Label values from agents (host, mount point, interface, model ...) go through PromWriter,
 *   which escapes them; their length is already bounded by shared memory (shm_layout.ts: 253
 *   bytes for a host name, 96 for a mount point, less for the rest), so no further cap.
 * - A repeated series makes Prometheus refuse the whole scrape, so nothing an agent sends may
 *   produce one: names are deduplicated, and so are table rows with equal labels.
 */
import type { ProcessStats } from './process_stats.ts';
import { PEER_CLOSED, WEBHOOK_RESULTS, type CollectorStatsSnapshot } from '../shared/collector_stats.ts';
import { ERROR_CODES } from '../shared/errors.ts';
import type { HostDetail, HostStatus, HostView } from '../shared/host_view.ts';
import { READINGS, type ReadingName, type TableName } from '../shared/protocol.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import { isLeftOut, READING_EXPORTS, READING_FAMILIES, TABLE_EXPORTS, type ReadingExport, type ReadingFamily, type TableExport } from './metric_families.ts';
import { HostMetricsCache, type FamilySource } from './metrics_cache.ts';
import { PromWriter } from './prom_text.ts';

type Labels = Readonly<Record<string, string>>;
type Series = ReadonlyArray<readonly [labels: Labels, value: number | null]>;

export interface HostMetric {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  /** From the host's last sample: written only while the host is online. */
  reading: boolean;
  /** The host's series: labels besides `host` (written after it), and a value; null is left out. */
  series: (h: HostView | HostDetail, nowMs: number, ctx: MetricsContext) => Series;
  /**
   * Where the series come from, for the fragment cache (metrics_cache.ts): readings, one table
   * column, or one value without labels. Its text must mean exactly what `series` gives (the
   * tests hold the two to it). A family without one is written from `series` every scrape.
   */
  source?: FamilySource;
}

/** What the scrape knows beyond the hosts. */
export interface MetricsContext {
  /** The tariff's currency (ISO 4217), null without a tariff: no cost is written. */
  currency: string | null;
  /** The collector process's own CPU, memory and open files; left out when absent. */
  process?: ProcessStats;
}

/** The process_* families, as Prometheus client libraries name them. */
const PROCESS_METRICS: ReadonlyArray<{ name: string; type: 'gauge' | 'counter'; help: string; value: (p: ProcessStats) => number | null }> = [
  { name: 'process_cpu_seconds_total', type: 'counter', help: 'CPU time of the collector process, user and system, every thread.', value: (p) => p.cpuSeconds },
  { name: 'process_resident_memory_bytes', type: 'gauge', help: 'Resident memory of the collector process (shared memory of the host slots included once touched).', value: (p) => p.residentBytes },
  { name: 'process_open_fds', type: 'gauge', help: 'Open files of the collector process: one per agent connection, plus a few.', value: (p) => p.openFds },
  { name: 'process_max_fds', type: 'gauge', help: 'The collector process\'s limit on open files: agents beyond it cannot connect.', value: (p) => p.maxFds },
];

export interface CollectorMetric {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  series: (s: CollectorStatsSnapshot) => Series;
}

/** Every status, in the order its series are written. A Record so that a new status fails to compile here. */
const STATUS_ORDER: Readonly<Record<HostStatus, number>> = Object.freeze({ online: 0, stale: 1, offline: 2 });
const STATUSES = (Object.keys(STATUS_ORDER) as HostStatus[]).sort((a, b) => STATUS_ORDER[a] - STATUS_ORDER[b]);

/** A family of one series without labels besides `host`. */
function one(value: (h: HostView, nowMs: number) => number | null): Pick<HostMetric, 'series' | 'source'> {
  return { series: (h, nowMs) => [[{}, value(h, nowMs)]], source: { kind: 'value', value } };
}

function stat(value: (s: CollectorStatsSnapshot) => number | null): CollectorMetric['series'] {
  return (s) => [[{}, value(s)]];
}

const LIVENESS_METRICS: readonly HostMetric[] = [
  {
    name: 'sentinel_host_up', type: 'gauge', reading: false,
    help: 'Whether the host is online: 1 while connected with a recent sample, 0 when stale or offline.',
    ...one((h) => (h.status === 'online' ? 1 : 0)),
  },
  {
    name: 'sentinel_host_status', type: 'gauge', reading: false,
    help: 'The host\'s status, one-hot: 1 for the current status (online, stale or offline), 0 for the others.',
    series: (h) => STATUSES.map((s) => [{ status: s }, h.status === s ? 1 : 0] as const),
  },
  {
    name: 'sentinel_host_last_sample_age_seconds', type: 'gauge', reading: false,
    help: 'Seconds since the collector received the host\'s last sample, by the collector\'s clock.',
    ...one((h, nowMs) => (h.received_at_ms === null ? null : Math.max(0, nowMs - h.received_at_ms) / 1000)),
  },
  {
    name: 'sentinel_host_samples_total', type: 'counter', reading: false,
    help: 'Samples the collector has stored as the host\'s latest reading; kept across collector restarts by the state file.',
    ...one((h) => h.samples_total),
  },
  {
    name: 'sentinel_host_info', type: 'gauge', reading: false,
    help: 'Always 1; labels describe the host as its agent said in its hello.',
    series: (h) => [[{ agent: h.agent, os: h.os, kernel: h.kernel, arch: h.arch, cpu_model: h.cpu_model }, 1]],
  },
];

/** kWh to joules, the base unit of energy. */
const JOULES_PER_KWH = 3.6e6;

/**
 * Energy and cost counters (collector/energy_service.ts): written for every host with energy
 * counted, offline ones too (what it drew stays drawn), so increase() over them gives kWh and
 * money per period in Prometheus. They start at the host's first power sample and survive
 * collector restarts (the state file); a gap nobody measured adds nothing.
 */
const ENERGY_METRICS: readonly HostMetric[] = [
  {
    name: 'sentinel_power_measured', type: 'gauge', reading: true,
    help: 'Where sentinel_power_watts comes from: 1 measured (RAPL energy counters, GPU sensors), 0 estimated by the agent\'s model from CPU load and memory.',
    ...one((h) => (h.power_source === 'measured' ? 1 : h.power_source === 'estimated' ? 0 : null)),
  },
  {
    name: 'sentinel_energy_joules_total', type: 'counter', reading: false,
    help: 'Energy the host drew since the collector first counted its power, joules (kept across collector restarts; unmeasured gaps add nothing).',
    ...one((h) => (h.energy ? h.energy.total_kwh * JOULES_PER_KWH : null)),
  },
  {
    name: 'sentinel_energy_cost_total', type: 'counter', reading: false,
    help: 'What that energy cost under the collector\'s tariff, in the currency of the label (each period at its price).',
    series: (h, _nowMs, ctx) => (ctx.currency === null || !h.energy || h.energy.total_cost === null ? [] : [[{ currency: ctx.currency }, h.energy.total_cost]]),
  },
];

const convert = (e: ReadingExport, v: number | null): number | null => (v === null ? null : e.convert ? e.convert(v) : v);

/** A reading family's series: one per reading mapped to it, with that reading's fixed labels. */
function readingSeries(family: ReadingFamily): Pick<HostMetric, 'series' | 'source'> | null {
  const sources = (Object.entries(READING_EXPORTS) as Array<[ReadingName, ReadingExport | { leftOut: string }]>)
    .filter((entry): entry is [ReadingName, ReadingExport] => !isLeftOut(entry[1]) && entry[1].family === family);
  if (sources.length === 0) return null;
  return {
    series: (h) => sources.map(([reading, e]) => [e.labels ?? {}, convert(e, h.readings[reading] ?? null)] as const),
    source: { kind: 'readings', readings: sources.map(([reading, e]) => ({ reading, labels: e.labels ?? {}, export: e })) },
  };
}

/**
 * The rows of one table as label sets and cells, rows with a label set already seen left out (a
 * bind mount listed twice, two names cut to the same prefix): the first one wins.
 */
/** Rows by host and table within one scrape: several families read the same table. */
const ROWS_SEEN = new WeakMap<HostView | HostDetail, Map<TableName, Array<{ labels: Labels; cell: (col: string) => number | null }>>>();

function tableRows(h: HostView | HostDetail, table: TableName, spec: TableExport): Array<{ labels: Labels; cell: (col: string) => number | null }> {
  let byTable = ROWS_SEEN.get(h);
  if (!byTable) ROWS_SEEN.set(h, (byTable = new Map()));
  let rows = byTable.get(table);
  if (!rows) byTable.set(table, (rows = tableRowsOf(h, table, spec)));
  return rows;
}

function tableRowsOf(h: HostView | HostDetail, table: TableName, spec: TableExport): Array<{ labels: Labels; cell: (col: string) => number | null }> {
  const rows = 'tables' in h ? h.tables[table] : undefined;
  if (!rows) return [];
  const seen = new Set<string>();
  const out: Array<{ labels: Labels; cell: (col: string) => number | null }> = [];
  rows.forEach((row, i) => {
    const labels: Record<string, string> = {};
    if (spec.indexLabel) labels[spec.indexLabel] = String(i);
    for (const [col, label] of Object.entries(spec.labelColumns ?? {})) {
      const text = row !== null && typeof row === 'object' ? row[col] : undefined;
      labels[label] = typeof text === 'string' ? text : '';
    }
    const key = JSON.stringify(Object.values(labels));
    if (seen.has(key)) return;
    seen.add(key);
    const cell = (col: string): number | null => {
      const v = typeof row === 'number' ? row : row === null ? null : row[col];
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    };
    out.push({ labels, cell });
  });
  return out;
}

/** A table family's series: one per row of the one table column that maps to it. */
function tableSeries(family: ReadingFamily): Pick<HostMetric, 'series' | 'source'> | null {
  const found: Array<Pick<HostMetric, 'series' | 'source'>> = [];
  for (const [table, spec] of Object.entries(TABLE_EXPORTS) as Array<[TableName, TableExport | { leftOut: string }]>) {
    if (isLeftOut(spec)) continue;
    for (const [col, e] of Object.entries(spec.columns)) {
      if (isLeftOut(e) || e.family !== family) continue;
      found.push({
        // cell(col) of a per-core list's row is the row's number itself.
        series: (h) => tableRows(h, table, spec).map((r) => [r.labels, convert(e, r.cell(col))] as const),
        source: { kind: 'table', table, spec, column: col, export: e },
      });
    }
  }
  // Two columns in one family would give rows of one table under another's labels.
  if (found.length > 1) throw new TypeError(`metric family ${family} is mapped from ${found.length} table columns`);
  return found[0] ?? null;
}

/** Every per-host metric the dashboard exports, in output order. */
export const HOST_METRICS: readonly HostMetric[] = Object.freeze([
  ...LIVENESS_METRICS,
  ...(Object.keys(READING_FAMILIES) as ReadingFamily[]).map((name): HostMetric => {
    const fromReadings = readingSeries(name);
    const fromTable = tableSeries(name);
    // Checked once at load: a mapping mistake fails at start, not in a scrape.
    if (fromReadings && fromTable) throw new TypeError(`metric family ${name} is mapped from both readings and a table`);
    const from = fromReadings ?? fromTable;
    if (!from) throw new TypeError(`metric family ${name} has no reading or table column`);
    return { name, type: 'gauge', reading: true, help: READING_FAMILIES[name].help, ...from };
  }),
  ...ENERGY_METRICS,
]);

const C = ERROR_CODES;
/**
 * Codes each by-code counter writes even at zero, so that increase() sees the first occurrence
 * (a series that appears at 1 shows no increase); the codes collector/server.ts can count there.
 * Any other code is written once it is counted, never hidden.
 */
const REJECTION_CODES: readonly string[] = [
  C.FRAME_EMPTY, C.FRAME_TOO_LARGE, C.FRAME_MALFORMED, C.FRAME_NOT_MAP, C.FRAME_TOO_DEEP, C.FRAME_FORBIDDEN_TYPE, C.FRAME_FORBIDDEN_KEY,
  C.PROTO_UNKNOWN_TYPE, C.PROTO_BAD_FIELD, C.PROTO_VERSION, C.PROTO_UNEXPECTED, C.AUTH_FAILED, C.HELLO_TIMEOUT, C.CAPACITY_FULL, C.HOST_IN_USE,
];
const ALWAYS_WRITTEN = {
  refused: new Set<string>([C.TOO_MANY_CONNECTIONS, C.RATE_LIMITED, C.SHUTDOWN]),
  rejected: new Set<string>(REJECTION_CODES),
  ended: new Set<string>([...REJECTION_CODES, C.IDLE_TIMEOUT, C.HOST_REPLACED, C.AUTH_REVOKED, C.SHUTDOWN, PEER_CLOSED]),
};

function byCode(m: Readonly<Record<string, number>>, label: string, always: ReadonlySet<string>): Series {
  return Object.entries(m).filter(([k, v]) => v !== 0 || always.has(k)).map(([k, v]) => [{ [label]: k }, v] as const);
}

/** The collector's own health, from its stats snapshot, in output order. */
export const COLLECTOR_METRICS: readonly CollectorMetric[] = Object.freeze([
  { name: 'sentinel_collector_connected_agents', type: 'gauge', help: 'Agents welcomed and still connected.', series: stat((s) => s.connected_agents) },
  { name: 'sentinel_collector_connections_accepted_total', type: 'counter', help: 'Agent connections accepted (past the connection limits, before any TLS handshake or hello).', series: stat((s) => s.connections_accepted_total) },
  { name: 'sentinel_collector_connections_refused_total', type: 'counter', help: 'Agent connections refused at once by the connection limits, by error code.', series: (s) => byCode(s.connections_refused_total, 'code', ALWAYS_WRITTEN.refused) },
  { name: 'sentinel_collector_frames_received_total', type: 'counter', help: 'Frames decoded from agents, every message type.', series: stat((s) => s.frames_received_total) },
  { name: 'sentinel_collector_frames_rejected_total', type: 'counter', help: 'Agent sessions ended because of what the agent sent (a bad frame or message, a refused hello), by error code.', series: (s) => byCode(s.frames_rejected_total, 'code', ALWAYS_WRITTEN.rejected) },
  { name: 'sentinel_collector_sessions_ended_total', type: 'counter', help: 'Agent sessions ended, by reason: the error code the agent was sent, or peer_closed when the agent hung up.', series: (s) => byCode(s.sessions_ended_total, 'reason', ALWAYS_WRITTEN.ended) },
  { name: 'sentinel_collector_slots', type: 'gauge', help: 'Host slots in shared memory: the most hosts the collector holds.', series: stat((s) => s.capacity) },
  { name: 'sentinel_collector_slots_used', type: 'gauge', help: 'Host slots handed out so far.', series: stat((s) => s.slots_used) },
  { name: 'sentinel_collector_start_time_seconds', type: 'gauge', help: 'When the collector started, seconds since the epoch.', series: stat((s) => s.started_at_ms / 1000) },
  { name: 'sentinel_alerts_firing', type: 'gauge', help: 'Alerts in the firing state.', series: stat((s) => s.alerts_firing) },
  { name: 'sentinel_webhook_deliveries_total', type: 'counter', help: 'Webhook deliveries by result: delivered (2xx), failed (gave up after retries), dropped (never sent: queue full or shutting down).', series: (s) => byCode(s.webhook_deliveries_total, 'result', new Set(WEBHOOK_RESULTS)) },
] satisfies CollectorMetric[]);

/** The tables /metrics writes series from (the others are left out): a scrape reads only these. */
export const METRIC_TABLES: readonly TableName[] = Object.freeze((Object.keys(TABLE_EXPORTS) as TableName[]).filter((t) => !isLeftOut(TABLE_EXPORTS[t])));

export const BUILD_INFO_METRIC = 'sentinel_build_info';

/**
 * Declares every family in one writer: a bad or repeated name fails at load, not in a scrape. A
 * scrape writes the host families through the fragment cache and the rest through a writer of
 * their own, so neither would see a clash between the two.
 */
function checkFamilyNames(): void {
  const all = new PromWriter();
  for (const m of [...HOST_METRICS, ...COLLECTOR_METRICS, ...PROCESS_METRICS]) all.family(m.name, m.type, m.help);
  all.family(BUILD_INFO_METRIC, 'gauge', '');
}
checkFamilyNames();

/** The host families' fragments, kept from one scrape to the next (this worker's only). */
const HOST_FRAGMENTS = new HostMetricsCache(HOST_METRICS);

/** Readings and table columns the protocol defines and /metrics leaves out on purpose, for tests and docs. */
export function leftOutReadings(): Array<{ name: string; reason: string }> {
  const out: Array<{ name: string; reason: string }> = [];
  for (const r of READINGS) {
    const e = READING_EXPORTS[r.name];
    if (isLeftOut(e)) out.push({ name: r.name, reason: e.leftOut });
  }
  for (const [table, spec] of Object.entries(TABLE_EXPORTS)) {
    if (isLeftOut(spec)) out.push({ name: table, reason: spec.leftOut });
    else for (const [col, e] of Object.entries(spec.columns)) if (isLeftOut(e)) out.push({ name: `${table}.${col}`, reason: e.leftOut });
  }
  return out;
}

/**
 * The scrape answer for `hosts` (HostDetail, with tables; a plain HostView gets no table
 * series) as of `nowMs` (the collector's clock, ms since the epoch), then the collector's health
 * from `stats` (left out when null). Hosts come out sorted by name, so equal input gives equal
 * output. A name is written once: a read that raced the reuse of an evicted host's slot can
 * list a name twice, and a repeated series would make Prometheus refuse the whole scrape; the
 * freshest of the two is kept.
 */
export function metricsText(hosts: readonly (HostDetail | HostView)[], nowMs: number, stats: CollectorStatsSnapshot | null = null, ctx: MetricsContext = { currency: null }): string {
  const byName = new Map<string, HostView | HostDetail>();
  for (const v of hosts) {
    const seen = byName.get(v.name);
    if (!seen || (v.received_at_ms ?? -1) > (seen.received_at_ms ?? -1)) byName.set(v.name, v);
  }
  const sorted = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Each series is unique by construction (names deduplicated above, table rows by the cache),
  // so the host families skip the writer's per-sample checks: one array of fragments, joined once.
  const out: string[] = [];
  HOST_FRAGMENTS.write(sorted, nowMs, ctx, out);
  const w = new PromWriter();
  if (stats) {
    for (const m of COLLECTOR_METRICS) {
      w.family(m.name, m.type, m.help);
      for (const [labels, value] of m.series(stats)) if (value !== null) w.sample(m.name, labels, value);
    }
  }
  if (ctx.process) {
    for (const m of PROCESS_METRICS) {
      const v = m.value(ctx.process);
      if (v === null) continue;
      w.family(m.name, m.type, m.help);
      w.sample(m.name, {}, v);
    }
  }
  w.family(BUILD_INFO_METRIC, 'gauge', 'Always 1; the version label is the collector\'s version.');
  w.sample(BUILD_INFO_METRIC, { version: SENTINEL_VERSION }, 1);
  out.push(w.toString());
  return out.join('');
}
