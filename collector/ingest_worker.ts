/**
 * An ingest worker of the collector (a thread of collector/ingest_pool.ts's StaticPool): attaches
 * to the collector's shared memory and runs each job it is given (collector/ingest_job.ts),
 * handing the job's buffer back with the result.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ShmStore } from '../shared/shm_store.ts';
import { runIngestJob, type IngestJob } from './ingest_job.ts';

const store = new ShmStore((workerData as { buffer: SharedArrayBuffer }).buffer);

parentPort!.on('message', (job: IngestJob) => {
  const result = runIngestJob(store, job);
  parentPort!.postMessage(result, [result.frames.buffer as ArrayBuffer, result.placed.buffer as ArrayBuffer]);
});
