/** Time since boot from os.uptime(): libuv reads /proc/uptime, no child process, ~6 µs. */
import os from 'node:os';
import type { Collector, CollectResult } from './types.ts';
import { describeValue, isNonNegativeFinite } from './types.ts';

/** Whole seconds, rounded down, so uptime never runs ahead of the clock. */
export function parseUptime(uptimeS: unknown): CollectResult {
  if (!isNonNegativeFinite(uptimeS) || uptimeS > Number.MAX_SAFE_INTEGER) {
    return { readings: {}, missing: { uptime_s: `os.uptime() gave ${describeValue(uptimeS)}` } };
  }
  return { readings: { uptime_s: Math.floor(uptimeS) }, missing: {} };
}

export const uptimeCollector: Collector = {
  name: 'uptime',
  kind: 'fast',
  provides: ['uptime_s'],
  async collect() {
    return parseUptime(os.uptime());
  },
};
