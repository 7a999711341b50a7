/**
 * Memory and swap. On Linux from /proc/meminfo, read synchronously and parsed here (~0.05 ms of
 * CPU a call, no thread pool); elsewhere from si.mem(), loaded on first use. Used memory is
 * total - available, as free(1) counts it.
 *
 * si.mem() served Linux too before, but it reads the file through fs.readFile (four thread-pool
 * round trips: open, fstat, read, close), scans every line once per field, and calls
 * os.totalmem() and os.freemem() besides: ~0.46 ms of CPU a call, every second (both measured
 * over 300 calls with process.cpuUsage() on a 2 vCPU VM).
 * parseMeminfo() gives parseMemory() the same fields si.mem() did (cached = Cached, reclaimable =
 * SReclaimable, buffers = Buffers, each kB × 1024; without MemAvailable, before Linux 3.14,
 * free + buffers + cached + slab as si estimates it). On macOS and Windows si.mem()'s cached,
 * buffers and reclaimable mean something else (macOS: reclaimable = inactive pages) or stay 0, so
 * the two page-cache readings are sent from Linux only. Cached is Cached + SReclaimable: free(1)'s
 * buff/cache minus buffers (si's own buffcache adds all of Slab, unreclaimable part too).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Readings } from '../../shared/protocol.ts';
import type { Collector, CollectResult } from './types.ts';
import { describeValue, isNonNegativeFinite } from './types.ts';

/** The part of si.mem()'s result this collector uses (parseMeminfo gives the same); all in bytes. */
export interface RawMem {
  readonly total?: unknown;
  readonly available?: unknown;
  readonly swaptotal?: unknown;
  readonly swapused?: unknown;
  readonly cached?: unknown;
  readonly reclaimable?: unknown;
  readonly buffers?: unknown;
}

/** Pure: /proc/meminfo text -> the fields of si.mem() used here, bytes. A line not there leaves its field out. */
export function parseMeminfo(text: string): RawMem {
  const kB = new Map<string, number>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon);
    // The first of a key wins, as in si.mem(); "12345 kB" -> 12345.
    const value = Number.parseInt(line.slice(colon + 1), 10);
    if (!kB.has(key) && Number.isSafeInteger(value) && value >= 0) kB.set(key, value);
  }
  const bytes = (key: string): number | undefined => {
    const v = kB.get(key);
    return v === undefined ? undefined : v * 1024;
  };
  const free = bytes('MemFree');
  const buffers = bytes('Buffers');
  const cached = bytes('Cached');
  const slab = bytes('Slab');
  const estimate = free !== undefined ? free + (buffers ?? 0) + (cached ?? 0) + (slab ?? 0) : undefined;
  const swapTotal = bytes('SwapTotal');
  const swapFree = bytes('SwapFree');
  return {
    total: bytes('MemTotal'),
    available: bytes('MemAvailable') ?? estimate,
    swaptotal: swapTotal,
    swapused: swapTotal !== undefined && swapFree !== undefined ? Math.max(0, swapTotal - swapFree) : undefined,
    cached,
    reclaimable: bytes('SReclaimable'),
    buffers,
  };
}

/** A whole number of bytes the protocol accepts (0 .. 2^53-1), or undefined. */
function toBytes(v: unknown): number | undefined {
  return isNonNegativeFinite(v) && v <= Number.MAX_SAFE_INTEGER ? Math.round(v) : undefined;
}

/**
 * Each reading is clamped into its relation (used <= total, available <= total, swap used <= swap
 * total) so that a sample read mid-update never fails protocol validation on the collector.
 * A bad field costs only the readings that depend on it.
 */
export function parseMemory(raw: RawMem, platform = 'linux', source = 'si.mem()'): CollectResult {
  const readings: Readings = {};
  const missing: Record<string, string> = {};
  const why = (field: keyof RawMem): string => `${source} gave ${field} = ${describeValue(raw[field])}`;
  const total = toBytes(raw.total);
  const available = toBytes(raw.available);
  const swapTotal = toBytes(raw.swaptotal);
  const swapUsed = toBytes(raw.swapused);

  if (total !== undefined) readings.mem_total_bytes = total;
  else missing.mem_total_bytes = why('total');

  if (available !== undefined) readings.mem_available_bytes = total === undefined ? available : Math.min(available, total);
  else missing.mem_available_bytes = why('available');

  if (total !== undefined && available !== undefined) readings.mem_used_bytes = total - Math.min(available, total);
  else missing.mem_used_bytes = why(total === undefined ? 'total' : 'available');

  if (swapTotal !== undefined) readings.swap_total_bytes = swapTotal;
  else missing.swap_total_bytes = why('swaptotal');

  if (swapUsed !== undefined) readings.swap_used_bytes = swapTotal === undefined ? swapUsed : Math.min(swapUsed, swapTotal);
  else missing.swap_used_bytes = why('swapused');

  if (platform !== 'linux') {
    missing.mem_cached_bytes = `si.mem() gives no page-cache figure on ${platform}`;
    missing.mem_buffers_bytes = `si.mem() gives no buffers figure on ${platform}`;
    return { readings, missing };
  }
  const cached = toBytes(raw.cached);
  const reclaimable = toBytes(raw.reclaimable);
  const buffers = toBytes(raw.buffers);
  const capped = (v: number): number => (total === undefined ? v : Math.min(v, total));
  if (cached !== undefined && reclaimable !== undefined && cached + reclaimable <= Number.MAX_SAFE_INTEGER) {
    readings.mem_cached_bytes = capped(cached + reclaimable);
  } else missing.mem_cached_bytes = why(cached === undefined ? 'cached' : 'reclaimable');
  if (buffers !== undefined) readings.mem_buffers_bytes = capped(buffers);
  else missing.mem_buffers_bytes = why('buffers');

  return { readings, missing };
}

/** The I/O half: /proc/meminfo on Linux, si.mem() elsewhere. */
export async function readMemory(platform = os.platform(), meminfoPath = '/proc/meminfo'): Promise<CollectResult> {
  if (platform === 'linux') return parseMemory(parseMeminfo(readFileSync(meminfoPath, 'utf8')), platform, meminfoPath);
  const si = (await import('systeminformation')).default;
  return parseMemory(await si.mem(), platform);
}

export const memoryCollector: Collector = {
  name: 'memory',
  kind: 'fast',
  provides: ['mem_total_bytes', 'mem_used_bytes', 'mem_available_bytes', 'swap_total_bytes', 'swap_used_bytes', 'mem_cached_bytes', 'mem_buffers_bytes'],
  collect: () => readMemory(),
};
