/**
 * The fleet as Prometheus metrics (text format 0.0.4), one series per host and metric, labelled
 * `host`. Pure: the caller reads the views from shared memory and passes the scrape's clock.
 *
 * Choices, so that a query means what it says:
 * - Status is two families: `sentinel_host_up` (1 online, else 0) keeps one series per host
 *   whatever happens, and `sentinel_host_status{status}` is one-hot over every status (as
 *   kube-state-metrics does for pod phases). A `status` label on `up` would end one series and
 *   start another at each change, breaking `up == 0` alerts and rate windows.
 * - Readings (cpu, load, memory, swap, uptime) are written only while the host is online; a stale
 *   or offline host's last readings are old, so Prometheus gets a gap, not a flat fake line.
 *   Their age stays visible in `sentinel_host_last_sample_age_seconds`.
 * - A null reading is left out, never written as NaN.
 * - No sample timestamps: every value is as of the scrape, and Prometheus' staleness handling
 *   works only without them.
 */
import type { HostStatus, HostView } from '../shared/host_view.ts';
import { PromWriter } from './prom_text.ts';

type Series = ReadonlyArray<readonly [labels: Readonly<Record<string, string>>, value: number | null]>;

export interface HostMetric {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  /** From the host's last sample: written only while the host is online. */
  reading: boolean;
  /** The host's series: labels besides `host` (written after it), and a value; null is left out. */
  series: (h: HostView, nowMs: number) => Series;
}

/** Every status, in the order its series are written. A Record so that a new status fails to compile here. */
const STATUS_ORDER: Readonly<Record<HostStatus, number>> = Object.freeze({ online: 0, stale: 1, offline: 2 });
const STATUSES = (Object.keys(STATUS_ORDER) as HostStatus[]).sort((a, b) => STATUS_ORDER[a] - STATUS_ORDER[b]);

function one(value: (h: HostView, nowMs: number) => number | null): HostMetric['series'] {
  return (h, nowMs) => [[{}, value(h, nowMs)]];
}

/** Every metric the dashboard exports, in output order. */
export const HOST_METRICS: readonly HostMetric[] = Object.freeze([
  {
    name: 'sentinel_host_up', type: 'gauge', reading: false,
    help: 'Whether the host is online: 1 while connected with a recent sample, 0 when stale or offline.',
    series: one((h) => (h.status === 'online' ? 1 : 0)),
  },
  {
    name: 'sentinel_host_status', type: 'gauge', reading: false,
    help: 'The host\'s status, one-hot: 1 for the current status (online, stale or offline), 0 for the others.',
    series: (h) => STATUSES.map((s) => [{ status: s }, h.status === s ? 1 : 0] as const),
  },
  {
    name: 'sentinel_host_last_sample_age_seconds', type: 'gauge', reading: false,
    help: 'Seconds since the collector received the host\'s last sample, by the collector\'s clock.',
    series: one((h, nowMs) => (h.received_at_ms === null ? null : Math.max(0, nowMs - h.received_at_ms) / 1000)),
  },
  {
    name: 'sentinel_host_samples_total', type: 'counter', reading: false,
    help: 'Samples the collector has received from the host since the collector started.',
    series: one((h) => h.samples_total),
  },
  {
    name: 'sentinel_host_info', type: 'gauge', reading: false,
    help: 'Always 1; labels describe the host as its agent said in its hello.',
    series: (h) => [[{ agent: h.agent, os: h.os, kernel: h.kernel, arch: h.arch, cpu_model: h.cpu_model }, 1]],
  },
  { name: 'sentinel_cpu_usage_percent', type: 'gauge', reading: true, help: 'CPU busy, all cores, percent (0-100).', series: one((h) => h.cpu_pct) },
  { name: 'sentinel_load1', type: 'gauge', reading: true, help: 'Load average over 1 minute.', series: one((h) => h.load[0]) },
  { name: 'sentinel_load5', type: 'gauge', reading: true, help: 'Load average over 5 minutes.', series: one((h) => h.load[1]) },
  { name: 'sentinel_load15', type: 'gauge', reading: true, help: 'Load average over 15 minutes.', series: one((h) => h.load[2]) },
  { name: 'sentinel_memory_total_bytes', type: 'gauge', reading: true, help: 'Physical memory, bytes.', series: one((h) => h.mem_total_bytes) },
  { name: 'sentinel_memory_used_bytes', type: 'gauge', reading: true, help: 'Memory in use (total - available), bytes.', series: one((h) => h.mem_used_bytes) },
  { name: 'sentinel_memory_available_bytes', type: 'gauge', reading: true, help: 'Memory available for new work (MemAvailable), bytes.', series: one((h) => h.mem_available_bytes) },
  { name: 'sentinel_swap_total_bytes', type: 'gauge', reading: true, help: 'Swap space, bytes.', series: one((h) => h.swap_total_bytes) },
  { name: 'sentinel_swap_used_bytes', type: 'gauge', reading: true, help: 'Swap in use, bytes.', series: one((h) => h.swap_used_bytes) },
  { name: 'sentinel_uptime_seconds', type: 'gauge', reading: true, help: 'Time since the host booted, seconds.', series: one((h) => h.uptime_s) },
] satisfies HostMetric[]);

/**
 * The scrape answer for `views`, as of `nowMs` (the collector's clock, ms since the epoch).
 * Hosts come out sorted by name, so equal input gives equal output. A name is written once: a
 * read that raced the reuse of an evicted host's slot can list a name twice, and a repeated
 * series would make Prometheus refuse the whole scrape; the freshest of the two is kept.
 */
export function metricsText(views: readonly HostView[], nowMs: number): string {
  const byName = new Map<string, HostView>();
  for (const v of views) {
    const seen = byName.get(v.name);
    if (!seen || (v.received_at_ms ?? -1) > (seen.received_at_ms ?? -1)) byName.set(v.name, v);
  }
  const hosts = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const w = new PromWriter();
  for (const m of HOST_METRICS) {
    w.family(m.name, m.type, m.help);
    for (const h of hosts) {
      if (m.reading && h.status !== 'online') continue;
      for (const [labels, value] of m.series(h, nowMs)) {
        if (value !== null) w.sample(m.name, { host: h.name, ...labels }, value);
      }
    }
  }
  return w.toString();
}
