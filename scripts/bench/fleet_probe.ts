/**
 * Worker thread of the fleet benchmark, in the collector's process: attaches to the store's
 * SharedArrayBuffer and, every ~1 ms, looks at the sequence word of each watched slot; for a
 * slot that changed, it reads NUM.SAMPLE_TS_MS (the agent's send time) and, when that is new,
 * records now - it: the latency from send to shared memory, in whole ms (Date.now()'s
 * resolution, and the sample's ts is whole ms too).
 *
 * It watches every slot up to workerData.maxSlots of them (--probe-slots, default 2,000), beyond
 * that every k-th: an even sample of the fleet (slots go to agents as they connect, from every
 * simulator process in turn). Watching all 19,000 every millisecond took 27 % of a core on the
 * collector's two, as load the collector never has in use; 2,000 slots still give ~120,000
 * latencies a minute, 1,200 of them past the p99.
 *
 * It measures its own CPU from /proc/thread-self/stat, so the benchmark can take it out of the
 * process's. Messages: in `reset` (start the window), `report`; out `ready` {tid}, `report`.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { NUM } from '../../shared/shm_layout.ts';
import { ShmStore } from '../../shared/shm_store.ts';
import { LatencyHistogram, parseStat } from './fleet_lib.ts';

export interface ProbeReport {
  type: 'report';
  histogram: ReturnType<LatencyHistogram['toJSON']>;
  /** New sample times seen in the window. */
  landed: number;
  scans: number;
  /** Mean time of one scan over the watched slots, µs. */
  scanUsMean: number;
  /** Slots watched in the last scan (every slot up to the bound). */
  watched: number;
  /** This thread's utime + stime since it started, ticks. */
  cpuTicks: number;
}

const data = workerData as { buffer: SharedArrayBuffer; maxSlots: number };
const store = new ShmStore(data.buffer);
const maxSlots = data.maxSlots;
const FIELDS = [NUM.SAMPLE_TS_MS];
const out = new Float64Array(FIELDS.length);
const lastSeq = new Float64Array(store.capacity).fill(Number.NaN);
const lastTs = new Float64Array(store.capacity).fill(Number.NaN);
let hist = new LatencyHistogram();
let landed = 0;
let scans = 0;
let scanMs = 0;
let watched = 0;

function ownTicks(): number {
  const t = parseStat(readFileSync('/proc/thread-self/stat', 'utf8'));
  return t.utime + t.stime;
}

function scan(): void {
  const t0 = performance.now();
  const used = store.slotsUsed();
  const stride = Math.max(1, Math.ceil(used / maxSlots));
  watched = Math.ceil(used / stride);
  for (let i = 0; i < used; i += stride) {
    const seq = store.slotSeq(i);
    // Odd: a write is under way; the next scan sees it finished.
    if (seq === lastSeq[i] || (seq & 1) !== 0) continue;
    if (store.readNumbers(i, FIELDS, out) < 0) continue;
    lastSeq[i] = seq;
    const ts = out[0]!;
    if (ts === lastTs[i] || Number.isNaN(ts)) continue;
    lastTs[i] = ts;
    hist.record(Date.now() - ts);
    landed++;
  }
  scans++;
  scanMs += performance.now() - t0;
}

const timer = setInterval(scan, 1);
parentPort!.on('message', (m: { type: string }) => {
  if (m.type === 'reset') {
    hist = new LatencyHistogram();
    landed = 0;
    scans = 0;
    scanMs = 0;
  } else if (m.type === 'report') {
    const r: ProbeReport = { type: 'report', histogram: hist.toJSON(), landed, scans, scanUsMean: scans > 0 ? (scanMs / scans) * 1000 : 0, watched, cpuTicks: ownTicks() };
    parentPort!.postMessage(r);
  } else if (m.type === 'stop') {
    clearInterval(timer);
    parentPort!.close();
  }
});
// "/proc/thread-self" links to "PID/task/TID".
parentPort!.postMessage({ type: 'ready', tid: Number(readlinkSync('/proc/thread-self').split('/').pop()), cpuTicks: ownTicks() });
