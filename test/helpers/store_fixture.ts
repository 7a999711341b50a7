/**
 * A real shared-memory store filled through the collector's own write path: each host's hello
 * and sample are validated by the protocol parsers and land in the store through HostTable, as
 * they would from an agent's socket. Tests then read it back as the dashboard does.
 */
import { HostTable, type HostOwner } from '../../collector/hosts.ts';
import { ONLINE_INTERVALS, type HostStatus } from '../../shared/host_view.ts';
import { MSG_HELLO, MSG_SAMPLE, parseHello, parseSample, PROTO_VERSION, type Readings } from '../../shared/protocol.ts';
import { ShmStore } from '../../shared/shm_store.ts';

export interface FixtureHost {
  name: string;
  /** What the host should read as at `nowMs`. */
  status: HostStatus;
  /** Sampling interval announced in the hello, ms (default 1000). Online lasts ONLINE_INTERVALS of them. */
  intervalMs?: number;
  agent?: string;
  os?: string;
  kernel?: string;
  arch?: string;
  cpuModel?: string;
  cpuCores?: number;
  /** Readings of the host's last sample (default: FIXTURE_READINGS). */
  readings?: Readings;
  /** Readings the agent said it could not take, with reasons. */
  missing?: Record<string, string>;
}

/** Readings every fixture host reports unless told otherwise: plain values, easy to assert. */
export const FIXTURE_READINGS: Readonly<Readings> = Object.freeze({
  cpu_pct: 42.5,
  load_1m: 0.5,
  load_5m: 0.25,
  load_15m: 0.125,
  mem_total_bytes: 8 * 1024 ** 3,
  mem_used_bytes: 3 * 1024 ** 3,
  mem_available_bytes: 5 * 1024 ** 3,
  swap_total_bytes: 2 * 1024 ** 3,
  swap_used_bytes: 0,
  uptime_s: 3 * 86_400 + 7200,
});

export const FIXTURE_AGENT = 'sentinel-agent/0.1.0';

export interface StoreFixture {
  store: ShmStore;
  table: HostTable;
  /** Adds (or reconnects) a host with the given status as of `nowMs`. */
  add(host: FixtureHost, nowMs?: number): void;
  /** Records one more sample for a connected host, as its owning connection would; `missing` becomes its note. */
  sample(name: string, readings: Readings, nowMs?: number, missing?: Record<string, string>): void;
}

let nextOwnerId = 1;

/**
 * A store of `capacity` slots holding `hosts`, each written as the collector writes it:
 * online = hello + a sample at `nowMs`; stale = hello + a sample older than ONLINE_INTERVALS
 * intervals; offline = hello + a sample, then the connection released.
 */
export function makeStore(hosts: readonly FixtureHost[] = [], opts: { capacity?: number; nowMs?: number } = {}): StoreFixture {
  const store = ShmStore.create(opts.capacity ?? 16, opts.nowMs);
  const table = new HostTable(store);
  const owners = new Map<string, { owner: HostOwner; seq: number }>();

  const sample = (name: string, readings: Readings, nowMs = Date.now(), missing?: Record<string, string>): void => {
    const conn = owners.get(name);
    if (!conn) throw new Error(`fixture host ${name} is not connected`);
    conn.seq++;
    const parsed = parseSample({ type: MSG_SAMPLE, seq: conn.seq, ts: nowMs, ...readings, ...(missing ? { missing } : {}) });
    if (!table.recordSample(name, conn.owner, parsed, nowMs)) throw new Error(`HostTable refused a sample for ${name}`);
  };

  const add = (h: FixtureHost, nowMs = Date.now()): void => {
    const intervalMs = h.intervalMs ?? 1000;
    const hello = parseHello({
      type: MSG_HELLO, proto: PROTO_VERSION, host: h.name, agent: h.agent ?? FIXTURE_AGENT, token: 'fixture-token',
      interval_ms: intervalMs, os: h.os ?? 'Debian GNU/Linux 12', kernel: h.kernel ?? '6.1.0-18-amd64', arch: h.arch ?? 'x64',
      cpu_model: h.cpuModel ?? 'Fixture CPU @ 2.0GHz', cpu_cores: h.cpuCores ?? 4,
    });
    if (hello.host !== h.name) throw new Error(`fixture host name ${JSON.stringify(h.name)} is not in normal form`);
    const owner: HostOwner = { id: nextOwnerId++ };
    const sampledAt = h.status === 'stale' ? nowMs - (ONLINE_INTERVALS + 1) * intervalMs : nowMs;
    const claimed = table.claim(hello, owner, sampledAt);
    if (!claimed.ok) throw new Error(`HostTable refused ${h.name}: ${claimed.reason}`);
    owners.set(h.name, { owner, seq: 0 });
    sample(h.name, h.readings ?? FIXTURE_READINGS, sampledAt, h.missing);
    if (h.status === 'offline') {
      table.release(h.name, owner, nowMs);
      owners.delete(h.name);
    }
  };

  for (const h of hosts) add(h, opts.nowMs);
  return { store, table, add, sample };
}
