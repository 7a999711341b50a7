/**
 * The fleet benchmark (scripts/bench/fleet.ts) run for real at a tiny size: 30 simulated agents
 * in 2 child processes against a collector in the benchmark's process (ports from the system), a
 * 3-second window, the probe watching 10 of the 30 slots, then 2 s against the floor sink; the
 * JSON it writes must hold sane figures.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StepResult } from '../../scripts/bench/fleet.ts';
import { runTs } from '../helpers/procs.ts';

test('fleet bench at 30 agents for 3 s: all held, samples landed, no errors, finite latencies', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-fleet-test-'));
  try {
    const out = join(dir, 'fleet.json');
    const r = await runTs('scripts/bench/fleet.ts', ['--agents', '30', '--seconds', '3', '--procs', '2', '--probe-slots', '10', '--floor-seconds', '2', '--out', out], 50_000);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const j = JSON.parse(readFileSync(out, 'utf8')) as { machine: { cores: number }; steps: StepResult[]; projection: Record<string, unknown> };
    assert.ok(j.machine.cores >= 1);
    assert.equal(j.steps.length, 1);
    const s = j.steps[0]!;
    assert.equal(s.agents, 30);
    assert.equal(s.procs, 2);
    assert.equal(s.held.at_end, 30);
    assert.equal(s.held.min, 30);
    assert.equal(s.errors.total, 0, JSON.stringify(s.errors));
    // 30 agents at 1 sample/s: about 30 a second, sent and landed.
    assert.ok(s.samples_per_s.landed > 15 && s.samples_per_s.landed < 45, `landed/s ${s.samples_per_s.landed}`);
    assert.ok(s.samples_per_s.sent > 15 && s.samples_per_s.sent < 45, `sent/s ${s.samples_per_s.sent}`);
    const shm = s.latency_send_to_shm;
    // Every third slot: 10 watched, a third of the samples seen.
    assert.equal(shm.probe_slots, 10);
    assert.ok(shm.count > 15, `probe saw ${shm.count} samples`);
    const seenShare = s.samples_per_s.seen_by_probe / s.samples_per_s.landed;
    assert.ok(seenShare > 0.2 && seenShare < 0.5, `the probe saw ${seenShare} of the samples landed`);
    for (const v of [shm.p50_ms, shm.p99_ms, shm.max_ms]) assert.ok(Number.isFinite(v) && v! >= 0 && v! < 10_000, `shm latency ${v}`);
    const sse = s.latency_send_to_sse;
    assert.ok(sse.events >= 1, 'no event with hosts on the stream');
    assert.ok(sse.count > 0, 'the event stream never showed a new sample time');
    for (const v of [sse.p50_ms, sse.p99_ms, sse.max_ms]) assert.ok(Number.isFinite(v) && v! >= 0 && v! < 10_000, `SSE latency ${v}`);
    assert.ok(s.cpu_pct.collector > 0 && s.cpu_pct.collector < 200, `CPU ${s.cpu_pct.collector}`);
    assert.ok(s.rss_bytes.max > 10 * 1024 * 1024, `RSS ${s.rss_bytes.max}`);
    assert.ok(s.ramp_s > 0 && s.ramp_s < 30);
    assert.ok('agents_at_35pct' in j.projection);
    const eld = s.event_loop_delay_ms;
    assert.ok(eld.p50 > 0 && eld.p50 <= eld.p99 && eld.p99 <= eld.max && eld.max < 10_000, `event-loop delay ${JSON.stringify(eld)}`);
    // The floor: the same 30 agents into the bare sink, every one welcomed, every sample decoded.
    const f = s.floor!;
    assert.ok(f !== null, 'the floor ran');
    assert.equal(f.welcomed, 30);
    assert.equal(f.errors, 0);
    assert.ok(f.samples_per_s > 15 && f.samples_per_s < 45, `floor samples/s ${f.samples_per_s}`);
    assert.ok(Number.isFinite(f.us_per_sample) && f.us_per_sample >= 0, `floor µs ${f.us_per_sample}`);
    assert.ok(s.us_per_sample.main_thread > 0 && s.us_per_sample.collector >= s.us_per_sample.main_thread * 0.5, JSON.stringify(s.us_per_sample));
    assert.match(r.stdout, /floor \(the same agents into a sink that only reads, frames and decodes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
