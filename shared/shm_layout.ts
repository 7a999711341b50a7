/**
 * The shared-memory layout: every offset and size, named. Only shared/shm_store.ts reads or
 * writes these bytes; everyone else goes through it.
 *
 *   SharedArrayBuffer
 *   +--------------------------- header, HEADER_BYTES = 64 -----------------------------+
 *   | 0  MAGIC i32 | 4 LAYOUT_VERSION i32 | 8 CAPACITY i32 | 12 SLOT_BYTES i32           |
 *   | 16 SLOTS_USED i32 (high-water mark of allocated slots) | 20 reserved i32           |
 *   | 24 CREATED_AT_MS f64 | 32..63 reserved                                            |
 *   +--------------------------- slot 0, SLOT_BYTES = 1024 -----------------------------+
 *   | 0  LOCK i32   sequence lock: odd while a write is in progress                     |
 *   | 4  FLAGS i32  SLOT_FLAG_USED | SLOT_FLAG_CONNECTED                                 |
 *   | 8  string lengths, i32 x STRING_FIELD_COUNT (bytes used by each string)           |
 *   | 40 numbers, f64 x NUMBER_FIELD_COUNT (NaN = no value)                             |
 *   | 232 string bytes, UTF-8, each field at its own fixed offset and capacity          |
 *   | ... padding to SLOT_BYTES                                                         |
 *   +--------------------------- slot 1 ... slot CAPACITY-1 ----------------------------+
 *
 * Offsets are in bytes from the start of the buffer (header) or of the slot (slot fields).
 * Every f64 sits at a multiple of 8 and every i32 at a multiple of 4, so typed-array views over
 * the whole buffer can address them.
 */
import {
  MAX_AGENT_VERSION_BYTES, MAX_ARCH_BYTES, MAX_CPU_MODEL_BYTES, MAX_HOST_BYTES, MAX_KERNEL_BYTES, MAX_OS_BYTES,
} from './protocol.ts';

/** 'CSN1' as a big-endian 32-bit integer. */
export const SHM_MAGIC = 0x43534e31;
/** Bumped whenever this file changes the meaning of a byte. */
export const SHM_LAYOUT_VERSION = 1;

export const HEADER_BYTES = 64;
export const HDR_MAGIC = 0;
export const HDR_LAYOUT_VERSION = 4;
export const HDR_CAPACITY = 8;
export const HDR_SLOT_BYTES = 12;
export const HDR_SLOTS_USED = 16;
export const HDR_CREATED_AT_MS = 24;

export const SLOT_LOCK = 0;
export const SLOT_FLAGS = 4;
export const SLOT_STRING_LENGTHS = 8;
export const SLOT_STRING_LENGTHS_MAX = 8; // room for 8 string fields: 8 x i32 = 32 bytes
export const SLOT_NUMBERS = SLOT_STRING_LENGTHS + SLOT_STRING_LENGTHS_MAX * 4; // 40
export const SLOT_NUMBERS_MAX = 24; // room for 24 f64 fields: 192 bytes
export const SLOT_STRINGS = SLOT_NUMBERS + SLOT_NUMBERS_MAX * 8; // 232
export const SLOT_BYTES = 1024;

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
} as const);
export type NumField = (typeof NUM)[keyof typeof NUM];
export const NUMBER_FIELD_COUNT = 19;

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

/** Capacity of each string field, in UTF-8 bytes, by StrField. */
export const STRING_CAPACITY: readonly number[] = Object.freeze([
  MAX_HOST_BYTES, MAX_AGENT_VERSION_BYTES, MAX_OS_BYTES, MAX_KERNEL_BYTES, MAX_ARCH_BYTES, MAX_CPU_MODEL_BYTES, 200,
]);

/** Byte offset of each string field inside a slot, by StrField. */
export const STRING_OFFSET: readonly number[] = Object.freeze(
  STRING_CAPACITY.reduce<number[]>((acc, _cap, i) => {
    acc.push(i === 0 ? SLOT_STRINGS : acc[i - 1]! + STRING_CAPACITY[i - 1]!);
    return acc;
  }, []),
);

/** The first byte after the last string field; must fit in the slot. */
export const SLOT_USED_BYTES = STRING_OFFSET[STRING_FIELD_COUNT - 1]! + STRING_CAPACITY[STRING_FIELD_COUNT - 1]!;

/** Bytes a buffer of `capacity` slots takes. */
export function bufferBytes(capacity: number): number {
  return HEADER_BYTES + capacity * SLOT_BYTES;
}

/** Byte offset of slot `index` from the start of the buffer. */
export function slotOffset(index: number): number {
  return HEADER_BYTES + index * SLOT_BYTES;
}

// Checked once at load: a layout edit that overflows a slot fails at start, not at run time.
if (NUMBER_FIELD_COUNT > SLOT_NUMBERS_MAX || STRING_FIELD_COUNT > SLOT_STRING_LENGTHS_MAX || SLOT_USED_BYTES > SLOT_BYTES) {
  throw new RangeError(`shared-memory slot overflows: ${SLOT_USED_BYTES} bytes used of ${SLOT_BYTES}`);
}
if (Object.keys(NUM).length !== NUMBER_FIELD_COUNT || Object.keys(STR).length !== STRING_FIELD_COUNT) {
  throw new RangeError('NUMBER_FIELD_COUNT / STRING_FIELD_COUNT disagree with NUM / STR');
}
