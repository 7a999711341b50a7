/**
 * The one interface every reading collector implements, and the helpers they share.
 * A collector does its I/O in `collect()` and hands the raw result to a pure parser, so tests can
 * feed the parser recorded fixtures (test/fixtures/si/) and pass on any machine.
 */
import { MAX_REASON_BYTES, type ReadingName, type Readings, type Sample, type TableName } from '../../shared/protocol.ts';

/** Fields a sample carries beside its readings, that are not readings themselves. */
export type SampleFields = Pick<Sample, 'power_source'>;

export interface CollectResult {
  readings: Readings;
  /** Reading name -> why it could not be taken: one line, at most MAX_REASON_BYTES of UTF-8. */
  missing: Record<string, string>;
  /** power_source: where power_w comes from; dropped (fitToProtocol) when power_w is. */
  fields?: SampleFields;
}

/**
 * How often a collector runs: 'fast' on every sample (must be cheap and start no child process),
 * 'slow' on the Sampler's slow schedule (walks many files, spawns, or may hang: statfs on NFS).
 * 'derived': on every sample too, but after the fast class, handed what the sample holds so far
 * (fast readings and the slow class's last result), for a reading that depends on others (power
 * estimated from CPU % and memory). As cheap as a fast one.
 */
export type CollectorKind = 'fast' | 'slow' | 'derived';

export interface Collector {
  readonly name: string;
  /** Every reading or table this collector may return; all of them are reported missing if it fails. */
  readonly provides: ReadonlyArray<ReadingName | TableName>;
  /** Absent means 'fast'. */
  readonly kind?: CollectorKind;
  /** `sample`: given to a 'derived' collector only (absent when run alone, e.g. by a benchmark). */
  collect(sample?: Readonly<CollectResult>): Promise<CollectResult>;
}

/**
 * Characters removed from text sent to the collector: C0/C1 controls, DEL, line/paragraph
 * separators, bidi controls and BOM (the set protocol.ts refuses in host names), so a fact or reason
 * can neither break a log line nor reorder the text it is shown in.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/gu;

/**
 * Makes untrusted text safe to send: unsafe characters become spaces, runs of white space collapse,
 * and the result is cut to `maxBytes` of UTF-8 at a code point boundary (never half a character).
 */
export function cleanText(raw: string, maxBytes: number): string {
  const text = raw.replace(UNSAFE_CHARS, ' ').replace(/\s+/gu, ' ').trim();
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const chBytes = Buffer.byteLength(ch, 'utf8');
    if (bytes + chBytes > maxBytes) break;
    out += ch;
    bytes += chBytes;
  }
  return out.trimEnd();
}

/** Fits a reason into one line of at most MAX_REASON_BYTES, so the sample never fails validation. */
export function shortReason(text: string): string {
  return cleanText(text, MAX_REASON_BYTES) || 'unknown error';
}

/** Turns anything thrown into a short reason; keeps a system error's code (ENOENT ...) in front. */
export function reasonFromError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const text = typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
    return shortReason(text || err.name);
  }
  return shortReason(String(err));
}

/**
 * Settles like `p`, or rejects with "<what> timed out after N ms" once `timeoutMs` has passed.
 * The timer is cleared either way, so a fast result leaves no timer keeping the process alive.
 * `p` itself is not cancelled (systeminformation has no way to); its late result is ignored.
 */
export function withTimeout<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** True for a number a reading may carry: finite and not negative. */
export function isNonNegativeFinite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** Names a raw value in a reason without letting it grow the reason. */
export function describeValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (v === null) return 'null';
  if (v === undefined) return 'absent';
  return typeof v;
}
