/**
 * Ingest workers: threads of a node-worker-threads-pool StaticPool that decode a connection's
 * bulk reads and place their samples in shared memory, beside the main thread.
 *
 * Why: flat out, decoding on the main thread is the collector's ceiling (~170,000 samples/s a
 * core here), and a pool of 2 workers decodes alone at 1.64x one thread on this 2-core machine.
 * But the collector with 2 workers landed fewer samples a second than with none, at about twice
 * the CPU a sample: the reads, the sender and the workers share the two cores (`npm run bench --
 * ingest` measures both). So it is off unless asked for (--ingest-workers), for machines with
 * cores to spare. Which load it fits: a read that carries many frames (an agent replaying its
 * backlog after an outage, a link that delivers frames in bursts). An agent sending one sample a
 * second gives one frame a read, and a hand-off to a thread and back costs more than decoding
 * it, so such reads stay on the main thread (BULK_FRAMES).
 *
 * The workers start at the first bulk read, not with the collector (each is a V8 isolate and the
 * TypeScript loader: tens of MiB a fleet of per-second agents never needs); bulk reads are
 * decoded on the main thread until they are up. A connection has at most one batch out at a time
 * and is paused meanwhile, so its frames are handled in order; the seq lock of each slot and ring
 * (shared/shm_store.ts, lockForWrite) keeps a worker's write and the main thread's to the same
 * host apart.
 */
import { fileURLToPath } from 'node:url';
import { StaticPool } from 'node-worker-threads-pool';
import { workerEntry } from '../shared/checkout.ts';
import type { IngestJob, IngestResult } from './ingest_job.ts';

/** A read of at least this many frames goes to a worker (when the pool is up). */
export const BULK_FRAMES = 16;

export class IngestPool {
  private pool: StaticPool<(job: IngestJob) => IngestResult> | null = null;
  private up = false;
  private inFlight = 0;
  private drained: Array<() => void> = [];
  private closed = false;

  /**
   * @param buffer the collector's shared memory, which the workers attach to.
   * @param size worker threads (at least 1).
   */
  constructor(private readonly buffer: SharedArrayBuffer, readonly size: number, private readonly task = fileURLToPath(workerEntry(import.meta.url, './ingest_worker'))) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`ingest workers: ${size}`);
  }

  /** True once every worker has loaded and answered: batches may be sent. */
  get ready(): boolean {
    return this.up && !this.closed;
  }

  /** Starts the workers if they are not started (idempotent); `ready` turns true when they have all answered an empty job. */
  start(): void {
    if (this.pool || this.closed) return;
    const pool = new StaticPool<(job: IngestJob) => IngestResult>({ size: this.size, task: this.task, workerData: { buffer: this.buffer } });
    this.pool = pool;
    const empty = (): IngestJob => ({ frames: new Uint8Array(0), slot: 0, clockOffsetMs: 0, newestMs: 0, samples: 0, lastSeq: 0, nowMs: 0, limits: { maxDepth: 0, maxStringBytes: 0, maxArrayLength: 0, maxMapSize: 0 } });
    void Promise.all(Array.from({ length: this.size }, () => this.run(empty()))).then(() => { this.up = true; }, () => undefined);
  }

  /** Sends a job to the first idle worker (queued when all are busy); its frames' buffer is transferred. */
  run(job: IngestJob): Promise<IngestResult> {
    if (!this.pool || this.closed) return Promise.reject(new Error('ingest pool not started or closed'));
    this.inFlight++;
    const exec = this.pool.createExecutor().setTransferList([job.frames.buffer as ArrayBuffer]);
    return (exec.exec(job) as Promise<IngestResult>).then((r) => {
      this.counts.batches++;
      this.counts.frames += r.handled;
      return r;
    }).finally(() => {
      if (--this.inFlight === 0) for (const done of this.drained.splice(0)) done();
    });
  }

  /** Batches answered, and the frames of them the workers handled (the rest went back to the main thread). */
  readonly counts = { batches: 0, frames: 0 };

  /** Jobs sent and not yet answered. */
  get pending(): number {
    return this.inFlight;
  }

  /** Waits for the jobs out (so no worker stops mid-write), then ends the workers. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
    await this.pool?.destroy();
    this.pool = null;
  }
}
