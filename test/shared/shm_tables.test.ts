/**
 * shared/shm_tables.ts through the store that owns it: every table written and read back, rows
 * beyond the bounds counted, text cut at a character boundary, tables kept or cleared, and the
 * consistency check that scripts/test_reader.ts runs on a slot copy.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { TableName } from '../../shared/protocol.ts';
import { HEAD_END, NOTE_BYTES, rowOffset, SLOT_BYTES, STR, TABLE_BOUNDS, TABLE_LAYOUT, type TableLayout } from '../../shared/shm_layout.ts';
import { decodeSlot, ShmStore, slotViewsOf, type SlotUpdate } from '../../shared/shm_store.ts';
import { checkTables, type StoredTables, type TableInput } from '../../shared/shm_tables.ts';

const T0 = 1_750_000_000_000;

function storeWithSlots(n: number): ShmStore {
  const store = ShmStore.create(n, T0, 10);
  for (let i = 0; i < n; i++) store.allocateSlot();
  return store;
}

function tablesOf(store: ShmStore, index: number): StoredTables {
  return store.readSlot(index, true)!.tables!;
}

/** Row r of table t: every number column r*100 + column index, every text column a distinct short text. */
function row(t: TableLayout, r: number): number | Record<string, string | number> {
  if (t.scalar) return r * 1.5;
  const out: Record<string, string | number> = {};
  t.numColumns.forEach((c, i) => { out[c] = r * 100 + i; });
  for (const c of t.textColumns) out[c.name] = `${c.name}-${r}-ü`;
  return out;
}

function rows(t: TableLayout, n: number): TableInput {
  return Array.from({ length: n }, (_, r) => row(t, r));
}

const EMPTY = { rows: [], truncated: 0 };

test('every table round-trips: numbers, text, rows in order, nothing truncated', async (t) => {
  const store = storeWithSlots(1);
  const tables: Partial<Record<TableName, TableInput>> = {};
  for (const l of TABLE_LAYOUT) tables[l.name] = rows(l, 3);
  store.write(0, { tables });
  const back = tablesOf(store, 0);
  for (const l of TABLE_LAYOUT) {
    await t.test(l.name, () => assert.deepEqual(back[l.name], { rows: rows(l, 3), truncated: 0 }));
  }
});

test('a missing number reads back as null; a missing text as empty', () => {
  const store = storeWithSlots(1);
  store.write(0, { tables: { cpu_cores_pct: [1, Number.NaN, 3], net: [{ name: 'eth0' }, { rx_bps: 5 }] } });
  const back = tablesOf(store, 0);
  assert.deepEqual(back.cpu_cores_pct.rows, [1, null, 3]);
  assert.deepEqual(back.net.rows, [
    { name: 'eth0', rx_bps: null, tx_bps: null, rx_pps: null, tx_pps: null, rx_errs_ps: null, tx_errs_ps: null, rx_drops_ps: null, tx_drops_ps: null },
    { name: '', rx_bps: 5, tx_bps: null, rx_pps: null, tx_pps: null, rx_errs_ps: null, tx_errs_ps: null, rx_drops_ps: null, tx_drops_ps: null },
  ]);
});

test('rows beyond TABLE_BOUNDS are counted in truncated; the first rows are kept', async (t) => {
  for (const l of TABLE_LAYOUT) {
    await t.test(`${l.name}: ${TABLE_BOUNDS[l.name].rows} rows kept`, () => {
      const store = storeWithSlots(1);
      assert.equal(l.maxRows, TABLE_BOUNDS[l.name].rows);
      store.write(0, { tables: { [l.name]: rows(l, l.maxRows + 7) } });
      assert.deepEqual(tablesOf(store, 0)[l.name], { rows: rows(l, l.maxRows), truncated: 7 });
      store.write(0, { tables: { [l.name]: rows(l, l.maxRows) } });
      assert.deepEqual(tablesOf(store, 0)[l.name], { rows: rows(l, l.maxRows), truncated: 0 }, 'exactly full: nothing truncated');
    });
  }
});

test('every table full, with every text at its capacity, stays inside its slot', () => {
  const store = storeWithSlots(3);
  store.write(0, { strings: [[STR.NOTE, 'n'.repeat(NOTE_BYTES)]] });
  store.write(2, { strings: [[STR.HOST, 'neighbour']], tables: { fs: [{ mount: '/n', type: 't' }] } });
  const before0 = store.readSlot(0)!;
  const before2 = store.readSlot(2, true)!;
  const full: Partial<Record<TableName, TableInput>> = {};
  for (const l of TABLE_LAYOUT) {
    full[l.name] = Array.from({ length: l.maxRows }, (_, r) => {
      const x = row(l, r);
      if (typeof x === 'number') return x;
      for (const c of l.textColumns) x[c.name] = 'x'.repeat(c.capacity);
      return x;
    });
  }
  store.write(1, { tables: full });
  const back = tablesOf(store, 1);
  for (const l of TABLE_LAYOUT) assert.equal(back[l.name].rows.length, l.maxRows, l.name);
  assert.deepEqual(store.readSlot(0)!.strings, before0.strings);
  const after2 = store.readSlot(2, true)!;
  assert.deepEqual(after2.strings, before2.strings);
  assert.deepEqual(after2.tables, before2.tables);
});

interface CutCase { name: string; unit: string }
const CUT_CASES: readonly CutCase[] = [
  { name: 'two-byte characters (é)', unit: 'é' },
  { name: 'three-byte characters (€)', unit: '€' },
  { name: 'four-byte characters (emoji, a surrogate pair)', unit: '😀' },
  { name: 'one ASCII byte then three-byte characters', unit: 'a€€' },
];

test('text longer than its column is cut at a character boundary, as long as fits', async (t) => {
  for (const l of TABLE_LAYOUT) {
    for (const col of l.textColumns) {
      for (const c of CUT_CASES) {
        await t.test(`${l.name}.${col.name} (${col.capacity} bytes): ${c.name}`, () => {
          const store = storeWithSlots(1);
          const long = c.unit.repeat(col.capacity);
          store.write(0, { tables: { [l.name]: [{ [col.name]: long }] } });
          const text = (tablesOf(store, 0)[l.name].rows[0] as Record<string, string>)[col.name]!;
          const bytes = Buffer.byteLength(text);
          assert.ok(long.startsWith(text), 'a prefix of what was sent');
          assert.ok(!text.includes('\uFFFD'), 'no broken character');
          assert.ok(bytes <= col.capacity && bytes > col.capacity - 4, `${bytes} bytes of ${col.capacity}`);
        });
      }
    }
  }
});

test('a write without tables keeps every row; naming one table replaces only that one', () => {
  const store = storeWithSlots(1);
  const all: Partial<Record<TableName, TableInput>> = {};
  for (const l of TABLE_LAYOUT) all[l.name] = rows(l, 2);
  store.write(0, { tables: all });
  const before = tablesOf(store, 0);
  const updates: SlotUpdate[] = [{ numbers: [[8, 55]] }, { strings: [[STR.NOTE, 'x']] }, { flags: 1 }, { tables: {} }];
  for (const u of updates) store.write(0, u);
  assert.deepEqual(tablesOf(store, 0), before);
  store.write(0, { tables: { gpu: [] } });
  const after = tablesOf(store, 0);
  assert.deepEqual(after.gpu, EMPTY);
  assert.deepEqual({ ...after, gpu: null }, { ...before, gpu: null });
});

test('clearTables empties every table and its truncated count', () => {
  const store = storeWithSlots(1);
  const all: Partial<Record<TableName, TableInput>> = {};
  for (const l of TABLE_LAYOUT) all[l.name] = rows(l, l.maxRows + 1);
  store.write(0, { tables: all });
  store.write(0, { clearTables: true });
  for (const l of TABLE_LAYOUT) assert.deepEqual(tablesOf(store, 0)[l.name], EMPTY, l.name);
});

test('clearTables and tables in one write: the tables named are written after the clear', () => {
  const store = storeWithSlots(1);
  store.write(0, { tables: { fs: [{ mount: '/old' }], net: [{ name: 'old0' }] } });
  store.write(0, { clearTables: true, tables: { net: [{ name: 'eth1' }] } });
  const back = tablesOf(store, 0);
  assert.deepEqual(back.fs, EMPTY);
  assert.equal((back.net.rows[0] as Record<string, string>)['name'], 'eth1');
});

/** A consistent copy of slot 0, as test_reader gets it, damaged by `damage`. */
function damagedCopy(damage: (v: ReturnType<typeof slotViewsOf>) => void): Uint8Array {
  const store = storeWithSlots(1);
  const all: Partial<Record<TableName, TableInput>> = {};
  for (const l of TABLE_LAYOUT) all[l.name] = rows(l, 2);
  store.write(0, { tables: all });
  const copy = new Uint8Array(SLOT_BYTES);
  assert.ok(store.copySlot(0, copy) >= 0);
  damage(slotViewsOf(copy));
  return copy;
}
const layout = (name: TableName): TableLayout => TABLE_LAYOUT.find((l) => l.name === name)!;
const textLenAt = (name: TableName, r: number, col: string): number => {
  const l = layout(name);
  return (rowOffset(l, r) + l.textColumns.find((c) => c.name === col)!.offset) >> 1;
};

interface CheckCase { name: string; damage: (v: ReturnType<typeof slotViewsOf>) => void; problem: RegExp | null }
const CHECK_CASES: readonly CheckCase[] = [
  { name: 'a sound copy', damage: () => undefined, problem: null },
  { name: 'row count one beyond the room', damage: (v) => { v.i32[layout('fs').offset >> 2] = TABLE_BOUNDS.fs.rows + 1; }, problem: /^table fs claims 25 rows \(room for 24\)$/ },
  { name: 'negative row count', damage: (v) => { v.i32[layout('cpu_cores_pct').offset >> 2] = -1; }, problem: /^table cpu_cores_pct claims -1 rows/ },
  { name: 'huge row count', damage: (v) => { v.i32[layout('procs_top').offset >> 2] = 0x7fffffff; }, problem: /^table procs_top claims 2147483647 rows/ },
  { name: 'negative truncated count', damage: (v) => { v.i32[(layout('net').offset + 4) >> 2] = -3; }, problem: /^table net has a negative truncated count$/ },
  { name: 'text length beyond its column', damage: (v) => { v.u16[textLenAt('fs', 1, 'mount')] = 97; }, problem: /^table fs row 1 mount claims 97 bytes \(capacity 96\)$/ },
  { name: 'text length 0xffff', damage: (v) => { v.u16[textLenAt('gpu', 0, 'model')] = 0xffff; }, problem: /^table gpu row 0 model claims 65535 bytes/ },
];

test('checkTables flags corrupt counts and lengths in a slot copy; reading the copy stays inside it', async (t) => {
  for (const c of CHECK_CASES) {
    await t.test(c.name, () => {
      const copy = damagedCopy(c.damage);
      const problems = checkTables(slotViewsOf(copy));
      if (c.problem === null) assert.deepEqual(problems, []);
      else {
        assert.equal(problems.length, 1, problems.join('\n'));
        assert.match(problems[0]!, c.problem);
      }
      // The reader clamps what it cannot trust: no throw, no row or text beyond its bounds.
      const tables = decodeSlot(copy, 0, 0, true).tables!;
      for (const l of TABLE_LAYOUT) {
        assert.ok(tables[l.name].rows.length <= l.maxRows, l.name);
        for (const r of tables[l.name].rows) {
          for (const col of l.textColumns) assert.ok(Buffer.byteLength((r as Record<string, string>)[col.name]!) <= col.capacity, `${l.name}.${col.name}`);
        }
      }
    });
  }
});

/** This process's resident bytes (VmRSS). */
function vmRss(): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
}

/**
 * Bytes this process grew by, per slot, creating a store of `n` slots and writing each once with
 * `rowsOf(table)` rows of each table (0: written as absent, as HostTable writes a sample).
 */
function residentPerSlot(n: number, rowsOf: (l: TableLayout) => number): number {
  const tables: Partial<Record<TableName, TableInput>> = {};
  for (const l of TABLE_LAYOUT) tables[l.name] = rows(l, rowsOf(l));
  const before = vmRss();
  const store = ShmStore.create(n, T0, 60);
  for (let i = 0; i < n; i++) {
    store.allocateSlot();
    store.write(i, { numbers: [[8, i]], tables });
  }
  const grown = vmRss() - before;
  assert.equal(store.slotsUsed(), n);
  return grown / n;
}

test('tables within their head rows keep a sample to the slot\'s first pages; only longer tables reach the tail pages', { skip: process.platform !== 'linux' && '/proc/self/status is Linux only' }, (t) => {
  const onlyCores = (l: TableLayout): number => (l.name === 'cpu_cores_pct' ? 2 : 0);
  const heads = (l: TableLayout): number => l.headRows;
  const full = (l: TableLayout): number => l.maxRows;
  // Once each first, so that the heap the writes use is already resident when measuring.
  for (const f of [onlyCores, heads, full]) residentPerSlot(256, f);
  const one = residentPerSlot(3000, onlyCores);
  const inHeads = residentPerSlot(3000, heads);
  const all = residentPerSlot(3000, full);
  t.diagnostic(`grown per slot: ${Math.round(one)} B with one short table, ${Math.round(inHeads)} B with every table to its head rows, ${Math.round(all)} B with every row`);
  assert.ok(HEAD_END <= 8128, `heads end at ${HEAD_END}: past the slot's second page (slots start 64 bytes into a page)`);
  // Every head row of every table adds at most the one page after the headers' (version 2, with
  // each table's rows after its own header, touched every page: ~3 more).
  assert.ok(inHeads - one <= 1.5 * 4096, `heads cost ${Math.round(inHeads - one)} B a slot more than one short table`);
  // The tails are only touched by rows beyond the heads: at least two more pages.
  assert.ok(all - inHeads >= 2 * 4096 * 0.8, `tails cost only ${Math.round(all - inHeads)} B a slot more`);
});
