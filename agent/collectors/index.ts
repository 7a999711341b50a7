/**
 * The explicit list of reading collectors, and the one place that runs them. Each collector runs
 * under its own timeout; one that throws or hangs loses only its own readings, each named in
 * `missing` with the reason, and never holds up the sample.
 */
import type { Readings } from '../../shared/protocol.ts';
import { cpuCollector } from './cpu.ts';
import { loadCollector } from './load.ts';
import { memoryCollector } from './memory.ts';
import type { Collector, CollectResult } from './types.ts';
import { reasonFromError, withTimeout } from './types.ts';
import { uptimeCollector } from './uptime.ts';

export const COLLECTORS: readonly Collector[] = [cpuCollector, loadCollector, memoryCollector, uptimeCollector];

/** Runs one collector; a throw before its promise exists, or a malformed result, becomes a rejection. */
async function runOne(collector: Collector): Promise<CollectResult> {
  const result = await collector.collect();
  if (typeof result?.readings !== 'object' || typeof result?.missing !== 'object') {
    throw new TypeError(`${collector.name} collector returned no readings/missing maps`);
  }
  return result;
}

/** Runs `collectors` in parallel, each bounded by `timeoutMs`, and merges what they return. Never rejects. */
export async function collectFrom(collectors: readonly Collector[], timeoutMs: number): Promise<CollectResult> {
  const settled = await Promise.allSettled(collectors.map((c) => withTimeout(runOne(c), timeoutMs, `${c.name} collector`)));
  const readings: Readings = {};
  const missing: Record<string, string> = {};
  settled.forEach((outcome, i) => {
    const collector = collectors[i];
    if (outcome.status === 'rejected') {
      const reason = reasonFromError(outcome.reason);
      for (const name of collector.provides) missing[name] = reason;
      return;
    }
    Object.assign(readings, outcome.value.readings);
    Object.assign(missing, outcome.value.missing);
    // A collector that drops a reading without saying why still gets it named in `missing`.
    for (const name of collector.provides) {
      if (readings[name] === undefined && missing[name] === undefined) missing[name] = `${collector.name} collector gave no value`;
    }
  });
  return { readings, missing };
}

/** One sample's readings from every collector in COLLECTORS. */
export function collectAll(timeoutMs: number): Promise<CollectResult> {
  return collectFrom(COLLECTORS, timeoutMs);
}
