/** The agent's settings: defaults, then SENTINEL_* environment variables, then flags. */
import { hostname } from 'node:os';
import { ConfigError, ProtocolError } from '../shared/errors.ts';
import { intIn, nonEmptyString, oneOf, optionalFile, parseHostPort, setting, type ConfigOf } from '../shared/config.ts';
import { DEFAULT_INTERVAL_MS, MAX_INTERVAL_MS, MAX_TOKEN_BYTES, MIN_INTERVAL_MS, normaliseHostName } from '../shared/protocol.ts';
import { DEFAULT_BUFFER_SECONDS } from './sample_buffer.ts';

/** Default time between runs of the slow reading class (filesystems, GPU, top processes), ms. */
export const DEFAULT_SLOW_INTERVAL_MS = 15_000;
/** Longest buffer a flag may ask for, seconds (a day; the byte bound caps memory in any case). */
const MAX_BUFFER_SECONDS = 86_400;

function hostName(raw: string, name: string): string {
  try {
    return normaliseHostName(raw, name);
  } catch (err) {
    throw new ConfigError(name, err instanceof ProtocolError ? err.message.replace(/^[^:]+: /, '') : String(err));
  }
}

/** 0 (off), or a whole number from `min` to `max`. */
function offOrIntIn(min: number, max: number): (raw: string, name: string) => number {
  const whole = intIn(0, max);
  return (raw, name) => {
    const v = whole(raw, name);
    if (v !== 0 && v < min) throw new ConfigError(name, `must be 0 (off) or from ${min} to ${max}, got ${v}`);
    return v;
  };
}

export const AGENT_SETTINGS = Object.freeze({
  collector: setting({ flag: 'collector', arg: 'HOST:PORT', doc: 'the collector to send readings to', default: undefined, parse: parseHostPort }),
  token: setting({ flag: 'token', arg: 'TOKEN', doc: 'this host\'s own token (npm run token -- add NAME) or the cluster token the collector printed', default: undefined, parse: nonEmptyString(MAX_TOKEN_BYTES), secret: true }),
  name: setting({ flag: 'name', arg: 'NAME', doc: 'this host\'s name on the dashboard', default: hostName(hostname(), 'hostname'), parse: hostName }),
  intervalMs: setting({ flag: 'interval', arg: 'MS', doc: 'time between samples, ms', default: DEFAULT_INTERVAL_MS, parse: intIn(MIN_INTERVAL_MS, MAX_INTERVAL_MS) }),
  tls: setting({ flag: 'tls', arg: 'on|off', doc: 'speak TLS to the collector, verifying its certificate against the system CAs (or --ca)', default: 'off' as const, parse: oneOf('on', 'off') }),
  ca: setting({ flag: 'ca', arg: 'FILE', doc: 'PEM of the private CA that signed the collector\'s certificate; implies --tls on', default: '', parse: optionalFile }),
  tlsServername: setting({ flag: 'tls-servername', arg: 'NAME', doc: 'name the collector\'s certificate must carry, when it differs from the --collector host', default: '', parse: nonEmptyString(253) }),
  bufferSeconds: setting({ flag: 'buffer-s', arg: 'SECONDS', doc: 'seconds of samples kept while the collector is away, sent when it is back (at most 8 MiB of them); 0: none', default: DEFAULT_BUFFER_SECONDS, parse: intIn(0, MAX_BUFFER_SECONDS) }),
  slowIntervalMs: setting({ flag: 'slow-interval', arg: 'MS', doc: 'time between runs of the slow readings (filesystems, GPU, top processes), ms; 0: off', default: DEFAULT_SLOW_INTERVAL_MS, parse: offOrIntIn(1000, 3_600_000) }),
  logLevel: setting({ flag: 'log-level', arg: 'LEVEL', doc: 'debug, info, warn or error', default: 'info' as const, parse: oneOf('debug', 'info', 'warn', 'error') }),
});

export type AgentConfig = ConfigOf<typeof AGENT_SETTINGS>;
