/**
 * Network rates per interface from /proc/net/dev deltas over the monotonic time between reads:
 * one readFileSync (~0.5 KB a few interfaces), no child process, ~30 µs. si.networkStats()
 * spawned 2-7 processes a call and si.networkInterfaces() took ~73 ms.
 *
 * Loopback (`lo`) is left out; every other interface counts, bridges and their members alike, as
 * the protocol's "all interfaces but loopback" says. Counter rule (rates.ts): an interface whose
 * counters went backwards (driver reload, 32-bit counters that wrapped) and one that appeared
 * since the last read keep their row, with its name only, and add nothing to the totals.
 * Rows are sorted by name and cut to MAX_WIRE_ROWS (a host with thousands of veth pairs).
 */
import { readFileSync } from 'node:fs';
import { MAX_WIRE_ROWS, type Readings, type TableRows } from '../../shared/protocol.ts';
import { FIRST_SAMPLE_WAIT_MS } from './cpu.ts';
import { counterDelta, intervalProblem, pairReader, perSecond, type Timed } from './rates.ts';
import type { Collector, CollectResult } from './types.ts';
import { cleanText } from './types.ts';

/** The /proc/net/dev counters used, cumulative since the interface came up. */
export interface IfaceCounters {
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrs: number;
  readonly rxDrop: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrs: number;
  readonly txDrop: number;
}

export type NetSnapshot = ReadonlyMap<string, IfaceCounters>;

const NET_NAME_MAX_BYTES = 64;
const LOOPBACK = 'lo';
/** Row column -> counter, in the protocol's column order. */
const COLUMNS = [
  ['rx_bps', 'rxBytes'], ['tx_bps', 'txBytes'], ['rx_pps', 'rxPackets'], ['tx_pps', 'txPackets'],
  ['rx_errs_ps', 'rxErrs'], ['tx_errs_ps', 'txErrs'], ['rx_drops_ps', 'rxDrop'], ['tx_drops_ps', 'txDrop'],
] as const;

/** Pure: /proc/net/dev text -> counters per interface, loopback left out. Header and malformed lines are skipped. */
export function parseNetDev(text: string): NetSnapshot {
  const out = new Map<string, IfaceCounters>();
  for (const line of text.split('\n')) {
    // The name ends at the last ':' (an alias like eth0:1 has one of its own); old kernels put no space after it.
    const colon = line.lastIndexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/u).map(Number);
    if (name === '' || name === LOOPBACK || f.length < 16 || !f.slice(0, 16).every((n) => Number.isSafeInteger(n) && n >= 0)) continue;
    out.set(name, {
      rxBytes: f[0]!, rxPackets: f[1]!, rxErrs: f[2]!, rxDrop: f[3]!,
      txBytes: f[8]!, txPackets: f[9]!, txErrs: f[10]!, txDrop: f[11]!,
    });
  }
  return out;
}

/** Pure: two snapshots -> table `net` and totals net_rx_bps / net_tx_bps. */
export function parseNetPair(prev: Timed<NetSnapshot>, curr: Timed<NetSnapshot>): CollectResult {
  const problem = intervalProblem(prev, curr);
  if (problem) return { readings: {}, missing: { net: problem, net_rx_bps: problem, net_tx_bps: problem } };
  if (curr.value.size === 0) {
    const reason = 'no network interface but loopback in /proc/net/dev';
    return { readings: {}, missing: { net: reason, net_rx_bps: reason, net_tx_bps: reason } };
  }
  const ms = curr.atMs - prev.atMs;
  const rows: TableRows<'net'> = [];
  let rx = 0;
  let tx = 0;
  let counted = 0;
  for (const name of [...curr.value.keys()].sort()) {
    const c = curr.value.get(name)!;
    const p = prev.value.get(name);
    const row: TableRows<'net'>[number] = { name: cleanText(name, NET_NAME_MAX_BYTES) };
    const deltas = p === undefined ? undefined : COLUMNS.map(([, k]) => counterDelta(p[k], c[k]));
    if (deltas !== undefined && deltas.every((d) => d !== undefined)) {
      COLUMNS.forEach(([col], i) => { row[col] = perSecond(deltas[i]!, ms); });
      rx += deltas[0]!;
      tx += deltas[1]!;
      counted++;
    }
    rows.push(row);
  }
  const readings: Readings = { net: rows.slice(0, MAX_WIRE_ROWS) };
  const missing: Record<string, string> = {};
  if (counted > 0) {
    readings.net_rx_bps = perSecond(rx, ms);
    readings.net_tx_bps = perSecond(tx, ms);
  } else {
    const reason = 'no interface with two consistent readings yet (new interface or counters reset)';
    missing.net_rx_bps = reason;
    missing.net_tx_bps = reason;
  }
  return { readings, missing };
}

/** The I/O half: one snapshot. `root` lets tests point it at a fixture tree. */
export function readNetSnapshot(root = '/'): NetSnapshot {
  return parseNetDev(readFileSync(`${root}proc/net/dev`, 'utf8'));
}

export function createNetworkCollector(read: () => NetSnapshot = () => readNetSnapshot(), firstWaitMs = FIRST_SAMPLE_WAIT_MS): Collector {
  const next = pairReader(read, firstWaitMs);
  return {
    name: 'network',
    kind: 'fast',
    provides: ['net_rx_bps', 'net_tx_bps', 'net'],
    async collect() {
      const { prev, curr } = await next();
      return parseNetPair(prev, curr);
    },
  };
}

export const networkCollector: Collector = createNetworkCollector();
