/**
 * Load averages from os.loadavg(): libuv reads /proc/loadavg, no child process, ~6 µs.
 * Values keep the two decimals the kernel prints.
 */
import os from 'node:os';
import type { Collector, CollectResult } from './types.ts';
import { describeValue, isNonNegativeFinite } from './types.ts';

const LOAD_NAMES = ['load_1m', 'load_5m', 'load_15m'] as const;
const WINDOWS_REASON = 'load average not available on Windows';

/** Turns os.loadavg()'s [1 min, 5 min, 15 min] into readings; `platform` as os.platform() gives it. */
export function parseLoad(loadavg: readonly unknown[], platform: string): CollectResult {
  const result: CollectResult = { readings: {}, missing: {} };
  // Node returns [0, 0, 0] on Windows rather than failing; an idle Linux box can too, so only
  // the platform tells "not measured" from "idle".
  const allZero = LOAD_NAMES.every((_name, i) => loadavg[i] === 0);
  LOAD_NAMES.forEach((name, i) => {
    const v = loadavg[i];
    if (platform === 'win32' && allZero) result.missing[name] = WINDOWS_REASON;
    else if (isNonNegativeFinite(v)) result.readings[name] = v;
    else result.missing[name] = `os.loadavg() gave ${describeValue(v)}`;
  });
  return result;
}

export const loadCollector: Collector = {
  name: 'load',
  kind: 'fast',
  provides: LOAD_NAMES,
  async collect() {
    return parseLoad(os.loadavg(), os.platform());
  },
};
