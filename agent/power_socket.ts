/**
 * The local power socket (optional, off by default): a Unix socket on which every client that
 * connects receives one JSON line and then end of file, so a desktop widget can show the host's
 * power without root:
 *
 *   {"power_watts":41.2,"timestamp":1718000000000,"status":"ok","source":"measured"}
 *
 * power_watts: W, null when status is "error" (then `error` says why). timestamp: when the figure
 * was taken, ms since the epoch (the sample's `ts` unit); for an error, when the line was made.
 * source: "measured" (RAPL, GPU board power) or "estimated" (power_model.ts); null when read()
 * threw, or when the agent has no figure to name a source for (before its first sample, or a
 * sample without power_w).
 *
 * Permissions: 0660 by default (0600 may be chosen), never world-accessible. connect() on a Unix
 * socket needs write permission on the file, so 0600 would shut out every widget whenever the
 * agent runs as root (which reading RAPL needs since Linux 5.10); 0660 plus `gid` lets the admin
 * name the one group that may read. Not wider, because power readings are the side channel the
 * kernel closed by making energy_uj root-only (CVE-2020-8694); figures averaged over a second are
 * far coarser than that attack needs, but who reads them stays an explicit choice.
 * The file is created under a umask that already gives that mode (bind() creates it; no window
 * where it is wider), then chmod'ed, and chown'ed to `gid` if given.
 *
 * The path: at most 107 bytes (sun_path is 108 with its NUL). An existing file there is replaced
 * only if it is a socket nobody listens on (a crashed run's leftover: connect is refused); a
 * regular file, a directory, a symlink or a live socket is refused with a ConfigError. The file
 * is removed on close() and on process exit (if it is still ours: same inode).
 */
import { chmodSync, chownSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { ConfigError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { PowerSource } from '../shared/protocol.ts';
import { reasonFromError, type CollectResult } from './collectors/types.ts';

export type { PowerSource };

/** What the agent knows of its power now: a figure, or why there is none. */
export interface PowerReading {
  /** W; absent with `error`. */
  readonly watts?: number;
  /** Null when there is no figure to name a source for. */
  readonly source: PowerSource | null;
  /** When the figure was taken, ms since the epoch. */
  readonly atMs: number;
  readonly error?: string;
}

/** One line on the socket. */
export interface PowerLine {
  power_watts: number | null;
  timestamp: number;
  status: 'ok' | 'error';
  source: PowerSource | null;
  error?: string;
}

/** Longest socket path, bytes of UTF-8: sun_path is 108 bytes on Linux, with its terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;
export const SOCKET_SETTING = 'power-socket';
const DEFAULT_MODE = 0o660;
/** A client is cut off after this long, ms: it has had its line long before. */
const DEFAULT_CLIENT_TIMEOUT_MS = 2000;
const DEFAULT_MAX_CLIENTS = 64;
const PROBE_TIMEOUT_MS = 1000;

export interface PowerSocketOptions {
  /** 0o660 (default) or 0o600. */
  mode?: 0o600 | 0o660;
  /** Group the socket file is given (chown), so its members may connect. */
  gid?: number;
  /** A reading older than this, ms, is served as an error ('stale'); default: never stale. */
  maxAgeMs?: number;
  /** Wall clock, ms since the epoch; default Date.now. */
  now?: () => number;
  clientTimeoutMs?: number;
  /** Connections at once; more are closed at once by the server. Default 64. */
  maxClients?: number;
}

export interface PowerSocket {
  readonly path: string;
  /** Stops listening, drops clients still connected, and removes the socket file. */
  close(): Promise<void>;
}

/** Pure: the power of a sample taken at `atMs` (as sent: after fitToProtocol), or why it has none. */
export function readingFromSample(sample: Readonly<CollectResult>, atMs: number): PowerReading {
  const watts = sample.readings.power_w;
  const source = sample.fields?.power_source;
  if (watts !== undefined && source !== undefined) return { watts, source, atMs };
  return { source: null, atMs, error: sample.missing['power_w'] ?? (watts === undefined ? 'no power figure in the last sample' : 'no power source in the last sample') };
}

/** Pure apart from calling `read`: the line for one client. Never throws. */
export function powerLine(read: () => PowerReading, nowMs: number, maxAgeMs = Infinity): PowerLine {
  let r: PowerReading;
  try {
    r = read();
  } catch (err) {
    return { power_watts: null, timestamp: nowMs, status: 'error', source: null, error: reasonFromError(err) };
  }
  const fail = (error: string): PowerLine => ({ power_watts: null, timestamp: nowMs, status: 'error', source: r.source, error });
  if (r.error !== undefined) return fail(r.error);
  if (typeof r.watts !== 'number' || !Number.isFinite(r.watts) || r.watts < 0) return fail('no power figure');
  if (nowMs - r.atMs > maxAgeMs) return fail(`stale: last figure ${Math.round((nowMs - r.atMs) / 1000)} s old`);
  return { power_watts: r.watts, timestamp: r.atMs, status: 'ok', source: r.source };
}

/** Throws ConfigError unless `path` fits in sun_path. */
export function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path, 'utf8');
  if (path === '' || path.includes('\0')) throw new ConfigError(SOCKET_SETTING, 'socket path must be a non-empty path without NUL');
  if (bytes > MAX_SOCKET_PATH_BYTES) throw new ConfigError(SOCKET_SETTING, `socket path is ${bytes} bytes; a Unix socket path may have at most ${MAX_SOCKET_PATH_BYTES}: ${path}`);
}

/** Whether something answers on the socket at `path`: 'listening', 'stale' (refused), or the error. */
function probe(path: string): Promise<'listening' | 'stale' | Error> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: 'listening' | 'stale' | Error): void => { clearTimeout(timer); s.destroy(); resolve(v); };
    // A full backlog can leave connect pending: treat a silent socket as in use, never remove it.
    const timer = setTimeout(() => done('listening'), PROBE_TIMEOUT_MS);
    s.once('connect', () => done('listening'));
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'stale' : err));
  });
}

/** Clears the way for the socket: nothing there, or a stale socket (removed); anything else is refused. */
async function clearStale(path: string, log: Logger): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ConfigError(SOCKET_SETTING, `cannot check ${path}: ${reasonFromError(err)}`);
  }
  if (!st.isSocket()) throw new ConfigError(SOCKET_SETTING, `${path} exists and is not a socket; refusing to replace it`);
  const state = await probe(path);
  if (state === 'listening') throw new ConfigError(SOCKET_SETTING, `another process is listening on ${path}`);
  if (state instanceof Error) throw new ConfigError(SOCKET_SETTING, `cannot check the socket ${path}: ${reasonFromError(state)}`);
  // Between the refused connect and this unlink another process could bind the path; two agents
  // racing for one socket path at the same instant is not a case worth a lock.
  unlinkSync(path);
  log.info('power socket: removed a stale socket', { path });
}

function listen(server: Server, path: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new ConfigError(SOCKET_SETTING, `cannot listen on ${path}: ${reasonFromError(err)}`));
    server.once('error', onError);
    // bind() creates the file synchronously inside listen(), under the umask of that moment.
    let oldMask: number | undefined;
    try {
      oldMask = process.umask(0o777 & ~mode);
    } catch {
      // Worker threads may not change the umask; chmod below still applies the mode.
    }
    try {
      server.listen(path, () => { server.off('error', onError); resolve(); });
    } finally {
      if (oldMask !== undefined) process.umask(oldMask);
    }
  });
}

/** Starts serving one power line per connection on the Unix socket `path`. */
export async function startPowerSocket(path: string, read: () => PowerReading, log: Logger, options: PowerSocketOptions = {}): Promise<PowerSocket> {
  checkSocketPath(path);
  const mode = options.mode ?? DEFAULT_MODE;
  if (mode !== 0o600 && mode !== 0o660) throw new RangeError(`mode must be 0o600 or 0o660, got 0o${Number(mode).toString(8)}`);
  const now = options.now ?? Date.now;
  const maxAgeMs = options.maxAgeMs ?? Infinity;
  const clientTimeoutMs = options.clientTimeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS;
  await clearStale(path, log);

  const open = new Set<Socket>();
  const server = createServer((socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', (err) => log.debug('power socket: client error', { error: reasonFromError(err) }));
    socket.setTimeout(clientTimeoutMs, () => socket.destroy());
    // Anything the client sends is read and dropped, so its end of file is seen and the socket closes.
    socket.resume();
    socket.end(`${JSON.stringify(powerLine(read, now(), maxAgeMs))}\n`);
  });
  server.maxConnections = options.maxClients ?? DEFAULT_MAX_CLIENTS;
  await listen(server, path, mode);

  let ino: number;
  try {
    chmodSync(path, mode);
    if (options.gid !== undefined) chownSync(path, -1, options.gid);
    ino = lstatSync(path).ino;
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw new ConfigError(SOCKET_SETTING, `cannot set the permissions of ${path}: ${reasonFromError(err)}`);
  }
  server.on('error', (err) => log.warn('power socket error', { path, error: reasonFromError(err) }));

  /** Removes the file if it is still the one this server created. */
  const removeOurs = (): void => {
    try {
      const st = lstatSync(path);
      if (st.isSocket() && st.ino === ino) unlinkSync(path);
    } catch {
      // Already gone.
    }
  };
  process.once('exit', removeOurs);
  log.info('power socket listening', { path, mode: `0${mode.toString(8)}`, gid: options.gid });

  let closing: Promise<void> | undefined;
  return {
    path,
    close() {
      closing ??= new Promise<void>((resolve) => {
        process.off('exit', removeOurs);
        // libuv unlinks the path when the handle closes; removeOurs covers a server already closed.
        server.close(() => { removeOurs(); resolve(); });
        // A client still connected has had its line: it is not waited for.
        for (const socket of open) socket.destroy();
      });
      return closing;
    },
  };
}
