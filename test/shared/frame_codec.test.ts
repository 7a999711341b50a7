import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES } from '../../shared/errors.ts';
import { decodeBody, DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder, type Message } from '../../shared/frame_codec.ts';
import { frameHex, hexFixture, seededRandom } from '../helpers/hex.ts';

const PINNED = hexFixture('frames/sample_v1.hex');
const PINNED_MESSAGE = {
  type: 'sample', seq: 1, ts: 1795339419000, cpu_pct: 12.5, load_1m: 0.25, load_5m: 0.5, load_15m: 1,
  mem_total_bytes: 8589934592, mem_used_bytes: 2147483648, mem_available_bytes: 6442450944,
  swap_total_bytes: 0, swap_used_bytes: 0, uptime_s: 3600,
};

function decodeAll(chunks: Uint8Array[], decoder = new FrameDecoder()): Message[] {
  const out: Message[] = [];
  for (const c of chunks) {
    const r = decoder.push(c);
    assert.equal(r.error, null, r.error?.message);
    out.push(...r.messages);
  }
  return out;
}

test('the pinned frame decodes to the pinned message', () => {
  assert.deepEqual(decodeAll([PINNED]), [PINNED_MESSAGE]);
});

test('encodeFrame writes the pinned bytes exactly', () => {
  assert.equal(encodeFrame(PINNED_MESSAGE).toString('hex'), PINNED.toString('hex'));
});

test('a hello written by another msgpack encoder (fixmap, uint64) decodes', () => {
  const [hello] = decodeAll([hexFixture('frames/hello_foreign.hex')]);
  assert.deepEqual(hello, { type: 'hello', proto: 1, host: 'web', agent: 'go-1.0', token: 'secret', interval_ms: 2000, cpu_cores: 4 });
});

test('encodeFrame drops undefined fields instead of writing an extension', () => {
  const frame = encodeFrame({ type: 'sample', seq: 1, ts: 1, cpu_pct: undefined });
  assert.deepEqual(decodeAll([frame]), [{ type: 'sample', seq: 1, ts: 1 }]);
});

test('the pinned frame split at every byte offset decodes exactly once', () => {
  for (let cut = 0; cut <= PINNED.length; cut++) {
    const got = decodeAll([PINNED.subarray(0, cut), PINNED.subarray(cut)]);
    assert.deepEqual(got, [PINNED_MESSAGE], `split at ${cut}`);
  }
});

test('the pinned frame fed one byte at a time decodes exactly once', () => {
  const chunks = [...PINNED].map((b) => Uint8Array.of(b));
  assert.deepEqual(decodeAll(chunks), [PINNED_MESSAGE]);
});

test('two and a half frames in one chunk, then the rest', () => {
  const three = Buffer.concat([PINNED, PINNED, PINNED]);
  const cut = PINNED.length * 2 + Math.floor(PINNED.length / 2);
  const decoder = new FrameDecoder();
  const first = decoder.push(three.subarray(0, cut));
  assert.equal(first.messages.length, 2);
  assert.equal(decoder.pendingBytes > 0, true);
  const rest = decoder.push(three.subarray(cut));
  assert.equal(rest.messages.length, 1);
  assert.equal(decoder.pendingBytes, 0);
});

test('seeded random chunking (seed 20261122): 200 frames arrive once each, in order', () => {
  const random = seededRandom(20261122);
  const frames: Buffer[] = [];
  for (let i = 1; i <= 200; i++) frames.push(encodeFrame({ type: 'sample', seq: i, ts: 1e12 + i, cpu_pct: (i * 7) % 100, note: 'x'.repeat(i % 50) }));
  const stream = Buffer.concat(frames);
  for (let round = 0; round < 20; round++) {
    const chunks: Buffer[] = [];
    for (let off = 0; off < stream.length;) {
      const n = 1 + Math.floor(random() * 600);
      chunks.push(stream.subarray(off, off + n));
      off += n;
    }
    const got = decodeAll(chunks);
    assert.equal(got.length, 200, `round ${round}`);
    assert.deepEqual(got.map((m) => m['seq']), Array.from({ length: 200 }, (_, i) => i + 1));
  }
});

test('a frame longer than the maximum is refused from its header alone', () => {
  const decoder = new FrameDecoder({ maxFrameBytes: 1024 });
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1025);
  const r = decoder.push(header); // no body sent at all
  assert.equal(r.error?.code, ERROR_CODES.FRAME_TOO_LARGE);
  assert.equal(decoder.pendingBytes, 0, 'nothing buffered for the refused body');
});

test('a broken decoder stays broken and returns its error again', () => {
  const decoder = new FrameDecoder();
  assert.equal(decoder.push(Buffer.alloc(4)).error?.code, ERROR_CODES.FRAME_EMPTY);
  const again = decoder.push(PINNED);
  assert.equal(again.error?.code, ERROR_CODES.FRAME_EMPTY);
  assert.equal(again.messages.length, 0);
});

test('frames before a bad one in the same chunk are still delivered', () => {
  const r = new FrameDecoder().push(Buffer.concat([PINNED, Buffer.alloc(4)]));
  assert.equal(r.messages.length, 1);
  assert.equal(r.error?.code, ERROR_CODES.FRAME_EMPTY);
});

test('the default maximum is 64 KiB and a frame of exactly that size passes the length check', () => {
  assert.equal(DEFAULT_MAX_FRAME_BYTES, 65536);
  // map{x: str16 of n bytes}: 1 (fixmap) + 2 (key "x") + 3 (str16 header) + n = 64 KiB.
  const n = DEFAULT_MAX_FRAME_BYTES - 6;
  const head = Buffer.from('0001000081a178da0000', 'hex');
  head.writeUInt16BE(n, 8);
  const frame = Buffer.concat([head, Buffer.alloc(n, 0x61)]);
  const r = new FrameDecoder({ limits: { maxDepth: 8, maxStringBytes: 1 << 20, maxArrayLength: 10, maxMapSize: 10 } }).push(frame);
  assert.equal(r.error, null, r.error?.message);
  assert.equal((r.messages[0]!['x'] as string).length, n);
});

const BAD_FRAMES: Array<{ name: string; bytes: Buffer; code: string }> = [
  { name: 'length 0', bytes: Buffer.from('00000000', 'hex'), code: ERROR_CODES.FRAME_EMPTY },
  { name: 'length max+1', bytes: Buffer.from('00010001', 'hex'), code: ERROR_CODES.FRAME_TOO_LARGE },
  { name: 'length 0xFFFFFFFF', bytes: Buffer.from('ffffffff', 'hex'), code: ERROR_CODES.FRAME_TOO_LARGE },
  { name: 'body is an array', bytes: frameHex('91 01'), code: ERROR_CODES.FRAME_NOT_MAP },
  { name: 'body is a string', bytes: frameHex('a3 616263'), code: ERROR_CODES.FRAME_NOT_MAP },
  { name: 'body is nil', bytes: frameHex('c0'), code: ERROR_CODES.FRAME_NOT_MAP },
  { name: 'trailing bytes after the map', bytes: frameHex('80 00'), code: ERROR_CODES.FRAME_MALFORMED },
  { name: 'map cut short', bytes: frameHex('82 a161 01'), code: ERROR_CODES.FRAME_MALFORMED },
  { name: 'str8 runs past the frame', bytes: frameHex('81 a161 d9ff 41'), code: ERROR_CODES.FRAME_MALFORMED },
  { name: 'array32 claiming 4 billion items', bytes: frameHex('81 a161 ddffffffff'), code: ERROR_CODES.FRAME_MALFORMED },
  { name: 'map32 claiming 4 billion entries', bytes: frameHex('dfffffffff'), code: ERROR_CODES.FRAME_MALFORMED },
  { name: 'str32 claiming 4 GiB', bytes: frameHex('81 a161 dbffffffff'), code: ERROR_CODES.FRAME_MALFORMED },
  { name: 'bin8 value', bytes: frameHex('81 a161 c40100'), code: ERROR_CODES.FRAME_FORBIDDEN_TYPE },
  { name: 'bin32 claiming 4 GiB', bytes: frameHex('81 a161 c6ffffffff'), code: ERROR_CODES.FRAME_FORBIDDEN_TYPE },
  { name: 'fixext1 (msgpackr undefined)', bytes: frameHex('81 a161 d40000'), code: ERROR_CODES.FRAME_FORBIDDEN_TYPE },
  { name: 'timestamp ext -1', bytes: frameHex('81 a161 d6ff00000000'), code: ERROR_CODES.FRAME_FORBIDDEN_TYPE },
  { name: 'ext8 RegExp (msgpackr type 0x78)', bytes: frameHex('81 a161 c7027861 61'), code: ERROR_CODES.FRAME_FORBIDDEN_TYPE },
  { name: 'ext32 claiming 4 GiB', bytes: frameHex('81 a161 c9ffffffff01'), code: ERROR_CODES.FRAME_FORBIDDEN_TYPE },
  { name: 'never-used byte 0xc1', bytes: frameHex('81 a161 c1'), code: ERROR_CODES.FRAME_MALFORMED },
  { name: 'integer map key', bytes: frameHex('81 01 01'), code: ERROR_CODES.FRAME_FORBIDDEN_KEY },
  { name: '__proto__ key', bytes: frameHex('81 a95f5f70726f746f5f5f 80'), code: ERROR_CODES.FRAME_FORBIDDEN_KEY },
  { name: 'constructor key', bytes: frameHex('81 ab636f6e7374727563746f72 01'), code: ERROR_CODES.FRAME_FORBIDDEN_KEY },
  { name: 'duplicate keys', bytes: frameHex('82 a161 01 a161 02'), code: ERROR_CODES.FRAME_FORBIDDEN_KEY },
  { name: 'invalid UTF-8 in a value', bytes: frameHex('81 a161 a2c328'), code: ERROR_CODES.FRAME_MALFORMED },
  { name: 'UTF-8 surrogate half', bytes: frameHex('81 a161 a3eda080'), code: ERROR_CODES.FRAME_MALFORMED },
  { name: 'overlong UTF-8', bytes: frameHex('81 a161 a2c0af'), code: ERROR_CODES.FRAME_MALFORMED },
  { name: 'nesting 9 deep', bytes: frameHex('81 a161 ' + '81a161'.repeat(7) + '80'), code: ERROR_CODES.FRAME_TOO_DEEP },
  { name: '40,000 nested fixarray headers', bytes: frameHex('81 a161 ' + '91'.repeat(40000) + '01'), code: ERROR_CODES.FRAME_TOO_DEEP },
  { name: 'array longer than the limit', bytes: frameHex('81 a161 dc0401 ' + '00'.repeat(1025)), code: ERROR_CODES.FRAME_MALFORMED },
];

for (const c of BAD_FRAMES) {
  test(`bad frame refused: ${c.name} -> ${c.code}`, () => {
    const r = new FrameDecoder().push(c.bytes);
    assert.equal(r.messages.length, 0);
    assert.equal(r.error?.code, c.code, r.error?.message);
  });
}

// ---- Another protocol's opening bytes on the agents' port ----------------------------------------

/** The start of a TLS 1.2/1.3 ClientHello record: handshake (0x16), version 3.1, length, ClientHello (0x01). */
const CLIENT_HELLO_START = Buffer.from('16030100f8010000f40303', 'hex');
const FOREIGN: Array<{ name: string; chunks: Buffer[]; foreign: 'http' | 'tls' | null; says: RegExp | null }> = [
  { name: 'a browser\'s GET', chunks: [Buffer.from('GET / HTTP/1.1\r\nHost: collector:8765\r\n\r\n')], foreign: 'http', says: /HTTP request.*--http/ },
  { name: 'curl -X POST', chunks: [Buffer.from('POST /api HTTP/1.1\r\n')], foreign: 'http', says: /HTTP request/ },
  { name: 'HEAD, its method split over three reads', chunks: [Buffer.from('H'), Buffer.from('EA'), Buffer.from('D / HTTP/1.0\r\n\r\n')], foreign: 'http', says: /HTTP request/ },
  { name: 'the HTTP/2 preface', chunks: [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')], foreign: 'http', says: /HTTP request/ },
  { name: 'a TLS ClientHello', chunks: [CLIENT_HELLO_START], foreign: 'tls', says: /TLS handshake.*--tls-cert and --tls-key/ },
  { name: 'a TLS record of another version (0x16 0x02): no guess', chunks: [Buffer.from('16020100f8', 'hex')], foreign: null, says: null },
  { name: 'lower-case "get " is no HTTP method: no guess', chunks: [Buffer.from('get / HTTP/1.1\r\n')], foreign: null, says: null },
  // After a good frame, the same bytes are a broken agent's, not a browser.
  { name: '"GET " as the second frame\'s header', chunks: [Buffer.concat([encodeFrame({ type: 'hello' }), Buffer.from('GET / HTTP/1.1\r\n')])], foreign: null, says: null },
];

for (const f of FOREIGN) {
  test(`another protocol's bytes: ${f.name} -> FRAME_TOO_LARGE${f.foreign ? `, named ${f.foreign}` : ', no guess'}`, () => {
    const d = new FrameDecoder();
    let error = null;
    for (const c of f.chunks) error = d.push(c).error ?? error;
    assert.equal(error?.code, ERROR_CODES.FRAME_TOO_LARGE);
    assert.equal(error.foreign, f.foreign);
    if (f.says) assert.match(error.message, f.says);
    else assert.doesNotMatch(error.message, /HTTP|TLS/);
    assert.match(error.message, /^frame of \d+ bytes exceeds the limit of \d+/, 'the plain refusal first');
  });
}

test('nesting of exactly the limit (8) is accepted', () => {
  const body = '81 a161 ' + '81a161'.repeat(6) + '80';
  assert.deepEqual(decodeBody(Buffer.from(body.replace(/\s/g, ''), 'hex')), { a: { a: { a: { a: { a: { a: { a: {} } } } } } } });
});

test('decoded messages are plain objects', () => {
  const m = decodeBody(Buffer.from('82a474797065a3666f6fa17882a16101a162c3', 'hex'));
  assert.equal(Object.getPrototypeOf(m), Object.prototype);
  assert.equal(Object.getPrototypeOf(m['x']), Object.prototype);
  assert.deepEqual(m, { type: 'foo', x: { a: 1, b: true } });
});

test('a __proto__ key is refused with a code, not silently renamed as msgpackr alone does', async () => {
  const { Unpackr } = await import('msgpackr');
  // {"__proto__": {"isAdmin": true}}
  const body = Buffer.from('81a95f5f70726f746f5f5f81a7697341646d696ec3', 'hex');
  const raw = new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(body) as Record<string, unknown>;
  // msgpackr (this version) does not pollute, but changes the key behind the sender's back.
  assert.equal(Object.getPrototypeOf(raw), Object.prototype);
  assert.deepEqual(Object.keys(raw), ['__proto_']);
  assert.throws(() => decodeBody(body), (e: unknown) => (e as { code?: string }).code === 'SENTINEL_FRAME_FORBIDDEN_KEY');
});

test('integers above 2^53 decode as numbers, not BigInt', () => {
  const m = decodeBody(Buffer.from('81a161cf0020000000000002', 'hex'));
  assert.equal(typeof m['a'], 'number');
});

test('repeated keys are found in maps of every size, hashes that collide are not taken for repeats', () => {
  // A map of `keys` (values 1), written by hand: an encoder would never write a repeat.
  const mapOf = (keys: readonly string[]): Uint8Array => {
    const parts: number[] = keys.length < 16 ? [0x80 + keys.length] : [0xde, keys.length >> 8, keys.length & 0xff];
    for (const k of keys) parts.push(0xa0 + k.length, ...Buffer.from(k, 'latin1'), 0x01);
    return Uint8Array.from(parts);
  };
  const forbidden = (e: unknown): boolean => (e as { code?: string }).code === 'SENTINEL_FRAME_FORBIDDEN_KEY';
  for (const size of [3, 16, 17, 200]) {
    const keys = Array.from({ length: size - 2 }, (_, i) => `k${i}`);
    // "costarring" and "liquid" share their FNV-1a hash: two keys, both kept.
    const distinct = [...keys, 'costarring', 'liquid'];
    assert.equal(Object.keys(decodeBody(mapOf(distinct))).length, size, `${size} distinct keys`);
    assert.throws(() => decodeBody(mapOf([...keys, 'costarring', 'costarring'])), forbidden, `${size}: a repeat at the end`);
    assert.throws(() => decodeBody(mapOf(['liquid', ...keys, 'liquid'])), forbidden, `${size}: the first key again, after its hash twin`);
    assert.throws(() => decodeBody(mapOf(['costarring', 'liquid', ...keys, 'costarring'])), forbidden, `${size}: a twin repeated`);
  }
});
