/**
 * The shared-memory layout: every offset and size, named. Only shared/shm_store.ts reads or
 * writes these bytes; everyone else goes through it.
 *
 *   SharedArrayBuffer
 *   +--------------------------- header, HEADER_BYTES = 64 -----------------------------+
 *   | 0  MAGIC i32 | 4 LAYOUT_VERSION i32 | 8 CAPACITY i32 | 12 SLOT_BYTES i32           |
 *   | 16 SLOTS_USED i32 (high-water mark of allocated slots) | 20 HISTORY_POINTS i32     |
 *   | 24 CREATED_AT_MS f64 | 32..63 reserved                                            |
 *   +--------------------------- slot 0, SLOT_BYTES = 16384 ----------------------------+
 *   | 0  LOCK i32   sequence lock: odd while a write is in progress                     |
 *   | 4  FLAGS i32  SLOT_FLAG_USED | SLOT_FLAG_CONNECTED                                 |
 *   | 8  string lengths, i32 x SLOT_STRING_LENGTHS_MAX (bytes used by each string)      |
 *   | 40 numbers, f64 x SLOT_NUMBERS_MAX (NaN = no value): NUM, then READING_NUM, and    |
 *   |    from EXTRA_NUM_BASE (48) power source, energy and projection (NUM.POWER_SOURCE..) |
 *   | SLOT_STRINGS: string bytes, UTF-8, each field at its own fixed offset, capacity   |
 *   | SLOT_TABLES: every table's header (TABLE_LAYOUT.offset): rows i32, truncated i32  |
 *   | then every table's first headRows rows (the head), then the rest of every table's |
 *   |   rows (the tail); a row: numeric columns f64, then text columns u16 len + bytes   |
 *   | ... padding to SLOT_BYTES                                                         |
 *   +--------------------------- slot 1 ... slot CAPACITY-1 ----------------------------+
 *   +--------------------------- history ring of slot 0, ringBytes(points) -------------+
 *   | 0  LOCK i32 (same sequence lock discipline as a slot) | 4 reserved                |
 *   | 8  t f64 x points: collector-placed time of the sample in each bucket, NaN = empty|
 *   | 8 + 8 x points: values f32 x points x HISTORY_SERIES.length, bucket-major         |
 *   +--------------------------- history ring of slot 1 ... ----------------------------+
 *
 * History buckets are one second wide: a sample taken at time t lands in bucket
 * floor(t / 1000) mod points, so a late (replayed) sample lands at its own time, a replay of
 * the same sample lands on itself (no duplicate), and points seconds are kept whatever the
 * agent's interval. Values are float32 (7 significant digits: ample for a chart).
 *
 * Offsets are in bytes from the start of the buffer (header) or of the slot or ring. Every f64
 * sits at a multiple of 8, every i32/f32 at a multiple of 4 and every u16 at a multiple of 2,
 * so typed-array views over the whole buffer can address them.
 */
import {
  MAX_AGENT_VERSION_BYTES, MAX_ARCH_BYTES, MAX_CPU_MODEL_BYTES, MAX_HOST_BYTES, MAX_KERNEL_BYTES, MAX_OS_BYTES,
  READINGS, TABLES, type ReadingName, type TableName,
} from './protocol.ts';

/** 'CSN1' as a big-endian 32-bit integer. */
export const SHM_MAGIC = 0x43534e31;
/**
 * Bumped whenever this file changes the meaning of a byte. 3: table headers together and each
 * table's first rows in the slot's first pages (TABLE_LAYOUT); 2 had each table in one block.
 * A version-2 store (a state file saved before) is still read (tableLayoutOf), never written.
 */
export const SHM_LAYOUT_VERSION = 3;
/** Versions whose stores this code reads: restoring an older state file. */
export const READABLE_LAYOUT_VERSIONS: ReadonlySet<number> = new Set([2, 3]);

export const HEADER_BYTES = 64;
export const HDR_MAGIC = 0;
export const HDR_LAYOUT_VERSION = 4;
export const HDR_CAPACITY = 8;
export const HDR_SLOT_BYTES = 12;
export const HDR_SLOTS_USED = 16;
export const HDR_HISTORY_POINTS = 20;
export const HDR_CREATED_AT_MS = 24;

export const SLOT_LOCK = 0;
export const SLOT_FLAGS = 4;
export const SLOT_STRING_LENGTHS = 8;
export const SLOT_STRING_LENGTHS_MAX = 8; // room for 8 string fields: 8 x i32 = 32 bytes
export const SLOT_NUMBERS = SLOT_STRING_LENGTHS + SLOT_STRING_LENGTHS_MAX * 4; // 40
export const SLOT_NUMBERS_MAX = 64; // room for 64 f64 fields: 512 bytes
export const SLOT_STRINGS = SLOT_NUMBERS + SLOT_NUMBERS_MAX * 8; // 552
export const SLOT_BYTES = 16_384;

export const SLOT_FLAG_USED = 1 << 0;
export const SLOT_FLAG_CONNECTED = 1 << 1;

/** Numeric fields of a slot, by index into its f64 array. NaN means "no value". */
export const NUM = Object.freeze({
  RECEIVED_AT_MS: 0, // collector clock when the last sample landed
  SAMPLE_TS_MS: 1, // agent clock when it took the last sample
  SAMPLE_SEQ: 2, // seq of the last sample on its connection
  SAMPLES_TOTAL: 3, // samples stored in this slot since the collector started
  CONNECTED_AT_MS: 4, // collector clock of the last welcome
  DISCONNECTED_AT_MS: 5, // collector clock of the last disconnect
  INTERVAL_MS: 6, // sampling interval the agent announced
  CPU_CORES: 7,
  CPU_PCT: 8,
  LOAD_1M: 9,
  LOAD_5M: 10,
  LOAD_15M: 11,
  MEM_TOTAL_BYTES: 12,
  MEM_USED_BYTES: 13,
  MEM_AVAILABLE_BYTES: 14,
  SWAP_TOTAL_BYTES: 15,
  SWAP_USED_BYTES: 16,
  UPTIME_S: 17,
  LAST_WRITE_MS: 18, // collector clock of the last change to this slot, of any kind
  // ---- From EXTRA_NUM_BASE on: fields added within layout 2. Their bytes were never written
  // before, so a store or snapshot of an older collector holds 0 there, and 0 reads as "none"
  // for each of them (a source code of 0, a validity end at 1970, no energy counted).
  POWER_SOURCE: 48, // where power_w came from: POWER_SOURCE_CODE (1 measured, 2 estimated); else not said
  // Energy and cost, written by the collector (collector/energy_service.ts), never by an agent.
  // A "today" or "month" figure holds only before its *_UNTIL_MS (the local midnight or month
  // start that ends it, collector clock): a reader past it takes 0, so a host that went quiet
  // yesterday shows nothing for today without anyone rewriting its slot at midnight.
  ENERGY_TODAY_KWH: 49,
  ENERGY_TODAY_COST: 50,
  ENERGY_TODAY_UNTIL_MS: 51,
  ENERGY_MONTH_KWH: 52,
  ENERGY_MONTH_COST: 53,
  ENERGY_MONTH_UNTIL_MS: 54,
  ENERGY_TOTAL_KWH: 55, // since the first power sample the collector integrated
  ENERGY_TOTAL_COST: 56,
  ENERGY_SINCE_MS: 57, // time of that first power sample
  // The projection (collector/projection.ts), refreshed every 10 s; NaN: no basis yet.
  PROJ_MONTH_KWH: 58, // this whole month: so far + recent daily average x the rest of it
  PROJ_MONTH_COST: 59,
  PROJ_NEXT_KWH: 60, // the next PROJ_DAYS days
  PROJ_NEXT_COST: 61,
  PROJ_DAYS: 62,
  PROJ_UNTIL_MS: 63, // the projection's month ends here (as ENERGY_MONTH_UNTIL_MS)
} as const);
export type NumField = number;
/** NUM's own fields before the readings; the readings appended after them (READING_NUM) follow. */
const META_FIELD_COUNT = 19;
/** First field of the block at the end of the number area (NUM.POWER_SOURCE onwards). */
export const EXTRA_NUM_BASE = 48;
const EXTRA_FIELD_COUNT = 16;
/** Codes stored in NUM.POWER_SOURCE, by protocol name. */
export const POWER_SOURCE_CODE = Object.freeze({ measured: 1, estimated: 2 } as const);

/**
 * The number field of every protocol reading. The first ten readings keep the fields they had in
 * layout 1; readings appended to the protocol take the next fields in protocol order.
 */
export const READING_NUM: Readonly<Record<ReadingName, NumField>> = Object.freeze(
  READINGS.reduce<Record<string, number>>((acc, r, i) => {
    acc[r.name] = i < 10 ? NUM.CPU_PCT + i : META_FIELD_COUNT + (i - 10);
    return acc;
  }, {}) as Record<ReadingName, NumField>,
);
export const NUMBER_FIELD_COUNT = META_FIELD_COUNT + READINGS.length - 10;
/** Every number field a slot copy decodes, readings and the extra block alike. */
export const SLOT_NUMBER_FIELDS = EXTRA_NUM_BASE + EXTRA_FIELD_COUNT;

/** String fields of a slot: index into the length array, byte offset in the slot, capacity. */
export const STR = Object.freeze({
  HOST: 0,
  AGENT_VERSION: 1,
  OS: 2,
  KERNEL: 3,
  ARCH: 4,
  CPU_MODEL: 5,
  NOTE: 6, // why readings are missing, joined; cut at its capacity
} as const);
export type StrField = (typeof STR)[keyof typeof STR];
export const STRING_FIELD_COUNT = 7;
/** Bytes of the host's note; a longer note is cut at a character boundary. */
export const NOTE_BYTES = 1024;

/** Capacity of each string field, in UTF-8 bytes, by StrField. */
export const STRING_CAPACITY: readonly number[] = Object.freeze([
  MAX_HOST_BYTES, MAX_AGENT_VERSION_BYTES, MAX_OS_BYTES, MAX_KERNEL_BYTES, MAX_ARCH_BYTES, MAX_CPU_MODEL_BYTES, NOTE_BYTES,
]);

/** Byte offset of each string field inside a slot, by StrField. */
export const STRING_OFFSET: readonly number[] = Object.freeze(
  STRING_CAPACITY.reduce<number[]>((acc, _cap, i) => {
    acc.push(i === 0 ? SLOT_STRINGS : acc[i - 1]! + STRING_CAPACITY[i - 1]!);
    return acc;
  }, []),
);

/** Where the tables start: after the last string field, 8-aligned. */
export const SLOT_TABLES = align(STRING_OFFSET[STRING_FIELD_COUNT - 1]! + STRING_CAPACITY[STRING_FIELD_COUNT - 1]!, 8);

/**
 * Rows each table keeps in shared memory, and the bytes of each text column. Rows beyond are
 * counted in the table's `truncated` field, never silently dropped. A text longer than its
 * column is cut at a character boundary. Sized for a large server: 256 logical cores, 24
 * filesystems and interfaces (the agent sends them sorted, so a cut keeps the first by name).
 */
export const TABLE_BOUNDS: Readonly<Record<TableName, { rows: number; textBytes?: Readonly<Record<string, number>> }>> = Object.freeze({
  cpu_cores_pct: { rows: 256 },
  temp_cores_c: { rows: 128 },
  fs: { rows: 24, textBytes: { mount: 96, type: 16 } },
  net: { rows: 24, textBytes: { name: 32 } },
  gpu: { rows: 8, textBytes: { model: 64 } },
  procs_top: { rows: 8, textBytes: { name: 48 } },
  power_zones: { rows: 8, textBytes: { zone: 32 } },
});

/**
 * Rows of each table kept in the head, right after the headers: what a typical host sends (8 to
 * 64 cores, a few filesystems and interfaces, the top processes). Headers and heads together end
 * within the slot's first two pages (HEAD_END), so a sample that fits them touches those pages
 * only; rows beyond go to the tail, after every head. Before (version 2) each table was one block
 * of header and all its rows, and a sample touched every page of its slot.
 */
export const TABLE_HEAD_ROWS: Readonly<Record<TableName, number>> = Object.freeze({
  cpu_cores_pct: 64, temp_cores_c: 16, fs: 8, net: 8, gpu: 2, procs_top: 8, power_zones: 8,
});

/** Where one table sits in a slot, and how its rows are laid out. */
export interface TableLayout {
  readonly name: TableName;
  /** Byte offset in the slot of the table's header: rows i32 at +0, truncated i32 at +4. */
  readonly offset: number;
  readonly maxRows: number;
  readonly rowBytes: number;
  /** Rows 0 .. headRows-1 start at headOffset; the others at tailOffset (rowOffset). */
  readonly headRows: number;
  readonly headOffset: number;
  readonly tailOffset: number;
  /** Numeric columns, stored as f64 at +8 x i from the row's start. */
  readonly numColumns: readonly string[];
  /** Text columns after the numbers: u16 length, then capacity bytes of UTF-8. */
  readonly textColumns: ReadonlyArray<{ readonly name: string; readonly offset: number; readonly capacity: number }>;
  /** One-column tables (per-core lists) are arrays of numbers, not of maps. */
  readonly scalar: boolean;
}

/** Byte offset in the slot of row `r` of table `t`. */
export function rowOffset(t: TableLayout, r: number): number {
  return r < t.headRows ? t.headOffset + r * t.rowBytes : t.tailOffset + (r - t.headRows) * t.rowBytes;
}

interface RowShape {
  name: TableName;
  maxRows: number;
  rowBytes: number;
  numColumns: readonly string[];
  textColumns: ReadonlyArray<{ readonly name: string; readonly offset: number; readonly capacity: number }>;
  scalar: boolean;
}

const ROW_SHAPES: readonly RowShape[] = TABLES.map((t) => {
  const bounds = TABLE_BOUNDS[t.name];
  const columns = t.columns as ReadonlyArray<{ name: string; kind: string }>;
  const numColumns = columns.filter((c) => c.kind !== 'text').map((c) => c.name);
  let rowBytes = numColumns.length * 8;
  const textColumns = columns.filter((c) => c.kind === 'text').map((c) => {
    const capacity = bounds.textBytes?.[c.name] ?? 32;
    const col = Object.freeze({ name: c.name, offset: rowBytes, capacity });
    rowBytes += align(2 + capacity, 2);
    return col;
  });
  return { name: t.name, maxRows: bounds.rows, rowBytes: align(rowBytes, 8), numColumns, textColumns, scalar: columns.length === 1 };
});

/** Version 3: headers together, then every head, then every tail. */
export const TABLE_LAYOUT: readonly TableLayout[] = Object.freeze(((): TableLayout[] => {
  let head = SLOT_TABLES + 8 * ROW_SHAPES.length;
  const heads = ROW_SHAPES.map((t) => {
    const at = head;
    head += Math.min(TABLE_HEAD_ROWS[t.name], t.maxRows) * t.rowBytes;
    return at;
  });
  let tail = head;
  return ROW_SHAPES.map((t, k) => {
    const headRows = Math.min(TABLE_HEAD_ROWS[t.name], t.maxRows);
    const tailOffset = tail;
    tail += (t.maxRows - headRows) * t.rowBytes;
    return Object.freeze({ ...t, offset: SLOT_TABLES + 8 * k, headRows, headOffset: heads[k]!, tailOffset });
  });
})());

/** Where the heads end: the bytes of a slot a sample within the heads writes lie before this. */
export const HEAD_END = TABLE_LAYOUT.reduce((end, t) => Math.max(end, t.headOffset + t.headRows * t.rowBytes), SLOT_TABLES);

/** Version 2 (read only, for older state files): each table one block of header and all its rows. */
export const TABLE_LAYOUT_V2: readonly TableLayout[] = Object.freeze(((): TableLayout[] => {
  let at = SLOT_TABLES;
  return ROW_SHAPES.map((t) => {
    const offset = at;
    at += 8 + t.maxRows * t.rowBytes;
    return Object.freeze({ ...t, offset, headRows: t.maxRows, headOffset: offset + 8, tailOffset: offset + 8 + t.maxRows * t.rowBytes });
  });
})());

/** The table layout of a store of layout `version` (one of READABLE_LAYOUT_VERSIONS). */
export function tableLayoutOf(version: number): readonly TableLayout[] {
  return version === 2 ? TABLE_LAYOUT_V2 : TABLE_LAYOUT;
}

/** The first byte after the last table; must fit in the slot. */
export const SLOT_USED_BYTES = Math.max(...TABLE_LAYOUT.map((t) => t.tailOffset + (t.maxRows - t.headRows) * t.rowBytes), HEAD_END);

/** The readings kept in each host's history ring, in ring order. */
export const HISTORY_SERIES = Object.freeze([
  'cpu_pct', 'mem_used_bytes', 'load_1m', 'net_rx_bps', 'net_tx_bps', 'disk_read_bps', 'disk_write_bps', 'temp_max_c', 'power_w',
] as const satisfies readonly ReadingName[]);
/** Width of one history bucket, ms. */
export const HISTORY_STEP_MS = 1000;
/** Default ring length: 15 minutes of one-second buckets. */
export const DEFAULT_HISTORY_POINTS = 900;
export const RING_LOCK = 0;
export const RING_TIMES = 8;

/** Bytes of one host's history ring holding `points` buckets. */
export function ringBytes(points: number): number {
  return align(RING_TIMES + points * 8 + points * HISTORY_SERIES.length * 4, 8);
}

/** Byte offset, in a ring, of the values of bucket 0 (f32, HISTORY_SERIES.length per bucket). */
export function ringValuesOffset(points: number): number {
  return RING_TIMES + points * 8;
}

/** Bytes a buffer of `capacity` slots, each with a ring of `points` buckets, takes. */
export function bufferBytes(capacity: number, points: number): number {
  return HEADER_BYTES + capacity * SLOT_BYTES + capacity * ringBytes(points);
}

/** Byte offset of slot `index`'s history ring from the start of the buffer. */
export function ringOffset(capacity: number, points: number, index: number): number {
  return HEADER_BYTES + capacity * SLOT_BYTES + index * ringBytes(points);
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Byte offset of slot `index` from the start of the buffer. */
export function slotOffset(index: number): number {
  return HEADER_BYTES + index * SLOT_BYTES;
}

// Checked once at load: a layout edit that overflows a slot fails at start, not at run time.
if (NUMBER_FIELD_COUNT > EXTRA_NUM_BASE || SLOT_NUMBER_FIELDS > SLOT_NUMBERS_MAX || STRING_FIELD_COUNT > SLOT_STRING_LENGTHS_MAX || SLOT_USED_BYTES > SLOT_BYTES) {
  throw new RangeError(`shared-memory slot overflows: ${SLOT_USED_BYTES} bytes used of ${SLOT_BYTES}`);
}
if (Object.keys(NUM).length !== META_FIELD_COUNT + EXTRA_FIELD_COUNT || Object.keys(STR).length !== STRING_FIELD_COUNT) {
  throw new RangeError('NUMBER_FIELD_COUNT / STRING_FIELD_COUNT disagree with NUM / STR');
}

// =============================================================================================
// Collector stats: a second, small SharedArrayBuffer of its own (shared/collector_stats.ts, the
// only module that touches it), apart from the slots above. The collector's main thread counts;
// the dashboard worker reads. Every field is a BigInt64 updated with Atomics, so each one reads
// whole; there is no lock, because each counter is read on its own (a scrape is not a snapshot).
// 64 bits: frames received by a large fleet pass 2^31 within days.
//
//   +------------------------------- STATS_BYTES = 1664 ---------------------------------+
//   | 0   MAGIC        | 8   LAYOUT_VERSION | 16  STARTED_AT_MS (collector clock, ms)     |
//   | 24  CONNECTED_AGENTS (gauge) | 32 CONNECTIONS_ACCEPTED | 40 FRAMES_RECEIVED          |
//   | 48  SESSIONS_CLOSED_BY_PEER  | 56 ALERTS_FIRING (gauge)                             |
//   | 64  WEBHOOK_DELIVERED | 72 WEBHOOK_FAILED | 80 WEBHOOK_DROPPED | 88..127 reserved    |
//   | 128  FRAMES_REJECTED     i64 x STATS_CODE_SLOTS, by position in ERROR_CODES          |
//   | 640  SESSIONS_ENDED      i64 x STATS_CODE_SLOTS, by position in ERROR_CODES          |
//   | 1152 CONNECTIONS_REFUSED i64 x STATS_CODE_SLOTS, by position in ERROR_CODES          |
//   +-------------------------------------------------------------------------------------+
//
// Offsets in bytes from the start of the buffer, each a multiple of 8.
// =============================================================================================

/** 'CST1' as a big-endian 32-bit integer, stored as a BigInt64. */
export const STATS_MAGIC = 0x43535431;
/** Bumped whenever the stats layout changes the meaning of a byte. */
export const STATS_LAYOUT_VERSION = 1;

export const STATS_OFF_MAGIC = 0;
export const STATS_OFF_LAYOUT_VERSION = 8;
export const STATS_OFF_STARTED_AT_MS = 16;
export const STATS_OFF_CONNECTED_AGENTS = 24;
export const STATS_OFF_CONNECTIONS_ACCEPTED = 32;
export const STATS_OFF_FRAMES_RECEIVED = 40;
export const STATS_OFF_SESSIONS_CLOSED_BY_PEER = 48;
export const STATS_OFF_ALERTS_FIRING = 56;
export const STATS_OFF_WEBHOOK_DELIVERED = 64;
export const STATS_OFF_WEBHOOK_FAILED = 72;
export const STATS_OFF_WEBHOOK_DROPPED = 80;
/** Error codes are append-only (shared/errors.ts); this leaves room for them to grow. */
export const STATS_CODE_SLOTS = 64;
export const STATS_OFF_FRAMES_REJECTED = 128;
export const STATS_OFF_SESSIONS_ENDED = STATS_OFF_FRAMES_REJECTED + STATS_CODE_SLOTS * 8; // 640
export const STATS_OFF_CONNECTIONS_REFUSED = STATS_OFF_SESSIONS_ENDED + STATS_CODE_SLOTS * 8; // 1152
export const STATS_BYTES = STATS_OFF_CONNECTIONS_REFUSED + STATS_CODE_SLOTS * 8; // 1664
