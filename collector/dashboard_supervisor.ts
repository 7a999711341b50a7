/**
 * Runs the dashboard in a worker thread and restarts it when it dies. The worker only reads the
 * shared memory, so a crash there loses no reading: ingestion goes on in this thread meanwhile.
 */
import { Worker } from 'node:worker_threads';
import { workerEntry } from '../shared/checkout.ts';
import type { Logger } from '../shared/log.ts';
import type { AlertFeed } from '../dashboard/api.ts';
import type { DashboardWorkerData, WorkerCommand, WorkerReport } from '../dashboard/worker.ts';
import type { EnergyAnswer, EnergyQuery } from './energy_report.ts';

/** Restart delays grow from the first to the cap while the worker keeps dying young, ms. */
const RESTART_FIRST_MS = 100;
const RESTART_CAP_MS = 5000;
/** A worker that lived this long resets the delay, ms. */
const HEALTHY_AFTER_MS = 10_000;

/** Default heap ceiling of the dashboard worker, MiB: a leak or a flood there ends the worker, not the collector. */
export const DASHBOARD_HEAP_MB = 256;

export interface DashboardAddress {
  host: string;
  port: number;
}

export type DashboardOptions = DashboardWorkerData & {
  /** The worker's entry (tests run a worker that fails on purpose). */
  workerUrl?: URL;
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number };
};

export class DashboardSupervisor {
  private worker: Worker | null = null;
  private stopping = false;
  private restartDelayMs = RESTART_FIRST_MS;
  private startedAt = 0;
  private address: DashboardAddress | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  /** The last alerts sent, sent again to a restarted worker. */
  private feed: AlertFeed | null = null;
  /** Times the worker was restarted after dying. */
  restarts = 0;
  /** Answers the worker's `GET /api/energy` questions (the tables live in this thread); none: 503. */
  onEnergyQuery: ((q: EnergyQuery) => EnergyAnswer) | null = null;

  constructor(private readonly data: DashboardOptions, private readonly log: Logger) {}

  /** Starts the worker; resolves with the address it listens on. Rejects if the first start fails. */
  start(): Promise<DashboardAddress> {
    return new Promise((resolve, reject) => {
      const w = this.spawn();
      const onExit = (code: number): void => {
        this.stopping = true; // a first start that fails is reported, not retried in the background
        reject(new Error(`dashboard worker exited with code ${code} before listening`));
      };
      const onMessage = (m: WorkerReport): void => {
        if (m.type === 'listening') { w.off('exit', onExit); w.off('message', onMessage); resolve(m); }
        if (m.type === 'failed') { w.off('exit', onExit); w.off('message', onMessage); this.stopping = true; reject(new Error(m.error)); }
      };
      w.on('message', onMessage);
      w.once('exit', onExit);
    });
  }

  /** Tells the dashboard the current alerts (kept, and sent again to a restarted worker). */
  postAlerts(feed: AlertFeed): void {
    this.feed = feed;
    this.worker?.postMessage({ type: 'alerts', feed } satisfies WorkerCommand);
  }

  /** The running worker, for tests that kill it on purpose. */
  get current(): Worker | null {
    return this.worker;
  }

  private spawn(): Worker {
    // A restarted worker binds the port the first one got, so the URL people use stays valid.
    const { workerUrl, resourceLimits, ...rest } = this.data;
    const data: DashboardWorkerData = { ...rest, port: this.address?.port ?? this.data.port };
    const w = new Worker(workerUrl ?? workerEntry(import.meta.url, '../dashboard/worker'), {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: DASHBOARD_HEAP_MB, ...resourceLimits },
    });
    this.worker = w;
    this.startedAt = Date.now();
    // Queued until the worker's script runs and listens for messages.
    if (this.feed) w.postMessage({ type: 'alerts', feed: this.feed } satisfies WorkerCommand);
    w.on('message', (m: WorkerReport) => {
      if (m.type === 'energy-query') {
        this.answerEnergy(w, m.id, m.query);
        return;
      }
      if (m.type !== 'listening') return;
      this.address = { host: m.host, port: m.port };
    });
    w.on('error', (err) => this.log.error('dashboard worker failed', { error: err.message }));
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = null;
      if (this.stopping) return;
      if (Date.now() - this.startedAt > HEALTHY_AFTER_MS) this.restartDelayMs = RESTART_FIRST_MS;
      this.log.warn('dashboard worker exited; restarting', { code, in_ms: this.restartDelayMs });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        this.restarts++;
        this.spawn();
      }, this.restartDelayMs);
      this.restartDelayMs = Math.min(this.restartDelayMs * 2, RESTART_CAP_MS);
    });
    return w;
  }

  private answerEnergy(w: Worker, id: number, query: EnergyQuery): void {
    let answer: EnergyAnswer | { status: 503; body: { error: string } };
    try {
      answer = this.onEnergyQuery ? this.onEnergyQuery(query) : { status: 503, body: { error: 'energy is not tracked by this collector' } };
    } catch (err) {
      this.log.error('energy report failed', { error: (err as Error).message });
      answer = { status: 503, body: { error: 'energy report failed; see the collector log' } };
    }
    w.postMessage({ type: 'energy-answer', id, status: answer.status, body: answer.body } satisfies WorkerCommand);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.worker) await this.worker.terminate();
  }
}
