/** The collector's settings: defaults, then SENTINEL_* environment variables, then flags. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_FRAME_BYTES, MAX_FRAME_BYTES_CEILING } from '../shared/frame_codec.ts';
import { intIn, nonEmptyString, oneOf, parseHostPort, setting, type ConfigOf } from '../shared/config.ts';
import { MAX_CAPACITY } from '../shared/shm_store.ts';
import { MAX_TOKEN_BYTES } from '../shared/protocol.ts';

/** Default data directory: under the user's home, so it survives reboots and checkouts. */
export const DEFAULT_DATA_DIR = join(homedir(), '.cluster-sentinel');

export const COLLECTOR_SETTINGS = Object.freeze({
  listen: setting({ flag: 'listen', arg: 'HOST:PORT', doc: 'where agents connect (TCP)', default: parseHostPort('0.0.0.0:8765', 'listen'), parse: parseHostPort }),
  http: setting({ flag: 'http', arg: 'HOST:PORT', doc: 'dashboard and API (HTTP)', default: parseHostPort('127.0.0.1:8080', 'http'), parse: parseHostPort }),
  dataDir: setting({ flag: 'data-dir', arg: 'DIR', doc: 'cluster token and control socket live here', default: DEFAULT_DATA_DIR, parse: nonEmptyString(4096) }),
  capacity: setting({ flag: 'capacity', arg: 'HOSTS', doc: 'host slots in shared memory (1 KiB each)', default: 1024, parse: intIn(1, MAX_CAPACITY) }),
  token: setting({ flag: 'token', arg: 'TOKEN', doc: 'cluster token agents must present; default: read or create DATA_DIR/cluster.token', default: '', parse: nonEmptyString(MAX_TOKEN_BYTES), secret: true }),
  maxFrameBytes: setting({ flag: 'max-frame-bytes', arg: 'BYTES', doc: 'largest frame accepted from an agent', default: DEFAULT_MAX_FRAME_BYTES, parse: intIn(1024, MAX_FRAME_BYTES_CEILING) }),
  helloTimeoutMs: setting({ flag: 'hello-timeout-ms', arg: 'MS', doc: 'a new connection must send its hello within this time', default: 5000, parse: intIn(100, 60_000) }),
  idleTimeoutMs: setting({ flag: 'idle-timeout-ms', arg: 'MS', doc: 'close an agent that sends nothing for this long', default: 60_000, parse: intIn(1000, 3_600_000) }),
  maxConnections: setting({ flag: 'max-connections', arg: 'N', doc: 'agent connections held at once, authenticated or not', default: 4096, parse: intIn(1, 1_000_000) }),
  logLevel: setting({ flag: 'log-level', arg: 'LEVEL', doc: 'debug, info, warn or error', default: 'info' as const, parse: oneOf('debug', 'info', 'warn', 'error') }),
});

export type CollectorConfig = ConfigOf<typeof COLLECTOR_SETTINGS>;

/** Largest hello accepted, in bytes: a hello is small, so a stranger cannot make us buffer 64 KiB before authenticating. */
export const MAX_HELLO_BYTES = 4096;
