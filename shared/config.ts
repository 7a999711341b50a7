/**
 * Configuration in one place: a frozen table of settings per program, each with its default,
 * then the environment (one prefix, SENTINEL_), then command-line flags, in that precedence.
 * Every value is checked once at start; a bad one raises ConfigError naming the setting.
 * Functions take argv and env as parameters, so tests never touch process.env.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from './errors.ts';

export const ENV_PREFIX = 'SENTINEL_';

export interface Setting<T> {
  /** Flag name without dashes, e.g. `listen`; the environment variable is derived from it. */
  readonly flag: string;
  /** Placeholder for --help, e.g. `HOST:PORT`. */
  readonly arg: string;
  readonly doc: string;
  /** Undefined: the setting is required. */
  readonly default: T | undefined;
  readonly parse: (raw: string, name: string) => T;
  /** Not echoed in --help defaults or logs. */
  readonly secret?: boolean;
  /** How --help shows the default, when String() would not do (lists, objects). */
  show?(value: T): string;
}

export type SettingsTable = Readonly<Record<string, Setting<unknown>>>;
export type ConfigOf<S extends SettingsTable> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export interface LoadResult<S extends SettingsTable> {
  config: ConfigOf<S>;
  help: boolean;
  version: boolean;
}

/** SENTINEL_ + flag in upper snake case: `data-dir` -> `SENTINEL_DATA_DIR`. */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replace(/-/g, '_');
}

export function setting<T>(s: Setting<T>): Setting<T> {
  return Object.freeze(s);
}

/**
 * Resolves every setting of `table`: default, then env, then flags. Throws ConfigError for an
 * unknown flag, a flag without its value, a bad value, or a required setting left unset.
 * `--help` / `--version` are reported, and then required settings are not enforced.
 */
export function loadConfig<S extends SettingsTable>(table: S, argv: readonly string[], env: NodeJS.ProcessEnv): LoadResult<S> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' }, version: { type: 'boolean' } };
  for (const s of Object.values(table)) options[s.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new ConfigError('command line', `${message.split('\n')[0]} (see --help)`);
  }
  const help = values['help'] === true;
  const version = values['version'] === true;
  const config: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(table)) {
    const fromFlag = values[s.flag];
    const fromEnv = env[envName(s.flag)];
    let raw: string | undefined;
    let name: string;
    if (typeof fromFlag === 'string') {
      raw = fromFlag;
      name = `--${s.flag}`;
    } else if (fromEnv !== undefined && fromEnv !== '') {
      raw = fromEnv;
      name = envName(s.flag);
    } else {
      name = `--${s.flag}`;
    }
    if (raw !== undefined) config[key] = s.parse(raw, name);
    else if (s.default !== undefined) config[key] = s.default;
    else if (!help && !version) throw new ConfigError(name, `is required (or set ${envName(s.flag)})`);
  }
  return { config: Object.freeze(config) as ConfigOf<S>, help, version };
}

/** The --help text of a program, generated from its table so that it cannot drift. */
export function helpText(usage: string, table: SettingsTable): string {
  const rows = Object.values(table).map((s) => {
    const left = `  --${s.flag} ${s.arg}`;
    const def = s.default === undefined ? 'required' : s.secret ? 'default: (set)' : `default: ${s.show ? s.show(s.default) : formatDefault(s.default)}`;
    return `${left.padEnd(34)} ${s.doc}\n${' '.repeat(35)}env ${envName(s.flag)}; ${def}`;
  });
  return `${usage}\n\nOptions (flags win over environment, environment over defaults):\n${rows.join('\n')}\n  --help${' '.repeat(28)} print this and exit\n  --version${' '.repeat(25)} print the version and exit\n`;
}

function formatDefault(v: unknown): string {
  if (v === '') return '(none)';
  if (v !== null && typeof v === 'object' && 'host' in v && 'port' in v) return formatHostPort(v as HostPort);
  return String(v);
}

// ---------- value parsers: each names the setting in its error ----------

export interface HostPort {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[v6]:PORT`, or `:PORT` (all interfaces). Port 0 asks the system for a free one. */
export function parseHostPort(raw: string, name: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(raw.trim());
  if (!m) throw new ConfigError(name, `expected HOST:PORT, got "${raw}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(name, `port ${port} is above 65535`);
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!);
  return Object.freeze({ host, port });
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function intIn(min: number, max: number): (raw: string, name: string) => number {
  return (raw, name) => {
    const v = Number(raw.trim());
    if (raw.trim() === '' || !Number.isInteger(v)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
    if (v < min || v > max) throw new ConfigError(name, `must be from ${min} to ${max}, got ${v}`);
    return v;
  };
}

export function nonEmptyString(maxBytes: number): (raw: string, name: string) => string {
  return (raw, name) => {
    if (raw.length === 0) throw new ConfigError(name, 'must not be empty');
    if (Buffer.byteLength(raw) > maxBytes) throw new ConfigError(name, `longer than ${maxBytes} bytes`);
    return raw;
  };
}

export function oneOf<T extends string>(...choices: T[]): (raw: string, name: string) => T {
  return (raw, name) => {
    if (!(choices as string[]).includes(raw)) throw new ConfigError(name, `must be one of ${choices.join(', ')}, got "${raw}"`);
    return raw as T;
  };
}

/** A file that must exist and be readable now (certificates, keys); read at start. */
export function optionalFile(raw: string, name: string): string {
  if (raw.trim() === '') throw new ConfigError(name, 'must not be empty');
  try {
    accessSync(raw, fsConstants.R_OK);
  } catch (err) {
    throw new ConfigError(name, `cannot read "${raw}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return raw;
}
