/**
 * The robustness suite: hostile input against a real collector, a child process on loopback.
 * After every case: the process is alive, a canary agent connected from the start is still
 * served, a fresh agent is welcomed and its sample lands, the collector's open files and memory
 * are back near their baseline, and test_reader's consistency check passes over its shared
 * memory. Each hostile connection comes from its own loopback address (127.x.y.z), so the
 * failed-handshake limit (kept at its default) only bites where a case means it to.
 * Prints the counts at the end: cases, frames, crashes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fetchSnapshot } from '../../collector/control_socket.ts';
import { inspectSnapshot } from '../../scripts/test_reader.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { encodeFrame, type Message } from '../../shared/frame_codec.ts';
import type { HostsPayload } from '../../dashboard/api.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { FrameFuzzer } from '../helpers/fuzz.ts';
import { frameHex, seededRandom } from '../helpers/hex.ts';
import { httpRequest } from '../helpers/http_client.ts';
import { RawClient, waitFor } from '../helpers/net.ts';
import { runTs, startTs, waitForOutput, type Proc } from '../helpers/procs.ts';

const TOKEN = 'robustness-token';
const CAPACITY = 48;
const MAX_CONNECTIONS = 400;
const HELLO_TIMEOUT_MS = 1000;
const HTTP_HEADERS_TIMEOUT_MS = 1000;
/** Frames sent over TCP by the fuzz case (the in-process suite sends a million through the same code). */
const TCP_FUZZ_FRAMES = Number(process.env['SENTINEL_TCP_FUZZ_FRAMES'] ?? 20_000);
/** Open files and memory must come back to within this of the baseline after each case. */
const FD_SLACK = 12;
const RSS_SLACK_BYTES = 96 * 1024 * 1024;

let dir: string;
let proc: Proc;
let agentPort: number;
let httpBase: string;
let canary: RawClient;
let canarySeq = 0;
let canaryTimer: NodeJS.Timeout;
let baseline: { fds: number; rss: number };
const counts = { cases: 0, frames: 0, connections: 0, crashes: 0 };
const codesSeen = new Map<string, number>();
let maxRss = 0;

// ---------------------------------------------------------------- helpers

/** A fresh loopback source address for each hostile connection: 127.1.0.1, 127.1.0.2, ... */
let addrCounter = 0;
function nextAddress(): string {
  addrCounter++;
  return `127.${1 + ((addrCounter >> 16) & 0x7f)}.${(addrCounter >> 8) & 255}.${(addrCounter & 255) || 1}`;
}

function hello(host: string, extra: Message = {}): Message {
  return { type: 'hello', proto: PROTO_VERSION, host, agent: 'robustness', token: TOKEN, interval_ms: 1000, ...extra };
}

function sample(seq: number, extra: Message = {}): Message {
  return { type: 'sample', seq, ts: Date.now(), cpu_pct: 12.5, mem_total_bytes: 1000, mem_used_bytes: 400, mem_available_bytes: 600, ...extra };
}

async function open(from = nextAddress()): Promise<RawClient> {
  counts.connections++;
  return RawClient.open(agentPort, '127.0.0.1', from);
}

/** Sends bytes on a fresh connection; resolves with the error code the collector answered (or 'closed' / 'welcome'). */
async function refusal(bytes: Buffer | Buffer[], opts: { afterHello?: boolean; timeoutMs?: number; from?: string } = {}): Promise<string> {
  const c = await open(opts.from);
  try {
    if (opts.afterHello) {
      c.send(hello(`h-${addrCounter}`));
      await c.next('welcome');
    }
    for (const b of Array.isArray(bytes) ? bytes : [bytes]) {
      c.sendBytes(b);
      counts.frames++;
    }
    const reply = await waitFor('an error or the close', () => c.messages.find((m) => m['type'] === 'error') ?? (c.closed ? { code: 'closed' } : null), opts.timeoutMs ?? 5000);
    const code = String(reply['code']);
    codesSeen.set(code, (codesSeen.get(code) ?? 0) + 1);
    return code;
  } finally {
    c.close();
  }
}

function frame(msg: Message): Buffer {
  return encodeFrame(msg);
}

function collectorFds(): number {
  return readdirSync(`/proc/${proc.child.pid}/fd`).length;
}

function collectorRss(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

async function hosts(): Promise<HostsPayload> {
  const res = await httpRequest(`${httpBase}/api/hosts`);
  assert.equal(res.status, 200);
  return JSON.parse(res.body) as HostsPayload;
}

/** The checks run after every case. */
async function stillHealthy(what: string): Promise<void> {
  assert.equal(proc.child.exitCode, null, `${what}: the collector exited:\n${proc.stderr().slice(-2000)}`);
  // A fresh agent is welcomed and its sample lands.
  const probe = await open();
  probe.send(hello('probe'));
  await probe.next('welcome', 5000);
  const marker = Math.round(Math.random() * 10_000) / 100;
  probe.send(sample(1, { cpu_pct: marker }));
  await waitFor(`${what}: the probe's sample`, async () => (await hosts()).hosts.find((h) => h.name === 'probe' && h.cpu_pct === marker), 5000);
  probe.close();
  // The canary, connected all along, is still online and fresh.
  const before = canarySeq;
  await waitFor(`${what}: the canary's newer sample`, async () => {
    const h = (await hosts()).hosts.find((x) => x.name === 'canary');
    return h && h.status === 'online' && (h.sample_seq ?? 0) > before;
  }, 5000);
  // Shared memory passes test_reader's check.
  const inspected = inspectSnapshot(await fetchSnapshot(dir), Date.now());
  assert.equal(inspected.bad, 0, `${what}: ${JSON.stringify(inspected.rows.filter((r) => r.problems.length > 0).map((r) => r.problems))}`);
  // Open files back near the baseline once the closing sockets are gone (1 s grace after an error).
  await waitFor(`${what}: open files back near ${baseline.fds}`, () => collectorFds() <= baseline.fds + FD_SLACK, 8000, 100);
  const rss = collectorRss();
  maxRss = Math.max(maxRss, rss);
  assert.ok(rss < baseline.rss + RSS_SLACK_BYTES, `${what}: RSS ${(rss / 2 ** 20).toFixed(0)} MiB vs baseline ${(baseline.rss / 2 ** 20).toFixed(0)} MiB`);
  counts.cases++;
}

/** One case: runs `body`, then the health checks. */
function hostileCase(name: string, body: () => Promise<void>, timeout = 60_000): void {
  test(name, { timeout }, async () => {
    try {
      await body();
      await stillHealthy(name);
    } catch (err) {
      // The collector's own account of what happened, for whoever reads a failure.
      console.log(`collector log (last lines):\n${proc.stderr().split('\n').slice(-15).join('\n')}`);
      throw err;
    }
  });
}

// ---------------------------------------------------------------- setup

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sentinel-robust-'));
  proc = startTs('collector/main.ts', [
    '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', TOKEN,
    '--capacity', String(CAPACITY), '--evict-after-s', '2', '--max-connections', String(MAX_CONNECTIONS),
    '--hello-timeout-ms', String(HELLO_TIMEOUT_MS), '--http-headers-timeout-ms', String(HTTP_HEADERS_TIMEOUT_MS),
    '--http-request-timeout-ms', '2000', '--http-max-connections', '64', '--log-level', 'warn',
  ]);
  proc.child.on('exit', (code, signal) => { if (code !== 0 || signal) counts.crashes++; });
  const agents = await waitForOutput(proc, /agents:\s+127\.0\.0\.1:(\d+)/, 30_000);
  agentPort = Number(agents[1]);
  httpBase = (await waitForOutput(proc, /dashboard: (http:\/\/\S+?)\/\s/))[1]!;
  canary = await open('127.0.0.2');
  canary.send(hello('canary', { interval_ms: 200 }));
  await canary.next('welcome');
  canaryTimer = setInterval(() => canary.send(sample(++canarySeq)), 200);
  // Let it settle, then take the baseline (probe registered once so its slot exists).
  const probe = await open();
  probe.send(hello('probe'));
  await probe.next('welcome');
  probe.close();
  await new Promise((r) => setTimeout(r, 1500));
  baseline = { fds: collectorFds(), rss: collectorRss() };
});

after(async () => {
  clearInterval(canaryTimer);
  canary?.close();
  const code = await proc?.stop('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  const codes = Object.fromEntries([...codesSeen].sort());
  console.log(`robustness: cases=${counts.cases} frames=${counts.frames} connections=${counts.connections} crashes=${counts.crashes} collector exit=${code} baseline fds=${baseline?.fds} rss=${((baseline?.rss ?? 0) / 2 ** 20).toFixed(0)} MiB, max rss=${(maxRss / 2 ** 20).toFixed(0)} MiB codes=${JSON.stringify(codes)}`);
  assert.equal(counts.crashes, 0);
});

// ---------------------------------------------------------------- framing

hostileCase('framing: declared length 0, max+1, 0xFFFFFFFF without a body', async () => {
  assert.equal(await refusal(Buffer.from('00000000', 'hex')), ERROR_CODES.FRAME_EMPTY);
  assert.equal(await refusal(Buffer.from('00001001', 'hex')), ERROR_CODES.FRAME_TOO_LARGE, 'hello limit 4096 + 1');
  assert.equal(await refusal(Buffer.from('00010001', 'hex'), { afterHello: true }), ERROR_CODES.FRAME_TOO_LARGE, 'session limit 65536 + 1');
  assert.equal(await refusal(Buffer.from('ffffffff', 'hex')), ERROR_CODES.FRAME_TOO_LARGE);
  assert.equal(await refusal(Buffer.from('ffffffff', 'hex'), { afterHello: true }), ERROR_CODES.FRAME_TOO_LARGE);
});

hostileCase('framing: a header then silence is closed at the hello deadline', async () => {
  const t0 = performance.now();
  assert.equal(await refusal(Buffer.from('00000100', 'hex'), { timeoutMs: HELLO_TIMEOUT_MS + 3000 }), ERROR_CODES.HELLO_TIMEOUT);
  const ms = performance.now() - t0;
  assert.ok(ms >= HELLO_TIMEOUT_MS - 50 && ms < HELLO_TIMEOUT_MS + 1500, `closed after ${ms.toFixed(0)} ms`);
});

hostileCase('framing: a frame cut short, then the peer leaves; trailing bytes after the map', async () => {
  const c = await open();
  c.sendBytes(frame(hello('cut')).subarray(0, 20));
  counts.frames++;
  c.close();
  const withTrailer = Buffer.concat([frame(hello('trail')), Buffer.from('c0c0', 'hex')]);
  withTrailer.writeUInt32BE(withTrailer.length - 4, 0);
  assert.equal(await refusal(withTrailer), ERROR_CODES.FRAME_MALFORMED);
});

// ---------------------------------------------------------------- msgpack bombs

hostileCase('msgpack: array32/str32/bin32/map32 headers claiming billions; deep nesting', async () => {
  // Bodies after a valid hello, inside a map: {"a": <bomb>}.
  const inMap = (hex: string): Buffer => frameHex(`81 a1 61 ${hex}`);
  assert.equal(await refusal(frameHex('dd ffffffff')), ERROR_CODES.FRAME_NOT_MAP);
  for (const bomb of ['dd ffffffff', 'db ffffffff', 'c6 ffffffff', 'df ffffffff', 'dc ffff', 'de ffff']) {
    const code = await refusal(inMap(bomb), { afterHello: true });
    assert.ok(code === ERROR_CODES.FRAME_MALFORMED || code === ERROR_CODES.FRAME_FORBIDDEN_TYPE, `${bomb}: ${code}`);
  }
  assert.equal(await refusal(frameHex(`df ffffffff`)), ERROR_CODES.FRAME_MALFORMED, 'map32 of 4 billion at the top');
  const deep = (header: string, n: number): Buffer => frameHex(`81 a1 61 ${header.repeat(n)} c0`);
  assert.equal(await refusal(deep('91', 40_000), { afterHello: true }), ERROR_CODES.FRAME_TOO_DEEP, '40,000 nested fixarrays');
  assert.equal(await refusal(deep('dc0001', 20_000), { afterHello: true }), ERROR_CODES.FRAME_TOO_DEEP, '20,000 nested array16');
});

hostileCase('msgpack: every extension type is refused, not built', async () => {
  // fixext 1/2/4/8/16 and ext 8/16/32, with the type ids msgpackr would turn into objects
  // (0x65 Error, 0x78 RegExp, 0x73 Set, 0x74 typed arrays, 0x42 BigInt, 0x69/0x70 structured
  // clone and pointers, 0x72 records, -1 timestamp) and a few others.
  const types = ['ff', '65', '78', '73', '74', '42', '69', '70', '72', '62', '00', '7f', '40'];
  const shapes = (t: string): string[] => [`d4 ${t} 00`, `d5 ${t} 0000`, `d6 ${t} 00000000`, `d7 ${t} ${'00'.repeat(8)}`, `d8 ${t} ${'00'.repeat(16)}`, `c7 02 ${t} 0000`, `c8 0002 ${t} 0000`, `c9 00000002 ${t} 0000`];
  for (const t of types) {
    for (const ext of shapes(t)) {
      assert.equal(await refusal(frameHex(`81 a1 61 ${ext}`), { afterHello: true }), ERROR_CODES.FRAME_FORBIDDEN_TYPE, ext);
    }
  }
}, 120_000);

hostileCase('msgpack: prototype keys, duplicate keys, non-string keys, invalid UTF-8', async () => {
  const cases: Array<[string, string]> = [
    ['81 a9 5f5f70726f746f5f5f 81 a8 706f6c6c75746564 c3', ERROR_CODES.FRAME_FORBIDDEN_KEY], // {"__proto__": {"polluted": true}}
    ['81 ab 636f6e7374727563746f72 80', ERROR_CODES.FRAME_FORBIDDEN_KEY],
    ['81 a9 70726f746f74797065 80', ERROR_CODES.FRAME_FORBIDDEN_KEY],
    ['82 a1 61 01 a1 61 02', ERROR_CODES.FRAME_FORBIDDEN_KEY],
    ['81 01 02', ERROR_CODES.FRAME_FORBIDDEN_KEY],
    ['81 a2 c328 01', ERROR_CODES.FRAME_MALFORMED],
    ['81 a1 61 a3 eda080', ERROR_CODES.FRAME_MALFORMED],
  ];
  for (const [hex, code] of cases) {
    assert.equal(await refusal(frameHex(hex)), code, `before hello: ${hex}`);
    assert.equal(await refusal(frameHex(hex), { afterHello: true }), code, `after hello: ${hex}`);
  }
  // The collector's Object.prototype is out of reach; what can be seen is that it still works.
});

// ---------------------------------------------------------------- protocol

hostileCase('protocol: wrong types, missing fields, 10,000 unknown keys, samples before hello, a second hello', async () => {
  const { type: _t, ...noType } = hello('x');
  assert.equal(await refusal(frame(noType)), ERROR_CODES.PROTO_BAD_FIELD);
  assert.equal(await refusal(frame({ ...hello('x'), host: 42 })), ERROR_CODES.PROTO_BAD_FIELD);
  assert.equal(await refusal(frame({ ...hello('x'), token: ['a'] })), ERROR_CODES.PROTO_BAD_FIELD);
  assert.equal(await refusal(frame({ ...hello('x'), interval_ms: 'fast' })), ERROR_CODES.PROTO_BAD_FIELD);
  const { token: _k, ...noToken } = hello('x');
  assert.equal(await refusal(frame(noToken)), ERROR_CODES.PROTO_BAD_FIELD);
  assert.equal(await refusal(frame(sample(1))), ERROR_CODES.PROTO_UNEXPECTED, 'a sample before the hello');
  assert.equal(await refusal(frame(hello('y')), { afterHello: true }), ERROR_CODES.PROTO_UNEXPECTED, 'a second hello');
  assert.equal(await refusal(frame({ type: 'exec', cmd: 'rm -rf /' }), { afterHello: true }), ERROR_CODES.PROTO_UNKNOWN_TYPE);
  const many: Message = { type: 'sample', seq: 1, ts: Date.now() };
  for (let i = 0; i < 10_000; i++) many[i.toString(36)] = 0; // short keys: the frame stays under 64 KiB

  assert.equal(await refusal(frame(many), { afterHello: true }), ERROR_CODES.FRAME_MALFORMED, '10,000 keys > the map limit');
  assert.equal(await refusal(frame({ ...sample(1), seq: 'one' }), { afterHello: true }), ERROR_CODES.PROTO_BAD_FIELD);
  const { seq: _s, ...noSeq } = sample(1);
  assert.equal(await refusal(frame(noSeq), { afterHello: true }), ERROR_CODES.PROTO_BAD_FIELD);
});

hostileCase('protocol: NaN, ±Infinity, above 2^53, negative, % out of range, used > total, far timestamps', async () => {
  const bad: Message[] = [
    { cpu_pct: Number.NaN }, { cpu_pct: Number.POSITIVE_INFINITY }, { load_1m: Number.NEGATIVE_INFINITY },
    { mem_total_bytes: 2 ** 60, mem_used_bytes: 1, mem_available_bytes: 1 }, { swap_total_bytes: -1 },
    { cpu_pct: 100.5 }, { cpu_pct: -0.1 }, { mem_used_bytes: 2000 }, { swap_total_bytes: 10, swap_used_bytes: 11 },
    { mem_total_bytes: 1000.5 }, { ts: 2 ** 60 }, { ts: -5 }, { ts: 0 }, { uptime_s: Number.NaN },
  ];
  for (const b of bad) {
    assert.equal(await refusal(frame(sample(1, b)), { afterHello: true }), ERROR_CODES.PROTO_BAD_FIELD, JSON.stringify(b));
  }
  // A timestamp far off is not refused (a homelab box without a clock must still be watched) but noted.
  const c = await open();
  c.send(hello('skewed-clock'));
  await c.next('welcome');
  c.send(sample(1, { ts: Date.now() + 3 * 86_400_000 }));
  await waitFor('the clock note', async () => (await hosts()).hosts.find((h) => h.name === 'skewed-clock' && /agent clock \d+ s ahead/.test(h.note)));
  c.close();
});

hostileCase('protocol: a replayed session never overwrites the newer reading', async () => {
  const t = Date.now();
  const frames = [frame(hello('replayed')), frame(sample(1, { ts: t - 5000, cpu_pct: 11 })), frame(sample(2, { ts: t - 4000, cpu_pct: 12 }))];
  // Nothing but the hello may precede the welcome, so both sessions wait for it.
  const first = await open();
  first.sendBytes(frames[0]!);
  await first.next('welcome');
  for (const f of frames.slice(1)) first.sendBytes(f);
  first.send(sample(3, { ts: t, cpu_pct: 13 }));
  await waitFor('the newest reading', async () => (await hosts()).hosts.find((h) => h.name === 'replayed' && h.cpu_pct === 13));
  first.close();
  await waitFor('offline', async () => (await hosts()).hosts.find((h) => h.name === 'replayed' && h.status === 'offline'));
  const replay = await open();
  replay.sendBytes(frames[0]!);
  await replay.next('welcome');
  for (const f of frames.slice(1)) replay.sendBytes(f);
  await new Promise((r) => setTimeout(r, 300));
  const h = (await hosts()).hosts.find((x) => x.name === 'replayed')!;
  assert.equal(h.cpu_pct, 13, 'the replayed samples were dropped');
  assert.equal(h.samples_total, 3);
  replay.close();
});

// ---------------------------------------------------------------- host names

hostileCase('host names: markup, quotes and backslashes are kept as text; controls, ANSI, NUL, RLO, 64 KiB and empty are refused', async () => {
  const kept = ['<script>alert(1)</script>', '"quoted" \'name\'', 'back\\slash', '</td><img src=x onerror=alert(1)>', '${jndi:ldap://x}', '; rm -rf / #'];
  for (const name of kept) {
    const c = await open();
    c.send(hello(name));
    await c.next('welcome');
    c.close();
  }
  const listed = (await hosts()).hosts.map((h) => h.name);
  for (const name of kept) assert.ok(listed.includes(name), `${name} listed verbatim in the JSON`);
  const refused: Array<[string, string]> = [
    ['line\nfeed', ERROR_CODES.PROTO_BAD_FIELD], ['ansi\u001b[31mred', ERROR_CODES.PROTO_BAD_FIELD], ['nul\u0000byte', ERROR_CODES.PROTO_BAD_FIELD],
    ['rlo\u202egnp.exe', ERROR_CODES.PROTO_BAD_FIELD], ['', ERROR_CODES.PROTO_BAD_FIELD], [' padded', ERROR_CODES.PROTO_BAD_FIELD],
    ['zero\u200bwidth', ERROR_CODES.PROTO_BAD_FIELD], ['x'.repeat(254), ERROR_CODES.PROTO_BAD_FIELD], ['x'.repeat(64 * 1024), ERROR_CODES.FRAME_TOO_LARGE],
  ];
  for (const [name, code] of refused) assert.equal(await refusal(frame(hello(name))), code, JSON.stringify(name.slice(0, 20)));
  // The log escapes what it quotes: no raw ESC or newline from an agent reaches stderr.
  assert.ok(!proc.stderr().includes('\u001b'), 'no raw escape sequence in the log');
  const metrics = await httpRequest(`${httpBase}/metrics`);
  assert.match(metrics.body, /host="\\"quoted\\" 'name'"/);
  assert.match(metrics.body, /host="back\\\\slash"/);
});

hostileCase('capacity: more distinct hosts than slots; live hosts keep theirs; one agent renaming itself every second', async () => {
  // Every host left offline by earlier cases is now evictable (--evict-after-s 2), so the flood
  // first takes those slots, then is refused: from then on every slot is live.
  await new Promise((r) => setTimeout(r, 2500));
  const held: RawClient[] = [];
  let refusedInARow = 0;
  let welcomed = 0;
  try {
    for (let i = 0; refusedInARow < 10; i++) {
      assert.ok(i < 300, 'the flood was never refused');
      const c = await open();
      c.send(hello(`flood-${i}`));
      const reply = await waitFor('a reply', () => c.messages[0]);
      if (reply['type'] === 'welcome') {
        welcomed++;
        refusedInARow = 0;
        held.push(c);
      } else {
        assert.equal(reply['code'], ERROR_CODES.CAPACITY_FULL);
        refusedInARow++;
        c.close();
      }
    }
    // Renaming every second while every slot is live: refused each time, nobody evicted.
    for (let i = 0; i < 3; i++) {
      assert.equal(await refusal(frame(hello(`renamer-${i}`))), ERROR_CODES.CAPACITY_FULL);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const names = new Set((await hosts()).hosts.map((h) => h.name));
    assert.ok(names.has('canary'), 'the live canary kept its slot');
    assert.equal(held.filter((_, i) => !names.has(String(held[i]!.messages[0]!['host']))).length, 0, 'every live flood host kept its slot');
    assert.equal(names.size, CAPACITY);
  } finally {
    for (const c of held) c.close();
  }
  // Once the flood has been offline for --evict-after-s, the renamer gets slots from it.
  await new Promise((r) => setTimeout(r, 2500));
  for (let i = 3; i < 6; i++) {
    const c = await open();
    c.send(hello(`renamer-${i}`));
    assert.equal((await c.next('welcome'))['host'], `renamer-${i}`);
    c.close();
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.ok(welcomed > 0);
  // The probe's slot may have gone to the flood: wait until a slot is evictable for it again.
  await new Promise((r) => setTimeout(r, 2100));
}, 60_000);

// ---------------------------------------------------------------- credentials

hostileCase('credentials: a thousand wrong tokens from one address are rate-limited; other addresses carry on', async () => {
  const from = nextAddress();
  const codes = new Map<string, number>();
  for (let i = 0; i < 1000; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => refusal(frame(hello(`w${i + j}`, { token: `wrong-${i + j}` })), { from })));
    for (const code of batch) codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  const n = (code: string): number => codes.get(code) ?? 0;
  assert.equal(n(ERROR_CODES.AUTH_FAILED) + n(ERROR_CODES.RATE_LIMITED) + n(ERROR_CODES.TOO_MANY_CONNECTIONS), 1000, JSON.stringify([...codes]));
  // A burst of 50 is in flight at once: about --max-pending-per-address (32) of it is checked
  // before the limit bites (a few more when early failures free their pending places before the
  // rest of the burst arrives, as on a loaded machine), the rest is told to wait; after the
  // first burst, everything is refused.
  assert.ok(n(ERROR_CODES.AUTH_FAILED) <= 50, JSON.stringify([...codes]));
  assert.ok(n(ERROR_CODES.RATE_LIMITED) >= 900, JSON.stringify([...codes]));
});

// ---------------------------------------------------------------- slow peers and floods

hostileCase('slow senders: one byte every 300 ms on the agent port and on HTTP are closed at their deadlines', async () => {
  const hello1 = frame(hello('slowpoke'));
  const agentSlow = await open();
  const httpSlow = connect({ port: Number(new URL(httpBase).port), host: '127.0.0.1' });
  httpSlow.on('error', () => {});
  let httpClosedAt = 0;
  httpSlow.on('close', () => { httpClosedAt = performance.now(); });
  const t0 = performance.now();
  let i = 0;
  const request = Buffer.from('GET /api/hosts HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(100) + '\r\n\r\n');
  const drip = setInterval(() => {
    if (!agentSlow.closed && i < hello1.length) agentSlow.sendBytes(hello1.subarray(i, i + 1));
    if (!httpSlow.destroyed && i < request.length) httpSlow.write(request.subarray(i, i + 1));
    i++;
  }, 300);
  try {
    await agentSlow.waitClosed(HELLO_TIMEOUT_MS + 3000);
    const agentMs = performance.now() - t0;
    assert.equal(agentSlow.messages[0]?.['code'], ERROR_CODES.HELLO_TIMEOUT);
    assert.ok(agentMs < HELLO_TIMEOUT_MS + 1500, `agent port closed after ${agentMs.toFixed(0)} ms`);
    await waitFor('the slow HTTP client to be closed', () => httpClosedAt > 0, HTTP_HEADERS_TIMEOUT_MS + 4000);
    const httpMs = httpClosedAt - t0;
    assert.ok(httpMs < HTTP_HEADERS_TIMEOUT_MS + 2500, `HTTP closed after ${httpMs.toFixed(0)} ms`);
  } finally {
    clearInterval(drip);
    agentSlow.close();
    httpSlow.destroy();
  }
});

hostileCase('HTTP: 17 KiB of headers get 431; other methods 405; the page and API keep answering', async () => {
  const big = await httpRequest(`${httpBase}/api/hosts`, { headers: { 'x-big': 'a'.repeat(17 * 1024) } }).catch((e: Error) => e);
  assert.ok(!(big instanceof Error), String(big));
  assert.equal(big.status, 431);
  assert.equal((await httpRequest(`${httpBase}/api/hosts`, { method: 'POST', body: 'x' })).status, 405);
  assert.equal((await httpRequest(`${httpBase}/`)).status, 200);
});

hostileCase('floods: connections beyond the cap are refused at once, HTTP connections beyond its cap too', async () => {
  const sockets: Socket[] = [];
  const refused: string[] = [];
  try {
    const opened = await Promise.all(Array.from({ length: MAX_CONNECTIONS + 50 }, () => open().catch(() => null)));
    for (const c of opened) if (c) sockets.push(c.socket);
    await waitFor('the refusals', () => {
      const n = opened.filter((c) => c?.messages.some((m) => m['code'] === ERROR_CODES.TOO_MANY_CONNECTIONS)).length;
      return n >= 40 ? n : 0;
    }, 5000);
    for (const c of opened) for (const m of c?.messages ?? []) refused.push(String(m['code']));
    // HTTP: 64 held connections, then more: the extra ones are dropped, the server stays up.
    const port = Number(new URL(httpBase).port);
    let httpDropped = 0;
    for (let i = 0; i < 80; i++) {
      const s = connect({ port, host: '127.0.0.1' });
      s.on('error', () => {});
      s.on('close', () => httpDropped++);
      sockets.push(s);
    }
    await waitFor('HTTP connections beyond --http-max-connections (64) to be dropped', () => httpDropped >= 16, 3000);
  } finally {
    for (const s of sockets) s.destroy();
  }
  assert.ok(refused.filter((c) => c === ERROR_CODES.TOO_MANY_CONNECTIONS).length >= 40);
});

// ---------------------------------------------------------------- fuzz over TCP

hostileCase(`fuzz: ${TCP_FUZZ_FRAMES} seeded random and mutated frames over real connections`, async () => {
  const seed = Number(process.env['SENTINEL_FUZZ_SEED'] ?? 20261122);
  const fuzzer = new FrameFuzzer(seed);
  const random = seededRandom(seed + 1);
  const PARALLEL = 16;
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < TCP_FUZZ_FRAMES) {
      const c = await open();
      // Half the connections start with a valid hello so that mutated samples reach the session code.
      if (random() < 0.5) {
        c.send(hello(`fuzz-${addrCounter % 8}`));
        await waitFor('a reply', () => c.messages[0] ?? (c.closed ? { type: 'closed' } : null), 5000).catch(() => null);
      }
      for (let i = 0; i < 64 && !c.closed && sent < TCP_FUZZ_FRAMES; i++) {
        const f = fuzzer.next();
        c.sendBytes(f.frame);
        sent++;
        counts.frames++;
        if (i % 8 === 7) await new Promise((r) => setImmediate(r));
      }
      await new Promise((r) => setTimeout(r, 5));
      c.close();
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  assert.equal(proc.child.exitCode, null);
}, 240_000);

test('test_reader, the real program, passes its consistency check at the end', async () => {
  const r = await runTs('scripts/test_reader.ts', ['--data-dir', dir], 30_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /consistency: all slots pass/);
});
