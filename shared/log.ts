/**
 * One line per event on stderr: `time level component message key=value ...`, or with the
 * `json` format one JSON object a line, `{"time","level","component","msg",...fields}`, for
 * journald, Loki or jq.
 * Values may come from the network (host names, reasons), so every control character,
 * ANSI escape and line break is shown escaped: a log line can never be split or recoloured.
 */
import { UNSAFE_CHARS_GLOBAL } from './unsafe_chars.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFormat = 'text' | 'json';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}


/** Escapes a value for a log line: plain words stay bare, anything else is quoted with every unsafe character as \uXXXX. */
export function logValue(v: string | number | boolean | null): string {
  if (typeof v !== 'string') return String(v);
  if (/^[\w.:/@+-]+$/.test(v)) return v;
  // JSON.stringify escapes quotes, backslashes and C0; the rest of the unsafe characters are escaped after.
  return JSON.stringify(v).replace(UNSAFE_CHARS_GLOBAL, (c) => {
    const cp = c.codePointAt(0)!;
    return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
  });
}

/** A logger whose level and format can be changed while it runs (a reload). */
export interface LoggerControl extends Logger {
  setLevel(level: LogLevel): void;
  setFormat(format: LogFormat): void;
}

/** The keys every JSON line has; a field of the same name is written as `field_NAME`. */
const JSON_BASE_KEYS: ReadonlySet<string> = new Set(['time', 'level', 'component', 'msg']);

/** One JSON log line. Unsafe characters JSON.stringify leaves as they are (U+2028, bidi controls) are escaped too. */
export function jsonLogLine(time: string, level: LogLevel, component: string, message: string, fields?: LogFields): string {
  const o: Record<string, string | number | boolean | null> = { time, level, component, msg: message };
  if (fields) {
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) o[JSON_BASE_KEYS.has(k) ? `field_${k}` : k] = v;
  }
  // Escaped by UTF-16 unit, as JSON spells a character beyond U+FFFF (a surrogate pair).
  return JSON.stringify(o).replace(UNSAFE_CHARS_GLOBAL, (c) => {
    let out = '';
    for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return out;
  });
}

export function createLogger(
  component: string, minLevel: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l), format: LogFormat = 'text',
): LoggerControl {
  let min = RANK[minLevel];
  let fmt = format;
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (RANK[level] < min) return;
    if (fmt === 'json') {
      write(jsonLogLine(new Date().toISOString(), level, component, message, fields) + '\n');
      return;
    }
    let line = `${new Date().toISOString()} ${level.padEnd(5)} ${component} ${message.replace(UNSAFE_CHARS_GLOBAL, '?')}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${logValue(v)}`;
    }
    write(line + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    setLevel: (level) => { min = RANK[level]; },
    setFormat: (f) => { fmt = f; },
  };
}
