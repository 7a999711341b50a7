/**
 * A Unix socket in the data directory through which a local process (scripts/test_reader.ts)
 * gets a copy of the shared memory. A SharedArrayBuffer cannot leave its process, so the
 * collector copies every slot under its sequence lock and streams the bytes, a chunk of slots at a
 * time, then closes.
 * The socket file is created owner-only (0600): only the collector's user can read readings.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConfigError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { ShmStore } from '../shared/shm_store.ts';

export const CONTROL_SOCKET_FILE = 'collector.sock';

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, CONTROL_SOCKET_FILE);
}

/** True when something answers on the socket (another collector is using this data directory). */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

export async function startControlSocket(dataDir: string, store: ShmStore, log: Logger): Promise<Server> {
  const path = controlSocketPath(dataDir);
  if (existsSync(path)) {
    if (await isLive(path)) {
      throw new ConfigError('--data-dir', `another collector is running with data directory ${dataDir}. `
        + 'Use the one running (its dashboard is up), stop it first (Ctrl-C in its terminal), or run this one beside it with '
        + 'its own --data-dir, --listen and --http (e.g. npm start -- --data-dir /tmp/sentinel-b --listen 127.0.0.1:9765 --http 127.0.0.1:9080)');
    }
    unlinkSync(path); // left over from a collector that was killed
  }
  const server = createServer((socket) => {
    socket.on('error', () => {});
    // A chunk at a time as the socket drains: a large store is never copied whole, nor in one
    // turn of the collector's event loop (ShmStore.snapshotStream).
    pipeline(Readable.from(store.snapshotStream().chunks(), { objectMode: false, highWaterMark: 1 }), socket).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });
  chmodSync(path, 0o600);
  server.on('error', (err) => log.error('control socket error', { error: err.message }));
  return server;
}

/** Reads one snapshot from a running collector's control socket. */
export function fetchSnapshot(dataDir: string, timeoutMs = 5000): Promise<Uint8Array> {
  const path = controlSocketPath(dataDir);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = createConnection(path);
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no snapshot from ${path} within ${timeoutMs} ms`)));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => reject(new Error(`cannot read ${path}: ${err.message} (is a collector running with this --data-dir?)`)));
    socket.on('end', () => {
      // Copy into a fresh, 8-byte aligned buffer: the store decodes f64 fields in place.
      const all = Buffer.concat(chunks);
      const out = new Uint8Array(new ArrayBuffer(all.length));
      out.set(all);
      resolve(out);
    });
  });
}
