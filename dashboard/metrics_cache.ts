/**
 * The per-host part of a /metrics answer, from text fragments kept per host and family: a
 * fragment is written again only when what it is made of changed. Used by dashboard/metrics.ts.
 *
 * A fragment is keyed by its inputs themselves, never by where they came from: the raw readings
 * of a reading family, the value of a one-value family, the label texts and cells of a table
 * (numbers compared with Object.is, so -0 and 0 differ as their text does). So the output is
 * always what the views passed in say, whoever built them: a host written again shows its new
 * values, and an entry whose host was not in a scrape is dropped at the end of it. Families
 * without a source (status one-hot, info labels, cost) are written from their series() every
 * scrape. Lines are `name{host="..."<labels>} value\n`, as PromWriter.sampleText writes them.
 *
 * Single-threaded: one cache per worker's event loop.
 */
import type { HostDetail, HostView } from '../shared/host_view.ts';
import type { ReadingName, TableName } from '../shared/protocol.ts';
import type { ReadingExport, TableExport } from './metric_families.ts';
import type { HostMetric, MetricsContext } from './metrics.ts';
import { checkLabelName, escapeLabelValue, familyHeader, formatValue } from './prom_text.ts';

// Imported functions as locals: under tsx each use of an imported binding is a getter call, and
// these run per series (tens of thousands per answer).
const esc = escapeLabelValue;
const fmt = formatValue;

type View = HostView | HostDetail;
type Convert = ((v: number) => number) | undefined;

/** Where a cacheable family's series come from (metrics.ts sets it on HostMetric.source). */
export type FamilySource =
  | { kind: 'readings'; readings: ReadonlyArray<{ reading: ReadingName; labels: Readonly<Record<string, string>>; export: ReadingExport }> }
  | { kind: 'table'; table: TableName; spec: TableExport; column: string; export: ReadingExport }
  | { kind: 'value'; value: (h: HostView, nowMs: number) => number | null };

interface ReadingPlan {
  fam: number;
  name: string;
  readings: ReadonlyArray<{ reading: ReadingName; labelText: string; convert: Convert }>;
}

interface ValuePlan {
  fam: number;
  name: string;
  value: (h: HostView, nowMs: number) => number | null;
}

/** One table, and the families its numeric columns feed. */
interface TablePlan {
  table: TableName;
  /** The index label's text before its value (`,cpu="`), or null. */
  indexText: string | null;
  labelColumns: readonly string[];
  /** Each label column's label text before its value (`,mountpoint="`). */
  labelTexts: readonly string[];
  columns: Array<{ fam: number; name: string; column: string; convert: Convert }>;
}

/** A table as last written for one host: its rows' label texts and cells, flat. */
interface TableState {
  rows: number;
  /** rows x labelColumns raw texts ('' where the cell is not text). */
  labels: string[];
  /** rows x columns cells: finite numbers, else null. */
  cells: Array<number | null>;
}

interface HostEntry {
  /** `host="..."`, escaped. */
  label: string;
  /** The scrape that last saw this host. */
  seen: number;
  /** The host's fragment of each family, by family index ('' when none). */
  frags: string[];
  /** What each reading or value family's fragment was written from, by family index. */
  vals: Array<Array<number | null> | undefined>;
  /** By position in the table plans. */
  tables: Array<TableState | undefined>;
}

/** Label texts of a labels object of ours, checked (at start, not per scrape). */
function labelsText(labels: Readonly<Record<string, string>>, family: string): string {
  let text = '';
  for (const [k, v] of Object.entries(labels)) {
    checkLabelName(k);
    if (k === 'host') throw new TypeError(`metric ${family} sets the host label itself`);
    text += `,${k}="${esc(v)}"`;
  }
  return text;
}

/**
 * `s` as one flat string. V8 keeps a string built with + as a tree of its parts, flattened only
 * when read by index; a cached fragment is copied into every answer, and copying a flat string
 * costs half as much as walking a tree, so it is flattened once, here.
 */
function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

export class HostMetricsCache {
  private readonly families: readonly HostMetric[];
  private readonly headers: readonly string[];
  private readonly readingPlans: readonly ReadingPlan[];
  private readonly valuePlans: readonly ValuePlan[];
  private readonly tablePlans: readonly TablePlan[];
  /** Families without a source, written from series() every scrape, by index. */
  private readonly live: readonly number[];
  private readonly entries = new Map<string, HostEntry>();
  /**
   * Each family's text as last written (header included; '' when it had no line), or the pieces
   * to join for it: a family none of whose fragments changed, for the same hosts, is copied whole.
   */
  private readonly blocks: Array<string | string[]>;
  /** Families with a fragment written this scrape, by index. */
  private readonly changed: boolean[];
  /** The last scrape's hosts, in order, and which were online. */
  private lastList: HostEntry[] = [];
  private lastOnline: boolean[] = [];
  /** Label names of the live families already checked. */
  private readonly checked = new Set<string>();
  private scrape = 0;
  /** Fragments written (not reused) so far, for tests and benchmarks. */
  writes = 0;

  /** `families` in output order, their names checked already (PromWriter.family). */
  constructor(families: readonly HostMetric[]) {
    this.families = families;
    this.headers = families.map((m) => familyHeader(m.name, m.type, m.help));
    const readingPlans: ReadingPlan[] = [];
    const valuePlans: ValuePlan[] = [];
    const tables = new Map<TableName, TablePlan>();
    const live: number[] = [];
    families.forEach((m, fam) => {
      const src = m.source;
      if (!src) {
        live.push(fam);
      } else if (src.kind === 'value') {
        valuePlans.push({ fam, name: m.name, value: src.value });
      } else if (src.kind === 'readings') {
        readingPlans.push({
          fam, name: m.name,
          readings: src.readings.map((r) => ({ reading: r.reading, labelText: labelsText(r.labels, m.name), convert: r.export.convert })),
        });
      } else {
        let plan = tables.get(src.table);
        if (!plan) {
          const labelColumns = Object.keys(src.spec.labelColumns ?? {});
          const labelNames = labelColumns.map((c) => src.spec.labelColumns![c]!);
          for (const n of src.spec.indexLabel ? [src.spec.indexLabel, ...labelNames] : labelNames) labelsText({ [n]: '' }, m.name);
          plan = { table: src.table, indexText: src.spec.indexLabel ? `,${src.spec.indexLabel}="` : null, labelColumns, labelTexts: labelNames.map((n) => `,${n}="`), columns: [] };
          tables.set(src.table, plan);
        }
        plan.columns.push({ fam, name: m.name, column: src.column, convert: src.export.convert });
      }
    });
    this.readingPlans = readingPlans;
    this.valuePlans = valuePlans;
    this.tablePlans = [...tables.values()];
    this.live = live;
    this.blocks = families.map(() => '');
    this.changed = families.map(() => false);
    for (const fam of live) this.changed[fam] = true;
  }

  /** Hosts held: those of the last scrape. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Appends to `out` the text of every host family for `hosts` (unique names, in output order)
   * as of `nowMs`: each family's HELP and TYPE, then its lines host by host; a family without
   * lines is left out. Reading families (HostMetric.reading) only for online hosts. The caller
   * joins `out`.
   */
  write(hosts: readonly View[], nowMs: number, ctx: MetricsContext, out: string[]): void {
    const scrape = ++this.scrape;
    const list = new Array<HostEntry>(hosts.length);
    const online = new Array<boolean>(hosts.length);
    for (let k = 0; k < hosts.length; k++) {
      const h = hosts[k]!;
      let e = this.entries.get(h.name);
      if (!e) {
        e = { label: `host="${esc(h.name)}"`, seen: scrape, frags: new Array<string>(this.families.length).fill(''), vals: [], tables: [] };
        this.entries.set(h.name, e);
      }
      e.seen = scrape;
      list[k] = e;
      const isOnline = h.status === 'online';
      online[k] = isOnline;
      // Readings and tables are not written for a host that is not online: its fragments are
      // left as they are, and checked again when it is back.
      if (isOnline) {
        this.readings(h, e);
        this.tables(h, e);
      }
      this.values(h, e, nowMs, isOnline);
      this.liveFamilies(h, e, nowMs, ctx);
    }
    const sameHosts = sameList(this.lastList, list) && sameList(this.lastOnline, online);
    for (let fam = 0; fam < this.families.length; fam++) {
      if (sameHosts && !this.changed[fam]) {
        let block = this.blocks[fam]!;
        // Joined on its second scrape unchanged, not its first: a family that changes at every
        // scrape is never copied twice.
        if (typeof block !== 'string') this.blocks[fam] = block = block.join('');
        if (block !== '') out.push(block);
        continue;
      }
      const reading = this.families[fam]!.reading;
      const start = out.length;
      for (let k = 0; k < list.length; k++) {
        if (reading && !online[k]) continue;
        const frag = list[k]!.frags[fam]!;
        if (frag === '') continue;
        if (out.length === start) out.push(this.headers[fam]!);
        out.push(frag);
      }
      this.blocks[fam] = out.length === start ? '' : out.slice(start);
    }
    for (let fam = 0; fam < this.families.length; fam++) this.changed[fam] = false;
    for (const fam of this.live) this.changed[fam] = true;
    this.lastList = list;
    this.lastOnline = online;
    // Hosts gone since the last scrape (evicted, renamed) leave the cache.
    if (this.entries.size > hosts.length) {
      for (const [name, e] of this.entries) if (e.seen !== scrape) this.entries.delete(name);
    }
  }

  private readings(h: View, e: HostEntry): void {
    const r = h.readings;
    for (const plan of this.readingPlans) {
      const srcs = plan.readings;
      const old = e.vals[plan.fam];
      if (old !== undefined) {
        let j = 0;
        while (j < srcs.length && Object.is(old[j], r[srcs[j]!.reading] ?? null)) j++;
        if (j === srcs.length) continue;
      }
      const vals = new Array<number | null>(srcs.length);
      let text = '';
      for (let j = 0; j < srcs.length; j++) {
        const s = srcs[j]!;
        const v = r[s.reading] ?? null;
        vals[j] = v;
        if (v !== null) text += `${plan.name}{${e.label}${s.labelText}} ${fmt(s.convert ? s.convert(v) : v)}\n`;
      }
      e.vals[plan.fam] = vals;
      e.frags[plan.fam] = flat(text);
      this.changed[plan.fam] = true;
      this.writes++;
    }
  }

  private values(h: View, e: HostEntry, nowMs: number, isOnline: boolean): void {
    for (const plan of this.valuePlans) {
      if (!isOnline && this.families[plan.fam]!.reading) continue;
      const v = plan.value(h, nowMs);
      const old = e.vals[plan.fam];
      if (old !== undefined && Object.is(old[0], v)) continue;
      e.vals[plan.fam] = [v];
      e.frags[plan.fam] = v === null ? '' : flat(`${plan.name}{${e.label}} ${fmt(v)}\n`);
      this.changed[plan.fam] = true;
      this.writes++;
    }
  }

  private tables(h: View, e: HostEntry): void {
    const plans = this.tablePlans;
    for (let t = 0; t < plans.length; t++) {
      const plan = plans[t]!;
      const rows = 'tables' in h ? h.tables[plan.table] : undefined;
      const old = e.tables[t];
      if (old !== undefined && sameTable(plan, old, rows)) continue;
      const state = readTable(plan, rows);
      e.tables[t] = state;
      writeTable(plan, state, e);
      for (const col of plan.columns) this.changed[col.fam] = true;
      this.writes++;
    }
  }

  /** The families without a source, from their series() as given. */
  private liveFamilies(h: View, e: HostEntry, nowMs: number, ctx: MetricsContext): void {
    for (const fam of this.live) {
      const m = this.families[fam]!;
      let text = '';
      for (const [labels, value] of m.series(h, nowMs, ctx)) {
        if (value === null) continue;
        let lt = e.label;
        for (const key in labels) {
          if (!this.checked.has(key)) {
            checkLabelName(key);
            if (key === 'host') throw new TypeError(`metric ${m.name} sets the host label itself`);
            this.checked.add(key);
          }
          lt += `,${key}="${esc(labels[key]!)}"`;
        }
        text += `${m.name}{${lt}} ${fmt(value)}\n`;
      }
      e.frags[fam] = text;
    }
  }
}

type Row = Readonly<Record<string, unknown>> | number | null;
type Rows = ReadonlyArray<Row> | undefined;

/** A row's label text of label column c: the cell's text, '' where it is none. */
function labelAt(plan: TablePlan, row: Row, c: number): string {
  const text = row !== null && typeof row === 'object' ? row[plan.labelColumns[c]!] : undefined;
  return typeof text === 'string' ? text : '';
}

/** A row's cell of numeric column c: a finite number, else null. A per-core list's row is the number itself, whatever the column. */
function cellAt(plan: TablePlan, row: Row, c: number): number | null {
  const v = typeof row === 'number' ? row : row !== null && typeof row === 'object' ? row[plan.columns[c]!.column] : null;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `rows` hold what `old` was read from (no allocation: the common case is yes). */
function sameTable(plan: TablePlan, old: TableState, rows: Rows): boolean {
  const n = rows ? rows.length : 0;
  if (old.rows !== n) return false;
  const nl = plan.labelColumns.length;
  const nc = plan.columns.length;
  for (let i = 0; i < n; i++) {
    const row = rows![i]!;
    for (let c = 0; c < nl; c++) if (old.labels[i * nl + c] !== labelAt(plan, row, c)) return false;
    for (let c = 0; c < nc; c++) if (!Object.is(old.cells[i * nc + c], cellAt(plan, row, c))) return false;
  }
  return true;
}

function readTable(plan: TablePlan, rows: Rows): TableState {
  const n = rows ? rows.length : 0;
  const nl = plan.labelColumns.length;
  const nc = plan.columns.length;
  const labels = new Array<string>(n * nl);
  const cells = new Array<number | null>(n * nc);
  for (let i = 0; i < n; i++) {
    const row = rows![i]!;
    for (let c = 0; c < nl; c++) labels[i * nl + c] = labelAt(plan, row, c);
    for (let c = 0; c < nc; c++) cells[i * nc + c] = cellAt(plan, row, c);
  }
  return { rows: n, labels, cells };
}

/**
 * The fragment of each of the table's families. A row whose label set was already seen is left
 * out (a bind mount listed twice, two names cut to the same prefix): the first one wins. Rows
 * with an index label are unique by it.
 */
function writeTable(plan: TablePlan, t: TableState, e: HostEntry): void {
  const nl = plan.labelColumns.length;
  const nc = plan.columns.length;
  const frags = new Array<string>(nc).fill('');
  const seen = plan.indexText === null ? new Set<string>() : null;
  for (let i = 0; i < t.rows; i++) {
    if (seen) {
      const key = nl === 1 ? t.labels[i]! : JSON.stringify(t.labels.slice(i * nl, i * nl + nl));
      if (seen.has(key)) continue;
      seen.add(key);
    }
    let lt = e.label;
    if (plan.indexText !== null) lt += `${plan.indexText}${i}"`;
    for (let c = 0; c < nl; c++) lt += `${plan.labelTexts[c]!}${esc(t.labels[i * nl + c]!)}"`;
    for (let c = 0; c < nc; c++) {
      const v = t.cells[i * nc + c]!;
      if (v === null) continue;
      const col = plan.columns[c]!;
      frags[c] += `${col.name}{${lt}} ${fmt(col.convert ? col.convert(v) : v)}\n`;
    }
  }
  for (let c = 0; c < nc; c++) e.frags[plan.columns[c]!.fam] = flat(frags[c]!);
}
