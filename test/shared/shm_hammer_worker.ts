/**
 * Worker for shm_store.test.ts. role 'writer': rewrites every slot as fast as it can, each write
 * setting every number to the same value v and the host name to `host-v`. role 'reader': reads
 * the slots and counts copies in which those do not agree (torn). `guarded` reads go through the
 * store; unguarded ones copy the bytes with no lock, which must show tearing (proving the check
 * can fail).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { NUMBER_FIELD_COUNT, SLOT_BYTES, slotOffset, STR, type NumField } from '../../shared/shm_layout.ts';
import { decodeSlot, ShmStore, type SlotData } from '../../shared/shm_store.ts';

interface Job { role: 'writer' | 'reader'; guarded: boolean; buffer: SharedArrayBuffer; slots: number; durationMs: number; stopOnTorn: boolean }
const job = workerData as Job & { module: string };
const store = new ShmStore(job.buffer);
const deadline = Date.now() + job.durationMs;

function isTorn(s: SlotData): boolean {
  const v = s.numbers[0]!;
  for (let f = 1; f < NUMBER_FIELD_COUNT; f++) if (s.numbers[f] !== v) return true;
  return s.strings[STR.HOST] !== `host-${v}`;
}

if (job.role === 'writer') {
  let writes = 0;
  let v = 0;
  const fields = Array.from({ length: NUMBER_FIELD_COUNT }, (_, f) => f as NumField);
  while (Date.now() < deadline) {
    for (let round = 0; round < 200; round++) {
      v++;
      const numbers = fields.map((f) => [f, v] as const);
      for (let i = 0; i < job.slots; i++) store.write(i, { numbers, strings: [[STR.HOST, `host-${v}`]] });
      writes += job.slots;
    }
  }
  parentPort!.postMessage({ writes });
} else {
  let reads = 0;
  let torn = 0;
  let busy = 0;
  const raw = new Uint8Array(job.buffer);
  const copy = new Uint8Array(SLOT_BYTES);
  while (Date.now() < deadline && !(job.stopOnTorn && torn > 0)) {
    for (let i = 0; i < job.slots; i++) {
      let slot: SlotData | null;
      if (job.guarded) {
        slot = store.readSlot(i);
        if (!slot) { busy++; continue; }
      } else {
        copy.set(raw.subarray(slotOffset(i), slotOffset(i) + SLOT_BYTES));
        slot = decodeSlot(copy, i, 0);
      }
      reads++;
      // NaN: the writer has not reached this slot yet (allocated, never written).
      if (!Number.isNaN(slot.numbers[0]!) && isTorn(slot)) torn++;
    }
  }
  parentPort!.postMessage({ reads, torn, busy });
}
