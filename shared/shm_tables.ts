/**
 * Encoding of a slot's tables (per-core lists, filesystems, interfaces, GPUs, top processes) to
 * and from their fixed blocks in a slot (shm_layout.ts, TABLE_LAYOUT). Pure byte work on a slot's
 * memory; the locking around it is shm_store.ts's.
 */
import { fieldReader, type FieldReader } from './field_reader.ts';
import type { TableName } from './protocol.ts';
import { rowOffset, TABLE_LAYOUT, type TableLayout } from './shm_layout.ts';
import { writeUtf8 } from './utf8_into.ts';

/** A table row as stored: numbers (null when not read) and text by column name. */
export type StoredRow = Record<string, number | string | null>;
/** One table as read back: rows (numbers for per-core lists) and rows the slot had no room for. */
export interface StoredTable {
  rows: Array<StoredRow | number | null>;
  truncated: number;
}
export type StoredTables = Record<TableName, StoredTable>;

/** What a writer passes for one table: its rows as the protocol validated them. */
export type TableInput = ReadonlyArray<number | Readonly<Record<string, string | number | undefined>>>;

const decoder = new TextDecoder('utf-8', { fatal: false });
/** Each table's numeric columns, read out of a row into the slot in one compiled function (shared/field_reader.ts). */
const NUM_COLUMN_READERS = new Map<TableLayout, FieldReader>(TABLE_LAYOUT.map((t) => [t, fieldReader(t.numColumns)]));

/** Views over one slot's bytes (or a copy of them); `base` is the slot's offset in the buffer. */
export interface SlotViews {
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly u16: Uint16Array;
  readonly base: number;
}

/**
 * Writes `rows` into table `t` of the slot at `v.base`: at most maxRows rows, the rest counted in
 * `truncated`. A text longer than its column is cut at a character boundary (writeUtf8 writes
 * whole characters only). Missing numbers are stored as NaN.
 */
export function writeTable(v: SlotViews, t: TableLayout, rows: TableInput, extraTruncated = 0): void {
  const block = v.base + t.offset;
  const n = Math.min(rows.length, t.maxRows);
  v.i32[block >> 2] = n;
  v.i32[(block + 4) >> 2] = rows.length - n + extraTruncated;
  const readNumbers = NUM_COLUMN_READERS.get(t)!;
  const textColumns = t.textColumns;
  for (let r = 0; r < n; r++) {
    const row = rows[r]!;
    const at = v.base + rowOffset(t, r);
    if (t.scalar) {
      v.f64[at >> 3] = typeof row === 'number' ? row : Number.NaN;
      continue;
    }
    const cells = typeof row === 'object' && row !== null ? row : {};
    readNumbers(cells, v.f64, at >> 3);
    for (let c = 0; c < textColumns.length; c++) {
      const col = textColumns[c]!;
      const cell = cells[col.name];
      const textAt = at + col.offset;
      v.u16[textAt >> 1] = writeUtf8(v.u8, textAt + 2, col.capacity, typeof cell === 'string' ? cell : '');
    }
  }
}

/** Empties every table of the slot at `v.base`. */
export function clearTables(v: SlotViews): void {
  for (const t of TABLE_LAYOUT) writeTable(v, t, []);
}

/**
 * Reads every table of a slot copy (or only those in `only`; the others read as empty), laid out
 * as `layout` says (a version-2 store's: TABLE_LAYOUT_V2). Counts and lengths are clamped so a
 * corrupt copy cannot read past its rows.
 */
export function readTables(v: SlotViews, only?: ReadonlySet<TableName>, layout: readonly TableLayout[] = TABLE_LAYOUT): StoredTables {
  const out = {} as StoredTables;
  for (const t of layout) {
    if (only && !only.has(t.name)) {
      out[t.name] = { rows: [], truncated: 0 };
      continue;
    }
    const block = v.base + t.offset;
    const n = Math.max(0, Math.min(v.i32[block >> 2]!, t.maxRows));
    const rows: StoredTable['rows'] = [];
    for (let r = 0; r < n; r++) {
      const at = v.base + rowOffset(t, r);
      if (t.scalar) {
        rows.push(num(v.f64[at >> 3]!));
        continue;
      }
      const row: StoredRow = {};
      for (const col of t.textColumns) {
        const textAt = at + col.offset;
        const len = Math.min(v.u16[textAt >> 1]!, col.capacity);
        row[col.name] = decoder.decode(v.u8.subarray(textAt + 2, textAt + 2 + len));
      }
      t.numColumns.forEach((col, i) => { row[col] = num(v.f64[(at >> 3) + i]!); });
      rows.push(row);
    }
    out[t.name] = { rows, truncated: Math.max(0, v.i32[(block + 4) >> 2]!) };
  }
  return out;
}

/** Problems of a slot copy's tables (for scripts/test_reader.ts): counts or lengths out of bounds. */
export function checkTables(v: SlotViews, layout: readonly TableLayout[] = TABLE_LAYOUT): string[] {
  const problems: string[] = [];
  for (const t of layout) {
    const block = v.base + t.offset;
    const n = v.i32[block >> 2]!;
    if (n < 0 || n > t.maxRows) problems.push(`table ${t.name} claims ${n} rows (room for ${t.maxRows})`);
    if (v.i32[(block + 4) >> 2]! < 0) problems.push(`table ${t.name} has a negative truncated count`);
    for (let r = 0; r < Math.min(Math.max(n, 0), t.maxRows); r++) {
      for (const col of t.textColumns) {
        const len = v.u16[(v.base + rowOffset(t, r) + col.offset) >> 1]!;
        if (len > col.capacity) problems.push(`table ${t.name} row ${r} ${col.name} claims ${len} bytes (capacity ${col.capacity})`);
      }
    }
  }
  return problems;
}

function num(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}
