/**
 * Configuration in one place: a frozen table of settings per program, each with its default,
 * then a JSON config file (`--config FILE` or SENTINEL_CONFIG), then the environment (one
 * prefix, SENTINEL_), then command-line flags, in that precedence.
 * Every value is checked once at start; a bad one raises ConfigError naming the setting.
 * Functions take argv, env and the file reader as parameters, so tests never touch process.env.
 */
import { accessSync, closeSync, fstatSync, openSync, readSync, constants as fsConstants } from 'node:fs';
import { isIP } from 'node:net';
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
  /** A config file re-read on SIGHUP applies a change of this setting to the running program. */
  readonly reload?: boolean;
  /** How --help shows the default, when String() would not do (lists, objects). */
  show?(value: T): string;
}

export type SettingsTable = Readonly<Record<string, Setting<unknown>>>;
export type ConfigOf<S extends SettingsTable> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export interface LoadResult<S extends SettingsTable> {
  config: ConfigOf<S>;
  help: boolean;
  version: boolean;
  /** The config file read, or '' for none. */
  configFile: string;
}

/** The flag (and, as SENTINEL_CONFIG, the variable) that names a program's config file. */
export const CONFIG_FLAG = 'config';
/** A config file larger than this is refused before it is read. */
export const MAX_CONFIG_FILE_BYTES = 1 << 20;

/** What a config file holds: its bytes and its permission bits. */
export interface ConfigFileContent {
  text: string;
  mode: number;
}

/** Reads a config file, refusing one that is not a regular file or is larger than MAX_CONFIG_FILE_BYTES. */
export function readConfigFile(path: string): ConfigFileContent {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new ConfigError(`--${CONFIG_FLAG}`, `cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`--${CONFIG_FLAG}`, `"${path}" is not a regular file`);
    if (st.size > MAX_CONFIG_FILE_BYTES) throw new ConfigError(`--${CONFIG_FLAG}`, `"${path}" is ${st.size} bytes, more than ${MAX_CONFIG_FILE_BYTES}`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return { text: buf.subarray(0, off).toString('utf8'), mode: st.mode & 0o777 };
  } finally {
    closeSync(fd);
  }
}

/**
 * The settings a config file gives, as the raw strings a flag would carry, keyed by flag name.
 * The file is one JSON object whose keys are flag names (`"log-level"`, `"collector"`); values
 * are strings, numbers or booleans. An unknown key, another type, or a secret in a file that
 * every user may read stops the program, naming the file and the key.
 */
export function parseConfigFile(table: SettingsTable, path: string, content: ConfigFileContent): Map<string, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(content.text);
  } catch (err) {
    throw new ConfigError(path, `not valid JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(path, 'must hold one JSON object, {"flag-name": value, ...}');
  const byFlag = new Map(Object.values(table).map((s) => [s.flag, s]));
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const s = byFlag.get(key);
    if (!s) {
      const hint = byFlag.has(key.replace(/_/g, '-').toLowerCase()) ? ` (did you mean "${key.replace(/_/g, '-').toLowerCase()}"?)` : ' (keys are the flag names of --help, without dashes)';
      throw new ConfigError(`${path}: "${key}"`, `unknown setting${hint}`);
    }
    if (typeof value === 'string') out.set(key, value);
    else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') out.set(key, String(value));
    else throw new ConfigError(`${path}: "${key}"`, `must be a string, a number or true/false, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
    if (s.secret && (content.mode & 0o004) !== 0) {
      throw new ConfigError(`${path}: "${key}"`, `is a secret, and the file can be read by every user (mode ${content.mode.toString(8).padStart(4, '0')}): chmod 640 or 600 it`);
    }
  }
  return out;
}

/** SENTINEL_ + flag in upper snake case: `data-dir` -> `SENTINEL_DATA_DIR`. */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replace(/-/g, '_');
}

export function setting<T>(s: Setting<T>): Setting<T> {
  return Object.freeze(s);
}

/**
 * Resolves every setting of `table`: default, then the config file, then env, then flags. Throws ConfigError for an
 * unknown flag, a flag without its value, a bad value, or a required setting left unset.
 * `--help` / `--version` are reported, and then required settings are not enforced.
 */
export function loadConfig<S extends SettingsTable>(
  table: S, argv: readonly string[], env: NodeJS.ProcessEnv, readFile: (path: string) => ConfigFileContent = readConfigFile,
): LoadResult<S> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' }, version: { type: 'boolean' }, [CONFIG_FLAG]: { type: 'string' } };
  for (const s of Object.values(table)) options[s.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // parseArgs refuses `--flag -value` as ambiguous; its own hint is on a later line, so it is said here.
    const dashed = /^Option '(--[\w-]+)' argument is ambiguous/u.exec(message);
    if (dashed) throw new ConfigError(dashed[1]!, `a value that starts with "-" is written ${dashed[1]}=VALUE (see --help)`);
    throw new ConfigError('command line', `${message.split('\n')[0]} (see --help)`);
  }
  const help = values['help'] === true;
  const version = values['version'] === true;
  const flagFile = values[CONFIG_FLAG];
  const envFile = env[envName(CONFIG_FLAG)];
  const configFile = typeof flagFile === 'string' ? flagFile : envFile ?? '';
  if (typeof flagFile === 'string' && flagFile.trim() === '') throw new ConfigError(`--${CONFIG_FLAG}`, 'must not be empty');
  const fromFile = configFile !== '' && !help && !version ? parseConfigFile(table, configFile, readFile(configFile)) : new Map<string, string>();
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
    } else if (fromFile.has(s.flag)) {
      raw = fromFile.get(s.flag)!;
      name = `${configFile}: "${s.flag}"`;
    } else {
      name = `--${s.flag}`;
    }
    if (raw !== undefined) config[key] = s.parse(raw, name);
    else if (s.default !== undefined) config[key] = s.default;
    else if (!help && !version) throw new ConfigError(name, `is required (set it in the config file, ${envName(s.flag)} or --${s.flag})`);
  }
  return { config: Object.freeze(config) as ConfigOf<S>, help, version, configFile };
}

/** The --help text of a program, generated from its table so that it cannot drift. */
export function helpText(usage: string, table: SettingsTable): string {
  const rows = Object.values(table).map((s) => {
    const left = `  --${s.flag} ${s.arg}`;
    const def = s.default === undefined ? 'required' : s.secret ? 'default: (set)' : `default: ${s.show ? s.show(s.default) : formatDefault(s.default)}`;
    return `${left.padEnd(34)} ${s.doc}\n${' '.repeat(35)}env ${envName(s.flag)}; ${def}`;
  });
  const config = `${`  --${CONFIG_FLAG} FILE`.padEnd(34)} JSON object of settings by flag name, e.g. {"log-level": "debug"}\n${' '.repeat(35)}env ${envName(CONFIG_FLAG)}; default: none`;
  return `${usage}\n\nOptions (flags win over environment, environment over the config file, the file over defaults):\n${rows.join('\n')}\n${config}\n  --help${' '.repeat(28)} print this and exit\n  --version${' '.repeat(25)} print the version and exit\n`;
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

/** What to do about a port that cannot be taken, by the flag that names it. */
export function listenAdvice(err: { code?: string }, flag: 'listen' | 'http'): string {
  if (err.code === 'EADDRINUSE') return ` (another program, perhaps another collector, holds it: stop it, or choose another address with --${flag} HOST:PORT)`;
  if (err.code === 'EACCES') return ` (ports below 1024 need privileges: choose another with --${flag} HOST:PORT)`;
  if (err.code === 'EADDRNOTAVAIL') return ` (no interface of this machine has that address: check --${flag})`;
  return '';
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
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
