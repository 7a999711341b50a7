/**
 * Saves the collector's shared memory to DATA_DIR/state.bin every few seconds and on a graceful
 * stop, and restores it at start. A save is atomic: written to a temporary file, flushed to
 * disk, then renamed over the old one, so a crash mid-save leaves the previous file whole.
 * A file that cannot be restored is moved aside (state.bin.invalid) and the collector starts
 * empty: a damaged file never stops it.
 */
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { StateFileError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { bufferBytes } from '../shared/shm_layout.ts';
import { MAX_CAPACITY, ShmStore } from '../shared/shm_store.ts';
import { decodeState, MAX_EXTRA_BYTES, STATE_GZIP_LEVEL, stateChunks, type ExtraSection } from './state_codec.ts';

export const STATE_FILE = 'state.bin';

export interface RestoreResult {
  /** Hosts brought back. */
  restored: number;
  /** Hosts in the file beyond this collector's capacity. */
  dropped: number;
  savedAtMs: number | null;
  /** The file's extra section (the energy counters), null when none was restored. */
  extra: Buffer | null;
}

/**
 * Fills the empty `store` from DATA_DIR/state.bin if there is one. Never throws for a bad file:
 * it is logged, moved aside, and the store stays empty.
 */
export function restoreState(dataDir: string, store: ShmStore, log: Logger): RestoreResult {
  const path = join(dataDir, STATE_FILE);
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.error('state file unreadable; starting empty', { file: path, error: (err as Error).message });
    return { restored: 0, dropped: 0, savedAtMs: null, extra: null };
  }
  try {
    const { store: saved, savedAtMs, extra } = decodeState(file, bufferBytes(MAX_CAPACITY, store.historyPoints), MAX_EXTRA_BYTES);
    const { restored, dropped } = store.restoreFrom(saved);
    log.info('state restored', { file: path, hosts: restored, dropped, saved_s_ago: Math.round((Date.now() - savedAtMs) / 1000) });
    if (dropped > 0) log.warn('the state file holds more hosts than --capacity; the rest were left out', { dropped });
    return { restored, dropped, savedAtMs, extra };
  } catch (err) {
    if (!(err instanceof StateFileError)) throw err;
    const aside = `${path}.invalid`;
    try { renameSync(path, aside); } catch { /* reported below either way */ }
    log.error('state file cannot be restored; moved aside, starting empty', { file: path, moved_to: aside, code: err.code, error: err.message });
    return { restored: 0, dropped: 0, savedAtMs: null, extra: null };
  }
}

/**
 * A save may take at most this share of the time: when one takes longer than interval/SAVE_SHARE
 * (a large fleet: each host's slot and 15-minute ring are ~55 KiB, 550 MB at 10,000 hosts), the
 * next waits SAVE_SHARE x its duration instead, so that saving never starves ingestion.
 */
export const SAVE_STRETCH = 20;

/** Periodic saving. `save()` may be called at any time; saves never overlap. */
export class StateSaver {
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private stretched = false;
  /** How long the last save took, ms. */
  lastDurationMs = 0;
  private running: Promise<void> | null = null;
  private failing = false;
  /** Saves completed, and the size of the last one in bytes (for logs and tests). */
  saves = 0;
  lastBytes = 0;
  lastSavedAtMs = 0;

  /**
   * @param hooks beforeSnapshot runs just before the snapshot is copied, afterSave once the file
   *   holding it has been renamed into place (the agents' server acks on these: durableAcks).
   */
  constructor(
    private readonly dataDir: string, private readonly store: ShmStore, private readonly log: Logger, private readonly intervalMs: number,
    private readonly hooks: { beforeSnapshot?: () => void; afterSave?: () => void; extra?: () => ExtraSection | null | Promise<ExtraSection | null> } = {},
  ) {}

  /** Starts the periodic saves (none when the interval is 0). */
  start(): void {
    if (this.intervalMs <= 0) return;
    mkdirSync(this.dataDir, { recursive: true });
    this.started = true;
    this.schedule();
  }

  /** The next periodic save: the interval, or SAVE_STRETCH x the last save's duration if longer. */
  /** The wait before the next periodic save, ms. */
  nextDelayMs(): number {
    return Math.max(this.intervalMs, SAVE_STRETCH * this.lastDurationMs);
  }

  private schedule(): void {
    if (!this.started) return;
    const stretch = SAVE_STRETCH * this.lastDurationMs;
    const delay = this.nextDelayMs();
    if ((stretch > this.intervalMs) !== this.stretched) {
      this.stretched = stretch > this.intervalMs;
      this.log.info(this.stretched ? 'state saves spaced out: each takes long' : 'state saves back to their interval', {
        save_ms: Math.round(this.lastDurationMs), every_s: Math.round(delay / 1000),
      });
    }
    this.timer = setTimeout(() => { void this.save().finally(() => this.schedule()); }, delay);
    this.timer.unref();
  }

  /** Stops the timer and writes one last save (graceful stop). */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.save();
  }

  /** One atomic save; a failure is logged once until a save succeeds again. */
  save(): Promise<void> {
    this.running ??= this.writeOnce().finally(() => { this.running = null; });
    return this.running;
  }

  private async writeOnce(): Promise<void> {
    const path = join(this.dataDir, STATE_FILE);
    const tmp = `${path}.tmp`;
    const t0 = performance.now();
    // In one turn: the acks' marks and the slots in use; then the energy counters, a slice of
    // hosts a turn, each newer than the marks. The slots are then
    // copied a chunk at a time as gzip takes them (a stall of one chunk's copy, never the whole
    // store's: 550 MB at 10,000 hosts), each slot and ring consistent on its own and never older
    // than at this moment, so every sample an ack will confirm is in the file. A slot copied later
    // may hold newer samples than the counters; after a restore the agents replay what was not
    // acked, and a replay is idempotent for both (a history bucket lands on itself, the energy
    // counters skip what is not newer than their last sample).
    this.hooks.beforeSnapshot?.();
    const snapshot = this.store.snapshotStream();
    const savedAtMs = Date.now();
    try {
      // Made after the acks' marks, over as many turns as it takes (the energy counters: one
      // slice of hosts a turn), so it holds at least every sample an ack will confirm.
      const extra = (await this.hooks.extra?.()) ?? null;
      // A temporary file left by a crashed save keeps its mode when reopened: start afresh.
      await unlink(tmp).catch(() => undefined);
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.chmod(0o600);
        // Readable.from with a one-byte high-water mark pulls (copies) the next chunk only when
        // gzip has taken the last one, so at most a chunk or two are in memory at a time.
        await pipeline(
          Readable.from(stateChunks(snapshot, savedAtMs, extra), { objectMode: false, highWaterMark: 1 }),
          createGzip({ level: STATE_GZIP_LEVEL }),
          async (compressed: AsyncIterable<Buffer>) => {
            for await (const c of compressed) await fh.write(c);
          },
        );
        await fh.sync();
        this.lastBytes = (await fh.stat()).size;
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      this.lastDurationMs = performance.now() - t0;
      this.saves++;
      this.lastSavedAtMs = savedAtMs;
      this.hooks.afterSave?.();
      if (this.failing) this.log.info('state saved again', { file: path });
      this.failing = false;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (!this.failing) this.log.error('cannot save state; will retry', { file: path, error: (err as Error).message });
      this.failing = true;
    }
  }
}
