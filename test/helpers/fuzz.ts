/**
 * A seeded generator of hostile frames for test/robustness/fuzz_codec.test.ts. No library: one
 * mulberry32 stream picks a generator per frame and drives it, so a seed replays exactly.
 *
 * Three families: valid hellos and samples (encodeFrame, realistic READINGS) mutated byte-wise;
 * hand-built bodies that attack one guard rule each; and random bytes. Hand-built bodies are
 * written by a small raw encoder (`Writer`), because encodeFrame cannot write duplicate or
 * non-string keys, invalid UTF-8 or lying length headers.
 */
import { Packr } from 'msgpackr';
import { encodeFrame, type Message } from '../../shared/frame_codec.ts';
import { READINGS } from '../../shared/protocol.ts';
import { seededRandom } from './hex.ts';

/** Every generator, by the name `next()` reports; the first eight start from a valid frame. */
export const FUZZ_KINDS = Object.freeze([
  'valid', 'bit_flip', 'interesting_byte', 'truncate', 'duplicate_slice', 'insert_random', 'length_prefix', 'mutation_stack',
  'huge_length', 'deep_nesting', 'ext_type', 'proto_key', 'duplicate_key', 'non_string_key', 'invalid_utf8', 'wide_map',
  'wrong_type', 'bad_number', 'hostile_string', 'random_bytes',
] as const);
export type FuzzKind = (typeof FUZZ_KINDS)[number];
/** Kinds that take a valid hello or sample and damage it. */
export const MUTATION_KINDS: readonly FuzzKind[] = FUZZ_KINDS.slice(1, 8);

/** The step of a session a frame was made for: the first frame (a hello) or one after the welcome. */
export type FuzzPhase = 'hello' | 'session';

export interface FuzzFrame {
  kind: FuzzKind;
  phase: FuzzPhase;
  /** A whole frame: 4-byte big-endian length (possibly a lie), then the body. */
  frame: Buffer;
}

/** Properties the `__proto__` payloads try to plant; the test checks `{}` never has them. */
export const POLLUTION_MARKERS = Object.freeze(['polluted', 'isAdmin', 'sentinelPwned']);

// Relative weights, in FUZZ_KINDS order (sum 106).
const WEIGHTS = [4, 10, 10, 6, 5, 5, 4, 6, 5, 4, 5, 5, 4, 4, 4, 2, 6, 6, 5, 6];

/** Valid messages kept per phase, and 1 in POOL_REFRESH uses rebuilds the slot (see base()). */
const POOL_SIZE = 512;
const POOL_REFRESH = 8;

/** Bytes written as they are. */
class Raw {
  constructor(readonly bytes: Uint8Array) {}
}
/** A map as a list of pairs: keys may repeat or be any value; `count` may lie about the size. */
class Pairs {
  constructor(readonly entries: Array<[Val, Val]>, readonly count = entries.length) {}
}
type Val = string | number | boolean | null | Raw | Pairs | Val[] | { [key: string]: Val };

const raw = (...bytes: number[]): Raw => new Raw(Uint8Array.from(bytes));
const hex = (h: string): Raw => new Raw(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

/** A growable buffer that writes msgpack without judging it; leaves 4 bytes for the length. */
class Writer {
  private buf = Buffer.allocUnsafe(4096);
  private pos = 4;

  frame(v: Val): Buffer {
    this.pos = 4;
    this.value(v);
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    out.writeUInt32BE(this.pos - 4, 0);
    return out;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  private head(small: number, smallMax: number, op16: number, n: number, op8 = -1): void {
    this.room(5);
    if (n <= smallMax) this.buf[this.pos++] = small | n;
    else if (op8 >= 0 && n < 0x100) { this.buf[this.pos++] = op8; this.buf[this.pos++] = n; }
    else if (n < 0x10000) { this.buf[this.pos++] = op16; this.pos = this.buf.writeUInt16BE(n, this.pos); }
    else { this.buf[this.pos++] = op16 + 1; this.pos = this.buf.writeUInt32BE(n, this.pos); }
  }

  private value(v: Val): void {
    if (typeof v === 'string') {
      const n = Buffer.byteLength(v, 'utf8');
      this.head(0xa0, 31, 0xda, n, 0xd9);
      this.room(n);
      this.pos += this.buf.write(v, this.pos, 'utf8');
    } else if (typeof v === 'number') this.number(v);
    else if (typeof v === 'boolean') this.byte(v ? 0xc3 : 0xc2);
    else if (v === null) this.byte(0xc0);
    else if (v instanceof Raw) {
      this.room(v.bytes.length);
      this.buf.set(v.bytes, this.pos);
      this.pos += v.bytes.length;
    } else if (v instanceof Pairs) {
      this.head(0x80, 15, 0xde, v.count);
      for (const [k, x] of v.entries) { this.value(k); this.value(x); }
    } else if (Array.isArray(v)) {
      this.head(0x90, 15, 0xdc, v.length);
      for (const x of v) this.value(x);
    } else {
      const keys = Object.keys(v);
      this.head(0x80, 15, 0xde, keys.length);
      for (const k of keys) { this.value(k); this.value(v[k]!); }
    }
  }

  private number(v: number): void {
    this.room(9);
    const b = this.buf;
    if (!Number.isSafeInteger(v) || Object.is(v, -0)) { b[this.pos++] = 0xcb; this.pos = b.writeDoubleBE(v, this.pos); }
    else if (v >= 0 && v < 0x80) b[this.pos++] = v;
    else if (v < 0 && v >= -32) b[this.pos++] = v & 0xff;
    else if (v >= 0 && v <= 0xffffffff) { b[this.pos++] = 0xce; this.pos = b.writeUInt32BE(v, this.pos); }
    else if (v >= -0x80000000 && v < 0) { b[this.pos++] = 0xd2; this.pos = b.writeInt32BE(v, this.pos); }
    else { b[this.pos++] = v < 0 ? 0xd3 : 0xcf; this.pos = b.writeBigInt64BE(BigInt(v), this.pos); }
  }
}

const HOSTS = ['web-01', 'db-3.prod.example.com', 'build-agent-17', 'café-02', 'edge.fra1', 'k8s-node-a1b2c3', 'raspberrypi', 'ＷＥＢ-7'];
const AGENTS = ['sentinel-agent/0.1.0', 'sentinel-agent/0.2.0-rc.1', 'go-1.0'];
const OSES = ['Debian GNU/Linux 12', 'Ubuntu 24.04 LTS', 'macOS 14.4', 'Windows 11 Pro', 'Alpine Linux 3.19'];
const KERNELS = ['6.1.0-18-amd64', '6.8.0-31-generic', '23.4.0', '10.0.22631'];
const ARCHES = ['x64', 'arm64', 'arm', 'riscv64'];
const CPU_MODELS = ['Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz', 'AMD EPYC 7763 64-Core Processor', 'Apple M2 Pro', 'Cortex-A72'];
const TOKENS = ['3f9c1e7a5b2d4f6081a9c3e5d7f90b1c2e4a6c8e0f1b3d5f7a9c1e3b5d7f9a1c', 'secret', 'x'.repeat(256)];
const INTERVALS_MS = [1000, 1000, 2000, 500, 5000, 100, 60_000];
const GIB = 1024 ** 3;
/** [part, whole]: the relations parseSample checks, kept true in valid samples. */
const RELATIONS: ReadonlyArray<readonly [string, string]> = [
  ['mem_used_bytes', 'mem_total_bytes'], ['mem_available_bytes', 'mem_total_bytes'], ['swap_used_bytes', 'swap_total_bytes'],
  ['mem_cached_bytes', 'mem_total_bytes'], ['mem_buffers_bytes', 'mem_total_bytes'], ['procs_running', 'procs_total'], ['procs_blocked', 'procs_total'],
];

/** Single bytes and headers that change how the rest is read; long ones claim billions. */
const INTERESTING: readonly Raw[] = [
  ...Array.from({ length: 32 }, (_, i) => raw(0xc0 + i)), raw(0xff), raw(0x00), raw(0x7f), raw(0x80), raw(0x8f), raw(0x90), raw(0x9f), raw(0xa0), raw(0xbf), raw(0xe0),
  hex('dcffff'), hex('ddffffffff'), hex('deffff'), hex('dfffffffff'), hex('d9ff'), hex('daffff'), hex('dbffffffff'),
  hex('c4ff'), hex('c5ffff'), hex('c6ffffffff'), hex('c7ff01'), hex('c8ffff01'), hex('c9ffffffff01'), hex('d40000'), hex('d6ff00000000'),
];
const HUGE_HEADERS: readonly Raw[] = [
  hex('dcffff'), hex('ddffffffff'), hex('dd7fffffff'), hex('dd80000000'), hex('dd00000401'), hex('dc0401'), hex('deffff'), hex('dfffffffff'),
  hex('df7fffffff'), hex('de0101'), hex('d9ff'), hex('daffff'), hex('da1001'), hex('dbffffffff'), hex('db7fffffff'), hex('c4ff'), hex('c5ffff'),
  hex('c6ffffffff'), hex('c7ff01'), hex('c8ffff01'), hex('c9ffffffff01'),
];
/** Ext type ids: msgpackr's own (undefined 0, BigInt 0x42, bundle 0x62, Error 0x65, clone id 0x69, pointer 0x70, record 0x72, Set 0x73, typed array 0x74, RegExp 0x78), timestamp -1, and others. */
const EXT_TYPES = [0x00, 0x42, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0xff, 0xfe, 0x01, 0x7f, 0x80];
const FIXEXT_SIZES: ReadonlyArray<readonly [number, number]> = [[0xd4, 1], [0xd5, 2], [0xd6, 4], [0xd7, 8], [0xd8, 16]];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];
const NEAR_PROTO_KEYS = ['__proto_', '__PROTO__', 'proto', '__proto__ ', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__', '__lookupSetter__', 'isPrototypeOf', 'then', 'toJSON', 'length'];
const ODD_KEYS: readonly Val[] = [0, 1, -1, 255, 65_536, null, true, false, 1.5, [], {}, hex('c40100'), hex('d40000'), hex('ca3f800000'), ['type']];
const INVALID_UTF8 = ['80', 'c0af', 'c1bf', 'e080af', 'eda080', 'edbfbf', 'f4908080', 'f5808080', 'ff', 'fe', 'c3', 'e282', 'f09f98', 'c328'];
/** Valid UTF-8 the guard must let through: non-characters, the highest code point, a BOM, NUL. */
const ODD_VALID_UTF8 = ['efbfbe', 'f48fbfbf', 'efbbbf', '00', 'e280ae'];
const HOSTILE_STRINGS = [
  'web\u0000', '\u0000', '\u001b[31mred\u001b[0m', '\u001b]0;title\u0007', '\u202eevil', 'gpj.\u202eexe', 'a\u200bb', '\ufeffweb', ' web', 'web ',
  '\u2028', 'x'.repeat(253), 'x'.repeat(254), `${'é'.repeat(126)}x`, 'e\u0301', '\ud800', '<script>alert(1)</script>', '../../etc/passwd',
  '%n%s%x', '🖥️', 'wеb', '\r\n', '\t', '', 'A'.repeat(4096), 'A'.repeat(4097), 'A'.repeat(64 * 1024), 'A'.repeat(64 * 1024 - 200),
];
const WRONG_VALUES: readonly Val[] = [
  '1', '', 'hello', 'sample', true, false, null, [], [1, 2], {}, { a: 1 }, new Pairs([['toString', 1]]), new Pairs([['valueOf', 'x']]),
  [new Pairs([['toString', 1]])], 1.5, -1, 0, 1e300, hex('c0'),
];
const BAD_NUMBERS: readonly Val[] = [
  Number.NaN, Infinity, -Infinity, -0, -1, -1e-300, 5e-324, 1e308, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 100.0000001, 101, 0, 99, 100, 60_000, 60_001,
  65_536, 65_537, Number.MAX_SAFE_INTEGER, hex('cfffffffffffffffff'), hex('d38000000000000000'), hex('ca7fc00000'), hex('ca7f800000'),
  hex('ca80000000'), hex('ca7f7fffff'), hex('d080'), hex('cf0020000000000001'), hex('cb3ff0000000000000'), hex('cf0000000000000001'),
];

/** Bodies exactly as msgpackr writes its own types when records, clones and moreTypes are on. */
function msgpackrNativeBodies(): Raw[] {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic['self'] = cyclic;
  const values: unknown[] = [
    new Date(0), new Set([1, 2]), new Map([['a', 1]]), /a+/gi, new Error('boom'), new TypeError('x'), new Uint8Array([1, 2, 3]),
    new Float64Array([1.5]), new Int32Array(2), 2n ** 70n, -(2n ** 64n), 123n, undefined, cyclic,
    { type: 'sample', seq: 1, ts: 1_795_339_419_000, cpu_pct: 12.5 }, [{ a: 1 }, { a: 2 }],
  ];
  return values.map((v) => new Raw(new Packr({ useRecords: true, structuredClone: true, moreTypes: true }).pack(v)));
}

export class FrameFuzzer {
  private readonly random: () => number;
  private readonly writer = new Writer();
  private readonly cumulative: number[] = [];
  private readonly nativeBodies = msgpackrNativeBodies();
  private wideCache: Buffer[] | null = null;
  private readonly deepCache = new Map<string, Buffer>();
  private readonly fillCache = new Map<number, Array<[Val, Val]>>();
  private readonly pools: Record<FuzzPhase, Array<{ message: Message; frame: Buffer }>> = { hello: [], session: [] };

  constructor(readonly seed: number) {
    if (WEIGHTS.length !== FUZZ_KINDS.length) throw new TypeError('WEIGHTS needs one weight per kind in FUZZ_KINDS');
    this.random = seededRandom(seed);
    let sum = 0;
    for (const w of WEIGHTS) this.cumulative.push((sum += w));
  }

  next(): FuzzFrame {
    const x = this.random() * this.cumulative[this.cumulative.length - 1]!;
    let i = 0;
    while (this.cumulative[i]! <= x) i++;
    const kind = FUZZ_KINDS[i]!;
    const phase: FuzzPhase = this.random() < 0.35 ? 'hello' : 'session';
    return { kind, phase, frame: this.generate(kind, phase) };
  }

  // --- the PRNG, shaped -----------------------------------------------------------------------

  private int(n: number): number {
    return Math.floor(this.random() * n);
  }

  private chance(p: number): boolean {
    return this.random() < p;
  }

  private pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }

  private bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      const r = (this.random() * 0x100000000) >>> 0;
      for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (r >>> (k * 8)) & 0xff;
    }
    return out;
  }

  // --- valid messages -------------------------------------------------------------------------

  private hello(): Message {
    const m: Message = {
      type: 'hello', proto: 1, host: this.pick(HOSTS), agent: this.pick(AGENTS), token: this.pick(TOKENS), interval_ms: this.pick(INTERVALS_MS),
    };
    if (this.chance(0.8)) m['os'] = this.pick(OSES);
    if (this.chance(0.8)) m['kernel'] = this.pick(KERNELS);
    if (this.chance(0.8)) m['arch'] = this.pick(ARCHES);
    if (this.chance(0.8)) m['cpu_model'] = this.pick(CPU_MODELS);
    if (this.chance(0.8)) m['cpu_cores'] = this.pick([1, 2, 4, 8, 16, 64, 128]);
    return m;
  }

  private sample(): Message {
    const m: Message = { type: 'sample', seq: 1 + this.int(100_000), ts: 1_795_000_000_000 + this.int(1e9) };
    const missing: Record<string, string> = {};
    for (const r of READINGS) {
      if (this.chance(0.08)) { missing[r.name] = 'not available on this platform'; continue; }
      switch (r.kind) {
        case 'percent': m[r.name] = Math.round(this.random() * 1000) / 10; break;
        case 'gauge': m[r.name] = this.random() * 8; break;
        case 'bytes': m[r.name] = this.chance(0.1) ? 0 : this.pick([2, 4, 8, 16, 64, 256]) * GIB - this.int(GIB); break;
        case 'seconds': m[r.name] = this.int(10_000_000); break;
        case 'count': m[r.name] = this.int(5000); break;
        case 'celsius': m[r.name] = Math.round(this.random() * 1200 - 200) / 10; break;
      }
    }
    // Each part is cut to its whole (mem_total_bytes is whole to several parts, so no swapping).
    for (const [part, whole] of RELATIONS) {
      const p = m[part] as number | undefined;
      const w = m[whole] as number | undefined;
      if (p !== undefined && w !== undefined && p > w) m[part] = w;
    }
    if (this.chance(0.3)) m['cpu_cores_pct'] = Array.from({ length: 1 + this.int(8) }, () => Math.round(this.random() * 1000) / 10);
    if (this.chance(0.3)) m['net'] = [{ name: 'eth0', rx_bps: this.random() * 1e6, tx_bps: this.random() * 1e6 }];
    if (this.chance(0.3)) m['fs'] = [{ mount: '/', type: 'ext4', size_bytes: 100 * GIB, used_bytes: 40 * GIB, free_bytes: 60 * GIB }];
    if (this.chance(0.2)) m['procs_top'] = [{ name: 'node <script>', pid: 1 + this.int(99_999), cpu_pct: this.random() * 200 }];
    if (Object.keys(missing).length > 0) m['missing'] = missing;
    return m;
  }

  /**
   * A valid message and its frame (a fresh copy, free to mutate). Building and packing one costs
   * more than most mutations, so messages come from a pool per phase in which one slot in
   * POOL_REFRESH is rebuilt per use: cheap, and still new messages all through a long run.
   */
  private base(phase: FuzzPhase): { message: Message; frame: Buffer } {
    const pool = this.pools[phase];
    const i = this.int(POOL_SIZE);
    let entry = pool[i];
    if (!entry || this.int(POOL_REFRESH) === 0) {
      const message = phase === 'hello' ? this.hello() : this.sample();
      entry = { message, frame: encodeFrame(message) };
      pool[i] = entry;
    }
    return { message: entry.message, frame: Buffer.from(entry.frame) };
  }

  private frame(phase: FuzzPhase): Buffer {
    return this.base(phase).frame;
  }

  /** The message as editable pairs, for the hand-built generators. */
  private pairs(phase: FuzzPhase): Array<[Val, Val]> {
    return Object.entries(this.base(phase).message) as Array<[Val, Val]>;
  }

  /** Puts `entry` at a random place among `pairs` (or replaces the value of a random field). */
  private place(pairs: Array<[Val, Val]>, entry: [Val, Val], replace = false): Val {
    if (replace && pairs.length > 0) pairs[this.int(pairs.length)]![1] = entry[1];
    else pairs.splice(this.int(pairs.length + 1), 0, entry);
    return new Pairs(pairs);
  }

  // --- generators -----------------------------------------------------------------------------

  private generate(kind: FuzzKind, phase: FuzzPhase): Buffer {
    switch (kind) {
      case 'valid': return this.frame(phase);
      case 'bit_flip': case 'interesting_byte': case 'truncate': case 'duplicate_slice': case 'insert_random': case 'length_prefix':
        return this.mutate(kind, this.frame(phase));
      case 'mutation_stack': {
        let f = this.frame(phase);
        for (let n = 2 + this.int(3); n > 0; n--) f = this.mutate(this.pick(MUTATION_KINDS.slice(0, 6)), f);
        return f;
      }
      case 'huge_length': return this.hugeLength(phase);
      case 'deep_nesting': return this.deepNesting(phase);
      case 'ext_type': return this.extType(phase);
      case 'proto_key': return this.protoKey(phase);
      case 'duplicate_key': return this.duplicateKey(phase);
      case 'non_string_key': return this.nonStringKey(phase);
      case 'invalid_utf8': return this.invalidUtf8(phase);
      case 'wide_map': return this.wideMap(phase);
      case 'wrong_type': return this.wrongType(phase);
      case 'bad_number': return this.badNumber(phase);
      case 'hostile_string': return this.hostileString(phase);
      case 'random_bytes': return this.randomBytes();
    }
  }

  /** One mutation of a whole frame. Length-changing ones fix the prefix 3 times in 4. */
  private mutate(kind: FuzzKind, f: Buffer): Buffer {
    const bodyLen = f.length - 4;
    switch (kind) {
      case 'bit_flip':
        for (let n = 1 + this.int(4); n > 0; n--) {
          const p = this.chance(0.9) ? this.inBody(f) : this.int(4);
          if (p < f.length) f[p]! ^= 1 << this.int(8);
        }
        return f;
      case 'interesting_byte': {
        const seq = this.pick(INTERESTING).bytes;
        const p = this.inBody(f);
        if (this.chance(0.5)) return this.fixLength(Buffer.concat([f.subarray(0, p), seq, f.subarray(p)]));
        f.set(seq.subarray(0, Math.max(0, f.length - p)), p);
        return f;
      }
      case 'truncate': return this.fixLength(Buffer.from(f.subarray(0, 4 + this.int(bodyLen))));
      case 'duplicate_slice': {
        const a = this.inBody(f);
        const slice = f.subarray(a, a + 1 + this.int(64));
        const p = this.inBody(f);
        return this.fixLength(Buffer.concat([f.subarray(0, p), slice, f.subarray(p)]));
      }
      case 'insert_random': {
        const p = this.inBody(f);
        return this.fixLength(Buffer.concat([f.subarray(0, p), this.bytes(1 + this.int(16)), f.subarray(p)]));
      }
      default: { // length_prefix
        const lengths = [0, this.int(bodyLen), bodyLen + 1 + this.int(64), this.int(0x20000), 0xffffffff, 4096, 4097, 65_536, 65_537, 0x80000000];
        f.writeUInt32BE(this.pick(lengths), 0);
        return f;
      }
    }
  }

  private hugeLength(phase: FuzzPhase): Buffer {
    const header = this.pick(HUGE_HEADERS).bytes;
    const tail = this.bytes(this.int(17));
    const v = this.int(4);
    if (v === 0) return this.writer.frame(new Raw(Buffer.concat([header, tail])));
    const pairs = this.pairs(phase);
    // A map that claims one or a few more entries than it holds.
    if (v === 1) return this.writer.frame(new Pairs(pairs, pairs.length + 1 + this.int(3)));
    const lie = new Raw(Buffer.concat([header, tail]));
    return this.writer.frame(this.place(pairs, v === 2 ? ['x', lie] : [lie, 1]));
  }

  private deepNesting(phase: FuzzPhase): Buffer {
    const depth = this.chance(0.05) ? this.pick([64, 1000, 40_000]) : 1 + this.int(10);
    const containers = ['91', 'dc0001', 'dd00000001', '81a161', 'de0001a161', 'df00000001a161'];
    let nested: Buffer;
    if (depth > 64) {
      const unit = this.chance(0.5) ? '91' : '81a161';
      const key = `${unit}:${depth}`;
      nested = this.deepCache.get(key) ?? Buffer.from(`${unit.repeat(depth)}01`, 'hex');
      this.deepCache.set(key, nested);
    } else {
      const parts: string[] = [];
      for (let d = 0; d < depth; d++) parts.push(this.pick(containers));
      parts.push(this.pick(['01', '80', '90', 'a0', 'c0']));
      nested = Buffer.from(parts.join(''), 'hex');
    }
    return this.writer.frame(this.place(this.pairs(phase), ['x', new Raw(nested)], this.chance(0.2)));
  }

  private extType(phase: FuzzPhase): Buffer {
    let ext: Raw;
    if (this.chance(0.3)) ext = this.pick(this.nativeBodies);
    else {
      const type = this.chance(0.8) ? this.pick(EXT_TYPES) : this.chance(0.5) ? 0x40 + this.int(64) : this.int(256);
      if (this.chance(0.5)) {
        const [op, size] = this.pick(FIXEXT_SIZES);
        const data = this.bytes(size);
        if (type === 0x74) data[0] = this.int(18);
        ext = new Raw(Buffer.concat([Buffer.from([op, type]), data]));
      } else {
        const size = this.int(40);
        const op = this.pick([0xc7, 0xc8, 0xc9]);
        const head = Buffer.alloc(op === 0xc7 ? 3 : op === 0xc8 ? 4 : 6);
        head[0] = op;
        if (op === 0xc7) head[1] = size; else if (op === 0xc8) head.writeUInt16BE(size, 1); else head.writeUInt32BE(this.chance(0.2) ? 0xffffffff : size, 1);
        head[head.length - 1] = type;
        ext = new Raw(Buffer.concat([head, this.bytes(size)]));
      }
    }
    if (this.chance(0.15)) return this.writer.frame(ext);
    return this.writer.frame(this.place(this.pairs(phase), this.chance(0.1) ? [ext, 1] : ['x', ext], this.chance(0.5)));
  }

  private protoKey(phase: FuzzPhase): Buffer {
    const key = this.chance(0.6) ? this.pick(PROTO_KEYS) : this.pick(NEAR_PROTO_KEYS);
    const payload: Val = new Pairs(POLLUTION_MARKERS.map((m): [Val, Val] => [m, true]));
    const pairs = this.pairs(phase);
    switch (this.int(4)) {
      case 0: return this.writer.frame(this.place(pairs, [key, payload]));
      case 1: return this.writer.frame(this.place(pairs, ['missing', new Pairs([[key, this.chance(0.5) ? 'gone' : payload]])]));
      case 2: return this.writer.frame(this.place(pairs, ['x', new Pairs([[key, payload]])], this.chance(0.5)));
      default: // the type names an Object.prototype member
        return this.writer.frame(this.setField(pairs, 'type', key));
    }
  }

  private duplicateKey(phase: FuzzPhase): Buffer {
    const pairs = this.pairs(phase);
    const [key, value] = this.pick(pairs);
    switch (this.int(4)) {
      case 0: return this.writer.frame(this.place(pairs, [key, value]));
      case 1: return this.writer.frame(this.place(pairs, ['type', phase === 'hello' ? 'sample' : 'hello']));
      case 2: { // the same key, written once as fixstr and once as str8
        const k = Buffer.from(String(key), 'utf8');
        return this.writer.frame(this.place(pairs, [new Raw(Buffer.concat([Buffer.from([0xd9, k.length]), k])), value]));
      }
      default: // in a nested map; or NFC and NFD spellings of one key (two byte strings: allowed)
        return this.writer.frame(this.place(pairs, this.chance(0.5)
          ? ['missing', new Pairs([['cpu_pct', 'a'], ['cpu_pct', 'b']])]
          : ['x', new Pairs([['caf\u00e9', 1], ['cafe\u0301', 2]])]));
    }
  }

  private nonStringKey(phase: FuzzPhase): Buffer {
    const key = this.pick(ODD_KEYS);
    const pairs = this.pairs(phase);
    if (this.chance(0.3)) return this.writer.frame(this.place(pairs, ['missing', new Pairs([[key, 'reason']])]));
    if (this.chance(0.5)) pairs[this.int(pairs.length)]![0] = key;
    else pairs.splice(this.int(pairs.length + 1), 0, [key, 1]);
    return this.writer.frame(new Pairs(pairs));
  }

  private invalidUtf8(phase: FuzzPhase): Buffer {
    const bad = Buffer.from(this.chance(0.8) ? this.pick(INVALID_UTF8) : this.pick(ODD_VALID_UTF8), 'hex');
    const text = Buffer.concat([Buffer.from(this.pick(['', 'web', 'cpu_pct', 'sample'])), bad, Buffer.from(this.pick(['', '-01', 'x']))]);
    const str = new Raw(Buffer.concat([Buffer.from([0xa0 | text.length]), text]));
    const pairs = this.pairs(phase);
    switch (this.int(4)) {
      case 0: return this.writer.frame(this.place(pairs, [str, 1]));
      case 1: return this.writer.frame(this.place(pairs, ['missing', new Pairs([[this.chance(0.5) ? str : 'load_1m', str]])]));
      case 2: return this.writer.frame(this.setField(pairs, phase === 'hello' ? 'host' : 'type', str));
      default: {
        const i = this.int(pairs.length);
        pairs[i] = [pairs[i]![0], str];
        return this.writer.frame(new Pairs(pairs));
      }
    }
  }

  private wideMap(phase: FuzzPhase): Buffer {
    // 10,000 keys ('k' + base-36 index), at the top and as `missing`: built once, about 60 KB each.
    this.wideCache ??= [false, true].map((nested) => {
      const keys: Array<[Val, Val]> = Array.from({ length: 10_000 }, (_, i) => [`k${i.toString(36)}`, 0]);
      return this.writer.frame(nested ? { type: 'sample', seq: 1, ts: 1, missing: new Pairs(keys) } : new Pairs(keys));
    });
    const pairs = this.pairs(phase);
    const fill = (n: number): Array<[Val, Val]> => this.fillCache.get(n) ?? this.fillCache.set(n, Array.from({ length: n }, (_, i) => [`f${i}`, i])).get(n)!;
    switch (this.int(5)) {
      case 0: return Buffer.from(this.pick(this.wideCache));
      case 1: return this.writer.frame(new Pairs([...pairs, ...fill(this.pick([256, 257]) - pairs.length)]));
      case 2: return this.writer.frame(this.place(pairs, ['missing', new Pairs(fill(this.pick([32, 33, 256, 257])).map(([k]) => [k, 'x']))]));
      case 3: return this.writer.frame(this.place(pairs, ['x', Array.from({ length: this.pick([1024, 1025]) }, () => 0)]));
      default: return this.writer.frame(this.place(pairs, ['x', new Pairs(fill(16), 65_535)]));
    }
  }

  private wrongType(phase: FuzzPhase): Buffer {
    const pairs = this.pairs(phase);
    const v = this.int(4);
    if (v === 0) { // the type itself
      const types: Val[] = ['welcome', 'error', '', 'HELLO', 'sample\u0000', phase === 'hello' ? 'sample' : 'hello', 1, null];
      const i = pairs.findIndex(([k]) => k === 'type');
      if (this.chance(0.2)) pairs.splice(i, 1); else pairs[i]![1] = this.pick(types);
      return this.writer.frame(new Pairs(pairs));
    }
    if (v === 1 && phase === 'hello') return this.writer.frame(this.setField(pairs, 'proto', this.pick([...WRONG_VALUES, 2, 0, '1'])));
    for (let n = 1 + this.int(2); n > 0; n--) pairs[this.int(pairs.length)]![1] = this.pick(WRONG_VALUES);
    return this.writer.frame(new Pairs(pairs));
  }

  private badNumber(phase: FuzzPhase): Buffer {
    const pairs = this.pairs(phase);
    if (phase === 'session' && this.chance(0.1)) { // a relation broken: used above total
      return this.writer.frame(this.setField(this.setField(pairs, 'mem_total_bytes', GIB).entries, 'mem_used_bytes', GIB + 1));
    }
    const fields = phase === 'hello' ? ['interval_ms', 'cpu_cores', 'proto'] : ['seq', 'ts', ...READINGS.map((r) => r.name)];
    let out = new Pairs(pairs);
    for (let n = 1 + this.int(2); n > 0; n--) out = this.setField(out.entries, this.pick(fields), this.pick(BAD_NUMBERS));
    return this.writer.frame(out);
  }

  private hostileString(phase: FuzzPhase): Buffer {
    const s = this.pick(HOSTILE_STRINGS);
    const pairs = this.pairs(phase);
    if (phase === 'hello') return this.writer.frame(this.setField(pairs, this.chance(0.6) ? 'host' : this.pick(['agent', 'token', 'os', 'kernel', 'arch', 'cpu_model']), s));
    switch (this.int(3)) {
      case 0: return this.writer.frame(this.setField(pairs, 'type', s));
      case 1: return this.writer.frame(this.setField(pairs, 'missing', new Pairs([[this.chance(0.5) ? s : 'cpu_pct', this.chance(0.5) ? s : 'gone']])));
      default: return this.writer.frame(this.setField(pairs, 'note', s));
    }
  }

  private randomBytes(): Buffer {
    const n = this.chance(0.7) ? this.int(64) : this.chance(0.8) ? this.int(1024) : this.int(8192);
    const f = this.bytes(n + 4);
    if (n > 0 && this.chance(0.5)) f[4] = this.pick([0x80 | this.int(16), 0xde, 0xdf]);
    if (this.chance(0.85)) f.writeUInt32BE(n, 0);
    return f;
  }

  /** A random offset in the body of frame `f` (its end, for an empty body). */
  private inBody(f: Buffer): number {
    return 4 + this.int(Math.max(f.length - 4, 1));
  }

  /** Makes the length prefix true again, 3 times in 4 (a stale one desynchronises the stream). */
  private fixLength(out: Buffer): Buffer {
    if (out.length >= 4 && this.chance(0.75)) out.writeUInt32BE(out.length - 4, 0);
    return out;
  }

  /** Sets `field` (adding it if absent) in a list of pairs. */
  private setField(pairs: Array<[Val, Val]>, field: string, value: Val): Pairs {
    const entry = pairs.find(([k]) => k === field);
    if (entry) entry[1] = value; else pairs.splice(this.int(pairs.length + 1), 0, [field, value]);
    return new Pairs(pairs);
  }
}
