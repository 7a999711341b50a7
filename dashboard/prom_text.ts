/**
 * A writer for the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). Pure: no I/O, no clock.
 *
 * Names are ours and checked (a bad one is a programmer mistake: TypeError). Label values come
 * from agents and may hold anything; escapeLabelValue keeps each one inside its quotes, so the
 * only line feeds in the output are the ones that end lines.
 */

/** The Content-Type of a scrape answer in this format. */
export const PROM_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
export const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const NEEDS_ESCAPE = /[\\"\n]/;

/**
 * Escapes a label value for use between double quotes: backslash, double quote and line feed,
 * the three the format defines (a parser refuses any other escape, so nothing else is touched;
 * CR, NUL, U+2028 and the like are legal as they are and stay inside the quotes).
 */
export function escapeLabelValue(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** Escapes a HELP docstring: backslash and line feed only (a quote needs no escape there). */
export function escapeHelp(s: string): string {
  return s.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** Throws TypeError unless `name` is a metric name we may write (names starting `__` are reserved). */
export function checkMetricName(name: string): void {
  if (typeof name !== 'string' || !METRIC_NAME_RE.test(name)) throw new TypeError(`invalid metric name ${JSON.stringify(name)}`);
  if (name.startsWith('__')) throw new TypeError(`metric name ${JSON.stringify(name)} is reserved (starts with __)`);
}

/** Throws TypeError unless `name` is a label name we may write (names starting `__` are reserved). */
export function checkLabelName(name: string): void {
  if (typeof name !== 'string' || !LABEL_NAME_RE.test(name)) throw new TypeError(`invalid label name ${JSON.stringify(name)}`);
  if (name.startsWith('__')) throw new TypeError(`label name ${JSON.stringify(name)} is reserved (starts with __)`);
}

/**
 * A sample value as the format spells it: NaN, +Inf, -Inf; otherwise JavaScript's shortest
 * round-trip form, which Go's ParseFloat reads back exactly. Integers below 1e21 (all safe
 * integers among them) come out without an exponent.
 */
export function formatValue(v: number): string {
  // The common case first: finite (v - v is NaN for NaN and the infinities) and not -0.
  if (typeof v === 'number' && v - v === 0 && (v !== 0 || 1 / v > 0)) return String(v);
  if (typeof v !== 'number') throw new TypeError(`sample value must be a number, got ${typeof v}`);
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  // String(-0) is "0"; keep the sign as Go's formatter does.
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

/** A family's HELP (left out when `help` is empty) and TYPE lines, each ending in a line feed. */
export function familyHeader(name: string, type: PromType, help: string): string {
  return `${help === '' ? '' : `# HELP ${name} ${escapeHelp(help)}\n`}# TYPE ${name} ${type}\n`;
}

/** Sample names each type owns, besides (for some) the family name itself. */
const SUFFIXES: Readonly<Record<PromType, readonly string[]>> = Object.freeze({
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
});

interface Family {
  name: string;
  type: PromType;
  help: string;
  lines: string[];
  /** Series already written, to refuse a second sample of one series. */
  series: Set<string>;
}

/**
 * Builds one scrape answer. Declare each family once with family(), then add samples in any
 * order: toString() writes each family's HELP (unless empty) and TYPE once, followed by all of
 * its samples together (the format requires it), families in the order they were declared.
 * A family that got no sample is left out entirely.
 */
export class PromWriter {
  private readonly families: Family[] = [];
  /** Sample name (family name plus a type's suffix) to its family. */
  private readonly bySampleName = new Map<string, Family>();

  family(name: string, type: PromType, help: string): void {
    checkMetricName(name);
    if (!Object.hasOwn(SUFFIXES, type)) throw new TypeError(`unknown metric type ${JSON.stringify(type)}`);
    if (typeof help !== 'string') throw new TypeError(`help of ${name} must be a string`);
    const fam: Family = { name, type, help, lines: [], series: new Set() };
    const names = SUFFIXES[type].map((suffix) => name + suffix);
    for (const n of [name, ...names]) {
      if (this.bySampleName.has(n)) throw new TypeError(`metric name ${n} is already taken by family ${this.bySampleName.get(n)!.name}`);
    }
    for (const n of names) this.bySampleName.set(n, fam);
    // The family name itself is reserved even where it is not a sample name (histogram).
    this.bySampleName.set(name, fam);
    this.families.push(fam);
  }

  /**
   * Adds one sample. `name` is the family's name (or, for a histogram or summary, the family's
   * name plus _bucket/_sum/_count). Labels are written in the object's key order.
   * `timestampMs`: ms since the epoch, an integer; leave it out unless the value really is from
   * another time than the scrape.
   */
  sample(name: string, labels: Readonly<Record<string, string>>, value: number, timestampMs?: number): void {
    const fam = this.bySampleName.get(name);
    if (!fam || (name === fam.name && !SUFFIXES[fam.type].includes(''))) {
      throw new TypeError(`sample ${JSON.stringify(name)} belongs to no declared family`);
    }
    const parts: string[] = [];
    for (const [k, v] of Object.entries(labels)) {
      checkLabelName(k);
      if (typeof v !== 'string') throw new TypeError(`label ${k} of ${name} must be a string, got ${typeof v}`);
      parts.push(`${k}="${escapeLabelValue(v)}"`);
    }
    // One series is a sample name plus its label set, whatever the key order.
    const key = JSON.stringify([name, Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
    if (fam.series.has(key)) throw new TypeError(`duplicate series ${name}${parts.length ? `{${parts.join(',')}}` : ''}`);
    fam.series.add(key);
    let line = parts.length > 0 ? `${name}{${parts.join(',')}} ${formatValue(value)}` : `${name} ${formatValue(value)}`;
    if (timestampMs !== undefined) {
      if (!Number.isSafeInteger(timestampMs)) throw new RangeError(`timestamp of ${name} must be an integer number of ms, got ${timestampMs}`);
      line += ` ${timestampMs}`;
    }
    fam.lines.push(line);
  }

  /**
   * Adds one sample whose labels are already written: `labelText` is `a="x",b="y"` with every
   * value escaped (escapeLabelValue) and every name checked (checkLabelName), or ''. No
   * duplicate check: for callers that make each series unique themselves (dashboard/metrics.ts
   * writes thousands of hosts per scrape, where the check costs more than the writing).
   */
  sampleText(name: string, labelText: string, value: number): void {
    const fam = this.bySampleName.get(name);
    if (!fam || (name === fam.name && !SUFFIXES[fam.type].includes(''))) {
      throw new TypeError(`sample ${JSON.stringify(name)} belongs to no declared family`);
    }
    fam.lines.push(labelText === '' ? `${name} ${formatValue(value)}` : `${name}{${labelText}} ${formatValue(value)}`);
  }

  /** The whole answer; every line, the last included, ends with a line feed. Empty if no samples. */
  toString(): string {
    let out = '';
    for (const fam of this.families) {
      if (fam.lines.length === 0) continue;
      out += `${familyHeader(fam.name, fam.type, fam.help)}${fam.lines.join('\n')}\n`;
    }
    return out;
  }
}
