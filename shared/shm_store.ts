/**
 * The one module that touches Atomics. One writer (the collector's main thread) updates slots
 * under a sequence lock; any number of readers (the dashboard worker, snapshots) copy a slot
 * and keep the copy only if the sequence was even and unchanged around it. A writer never
 * waits on a reader; a reader retries a bounded number of times.
 */
import {
  bufferBytes, HDR_CAPACITY, HDR_CREATED_AT_MS, HDR_LAYOUT_VERSION, HDR_MAGIC, HDR_SLOT_BYTES, HDR_SLOTS_USED,
  HEADER_BYTES, NUMBER_FIELD_COUNT, SHM_LAYOUT_VERSION, SHM_MAGIC, SLOT_BYTES, SLOT_FLAG_USED, SLOT_FLAGS, SLOT_LOCK,
  SLOT_NUMBERS, SLOT_STRING_LENGTHS, slotOffset, STRING_CAPACITY, STRING_FIELD_COUNT, STRING_OFFSET,
  type NumField, type StrField,
} from './shm_layout.ts';
import { ShmError } from './errors.ts';

/** Largest capacity a store accepts, in slots (64 MiB of slots). */
export const MAX_CAPACITY = 65_536;
/** How often a reader retries a slot that is being written before it gives up this round. */
export const MAX_READ_ATTEMPTS = 1000;

export interface SlotUpdate {
  flags?: number;
  numbers?: ReadonlyArray<readonly [NumField, number]>;
  strings?: ReadonlyArray<readonly [StrField, string]>;
}

/** A consistent copy of one slot, decoded. */
export interface SlotData {
  index: number;
  /** The sequence-lock value the copy was taken at (always even). */
  lockSeq: number;
  flags: number;
  /** By NumField; NaN where there is no value. */
  numbers: Float64Array;
  /** By StrField. */
  strings: string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

export class ShmStore {
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  readonly capacity: number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly u8: Uint8Array;
  private readonly scratch = new Uint8Array(SLOT_BYTES);

  /** Allocates and initialises a new buffer of `capacity` slots. */
  static create(capacity: number, nowMs = Date.now()): ShmStore {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(`capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${capacity}`);
    }
    const sab = new SharedArrayBuffer(bufferBytes(capacity));
    const i32 = new Int32Array(sab);
    i32[HDR_MAGIC >> 2] = SHM_MAGIC;
    i32[HDR_LAYOUT_VERSION >> 2] = SHM_LAYOUT_VERSION;
    i32[HDR_CAPACITY >> 2] = capacity;
    i32[HDR_SLOT_BYTES >> 2] = SLOT_BYTES;
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
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer, 0, Math.floor(buffer.byteLength / 8));
    this.u8 = new Uint8Array(buffer);
    const magic = this.i32[HDR_MAGIC >> 2]!;
    const version = this.i32[HDR_LAYOUT_VERSION >> 2]!;
    const slotBytes = this.i32[HDR_SLOT_BYTES >> 2]!;
    const capacity = this.i32[HDR_CAPACITY >> 2]!;
    if (magic !== SHM_MAGIC) throw new ShmError(`bad magic 0x${(magic >>> 0).toString(16)}`);
    if (version !== SHM_LAYOUT_VERSION) throw new ShmError(`layout version ${version}, this code reads ${SHM_LAYOUT_VERSION}`);
    if (slotBytes !== SLOT_BYTES) throw new ShmError(`slot size ${slotBytes}, this code reads ${SLOT_BYTES}`);
    if (capacity < 1 || capacity > MAX_CAPACITY || bufferBytes(capacity) !== buffer.byteLength) {
      throw new ShmError(`capacity ${capacity} does not match a buffer of ${buffer.byteLength} bytes`);
    }
    this.capacity = capacity;
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
    for (let f = 0; f < NUMBER_FIELD_COUNT; f++) nums.push([f as NumField, Number.NaN]);
    const strs: Array<readonly [StrField, string]> = [];
    for (let f = 0; f < STRING_FIELD_COUNT; f++) strs.push([f as StrField, '']);
    this.write(index, { flags: SLOT_FLAG_USED, numbers: nums, strings: strs });
    Atomics.store(this.i32, HDR_SLOTS_USED >> 2, index + 1);
    return index;
  }

  /** Updates some fields of a slot as one change: a reader sees all of it or none. Writer only. */
  write(index: number, update: SlotUpdate): void {
    this.checkIndex(index);
    const base = slotOffset(index);
    const lock = (base + SLOT_LOCK) >> 2;
    // 1. Make the sequence odd first: a reader that starts now waits, one in progress will
    //    see the sequence change and retry. Atomics.add is sequentially consistent; V8 emits it
    //    as a locked RMW (x86) or acquire-release exclusive pair (ARM64), so the plain stores
    //    below do not become visible before it on the CPUs Node runs on.
    Atomics.add(this.i32, lock, 1);
    // 2. Plain stores: readers never trust them without the check of step 3.
    if (update.flags !== undefined) this.i32[(base + SLOT_FLAGS) >> 2] = update.flags;
    if (update.numbers) {
      const f64Base = (base + SLOT_NUMBERS) >> 3;
      for (const [field, value] of update.numbers) this.f64[f64Base + field] = value;
    }
    if (update.strings) {
      for (const [field, value] of update.strings) {
        const off = base + STRING_OFFSET[field]!;
        // encodeInto writes whole characters only, so a string cut at capacity stays valid UTF-8.
        const { written } = encoder.encodeInto(value, this.u8.subarray(off, off + STRING_CAPACITY[field]!));
        this.i32[((base + SLOT_STRING_LENGTHS) >> 2) + field] = written;
      }
    }
    // 3. Make the sequence even again; as a release, it publishes every store above first.
    Atomics.add(this.i32, lock, 1);
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

  /** A consistent, decoded copy of slot `index`, or null if it could not be read this round. */
  readSlot(index: number): SlotData | null {
    const seq = this.copySlot(index, this.scratch);
    if (seq < 0) return null;
    return decodeSlot(this.scratch, index, seq);
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
   * A copy of the whole buffer in which every used slot was copied under its lock, for readers
   * in another process (scripts/test_reader.ts). A slot that stayed busy is copied with its
   * lock odd, which the reader reports as inconsistent.
   */
  snapshot(): Uint8Array {
    const out = new Uint8Array(this.buffer.byteLength);
    out.set(this.u8.subarray(0, HEADER_BYTES));
    const used = this.slotsUsed();
    new Int32Array(out.buffer, 0, HEADER_BYTES >> 2)[HDR_SLOTS_USED >> 2] = used;
    for (let i = 0; i < used; i++) {
      const dest = out.subarray(slotOffset(i), slotOffset(i) + SLOT_BYTES);
      if (this.copySlot(i, dest) < 0) new Int32Array(out.buffer, slotOffset(i), 1)[0] = 1;
    }
    return out;
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.capacity) {
      throw new RangeError(`slot index ${index} is outside 0..${this.capacity - 1}`);
    }
  }
}

/** Decodes a slot's bytes (a consistent copy, SLOT_BYTES long, 8-byte aligned). Pure. */
export function decodeSlot(bytes: Uint8Array, index: number, lockSeq: number): SlotData {
  if (bytes.length < SLOT_BYTES || bytes.byteOffset % 8 !== 0) throw new RangeError('slot copy must be SLOT_BYTES long and 8-byte aligned');
  const i32 = new Int32Array(bytes.buffer, bytes.byteOffset, SLOT_BYTES >> 2);
  const numbers = new Float64Array(NUMBER_FIELD_COUNT);
  numbers.set(new Float64Array(bytes.buffer, bytes.byteOffset + SLOT_NUMBERS, NUMBER_FIELD_COUNT));
  const strings: string[] = [];
  for (let f = 0; f < STRING_FIELD_COUNT; f++) {
    // Clamp: in a corrupt copy a length must not read past its own field.
    const len = Math.max(0, Math.min(i32[(SLOT_STRING_LENGTHS >> 2) + f]!, STRING_CAPACITY[f]!));
    const off = STRING_OFFSET[f]!;
    strings.push(decoder.decode(bytes.subarray(off, off + len)));
  }
  return { index, lockSeq, flags: i32[SLOT_FLAGS >> 2]!, numbers, strings };
}

/** The raw string length stored for a field (for consistency checks on snapshots). */
export function storedStringLength(bytes: Uint8Array, field: StrField): number {
  return new Int32Array(bytes.buffer, bytes.byteOffset, SLOT_BYTES >> 2)[(SLOT_STRING_LENGTHS >> 2) + field]!;
}
