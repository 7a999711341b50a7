/**
 * Pure helpers of the fleet benchmark (scripts/bench/fleet.ts): latency histograms, the plan that
 * spreads simulated agents over processes and loopback addresses, /proc parsing, the SSE parser,
 * the pre-encoded sample frame, the command line and the projection. No sockets, no timers.
 */
import { encodeFrame } from '../../shared/frame_codec.ts';

/** Linux reports CPU times in /proc in USER_HZ ticks, fixed at 100 on every mainstream architecture. */
export const TICKS_PER_SECOND = 100;

/** Most simulated agents one child process holds: each is one fd there, and one event-loop share. */
export const MAX_AGENTS_PER_PROC = 5000;

/** Agent connections from one loopback source address (its ephemeral ports are one pool per address and destination). */
export const MAX_AGENTS_PER_ADDRESS = 4000;

/** fds the collector process keeps for itself under the open-file limit: stdio, epoll, listeners, IPC pipes, the data directory, tsx. */
export const FD_RESERVE = 1000;

/** Latencies above this land in the histogram's last bucket, ms. */
export const HISTOGRAM_MAX_MS = 60_000;

// ---- Latency histogram --------------------------------------------------------------------

export interface LatencySummary {
  count: number;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  /** Latencies below 0 (clock steps), counted as 0. */
  negative: number;
}

/**
 * Latencies in whole milliseconds, one bucket per ms: constant memory for millions of samples,
 * and histograms of several processes add up exactly.
 */
export class LatencyHistogram {
  readonly counts = new Uint32Array(HISTOGRAM_MAX_MS + 1);
  count = 0;
  max = Number.NEGATIVE_INFINITY;
  negative = 0;

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    let v = Math.round(ms);
    if (v < 0) { this.negative++; v = 0; }
    this.counts[Math.min(v, HISTOGRAM_MAX_MS)]!++;
    this.count++;
    if (v > this.max) this.max = v;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i <= HISTOGRAM_MAX_MS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.negative += other.negative;
    if (other.max > this.max) this.max = other.max;
  }

  /** Nearest-rank percentile, `p` from 0 to 100; null when empty. */
  percentile(p: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i <= HISTOGRAM_MAX_MS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i;
    }
    return HISTOGRAM_MAX_MS;
  }

  summary(): LatencySummary {
    return { count: this.count, p50_ms: this.percentile(50), p99_ms: this.percentile(99), max_ms: this.count > 0 ? this.max : null, negative: this.negative };
  }

  /** Sparse form for a message between processes: [ms, count] pairs of the non-empty buckets. */
  toJSON(): { buckets: Array<[number, number]>; max: number; negative: number } {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i <= HISTOGRAM_MAX_MS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, max: this.max, negative: this.negative };
  }

  static fromJSON(j: { buckets: Array<[number, number]>; max: number | null; negative: number }): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const [ms, n] of j.buckets) { h.counts[ms]! += n; h.count += n; }
    // JSON turns -Infinity into null.
    h.max = j.max ?? Number.NEGATIVE_INFINITY;
    h.negative = j.negative;
    return h;
  }
}

/** Nearest-rank percentile of unsorted numbers, `p` from 0 to 100; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

// ---- Spreading the fleet --------------------------------------------------------------------

export interface ProcPlan {
  /** Index of this process's first agent; agents are named after their index. */
  firstIndex: number;
  count: number;
  /** Loopback source addresses this process's agents connect from, round-robin. */
  addresses: string[];
}

/**
 * Splits `agents` over child processes (at least `procs`, at most MAX_AGENTS_PER_PROC each, as
 * even as possible) and loopback source addresses 127.0.0.2... (at most MAX_AGENTS_PER_ADDRESS
 * each, every process using its own share of them). 127.0.0.1 is left to the dashboard client.
 */
export function planFleet(agents: number, procs = 1): ProcPlan[] {
  if (!Number.isInteger(agents) || agents < 1) throw new RangeError(`agents must be a whole number >= 1, got ${agents}`);
  if (!Number.isInteger(procs) || procs < 1) throw new RangeError(`procs must be a whole number >= 1, got ${procs}`);
  const n = Math.min(agents, Math.max(procs, Math.ceil(agents / MAX_AGENTS_PER_PROC)));
  const addrPerProc = Math.max(1, Math.ceil(Math.ceil(agents / n) / MAX_AGENTS_PER_ADDRESS));
  const plan: ProcPlan[] = [];
  let first = 0;
  for (let p = 0; p < n; p++) {
    const count = Math.floor(agents / n) + (p < agents % n ? 1 : 0);
    const addresses = Array.from({ length: addrPerProc }, (_, a) => loopbackAddress(2 + p * addrPerProc + a));
    plan.push({ firstIndex: first, count, addresses });
    first += count;
  }
  return plan;
}

/** The k-th address of 127.0.0.0/8 (k from 1), all of which Linux routes to lo. */
export function loopbackAddress(k: number): string {
  if (!Number.isInteger(k) || k < 1 || k > 0xfffffe) throw new RangeError(`loopback index out of range: ${k}`);
  return `127.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`;
}

/** Agents one collector can hold under an open-file limit: one fd each, less what it keeps for itself. */
export function maxAgentsForFdLimit(fdLimit: number, reserve = FD_RESERVE): number {
  return Math.max(1, fdLimit - reserve);
}

// ---- /proc -------------------------------------------------------------------------------------

export interface CpuTicks {
  utime: number;
  stime: number;
}

/** utime and stime (ticks) of a /proc/PID/stat or /proc/PID/task/TID/stat line. */
export function parseStat(text: string): CpuTicks {
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc stat line');
  const f = text.slice(close + 2).trim().split(/\s+/);
  // f[0] is field 3 (state), so field 14 (utime) is f[11] and field 15 (stime) f[12].
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('stat line without utime/stime');
  return { utime, stime };
}

/** VmRSS of a /proc/PID/status text, bytes; null when absent (a zombie). */
export function parseVmRssBytes(status: string): number | null {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

/**
 * Resident bytes of the anonymous read-write mapping of a /proc/PID/smaps text that holds a
 * buffer of `byteLength` bytes (the mapping is at most 64 KiB longer: page rounding); null when
 * no mapping fits. For the store's SharedArrayBuffer: the pages of slots and rings touched so far.
 */
export function mappingRssBytes(smaps: string, byteLength: number): number | null {
  for (const block of smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) rw-p 00000000 00:00 0/.exec(block);
    if (!m) continue;
    const size = parseInt(m[2]!, 16) - parseInt(m[1]!, 16);
    if (size < byteLength || size > byteLength + 65_536) continue;
    const rss = /^Rss:\s+(\d+) kB$/m.exec(block);
    return rss ? Number(rss[1]) * 1024 : null;
  }
  return null;
}

/** The soft "Max open files" of a /proc/PID/limits text; null when unlimited or absent. */
export function parseOpenFileLimit(limits: string): number | null {
  const m = /^Max open files\s+(\S+)/m.exec(limits);
  if (!m || m[1] === 'unlimited') return null;
  return Number(m[1]);
}

/** Share of one core, %, from a tick difference over a wall time in ms. */
export function cpuPercent(ticks: number, wallMs: number): number {
  return wallMs > 0 ? (ticks / TICKS_PER_SECOND) / (wallMs / 1000) * 100 : 0;
}

// ---- Server-Sent Events ---------------------------------------------------------------------

export interface SseEvent {
  event: string;
  data: string;
}

/** Splits an event stream into events; chunks may cut anywhere (UTF-8 already decoded). */
export class SseParser {
  private buf = '';
  private scanFrom = 0;

  push(chunk: string): SseEvent[] {
    this.buf += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const end = this.buf.indexOf('\n\n', this.scanFrom);
      if (end < 0) {
        // The separator may straddle chunks: scan again from its possible start.
        this.scanFrom = Math.max(0, this.buf.length - 1);
        return out;
      }
      const block = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + 2);
      this.scanFrom = 0;
      let event = 'message';
      const data: string[] = [];
      let any = false;
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') { data.push(value); any = true; }
      }
      if (any) out.push({ event, data: data.join('\n') });
    }
  }
}

/**
 * Per-host sample times seen on the stream: `observe` returns the hosts whose sample_ts_ms is
 * newer than the last one seen for them. A host seen for the first time is only remembered (its
 * sample may be old: the stream's first event is a full snapshot); a time older than one already
 * seen (a snapshot staler than a delta before it) is counted in `regressions`, not as a sample.
 */
export class SampleTimes {
  private readonly last = new Map<string, number>();
  regressions = 0;

  observe(data: unknown): Array<{ name: string; sampleTsMs: number }> {
    const hosts = (data as { hosts?: unknown } | null)?.hosts;
    if (!Array.isArray(hosts)) return [];
    const changed: Array<{ name: string; sampleTsMs: number }> = [];
    for (const h of hosts as Array<{ name?: unknown; sample_ts_ms?: unknown }>) {
      if (typeof h?.name !== 'string' || typeof h.sample_ts_ms !== 'number') continue;
      const before = this.last.get(h.name);
      if (before === undefined) { this.last.set(h.name, h.sample_ts_ms); continue; }
      if (h.sample_ts_ms === before) continue;
      if (h.sample_ts_ms < before) { this.regressions++; continue; }
      this.last.set(h.name, h.sample_ts_ms);
      changed.push({ name: h.name, sampleTsMs: h.sample_ts_ms });
    }
    return changed;
  }
}

// ---- The sample ---------------------------------------------------------------------------------

/**
 * A realistic sample, ~630 bytes as a frame: the readings of scripts/bench/codec.ts SAMPLE (those of
 * test/helpers/store_fixture.ts) and a few tables: 8 cores, 2 filesystems, 1 interface; and the
 * power every agent sends, measured or (as here, a VM's) estimated, so that each sample also
 * costs the collector its energy and cost integration.
 */
export function fleetSample(seq: number, ts: number): Record<string, unknown> {
  return {
    type: 'sample', seq, ts, cpu_pct: 37.4, load_1m: 1.27, load_5m: 0.98, load_15m: 0.71,
    mem_total_bytes: 33_554_432_000, mem_used_bytes: 12_884_901_888, mem_available_bytes: 20_669_530_112,
    swap_total_bytes: 8_589_934_592, swap_used_bytes: 268_435_456, uptime_s: 1_234_567,
    cpu_cores_pct: [41.2, 35.9, 38.4, 33.1, 44.7, 29.8, 36.6, 39.5],
    fs: [
      { mount: '/', type: 'ext4', size_bytes: 511_101_108_224, used_bytes: 201_863_462_912, free_bytes: 283_183_677_440 },
      { mount: '/home', type: 'xfs', size_bytes: 1_999_421_571_072, used_bytes: 734_439_784_448, free_bytes: 1_264_981_786_624 },
    ],
    net: [{ name: 'eth0', rx_bps: 2_621_440.75, tx_bps: 917_504.25, rx_pps: 2011.5, tx_pps: 1504.25 }],
    power_w: 41.7, power_source: 'estimated',
  };
}

export interface FrameTemplate {
  frame: Buffer;
  /** Offset of seq's 4 bytes (msgpack uint32, big-endian). */
  seqAt: number;
  /** Offset of ts's 8 bytes, and how they are encoded (msgpack float64 or uint64). */
  tsAt: number;
  tsKind: 'float64' | 'uint64';
}

/** Where a msgpack fixstr key is followed by the first byte of its value; -1 if absent. */
function valueAfterKey(frame: Buffer, key: string): number {
  const k = Buffer.concat([Buffer.from([0xa0 | key.length]), Buffer.from(key, 'latin1')]);
  const at = frame.indexOf(k, 4);
  return at < 0 ? -1 : at + k.length;
}

/**
 * The sample as one frame, encoded once, with seq and ts at fixed places so that each send only
 * patches 12 bytes: seq forced to uint32 (encoded with 0xffffffff), ts to the 8-byte form that
 * a millisecond time since the epoch takes.
 */
export function frameTemplate(sample: Record<string, unknown> = fleetSample(0, 0)): FrameTemplate {
  const frame = encodeFrame({ ...sample, seq: 0xffff_ffff, ts: 1_790_000_000_123 });
  const seqType = valueAfterKey(frame, 'seq');
  const tsType = valueAfterKey(frame, 'ts');
  if (seqType < 0 || frame[seqType] !== 0xce) throw new Error('sample template: seq is not a uint32');
  if (tsType < 0 || (frame[tsType] !== 0xcb && frame[tsType] !== 0xcf)) throw new Error('sample template: ts is neither float64 nor uint64');
  return { frame, seqAt: seqType + 1, tsAt: tsType + 1, tsKind: frame[tsType] === 0xcb ? 'float64' : 'uint64' };
}

/** Writes `seq` (below 2^32) and `ts` (ms since the epoch, above 2^32) into a copy of the template's frame. */
export function patchFrame(t: FrameTemplate, frame: Buffer, seq: number, ts: number): void {
  frame.writeUInt32BE(seq, t.seqAt);
  if (t.tsKind === 'float64') frame.writeDoubleBE(ts, t.tsAt);
  else frame.writeBigUInt64BE(BigInt(ts), t.tsAt);
}

// ---- Command line ---------------------------------------------------------------------------------

export interface FleetOptions {
  /** Fleet sizes, one step each. */
  agents: number[];
  /** Measured window per step, s. */
  seconds: number;
  quick: boolean;
  /** Child processes at least (more when a step needs them). */
  procs: number;
  /** Sample interval of every agent, ms. */
  intervalMs: number;
  /** The collector's --save-interval-s (its default: 10). */
  saveIntervalS: number;
  /**
   * The collector's --history-s, null for its default (900). History rings are most of a host's
   * memory (39 KiB of its ~56 at 900 s), so this is the knob that trades RSS for history.
   */
  historyS: number | null;
  /** Slots the send -> shared memory probe watches at most (an even sample beyond; fleet_probe.ts). */
  probeSlots: number;
  /**
   * How the collector reads agent connections: 'static' (its default: one reused buffer,
   * collector/static_reads.ts) or 'data' (a Buffer per read through 'data' events), to measure
   * one against the other.
   */
  reads: 'static' | 'data';
  /**
   * After each step, the same agents against the floor sink (fleet_floor.ts) for this many
   * seconds: what reading, framing and decoding alone cost on this machine. 0: no floor.
   */
  floorSeconds: number;
  /** Write the JSON here instead of scripts/bench/results/fleet.json. */
  out: string | null;
}

/** Default of --probe-slots (fleet_probe.ts says why a sample). */
export const DEFAULT_PROBE_SLOTS = 2000;

/**
 * --quick: two small steps (two, so the projection's fit runs too) with short windows: ~25 s in
 * all, so that `npm run bench -- --quick` keeps within its two minutes (34 s with 8 s windows and
 * 3 s floors took the whole run to 117 s on a slow day of the 2-core VM).
 */
export const QUICK = Object.freeze({ agents: [200, 1000], seconds: 5, floorSeconds: 2 });

/** Default of --floor-seconds. */
export const DEFAULT_FLOOR_SECONDS = 20;

/** Parses the flags; `maxAgents` is what "max" in --agents means (from the open-file limit). */
export function parseFleetArgs(argv: readonly string[], maxAgents: number): FleetOptions {
  const o: FleetOptions = { agents: [1000, 10_000, maxAgents], seconds: 60, quick: false, procs: 1, intervalMs: 1000, saveIntervalS: 10, historyS: null, probeSlots: DEFAULT_PROBE_SLOTS, reads: 'static', floorSeconds: DEFAULT_FLOOR_SECONDS, out: null };
  let agentsGiven = false;
  let secondsGiven = false;
  let floorGiven = false;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new RangeError(`${flag} needs a value`);
    return v;
  };
  const whole = (raw: string, flag: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new RangeError(`${flag} must be a whole number >= ${min}, got "${raw}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const v = (): string => inline ?? value(i++, flag);
    switch (flag) {
      case '--agents':
        o.agents = v().split(',').map((s) => (s.trim() === 'max' ? maxAgents : whole(s.trim(), '--agents', 1)));
        agentsGiven = true;
        break;
      case '--seconds': o.seconds = whole(v(), '--seconds', 1); secondsGiven = true; break;
      case '--procs': o.procs = whole(v(), '--procs', 1); break;
      case '--interval-ms': o.intervalMs = whole(v(), '--interval-ms', 100); break;
      case '--save-interval-s': o.saveIntervalS = whole(v(), '--save-interval-s', 0); break;
      case '--history-s': o.historyS = whole(v(), '--history-s', 60); break;
      case '--probe-slots': o.probeSlots = whole(v(), '--probe-slots', 1); break;
      case '--reads': {
        const r = v();
        if (r !== 'static' && r !== 'data') throw new RangeError(`--reads takes static or data, got "${r}"`);
        o.reads = r;
        break;
      }
      case '--floor-seconds': o.floorSeconds = whole(v(), '--floor-seconds', 0); floorGiven = true; break;
      case '--out': o.out = v(); break;
      case '--quick': o.quick = true; break;
      default: throw new RangeError(`unknown flag ${flag} (flags: --agents LIST, --seconds N, --quick, --procs N, --interval-ms MS, --save-interval-s S, --history-s S, --probe-slots N, --reads static|data, --floor-seconds S, --out FILE)`);
    }
  }
  if (o.quick) {
    if (!agentsGiven) o.agents = [...QUICK.agents];
    if (!secondsGiven) o.seconds = QUICK.seconds;
    if (!floorGiven) o.floorSeconds = QUICK.floorSeconds;
  }
  for (const a of o.agents) if (a > maxAgents) throw new RangeError(`--agents ${a} is above what the open-file limit allows (${maxAgents})`);
  return o;
}

// ---- Projection -------------------------------------------------------------------------------------

export interface StepPoint {
  agents: number;
  /** Collector CPU, % of one core (the probe's own share taken out). */
  cpuPct: number;
  rssBytes: number;
  /** RSS before any agent connected, bytes. */
  rssBeforeBytes: number;
}

export interface Projection {
  /** Fit cpu = base + perAgent * agents over the steps (through 0 with one step); RSS likewise, over its growth from before the agents. */
  cpu_base_pct: number;
  cpu_pct_per_1000_agents: number;
  rss_base_bytes: number;
  rss_bytes_per_agent: number;
  agents_at_35pct: number | null;
  agents_at_100pct: number | null;
  rss_bytes_at_35pct: number | null;
  rss_bytes_at_100pct: number | null;
}

/** Least-squares line y = a + b x; through the origin with one distinct x. */
export function fitLine(xs: readonly number[], ys: readonly number[]): { a: number; b: number } {
  const n = xs.length;
  if (n === 0) return { a: 0, b: 0 };
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) { sxx += (xs[i]! - mx) ** 2; sxy += (xs[i]! - mx) * (ys[i]! - my); }
  if (sxx === 0) return { a: 0, b: mx === 0 ? 0 : my / mx };
  const b = sxy / sxx;
  return { a: my - b * mx, b };
}

/** Agents one collector would hold at 35 % and 100 % of one core, if fds were no limit, and the RSS that takes. */
export function projectFleet(points: readonly StepPoint[]): Projection {
  const xs = points.map((p) => p.agents);
  const cpu = fitLine(xs, points.map((p) => p.cpuPct));
  // RSS grows from what the collector held before its agents: the fit is of that growth.
  const rssBase = points.reduce((s, p) => s + p.rssBeforeBytes, 0) / Math.max(1, points.length);
  const growth = fitLine([0, ...xs], [0, ...points.map((p) => p.rssBytes - p.rssBeforeBytes)]);
  const rss = { a: rssBase + growth.a, b: growth.b };
  const at = (pct: number): number | null => (cpu.b > 0 ? Math.max(0, Math.floor((pct - cpu.a) / cpu.b)) : null);
  const rssAt = (n: number | null): number | null => (n === null ? null : Math.round(rss.a + rss.b * n));
  const a35 = at(35);
  const a100 = at(100);
  return {
    cpu_base_pct: cpu.a, cpu_pct_per_1000_agents: cpu.b * 1000, rss_base_bytes: rss.a, rss_bytes_per_agent: rss.b,
    agents_at_35pct: a35, agents_at_100pct: a100, rss_bytes_at_35pct: rssAt(a35), rss_bytes_at_100pct: rssAt(a100),
  };
}

/** Profiling and tracing flags of node that take a value, given either as `--flag=value` or as `--flag value`. */
const PROFILING_FLAGS_WITH_VALUE = new Set([
  '--cpu-prof-dir', '--cpu-prof-name', '--cpu-prof-interval', '--heap-prof-dir', '--heap-prof-name', '--heap-prof-interval',
  '--trace-event-categories', '--trace-event-file-pattern',
]);

/**
 * `execArgv` without node's profiling and tracing flags (and the values given after them), for
 * the benchmark's child processes: profiling stays with the collector's own process.
 */
export function withoutProfiling(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (!a.startsWith('--cpu-prof') && !a.startsWith('--heap-prof') && !a.startsWith('--trace-')) out.push(a);
    else if (PROFILING_FLAGS_WITH_VALUE.has(a)) i++;
  }
  return out;
}
