/** The agent's settings: defaults, then SENTINEL_* environment variables, then flags. */
import { hostname } from 'node:os';
import { ConfigError, ProtocolError } from '../shared/errors.ts';
import { intIn, nonEmptyString, oneOf, optionalFile, parseHostPort, setting, type ConfigOf } from '../shared/config.ts';
import { DEFAULT_INTERVAL_MS, MAX_INTERVAL_MS, MAX_TOKEN_BYTES, MIN_INTERVAL_MS, normaliseHostName } from '../shared/protocol.ts';

function hostName(raw: string, name: string): string {
  try {
    return normaliseHostName(raw, name);
  } catch (err) {
    throw new ConfigError(name, err instanceof ProtocolError ? err.message.replace(/^[^:]+: /, '') : String(err));
  }
}

export const AGENT_SETTINGS = Object.freeze({
  collector: setting({ flag: 'collector', arg: 'HOST:PORT', doc: 'the collector to send readings to', default: undefined, parse: parseHostPort }),
  token: setting({ flag: 'token', arg: 'TOKEN', doc: 'this host\'s own token (npm run token -- add NAME) or the cluster token the collector printed', default: undefined, parse: nonEmptyString(MAX_TOKEN_BYTES), secret: true }),
  name: setting({ flag: 'name', arg: 'NAME', doc: 'this host\'s name on the dashboard', default: hostName(hostname(), 'hostname'), parse: hostName }),
  intervalMs: setting({ flag: 'interval', arg: 'MS', doc: 'time between samples, ms', default: DEFAULT_INTERVAL_MS, parse: intIn(MIN_INTERVAL_MS, MAX_INTERVAL_MS) }),
  tls: setting({ flag: 'tls', arg: 'on|off', doc: 'speak TLS to the collector, verifying its certificate against the system CAs (or --ca)', default: 'off' as const, parse: oneOf('on', 'off') }),
  ca: setting({ flag: 'ca', arg: 'FILE', doc: 'PEM of the private CA that signed the collector\'s certificate; implies --tls on', default: '', parse: optionalFile }),
  tlsServername: setting({ flag: 'tls-servername', arg: 'NAME', doc: 'name the collector\'s certificate must carry, when it differs from the --collector host', default: '', parse: nonEmptyString(253) }),
  logLevel: setting({ flag: 'log-level', arg: 'LEVEL', doc: 'debug, info, warn or error', default: 'info' as const, parse: oneOf('debug', 'info', 'warn', 'error') }),
});

export type AgentConfig = ConfigOf<typeof AGENT_SETTINGS>;
