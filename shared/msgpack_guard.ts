/**
 * A structural check of one msgpack value, run over the raw bytes *before* msgpackr builds
 * anything. It allocates nothing per element, so a hostile frame costs at most one pass over
 * bytes we already hold (the frame length was bounded before the body was buffered).
 *
 * It refuses, with a coded FrameError:
 * - a top-level value that is not a map, or bytes left over after it;
 * - declared lengths (str/bin/array/map) larger than the bytes that remain, or than the limits
 *   below: a five-byte array32 header "holding" four billion items fails here, not in malloc;
 * - nesting deeper than maxDepth (msgpackr would otherwise recurse on our stack);
 * - ext/fixext types (msgpackr would build Date, RegExp, Error, Set, typed arrays, records,
 *   structured clones from them) and bin (no field of the protocol is binary);
 * - map keys that are not strings, prototype keys (`__proto__`, `constructor`, `prototype`),
 *   duplicate keys in one map, and strings that are not valid UTF-8.
 * What passes is plain data: maps with string keys, arrays, strings, numbers, booleans, nil.
 */
import { ERROR_CODES, FrameError } from './errors.ts';

export interface GuardLimits {
  /** Nesting depth; the top-level map is depth 1. */
  readonly maxDepth: number;
  /** Longest string, in UTF-8 bytes. */
  readonly maxStringBytes: number;
  /** Most elements in one array. */
  readonly maxArrayLength: number;
  /** Most key/value pairs in one map. */
  readonly maxMapSize: number;
}

export const DEFAULT_GUARD_LIMITS: GuardLimits = Object.freeze({
  maxDepth: 8,
  maxStringBytes: 4096,
  maxArrayLength: 1024,
  maxMapSize: 256,
});

/** Maps with more keys than this find repeated keys by lookup rather than pairwise. */
const PAIRWISE_KEYS = 16;

/** A power of two at least twice `count`: the lookup table's size, so that probes stay short. */
function tableSize(count: number): number {
  let n = 64;
  while (n < count * 2) n *= 2;
  return n;
}

function duplicateKey(keyPos: number): FrameError {
  return new FrameError(ERROR_CODES.FRAME_FORBIDDEN_KEY, `duplicate key at byte ${keyPos} of the frame`);
}

const FORBIDDEN_KEYS: readonly Buffer[] = ['__proto__', 'constructor', 'prototype'].map((k) => Buffer.from(k, 'latin1'));

function sameBytes(b: Uint8Array, aStart: number, bStart: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (b[aStart + i] !== b[bStart + i]) return false;
  return true;
}

function isForbiddenKey(b: Uint8Array, start: number, len: number): boolean {
  for (const k of FORBIDDEN_KEYS) {
    if (k.length !== len) continue;
    let same = true;
    for (let i = 0; i < len && same; i++) same = b[start + i] === k[i];
    if (same) return true;
  }
  return false;
}

function malformed(message: string): FrameError {
  return new FrameError(ERROR_CODES.FRAME_MALFORMED, message);
}

class Walker {
  private pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
    private readonly limits: GuardLimits,
  ) {
    this.pos = start;
  }

  run(): void {
    if (this.pos >= this.end) throw malformed('empty body');
    const first = this.buf[this.pos]!;
    const isMap = (first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf;
    if (!isMap) throw new FrameError(ERROR_CODES.FRAME_NOT_MAP, `a frame must hold one msgpack map, got type byte 0x${first.toString(16)}`);
    this.value(1);
    if (this.pos !== this.end) throw malformed(`${this.end - this.pos} trailing byte(s) after the map`);
  }

  private need(n: number): void {
    if (n > this.end - this.pos) throw malformed('truncated: a declared length runs past the end of the frame');
  }

  private u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  private uint(bytes: 1 | 2 | 4): number {
    this.need(bytes);
    const b = this.buf;
    const p = this.pos;
    this.pos += bytes;
    if (bytes === 1) return b[p]!;
    if (bytes === 2) return (b[p]! << 8) | b[p + 1]!;
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  private skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** Start of the last string walked: map() reads it right after walking a key. */
  private lastStrStart = 0;

  /**
   * Walks one value. With `asKey`, the value must be a string, and its 32-bit FNV-1a hash is
   * returned, so that duplicate keys are found without building a string per key.
   */
  private value(depth: number, asKey = false): number | undefined {
    const t = this.u8();
    if (t <= 0x7f || t >= 0xe0) return this.notKey(asKey); // fixint
    if (t <= 0x8f) return this.map(t & 0x0f, depth, asKey);
    if (t <= 0x9f) return this.array(t & 0x0f, depth, asKey);
    if (t <= 0xbf) return this.str(t & 0x1f, asKey);
    switch (t) {
      case 0xc0: case 0xc2: case 0xc3: return this.notKey(asKey); // nil, false, true
      case 0xc1: throw malformed('type byte 0xc1 is never used in msgpack');
      case 0xc4: case 0xc5: case 0xc6: throw new FrameError(ERROR_CODES.FRAME_FORBIDDEN_TYPE, 'bin values are not accepted');
      case 0xc7: case 0xc8: case 0xc9:
      case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        throw new FrameError(ERROR_CODES.FRAME_FORBIDDEN_TYPE, `extension type 0x${t.toString(16)} is not accepted`);
      case 0xca: this.skip(4); return this.notKey(asKey);
      case 0xcb: this.skip(8); return this.notKey(asKey);
      case 0xcc: case 0xd0: this.skip(1); return this.notKey(asKey);
      case 0xcd: case 0xd1: this.skip(2); return this.notKey(asKey);
      case 0xce: case 0xd2: this.skip(4); return this.notKey(asKey);
      case 0xcf: case 0xd3: this.skip(8); return this.notKey(asKey);
      case 0xd9: return this.str(this.uint(1), asKey);
      case 0xda: return this.str(this.uint(2), asKey);
      case 0xdb: return this.str(this.uint(4), asKey);
      case 0xdc: return this.array(this.uint(2), depth, asKey);
      case 0xdd: return this.array(this.uint(4), depth, asKey);
      case 0xde: return this.map(this.uint(2), depth, asKey);
      default: return this.map(this.uint(4), depth, asKey); // 0xdf
    }
  }

  private notKey(asKey: boolean): undefined {
    if (asKey) throw new FrameError(ERROR_CODES.FRAME_FORBIDDEN_KEY, 'map keys must be strings');
    return undefined;
  }

  private str(len: number, asKey: boolean): number | undefined {
    if (len > this.limits.maxStringBytes) throw malformed(`string of ${len} bytes exceeds the limit of ${this.limits.maxStringBytes}`);
    this.need(len);
    const start = this.pos;
    this.pos += len;
    if (!isValidUtf8(this.buf, start, this.pos)) throw malformed('string is not valid UTF-8');
    if (!asKey) return undefined;
    if (isForbiddenKey(this.buf, start, len)) {
      throw new FrameError(ERROR_CODES.FRAME_FORBIDDEN_KEY, `key "${Buffer.from(this.buf.subarray(start, start + len)).toString('latin1')}" is not accepted`);
    }
    this.lastStrStart = start;
    let h = 0x811c9dc5;
    for (let i = start; i < this.pos; i++) h = Math.imul(h ^ this.buf[i]!, 0x01000193);
    return h >>> 0;
  }

  private array(count: number, depth: number, asKey: boolean): undefined {
    this.notKey(asKey);
    if (depth > this.limits.maxDepth) throw new FrameError(ERROR_CODES.FRAME_TOO_DEEP, `nesting deeper than ${this.limits.maxDepth}`);
    if (count > this.limits.maxArrayLength) throw malformed(`array of ${count} items exceeds the limit of ${this.limits.maxArrayLength}`);
    this.need(count); // every item takes at least one byte
    for (let i = 0; i < count; i++) this.value(depth + 1);
    return undefined;
  }

  private map(count: number, depth: number, asKey: boolean): undefined {
    this.notKey(asKey);
    if (depth > this.limits.maxDepth) throw new FrameError(ERROR_CODES.FRAME_TOO_DEEP, `nesting deeper than ${this.limits.maxDepth}`);
    if (count > this.limits.maxMapSize) throw malformed(`map of ${count} entries exceeds the limit of ${this.limits.maxMapSize}`);
    this.need(count * 2); // every key and value takes at least one byte
    // Keys seen in this map: hash, start and length; bytes are compared only when hashes match.
    // A small map compares each key's hash with those before it; a larger one looks the hash up
    // in an open-addressed table of key numbers (a frame of 256-key maps took ~30x the walk of a
    // plain one pairwise: 32,640 compares a map), probing on past keys whose hashes collide
    // ("costarring" and "liquid" share an FNV-1a hash).
    const hashes: number[] = [];
    const starts: number[] = [];
    const lengths: number[] = [];
    const table = count > PAIRWISE_KEYS ? new Int32Array(tableSize(count)) : null;
    const mask = table === null ? 0 : table.length - 1;
    for (let i = 0; i < count; i++) {
      const keyPos = this.pos;
      const hash = this.value(depth + 1, true)!;
      const start = this.lastStrStart;
      const len = this.pos - start;
      if (table === null) {
        for (let j = 0; j < hashes.length; j++) {
          if (hashes[j] === hash && lengths[j] === len && sameBytes(this.buf, starts[j]!, start, len)) throw duplicateKey(keyPos);
        }
      } else {
        let at = hash & mask;
        for (let held = table[at]!; held !== 0; held = table[at]!) {
          const j = held - 1;
          if (hashes[j] === hash && lengths[j] === len && sameBytes(this.buf, starts[j]!, start, len)) throw duplicateKey(keyPos);
          at = (at + 1) & mask;
        }
        table[at] = i + 1;
      }
      hashes.push(hash);
      starts.push(start);
      lengths.push(len);
      this.value(depth + 1);
    }
    return undefined;
  }
}

/**
 * Checks that buf[start, end) holds exactly one msgpack map of plain data within `limits`.
 * Throws FrameError (FRAME_MALFORMED, FRAME_NOT_MAP, FRAME_TOO_DEEP, FRAME_FORBIDDEN_TYPE,
 * FRAME_FORBIDDEN_KEY) otherwise.
 */
export function checkMsgpackMap(buf: Uint8Array, start: number, end: number, limits: GuardLimits = DEFAULT_GUARD_LIMITS): void {
  new Walker(buf, start, end, limits).run();
}

/** Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
export function isValidUtf8(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    let n: number;
    let min: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; cp = c & 0x07; }
    else return false;
    if (i + n >= end) return false; // the sequence runs past the string
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k]!;
      if ((cc & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}
