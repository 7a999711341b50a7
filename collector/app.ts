/**
 * Starts a whole collector in this process: shared memory, the agents' TCP server, the
 * dashboard worker and the control socket. main.ts wires it to the command line; tests call it
 * directly with ports 0 and a temporary data directory.
 */
import type { Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { formatHostPort, type HostPort } from '../shared/config.ts';
import type { Logger } from '../shared/log.ts';
import { ShmStore } from '../shared/shm_store.ts';
import { startControlSocket } from './control_socket.ts';
import { DashboardSupervisor } from './dashboard_supervisor.ts';
import { HostTable } from './hosts.ts';
import { AgentServer } from './server.ts';
import type { CollectorConfig } from './settings.ts';
import { ensureDataDir, loadOrCreateClusterToken } from './token.ts';

export interface RunningCollector {
  readonly store: ShmStore;
  readonly hosts: HostTable;
  readonly agents: AgentServer;
  readonly dashboard: DashboardSupervisor;
  readonly token: string;
  /** Where agents connect, as bound. */
  readonly agentAddress: HostPort;
  /** Where the dashboard listens, as bound. */
  readonly httpAddress: HostPort;
  /** The command that makes another machine join. */
  readonly joinCommand: string;
  stop(): Promise<void>;
}

export async function startCollector(config: CollectorConfig, log: Logger): Promise<RunningCollector> {
  ensureDataDir(config.dataDir);
  const token = config.token !== '' ? config.token : loadOrCreateClusterToken(config.dataDir);
  const store = ShmStore.create(config.capacity);
  const hosts = new HostTable(store);
  const agents = new AgentServer({
    hosts, token, log,
    maxFrameBytes: config.maxFrameBytes,
    helloTimeoutMs: config.helloTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    maxConnections: config.maxConnections,
  });
  const control: Server = await startControlSocket(config.dataDir, store, log);
  let agentAddress: HostPort;
  let httpAddress: HostPort;
  const dashboard = new DashboardSupervisor({ buffer: store.buffer as SharedArrayBuffer, host: config.http.host, port: config.http.port }, log);
  try {
    agentAddress = await agents.listen(config.listen.host, config.listen.port);
    httpAddress = await dashboard.start();
  } catch (err) {
    control.close();
    agents.server.close();
    await dashboard.stop();
    throw err;
  }
  const joinCommand = `npm run agent -- --collector ${formatHostPort(reachableAddress(agentAddress))} --token ${token}`;
  // Hosts are told apart by name: a second agent on one machine needs a --name of its own.
  let stopped: Promise<void> | null = null;
  return {
    store, hosts, agents, dashboard, token, agentAddress, httpAddress, joinCommand,
    stop() {
      stopped ??= (async () => {
        await Promise.all([agents.close(), dashboard.stop(), new Promise<void>((r) => control.close(() => r()))]);
      })();
      return stopped;
    },
  };
}

/** For the join command: a wildcard bind is reached through this machine's first external IPv4. */
export function reachableAddress(bound: HostPort): HostPort {
  if (bound.host !== '0.0.0.0' && bound.host !== '::') return bound;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return { host: a.address, port: bound.port };
  }
  return { host: '127.0.0.1', port: bound.port };
}
