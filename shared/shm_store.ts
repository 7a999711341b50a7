/**
 * The one module that touches Atomics. Writers (the collector's main thread, and its ingest
 * workers for bulk reads: collector/ingest_pool.ts) update slots and history rings under a
 * sequence lock each; any number of readers (the dashboard worker, snapshots) copy a slot or ring
 * and keep the copy only if the sequence was even and unchanged around it. A writer takes the
 * lock from even to odd by compareExchange, so two threads never write one slot at once; it
 * never waits on a reader, and a reader retries a bounded number of times.
 */
import {
  bufferBytes, DEFAULT_HISTORY_POINTS, HDR_CAPACITY, HDR_CREATED_AT_MS, HDR_HISTORY_POINTS, HDR_LAYOUT_VERSION, HDR_MAGIC,
  HDR_SLOT_BYTES, HDR_SLOTS_USED, HEADER_BYTES, HISTORY_SERIES, HISTORY_STEP_MS, SLOT_NUMBER_FIELDS, RING_LOCK, RING_TIMES,
  READABLE_LAYOUT_VERSIONS, ringBytes, ringOffset, ringValuesOffset, SHM_LAYOUT_VERSION, SHM_MAGIC, SLOT_BYTES, SLOT_FLAG_USED,
  SLOT_FLAGS, SLOT_LOCK, SLOT_NUMBERS, SLOT_STRING_LENGTHS, SLOT_TABLES, slotOffset, STRING_CAPACITY, STRING_FIELD_COUNT,
  STRING_OFFSET, TABLE_LAYOUT, tableLayoutOf, type NumField, type StrField, type TableLayout,
} from './shm_layout.ts';
import { ShmError } from './errors.ts';
import type { TableName } from './protocol.ts';
import { clearTables, readTables, writeTable, type SlotViews, type StoredTables, type TableInput } from './shm_tables.ts';
import { writeUtf8 } from './utf8_into.ts';

/** Most history buckets per host a store accepts (one day of seconds). */
export const MAX_HISTORY_POINTS = 86_400;

/** Largest capacity a store accepts, in slots (64 MiB of slots). */
export const MAX_CAPACITY = 65_536;
/** How often a reader retries a slot that is being written before it gives up this round. */
export const MAX_READ_ATTEMPTS = 1000;

export interface SlotUpdate {
  flags?: number;
  numbers?: ReadonlyArray<readonly [NumField, number]>;
  /** The same as `numbers`, as two parallel arrays: values[k] goes to fields[k] (no pair per field). */
  numberFields?: readonly NumField[];
  numberValues?: ArrayLike<number>;
  strings?: ReadonlyArray<readonly [StrField, string]>;
  /** Tables to replace whole; a table not named keeps its rows. */
  tables?: Partial<Record<TableName, TableInput>>;
  /** Empty every table (a slot handed to another host). */
  clearTables?: boolean;
  /** Rows the agent already left out of a table, added to the rows this store has no room for. */
  truncatedBefore?: Partial<Record<TableName, number>>;
}

/** A consistent copy of a host's history between two times: `t` ascending, one array per series. */
export interface HistoryData {
  t: number[];
  /** By HISTORY_SERIES index; NaN where the sample had no value. */
  values: number[][];
}

/** A consistent copy of one slot, decoded. */
/** A snapshot() taken a chunk at a time (ShmStore.snapshotStream). */
export interface SnapshotStream {
  /** Bytes of the whole snapshot: the sum of the chunks' lengths. */
  readonly byteLength: number;
  /** Slots in use when the stream was taken. */
  readonly hosts: number;
  /** The snapshot's bytes in order; each chunk is copied from the store when it is pulled. */
  chunks(maxChunkBytes?: number): Generator<Uint8Array>;
}

/**
 * Largest chunk of snapshotStream() by default: 1 MiB, about 64 slots or 26 rings, copied in
 * well under a millisecond, so a snapshot stalls the writer for no more than that at a time.
 */
export const SNAPSHOT_CHUNK_BYTES = 1 << 20;

export interface SlotData {
  index: number;
  /** The sequence-lock value the copy was taken at (always even). */
  lockSeq: number;
  flags: number;
  /** By NumField; NaN where there is no value. */
  numbers: Float64Array;
  /** By StrField. */
  strings: string[];
  /** Present when read with tables (readSlot(i, true)). */
  tables?: StoredTables;
}

const NO_BLOCKS: readonly (typeof TABLE_LAYOUT)[number][] = [];

/**
 * Spins a writer waits on a lock another writer holds before taking it over: ~10-50 ms on the
 * CPUs here, thousands of times the longest write (a whole slot, a few µs). Only a writer thread
 * that stopped mid-write (terminated) holds a lock that long; its slot is then rewritten whole
 * by the next write of that host, and readers retry meanwhile.
 */
export const WRITE_LOCK_SPINS = 1 << 22;

/**
 * Takes the sequence lock at i32[at] for a write: from even to odd by compareExchange, which as
 * a read-modify-write is sequentially consistent, so the plain stores that follow do not become
 * visible before it (V8 emits a locked RMW on x86, an acquire-release pair on ARM64). While
 * another writer holds it (odd), waits; see WRITE_LOCK_SPINS for a holder that never lets go.
 */
export function lockForWrite(i32: Int32Array, at: number): void {
  let seen = Atomics.load(i32, at);
  let spins = 0;
  for (;;) {
    if ((seen & 1) === 0) {
      const was = Atomics.compareExchange(i32, at, seen, seen + 1);
      if (was === seen) return;
      seen = was;
      continue;
    }
    if (++spins >= WRITE_LOCK_SPINS) {
      // Held by a writer that is gone: take it over, keeping it odd (seen + 2), so readers
      // keep retrying until this write ends.
      const was = Atomics.compareExchange(i32, at, seen, seen + 2);
      if (was === seen) return;
      spins = 0;
      seen = was;
      continue;
    }
    seen = Atomics.load(i32, at);
  }
}

/** Ends a write begun by lockForWrite: even again; as a release, it publishes every store of the write first. */
export function unlockAfterWrite(i32: Int32Array, at: number): void {
  Atomics.add(i32, at, 1);
}
const decoder = new TextDecoder('utf-8', { fatal: false });

export class ShmStore {
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  readonly capacity: number;
  /** History buckets (seconds) kept per host. */
  readonly historyPoints: number;
  /** SHM_LAYOUT_VERSION for a live store; an older one only for a store read from an older state file. */
  readonly layoutVersion: number;
  /** Where this store's tables lie (tableLayoutOf its version). */
  private readonly tableLayout: readonly TableLayout[];
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly f32: Float32Array;
  private readonly u16: Uint16Array;
  private readonly u8: Uint8Array;
  private readonly scratch = new Uint8Array(SLOT_BYTES);
  private ringScratch: Uint8Array | null = null;

  /** Allocates and initialises a new buffer of `capacity` slots, each with `historyPoints` seconds of history. */
  static create(capacity: number, nowMs = Date.now(), historyPoints = DEFAULT_HISTORY_POINTS): ShmStore {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(`capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${capacity}`);
    }
    if (!Number.isInteger(historyPoints) || historyPoints < 1 || historyPoints > MAX_HISTORY_POINTS) {
      throw new RangeError(`historyPoints must be an integer from 1 to ${MAX_HISTORY_POINTS}, got ${historyPoints}`);
    }
    const sab = new SharedArrayBuffer(bufferBytes(capacity, historyPoints));
    const i32 = new Int32Array(sab);
    i32[HDR_MAGIC >> 2] = SHM_MAGIC;
    i32[HDR_LAYOUT_VERSION >> 2] = SHM_LAYOUT_VERSION;
    i32[HDR_CAPACITY >> 2] = capacity;
    i32[HDR_SLOT_BYTES >> 2] = SLOT_BYTES;
    i32[HDR_HISTORY_POINTS >> 2] = historyPoints;
    new Float64Array(sab)[HDR_CREATED_AT_MS >> 3] = nowMs;
    return new ShmStore(sab);
  }

  /**
   * Attaches to an existing buffer (the collector's, in a worker; or a snapshot copy).
   * Throws ShmError when its header does not describe this layout.
   */
  constructor(buffer: SharedArrayBuffer | ArrayBuffer) {
    if (buffer.byteLength < HEADER_BYTES) throw new ShmError(`buffer of ${buffer.byteLength} bytes is smaller than the header`);
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer, 0, Math.floor(buffer.byteLength / 4));
    this.f32 = new Float32Array(buffer, 0, Math.floor(buffer.byteLength / 4));
    this.f64 = new Float64Array(buffer, 0, Math.floor(buffer.byteLength / 8));
    this.u16 = new Uint16Array(buffer, 0, Math.floor(buffer.byteLength / 2));
    this.u8 = new Uint8Array(buffer);
    const magic = this.i32[HDR_MAGIC >> 2]!;
    const version = this.i32[HDR_LAYOUT_VERSION >> 2]!;
    const slotBytes = this.i32[HDR_SLOT_BYTES >> 2]!;
    const capacity = this.i32[HDR_CAPACITY >> 2]!;
    const points = this.i32[HDR_HISTORY_POINTS >> 2]!;
    if (magic !== SHM_MAGIC) throw new ShmError(`bad magic 0x${(magic >>> 0).toString(16)}`);
    if (!READABLE_LAYOUT_VERSIONS.has(version)) throw new ShmError(`layout version ${version}, this code reads ${[...READABLE_LAYOUT_VERSIONS].join(' and ')}`);
    if (slotBytes !== SLOT_BYTES) throw new ShmError(`slot size ${slotBytes}, this code reads ${SLOT_BYTES}`);
    if (points < 1 || points > MAX_HISTORY_POINTS) throw new ShmError(`history of ${points} points is out of range`);
    if (capacity < 1 || capacity > MAX_CAPACITY || bufferBytes(capacity, points) !== buffer.byteLength) {
      throw new ShmError(`capacity ${capacity} does not match a buffer of ${buffer.byteLength} bytes`);
    }
    this.capacity = capacity;
    this.historyPoints = points;
    this.layoutVersion = version;
    this.tableLayout = tableLayoutOf(version);
  }

  get createdAtMs(): number {
    return this.f64[HDR_CREATED_AT_MS >> 3]!;
  }

  /** Slots handed out so far; slots [0, slotsUsed) may hold hosts. */
  slotsUsed(): number {
    return Atomics.load(this.i32, HDR_SLOTS_USED >> 2);
  }

  /**
   * Hands out the next free slot, or -1 when the store is full. Writer only (one thread).
   * The slot is initialised (numbers NaN, strings empty, USED flag) before the count that makes
   * it visible to readers is raised.
   */
  allocateSlot(): number {
    const index = this.slotsUsed();
    if (index >= this.capacity) return -1;
    const nums: Array<readonly [NumField, number]> = [];
    for (let f = 0; f < SLOT_NUMBER_FIELDS; f++) nums.push([f as NumField, Number.NaN]);
    const strs: Array<readonly [StrField, string]> = [];
    for (let f = 0; f < STRING_FIELD_COUNT; f++) strs.push([f as StrField, '']);
    this.write(index, { flags: SLOT_FLAG_USED, numbers: nums, strings: strs, clearTables: true });
    this.clearHistory(index);
    Atomics.store(this.i32, HDR_SLOTS_USED >> 2, index + 1);
    return index;
  }

  /**
   * A number that changes whenever any slot was written since it was last taken: the sum of
   * the slots' sequence counters (each write adds 2), plus the count of slots in use. Cheap
   * (one atomic load per used slot), for readers that only act on change.
   */
  changeMark(): number {
    const used = this.slotsUsed();
    let sum = used;
    for (let i = 0; i < used; i++) sum = (sum + Atomics.load(this.i32, (slotOffset(i) + SLOT_LOCK) >> 2)) % 0x7fff_ffff;
    return sum;
  }

  private views(base: number): SlotViews {
    return { u8: this.u8, i32: this.i32, f64: this.f64, u16: this.u16, base };
  }

  /** Updates some fields of a slot as one change: a reader sees all of it or none. Writers only (any thread). */
  write(index: number, update: SlotUpdate): void {
    this.checkIndex(index);
    this.checkWritable();
    const base = slotOffset(index);
    const lock = (base + SLOT_LOCK) >> 2;
    // 1. Make the sequence odd first (lockForWrite: after any other writer's write): a reader
    //    that starts now waits, one in progress will see the sequence change and retry.
    lockForWrite(this.i32, lock);
    // 2. Plain stores: readers never trust them without the check of step 3.
    if (update.flags !== undefined) this.i32[(base + SLOT_FLAGS) >> 2] = update.flags;
    if (update.numbers) {
      const f64Base = (base + SLOT_NUMBERS) >> 3;
      for (const [field, value] of update.numbers) this.f64[f64Base + field] = value;
    }
    if (update.numberFields && update.numberValues) {
      const f64Base = (base + SLOT_NUMBERS) >> 3;
      const fields = update.numberFields;
      const values = update.numberValues;
      for (let k = 0; k < fields.length; k++) this.f64[f64Base + fields[k]!] = values[k]!;
    }
    if (update.strings) {
      for (const [field, value] of update.strings) {
        // Whole characters only, so a string cut at capacity stays valid UTF-8.
        this.i32[((base + SLOT_STRING_LENGTHS) >> 2) + field] = writeUtf8(this.u8, base + STRING_OFFSET[field]!, STRING_CAPACITY[field]!, value);
      }
    }
    if (update.clearTables || update.tables) {
      const views = this.views(base);
      if (update.clearTables) clearTables(views);
      if (update.tables) {
        for (const t of TABLE_LAYOUT) {
          const rows = update.tables[t.name];
          if (rows !== undefined) writeTable(views, t, rows, update.truncatedBefore?.[t.name] ?? 0);
        }
      }
    }
    // 3. Make the sequence even again; as a release, it publishes every store above first.
    unlockAfterWrite(this.i32, lock);
  }

  /**
   * Copies slot `index` into `dest` (SLOT_BYTES long) consistently.
   * Returns the (even) sequence value of the copy, or -1 if a writer kept it busy for
   * MAX_READ_ATTEMPTS tries.
   */
  copySlot(index: number, dest: Uint8Array): number {
    this.checkIndex(index);
    const base = slotOffset(index);
    const lock = (base + SLOT_LOCK) >> 2;
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      // 1. An odd sequence means a write is under way: try again.
      const before = Atomics.load(this.i32, lock);
      if ((before & 1) !== 0) continue;
      // 2. Copy with plain loads; they may race with a writer and be torn.
      dest.set(this.u8.subarray(base, base + SLOT_BYTES));
      // 3. Keep the copy only if no write started or ended meanwhile. compareExchange (not
      //    load) because as a read-modify-write it orders the plain loads above before it on
      //    every CPU, weakly ordered ones included; it stores back the value it found.
      if (Atomics.compareExchange(this.i32, lock, before, before) === before) return before;
    }
    return -1;
  }

  /** A consistent, decoded copy of slot `index` (with its tables if asked), or null if it could not be read this round. */
  readSlot(index: number, withTables = false): SlotData | null {
    const seq = this.copySlot(index, this.scratch);
    if (seq < 0) return null;
    return decodeSlot(this.scratch, index, seq, withTables, this.tableLayout);
  }

  /**
   * Like readSlot, but copies only the slot's head (flags, numbers, strings: SLOT_TABLES bytes
   * of the 16 KiB) and the blocks of the tables named, so a reader of thousands of hosts does
   * not copy tables it will not show. Tables not named read as empty. Null if kept busy.
   */
  readSlotPart(index: number, tables: readonly TableName[] = []): SlotData | null {
    this.checkIndex(index);
    const base = slotOffset(index);
    const lock = (base + SLOT_LOCK) >> 2;
    const dest = this.scratch;
    const blocks = tables.length === 0 ? NO_BLOCKS : this.tableLayout.filter((t) => tables.includes(t.name));
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      // The same three steps as copySlot.
      const before = Atomics.load(this.i32, lock);
      if ((before & 1) !== 0) continue;
      dest.set(this.u8.subarray(base, base + SLOT_TABLES));
      for (const t of blocks) {
        dest.set(this.u8.subarray(base + t.offset, base + t.offset + 8), t.offset);
        const head = t.headRows * t.rowBytes;
        const tail = (t.maxRows - t.headRows) * t.rowBytes;
        dest.set(this.u8.subarray(base + t.headOffset, base + t.headOffset + head), t.headOffset);
        if (tail > 0) dest.set(this.u8.subarray(base + t.tailOffset, base + t.tailOffset + tail), t.tailOffset);
      }
      if (Atomics.compareExchange(this.i32, lock, before, before) !== before) continue;
      const slot = decodeSlot(dest, index, before, false);
      if (tables.length > 0) slot.tables = readTables(slotViewsOf(dest), new Set(tables), this.tableLayout);
      return slot;
    }
    return null;
  }

  /**
   * Reads some numeric fields of slot `index` consistently into `out` (out[k] = fields[k]),
   * without copying the slot. Returns the (even) sequence value, or -1 if kept busy.
   */
  readNumbers(index: number, fields: readonly NumField[], out: Float64Array): number {
    this.checkIndex(index);
    const base = slotOffset(index);
    const lock = (base + SLOT_LOCK) >> 2;
    const f64Base = (base + SLOT_NUMBERS) >> 3;
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      const before = Atomics.load(this.i32, lock);
      if ((before & 1) !== 0) continue;
      for (let k = 0; k < fields.length; k++) out[k] = this.f64[f64Base + fields[k]!]!;
      if (Atomics.compareExchange(this.i32, lock, before, before) === before) return before;
    }
    return -1;
  }

  /** The sequence value of slot `index` right now (odd while a write is under way): cheap change detection. */
  slotSeq(index: number): number {
    this.checkIndex(index);
    return Atomics.load(this.i32, (slotOffset(index) + SLOT_LOCK) >> 2);
  }

  // ---- History rings -----------------------------------------------------------------------

  /**
   * Stores one sample's headline values at time `tMs` in slot `index`'s ring, in the bucket of
   * its second. A bucket already holding a later time of the same second, or any time of a
   * later second (the ring has wrapped past this one), is kept: a late or replayed sample never
   * overwrites newer history. Returns whether the sample was stored. Writer only.
   */
  writeHistory(index: number, tMs: number, values: ArrayLike<number>): boolean {
    this.checkIndex(index);
    this.checkWritable();
    if (!Number.isFinite(tMs) || tMs < 0) return false;
    const points = this.historyPoints;
    const base = ringOffset(this.capacity, points, index);
    const second = Math.floor(tMs / HISTORY_STEP_MS);
    const bucket = second % points;
    const tAt = (base + RING_TIMES) / 8 + bucket;
    const lock = (base + RING_LOCK) >> 2;
    // Same order as write(): odd, plain stores, even; the bucket is checked under the lock.
    lockForWrite(this.i32, lock);
    const held = this.f64[tAt]!;
    if (!Number.isNaN(held)) {
      const heldSecond = Math.floor(held / HISTORY_STEP_MS);
      if (heldSecond > second || (heldSecond === second && held > tMs)) {
        unlockAfterWrite(this.i32, lock);
        return false;
      }
    }
    this.f64[tAt] = tMs;
    const vAt = (base + ringValuesOffset(points)) / 4 + bucket * HISTORY_SERIES.length;
    for (let s = 0; s < HISTORY_SERIES.length; s++) this.f32[vAt + s] = values[s] ?? Number.NaN;
    unlockAfterWrite(this.i32, lock);
    return true;
  }

  /** Empties slot `index`'s ring (a new host in the slot). Writer only. */
  clearHistory(index: number): void {
    this.checkIndex(index);
    const base = ringOffset(this.capacity, this.historyPoints, index);
    const lock = (base + RING_LOCK) >> 2;
    lockForWrite(this.i32, lock);
    this.f64.fill(Number.NaN, (base + RING_TIMES) / 8, (base + RING_TIMES) / 8 + this.historyPoints);
    unlockAfterWrite(this.i32, lock);
  }

  /** Copies slot `index`'s ring into `dest` (ringBytes long) under its lock; -1 if kept busy. */
  copyRing(index: number, dest: Uint8Array): number {
    this.checkIndex(index);
    const bytes = ringBytes(this.historyPoints);
    const base = ringOffset(this.capacity, this.historyPoints, index);
    const lock = (base + RING_LOCK) >> 2;
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      // The same three steps as copySlot, for the same reasons.
      const before = Atomics.load(this.i32, lock);
      if ((before & 1) !== 0) continue;
      dest.set(this.u8.subarray(base, base + bytes));
      if (Atomics.compareExchange(this.i32, lock, before, before) === before) return before;
    }
    return -1;
  }

  /** Slot `index`'s history with fromMs <= t <= toMs, oldest first; null if the ring was kept busy. */
  readHistory(index: number, fromMs: number, toMs: number): HistoryData | null {
    const bytes = ringBytes(this.historyPoints);
    if (this.ringScratch?.length !== bytes) this.ringScratch = new Uint8Array(bytes);
    if (this.copyRing(index, this.ringScratch) < 0) return null;
    return decodeRing(this.ringScratch, this.historyPoints, fromMs, toMs);
  }

  /** Every used slot, each read consistently (slots busy past MAX_READ_ATTEMPTS are skipped). */
  readAll(): SlotData[] {
    const out: SlotData[] = [];
    const used = this.slotsUsed();
    for (let i = 0; i < used; i++) {
      const slot = this.readSlot(i);
      if (slot && (slot.flags & SLOT_FLAG_USED) !== 0) out.push(slot);
    }
    return out;
  }

  /**
   * A store of its own holding the used slots and their rings, each copied under its lock: its
   * capacity is the number of used slots (at least 1), so it is small, and it is a valid buffer
   * of this layout. For readers in another process (scripts/test_reader.ts) and for the state
   * file (collector/state_saver.ts). A slot or ring that stayed busy is copied with its lock
   * odd, which test_reader reports and a restore skips. Copied in one go: for a large store,
   * stream it with snapshotStream() instead.
   */
  snapshot(): Uint8Array {
    const stream = this.snapshotStream();
    const out = new Uint8Array(stream.byteLength);
    let at = 0;
    for (const chunk of stream.chunks()) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  /**
   * The bytes of snapshot(), copied a few slots at a time as the consumer pulls them, so that a
   * large store (55 KiB a host: 550 MB at 10,000 hosts) is never copied whole, nor in one
   * turn of the event loop: the writer's stall is one chunk's copy, and memory one chunk.
   * The slots in use are fixed when this is called; each slot and each ring is consistent on
   * its own, copied when its chunk is pulled (so a slot copied later may hold a newer reading
   * than one copied earlier, never an older one than it held at this call).
   */
  snapshotStream(): SnapshotStream {
    const used = this.slotsUsed();
    const capacity = Math.max(1, used);
    const points = this.historyPoints;
    const header = new Uint8Array(HEADER_BYTES);
    header.set(this.u8.subarray(0, HEADER_BYTES));
    const hdr = new Int32Array(header.buffer);
    hdr[HDR_SLOTS_USED >> 2] = used;
    hdr[HDR_CAPACITY >> 2] = capacity;
    const byteLength = bufferBytes(capacity, points);
    const ring = ringBytes(points);
    const store = this;
    // Items (slots, or rings) of `size` bytes in groups of at most maxChunkBytes, each copied
    // under its lock when its group is pulled; one that stayed busy keeps its lock odd, and the
    // unused slot of an empty store stays zero, as in a fresh buffer.
    function* groups(size: number, maxChunkBytes: number, copy: (index: number, dest: Uint8Array) => number): Generator<Uint8Array> {
      const per = Math.max(1, Math.floor(maxChunkBytes / size));
      for (let i = 0; i < capacity; i += per) {
        const n = Math.min(capacity - i, per);
        const chunk = new Uint8Array(n * size);
        for (let k = 0; k < n && i + k < used; k++) {
          if (copy(i + k, chunk.subarray(k * size, (k + 1) * size)) < 0) new Int32Array(chunk.buffer, k * size, 1)[0] = 1;
        }
        yield chunk;
      }
    }
    function* chunks(maxChunkBytes = SNAPSHOT_CHUNK_BYTES): Generator<Uint8Array> {
      // The header, the slots, then the rings: the layout has nothing between or after them.
      yield header;
      yield* groups(SLOT_BYTES, maxChunkBytes, (i, dest) => store.copySlot(i, dest));
      yield* groups(ring, maxChunkBytes, (i, dest) => store.copyRing(i, dest));
    }
    return { byteLength, hosts: used, chunks };
  }

  /**
   * Fills an empty store from a snapshot (a restart restoring its state file): slots in order,
   * as many as fit, each with its history re-bucketed into this store's ring length. Slots or
   * rings whose copy was taken mid-write are skipped. Returns how many slots were restored and
   * how many did not fit. Writer only, before any other write.
   */
  restoreFrom(source: ShmStore): { restored: number; dropped: number } {
    if (this.slotsUsed() !== 0) throw new Error('restoreFrom needs an empty store');
    const used = source.slotsUsed();
    let restored = 0;
    const all = Number.POSITIVE_INFINITY;
    for (let i = 0; i < used && restored < this.capacity; i++) {
      const slot = source.readSlot(i, true);
      if (!slot || (slot.flags & SLOT_FLAG_USED) === 0) continue;
      const index = this.allocateSlot();
      const numbers: Array<readonly [NumField, number]> = [];
      for (let f = 0; f < SLOT_NUMBER_FIELDS; f++) numbers.push([f, slot.numbers[f]!]);
      const strings = slot.strings.map((v, f) => [f as StrField, v] as const);
      const tables: Partial<Record<TableName, TableInput>> = {};
      for (const t of TABLE_LAYOUT) tables[t.name] = slot.tables![t.name].rows.map((r) => (r === null ? Number.NaN : r)) as TableInput;
      this.write(index, { flags: slot.flags, numbers, strings, tables });
      for (const t of TABLE_LAYOUT) this.setTruncated(index, t.name, slot.tables![t.name].truncated);
      const history = source.readHistory(i, 0, all);
      if (history) history.t.forEach((t, k) => this.writeHistory(index, t, history.values.map((col) => col[k]!)));
      restored++;
    }
    return { restored, dropped: used - restored };
  }

  /** Sets a table's truncated count without touching its rows (restore only). */
  private setTruncated(index: number, table: TableName, truncated: number): void {
    const t = TABLE_LAYOUT.find((x) => x.name === table)!;
    const base = slotOffset(index);
    const lock = (base + SLOT_LOCK) >> 2;
    lockForWrite(this.i32, lock);
    this.i32[(base + t.offset + 4) >> 2] = truncated;
    unlockAfterWrite(this.i32, lock);
  }

  /** A store of an older layout is only read (restored from): writing would mix two layouts. */
  private checkWritable(): void {
    if (this.layoutVersion !== SHM_LAYOUT_VERSION) throw new ShmError(`a store of layout version ${this.layoutVersion} is read only; this code writes ${SHM_LAYOUT_VERSION}`);
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.capacity) {
      throw new RangeError(`slot index ${index} is outside 0..${this.capacity - 1}`);
    }
  }
}

/** Decodes a slot's bytes (a consistent copy, SLOT_BYTES long, 8-byte aligned), its tables laid out as `layout`. Pure. */
export function decodeSlot(bytes: Uint8Array, index: number, lockSeq: number, withTables = false, layout: readonly TableLayout[] = TABLE_LAYOUT): SlotData {
  if (bytes.length < SLOT_BYTES || bytes.byteOffset % 8 !== 0) throw new RangeError('slot copy must be SLOT_BYTES long and 8-byte aligned');
  const i32 = new Int32Array(bytes.buffer, bytes.byteOffset, SLOT_BYTES >> 2);
  const numbers = new Float64Array(SLOT_NUMBER_FIELDS);
  numbers.set(new Float64Array(bytes.buffer, bytes.byteOffset + SLOT_NUMBERS, SLOT_NUMBER_FIELDS));
  const strings: string[] = [];
  for (let f = 0; f < STRING_FIELD_COUNT; f++) {
    // Clamp: in a corrupt copy a length must not read past its own field.
    const len = Math.max(0, Math.min(i32[(SLOT_STRING_LENGTHS >> 2) + f]!, STRING_CAPACITY[f]!));
    const off = STRING_OFFSET[f]!;
    strings.push(decoder.decode(bytes.subarray(off, off + len)));
  }
  const slot: SlotData = { index, lockSeq, flags: i32[SLOT_FLAGS >> 2]!, numbers, strings };
  if (withTables) slot.tables = readTables(slotViewsOf(bytes), undefined, layout);
  return slot;
}

/** Typed views over a slot copy, for shm_tables.ts. */
export function slotViewsOf(bytes: Uint8Array): SlotViews {
  const b = bytes.buffer;
  const o = bytes.byteOffset;
  return {
    u8: bytes,
    i32: new Int32Array(b, o, SLOT_BYTES >> 2),
    f64: new Float64Array(b, o, SLOT_BYTES >> 3),
    u16: new Uint16Array(b, o, SLOT_BYTES >> 1),
    base: 0,
  };
}

/** Decodes a ring copy (ringBytes(points) long, 8-byte aligned): buckets with fromMs <= t <= toMs, oldest first. Pure. */
export function decodeRing(bytes: Uint8Array, points: number, fromMs: number, toMs: number): HistoryData {
  const times = new Float64Array(bytes.buffer, bytes.byteOffset + RING_TIMES, points);
  const vals = new Float32Array(bytes.buffer, bytes.byteOffset + ringValuesOffset(points), points * HISTORY_SERIES.length);
  const order: number[] = [];
  for (let b = 0; b < points; b++) {
    const t = times[b]!;
    if (!Number.isNaN(t) && t >= fromMs && t <= toMs) order.push(b);
  }
  order.sort((a, b) => times[a]! - times[b]!);
  const values = HISTORY_SERIES.map((_, s) => order.map((b) => vals[b * HISTORY_SERIES.length + s]!));
  return { t: order.map((b) => times[b]!), values };
}

/** The raw string length stored for a field (for consistency checks on snapshots). */
export function storedStringLength(bytes: Uint8Array, field: StrField): number {
  return new Int32Array(bytes.buffer, bytes.byteOffset, SLOT_BYTES >> 2)[(SLOT_STRING_LENGTHS >> 2) + field]!;
}
