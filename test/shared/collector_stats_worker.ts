/**
 * Worker for collector_stats.test.ts: attaches to the stats buffer the main thread writes (as
 * the dashboard worker does) and reads snapshots until the main thread's last count shows up.
 * Reports whether any read went backwards or saw a gauge out of its range.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CollectorStats } from '../../shared/collector_stats.ts';

interface Job { buffer: SharedArrayBuffer; frames: number; timeoutMs: number }
const job = workerData as Job & { module: string };
const stats = new CollectorStats(job.buffer);
const deadline = Date.now() + job.timeoutMs;

let reads = 0;
let backwards = 0;
let gaugeOutOfRange = 0;
let midway = 0;
let last = stats.snapshot();
parentPort!.postMessage({ type: 'ready' });
for (;;) {
  const s = stats.snapshot();
  reads++;
  if (s.frames_received_total < last.frames_received_total || s.connections_accepted_total < last.connections_accepted_total) backwards++;
  // The main thread only ever holds one agent connected at a time.
  if (s.connected_agents !== 0 && s.connected_agents !== 1) gaugeOutOfRange++;
  if (s.frames_received_total > 0 && s.frames_received_total < job.frames) midway++;
  last = s;
  if (s.frames_received_total >= job.frames || Date.now() > deadline) break;
}
// Read again once the last count is seen: Atomics are sequentially consistent, so every count
// the main thread made before that one is visible now, whichever field a snapshot reads first.
const final = stats.snapshot();
parentPort!.postMessage({ type: 'done', reads, backwards, gaugeOutOfRange, midway, last: final });
