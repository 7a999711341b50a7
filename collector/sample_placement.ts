/**
 * Where a validated sample goes in shared memory: its host's history ring at its own time, and
 * its slot's latest reading when it is the newest the host has sent. The one place this is
 * decided and written, by the collector's main thread (collector/hosts.ts, HostTable) and by its
 * ingest workers for bulk reads (collector/ingest_worker.ts), so both write exactly the same.
 * Synchronous, no I/O beyond the store; the caller owns the host's PlacementState.
 */
import { fieldPicker, fieldReader } from '../shared/field_reader.ts';
import { READINGS, TABLES, type Sample, type TableName } from '../shared/protocol.ts';
import { HISTORY_SERIES, NUM, POWER_SOURCE_CODE, READING_NUM, STR, type NumField } from '../shared/shm_layout.ts';
import type { ShmStore } from '../shared/shm_store.ts';
import type { TableInput } from '../shared/shm_tables.ts';

/**
 * A sample's time counts for ordering as at most this far ahead of the collector's clock, ms, so
 * that an agent whose clock ran ahead and was then corrected is not ignored for long.
 */
export const FUTURE_TOLERANCE_MS = 60_000;
/**
 * A sample whose time, corrected by the clock offset, is further than this behind the collector's
 * clock is not placed (neither in the history nor, through onPlaced, in the energy counters), ms.
 * The reference agent buffers at most 24 h of samples (agent/settings.ts MAX_BUFFER_SECONDS); a time
 * further back means the agent's clock jumped between its hello and the sample (a hello at
 * ts 2^53 followed by samples at ts 2000 placed them near -9e15 ms, and the energy counters took
 * that as the fleet's "since": shared/PROTOCOL.md, Time).
 */
export const MAX_SAMPLE_AGE_MS = 25 * 3_600_000;
/** A sample time further than this from the collector's clock is noted on the host, ms. */
export const CLOCK_SKEW_NOTE_MS = 5 * 60_000;

/** What placing a host's samples needs to know of it, and updates. */
export interface PlacementState {
  readonly slot: number;
  /** Added to the owner's sample times to place them in the history, ms. */
  readonly clockOffsetMs: number;
  /** Ordering time of the newest stored sample (its ts, capped at arrival + FUTURE_TOLERANCE_MS). */
  newestMs: number;
  /** Samples that became the host's latest reading. */
  samples: number;
}

/** placeSample's answer: bit PLACED_IN_HISTORY and bit STORED_AS_LATEST. */
export const PLACED_IN_HISTORY = 1;
export const STORED_AS_LATEST = 2;

/** The numeric fields of a latest reading, in the order of LATEST_SCRATCH. */
const LATEST_FIELDS: readonly NumField[] = Object.freeze([
  NUM.LAST_WRITE_MS, NUM.RECEIVED_AT_MS, NUM.SAMPLE_TS_MS, NUM.SAMPLE_SEQ, NUM.SAMPLES_TOTAL,
  ...READINGS.map((r) => READING_NUM[r.name]), NUM.POWER_SOURCE,
]);
// Reused by every call: each thread that places samples has its own copy of this module, and a
// call runs to its end without yielding.
const LATEST_SCRATCH = new Float64Array(LATEST_FIELDS.length);
const HISTORY_SCRATCH = new Float64Array(HISTORY_SERIES.length);
const readReadings = fieldReader(READINGS.map((r) => r.name));
const readHistorySeries = fieldReader(HISTORY_SERIES);
/** A sample's tables, each absent one empty: one absent from a sample is emptied in the slot, not left showing old rows. */
const pickTables = fieldPicker<readonly unknown[]>(TABLES.map((t) => t.name), Object.freeze([]));

/**
 * Writes `sample` (received at `nowMs`) into the store for the host `st` describes: into the
 * history at its time corrected by the clock offset (unless still further ahead of `nowMs` than
 * FUTURE_TOLERANCE_MS), and as the latest reading unless an newer one is there already. Returns
 * PLACED_IN_HISTORY | STORED_AS_LATEST as they happened; updates st.newestMs and st.samples.
 * `deferLatest`: a sample that becomes the latest is not written; the caller writes the newest
 * such sample with writeLatest once its run of samples is placed.
 */
export function placeSample(store: ShmStore, st: PlacementState, sample: Sample, nowMs: number, deferLatest = false): number {
  let done = 0;
  // Times corrected by the clock offset measured at the hello; a time still ahead of the
  // collector's clock by more than FUTURE_TOLERANCE_MS cannot be placed: kept out of the history
  // (it would hold a bucket against correct samples until the ring caught up with it) and
  // capped for ordering. Nor can one more than MAX_SAMPLE_AGE_MS behind it.
  const placedMs = sample.ts + st.clockOffsetMs;
  if (placedMs <= nowMs + FUTURE_TOLERANCE_MS && placedMs >= nowMs - MAX_SAMPLE_AGE_MS) {
    readHistorySeries(sample, HISTORY_SCRATCH, 0);
    store.writeHistory(st.slot, placedMs, HISTORY_SCRATCH);
    done |= PLACED_IN_HISTORY;
  }
  const orderMs = Math.min(placedMs, nowMs + FUTURE_TOLERANCE_MS);
  if (orderMs < st.newestMs) return done;
  st.newestMs = orderMs;
  st.samples++;
  if (!deferLatest) writeLatest(store, st.slot, sample, st.samples, nowMs);
  return done | STORED_AS_LATEST;
}

/**
 * Writes `sample` (received at `nowMs`, the host's `samplesTotal`th latest reading) into slot
 * `slot` as its latest reading: every number, the note and every table, an absent one emptied.
 * Each such write replaces all a previous one wrote, so of several samples stored as latest in
 * one read only the newest need be written (placeSample's `deferLatest`): the slot ends the same.
 */
export function writeLatest(store: ShmStore, slot: number, sample: Sample, samplesTotal: number, nowMs: number): void {
  // Written from one reused array (LATEST_FIELDS order): no pair allocated per field.
  const v = LATEST_SCRATCH;
  v[0] = nowMs;
  v[1] = nowMs;
  v[2] = sample.ts;
  v[3] = sample.seq;
  v[4] = samplesTotal;
  // A reading absent from this sample becomes NaN: the page must not show a stale value as current.
  readReadings(sample, v, 5);
  v[5 + READINGS.length] = sample.power_source ? POWER_SOURCE_CODE[sample.power_source] : Number.NaN;
  // Same rule for tables: one absent from this sample is emptied, not left showing old rows.
  const tables = pickTables(sample) as Partial<Record<TableName, TableInput>>;
  store.write(slot, { numberFields: LATEST_FIELDS, numberValues: v, strings: [[STR.NOTE, formatNote(sample, nowMs)]], tables, ...(sample.truncated ? { truncatedBefore: sample.truncated } : {}) });
}

function formatNote(sample: Sample, nowMs: number): string {
  const parts: string[] = [];
  const skew = sample.ts - nowMs;
  if (Math.abs(skew) > CLOCK_SKEW_NOTE_MS) parts.push(`clock: agent clock ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead' : 'behind'}`);
  for (const [k, v] of Object.entries(sample.missing ?? {})) parts.push(`${k}: ${v}`);
  return parts.join('; ');
}
