/** The pure parts of the fleet benchmark (scripts/bench/fleet_lib.ts), table-driven. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  cpuPercent, fitLine, frameTemplate, HISTOGRAM_MAX_MS, LatencyHistogram, loopbackAddress, MAX_AGENTS_PER_ADDRESS, MAX_AGENTS_PER_PROC,
  DEFAULT_FLOOR_SECONDS, DEFAULT_PROBE_SLOTS, mappingRssBytes, maxAgentsForFdLimit, parseFleetArgs, parseOpenFileLimit, parseStat, parseVmRssBytes, patchFrame, percentile, planFleet, projectFleet,
  QUICK, SampleTimes, SseParser, withoutProfiling,
} from '../../scripts/bench/fleet_lib.ts';
import { decodeBody } from '../../shared/frame_codec.ts';
import { parseSample } from '../../shared/protocol.ts';

test('histogram: nearest-rank percentiles, max, negatives, overflow bucket', () => {
  const h = new LatencyHistogram();
  for (let i = 1; i <= 100; i++) h.record(i);
  h.record(-3);
  h.record(10 * HISTOGRAM_MAX_MS);
  // Sorted: 0 (the -3), 1..100, the overflow: rank ceil(0.99 x 102) = 101 is 100.
  assert.deepEqual(h.summary(), { count: 102, p50_ms: 50, p99_ms: 100, max_ms: 10 * HISTOGRAM_MAX_MS, negative: 1 });
  assert.equal(h.percentile(100), HISTOGRAM_MAX_MS);
  assert.deepEqual(new LatencyHistogram().summary(), { count: 0, p50_ms: null, p99_ms: null, max_ms: null, negative: 0 });
});

test('histogram: survives JSON (an IPC message) and merges exactly', () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  [1, 1, 2, 7].forEach((v) => a.record(v));
  [3, 900].forEach((v) => b.record(v));
  const back = LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
  assert.deepEqual(back.summary(), a.summary());
  back.merge(LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(b.toJSON()))));
  assert.deepEqual(back.summary(), { count: 6, p50_ms: 2, p99_ms: 900, max_ms: 900, negative: 0 });
  // An empty histogram's max (-Infinity) becomes null in JSON.
  assert.equal(LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(new LatencyHistogram().toJSON()))).summary().max_ms, null);
});

test('percentile of plain values', () => {
  for (const [name, values, p, want] of [
    ['empty', [], 50, null], ['one', [4], 99, 4], ['median of 4', [4, 1, 3, 2], 50, 2], ['p99 of 1..1000', Array.from({ length: 1000 }, (_, i) => i + 1), 99, 990],
  ] as const) assert.equal(percentile(values, p), want, name);
});

test('planFleet: processes of at most 5,000, addresses of at most 4,000, every agent once', () => {
  for (const [agents, procs] of [[1, 1], [30, 1], [30, 4], [1000, 1], [10_000, 1], [19_000, 1], [19_000, 6], [5001, 1]] as const) {
    const plan = planFleet(agents, procs);
    assert.equal(plan.reduce((n, p) => n + p.count, 0), agents, `${agents}/${procs}: total`);
    assert.ok(plan.length >= Math.min(agents, procs), `${agents}/${procs}: at least the processes asked`);
    let first = 0;
    const seen = new Set<string>();
    for (const p of plan) {
      assert.equal(p.firstIndex, first);
      first += p.count;
      assert.ok(p.count <= MAX_AGENTS_PER_PROC && p.count >= 1);
      assert.ok(Math.ceil(p.count / p.addresses.length) <= MAX_AGENTS_PER_ADDRESS);
      for (const a of p.addresses) { assert.ok(!seen.has(a), `address ${a} shared`); seen.add(a); assert.notEqual(a, '127.0.0.1'); }
    }
    assert.ok(Math.max(...plan.map((p) => p.count)) - Math.min(...plan.map((p) => p.count)) <= 1, 'even split');
  }
  assert.equal(planFleet(19_000).length, 4);
  assert.throws(() => planFleet(0), RangeError);
  assert.equal(loopbackAddress(2), '127.0.0.2');
  assert.equal(loopbackAddress(258), '127.0.1.2');
  assert.equal(maxAgentsForFdLimit(20_000), 19_000);
});

test('/proc parsing: stat with a hostile command name, VmRSS, open-file limit, CPU share', () => {
  const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 9000 0 12 0 1234 567 0 0 20 0 11 0 100 1000000 25000 18446744073709551615';
  assert.deepEqual(parseStat(stat), { utime: 1234, stime: 567 });
  assert.throws(() => parseStat('garbage'));
  assert.equal(parseVmRssBytes('Name:\tnode\nVmRSS:\t  123456 kB\nVmSwap:\t0 kB\n'), 123456 * 1024);
  assert.equal(parseVmRssBytes('Name:\tzombie\n'), null);
  const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n';
  assert.equal(parseOpenFileLimit(limits), 20_000);
  assert.equal(parseOpenFileLimit('Max open files            unlimited            unlimited            files\n'), null);
  assert.ok(Math.abs(cpuPercent(35, 10_000) - 3.5) < 1e-9);
});

test('mappingRssBytes: the resident pages of the mapping that holds a buffer, in a real /proc/self/smaps', () => {
  const bytes = 64 * 1024 * 1024 + 12_345;
  const sab = new SharedArrayBuffer(bytes);
  new Uint8Array(sab).fill(1, 0, 8 * 1024 * 1024); // 8 MiB touched
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const rss = mappingRssBytes(smaps, sab.byteLength);
  assert.ok(rss !== null && rss >= 8 * 1024 * 1024 && rss < 9 * 1024 * 1024, `resident ${rss}`);
  assert.equal(mappingRssBytes(smaps, 3 * 1024 ** 4), null, 'no mapping of 3 TiB');
  const made = '7f0000000000-7f0004001000 rw-p 00000000 00:00 0 \nSize:              65540 kB\nRss:                1024 kB\n';
  assert.equal(mappingRssBytes(made, 64 * 1024 * 1024), 1024 * 1024);
});

test('SseParser: events split at every offset give the same events', () => {
  const text = 'retry: 2000\n\nevent: hosts\ndata: {"hosts":[]}\n\n: comment\n\nevent: delta\ndata: {"a":1}\n\ndata: x\n\n';
  const want = [{ event: 'hosts', data: '{"hosts":[]}' }, { event: 'delta', data: '{"a":1}' }, { event: 'message', data: 'x' }];
  for (let cut = 0; cut <= text.length; cut++) {
    const p = new SseParser();
    assert.deepEqual([...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))], want, `cut at ${cut}`);
  }
  const p = new SseParser();
  assert.deepEqual([...text].flatMap((ch) => p.push(ch)), want, 'one character at a time');
});

test('SampleTimes: a host counts when its sample time is newer than last seen, not at first sight, not backwards', () => {
  const t = new SampleTimes();
  assert.deepEqual(t.observe({ hosts: [{ name: 'a', sample_ts_ms: 10 }, { name: 'b', sample_ts_ms: null }] }), []);
  assert.deepEqual(t.observe({ hosts: [{ name: 'a', sample_ts_ms: 10 }, { name: 'b', sample_ts_ms: 5 }] }), []);
  // A delta event carries only the hosts that changed.
  assert.deepEqual(t.observe({ hosts: [{ name: 'b', sample_ts_ms: 6 }] }), [{ name: 'b', sampleTsMs: 6 }]);
  assert.deepEqual(t.observe({ hosts: [{ name: 'a', sample_ts_ms: 11 }, { name: 'b', sample_ts_ms: 6 }] }), [{ name: 'a', sampleTsMs: 11 }]);
  // A snapshot staler than the delta before it: not a sample, counted.
  assert.deepEqual(t.observe({ hosts: [{ name: 'a', sample_ts_ms: 11 }, { name: 'b', sample_ts_ms: 5 }] }), []);
  assert.equal(t.regressions, 1);
  assert.deepEqual(t.observe({ alerts: [] }), []);
  assert.deepEqual(t.observe(null), []);
});

test('frame template: ~590 bytes, patched seq and ts decode and pass the protocol', () => {
  const tpl = frameTemplate();
  assert.ok(tpl.frame.length >= 500 && tpl.frame.length <= 650, `frame of ${tpl.frame.length} bytes`);
  const f = Buffer.from(tpl.frame);
  for (const [seq, ts] of [[1, 1_795_000_000_001], [4_000_000_000, Date.now()]] as const) {
    patchFrame(tpl, f, seq, ts);
    const m = decodeBody(f.subarray(4));
    assert.equal(m['seq'], seq);
    assert.equal(m['ts'], ts);
    assert.ok(Number.isInteger(m['ts']));
    assert.doesNotThrow(() => parseSample(m));
  }
});

test('parseFleetArgs: defaults, max, quick, bad values', () => {
  assert.deepEqual(parseFleetArgs([], 19_000).agents, [1000, 10_000, 19_000]);
  assert.equal(parseFleetArgs([], 19_000).seconds, 60);
  const o = parseFleetArgs(['--agents', '30,max', '--seconds=3', '--procs', '2', '--out', 'x.json'], 500);
  assert.deepEqual([o.agents, o.seconds, o.procs, o.out], [[30, 500], 3, 2, 'x.json']);
  assert.equal(o.historyS, null, 'the collector keeps its own default history');
  assert.equal(parseFleetArgs(['--history-s', '60'], 19_000).historyS, 60);
  assert.equal(parseFleetArgs([], 19_000).probeSlots, DEFAULT_PROBE_SLOTS);
  assert.equal(parseFleetArgs(['--probe-slots', '19000'], 19_000).probeSlots, 19_000);
  assert.equal(parseFleetArgs([], 19_000).reads, 'static', 'the collector as it ships');
  assert.equal(parseFleetArgs(['--reads', 'data'], 19_000).reads, 'data');
  assert.equal(parseFleetArgs([], 19_000).floorSeconds, DEFAULT_FLOOR_SECONDS);
  assert.equal(parseFleetArgs(['--floor-seconds', '0'], 19_000).floorSeconds, 0, '0 turns the floor off');
  const q = parseFleetArgs(['--quick'], 19_000);
  assert.deepEqual([q.agents, q.seconds, q.quick, q.floorSeconds], [[...QUICK.agents], QUICK.seconds, true, QUICK.floorSeconds]);
  assert.equal(parseFleetArgs(['--quick', '--floor-seconds', '7'], 19_000).floorSeconds, 7);
  assert.deepEqual(parseFleetArgs(['--quick', '--agents', '30'], 19_000).agents, [30]);
  for (const bad of [['--agents', '0'], ['--agents', '20000'], ['--seconds', 'x'], ['--seconds'], ['--frobnicate'], ['--history-s', '59'], ['--probe-slots', '0'], ['--reads', 'stream'], ['--floor-seconds', '-1']]) {
    assert.throws(() => parseFleetArgs(bad, 19_000), RangeError, bad.join(' '));
  }
});

test('projection: a line through the steps; through the origin with one step', () => {
  assert.deepEqual(fitLine([1, 2, 3], [3, 5, 7]), { a: 1, b: 2 });
  assert.deepEqual(fitLine([10], [5]), { a: 0, b: 0.5 });
  const p = projectFleet([
    { agents: 1000, cpuPct: 3, rssBytes: 120e6, rssBeforeBytes: 100e6 },
    { agents: 10_000, cpuPct: 21, rssBytes: 300e6, rssBeforeBytes: 100e6 },
  ]);
  assert.ok(Math.abs(p.cpu_pct_per_1000_agents - 2) < 1e-9);
  assert.ok(Math.abs(p.cpu_base_pct - 1) < 1e-9);
  assert.equal(p.agents_at_35pct, 17_000);
  assert.equal(p.agents_at_100pct, 49_500);
  assert.ok(Math.abs(p.rss_bytes_per_agent - 20_000) < 1e-6);
  assert.ok(Math.abs(p.rss_bytes_at_35pct! - (100e6 + 17_000 * 20_000)) < 1);
  assert.equal(projectFleet([{ agents: 100, cpuPct: 0, rssBytes: 1, rssBeforeBytes: 1 }]).agents_at_35pct, null);
});

test('simulators run without the collector\'s profiling flags, in either form, and keep the rest', () => {
  assert.deepEqual(withoutProfiling(['--import', 'tsx', '--cpu-prof', '--cpu-prof-interval', '500', '--cpu-prof-dir=/tmp/p', '--heap-prof-dir', 'out', '--max-old-space-size=512']),
    ['--import', 'tsx', '--max-old-space-size=512']);
  assert.deepEqual(withoutProfiling(['--trace-gc', '--trace-event-categories', 'v8', '--enable-source-maps']), ['--enable-source-maps']);
  assert.deepEqual(withoutProfiling([]), []);
});
