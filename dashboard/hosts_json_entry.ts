/**
 * One host of /api/hosts read straight from shared memory: the fields its overview needs, and
 * its JSON fragment written as bytes (dashboard/hosts_json_writer.ts), with no slot copy, no
 * decoded strings or table rows, and no text in between. dashboard/hosts_json.ts caches these
 * by slot sequence value and serves them.
 *
 * The read follows the store's sequence-lock discipline (shared/shm_store.ts) through its own
 * calls, so this file touches no Atomics: ShmStore.slotSeq (an atomic load) before, plain loads
 * of the bytes through views over the store's buffer, then ShmStore.readNumbers with no fields
 * after: its compareExchange orders the plain loads before it and gives the sequence value as
 * of then. Equal and even: the bytes were whole. Otherwise the fragment is thrown away and read
 * again. Every length and count read is clamped, so torn bytes cannot send a read past its field.
 */
import { hostEnergyInto, type HostEnergy } from '../shared/host_view.ts';
import { READINGS, type PowerSource } from '../shared/protocol.ts';
import {
  NUM, POWER_SOURCE_CODE, READING_NUM, SLOT_FLAG_CONNECTED, SLOT_FLAG_USED, SLOT_FLAGS, SLOT_NUMBER_FIELDS, SLOT_NUMBERS,
  rowOffset, SLOT_STRING_LENGTHS, slotOffset, STR, STRING_CAPACITY, STRING_OFFSET, TABLE_LAYOUT,
} from '../shared/shm_layout.ts';
import { MAX_READ_ATTEMPTS, type ShmStore } from '../shared/shm_store.ts';
import { asciiBytes, JsonBytes, literal, LITERAL_OVERRUN_BYTES, MAX_ESCAPED_BYTES_PER_BYTE, MAX_NUMBER_CHARS } from './hosts_json_writer.ts';

// Module bindings as locals: under tsx each access to an imported binding is a getter call.
const F = { ...NUM };
const S = { ...STR };
const FLAG_CONNECTED = SLOT_FLAG_CONNECTED;
const FLAG_USED = SLOT_FLAG_USED;
const F_POWER_W = READING_NUM.power_w;
const FIELDS = SLOT_NUMBER_FIELDS;
const CODE_MEASURED = POWER_SOURCE_CODE.measured;
const CODE_ESTIMATED = POWER_SOURCE_CODE.estimated;
const STR_OFFSET = Int32Array.from(STRING_OFFSET);
const STR_CAPACITY = Int32Array.from(STRING_CAPACITY);
const SLOT_FLAGS_AT = SLOT_FLAGS;
const SLOT_NUMBERS_AT = SLOT_NUMBERS;
const SLOT_STRING_LENGTHS_AT = SLOT_STRING_LENGTHS;

/** The fs table's header, and where in a row the fullest filesystem's columns sit (rows: rowOffset). */
const FS = TABLE_LAYOUT.find((t) => t.name === 'fs')!;
const FS_OFFSET = FS.offset;
const FS_MAX_ROWS = FS.maxRows;
const FS_USED = FS.numColumns.indexOf('used_bytes');
const FS_FREE = FS.numColumns.indexOf('free_bytes');
const FS_MOUNT = FS.textColumns.find((c) => c.name === 'mount')!;
const FS_MOUNT_OFFSET = FS_MOUNT.offset;
const FS_MOUNT_CAPACITY = FS_MOUNT.capacity;
if (FS_USED < 0 || FS_FREE < 0) throw new RangeError('the fs table has no used_bytes or free_bytes column');

// The fragment's text between its values, in hostView's field order as far as "energy" (status,
// age_ms and alerts are written when the payload is served).
const K = {
  name: literal('{"name":'),
  slot: literal(',"slot":'),
  receivedAt: literal(',"received_at_ms":'),
  sampleTs: literal(',"sample_ts_ms":'),
  sampleSeq: literal(',"sample_seq":'),
  samplesTotal: literal(',"samples_total":'),
  interval: literal(',"interval_ms":'),
  connectedSince: literal(',"connected_since_ms":'),
  disconnectedAt: literal(',"disconnected_at_ms":'),
  agent: literal(',"agent":'),
  os: literal(',"os":'),
  kernel: literal(',"kernel":'),
  arch: literal(',"arch":'),
  cpuModel: literal(',"cpu_model":'),
  cpuCores: literal(',"cpu_cores":'),
  cpuPct: literal(',"cpu_pct":'),
  load: literal(',"load":['),
  comma: literal(','),
  memTotal: literal('],"mem_total_bytes":'),
  memUsed: literal(',"mem_used_bytes":'),
  memAvailable: literal(',"mem_available_bytes":'),
  swapTotal: literal(',"swap_total_bytes":'),
  swapUsed: literal(',"swap_used_bytes":'),
  uptime: literal(',"uptime_s":'),
  note: literal(',"note":'),
  readings: literal(',"readings":{'),
  bootTime: literal('},"boot_time_ms":'),
  powerSource: literal(',"power_source":'),
  measured: literal('"measured"'),
  estimated: literal('"estimated"'),
  memUsedPct: literal(',"mem_used_pct":'),
  diskFullestPct: literal(',"disk_fullest_pct":'),
  diskFullestMount: literal(',"disk_fullest_mount":'),
  energy: literal(',"energy":'),
};
const READING_KEYS = READINGS.map((r, i) => literal(`${i === 0 ? '' : ','}${JSON.stringify(r.name)}:`));
/** Each reading's key with a null value: one write for a reading not taken. */
const READING_NULLS = READINGS.map((r, i) => literal(`${i === 0 ? '' : ','}${JSON.stringify(r.name)}:null`));
const READING_FIELDS = Int32Array.from(READINGS, (r) => READING_NUM[r.name]);

/**
 * The readings the overview's event stream carries (GET /api/events?view=overview: what
 * dashboard/static/overview.js normalizeHost reads under `readings`), in READINGS order.
 */
export const OVERVIEW_READINGS: readonly string[] = Object.freeze(READINGS.map((r) => r.name).filter((n) => ['net_rx_bps', 'net_tx_bps', 'temp_max_c', 'power_w'].includes(n)));
/** Each reading's place in OVERVIEW_READINGS, -1 when the overview leaves it out. */
const OVERVIEW_READING_OF = Int32Array.from(READINGS, (r) => OVERVIEW_READINGS.indexOf(r.name));

/**
 * Where in a fragment the parts an overview entry is cut from begin and end (byte offsets,
 * recorded as the fragment is written: HostEntry.cuts). The facts (agent version, OS, kernel,
 * arch, CPU model) run from FACTS to CORES and the note from NOTE to READINGS; each overview
 * reading k from READING + 2k to READING + 2k + 1 (its key's comma included).
 */
const CUT = Object.freeze({
  SLOT: 0, SLOT_END: 1, TS: 2, TS_END: 3, FACTS: 4, CORES: 5, LOAD: 6, MEM: 7, MEM_END: 8,
  UPTIME: 9, NOTE: 10, READINGS: 11, TAIL: 12, TAIL_END: 13, READING: 14,
});
const CUT_COUNT = CUT.READING + 2 * OVERVIEW_READINGS.length;
const E = {
  today: literal('{"today_kwh":'),
  todayCost: literal(',"today_cost":'),
  month: literal(',"month_kwh":'),
  monthCost: literal(',"month_cost":'),
  total: literal(',"total_kwh":'),
  totalCost: literal(',"total_cost":'),
  since: literal(',"since_ms":'),
  projection: literal(',"projection":'),
  projMonth: literal('{"month_kwh":'),
  projMonthCost: literal(',"month_cost":'),
  projNext: literal(',"next_kwh":'),
  projNextCost: literal(',"next_cost":'),
  projDays: literal(',"days":'),
  end: literal('}'),
};
const KEY_BYTES = [...Object.values(K), ...READING_NULLS, ...Object.values(E)].reduce((n, k) => n + k.length, 0);
/** Numbers a fragment and its energy block hold, at most (fields, load, readings, energy, percentages). */
const MAX_NUMBERS = 40 + READINGS.length;
/** Most bytes of a fragment with its energy block: every key, number and string at its longest. */
export const MAX_FRAGMENT_BYTES = KEY_BYTES + MAX_NUMBERS * MAX_NUMBER_CHARS
  + (STRING_CAPACITY.reduce((n, c) => n + c, 0) + FS_MOUNT_CAPACITY) * MAX_ESCAPED_BYTES_PER_BYTE + 2 * (STRING_CAPACITY.length + 1)
  + LITERAL_OVERRUN_BYTES;

const NULL_BYTES = asciiBytes('null');
/** The numbers an entry keeps of a host without energy figures: those the summary reads. */
const KEPT_FIELDS = Int32Array.from([
  F.RECEIVED_AT_MS, F.INTERVAL_MS, F.CPU_PCT, F.CPU_CORES, F.MEM_USED_BYTES, F.MEM_TOTAL_BYTES, READING_NUM.power_w, F.POWER_SOURCE,
]);
const NO_FIELDS: readonly number[] = [];
const NO_VALUES = new Float64Array(0);
const decoder = new TextDecoder('utf-8', { fatal: false });

/** One host as last read: its fragment, and the numbers the summary and status need. */
export class HostEntry {
  /** The slot's sequence value the fragment was read at (even). */
  seq = -1;
  name = '';
  /**
   * UTF-8 of `{"name":...` to `"energy":` (fixedLen bytes), then the energy block's JSON (to
   * fragLen): frag[0, fragLen). frag may be longer, room for the next read's to grow into.
   */
  frag: Uint8Array = NULL_BYTES;
  fixedLen = 0;
  fragLen = 0;
  connected = false;
  receivedMs: number | null = null;
  intervalMs = 1000;
  cpuPct: number | null = null;
  cpuCores: number | null = null;
  memUsed: number | null = null;
  memTotal: number | null = null;
  powerW: number | null = null;
  powerSource: PowerSource | null = null;
  energy: HostEnergy | null = null;
  /** The object `energy` is worked out into, kept while it is null: one per entry, not one per read. */
  energyBox: HostEnergy | null = null;
  /** The energy block holds from energyFromMs until energyUntilMs (collector clock); else rebuilt. */
  energyFromMs = 0;
  energyUntilMs = -1;

  /** The slot's numbers as read (by NumField), for the energy block when a day or month ends; null for a host without energy figures. */
  numbers: Float64Array | null = null;

  /** Where the parts of an overview entry lie in frag (CUT); swapped with the reader's at each read. */
  cuts = new Int32Array(CUT_COUNT);

  constructor(readonly slot: number) {}
}

function num(v: number): number | null {
  return v !== v ? null : v;
}

/** Byte regions for fragments, cut from large blocks: one allocation per block, not per host. */
class Regions {
  private block = new Uint8Array(0);
  private used = 0;
  private numbers = new Float64Array(0);
  private numbersUsed = 0;

  bytes(n: number): Uint8Array {
    if (this.used + n > this.block.length) {
      this.block = new Uint8Array(Math.max(n, REGION_BLOCK_BYTES));
      this.used = 0;
    }
    const out = this.block.subarray(this.used, this.used + n);
    this.used += n;
    return out;
  }

  /** SLOT_NUMBER_FIELDS numbers. */
  slotNumbers(): Float64Array {
    if (this.numbersUsed + FIELDS > this.numbers.length) {
      this.numbers = new Float64Array(FIELDS * NUMBERS_PER_BLOCK);
      this.numbersUsed = 0;
    }
    const out = this.numbers.subarray(this.numbersUsed, this.numbersUsed + FIELDS);
    this.numbersUsed += FIELDS;
    return out;
  }
}
/** Bytes of one block of fragment regions (a region whose fragment outgrows it is cut anew; the block is freed once none of it is used). */
const REGION_BLOCK_BYTES = 256 * 1024;
/** Hosts whose numbers share one block. */
const NUMBERS_PER_BLOCK = 256;
/** Room left after a fragment for its next reading to grow into (longer numbers, a note). */
const REGION_SLACK_BYTES = 64;

/** Reads slots of one store into entries. Single-threaded: one per cache. */
export class EntryReader {
  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly w = new JsonBytes(2 * MAX_FRAGMENT_BYTES);
  /** The numbers of the read under way, kept only if it is whole. */
  private readonly scratch = new Float64Array(FIELDS);
  /** The connected flag of the read under way. */
  private connected = false;
  /** Whether the slot of the read under way has energy figures (its energy block is not null). */
  private withEnergy = false;
  private readonly regions = new Regions();
  /** The cut points of the read under way (HostEntry.cuts); it and the entry's trade arrays at a commit. */
  private cuts = new Int32Array(CUT_COUNT);

  constructor(private readonly store: ShmStore) {
    const b = store.buffer;
    this.u8 = new Uint8Array(b);
    this.u16 = new Uint16Array(b, 0, Math.floor(b.byteLength / 2));
    this.i32 = new Int32Array(b, 0, Math.floor(b.byteLength / 4));
    this.f64 = new Float64Array(b, 0, Math.floor(b.byteLength / 8));
  }

  /**
   * Slot `index` read as of `nowMs`, into `entry` (its last entry, updated in place; a new one
   * when null): the entry, null when the slot holds no host, or undefined when a writer kept it
   * busy for MAX_READ_ATTEMPTS tries (then `entry` is left as it was).
   */
  read(index: number, entry: HostEntry | null, nowMs: number): HostEntry | null | undefined {
    const store = this.store;
    const base = slotOffset(index);
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      // 1. An odd sequence means a write is under way: try again.
      const seq = store.slotSeq(index);
      if ((seq & 1) !== 0) continue;
      // 2. Plain loads, which may be torn: nothing is kept until step 3 says they were whole.
      const used = (this.i32[(base + SLOT_FLAGS_AT) >> 2]! & FLAG_USED) !== 0;
      const name = used ? this.writeFixed(index, base, entry) : '';
      // 3. The same sequence, even, after the loads: they were whole.
      if (store.readNumbers(index, NO_FIELDS, NO_VALUES) !== seq) continue;
      return used ? this.commit(index, entry, seq, name, nowMs) : null;
    }
    return undefined;
  }

  /**
   * The energy block of `e` as of `nowMs`, worked out again only when the clock has passed the
   * end of a day, month or projection it used (or stepped back before the time it was built).
   */
  energyAt(e: HostEntry, nowMs: number): void {
    if ((nowMs >= e.energyFromMs && nowMs < e.energyUntilMs) || e.numbers === null) return;
    const w = this.w;
    w.reset(MAX_FRAGMENT_BYTES);
    this.writeEnergy(e, e.numbers, nowMs);
    const len = e.fixedLen + w.at;
    if (len > e.frag.length) {
      const next = this.regions.bytes(len + REGION_SLACK_BYTES);
      next.set(e.frag.subarray(0, e.fixedLen));
      e.frag = next;
    }
    e.frag.set(w.out.subarray(0, w.at), e.fixedLen);
    e.fragLen = len;
  }

  private commit(index: number, old: HostEntry | null, seq: number, name: string, nowMs: number): HostEntry {
    const n = this.scratch;
    const e = old ?? new HostEntry(index);
    const w = this.w;
    const fixedLen = w.at;
    if (this.withEnergy) {
      e.numbers ??= this.regions.slotNumbers();
      e.numbers.set(n);
      this.writeEnergy(e, e.numbers, nowMs);
    } else {
      // No energy figures: null whatever the clock says, never worked out again.
      w.nul();
      e.energy = null;
      e.energyFromMs = Number.NEGATIVE_INFINITY;
      e.energyUntilMs = Number.POSITIVE_INFINITY;
    }
    const len = w.at;
    if (len > e.frag.length) e.frag = this.regions.bytes(len + REGION_SLACK_BYTES);
    e.frag.set(w.out.subarray(0, len));
    // The cut points go with the fragment: a trade of arrays, not a copy.
    const cuts = e.cuts;
    e.cuts = this.cuts;
    this.cuts = cuts;
    e.fixedLen = fixedLen;
    e.fragLen = len;
    e.seq = seq;
    e.name = name;
    e.connected = this.connected;
    e.receivedMs = num(n[F.RECEIVED_AT_MS]!);
    e.intervalMs = num(n[F.INTERVAL_MS]!) ?? 1000;
    e.cpuPct = num(n[F.CPU_PCT]!);
    e.cpuCores = num(n[F.CPU_CORES]!);
    e.memUsed = num(n[F.MEM_USED_BYTES]!);
    e.memTotal = num(n[F.MEM_TOTAL_BYTES]!);
    e.powerW = num(n[F_POWER_W]!);
    const code = n[F.POWER_SOURCE]!;
    e.powerSource = code === CODE_MEASURED ? 'measured' : code === CODE_ESTIMATED ? 'estimated' : null;
    return e;
  }

  /** Writes the energy block of numbers `n` as of `nowMs` at the writer's position, and sets `e`'s energy and its validity. */
  private writeEnergy(e: HostEntry, n: Float64Array, nowMs: number): void {
    const w = this.w;
    const energy = hostEnergyInto(n, nowMs, e.energyBox);
    if (energy !== null) e.energyBox = energy;
    e.energy = energy;
    if (energy === null) w.nul();
    else {
      w.lit(E.today); w.num(energy.today_kwh);
      w.lit(E.todayCost); w.numOrNull(energy.today_cost);
      w.lit(E.month); w.num(energy.month_kwh);
      w.lit(E.monthCost); w.numOrNull(energy.month_cost);
      w.lit(E.total); w.num(energy.total_kwh);
      w.lit(E.totalCost); w.numOrNull(energy.total_cost);
      w.lit(E.since); w.num(energy.since_ms);
      w.lit(E.projection);
      const p = energy.projection;
      if (p === null) w.nul();
      else {
        w.lit(E.projMonth); w.num(p.month_kwh);
        w.lit(E.projMonthCost); w.numOrNull(p.month_cost);
        w.lit(E.projNext); w.num(p.next_kwh);
        w.lit(E.projNextCost); w.numOrNull(p.next_cost);
        w.lit(E.projDays); w.num(p.days);
        w.lit(E.end);
      }
      w.lit(E.end);
    }
    let until = Number.POSITIVE_INFINITY;
    const dayEnd = n[F.ENERGY_TODAY_UNTIL_MS]!;
    const monthEnd = n[F.ENERGY_MONTH_UNTIL_MS]!;
    const projectionEnd = n[F.PROJ_UNTIL_MS]!;
    if (dayEnd > nowMs && dayEnd < until) until = dayEnd;
    if (monthEnd > nowMs && monthEnd < until) until = monthEnd;
    if (projectionEnd > nowMs && projectionEnd < until) until = projectionEnd;
    e.energyFromMs = nowMs;
    e.energyUntilMs = until;
  }

  /**
   * Copies the slot's numbers into the scratch and writes its fragment up to `"energy":` into
   * the writer (from 0). Returns the host's name: `old`'s when the bytes are the same.
   */
  private writeFixed(index: number, base: number, old: HostEntry | null): string {
    const u8 = this.u8;
    const i32 = this.i32;
    const f64 = this.f64;
    const nb = (base + SLOT_NUMBERS_AT) >> 3;
    // The numbers the entry keeps: all of them for a host with energy figures (worked out
    // again from them when a day ends), else the few the summary reads.
    const n = this.scratch;
    this.withEnergy = f64[nb + F.ENERGY_SINCE_MS]! > 0;
    if (this.withEnergy) for (let f = 0; f < FIELDS; f++) n[f] = f64[nb + f]!;
    else for (let k = 0; k < KEPT_FIELDS.length; k++) n[KEPT_FIELDS[k]!] = f64[nb + KEPT_FIELDS[k]!]!;
    const lengths = (base + SLOT_STRING_LENGTHS_AT) >> 2;
    const connected = (i32[(base + SLOT_FLAGS_AT) >> 2]! & FLAG_CONNECTED) !== 0;
    this.connected = connected;
    const w = this.w;
    w.reset(MAX_FRAGMENT_BYTES);

    w.lit(K.name);
    const nameAt = base + STR_OFFSET[S.HOST]!;
    const nameLen = strLen(i32, lengths, S.HOST);
    const nameAscii = w.utf8(u8, nameAt, nameLen);
    const name = nameAscii ? sameAscii(old?.name, u8, nameAt, nameLen) ?? latin1(u8, nameAt, nameLen) : decoder.decode(u8.subarray(nameAt, nameAt + nameLen));
    const c = this.cuts;
    c[CUT.SLOT] = w.at;
    w.lit(K.slot); w.num(index);
    c[CUT.SLOT_END] = w.at;
    const received = f64[nb + F.RECEIVED_AT_MS]!;
    const ts = f64[nb + F.SAMPLE_TS_MS]!;
    const uptime = f64[nb + F.UPTIME_S]!;
    w.lit(K.receivedAt); w.num(received);
    c[CUT.TS] = w.at;
    w.lit(K.sampleTs); w.num(ts);
    c[CUT.TS_END] = w.at;
    w.lit(K.sampleSeq); w.num(f64[nb + F.SAMPLE_SEQ]!);
    const total = f64[nb + F.SAMPLES_TOTAL]!;
    w.lit(K.samplesTotal); w.num(total !== total ? 0 : total);
    w.lit(K.interval); w.num(f64[nb + F.INTERVAL_MS]!);
    w.lit(K.connectedSince);
    if (connected) w.num(f64[nb + F.CONNECTED_AT_MS]!);
    else w.nul();
    w.lit(K.disconnectedAt);
    if (connected) w.nul();
    else w.num(f64[nb + F.DISCONNECTED_AT_MS]!);
    c[CUT.FACTS] = w.at;
    w.lit(K.agent); this.str(base, lengths, S.AGENT_VERSION);
    w.lit(K.os); this.str(base, lengths, S.OS);
    w.lit(K.kernel); this.str(base, lengths, S.KERNEL);
    w.lit(K.arch); this.str(base, lengths, S.ARCH);
    w.lit(K.cpuModel); this.str(base, lengths, S.CPU_MODEL);
    c[CUT.CORES] = w.at;
    w.lit(K.cpuCores); w.num(f64[nb + F.CPU_CORES]!);
    w.lit(K.cpuPct); w.num(f64[nb + F.CPU_PCT]!);
    c[CUT.LOAD] = w.at;
    w.lit(K.load); w.num(f64[nb + F.LOAD_1M]!);
    w.lit(K.comma); w.num(f64[nb + F.LOAD_5M]!);
    w.lit(K.comma); w.num(f64[nb + F.LOAD_15M]!);
    const memTotal = f64[nb + F.MEM_TOTAL_BYTES]!;
    const memUsed = f64[nb + F.MEM_USED_BYTES]!;
    // After the load's closing bracket.
    c[CUT.MEM] = w.at + 1;
    w.lit(K.memTotal); w.num(memTotal);
    w.lit(K.memUsed); w.num(memUsed);
    c[CUT.MEM_END] = w.at;
    w.lit(K.memAvailable); w.num(f64[nb + F.MEM_AVAILABLE_BYTES]!);
    w.lit(K.swapTotal); w.num(f64[nb + F.SWAP_TOTAL_BYTES]!);
    w.lit(K.swapUsed); w.num(f64[nb + F.SWAP_USED_BYTES]!);
    c[CUT.UPTIME] = w.at;
    w.lit(K.uptime); w.num(uptime);
    c[CUT.NOTE] = w.at;
    w.lit(K.note); this.str(base, lengths, S.NOTE);
    c[CUT.READINGS] = w.at;
    w.lit(K.readings);
    for (let r = 0; r < READING_KEYS.length; r++) {
      const k = OVERVIEW_READING_OF[r]!;
      if (k >= 0) c[CUT.READING + 2 * k] = w.at;
      const v = f64[nb + READING_FIELDS[r]!]!;
      if (v !== v) w.lit(READING_NULLS[r]!);
      else {
        w.lit(READING_KEYS[r]!);
        w.num(v);
      }
      if (k >= 0) c[CUT.READING + 2 * k + 1] = w.at;
    }
    w.lit(K.bootTime);
    if (ts !== ts || uptime !== uptime) w.nul();
    else w.num(Math.round((ts - uptime * 1000) / 1000) * 1000);
    c[CUT.TAIL] = w.at;
    w.lit(K.powerSource);
    const code = f64[nb + F.POWER_SOURCE]!;
    if (code === CODE_MEASURED) w.lit(K.measured);
    else if (code === CODE_ESTIMATED) w.lit(K.estimated);
    else w.nul();
    w.lit(K.memUsedPct);
    if (memUsed !== memUsed || memTotal !== memTotal || memTotal <= 0) w.nul();
    else w.num((memUsed / memTotal) * 100);
    this.writeFullest(base);
    c[CUT.TAIL_END] = w.at;
    w.lit(K.energy);
    return name;
  }

  /** String field `f` of the slot at `base` (string lengths at i32 index `lengths`). */
  private str(base: number, lengths: number, f: number): void {
    this.w.utf8(this.u8, base + STR_OFFSET[f]!, strLen(this.i32, lengths, f));
  }

  /** disk_fullest_pct and disk_fullest_mount: the fs row with the highest used / (used + free), as df's Use%. */
  private writeFullest(base: number): void {
    const f64 = this.f64;
    const block = base + FS_OFFSET;
    const count = this.i32[block >> 2]!;
    const rows = count < 0 ? 0 : count > FS_MAX_ROWS ? FS_MAX_ROWS : count;
    let pct = 0;
    let best = -1;
    for (let r = 0; r < rows; r++) {
      const at = (base + rowOffset(FS, r)) >> 3;
      const used = f64[at + FS_USED]!;
      const free = f64[at + FS_FREE]!;
      // A missing number (NaN) is no number; the comparisons as hostView's reader makes them.
      if (used !== used || free !== free || used + free <= 0) continue;
      const p = (used / (used + free)) * 100;
      if (best < 0 || p > pct) {
        pct = p;
        best = r;
      }
    }
    const w = this.w;
    w.lit(K.diskFullestPct);
    if (best < 0) w.nul();
    else w.num(pct);
    w.lit(K.diskFullestMount);
    if (best < 0) w.nul();
    else {
      const textAt = base + rowOffset(FS, best) + FS_MOUNT_OFFSET;
      const len = this.u16[textAt >> 1]!;
      w.utf8(this.u8, textAt + 2, len > FS_MOUNT_CAPACITY ? FS_MOUNT_CAPACITY : len);
    }
  }
}

/** Length of string field `f`, clamped: in a torn read a length must not reach past its own field. */
function strLen(i32: Int32Array, lengths: number, f: number): number {
  const len = i32[lengths + f]!;
  const cap = STR_CAPACITY[f]!;
  return len < 0 ? 0 : len > cap ? cap : len;
}

/** `name` when it is exactly the ASCII bytes u8[at, at + len); else undefined. */
function sameAscii(name: string | undefined, u8: Uint8Array, at: number, len: number): string | undefined {
  if (name === undefined || name.length !== len) return undefined;
  for (let k = 0; k < len; k++) if (name.charCodeAt(k) !== u8[at + k]) return undefined;
  return name;
}

/** ASCII bytes as a string. */
function latin1(u8: Uint8Array, at: number, len: number): string {
  return len <= 64 ? String.fromCharCode.apply(null, u8.subarray(at, at + len) as unknown as number[]) : decoder.decode(u8.subarray(at, at + len));
}

const O = {
  readings: literal(',"readings":{'),
  close: literal('}'),
  energy: literal(',"energy":'),
  today: literal('{"today_kwh":'),
  todayCost: literal(',"today_cost":'),
};
/** Most bytes an overview entry has beyond the parts of its fragment: its own keys and energy figures. */
export const OVERVIEW_EXTRA_BYTES = O.readings.length + O.close.length + O.energy.length + O.today.length + O.todayCost.length + O.close.length + 2 * MAX_NUMBER_CHARS;
const COMMA = 0x2c;

/** Copies src[from, to) at the writer's position: a loop for the short parts, one native copy for long ones. */
function part(w: JsonBytes, src: Uint8Array, from: number, to: number): void {
  if (to - from > 64) {
    w.copy(src.subarray(from, to));
    return;
  }
  const out = w.out;
  let at = w.at;
  for (let k = from; k < to; k++) out[at++] = src[k]!;
  w.at = at;
}

/**
 * The host as the overview's event stream lists it, up to its status (GET
 * /api/events?view=overview; the caller adds status, age_ms and alerts as for /api/hosts):
 * `{"name", "slot", "sample_ts_ms", ["agent", "os", "kernel", "arch", "cpu_model"], "cpu_cores",
 * "cpu_pct", "mem_total_bytes", "mem_used_bytes", "uptime_s", ["note"], "readings" (only
 * OVERVIEW_READINGS), "power_source", "mem_used_pct", "disk_fullest_pct",
 * "disk_fullest_mount", "energy" ({"today_kwh", "today_cost"} or null)`, the bracketed ones only
 * `withFacts`. Cut from the entry's fragment, so every value is the same bytes /api/hosts has.
 * At most fragLen + OVERVIEW_EXTRA_BYTES bytes (plus a literal's overrun).
 */
export function writeOverviewEntry(w: JsonBytes, e: HostEntry, withFacts: boolean): void {
  const f = e.frag;
  const c = e.cuts;
  part(w, f, 0, c[CUT.SLOT_END]!);
  part(w, f, c[CUT.TS]!, c[CUT.TS_END]!);
  if (withFacts) part(w, f, c[CUT.FACTS]!, c[CUT.CORES]!);
  part(w, f, c[CUT.CORES]!, c[CUT.LOAD]!);
  part(w, f, c[CUT.MEM]!, c[CUT.MEM_END]!);
  part(w, f, c[CUT.UPTIME]!, c[CUT.NOTE]!);
  if (withFacts) part(w, f, c[CUT.NOTE]!, c[CUT.READINGS]!);
  w.lit(O.readings);
  for (let k = 0; k < OVERVIEW_READINGS.length; k++) {
    let from = c[CUT.READING + 2 * k]!;
    // The first one goes without its key's comma.
    if (k === 0 && f[from] === COMMA) from++;
    part(w, f, from, c[CUT.READING + 2 * k + 1]!);
  }
  w.lit(O.close);
  part(w, f, c[CUT.TAIL]!, c[CUT.TAIL_END]!);
  w.lit(O.energy);
  const energy = e.energy;
  if (energy === null) w.nul();
  else {
    w.lit(O.today); w.num(energy.today_kwh);
    w.lit(O.todayCost); w.numOrNull(energy.today_cost);
    w.lit(O.close);
  }
}

/** Where a fragment's name begins (after `{"name":`). */
const NAME_AT = K.name.length;

/**
 * What an overview stream last said of each slot's name, facts and note (their bytes), so that
 * a tick's delta says them again only where they differ. Checked only by the stream that
 * uses it, so reading slots for /api/hosts pays nothing for it. `clear` when a client is given a
 * snapshot: its facts may be of a moment between two ticks, and only a delta that says every
 * host's facts again is then sure to leave no client with older ones.
 */
export class FactsMemo {
  private said: Array<Uint8Array | undefined> = [];

  /** Whether `e`'s name, facts or note differ from what was last said of its slot; if so, they are taken as said now. */
  changed(e: HostEntry): boolean {
    const f = e.frag;
    const c = e.cuts;
    const name = c[CUT.SLOT]! - NAME_AT;
    const facts = c[CUT.CORES]! - c[CUT.FACTS]!;
    const note = c[CUT.READINGS]! - c[CUT.NOTE]!;
    const had = this.said[e.slot];
    if (had !== undefined && had.length === name + facts + note
      && same(had, 0, f, NAME_AT, name) && same(had, name, f, c[CUT.FACTS]!, facts) && same(had, name + facts, f, c[CUT.NOTE]!, note)) return false;
    const now = new Uint8Array(name + facts + note);
    now.set(f.subarray(NAME_AT, NAME_AT + name));
    now.set(f.subarray(c[CUT.FACTS]!, c[CUT.FACTS]! + facts), name);
    now.set(f.subarray(c[CUT.NOTE]!, c[CUT.NOTE]! + note), name + facts);
    this.said[e.slot] = now;
    return true;
  }

  /** Forgets what was said of `slot`: the next `changed` of it is true. */
  forget(slot: number): void {
    this.said[slot] = undefined;
  }

  clear(): void {
    this.said = [];
  }
}

/** Whether a[aFrom, aFrom + n) and b[bFrom, bFrom + n) hold the same bytes. */
function same(a: Uint8Array, aFrom: number, b: Uint8Array, bFrom: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (a[aFrom + k] !== b[bFrom + k]) return false;
  return true;
}
