/**
 * Hostile frames through exactly what the collector does with a connection's bytes: a fresh
 * FrameDecoder bounded for the hello, parseHello and a host claim for the first message, the
 * larger bound, then dispatch() for the rest. Whatever arrives, the only acceptable failure is a
 * SentinelError with a known code; anything else thrown, an uncaught exception, a message that is
 * not plain data, or a changed Object.prototype is a crash.
 *
 * SENTINEL_FUZZ_FRAMES (default 1,000,000) and SENTINEL_FUZZ_SEED set the run; the seed is printed
 * so a failure replays, and each crash names the index of its frame in that seed's stream.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { dispatch, type HandlerDeps, type SessionContext } from '../../collector/handlers.ts';
import { HostTable } from '../../collector/hosts.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { ERROR_CODES, SentinelError, SessionError } from '../../shared/errors.ts';
import { encodeFrame, FrameDecoder } from '../../shared/frame_codec.ts';
import { createLogger } from '../../shared/log.ts';
import { parseHello, type Hello } from '../../shared/protocol.ts';
import { ShmStore } from '../../shared/shm_store.ts';
import { FrameFuzzer, FUZZ_KINDS, MUTATION_KINDS, POLLUTION_MARKERS, type FuzzFrame, type FuzzKind } from '../helpers/fuzz.ts';
import { frameHex, seededRandom } from '../helpers/hex.ts';

const DEFAULT_SEED = 20_261_122;
const DEFAULT_FRAMES = 1_000_000;

function fuzzSettings(env: NodeJS.ProcessEnv): { seed: number; frames: number } {
  const read = (name: string, fallback: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
    return n;
  };
  return { seed: read('SENTINEL_FUZZ_SEED', DEFAULT_SEED), frames: read('SENTINEL_FUZZ_FRAMES', DEFAULT_FRAMES) };
}

function defaultOf(s: { readonly flag: string; readonly default: number | undefined }): number {
  if (s.default === undefined) throw new TypeError(`collector setting --${s.flag} has no default`);
  return s.default;
}

const { seed: SEED, frames: FRAMES } = fuzzSettings(process.env);
/** The collector's default bounds: the first frame (the hello), then every frame after the welcome, bytes. */
const MAX_HELLO_BYTES = defaultOf(COLLECTOR_SETTINGS.maxHelloBytes);
const MAX_FRAME_BYTES = defaultOf(COLLECTOR_SETTINGS.maxFrameBytes);
/** Host slots in the store; the table is rebuilt before it fills, so valid hellos always find room. */
const CAPACITY = 256;
const CODES = new Set<string>(Object.values(ERROR_CODES));
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** The codes the generators aim at; a full-size run must see each of them. */
const EXPECTED_CODES = [
  ERROR_CODES.FRAME_EMPTY, ERROR_CODES.FRAME_TOO_LARGE, ERROR_CODES.FRAME_MALFORMED, ERROR_CODES.FRAME_NOT_MAP, ERROR_CODES.FRAME_TOO_DEEP,
  ERROR_CODES.FRAME_FORBIDDEN_TYPE, ERROR_CODES.FRAME_FORBIDDEN_KEY, ERROR_CODES.PROTO_UNKNOWN_TYPE, ERROR_CODES.PROTO_BAD_FIELD,
  ERROR_CODES.PROTO_VERSION, ERROR_CODES.PROTO_UNEXPECTED,
];

/** What became of one connection: its messages all handled, refused with a code, waiting for more bytes, or a crash. */
type Outcome = { status: 'accepted' | 'pending' } | { status: 'refused'; code: string } | { status: 'crash'; error: unknown };

class FuzzSession implements SessionContext {
  host = '';
  lastSeq = 0;
  constructor(readonly id: number) {}
}

/** Throws unless `v` is plain data (what msgpack_guard.ts promises): no prototypes but the two plain ones, no class instances, no forbidden own keys. */
function checkPlainData(v: unknown, depth = 0): void {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return;
  if (typeof v !== 'object' || depth > 16) throw new Error(`decoded value of type ${typeof v} at depth ${depth}`);
  const proto = Object.getPrototypeOf(v) as unknown;
  if (Array.isArray(v) ? proto !== Array.prototype : proto !== Object.prototype) throw new Error(`decoded object with prototype ${String((proto as { constructor?: { name?: string } } | null)?.constructor?.name)}`);
  for (const key of Object.getOwnPropertyNames(v)) {
    if (FORBIDDEN_KEYS.has(key)) throw new Error(`decoded object has own key ${key}`);
    if (!(Array.isArray(v) && key === 'length')) checkPlainData((v as Record<string, unknown>)[key], depth + 1);
  }
}

/** PROTOCOL.md's rule for an accepted host name, checked independently of shared/protocol.ts. */
// eslint-disable-next-line no-control-regex
const HOST_NEVER = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/u;
function checkHostName(host: string): void {
  const ok = host.length > 0 && Buffer.byteLength(host) <= 253 && host === host.normalize('NFC') && host === host.trim() && !HOST_NEVER.test(host);
  if (!ok) throw new Error(`hello accepted with host name ${JSON.stringify(host)}`);
}

class Harness {
  private store = ShmStore.create(CAPACITY, 0);
  private hosts = new HostTable(this.store);
  private nextId = 1;
  private clockMs = 1_795_000_000_000;
  /** Lines the handlers logged (formatted in full, hostile host names included). */
  logLines = 0;
  private readonly log = createLogger('fuzz', 'debug', () => { this.logLines++; });
  private deps: HandlerDeps = { hosts: this.hosts, now: () => this.clockMs, log: this.log };
  private readonly random: () => number;
  /** Hellos that open a session before a frame built for the session phase. */
  private readonly hellos = ['fuzz-a', 'fuzz-b', 'fuzz-c'].map((host) => encodeFrame({ type: 'hello', proto: 1, host, agent: 'fuzz/1', token: 't', interval_ms: 1000 }));
  private readonly followUp = encodeFrame({ type: 'sample', seq: 1_000_000_000, ts: 1_795_000_000_000, cpu_pct: 1 });

  constructor(seed: number) {
    this.random = seededRandom(seed ^ 0x5bd1e995);
  }

  /**
   * What a peer sends for one fuzz frame, as segments: an agent waits for the welcome after its
   * hello, so each segment is sent once the previous one has been handled. A frame made for the
   * session phase follows a valid hello, sometimes twice (a replay); a hello is sometimes
   * followed by a valid sample.
   */
  segments(f: FuzzFrame): Buffer[] {
    if (f.phase === 'hello') return this.random() < 0.3 ? [f.frame, this.followUp] : [f.frame];
    const hello = this.hellos[Math.floor(this.random() * this.hellos.length)]!;
    const replay = f.kind !== 'valid' && this.random() < 0.1;
    return [hello, replay ? Buffer.concat([f.frame, f.frame]) : f.frame];
  }

  /** Splits `bytes` as a socket might: usually one chunk, sometimes random cuts, rarely byte by byte. */
  private chunks(bytes: Buffer): Buffer[] {
    const r = this.random();
    if (r < 0.85) return [bytes];
    const maxCut = r < 0.99 || bytes.length > 4096 ? 1 + Math.floor(this.random() * 512) : 1;
    const out: Buffer[] = [];
    for (let off = 0; off < bytes.length;) {
      const n = 1 + Math.floor(this.random() * maxCut);
      out.push(bytes.subarray(off, off + n));
      off += n;
    }
    return out;
  }

  run(segments: readonly Buffer[]): Outcome {
    this.clockMs += 1000;
    // Rebuilt before it fills: a full table would turn valid hellos into CAPACITY_FULL.
    if (this.hosts.size >= CAPACITY - 2) {
      this.store = ShmStore.create(CAPACITY, 0);
      this.hosts = new HostTable(this.store);
      this.deps = { ...this.deps, hosts: this.hosts };
    }
    const decoder = new FrameDecoder({ maxFrameBytes: MAX_HELLO_BYTES });
    const session = new FuzzSession(this.nextId++);
    let ready = false;
    try {
      for (const segment of segments) {
        for (const chunk of this.chunks(segment)) {
          const { messages, error } = decoder.push(chunk);
          let welcomedNow = false;
          for (const msg of messages) {
            checkPlainData(msg);
            if (ready) {
              // collector/server.ts admits a hello asynchronously (the token check): a frame in the same chunk comes before the welcome.
              if (welcomedNow) throw new SessionError(ERROR_CODES.PROTO_UNEXPECTED, 'a frame arrived before the welcome');
              dispatch(session, msg, this.deps);
              continue;
            }
            this.welcome(parseHello(msg), session);
            ready = welcomedNow = true;
            decoder.setMaxFrameBytes(MAX_FRAME_BYTES);
          }
          if (error) return coded(error);
        }
      }
      return { status: decoder.pendingBytes > 0 ? 'pending' : 'accepted' };
    } catch (err) {
      return coded(err);
    } finally {
      if (session.host) this.hosts.release(session.host, session, this.clockMs);
    }
  }

  /** The collector's claim step after a hello (the token check aside: every token passes here). */
  private welcome(hello: Hello, session: FuzzSession): void {
    checkHostName(hello.host);
    const claim = this.hosts.claim(hello, session, this.clockMs);
    if (!claim.ok) throw new SessionError(claim.reason === 'in_use' ? ERROR_CODES.HOST_IN_USE : ERROR_CODES.CAPACITY_FULL, claim.reason);
    session.host = hello.host;
  }
}

function coded(err: unknown): Outcome {
  if (err instanceof SentinelError && CODES.has(err.code)) return { status: 'refused', code: err.code };
  return { status: 'crash', error: err };
}

function prototypeSnapshot(): Array<[PropertyKey, PropertyDescriptor | undefined]> {
  return Reflect.ownKeys(Object.prototype).map((k) => [k, Object.getOwnPropertyDescriptor(Object.prototype, k)]);
}

interface Crash { index: number; kind: FuzzKind; phase: string; frameHex: string; error: string; at: string }

/**
 * Crashes found, reported and not yet fixed: counted and printed, not failed, each matched as
 * narrowly as possible. Once the fix lands, the full run fails until the entry is removed here,
 * so an allowance cannot outlive its bug. Empty: the one found (String() of a decoded map in
 * parseHello) is fixed and pinned by the test below.
 */
const KNOWN_CRASHES: ReadonlyArray<{ name: string; matches: (err: unknown) => boolean }> = [];

function describeError(e: unknown): { error: string; at: string } {
  if (!(e instanceof Error)) return { error: String(e), at: '' };
  const at = (e.stack ?? '').split('\n').find((l) => l.includes('/shared/') || l.includes('/collector/')) ?? '';
  return { error: `${e.name}: ${e.message}`, at: at.trim() };
}

test('found by the fuzzer: parseHello refuses proto {toString: 1} and [{toString: 1}] with a code', () => {
  // {"type":"hello","proto":{"toString":1}} and {"type":"hello","proto":[{"toString":1}]}
  for (const hex of ['82 a474797065 a568656c6c6f a570726f746f 81a8746f537472696e67 01', '82 a474797065 a568656c6c6f a570726f746f 91 81a8746f537472696e67 01']) {
    const { messages } = new FrameDecoder({ maxFrameBytes: MAX_HELLO_BYTES }).push(frameHex(hex));
    assert.throws(() => parseHello(messages[0]!), (e: unknown) => e instanceof SentinelError && e.code === ERROR_CODES.PROTO_VERSION, hex);
  }
});

test(`fuzz (seed ${SEED}): the same seed gives the same frames, and every generator is used`, () => {
  const a = new FrameFuzzer(SEED);
  const b = new FrameFuzzer(SEED);
  for (let i = 0; i < 1000; i++) {
    const x = a.next();
    const y = b.next();
    assert.equal(x.kind, y.kind, `frame ${i}`);
    assert.equal(x.phase, y.phase, `frame ${i}`);
    assert.ok(x.frame.equals(y.frame), `frame ${i} differs`);
  }
  assert.notDeepEqual(new FrameFuzzer(SEED + 1).next().frame, new FrameFuzzer(SEED).next().frame);
  const seen = new Set<string>();
  const fuzzer = new FrameFuzzer(SEED);
  for (let i = 0; i < 5000 && seen.size < FUZZ_KINDS.length; i++) seen.add(fuzzer.next().kind);
  assert.deepEqual(FUZZ_KINDS.filter((k) => !seen.has(k)), [], 'kinds never generated in 5000 frames');
});

// The deadline is a bound on a hung run, not a speed claim: a million frames took 62 s in a
// full `npm test` on this 2-core VM and past 90 s in another of the same day (chromium tests
// share the cores), so it allows 0.24 ms a frame.
test(`fuzz (seed ${SEED}): ${FRAMES} hostile frames through decoder, parseHello and dispatch`, { timeout: Math.max(240_000, FRAMES * 0.24) }, async () => {
  const started = performance.now();
  const protoBefore = prototypeSnapshot();
  const escaped: unknown[] = [];
  const onEscape = (err: unknown): void => { escaped.push(err); };
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);

  const fuzzer = new FrameFuzzer(SEED);
  const harness = new Harness(SEED);
  const codes = new Map<string, number>();
  const perKind = new Map<FuzzKind, { accepted: number; refused: number; pending: number }>(FUZZ_KINDS.map((k) => [k, { accepted: 0, refused: 0, pending: 0 }]));
  // First crash of each kind of error, by error and place.
  const crashes = new Map<string, { count: number; first: Crash }>();
  const known = new Map<string, number>(KNOWN_CRASHES.map((k) => [k.name, 0]));
  try {
    for (let i = 0; i < FRAMES; i++) {
      const f = fuzzer.next();
      const outcome = harness.run(harness.segments(f));
      const stats = perKind.get(f.kind)!;
      if (outcome.status === 'crash') {
        const allowed = KNOWN_CRASHES.find((k) => k.matches(outcome.error));
        if (allowed) { known.set(allowed.name, known.get(allowed.name)! + 1); continue; }
        const d = describeError(outcome.error);
        const key = `${d.error} ${d.at}`;
        const c = crashes.get(key) ?? { count: 0, first: { index: i, kind: f.kind, phase: f.phase, frameHex: f.frame.subarray(0, 256).toString('hex'), ...d } };
        c.count++;
        crashes.set(key, c);
      } else if (outcome.status === 'refused') {
        stats.refused++;
        codes.set(outcome.code, (codes.get(outcome.code) ?? 0) + 1);
      } else stats[outcome.status]++;
      // Let the timeout, and any escaped exception or rejection, be seen during a long run.
      if (i % 20_000 === 19_999) await yieldToLoop();
    }
    await yieldToLoop();
  } finally {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  }

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  let accepted = 0;
  let refused = 0;
  let pending = 0;
  for (const s of perKind.values()) { accepted += s.accepted; refused += s.refused; pending += s.pending; }
  let crashCount = 0;
  for (const c of crashes.values()) crashCount += c.count;
  const knownText = [...known].map(([n, c]) => `${n}:${c}`).join(',');
  const codeText = [...codes].sort((x, y) => y[1] - x[1]).map(([c, n]) => `${c.replace('SENTINEL_', '')}:${n}`).join(',');
  console.log(`fuzz: seed=${SEED} frames=${FRAMES} accepted=${accepted} refused=${refused} pending=${pending} crashes=${crashCount} known={${knownText}} codes={${codeText}} logged=${harness.logLines} in ${seconds} s`);

  const firstCrashes = [...crashes.values()].slice(0, 5).map((c) => ({ times: c.count, ...c.first }));
  assert.deepEqual(firstCrashes, [], `${crashCount} crash(es) of ${crashes.size} kind(s); replay with SENTINEL_FUZZ_SEED=${SEED} up to the frame index`);
  assert.deepEqual(escaped, [], 'uncaught exceptions or unhandled rejections during the run');
  assert.deepEqual(prototypeSnapshot(), protoBefore, 'Object.prototype changed');
  for (const marker of POLLUTION_MARKERS) {
    assert.equal(marker in {}, false, `({}).${marker} exists`);
    assert.equal(marker in [], false, `[].${marker} exists`);
  }
  if (FRAMES < 10_000) return; // too few frames for the coverage checks below
  const seen = [...codes.keys()];
  assert.ok(seen.some((c) => c.startsWith('SENTINEL_FRAME_')), 'no FRAME_* refusal seen');
  assert.ok(seen.some((c) => c.startsWith('SENTINEL_PROTO_')), 'no PROTO_* refusal seen');
  const valid = perKind.get('valid')!;
  assert.equal(valid.refused + valid.pending, 0, 'an unmutated frame was not accepted: the harness is wrong');
  assert.ok(MUTATION_KINDS.some((k) => perKind.get(k)!.accepted > 0), 'no mutated frame was ever accepted');
  assert.ok(perKind.get('bit_flip')!.accepted > 0 && perKind.get('bit_flip')!.refused > 0, 'bit flips should give both outcomes');
  if (FRAMES < 100_000) return;
  assert.deepEqual(EXPECTED_CODES.filter((c) => !codes.has(c)), [], 'codes never produced');
  assert.deepEqual([...known].filter(([, n]) => n === 0).map(([name]) => name), [], 'known crashes no longer seen: remove them from KNOWN_CRASHES');
  assert.equal(KNOWN_CRASHES.length, 0, 'a known crash is being tolerated');
});
