/**
 * One line per event: `time level component message key=value ...` on stderr.
 * Values may come from the network (host names, reasons), so every control character,
 * ANSI escape and line break is shown escaped: a log line can never be split or recoloured.
 */
import { UNSAFE_CHARS_GLOBAL } from './unsafe_chars.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

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

export function createLogger(component: string, minLevel: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (RANK[level] < RANK[minLevel]) return;
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
  };
}
