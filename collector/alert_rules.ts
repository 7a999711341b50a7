/**
 * Alert rules: what a rule is, the defaults, the `--alerts` and `--webhooks` settings, and the
 * values a rule can test, computed once per sample. Pure: no clock, no I/O. The engine that turns
 * rules and values into alerts is collector/alerts.ts.
 */
import { ConfigError } from '../shared/errors.ts';
import { fieldReader, type FieldReader } from '../shared/field_reader.ts';
import { READINGS, type ReadingName, type Sample } from '../shared/protocol.ts';

export type AlertOp = '>' | '>=' | '<' | '<=';
export const ALERT_OPS: readonly AlertOp[] = Object.freeze(['>', '>=', '<', '<=']);

/** Metrics computed by the collector rather than sent by the agent. */
export type DerivedMetric = 'mem_used_pct' | 'swap_used_pct' | 'fs_used_pct' | 'offline_s';
export type AlertMetric = ReadingName | DerivedMetric;
/** Metrics with one value per host, carried in AlertInputs.values. */
export type HostMetric = ReadingName | 'mem_used_pct' | 'swap_used_pct';

export interface AlertRule {
  /** [a-z][a-z0-9_]{0,63}; unique among the rules. */
  readonly name: string;
  readonly metric: AlertMetric;
  readonly op: AlertOp;
  readonly threshold: number;
  /** The condition must hold this long before the alert fires, ms; 0 fires at once. */
  readonly forMs: number;
}

export interface AlertMetricInfo {
  readonly name: AlertMetric;
  /** Unit of the value and so of a threshold, for docs and the dashboard ('' for load averages). */
  readonly unit: string;
  readonly doc: string;
  /** One value per instance (filesystem) rather than one per host. */
  readonly perInstance: boolean;
}

/** The unit of a reading, from its kind and, for plain gauges, its name's suffix. */
function readingUnit(name: string, kind: string): string {
  if (kind === 'percent') return '%';
  if (kind === 'bytes') return 'bytes';
  if (kind === 'seconds') return 's';
  if (kind === 'celsius') return '°C';
  if (kind === 'count') return 'count';
  if (name.endsWith('_bps')) return 'bytes/s';
  if (name.endsWith('_iops')) return 'operations/s';
  if (name.endsWith('_mhz')) return 'MHz';
  if (name.endsWith('_w')) return 'W';
  return '';
}

/** Every metric a rule may name: the readings of the protocol, then the derived ones. */
export const ALERT_METRICS: readonly AlertMetricInfo[] = Object.freeze([
  ...READINGS.map((r) => Object.freeze({ name: r.name, unit: readingUnit(r.name, r.kind), doc: r.doc, perInstance: false })),
  Object.freeze({ name: 'mem_used_pct' as const, unit: '%', doc: 'memory in use: mem_used_bytes / mem_total_bytes × 100', perInstance: false }),
  Object.freeze({ name: 'swap_used_pct' as const, unit: '%', doc: 'swap in use: swap_used_bytes / swap_total_bytes × 100 (none without swap)', perInstance: false }),
  Object.freeze({ name: 'fs_used_pct' as const, unit: '%', doc: "per filesystem (instance = mount point): used / (used + free) × 100, as df's Use%", perInstance: true }),
  Object.freeze({ name: 'offline_s' as const, unit: 's', doc: 'once its connection is gone, seconds since the host was last heard from; 0 while connected', perInstance: false }),
]);
const METRIC_NAMES: ReadonlySet<string> = new Set(ALERT_METRICS.map((m) => m.name));

/** Most rules after the changes are applied: evaluation costs hosts × rules every second. */
export const MAX_ALERT_RULES = 64;
/** Longest `for` duration, ms (a week): longer is surely a typo. */
export const MAX_ALERT_FOR_MS = 7 * 86_400_000;
export const MAX_WEBHOOK_URLS = 16;
export const MAX_WEBHOOK_URL_CHARS = 2048;
/** Most filesystems per host that rules look at; the fullest are kept (see alertInputs). */
export const MAX_ALERT_INSTANCES = 64;

const rule = (name: string, metric: AlertMetric, op: AlertOp, threshold: number, forMs: number): AlertRule =>
  Object.freeze({ name, metric, op, threshold, forMs });

/** The rules in force when `--alerts` is not given (the contract's list). */
export const DEFAULT_ALERT_RULES: readonly AlertRule[] = Object.freeze([
  rule('cpu_high', 'cpu_pct', '>', 90, 5 * 60_000),
  rule('memory_high', 'mem_used_pct', '>', 90, 60_000),
  rule('filesystem_full', 'fs_used_pct', '>', 90, 0),
  rule('temperature_high', 'temp_max_c', '>', 85, 60_000),
  rule('host_offline', 'offline_s', '>', 60, 0),
]);

const NAME_RE = /^[a-z][a-z0-9_]{0,63}$/;
const BODY_RE = /^([^\s<>=!~]+)\s*([<>=!~]+)\s*(\S+)(?:\s+for\s+(\S+))?$/;
const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const DURATION_RE = /^(\d+(?:\.\d+)?)(s|m|h)?$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** Quotes user text in an error, short enough for one line. */
function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/** `90s`, `5m`, `1h` or bare seconds, to ms. Returns a reason string when it is not one. */
function parseDuration(text: string): number | string {
  const m = DURATION_RE.exec(text);
  if (!m) return `bad duration ${quote(text)} (expected e.g. 90s, 5m, 1h or seconds)`;
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's']!);
  if (ms > MAX_ALERT_FOR_MS) return `duration ${quote(text)} is longer than 7 days`;
  return ms;
}

/** Parses one `NAME: METRIC OP THRESHOLD [for DURATION]`; 'off' for `NAME: off`; a reason string on error. */
function parseSpec(spec: string): { name: string; rule: AlertRule | 'off' } | string {
  const colon = spec.indexOf(':');
  if (colon < 0) return 'expected NAME: METRIC OP THRESHOLD [for DURATION] or NAME: off';
  const name = spec.slice(0, colon).trim();
  const body = spec.slice(colon + 1).trim();
  if (!NAME_RE.test(name)) return `bad rule name ${quote(name)} (a-z first, then a-z, 0-9 or _, at most 64)`;
  if (body === 'off') return { name, rule: 'off' };
  const m = BODY_RE.exec(body);
  if (!m) return 'expected METRIC OP THRESHOLD [for DURATION] after the name, or off';
  const [, metric, op, thresholdText, durationText] = m as unknown as [string, string, string, string, string | undefined];
  if (!METRIC_NAMES.has(metric)) return `unknown metric ${quote(metric)} (known: ${[...METRIC_NAMES].join(', ')})`;
  if (!(ALERT_OPS as readonly string[]).includes(op)) return `bad operator ${quote(op)} (one of > >= < <=)`;
  const threshold = Number(thresholdText);
  if (!NUMBER_RE.test(thresholdText) || !Number.isFinite(threshold)) return `threshold ${quote(thresholdText)} is not a finite number`;
  let forMs = 0;
  if (durationText !== undefined) {
    const d = parseDuration(durationText);
    if (typeof d === 'string') return d;
    forMs = d;
  }
  return { name, rule: rule(name, metric as AlertMetric, op as AlertOp, threshold, forMs) };
}

/**
 * Applies `;`-separated SPECs over `base`: a SPEC naming a rule of base replaces it in place,
 * `NAME: off` removes it, a new name is appended. Empty SPECs (a trailing `;`) are ignored.
 * Throws ConfigError(setting) naming the bad SPEC and why.
 */
export function parseAlertRules(spec: string, base: readonly AlertRule[] = DEFAULT_ALERT_RULES, setting = 'alerts'): AlertRule[] {
  const rules = [...base];
  const seen = new Set<string>();
  for (const raw of spec.split(';')) {
    const text = raw.trim();
    if (text === '') continue;
    const parsed = parseSpec(text);
    if (typeof parsed === 'string') throw new ConfigError(setting, `${quote(text)}: ${parsed}`);
    if (seen.has(parsed.name)) throw new ConfigError(setting, `${quote(text)}: rule ${parsed.name} is set twice`);
    seen.add(parsed.name);
    const at = rules.findIndex((r) => r.name === parsed.name);
    if (parsed.rule === 'off') {
      // A name that matches nothing is most likely a typo that would leave the rule on.
      if (at < 0) throw new ConfigError(setting, `${quote(text)}: there is no rule ${parsed.name} to turn off`);
      rules.splice(at, 1);
    } else if (at >= 0) {
      rules[at] = parsed.rule;
    } else {
      rules.push(parsed.rule);
    }
  }
  if (rules.length > MAX_ALERT_RULES) throw new ConfigError(setting, `more than ${MAX_ALERT_RULES} rules (${rules.length})`);
  return rules;
}

function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** A rule as SPEC text; parseAlertRules reads it back to the same rule. */
export function formatAlertRule(r: AlertRule): string {
  return `${r.name}: ${r.metric} ${r.op} ${r.threshold}${r.forMs > 0 ? ` for ${formatDuration(r.forMs)}` : ''}`;
}

/** Every rule as one `--alerts` value (for --help and logs). */
export function formatAlertRules(rules: readonly AlertRule[]): string {
  return rules.map(formatAlertRule).join('; ');
}

/**
 * The threshold the dashboard marks a value against: that of the first rule on `metric` with
 * op > or >=, or null when there is none.
 */
export function warnThreshold(rules: readonly AlertRule[], metric: AlertMetric): number | null {
  const r = rules.find((x) => x.metric === metric && (x.op === '>' || x.op === '>='));
  return r ? r.threshold : null;
}

/**
 * `--webhooks`: whitespace-separated http(s) URLs. Errors name a URL by its position, never its
 * text: a query string may hold a secret and errors are logged.
 */
export function parseWebhookUrls(text: string, setting = 'webhooks'): string[] {
  const items = text.split(/\s+/).filter((s) => s !== '');
  if (items.length > MAX_WEBHOOK_URLS) throw new ConfigError(setting, `more than ${MAX_WEBHOOK_URLS} URLs (${items.length})`);
  const out: string[] = [];
  items.forEach((item, i) => {
    const where = `URL ${i + 1}`;
    if (item.length > MAX_WEBHOOK_URL_CHARS) throw new ConfigError(setting, `${where} is longer than ${MAX_WEBHOOK_URL_CHARS} characters`);
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw new ConfigError(setting, `${where} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(setting, `${where} must be http or https, got ${quote(url.protocol)}`);
    if (url.hostname === '') throw new ConfigError(setting, `${where} has no host`);
    if (out.includes(url.href)) throw new ConfigError(setting, `${where} is listed twice`);
    out.push(url.href);
  });
  return out;
}

/** The values rules test for one host, from its latest sample. */
export interface AlertInputs {
  /** Per-host values by metric; absent: not in the sample; null: not meaningful (swap % without swap). */
  readonly values: Readonly<Partial<Record<HostMetric, number | null>>>;
  /** fs_used_pct per filesystem, at most MAX_ALERT_INSTANCES. */
  readonly fs: ReadonlyArray<{ readonly instance: string; readonly value: number }>;
}

/** The readings in a set of wanted metrics, listed once per set (not per sample). */
const READINGS_IN = new WeakMap<ReadonlySet<string>, ReadonlyArray<(typeof READINGS)[number]>>();
function readingsIn(wanted: ReadonlySet<string>): ReadonlyArray<(typeof READINGS)[number]> {
  let list = READINGS_IN.get(wanted);
  if (!list) READINGS_IN.set(wanted, (list = READINGS.filter((r) => wanted.has(r.name))));
  return list;
}

/** A compiled reader of those readings (shared/field_reader.ts), once per list. */
const READER_OF = new WeakMap<ReadonlyArray<(typeof READINGS)[number]>, FieldReader>();
function readerOf(readings: ReadonlyArray<(typeof READINGS)[number]>): FieldReader {
  let r = READER_OF.get(readings);
  if (!r) READER_OF.set(readings, (r = fieldReader(readings.map((x) => x.name))));
  return r;
}

/** What an AlertInputsCell holds of each metric. */
const ABSENT = 0;
const NUMBER = 1;
const NULL = 2;

/**
 * One host's alert inputs, kept from one sample to the next without allocating: the values in a
 * Float64Array, the filesystems in rows reused in place (a mount whose text is unchanged keeps
 * its string). A cell lives as long as its host; the AlertInputs a rule reads is made by view(),
 * at evaluation.
 *
 * Why: AlertInputs made anew for every sample lived one sample interval, long enough to
 * outlive two young-generation collections and be copied into the old one. At 19,000 agents
 * that was most of what the collector's main thread promoted (~6 MB/s), and scavenges there
 * copying it took 5-28 ms each: the largest part of its GC time, and of the send-to-store
 * latency's tail.
 *
 * Only the metrics in `wanted` (AlertService passes those of its rules), all when none given.
 * Rows of the fs table without used and free bytes are skipped. Beyond MAX_ALERT_INSTANCES
 * filesystems the fullest are kept: a full disk is what the rules look for, and the bound keeps
 * a hostile agent's 1024 rows cheap.
 */
export class AlertInputsCell {
  private readonly readings: ReadonlyArray<(typeof READINGS)[number]>;
  private readonly readReadings: FieldReader;
  private readonly wantMem: boolean;
  private readonly wantSwap: boolean;
  private readonly wantFs: boolean;
  /** The readings, then mem_used_pct, then swap_used_pct. */
  private readonly values: Float64Array;
  private readonly state: Uint8Array;
  private readonly fs: Array<{ instance: string; value: number }> = [];

  constructor(wanted?: ReadonlySet<string>) {
    this.readings = wanted ? readingsIn(wanted) : READINGS;
    this.readReadings = readerOf(this.readings);
    this.wantMem = !wanted || wanted.has('mem_used_pct');
    this.wantSwap = !wanted || wanted.has('swap_used_pct');
    this.wantFs = !wanted || wanted.has('fs_used_pct');
    this.values = new Float64Array(this.readings.length + 2);
    this.state = new Uint8Array(this.readings.length + 2);
  }

  /** Takes the values of a validated sample, the host's latest. */
  update(sample: Sample): this {
    const n = this.readings.length;
    // Named loads compiled for this list, not sample[name] in a loop (megamorphic). A reading is
    // a number or absent in a validated sample (null ones are dropped), so NaN means absent.
    const values = this.values;
    this.readReadings(sample, values, 0);
    for (let i = 0; i < n; i++) this.state[i] = Number.isNaN(values[i]!) ? ABSENT : NUMBER;
    const memUsed = sample.mem_used_bytes;
    const memTotal = sample.mem_total_bytes;
    this.set(n, this.wantMem && memUsed !== undefined && memTotal !== undefined && memTotal > 0 ? (memUsed / memTotal) * 100 : undefined);
    const swapUsed = sample.swap_used_bytes;
    const swapTotal = sample.swap_total_bytes;
    if (!this.wantSwap) this.set(n + 1, undefined);
    else if (swapTotal === 0) this.set(n + 1, null);
    else this.set(n + 1, swapUsed !== undefined && swapTotal !== undefined ? (swapUsed / swapTotal) * 100 : undefined);
    const fs = this.fs;
    let count = 0;
    if (this.wantFs) {
      for (const row of sample.fs ?? []) {
        const used = row.used_bytes;
        const free = row.free_bytes;
        const mount = row.mount;
        if (mount === undefined || used === undefined || free === undefined || used + free <= 0) continue;
        const value = (used / (used + free)) * 100;
        const kept = fs[count];
        if (kept === undefined) fs.push({ instance: mount, value });
        else {
          if (kept.instance !== mount) kept.instance = mount;
          kept.value = value;
        }
        count++;
      }
    }
    fs.length = count;
    if (count > MAX_ALERT_INSTANCES) {
      fs.sort((a, b) => b.value - a.value);
      fs.length = MAX_ALERT_INSTANCES;
    }
    return this;
  }

  /** The inputs as rules read them, as of the last update; valid until the next one. */
  view(): AlertInputs {
    const values: Partial<Record<HostMetric, number | null>> = {};
    const readings = this.readings;
    const n = readings.length;
    for (let i = 0; i < n + 2; i++) {
      const s = this.state[i];
      if (s === ABSENT) continue;
      const name: HostMetric = i < n ? readings[i]!.name : i === n ? 'mem_used_pct' : 'swap_used_pct';
      values[name] = s === NULL ? null : this.values[i]!;
    }
    return { values, fs: this.fs };
  }

  private set(i: number, v: number | null | undefined): void {
    if (v === undefined) this.state[i] = ABSENT;
    else if (v === null) this.state[i] = NULL;
    else {
      this.state[i] = NUMBER;
      this.values[i] = v;
    }
  }
}

/** The values a rule can test, from a validated sample, as a new object (see AlertInputsCell). */
export function alertInputs(sample: Sample, wanted?: ReadonlySet<string>): AlertInputs {
  const { values, fs } = new AlertInputsCell(wanted).update(sample).view();
  return { values, fs: fs.slice() };
}
