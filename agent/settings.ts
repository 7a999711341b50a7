/** The agent's settings: defaults, then SENTINEL_* environment variables, then flags. */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigError, ProtocolError } from '../shared/errors.ts';
import { intIn, nonEmptyString, oneOf, optionalFile, parseHostPort, setting, type ConfigOf } from '../shared/config.ts';
import { DEFAULT_INTERVAL_MS, MAX_INTERVAL_MS, MAX_TOKEN_BYTES, MIN_INTERVAL_MS, newHostName } from '../shared/protocol.ts';
import { DEFAULT_POWERCAP_ROOT } from './collectors/power.ts';
import { MAX_HOST_WATTS, MAX_WATTS_PER_GIB, wattsIn } from './power_model.ts';
import { checkSocketPath } from './power_socket.ts';
import { DEFAULT_BUFFER_SECONDS } from './sample_buffer.ts';

/** Default time between runs of the slow reading class (filesystems, GPU, top processes), ms. */
export const DEFAULT_SLOW_INTERVAL_MS = 15_000;
/** Longest buffer a flag may ask for, seconds (a day; the byte bound caps memory in any case). */
const MAX_BUFFER_SECONDS = 86_400;

function hostName(raw: string, name: string): string {
  try {
    return newHostName(raw, name);
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

/** The classes --power-class takes besides auto (power_model.ts; `unknown` is auto's own fallback). */
const POWER_CLASSES = ['server', 'desktop', 'laptop', 'sbc'] as const;
/** Highest GID: 2^32 - 2 ((gid_t) -1 means "leave unchanged" to chown). */
const MAX_GID = 4_294_967_294;

/** Watts from 0 to `max`, or null (the class default) for an empty value. */
function optionalWatts(max: number): (raw: string, name: string) => number | null {
  const watts = wattsIn(0, max);
  return (raw, name) => (raw.trim() === '' ? null : watts(raw, name));
}

/** A Unix socket path, or '' (off). */
function socketPath(raw: string, name: string): string {
  if (raw === '') return '';
  try {
    checkSocketPath(raw);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(name, err.message.slice(err.setting.length + 2));
    throw err;
  }
  return raw;
}

/** `0600` or `0660`, as the mode bits. */
function socketMode(raw: string, name: string): 0o600 | 0o660 {
  return oneOf('0600', '0660')(raw, name) === '0600' ? 0o600 : 0o660;
}

/**
 * A GID, or a group name looked up in `groupFile` (the name's GID there), or null for ''. Groups
 * only NSS knows (LDAP, sssd) are not in /etc/group: give their GID.
 */
export function groupId(raw: string, name: string, groupFile = '/etc/group'): number | null {
  const text = raw.trim();
  if (text === '') return null;
  if (/^\d+$/u.test(text)) return intIn(0, MAX_GID)(text, name);
  let lines: string[];
  try {
    lines = readFileSync(groupFile, 'utf8').split('\n');
  } catch (err) {
    throw new ConfigError(name, `cannot read ${groupFile} to look up group "${text}" (${(err as NodeJS.ErrnoException).code ?? String(err)}); give its GID`);
  }
  for (const line of lines) {
    const [group, , gid] = line.split(':');
    if (group === text && gid !== undefined && /^\d+$/u.test(gid)) return Number(gid);
  }
  throw new ConfigError(name, `no group "${text}" in ${groupFile}; give a group name from it or a GID`);
}

export const AGENT_SETTINGS = Object.freeze({
  collector: setting({ flag: 'collector', arg: 'HOST:PORT', doc: 'the collector to send readings to', default: undefined, parse: parseHostPort , reload: true }),
  token: setting({ flag: 'token', arg: 'TOKEN', doc: 'this host\'s own token (npm run token -- add NAME) or the cluster token the collector printed', default: undefined, parse: nonEmptyString(MAX_TOKEN_BYTES), secret: true , reload: true }),
  name: setting({ flag: 'name', arg: 'NAME', doc: 'this host\'s name on the dashboard', default: hostName(hostname(), 'hostname'), parse: hostName , reload: true }),
  intervalMs: setting({ flag: 'interval', arg: 'MS', doc: 'time between samples, ms', default: DEFAULT_INTERVAL_MS, parse: intIn(MIN_INTERVAL_MS, MAX_INTERVAL_MS) , reload: true }),
  tls: setting({ flag: 'tls', arg: 'on|off', doc: 'speak TLS to the collector, verifying its certificate against the system CAs (or --ca)', default: 'off' as const, parse: oneOf('on', 'off') , reload: true }),
  ca: setting({ flag: 'ca', arg: 'FILE', doc: 'PEM of the private CA that signed the collector\'s certificate; implies --tls on', default: '', parse: optionalFile , reload: true }),
  tlsServername: setting({ flag: 'tls-servername', arg: 'NAME', doc: 'name the collector\'s certificate must carry, when it differs from the --collector host', default: '', parse: nonEmptyString(253) , reload: true }),
  bufferSeconds: setting({ flag: 'buffer-s', arg: 'SECONDS', doc: 'seconds of samples kept while the collector is away, sent when it is back (at most 8 MiB of them); 0: none', default: DEFAULT_BUFFER_SECONDS, parse: intIn(0, MAX_BUFFER_SECONDS) , reload: true }),
  slowIntervalMs: setting({ flag: 'slow-interval', arg: 'MS', doc: 'time between runs of the slow readings (filesystems, GPU, top processes), ms; 0: off', default: DEFAULT_SLOW_INTERVAL_MS, parse: offOrIntIn(1000, 3_600_000) , reload: true }),
  powerRoot: setting({ flag: 'power-root', arg: 'DIR', doc: 'where the RAPL energy counters are read (the powercap sysfs tree)', default: DEFAULT_POWERCAP_ROOT, parse: nonEmptyString(4096) , reload: true }),
  powerClass: setting({ flag: 'power-class', arg: 'CLASS', doc: 'the power estimate\'s model where RAPL cannot be read: auto (from the CPU model and architecture), server, desktop, laptop or sbc', default: 'auto' as 'auto' | (typeof POWER_CLASSES)[number], parse: oneOf('auto', ...POWER_CLASSES) , reload: true }),
  powerIdleW: setting({ flag: 'power-idle-w', arg: 'W', doc: 'the estimate\'s whole-host draw at 0 % CPU, memory aside, W', default: null as number | null, parse: optionalWatts(MAX_HOST_WATTS), show: () => 'the class\'s' , reload: true }),
  powerMaxW: setting({ flag: 'power-max-w', arg: 'W', doc: 'the estimate\'s whole-host draw at 100 % CPU, memory aside, W', default: null as number | null, parse: optionalWatts(MAX_HOST_WATTS), show: () => 'the class\'s' , reload: true }),
  powerWPerGib: setting({ flag: 'power-w-per-gib', arg: 'W', doc: 'the estimate\'s watts per GiB of memory', default: null as number | null, parse: optionalWatts(MAX_WATTS_PER_GIB), show: () => 'the class\'s' , reload: true }),
  powerSocket: setting({ flag: 'power-socket', arg: 'PATH', doc: 'Unix socket answering each client with one JSON line of the power last sent; empty: off', default: '', parse: socketPath , reload: true }),
  powerSocketMode: setting({ flag: 'power-socket-mode', arg: '0600|0660', doc: 'permissions of the power socket file', default: 0o660 as 0o600 | 0o660, parse: socketMode, show: (m) => `0${m.toString(8)}` , reload: true }),
  powerSocketGroup: setting({ flag: 'power-socket-group', arg: 'GROUP', doc: 'group (name or GID) given the power socket file, whose members may connect', default: null as number | null, parse: groupId, show: () => '(none)' , reload: true }),
  logLevel: setting({ flag: 'log-level', arg: 'LEVEL', doc: 'debug, info, warn or error', default: 'info' as const, parse: oneOf('debug', 'info', 'warn', 'error'), reload: true }),
  logFormat: setting({ flag: 'log-format', arg: 'FORMAT', doc: 'text (one line an event, key=value) or json (one JSON object a line)', default: 'text' as const, parse: oneOf('text', 'json'), reload: true }),
});

export type AgentConfig = ConfigOf<typeof AGENT_SETTINGS>;
