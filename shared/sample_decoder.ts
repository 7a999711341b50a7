/**
 * The fast path for the one message that arrives every second from every agent: a `sample`
 * frame body decoded and validated in one pass over its bytes, straight into the Sample that
 * `parseSample(decodeBody(body))` would build, without the guard walk, msgpackr's generic map
 * building and a second validation walk over the result (together ~4x the cost; measured by
 * `npm run bench -- codec`). Pure: bytes in, a Sample or BAIL out.
 *
 * The wire format is unchanged: plain msgpack maps, so agents in any language keep working.
 * The rule that keeps this safe: it only *accepts*. It handles the shapes a well-behaved agent
 * sends (a map of known keys, each once, with values of the right type and range; ASCII text)
 * and answers BAIL for anything else (an unknown or repeated key, a non-ASCII string, a value
 * out of range, an ext type, trailing bytes, a limit lower than its own bounds ...). The
 * caller then runs the general path, which accepts what it accepts and refuses the rest with
 * its own coded error. So this module can never let through what the general path refuses,
 * and the two are held to the same results by a differential test over mutated frames
 * (test/shared/sample_decoder.test.ts).
 *
 * Every length is checked against the bytes that remain and against the field's bound before
 * anything is read or allocated.
 */
import { DEFAULT_GUARD_LIMITS, type GuardLimits } from './msgpack_guard.ts';
import {
  MAX_MISSING_ENTRIES, MAX_REASON_BYTES, MSG_SAMPLE, POWER_SOURCES, READINGS, TABLES,
  type PowerSource, type ReadingName, type Sample, type TableName,
} from './protocol.ts';
import { UNSAFE_CHAR, UNSAFE_CHARS_GLOBAL } from './unsafe_chars.ts';

/** Returned when this fast path does not decide: run the general path. */
export const BAIL = null;

type Kind = 'percent' | 'gauge' | 'bytes' | 'seconds' | 'count' | 'celsius' | 'text';
const K_PERCENT = 0;
const K_GAUGE = 1;
const K_BYTES = 2;
const K_SECONDS = 3;
const K_COUNT = 4;
const K_CELSIUS = 5;
const K_TEXT = 6;
const KIND_CODE: Readonly<Record<Kind, number>> = { percent: K_PERCENT, gauge: K_GAUGE, bytes: K_BYTES, seconds: K_SECONDS, count: K_COUNT, celsius: K_CELSIUS, text: K_TEXT };

/** Longest key of `missing` taken on the fast path (reading names are far shorter). */
const MAX_MISSING_KEY_BYTES = 64;

interface ColumnPlan { name: string; bytes: Uint8Array; kind: number; maxBytes: number }
interface TablePlan { name: TableName; maxRows: number; single: boolean; columns: ColumnPlan[]; makers: Map<number, RowMaker> }

// Top-level keys, by id: 0 type, 1 seq, 2 ts, then readings, tables, power_source, missing, truncated.
const ID_TYPE = 0;
const ID_SEQ = 1;
const ID_TS = 2;
const ID_READING0 = 3;
const ID_TABLE0 = ID_READING0 + READINGS.length;
const ID_POWER_SOURCE = ID_TABLE0 + TABLES.length;
const ID_MISSING = ID_POWER_SOURCE + 1;
const ID_TRUNCATED = ID_MISSING + 1;
const KEY_COUNT = ID_TRUNCATED + 1;

const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const KEY_NAMES: readonly string[] = ['type', 'seq', 'ts', ...READINGS.map((r) => r.name), ...TABLES.map((t) => t.name), 'power_source', 'missing', 'truncated'];
const KEY_BYTES: readonly Uint8Array[] = KEY_NAMES.map(latin1);
const READING_KIND: readonly number[] = READINGS.map((r) => KIND_CODE[r.kind as Kind]);
const TABLE_PLANS: readonly TablePlan[] = TABLES.map((t) => ({
  name: t.name,
  maxRows: t.maxRows,
  single: t.columns.length === 1,
  columns: t.columns.map((c) => ({ name: c.name, bytes: latin1(c.name), kind: KIND_CODE[c.kind as Kind], maxBytes: 'maxBytes' in c ? c.maxBytes : 0 })),
  makers: new Map<number, RowMaker>(),
}));
const TYPE_SAMPLE = latin1(MSG_SAMPLE);
const POWER_SOURCE_BYTES = POWER_SOURCES.map(latin1);
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** Key lookup: (length, first byte, last byte) -> candidate ids, then a byte compare. */
const KEY_INDEX = new Map<number, number[]>();
for (let id = 0; id < KEY_COUNT; id++) {
  const b = KEY_BYTES[id]!;
  const h = keyHash(b, 0, b.length);
  const list = KEY_INDEX.get(h);
  if (list) list.push(id);
  else KEY_INDEX.set(h, [id]);
}

function keyHash(buf: Uint8Array, at: number, len: number): number {
  return (len << 16) | (buf[at]! << 8) | buf[at + len - 1]!;
}

// The decoder's state: module-level, as decoding is synchronous and never re-entered.
let buf: Uint8Array = new Uint8Array(0);
let view: DataView = new DataView(buf.buffer);
let pos = 0;
let end = 0;
/** Set by readNumber when the value is not a number it can take. */
let notNumber = false;

/**
 * Decodes and validates a `sample` frame body (without its length prefix). Returns the Sample,
 * exactly as `parseSample(decodeBody(body, limits))` would, or BAIL: then run that instead.
 */
export function decodeSampleFast(body: Uint8Array, limits: GuardLimits = DEFAULT_GUARD_LIMITS): Sample | null {
  // The shapes taken here nest 3 deep, with strings up to 512 bytes, arrays of up to 1024 and
  // maps of at most KEY_COUNT distinct keys: a caller with tighter limits gets the general path.
  if (limits !== DEFAULT_GUARD_LIMITS && (limits.maxDepth < 3 || limits.maxStringBytes < 512 || limits.maxArrayLength < 1024 || limits.maxMapSize < Math.max(KEY_COUNT, MAX_MISSING_ENTRIES))) return BAIL;
  buf = body;
  view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  pos = 0;
  end = body.length;
  try {
    return decodeTop();
  } finally {
    buf = EMPTY;
    view = EMPTY_VIEW;
  }
}
const EMPTY = new Uint8Array(0);
/** The key id seen at each ordinal of the last top-level map (a guess, checked before use). */
const LAST_IDS = new Int16Array(KEY_COUNT).fill(-1);
// Reused by every call (decoding is synchronous): no allocation per sample for them.
const READINGS_SCRATCH = new Float64Array(READINGS.length);
const TABLES_SCRATCH: Array<unknown[] | undefined> = new Array<unknown[] | undefined>(TABLES.length).fill(undefined);
const EMPTY_VIEW = new DataView(EMPTY.buffer);

function decodeTop(): Sample | null {
  const count = readMapHeader();
  if (count < 0) return BAIL;
  let seen0 = 0; // ids 0..31
  let seen1 = 0; // ids 32..63
  const readings = READINGS_SCRATCH.fill(Number.NaN);
  const tables = TABLES_SCRATCH.fill(undefined);
  let typeOk = false;
  let seq = Number.NaN;
  let ts = Number.NaN;
  let source: PowerSource | undefined;
  let missing: Record<string, string> | undefined;
  for (let k = 0; k < count; k++) {
    const id = readKnownKey(k);
    if (id < 0) return BAIL;
    if (id < 32) {
      if ((seen0 & (1 << id)) !== 0) return BAIL;
      seen0 |= 1 << id;
    } else {
      if ((seen1 & (1 << (id - 32))) !== 0) return BAIL;
      seen1 |= 1 << (id - 32);
    }
    if (pos >= end) return BAIL;
    // nil: the general path treats a nil value as absent for every field but type/seq/ts.
    if (buf[pos] === 0xc0 && id > ID_TS) {
      pos++;
      continue;
    }
    if (id === ID_TYPE) {
      if (!readExactString(TYPE_SAMPLE)) return BAIL;
      typeOk = true;
    } else if (id === ID_SEQ) {
      seq = readNumber();
      if (notNumber || !Number.isInteger(seq) || seq < 1 || seq > Number.MAX_SAFE_INTEGER) return BAIL;
    } else if (id === ID_TS) {
      ts = readNumber();
      if (notNumber || !Number.isFinite(ts) || ts <= 0 || ts > Number.MAX_SAFE_INTEGER) return BAIL;
    } else if (id < ID_TABLE0) {
      const v = readNumber();
      if (notNumber || !validReading(READING_KIND[id - ID_READING0]!, v)) return BAIL;
      readings[id - ID_READING0] = v;
    } else if (id < ID_POWER_SOURCE) {
      const rows = readTable(TABLE_PLANS[id - ID_TABLE0]!);
      if (rows === BAIL) return BAIL;
      tables[id - ID_TABLE0] = rows;
    } else if (id === ID_POWER_SOURCE) {
      let which = -1;
      for (let i = 0; i < POWER_SOURCE_BYTES.length && which < 0; i++) {
        const at = pos;
        if (readExactString(POWER_SOURCE_BYTES[i]!)) which = i;
        else pos = at;
      }
      if (which < 0) return BAIL;
      source = POWER_SOURCES[which];
    } else if (id === ID_MISSING) {
      const m = readMissing();
      if (m === BAIL) return BAIL;
      missing = m;
    } else {
      return BAIL; // truncated: rare (a frame cut to size); the general path
    }
  }
  if (pos !== end || !typeOk || Number.isNaN(seq) || Number.isNaN(ts)) return BAIL;
  let readingBits = 0;
  for (let r = 0; r < READINGS.length; r++) if (!Number.isNaN(readings[r]!)) readingBits |= 1 << r;
  let tableBits = 0;
  for (let t = 0; t < TABLES.length; t++) if (tables[t] !== undefined) tableBits |= 1 << t;
  const sample = sampleMaker((readingBits >>> 0) + tableBits * TABLE_BIT0)(seq, ts, readings, tables);
  if (!relationsHold(sample)) return BAIL;
  if (source !== undefined && sample.power_w !== undefined) sample.power_source = source;
  if (missing) sample.missing = missing;
  return sample;
}

/*
 * Objects of a constant shape. Adding ~30 properties one by one under computed names costs a
 * megamorphic keyed store each (about 40 % of the decode, measured with --cpu-prof); an object
 * literal with the names written out is one allocation of a fixed shape, and it also makes the
 * readers' named loads (collector/hosts.ts) monomorphic. So each combination of fields present
 * gets a maker, compiled once from the protocol's own constant names (never from received
 * bytes; checked to be plain identifiers below) and kept in a small cache: an agent sends the
 * same fields every second, a fleet a handful of combinations. Properties come in the order the
 * general path (protocol.ts parseSample) gives them: readings, then tables, and a row's columns,
 * each in protocol order, whatever the wire order; so the result is the same object.
 */
type SampleMaker = (seq: number, ts: number, readings: Float64Array, tables: ReadonlyArray<unknown[] | undefined>) => Sample;
type RowMaker = (values: ReadonlyArray<string | number>) => Record<string, string | number>;
/**
 * Most makers kept per cache. A full cache is not cleared: an agent sending a new combination in
 * every sample (a hostile one can: 2^40 exist) made each sample cost a compile, 10-20x its decode.
 * Instead a new combination is built field by field with no compile (the same object, made
 * slower), and once every EVICT_EVERY_MS the cache's oldest maker gives its place to a new one,
 * so that shapes a sender filled it with early do not keep the fleet's own off it for good. A
 * fleet uses a handful of combinations.
 */
const MAX_MAKERS = 256;
/** A full cache compiles at most one new maker this often, ms (all caches of this thread together). */
const EVICT_EVERY_MS = 1000;
let lastEvictMs = Number.NEGATIVE_INFINITY;

/** Whether `cache` may take a new maker now: below MAX_MAKERS, or its oldest evicted on the compile budget. */
function roomIn(cache: Map<number, unknown>): boolean {
  if (cache.size < MAX_MAKERS) return true;
  const now = Date.now();
  if (now - lastEvictMs < EVICT_EVERY_MS) return false;
  lastEvictMs = now;
  cache.delete(cache.keys().next().value!);
  return true;
}
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
// The presence bits are gathered in 32-bit integers (a float power per field costs more than the
// rest of the decode of that field).
if (READINGS.length > 31 || TABLES.length > 31) throw new Error('sample_decoder: more readings or tables than bits in a presence mask');
for (const name of [...READINGS.map((r) => r.name), ...TABLES.flatMap((t) => [t.name, ...t.columns.map((c) => c.name)])]) {
  if (!IDENTIFIER.test(name)) throw new Error(`protocol field ${name} is not a plain identifier`);
}
const SAMPLE_MAKERS = new Map<number, SampleMaker>();
/** Bit 0 of the tables in a sample maker's mask. */
const TABLE_BIT0 = 2 ** READINGS.length;
const ROW_SCRATCH: Array<string | number> = [];
const READING_NAMES: readonly string[] = READINGS.map((r) => r.name);
const TABLE_NAMES: readonly string[] = TABLES.map((t) => t.name);
/** Makers compiled since the process started (for tests: it stays within the caches' bounds). */
let compiled = 0;

/** How many makers this thread has compiled. */
export function compiledMakers(): number {
  return compiled;
}

/** The maker of samples with the readings (bits 0..) and tables (bits READINGS.length..) in `mask`. */
function sampleMaker(mask: number): SampleMaker {
  let make = SAMPLE_MAKERS.get(mask);
  if (make) return make;
  if (!roomIn(SAMPLE_MAKERS)) return (seq, ts, r, t) => sampleFieldByField(mask, seq, ts, r, t);
  const fields = [`type: ${JSON.stringify(MSG_SAMPLE)}`, 'seq', 'ts'];
  READINGS.forEach((r, i) => { if (Math.floor(mask / 2 ** i) % 2 === 1) fields.push(`${r.name}: r[${i}]`); });
  TABLES.forEach((t, i) => { if (Math.floor(mask / 2 ** (READINGS.length + i)) % 2 === 1) fields.push(`${t.name}: t[${i}]`); });
  make = new Function('seq', 'ts', 'r', 't', `return { ${fields.join(', ')} };`) as SampleMaker;
  compiled++;
  SAMPLE_MAKERS.set(mask, make);
  return make;
}

/** What a sample maker of `mask` returns, built without a compile: the same fields in the same order. */
function sampleFieldByField(mask: number, seq: number, ts: number, r: Float64Array, t: ReadonlyArray<unknown[] | undefined>): Sample {
  const out: Record<string, unknown> = { type: MSG_SAMPLE, seq, ts };
  for (let i = 0; i < READING_NAMES.length; i++) if (Math.floor(mask / 2 ** i) % 2 === 1) out[READING_NAMES[i]!] = r[i];
  for (let i = 0; i < TABLE_NAMES.length; i++) if (Math.floor(mask / 2 ** (READINGS.length + i)) % 2 === 1) out[TABLE_NAMES[i]!] = t[i];
  return out as unknown as Sample;
}

/** The maker of `t`'s rows with the columns whose bits are set in `present` (bit c: column c), in protocol order. */
function rowMaker(t: TablePlan, present: number): RowMaker {
  const cache = t.makers;
  let make = cache.get(present);
  if (make) return make;
  const columns: number[] = [];
  for (let c = 0; c < t.columns.length; c++) if ((present & (1 << c)) !== 0) columns.push(c);
  if (!roomIn(cache)) {
    // The same row built field by field, with no compile (MAX_MAKERS says why).
    return (v) => {
      const row: Record<string, string | number> = {};
      for (const c of columns) row[t.columns[c]!.name] = v[c]!;
      return row;
    };
  }
  make = new Function('v', `return { ${columns.map((c) => `${t.columns[c]!.name}: v[${c}]`).join(', ')} };`) as RowMaker;
  compiled++;
  cache.set(present, make);
  return make;
}


const RELATIONS: ReadonlyArray<readonly [ReadingName, ReadingName]> = [
  ['mem_used_bytes', 'mem_total_bytes'], ['mem_available_bytes', 'mem_total_bytes'], ['swap_used_bytes', 'swap_total_bytes'],
  ['mem_cached_bytes', 'mem_total_bytes'], ['mem_buffers_bytes', 'mem_total_bytes'], ['procs_running', 'procs_total'], ['procs_blocked', 'procs_total'],
];

function relationsHold(s: Sample): boolean {
  for (const [part, whole] of RELATIONS) {
    const p = s[part];
    const w = s[whole];
    if (p !== undefined && w !== undefined && p > w) return false;
  }
  return true;
}

/** The same ranges as protocol.ts checkReading. */
function validReading(kind: number, v: number): boolean {
  if (!Number.isFinite(v)) return false;
  if (kind === K_CELSIUS) return v >= -273.15 && v <= 1000;
  if (v < 0 || v > Number.MAX_SAFE_INTEGER) return false;
  if (kind === K_PERCENT) return v <= 100;
  if (kind === K_BYTES || kind === K_COUNT) return Number.isInteger(v);
  return true;
}

/** A map header's count, or -1 if the next value is not a map. */
function readMapHeader(): number {
  if (pos >= end) return -1;
  const b = buf[pos]!;
  if (b >= 0x80 && b <= 0x8f) {
    pos++;
    return b & 0x0f;
  }
  if (b === 0xde && end - pos >= 3) {
    pos += 3;
    return (buf[pos - 2]! << 8) | buf[pos - 1]!;
  }
  return -1;
}

/** An array header's count, or -1 if the next value is not an array of at most `max`. */
function readArrayHeader(max: number): number {
  if (pos >= end) return -1;
  const b = buf[pos]!;
  let n: number;
  if (b >= 0x90 && b <= 0x9f) {
    pos++;
    n = b & 0x0f;
  } else if (b === 0xdc && end - pos >= 3) {
    n = (buf[pos + 1]! << 8) | buf[pos + 2]!;
    pos += 3;
  } else return -1;
  return n <= max ? n : -1;
}

/** A string header's byte length (its bytes follow, all present), or -1. */
function readStrHeader(): number {
  if (pos >= end) return -1;
  const b = buf[pos]!;
  let len: number;
  if (b >= 0xa0 && b <= 0xbf) {
    pos++;
    len = b & 0x1f;
  } else if (b === 0xd9 && end - pos >= 2) {
    len = buf[pos + 1]!;
    pos += 2;
  } else if (b === 0xda && end - pos >= 3) {
    len = (buf[pos + 1]! << 8) | buf[pos + 2]!;
    pos += 3;
  } else return -1;
  return len <= end - pos ? len : -1;
}

/**
 * The id of the known top-level key at pos, or -1. An agent sends its keys in the same order
 * every time: the id seen at this ordinal last time is tried first (one compare), then the index.
 */
function readKnownKey(ordinal: number): number {
  const len = readStrHeader();
  if (len <= 0) return -1;
  const guess = ordinal < KEY_COUNT ? LAST_IDS[ordinal]! : -1;
  if (guess >= 0) {
    const k = KEY_BYTES[guess]!;
    if (k.length === len && sameBytes(k, pos)) {
      pos += len;
      return guess;
    }
  }
  const list = KEY_INDEX.get(keyHash(buf, pos, len));
  if (list === undefined) return -1;
  for (const id of list) {
    const k = KEY_BYTES[id]!;
    if (k.length === len && sameBytes(k, pos)) {
      pos += len;
      if (ordinal < KEY_COUNT) LAST_IDS[ordinal] = id;
      return id;
    }
  }
  return -1;
}

function sameBytes(k: Uint8Array, at: number): boolean {
  for (let i = 0; i < k.length; i++) if (buf[at + i] !== k[i]) return false;
  return true;
}

/** Whether the next value is the string `want` (consumed if so). */
function readExactString(want: Uint8Array): boolean {
  const len = readStrHeader();
  if (len !== want.length || !sameBytes(want, pos)) return false;
  pos += len;
  return true;
}

/** An ASCII string of at most `maxBytes`, or null. */
function readAscii(maxBytes: number): string | null {
  const len = readStrHeader();
  if (len < 0 || len > maxBytes) return null;
  let s = '';
  for (let i = pos; i < pos + len; i++) {
    const c = buf[i]!;
    if (c >= 0x80) return null; // UTF-8 beyond ASCII: the general path checks and decodes it
  }
  // Short strings: building char by char beats a decoder call; long ones go through latin1.
  if (len <= 24) for (let i = pos; i < pos + len; i++) s += String.fromCharCode(buf[i]!);
  else s = Buffer.from(buf.buffer, buf.byteOffset + pos, len).toString('latin1');
  pos += len;
  return s;
}

/** A number (any msgpack int or float); sets notNumber for anything else. */
function readNumber(): number {
  notNumber = false;
  if (pos >= end) return fail();
  const b = buf[pos]!;
  if (b <= 0x7f) {
    pos++;
    return b;
  }
  if (b >= 0xe0) {
    pos++;
    return b - 0x100;
  }
  const left = end - pos - 1;
  switch (b) {
    case 0xcb: if (left < 8) return fail(); pos += 9; return view.getFloat64(pos - 8);
    case 0xca: if (left < 4) return fail(); pos += 5; return view.getFloat32(pos - 4);
    case 0xcc: if (left < 1) return fail(); pos += 2; return buf[pos - 1]!;
    case 0xcd: if (left < 2) return fail(); pos += 3; return view.getUint16(pos - 2);
    case 0xce: if (left < 4) return fail(); pos += 5; return view.getUint32(pos - 4);
    case 0xd0: if (left < 1) return fail(); pos += 2; return view.getInt8(pos - 1);
    case 0xd1: if (left < 2) return fail(); pos += 3; return view.getInt16(pos - 2);
    case 0xd2: if (left < 4) return fail(); pos += 5; return view.getInt32(pos - 4);
    default: return fail(); // 64-bit integers, nil, strings ...: the general path
  }
}

function fail(): number {
  notNumber = true;
  return Number.NaN;
}

function readTable(t: TablePlan): unknown[] | null {
  const n = readArrayHeader(t.maxRows);
  if (n < 0) return BAIL;
  const rows: unknown[] = new Array(n);
  if (t.single) {
    const kind = t.columns[0]!.kind;
    for (let i = 0; i < n; i++) {
      const v = readNumber();
      if (notNumber || !validReading(kind, v)) return BAIL;
      rows[i] = v;
    }
    return rows;
  }
  const cols = t.columns;
  for (let i = 0; i < n; i++) {
    const m = readMapHeader();
    if (m < 0 || m > cols.length) return BAIL;
    const values = ROW_SCRATCH;
    let seen = 0;
    let present = 0;
    for (let k = 0; k < m; k++) {
      const len = readStrHeader();
      if (len <= 0) return BAIL;
      let c = 0;
      while (c < cols.length && !(cols[c]!.bytes.length === len && sameBytes(cols[c]!.bytes, pos))) c++;
      if (c === cols.length || (seen & (1 << c)) !== 0) return BAIL; // an unknown or repeated column
      seen |= 1 << c;
      pos += len;
      if (pos < end && buf[pos] === 0xc0) {
        pos++;
        continue;
      }
      const col = cols[c]!;
      if (col.kind === K_TEXT) {
        let s = readAscii(col.maxBytes);
        if (s === null) return BAIL;
        if (UNSAFE_CHAR.test(s)) s = s.replace(UNSAFE_CHARS_GLOBAL, '\uFFFD');
        values[c] = s;
      } else {
        const v = readNumber();
        if (notNumber || !validReading(col.kind, v)) return BAIL;
        values[c] = v;
      }
      present |= 1 << c;
    }
    // The first column names the row and is required (protocol.ts parseTable).
    if (cols[0]!.kind === K_TEXT && (present & 1) === 0) return BAIL;
    rows[i] = rowMaker(t, present)(values);
  }
  return rows;
}

function readMissing(): Record<string, string> | null {
  const n = readMapHeader();
  if (n < 0 || n > MAX_MISSING_ENTRIES) return BAIL;
  const out: Record<string, string> = {};
  for (let k = 0; k < n; k++) {
    let name = readAscii(MAX_MISSING_KEY_BYTES);
    if (name === null || name.length === 0) return BAIL;
    // Unsafe characters become U+FFFD, as protocol.ts parseMissing does; a name that then repeats
    // one seen is left to the general path.
    if (UNSAFE_CHAR.test(name)) name = name.replace(UNSAFE_CHARS_GLOBAL, '\uFFFD');
    if (FORBIDDEN.has(name) || Object.hasOwn(out, name)) return BAIL;
    let reason = readAscii(MAX_REASON_BYTES);
    if (reason === null) return BAIL;
    if (UNSAFE_CHAR.test(reason)) reason = reason.replace(UNSAFE_CHARS_GLOBAL, '\uFFFD');
    out[name] = reason;
  }
  return out;
}
