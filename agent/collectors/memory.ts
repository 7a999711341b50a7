/**
 * Memory and swap from si.mem(): on Linux one fs.readFile of /proc/meminfo, no child process,
 * ~0.4 ms a call (~4 ms the first time). Used memory is total - available, as free(1) counts it.
 *
 * si.mem() is kept rather than a parser of our own for /proc/meminfo: on Linux it already hands
 * back every line needed (cached = Cached, reclaimable = SReclaimable, buffers = Buffers, each
 * kB × 1024) at the cost above, and it serves macOS and Windows too. There its cached, buffers and
 * reclaimable mean something else (macOS: reclaimable = inactive pages) or stay 0, so the two
 * page-cache readings are sent from Linux only. Cached is Cached + SReclaimable: free(1)'s
 * buff/cache minus buffers (si's own buffcache adds all of Slab, unreclaimable part too).
 */
import os from 'node:os';
import si from 'systeminformation';
import type { Readings } from '../../shared/protocol.ts';
import type { Collector, CollectResult } from './types.ts';
import { describeValue, isNonNegativeFinite } from './types.ts';

/** The part of si.mem()'s result this collector uses; all in bytes. */
export interface RawMem {
  readonly total?: unknown;
  readonly available?: unknown;
  readonly swaptotal?: unknown;
  readonly swapused?: unknown;
  readonly cached?: unknown;
  readonly reclaimable?: unknown;
  readonly buffers?: unknown;
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
export function parseMemory(raw: RawMem, platform = 'linux'): CollectResult {
  const readings: Readings = {};
  const missing: Record<string, string> = {};
  const why = (field: keyof RawMem): string => `si.mem() gave ${field} = ${describeValue(raw[field])}`;
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

export const memoryCollector: Collector = {
  name: 'memory',
  kind: 'fast',
  provides: ['mem_total_bytes', 'mem_used_bytes', 'mem_available_bytes', 'swap_total_bytes', 'swap_used_bytes', 'mem_cached_bytes', 'mem_buffers_bytes'],
  async collect() {
    return parseMemory(await si.mem(), os.platform());
  },
};
