/**
 * `npm run test_reader -- [--data-dir DIR] [--json]`: prints what is in a running collector's
 * shared memory right now, and checks it.
 *
 * How it sees the bytes: a SharedArrayBuffer cannot leave the collector's process, so the
 * collector serves a copy on a Unix socket in its data directory (collector.sock, mode 0600),
 * each slot copied under its sequence lock. This script decodes that copy with the same layout
 * and store code the dashboard uses, and exits 1 if any slot fails a consistency check.
 */
import { pathToFileURL } from 'node:url';
import { fetchSnapshot } from '../collector/control_socket.ts';
import { COLLECTOR_SETTINGS } from '../collector/settings.ts';
import { helpText, loadConfig } from '../shared/config.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import { ConfigError, ShmError } from '../shared/errors.ts';
import { hostView } from '../shared/host_view.ts';
import { READINGS } from '../shared/protocol.ts';
import { NUM, READING_NUM, ringOffset, SLOT_BYTES, SLOT_FLAG_USED, slotOffset, STR, STRING_CAPACITY, STRING_FIELD_COUNT, type StrField } from '../shared/shm_layout.ts';
import { decodeSlot, ShmStore, slotViewsOf, storedStringLength, type SlotData } from '../shared/shm_store.ts';
import { checkTables } from '../shared/shm_tables.ts';

const SETTINGS = Object.freeze({ dataDir: COLLECTOR_SETTINGS.dataDir });
const USAGE = 'Usage: npm run test_reader -- [--data-dir DIR] [--json]\n\nPrints and checks the shared memory of the collector running with DATA_DIR.';

/** Every consistency problem of one slot copy, as text; empty when it is sound. */
export function checkSlot(bytes: Uint8Array, slot: SlotData, names: Map<string, number>): string[] {
  const problems: string[] = [];
  if ((slot.lockSeq & 1) !== 0) problems.push(`sequence lock ${slot.lockSeq} is odd: the copy was taken mid-write`);
  if ((slot.flags & SLOT_FLAG_USED) === 0) problems.push('slot below the high-water mark is not marked used');
  for (let f = 0; f < STRING_FIELD_COUNT; f++) {
    const len = storedStringLength(bytes, f as StrField);
    if (len < 0 || len > STRING_CAPACITY[f]!) problems.push(`string field ${f} claims ${len} bytes (capacity ${STRING_CAPACITY[f]})`);
  }
  const name = slot.strings[STR.HOST]!;
  if (name === '') problems.push('host name is empty');
  const other = names.get(name);
  if (other !== undefined) problems.push(`host name also in slot ${other}`);
  names.set(name, slot.index);
  const n = slot.numbers;
  // Temperatures may be below zero; every other number is a time, a count or a reading >= 0.
  const signed = new Set(READINGS.filter((r) => r.kind === 'celsius').map((r) => READING_NUM[r.name]));
  for (let f = 0; f < n.length; f++) {
    const v = n[f]!;
    if (!Number.isNaN(v) && (!Number.isFinite(v) || (v < 0 && !signed.has(f)))) problems.push(`number field ${f} holds ${v}`);
  }
  problems.push(...checkTables(slotViewsOf(bytes)));
  const cpu = n[NUM.CPU_PCT]!;
  if (cpu > 100) problems.push(`cpu_pct ${cpu} > 100`);
  if (n[NUM.MEM_USED_BYTES]! > n[NUM.MEM_TOTAL_BYTES]!) problems.push('mem used > total');
  if (n[NUM.SWAP_USED_BYTES]! > n[NUM.SWAP_TOTAL_BYTES]!) problems.push('swap used > total');
  return problems;
}

export interface Inspection {
  store: ShmStore;
  used: number;
  rows: Array<{ slot: SlotData; view: ReturnType<typeof hostView>; historyPoints: number; problems: string[] }>;
  /** Slots (and the header) that fail a check. */
  bad: number;
}

/** Decodes a snapshot and checks every slot. Throws ShmError when the header is not this layout. */
export function inspectSnapshot(bytes: Uint8Array, now: number): Inspection {
  const store = new ShmStore(bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer as ArrayBuffer : bytes.slice().buffer);
  const used = store.slotsUsed();
  const names = new Map<string, number>();
  const rows: Inspection['rows'] = [];
  let bad = used > store.capacity ? 1 : 0;
  for (let i = 0; i < Math.min(used, store.capacity); i++) {
    const raw = bytes.subarray(slotOffset(i), slotOffset(i) + SLOT_BYTES);
    const lock = new Int32Array(raw.buffer, raw.byteOffset, 1)[0]!;
    const slot = decodeSlot(raw, i, lock);
    const problems = checkSlot(raw, slot, names);
    // The history ring is copied under its own lock; an odd one was taken mid-write.
    const ring = ringOffset(store.capacity, store.historyPoints, i);
    const ringLock = new Int32Array(bytes.buffer, bytes.byteOffset + ring, 1)[0]!;
    if ((ringLock & 1) !== 0) problems.push(`history ring lock ${ringLock} is odd: the copy was taken mid-write`);
    const history = (ringLock & 1) === 0 ? store.readHistory(i, 0, Number.POSITIVE_INFINITY) : null;
    if ((ringLock & 1) === 0 && history === null) problems.push('history ring unreadable');
    if (problems.length > 0) bad++;
    rows.push({ slot, view: hostView(slot, now), historyPoints: history?.t.length ?? 0, problems });
  }
  return { store, used, rows, bad };
}

function fmt(v: number | null, digits = 1): string {
  return v === null ? '-' : v.toFixed(digits);
}

function gib(v: number | null): string {
  return v === null ? '-' : (v / 2 ** 30).toFixed(2);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  let dataDir: string;
  try {
    const loaded = loadConfig(SETTINGS, args.filter((a) => a !== '--json'), process.env);
    if (loaded.help) { process.stdout.write(helpText(USAGE, SETTINGS)); return 0; }
    if (loaded.version) { process.stdout.write(`${SENTINEL_VERSION}\n`); return 0; }
    dataDir = loaded.config.dataDir;
  } catch (err) {
    if (err instanceof ConfigError) { process.stderr.write(`test_reader: ${err.message}\n`); return 2; }
    throw err;
  }
  const bytes = await fetchSnapshot(dataDir);
  const now = Date.now();
  let inspected: Inspection;
  try {
    inspected = inspectSnapshot(bytes, now);
  } catch (err) {
    process.stderr.write(`test_reader: header check failed: ${err instanceof ShmError ? err.message : String(err)}\n`);
    return 1;
  }
  const { store, used, rows, bad } = inspected;
  if (used > store.capacity) process.stderr.write(`test_reader: ${used} slots used > capacity ${store.capacity}\n`);
  if (json) {
    process.stdout.write(JSON.stringify({ now_ms: now, capacity: store.capacity, slots_used: used, history_points: store.historyPoints, slots: rows.map((r) => ({ index: r.slot.index, history_points_held: r.historyPoints, lock_seq: r.slot.lockSeq, last_write_ms: Number.isNaN(r.slot.numbers[NUM.LAST_WRITE_MS]!) ? null : r.slot.numbers[NUM.LAST_WRITE_MS], ...r.view, problems: r.problems })) }, null, 2) + '\n');
  } else {
    process.stdout.write(`shared memory of the collector in ${dataDir}: ${used} slots used, history of ${store.historyPoints} s per host; snapshot of ${store.buffer.byteLength} bytes\n`);
    process.stdout.write(`${'slot'.padStart(4)} ${'lock seq'.padStart(8)} ${'write s'.padStart(8)} ${'status'.padEnd(7)} ${'sample s'.padStart(8)} ${'cpu %'.padStart(6)} ${'mem GiB'.padStart(13)} ${'load1'.padStart(6)} ${'hist'.padStart(5)}  host\n`);
    for (const { slot, view, historyPoints, problems } of rows) {
      // Ages by this machine's clock: of the last write of any kind, and of the last sample.
      const lastWrite = slot.numbers[NUM.LAST_WRITE_MS]!;
      const writeAge = Number.isNaN(lastWrite) ? '-' : ((now - lastWrite) / 1000).toFixed(1);
      const age = view.age_ms === null ? '-' : (view.age_ms / 1000).toFixed(1);
      const mem = `${gib(view.mem_used_bytes)}/${gib(view.mem_total_bytes)}`;
      // JSON.stringify shows the name with any control character escaped.
      process.stdout.write(`${String(slot.index).padStart(4)} ${String(slot.lockSeq).padStart(8)} ${writeAge.padStart(8)} ${view.status.padEnd(7)} ${age.padStart(8)} ${fmt(view.cpu_pct).padStart(6)} ${mem.padStart(13)} ${fmt(view.load[0], 2).padStart(6)} ${String(historyPoints).padStart(5)}  ${JSON.stringify(view.name)}\n`);
      for (const p of problems) process.stdout.write(`     PROBLEM: ${p}\n`);
    }
    process.stdout.write(bad === 0 ? 'consistency: all slots pass\n' : `consistency: ${bad} slot(s) FAIL\n`);
  }
  return bad === 0 ? 0 : 1;
}

// Run only as a program, so tests can import checkSlot.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`test_reader: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
