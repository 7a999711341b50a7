/**
 * Message types and payload shapes of the agent protocol, and their validation.
 * Append-only: new message types and fields go at the end; a field is never renamed or
 * renumbered; a retired one is marked as such. Field by field, with units: shared/PROTOCOL.md.
 */
import { ERROR_CODES, ProtocolError, type ErrorCode } from './errors.ts';
import type { Message } from './frame_codec.ts';
import { UNSAFE_CHAR, UNSAFE_CHARS_GLOBAL } from './unsafe_chars.ts';

/** The protocol version spoken by this code; it travels in `hello` and `welcome`. */
export const PROTO_VERSION = 1;

export const MSG_HELLO = 'hello';
export const MSG_WELCOME = 'welcome';
export const MSG_ERROR = 'error';
export const MSG_SAMPLE = 'sample';
/** Collector -> agent, every `ack_interval_ms`: proves the link is alive in that direction. */
export const MSG_ACK = 'ack';
/** Agent -> collector, after the welcome: static facts that changed since the hello. */
export const MSG_FACTS = 'facts';

/** Bounds on strings, in UTF-8 bytes. */
export const MAX_HOST_BYTES = 253;
export const MAX_AGENT_VERSION_BYTES = 32;
export const MAX_TOKEN_BYTES = 256;
export const MAX_OS_BYTES = 64;
export const MAX_KERNEL_BYTES = 64;
export const MAX_ARCH_BYTES = 16;
export const MAX_CPU_MODEL_BYTES = 96;
export const MAX_REASON_BYTES = 200;
/** Most entries in a sample's `missing` map (one per reading or table, with room to grow). */
export const MAX_MISSING_ENTRIES = 64;
/** Bounds on the sampling interval an agent announces, in milliseconds. */
export const MIN_INTERVAL_MS = 100;
export const MAX_INTERVAL_MS = 60_000;
export const DEFAULT_INTERVAL_MS = 1000;
export const MAX_CPU_CORES = 65_536;

export interface Hello {
  type: typeof MSG_HELLO;
  proto: number;
  /** The host's name, normalised (NFC); its identity on the collector. */
  host: string;
  /** Agent version text. */
  agent: string;
  token: string;
  interval_ms: number;
  os?: string;
  kernel?: string;
  arch?: string;
  cpu_model?: string;
  cpu_cores?: number;
  /**
   * The agent's clock when it sent the hello, ms since the epoch. Lets the collector place
   * replayed samples of an agent whose clock is off at the collector's time (PROTOCOL.md, "Time").
   */
  ts?: number;
}

/** Static facts that changed after the hello (a CPU brought online, an OS upgraded in place). */
export type Facts = { type: typeof MSG_FACTS } & Pick<Hello, 'os' | 'kernel' | 'arch' | 'cpu_model' | 'cpu_cores'>;

export interface Welcome {
  type: typeof MSG_WELCOME;
  proto: number;
  /** The host name as the collector stored it. */
  host: string;
  /** Collector version text. */
  collector: string;
  /** Largest frame the collector accepts from now on, in bytes. */
  max_frame_bytes: number;
  /**
   * The collector sends an `ack` at least this often, ms. An agent that hears nothing for a few
   * of these knows the collector is gone (even without a FIN) and reconnects.
   */
  ack_interval_ms: number;
}

export interface Ack {
  type: typeof MSG_ACK;
  /** seq of the last sample the collector accepted on this connection (0: none yet). */
  seq: number;
}

export interface ErrorMessage {
  type: typeof MSG_ERROR;
  code: ErrorCode;
  message: string;
}

/**
 * How a reading's value is checked: percent 0-100; gauge, bytes, seconds, count >= 0 (bytes and
 * count whole numbers); celsius -273.15..1000 (a sensor outdoors reads below zero).
 */
type ReadingKind = 'percent' | 'gauge' | 'bytes' | 'seconds' | 'count' | 'celsius';

/**
 * Every reading a sample may carry, in wire order. All are optional: a reading that could not be
 * taken is left out and named in `missing`. Append only.
 */
export const READINGS = Object.freeze([
  { name: 'cpu_pct', kind: 'percent', doc: 'CPU busy, all cores, % (0-100)' },
  { name: 'load_1m', kind: 'gauge', doc: 'load average over 1 minute' },
  { name: 'load_5m', kind: 'gauge', doc: 'load average over 5 minutes' },
  { name: 'load_15m', kind: 'gauge', doc: 'load average over 15 minutes' },
  { name: 'mem_total_bytes', kind: 'bytes', doc: 'physical memory' },
  { name: 'mem_used_bytes', kind: 'bytes', doc: 'memory in use: total - available' },
  { name: 'mem_available_bytes', kind: 'bytes', doc: 'memory available for new work (MemAvailable)' },
  { name: 'swap_total_bytes', kind: 'bytes', doc: 'swap space' },
  { name: 'swap_used_bytes', kind: 'bytes', doc: 'swap in use' },
  { name: 'uptime_s', kind: 'seconds', doc: 'time since boot, seconds' },
  // Appended with protocol 1 still current: older collectors ignore them.
  { name: 'cpu_user_pct', kind: 'percent', doc: 'CPU in user mode (user + nice), all cores, %' },
  { name: 'cpu_system_pct', kind: 'percent', doc: 'CPU in the kernel (system + irq + softirq), all cores, %' },
  { name: 'cpu_iowait_pct', kind: 'percent', doc: 'CPU idle waiting for I/O, all cores, %' },
  { name: 'cpu_steal_pct', kind: 'percent', doc: 'CPU taken by the hypervisor for other guests, all cores, %' },
  { name: 'cpu_freq_mhz', kind: 'gauge', doc: 'current CPU clock, mean over cores, MHz' },
  { name: 'mem_cached_bytes', kind: 'bytes', doc: 'page cache (Cached + SReclaimable)' },
  { name: 'mem_buffers_bytes', kind: 'bytes', doc: 'block-device buffers (Buffers)' },
  { name: 'disk_read_bps', kind: 'gauge', doc: 'bytes read per second, all physical disks' },
  { name: 'disk_write_bps', kind: 'gauge', doc: 'bytes written per second, all physical disks' },
  { name: 'disk_read_iops', kind: 'gauge', doc: 'read operations completed per second, all physical disks' },
  { name: 'disk_write_iops', kind: 'gauge', doc: 'write operations completed per second, all physical disks' },
  { name: 'net_rx_bps', kind: 'gauge', doc: 'bytes received per second, all interfaces but loopback' },
  { name: 'net_tx_bps', kind: 'gauge', doc: 'bytes sent per second, all interfaces but loopback' },
  { name: 'temp_cpu_c', kind: 'celsius', doc: 'CPU package temperature, °C' },
  { name: 'temp_max_c', kind: 'celsius', doc: 'hottest temperature sensor of the machine, °C' },
  { name: 'procs_total', kind: 'count', doc: 'processes' },
  { name: 'procs_running', kind: 'count', doc: 'processes running or runnable' },
  { name: 'procs_blocked', kind: 'count', doc: 'processes blocked on I/O' },
  { name: 'power_w', kind: 'gauge', doc: 'power the machine draws, W' },
] as const satisfies ReadonlyArray<{ name: string; kind: ReadingKind; doc: string }>);

export type ReadingName = (typeof READINGS)[number]['name'];

/** One column of a table reading: a number checked like a reading, or bounded text. */
type ColumnKind = ReadingKind | 'text';
interface ColumnSpec { readonly name: string; readonly kind: ColumnKind; readonly maxBytes?: number; readonly doc: string }
interface TableSpec { readonly name: string; readonly maxRows: number; readonly columns: readonly ColumnSpec[]; readonly doc: string }

/** Most rows a table may carry on the wire; shared memory keeps fewer (shm_layout.ts) and counts the rest. */
export const MAX_WIRE_ROWS = 1024;
/** Longest text in a table cell, UTF-8 bytes: a mount point or a process name. Longer is refused. */
export const MAX_CELL_BYTES = 512;

/**
 * Readings with a count that varies by machine, as arrays of maps (or of numbers, for the
 * per-core lists). Every column is optional in a row except the text that names it; a value
 * that could not be read is left out. Append only.
 */
export const TABLES = Object.freeze([
  { name: 'cpu_cores_pct', maxRows: MAX_WIRE_ROWS, columns: [{ name: 'pct', kind: 'percent', doc: 'busy %' }], doc: 'per logical core, busy %, as an array of numbers' },
  { name: 'temp_cores_c', maxRows: MAX_WIRE_ROWS, columns: [{ name: 'c', kind: 'celsius', doc: '°C' }], doc: 'per physical core temperature, °C, as an array of numbers' },
  {
    name: 'fs', maxRows: MAX_WIRE_ROWS, doc: 'mounted filesystems (pseudo and container-overlay left out)',
    columns: [
      { name: 'mount', kind: 'text', maxBytes: MAX_CELL_BYTES, doc: 'mount point' },
      { name: 'type', kind: 'text', maxBytes: 64, doc: 'filesystem type, e.g. ext4' },
      { name: 'size_bytes', kind: 'bytes', doc: 'size' },
      { name: 'used_bytes', kind: 'bytes', doc: 'used' },
      { name: 'free_bytes', kind: 'bytes', doc: 'available to unprivileged users' },
    ],
  },
  {
    name: 'net', maxRows: MAX_WIRE_ROWS, doc: 'network interfaces, loopback left out',
    columns: [
      { name: 'name', kind: 'text', maxBytes: 64, doc: 'interface name' },
      { name: 'rx_bps', kind: 'gauge', doc: 'bytes received per second' },
      { name: 'tx_bps', kind: 'gauge', doc: 'bytes sent per second' },
      { name: 'rx_pps', kind: 'gauge', doc: 'packets received per second' },
      { name: 'tx_pps', kind: 'gauge', doc: 'packets sent per second' },
      { name: 'rx_errs_ps', kind: 'gauge', doc: 'receive errors per second' },
      { name: 'tx_errs_ps', kind: 'gauge', doc: 'transmit errors per second' },
      { name: 'rx_drops_ps', kind: 'gauge', doc: 'received packets dropped per second' },
      { name: 'tx_drops_ps', kind: 'gauge', doc: 'sent packets dropped per second' },
    ],
  },
  {
    name: 'gpu', maxRows: 64, doc: 'graphics processors',
    columns: [
      { name: 'model', kind: 'text', maxBytes: 128, doc: 'vendor and model' },
      { name: 'util_pct', kind: 'percent', doc: 'utilisation %' },
      { name: 'mem_used_bytes', kind: 'bytes', doc: 'memory used' },
      { name: 'mem_total_bytes', kind: 'bytes', doc: 'memory' },
      { name: 'temp_c', kind: 'celsius', doc: 'temperature, °C' },
      { name: 'power_w', kind: 'gauge', doc: 'power draw, W' },
    ],
  },
  {
    name: 'procs_top', maxRows: 64, doc: 'the processes using most CPU, busiest first',
    columns: [
      { name: 'name', kind: 'text', maxBytes: 256, doc: 'process name' },
      { name: 'pid', kind: 'count', doc: 'process id' },
      { name: 'cpu_pct', kind: 'gauge', doc: '% of one core, as top shows it (may exceed 100)' },
    ],
  },
  {
    name: 'power_zones', maxRows: 64, doc: 'measured power by RAPL zone (package, dram, psys ...); power_w is their total without double counting',
    columns: [
      { name: 'zone', kind: 'text', maxBytes: 64, doc: 'zone, e.g. package-0, package-0/dram, psys' },
      { name: 'watts', kind: 'gauge', doc: 'power, W' },
    ],
  },
] as const satisfies readonly TableSpec[]);

/**
 * Where a sample's `power_w` comes from: `measured` (energy counters, GPU board sensors) or
 * `estimated` (the agent's model from CPU load and memory). Travels beside power_w; an unknown
 * value is refused, a source without power_w is dropped.
 */
export const POWER_SOURCES = Object.freeze(['measured', 'estimated'] as const);
export type PowerSource = (typeof POWER_SOURCES)[number];

export type TableName = (typeof TABLES)[number]['name'];
type ColumnValue<C> = C extends { kind: 'text' } ? string : number;
type RowOf<T extends TableSpec> = { [C in T['columns'][number] as C['name']]?: ColumnValue<C> };
/** A table's rows: numbers for the per-core lists, maps for the others. */
export type TableRows<N extends TableName> = Extract<(typeof TABLES)[number], { name: N }> extends infer T
  ? T extends TableSpec ? (T['columns'] extends readonly [ColumnSpec] ? number[] : Array<RowOf<T>>) : never
  : never;
export type Tables = { [N in TableName]?: TableRows<N> };

/** Every reading and table a sample may carry: what a collector returns. */
export type Readings = Partial<Record<ReadingName, number>> & Tables;

export interface Sample extends Readings {
  type: typeof MSG_SAMPLE;
  /** 1, 2, 3 ... per connection. */
  seq: number;
  /** When the agent took the sample, ms since the epoch (agent's clock). */
  ts: number;
  /** Readings left out of this sample, with the reason each could not be taken. */
  missing?: Record<string, string>;
  /** Rows the agent left out of a table to keep the frame small, by table name. */
  truncated?: Partial<Record<TableName, number>>;
  /** Where power_w comes from (POWER_SOURCES); present only with power_w. */
  power_source?: PowerSource;
}

export type AgentMessage = Hello | Sample | Facts;

function bad(field: string, message: string, code: ErrorCode = ERROR_CODES.PROTO_BAD_FIELD): ProtocolError {
  return new ProtocolError(code, `${field}: ${message}`, field);
}

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Agent text that people read (versions, OS, kernel, CPU model, reasons): its unsafe characters
 * (shared/unsafe_chars.ts: controls, bidi, invisible) become U+FFFD, as in table cells, so that none
 * can reorder or hide what a page shows. Checked against its byte bound before.
 */
function shown(s: string): string {
  return UNSAFE_CHAR.test(s) ? s.replace(UNSAFE_CHARS_GLOBAL, '\uFFFD') : s;
}

function str(msg: Message, field: string, maxBytes: number, required: true): string;
function str(msg: Message, field: string, maxBytes: number, required: false): string | undefined;
function str(msg: Message, field: string, maxBytes: number, required: boolean): string | undefined {
  const v = msg[field];
  if (v === undefined || v === null) {
    if (required) throw bad(field, 'missing');
    return undefined;
  }
  if (typeof v !== 'string') throw bad(field, `must be a string, got ${typeof v}`);
  if (required && v.length === 0) throw bad(field, 'must not be empty');
  if (utf8Bytes(v) > maxBytes) throw bad(field, `longer than ${maxBytes} bytes`);
  return v;
}

function int(msg: Message, field: string, min: number, max: number, required: boolean): number | undefined {
  const v = msg[field];
  if (v === undefined || v === null) {
    if (required) throw bad(field, 'missing');
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(field, 'must be an integer');
  if (v < min || v > max) throw bad(field, `must be from ${min} to ${max}, got ${v}`);
  return v;
}

/**
 * Normalises and checks a host name. Rule (PROTOCOL.md, "Host names"): Unicode NFC, 1-253 UTF-8
 * bytes, no control, bidi-control or line-separator characters, no leading or trailing space.
 * Case is kept: two names that differ only in case stay two hosts, so distinct hosts never merge.
 * Markup characters are allowed and escaped wherever a name is shown.
 */
export function normaliseHostName(raw: unknown, field = 'host'): string {
  if (typeof raw !== 'string') throw bad(field, `must be a string, got ${typeof raw}`);
  const name = raw.normalize('NFC');
  if (name.length === 0) throw bad(field, 'must not be empty');
  if (utf8Bytes(name) > MAX_HOST_BYTES) throw bad(field, `longer than ${MAX_HOST_BYTES} bytes`);
  if (UNSAFE_CHAR.test(name)) throw bad(field, 'contains a control, invisible, bidi-control or line-separator character');
  if (name.trim() !== name) throw bad(field, 'must not start or end with white space');
  return name;
}

/**
 * A host name as a new host may take it (a hello, an agent's --name, `npm run token add`):
 * normaliseHostName's rules, and not "." or "..", which a browser reads in a URL path as "here"
 * and "up", even written %2E, so no link could reach such a host's page, nor its page its API.
 * Names kept from before the rule (a token file, a saved state) still load through normaliseHostName.
 */
export function newHostName(raw: unknown, field = 'host'): string {
  const name = normaliseHostName(raw, field);
  if (name === '.' || name === '..') throw bad(field, 'must not be "." or "..": a URL path cannot name it');
  return name;
}

function checkType(msg: Message): string {
  const t = msg['type'];
  if (typeof t !== 'string') throw bad('type', 'missing or not a string');
  return t;
}

/** Validates the first frame of a session. Throws ProtocolError. */
export function parseHello(msg: Message): Hello {
  const type = checkType(msg);
  if (type !== MSG_HELLO) throw bad('type', `the first frame must be "hello", got "${truncate(type)}"`, ERROR_CODES.PROTO_UNEXPECTED);
  const proto = msg['proto'];
  if (proto !== PROTO_VERSION) {
    throw bad('proto', `this collector speaks protocol ${PROTO_VERSION}, got ${describeValue(proto)}`, ERROR_CODES.PROTO_VERSION);
  }
  const hello: Hello = {
    type: MSG_HELLO,
    proto: PROTO_VERSION,
    host: newHostName(msg['host']),
    agent: shown(str(msg, 'agent', MAX_AGENT_VERSION_BYTES, true)),
    token: str(msg, 'token', MAX_TOKEN_BYTES, true),
    interval_ms: int(msg, 'interval_ms', MIN_INTERVAL_MS, MAX_INTERVAL_MS, false) ?? DEFAULT_INTERVAL_MS,
  };
  Object.assign(hello, staticFacts(msg));
  const ts = msg['ts'];
  if (ts !== undefined && ts !== null) {
    if (typeof ts !== 'number' || !Number.isFinite(ts) || ts <= 0 || ts > Number.MAX_SAFE_INTEGER) {
      throw bad('ts', 'must be a positive number of ms since the epoch, below 2^53');
    }
    hello.ts = ts;
  }
  return hello;
}

/**
 * Validates the fields of a sample (the collector's handler map has already routed it here by
 * its type). Unknown fields are ignored, so a newer agent can talk to an older collector.
 * Throws ProtocolError.
 */
export function parseSample(msg: Message): Sample {
  const seq = int(msg, 'seq', 1, Number.MAX_SAFE_INTEGER, true)!;
  const ts = msg['ts'];
  if (typeof ts !== 'number' || !Number.isFinite(ts) || ts <= 0 || ts > Number.MAX_SAFE_INTEGER) {
    throw bad('ts', 'must be a positive number of ms since the epoch, below 2^53');
  }
  const sample: Sample = { type: MSG_SAMPLE, seq, ts };
  for (const r of READINGS) {
    const v = msg[r.name];
    if (v === undefined || v === null) continue;
    sample[r.name] = checkReading(r.name, r.kind, v);
  }
  checkRelation(sample, 'mem_used_bytes', 'mem_total_bytes');
  checkRelation(sample, 'mem_available_bytes', 'mem_total_bytes');
  checkRelation(sample, 'swap_used_bytes', 'swap_total_bytes');
  checkRelation(sample, 'mem_cached_bytes', 'mem_total_bytes');
  checkRelation(sample, 'mem_buffers_bytes', 'mem_total_bytes');
  checkRelation(sample, 'procs_running', 'procs_total');
  checkRelation(sample, 'procs_blocked', 'procs_total');
  for (const t of TABLES) {
    const rows = parseTable(t, msg[t.name]);
    if (rows !== undefined) (sample as unknown as Record<string, unknown>)[t.name] = rows;
  }
  const source = msg['power_source'];
  if (source !== undefined && source !== null) {
    if (typeof source !== 'string' || !(POWER_SOURCES as readonly string[]).includes(source)) {
      throw bad('power_source', `must be one of ${POWER_SOURCES.join(', ')}, got ${describeValue(source)}`);
    }
    if (sample.power_w !== undefined) sample.power_source = source as PowerSource;
  }
  const missing = parseMissing(msg['missing']);
  if (missing) sample.missing = missing;
  const truncated = parseTruncated(msg['truncated']);
  if (truncated) sample.truncated = truncated;
  return sample;
}

/** `truncated`: table name -> rows left out (a whole number); unknown table names are ignored. */
function parseTruncated(v: unknown): Sample['truncated'] {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('truncated', 'must be a map of table name to a count of rows');
  const out: Partial<Record<TableName, number>> = {};
  for (const t of TABLES) {
    const n = (v as Record<string, unknown>)[t.name];
    if (n === undefined || n === null) continue;
    out[t.name] = checkReading(`truncated.${t.name}`, 'count', n);
  }
  return out;
}

/**
 * Validates a table: an array of at most maxRows rows; for a one-column table each row is a
 * number, else a map whose known columns are checked (unknown ones ignored, so a newer agent
 * can add columns). Text cells keep their characters; unsafe ones (controls, bidi, invisible)
 * become U+FFFD so that no name can reorder or hide what a page shows.
 */
function parseTable(t: TableSpec, v: unknown): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw bad(t.name, 'must be an array');
  if (v.length > t.maxRows) throw bad(t.name, `more than ${t.maxRows} rows`);
  const single = t.columns.length === 1;
  return v.map((row: unknown, i) => {
    const where = `${t.name}[${i}]`;
    if (single) return checkReading(where, t.columns[0]!.kind as ReadingKind, row);
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw bad(where, 'must be a map');
    const out: Record<string, string | number> = {};
    for (const c of t.columns) {
      const cell = (row as Record<string, unknown>)[c.name];
      if (cell === undefined || cell === null) continue;
      if (c.kind === 'text') {
        if (typeof cell !== 'string') throw bad(`${where}.${c.name}`, `must be a string, got ${typeof cell}`);
        if (utf8Bytes(cell) > c.maxBytes!) throw bad(`${where}.${c.name}`, `longer than ${c.maxBytes} bytes`);
        out[c.name] = cell.replace(UNSAFE_CHARS_GLOBAL, '\uFFFD');
      } else {
        out[c.name] = checkReading(`${where}.${c.name}`, c.kind, cell);
      }
    }
    if (t.columns[0]!.kind === 'text' && out[t.columns[0]!.name] === undefined) throw bad(`${where}.${t.columns[0]!.name}`, 'missing');
    return out;
  });
}

/** Validates a `facts` message: the optional static fields of the hello. Throws ProtocolError. */
export function parseFacts(msg: Message): Facts {
  return { type: MSG_FACTS, ...staticFacts(msg) };
}

/** The optional static facts of a hello or a facts message, each checked; absent ones left out. */
function staticFacts(msg: Message): Omit<Facts, 'type'> {
  const facts: Omit<Facts, 'type'> = {};
  const os = str(msg, 'os', MAX_OS_BYTES, false);
  const kernel = str(msg, 'kernel', MAX_KERNEL_BYTES, false);
  const arch = str(msg, 'arch', MAX_ARCH_BYTES, false);
  const cpuModel = str(msg, 'cpu_model', MAX_CPU_MODEL_BYTES, false);
  const cores = int(msg, 'cpu_cores', 1, MAX_CPU_CORES, false);
  if (os !== undefined) facts.os = shown(os);
  if (kernel !== undefined) facts.kernel = shown(kernel);
  if (arch !== undefined) facts.arch = shown(arch);
  if (cpuModel !== undefined) facts.cpu_model = shown(cpuModel);
  if (cores !== undefined) facts.cpu_cores = cores;
  return facts;
}

function checkReading(name: string, kind: ReadingKind, v: unknown): number {
  if (typeof v !== 'number') throw bad(name, `must be a number, got ${typeof v}`);
  if (!Number.isFinite(v)) throw bad(name, 'must be finite (NaN and Infinity are refused)');
  if (kind === 'celsius') {
    if (v < -273.15 || v > 1000) throw bad(name, `must be from -273.15 to 1000 °C, got ${v}`);
    return v;
  }
  if (v < 0) throw bad(name, `must not be negative, got ${v}`);
  if (kind === 'percent' && v > 100) throw bad(name, `must be from 0 to 100, got ${v}`);
  if (kind === 'bytes' && !Number.isSafeInteger(v)) throw bad(name, 'must be a whole number of bytes below 2^53');
  if (kind === 'count' && !Number.isSafeInteger(v)) throw bad(name, 'must be a whole number below 2^53');
  if (v > Number.MAX_SAFE_INTEGER) throw bad(name, 'must be below 2^53');
  return v;
}

function checkRelation(s: Sample, part: ReadingName, whole: ReadingName): void {
  const p = s[part];
  const w = s[whole];
  if (p !== undefined && w !== undefined && p > w) throw bad(part, `must not exceed ${whole} (${p} > ${w})`);
}

function parseMissing(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('missing', 'must be a map of reading name to reason');
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > MAX_MISSING_ENTRIES) throw bad('missing', `more than ${MAX_MISSING_ENTRIES} entries`);
  const out: Record<string, string> = {};
  for (const [name, reason] of entries) {
    if (typeof reason !== 'string') throw bad(`missing.${truncate(name)}`, 'reason must be a string');
    if (utf8Bytes(reason) > MAX_REASON_BYTES) throw bad(`missing.${truncate(name)}`, `reason longer than ${MAX_REASON_BYTES} bytes`);
    out[shown(name)] = shown(reason);
  }
  return out;
}

/**
 * A decoded value in an error message without calling anything on it: String() of a decoded map
 * would call its `toString` key, which an agent controls (found by the fuzz suite).
 */
function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(truncate(v));
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

/** Keeps agent text quoted in error messages short. */
function truncate(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
