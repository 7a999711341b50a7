/**
 * JSON written straight into bytes, for the per-host fragments of /api/hosts
 * (dashboard/hosts_json.ts). Each method writes exactly the UTF-8 that JSON.stringify would
 * give, then Buffer.from(..., 'utf8'): numbers as String(v) (NaN and infinities as null), and
 * strings that were UTF-8 in shared memory as JSON.stringify of what the store's TextDecoder
 * makes of them. Plain ASCII text, whole numbers and short decimals (at most nine places),
 * nearly everything a host sends and every energy figure, take a byte loop; the rest goes
 * through the same TextDecoder and String() the old text-based code used.
 *
 * No bounds checks per write: the caller makes room for a whole fragment first (`room`).
 */

const decoder = new TextDecoder('utf-8', { fatal: false });
const encoder = new TextEncoder();

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
const MINUS = 0x2d;
/** Largest int32. */
const INT32_MAX = 2 ** 31 - 1;
/** 2^53: below it a whole number's decimal digits are exact in float arithmetic (and String(v) prints them all). */
const EXACT_INT_LIMIT = 2 ** 53;
/** Splits a large whole number into parts below INT32_LIMIT: nine decimal digits. */
const LOW_DIGITS = 1e9;
/** Decimal places shortDecimal writes at most, and 10 to that power. */
const DECIMAL_PLACES = 9;
const DECIMAL_SCALE = 1e9;
/** 10^15: shortDecimal's decimals have at most fifteen significant digits (so a whole part below 1e6). */
const MAX_SHORT_SCALED = 1e15;
/** String(v) writes |v| from 1e-6 on in fixed notation, below it as 1e-7. */
const FIXED_NOTATION_MIN = 1e-6;
const DOT = 0x2e;
/** Longest String(v) of a finite number, characters ('-1.2345678901234567e-308'). */
export const MAX_NUMBER_CHARS = 24;
/** Most bytes one byte of stored UTF-8 can take once escaped (a control byte as \u00XX). */
export const MAX_ESCAPED_BYTES_PER_BYTE = 6;
/** Most bytes of UTF-8 one UTF-16 unit of a JS string becomes. */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/** The tens and ones digit (as characters) of 0 to 99. */
const TENS = Uint8Array.from({ length: 100 }, (_, i) => ZERO + Math.floor(i / 10));
const ONES = Uint8Array.from({ length: 100 }, (_, i) => ZERO + (i % 10));
const NULL_BYTES = [0x6e, 0x75, 0x6c, 0x6c]; // null
const HEX = [0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66];

/**
 * Whether stored byte `c` (below 0x80) needs escaping in a JSON string: controls, '"' and '\'.
 * DEL (0x7f) does not: JSON.stringify leaves it.
 */
function needsEscape(c: number): boolean {
  return c < 0x20 || c === QUOTE || c === BACKSLASH;
}
/** 1 for the bytes a JSON string holds as they are (printable ASCII but '"' and '\'), by byte: one load per byte. */
const PLAIN = Uint8Array.from({ length: 256 }, (_, c) => (c < 0x80 && !needsEscape(c) ? 1 : 0));

/**
 * Length of the well-formed UTF-8 sequence (Unicode table 3-7) starting at `src[at]` (a lead byte
 * of 0x80 or more) within `end`, or 0 when it is not one: then TextDecoder would put U+FFFD in,
 * and the caller takes the decoder's path.
 */
function utf8SequenceLength(src: Uint8Array, at: number, end: number): number {
  const c = src[at]!;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c === 0xe0) lo = 0xa0;
    else if (c === 0xed) hi = 0x9f; // no surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c === 0xf0) lo = 0x90;
    else if (c === 0xf4) hi = 0x8f; // nothing past U+10FFFF
  } else return 0;
  if (at + n > end) return 0;
  const second = src[at + 1]!;
  if (second < lo || second > hi) return 0;
  for (let k = 2; k < n; k++) {
    const b = src[at + k]!;
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return n;
}

/**
 * ASCII text written eight bytes at a time: the bytes as float64 words (little-endian), padded
 * with spaces. Bytes of 0x20 to 0x7e make no NaN (the top byte keeps the exponent below all
 * ones), so the words are stored bit for bit. A literal writes up to 7 bytes past its length,
 * which the next write covers: a buffer written with literals has LITERAL_OVERRUN_BYTES to spare.
 */
export interface Literal {
  readonly words: Float64Array;
  readonly length: number;
}
export const LITERAL_OVERRUN_BYTES = 8;
const SPACE = 0x20;

/** `s` (printable ASCII: JSON keys and punctuation) as a Literal. */
export function literal(s: string): Literal {
  const bytes = new Uint8Array(Math.ceil(s.length / 8) * 8).fill(SPACE);
  bytes.set(asciiBytes(s));
  for (const c of bytes) if (c < 0x20 || c > 0x7e) throw new RangeError(`not printable ASCII: ${JSON.stringify(s)}`);
  return Object.freeze({ words: new Float64Array(bytes.buffer), length: s.length });
}

export class JsonBytes {
  /** The bytes written so far are out[0, at). */
  out: Uint8Array;
  at = 0;
  /** A view of `out`, for the literals' eight-byte stores (at any alignment). */
  private view: DataView;

  constructor(initialBytes = 64 * 1024) {
    this.out = new Uint8Array(initialBytes);
    this.view = new DataView(this.out.buffer);
  }

  /** Starts again at 0 with room for at least `bytes`. */
  reset(bytes: number): void {
    this.at = 0;
    if (this.out.length < bytes) this.use(new Uint8Array(Math.max(bytes, this.out.length * 2)));
  }

  /** Writes into `out` from its start on (a buffer the caller sized). */
  over(out: Uint8Array): void {
    this.use(out);
    this.at = 0;
  }

  /** Makes room for `bytes` more after `at`, keeping what was written. */
  room(bytes: number): void {
    if (this.at + bytes <= this.out.length) return;
    const next = new Uint8Array(Math.max(this.at + bytes, this.out.length * 2));
    next.set(this.out.subarray(0, this.at));
    this.use(next);
  }

  private use(out: Uint8Array): void {
    this.out = out;
    this.view = new DataView(out.buffer, out.byteOffset, out.length);
  }

  /** A literal (see Literal: up to 7 bytes past it are overwritten). */
  lit(l: Literal): void {
    const view = this.view;
    const words = l.words;
    const at = this.at;
    for (let k = 0; k < words.length; k++) view.setFloat64(at + 8 * k, words[k]!, true);
    this.at = at + l.length;
  }

  /** Bytes written verbatim (short constants: a loop beats a native call at this size). */
  raw(bytes: Uint8Array): void {
    const out = this.out;
    let at = this.at;
    for (let k = 0; k < bytes.length; k++) out[at++] = bytes[k]!;
    this.at = at;
  }

  /** Bytes written verbatim through one native copy (long runs). */
  copy(bytes: Uint8Array): void {
    this.out.set(bytes, this.at);
    this.at += bytes.length;
  }

  /** A string of ASCII characters that need no escaping (keys, status words, numbers' text). */
  ascii(s: string): void {
    const out = this.out;
    let at = this.at;
    for (let k = 0; k < s.length; k++) out[at++] = s.charCodeAt(k);
    this.at = at;
  }

  nul(): void {
    const out = this.out;
    const at = this.at;
    out[at] = NULL_BYTES[0]!;
    out[at + 1] = NULL_BYTES[1]!;
    out[at + 2] = NULL_BYTES[2]!;
    out[at + 3] = NULL_BYTES[3]!;
    this.at = at + 4;
  }

  /** A number as JSON.stringify writes it: String(v), and null for NaN and the infinities. At most MAX_NUMBER_CHARS bytes. */
  num(v: number): void {
    if (v >= 0) {
      if (v <= INT32_MAX && (v | 0) === v) {
        this.digits(v | 0);
        return;
      }
      if (v < EXACT_INT_LIMIT && Math.floor(v) === v) {
        this.wholeAbove31Bits(v);
        return;
      }
    } else if (v >= -INT32_MAX && (v | 0) === v) {
      this.out[this.at++] = MINUS;
      this.digits(-v | 0);
      return;
    } else if (v > -EXACT_INT_LIMIT && Math.floor(v) === v) {
      this.out[this.at++] = MINUS;
      this.wholeAbove31Bits(-v);
      return;
    }
    if (v !== v || v === Number.POSITIVE_INFINITY || v === Number.NEGATIVE_INFINITY) this.nul();
    else if (!this.shortDecimal(v)) this.ascii(String(v));
  }

  /**
   * A fraction that is the double nearest a decimal of at most nine places and fifteen
   * significant digits (23.4, a reading an agent rounded; 0.000166667, a kWh figure the
   * collector rounded to 1e-9), written as String(v) writes it, without String's shortest-digits
   * search (~190 ns a number): no two decimals of fifteen significant digits or fewer round to
   * the same double (DBL_DIG = 15), so that decimal is String(v)'s shortest one, and from 1e-6
   * on String writes it in fixed notation. Returns false, writing nothing, for any other number.
   */
  private shortDecimal(v: number): boolean {
    const a = v < 0 ? -v : v;
    if (!(a >= FIXED_NOTATION_MIN)) return false;
    const scaled = Math.round(a * DECIMAL_SCALE);
    if (scaled >= MAX_SHORT_SCALED || scaled / DECIMAL_SCALE !== a) return false;
    // Whole part below 1e6 and nine places, each exact in int32 (the quotient may round across
    // a whole number: the check undoes it, as in wholeAbove31Bits).
    let whole = Math.floor(scaled / DECIMAL_SCALE);
    let places = scaled - whole * DECIMAL_SCALE;
    if (places < 0) {
      whole -= 1;
      places += DECIMAL_SCALE;
    } else if (places >= DECIMAL_SCALE) {
      whole += 1;
      places -= DECIMAL_SCALE;
    }
    // A whole number (here only if the caller's whole-number paths missed it) is not a fraction.
    if (places === 0) return false;
    let p = places | 0;
    let count = DECIMAL_PLACES;
    while (p % 10 === 0) {
      p = (p / 10) | 0;
      count--;
    }
    if (v < 0) this.out[this.at++] = MINUS;
    this.digits(whole | 0);
    const out = this.out;
    out[this.at] = DOT;
    let end = this.at + 1 + count;
    this.at = end;
    for (let k = 0; k < count; k++) {
      const q = (p / 10) | 0;
      out[--end] = ZERO + (p - q * 10);
      p = q;
    }
    return true;
  }

  /** A number, or null. */
  numOrNull(v: number | null): void {
    if (v === null) this.nul();
    else this.num(v);
  }

  /**
   * A whole number from 2^31 to 2^53 (timestamps in ms, byte counts) as two parts, each exact:
   * below 2^53 both the product of the high part by 1e9 and the difference are exact in floats;
   * the quotient may round up to the next whole number, which the check undoes.
   */
  private wholeAbove31Bits(v: number): void {
    let high = Math.floor(v / LOW_DIGITS);
    let low = v - high * LOW_DIGITS;
    if (low < 0) {
      high -= 1;
      low += LOW_DIGITS;
    }
    this.digits(high | 0);
    this.padded9(low | 0);
  }

  /** 0 <= u <= INT32_MAX, in int32 arithmetic, two digits a step. */
  private digits(u: number): void {
    const out = this.out;
    const at = this.at;
    const n = u < 10 ? 1 : u < 100 ? 2 : u < 1e3 ? 3 : u < 1e4 ? 4 : u < 1e5 ? 5 : u < 1e6 ? 6 : u < 1e7 ? 7 : u < 1e8 ? 8 : u < 1e9 ? 9 : 10;
    let end = at + n;
    this.at = end;
    while (u >= 100) {
      const q = (u / 100) | 0;
      const r = u - q * 100;
      out[--end] = ONES[r]!;
      out[--end] = TENS[r]!;
      u = q;
    }
    if (u >= 10) {
      out[--end] = ONES[u]!;
      out[--end] = TENS[u]!;
    } else out[--end] = ZERO + u;
  }

  /** 0 <= u < 1e9, as exactly nine digits with leading zeros. */
  private padded9(u: number): void {
    const out = this.out;
    let end = this.at + 9;
    this.at = end;
    for (let k = 0; k < 4; k++) {
      const q = (u / 100) | 0;
      const r = u - q * 100;
      out[--end] = ONES[r]!;
      out[--end] = TENS[r]!;
      u = q;
    }
    out[--end] = ZERO + u;
  }

  /**
   * `len` bytes of UTF-8 at `src[from]`, as JSON.stringify writes what TextDecoder (fatal: false)
   * decodes them to. Returns whether they were plain ASCII (so a latin1 read gives the same string).
   * At most 2 + MAX_ESCAPED_BYTES_PER_BYTE x len bytes, or 2 + 3 x len when not plain ASCII.
   */
  utf8(src: Uint8Array, from: number, len: number): boolean {
    const out = this.out;
    const start = this.at;
    let at = start;
    out[at++] = QUOTE;
    const end = from + len;
    let k = from;
    // The common case: printable ASCII, copied as it is.
    for (; k < end; k++) {
      const c = src[k]!;
      if (PLAIN[c] === 0) break;
      out[at++] = c;
    }
    if (k === end) {
      out[at++] = QUOTE;
      this.at = at;
      return true;
    }
    let ascii = true;
    for (; k < end; k++) {
      const c = src[k]!;
      if (c < 0x80) {
        if (needsEscape(c)) at = escapeByte(out, at, c);
        else out[at++] = c;
        continue;
      }
      ascii = false;
      // A leading byte-order mark is dropped by TextDecoder; a malformed sequence becomes
      // U+FFFD by its rules. Both are rare: let the decoder do them.
      const n = k === from && c === 0xef && k + 2 < end && src[k + 1] === 0xbb && src[k + 2] === 0xbf ? 0 : utf8SequenceLength(src, k, end);
      if (n === 0) {
        this.at = start;
        this.string(decoder.decode(src.subarray(from, end)));
        return false;
      }
      for (let j = 0; j < n; j++) out[at++] = src[k + j]!;
      k += n - 1;
    }
    out[at++] = QUOTE;
    this.at = at;
    return ascii;
  }

  /** A JS string as JSON.stringify writes it, encoded as UTF-8 (makes its own room). */
  string(s: string): void {
    const json = JSON.stringify(s);
    this.room(MAX_UTF8_BYTES_PER_UNIT * json.length);
    this.at += encoder.encodeInto(json, this.out.subarray(this.at)).written;
  }
}

/** A control byte, '"' or '\' as JSON.stringify escapes it. Returns the next write position. */
function escapeByte(out: Uint8Array, at: number, c: number): number {
  out[at++] = BACKSLASH;
  switch (c) {
    case QUOTE: out[at++] = QUOTE; break;
    case BACKSLASH: out[at++] = BACKSLASH; break;
    case 0x08: out[at++] = 0x62; break; // \b
    case 0x09: out[at++] = 0x74; break; // \t
    case 0x0a: out[at++] = 0x6e; break; // \n
    case 0x0c: out[at++] = 0x66; break; // \f
    case 0x0d: out[at++] = 0x72; break; // \r
    default:
      out[at++] = 0x75; // \u00XX, lower-case hex as JSON.stringify writes it
      out[at++] = ZERO;
      out[at++] = ZERO;
      out[at++] = HEX[c >> 4]!;
      out[at++] = HEX[c & 15]!;
  }
  return at;
}

/** ASCII text as bytes (JSON keys and other constants). */
export function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c >= 0x80) throw new RangeError(`not ASCII: ${JSON.stringify(s)}`);
    out[k] = c;
  }
  return out;
}
