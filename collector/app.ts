/**
 * Starts a whole collector in this process: shared memory, the agents' server, the dashboard
 * worker and the control socket. main.ts wires it to the command line; tests call it directly
 * with ports 0 and a temporary data directory.
 *
 * A data directory that cannot be used does not stop the collector: it says so once, keeps the
 * cluster token in memory (printed in the join command), and serves agents and the dashboard.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { formatHostPort, isLoopback, listenAdvice, type HostPort } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { CollectorStats } from '../shared/collector_stats.ts';
import { ShmStore } from '../shared/shm_store.ts';
import { AlertService } from './alert_service.ts';
import { Authenticator } from './auth.ts';
import { startControlSocket } from './control_socket.ts';
import { DashboardSupervisor, type DashboardOptions } from './dashboard_supervisor.ts';
import { energyReport } from './energy_report.ts';
import { EnergyService } from './energy_service.ts';
import { parseTariff } from './tariff.ts';
import { HostTokenSet } from './host_tokens.ts';
import { HostTable } from './hosts.ts';
import { agentCommand } from './install_command.ts';
import { IngestPool } from './ingest_pool.ts';
import { AgentServer } from './server.ts';
import { HTTP_TOKEN_NONE, type CollectorConfig } from './settings.ts';
import { restoreState, StateSaver } from './state_saver.ts';
import { ensureDataDir, HTTP_TOKEN_FILE, loadOrCreateClusterToken, randomToken, TOKEN_FILE } from './token.ts';
import { WebhookNotifier } from './webhook.ts';
import { answeredHosts } from '../dashboard/host_check.ts';

export interface RunningCollector {
  readonly store: ShmStore;
  readonly hosts: HostTable;
  readonly agents: AgentServer;
  /** Saves shared memory to the data directory; null when the directory is unusable or saving is off. */
  readonly saver: StateSaver | null;
  readonly dashboard: DashboardSupervisor;
  readonly alerts: AlertService;
  /** Energy and cost per host. */
  readonly energy: EnergyService;
  /** The collector's own counters, shared with the dashboard for /metrics. */
  readonly stats: CollectorStats;
  readonly webhooks: WebhookNotifier | null;
  readonly token: string;
  /** Checks agents' tokens; a reload replaces the cluster token through it. */
  readonly auth: Authenticator;
  /** The dashboard's password, or '' when it has none. */
  readonly httpToken: string;
  /** Where agents connect, as bound. */
  readonly agentAddress: HostPort;
  /** Where the dashboard listens, as bound. */
  readonly httpAddress: HostPort;
  /** The dashboard's URL. */
  readonly url: string;
  /** The command that makes another machine join. */
  readonly joinCommand: string;
  stop(): Promise<void>;
}

/** At stop, deliveries under way get this long to finish, ms. */
const WEBHOOK_CLOSE_MS = 2000;

function readPem(file: string, setting: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(setting, `cannot read "${file}": ${(err as Error).message}`);
  }
}

function pair(cert: string, key: string, certFlag: string, keyFlag: string): { cert: string; key: string } | undefined {
  if (cert === '' && key === '') return undefined;
  if (cert === '' || key === '') throw new ConfigError(cert === '' ? certFlag : keyFlag, `is required with ${cert === '' ? keyFlag : certFlag}`);
  return { cert: readPem(cert, certFlag), key: readPem(key, keyFlag) };
}

/** What only tests set: how agent connections are read (collector/server.ts AgentServerOptions.staticReads). */
export interface StartOptions {
  staticReads?: boolean;
}

export async function startCollector(config: CollectorConfig, log: Logger, start: StartOptions = {}): Promise<RunningCollector> {
  let dataDirOk = true;
  try {
    ensureDataDir(config.dataDir);
  } catch (err) {
    dataDirOk = false;
    log.error('data directory unusable; running without it (tokens in memory only, no control socket)', { dir: config.dataDir, error: (err as Error).message });
  }
  /** A secret from its flag, else from its file in the data directory, else (directory unusable) made for this run. */
  const secret = (given: string, file: string): string => {
    if (given !== '') return given;
    if (dataDirOk) {
      try {
        return loadOrCreateClusterToken(config.dataDir, file);
      } catch (err) {
        log.error('cannot read or create a token file; using a token for this run only', { file, error: (err as Error).message });
      }
    }
    return randomToken();
  };
  const token = secret(config.token, TOKEN_FILE);
  let httpToken = '';
  if (config.httpToken === HTTP_TOKEN_NONE) httpToken = '';
  else if (config.httpToken !== '' || !isLoopback(config.http.host)) httpToken = secret(config.httpToken, HTTP_TOKEN_FILE);
  const agentTls = pair(config.tlsCert, config.tlsKey, '--tls-cert', '--tls-key');
  const https = pair(config.httpsCert, config.httpsKey, '--https-cert', '--https-key');

  const tariff = config.tariff === '' ? null : parseTariff(config.tariff, 'tariff', config.timeZone);
  if (config.energyHourlyDays > config.energyHistoryDays) {
    throw new ConfigError('energy-hourly-days', `must not exceed --energy-history-days (${config.energyHistoryDays}), got ${config.energyHourlyDays}`);
  }

  const store = ShmStore.create(config.capacity, Date.now(), config.historyS);
  // Restored before the host table is built, which takes over the hosts it finds.
  const restoredState = dataDirOk ? restoreState(config.dataDir, store, log) : null;
  const hosts = new HostTable(store, config.evictAfterS * 1000);
  const energy = new EnergyService({
    tariff, timeZone: config.timeZone, maxGapMs: config.energyGapS * 1000, historyDays: config.energyHistoryDays,
    hourlyDays: config.energyHourlyDays, projectionDays: config.projectionDays, store, log,
  });
  if (restoredState?.extra) {
    try {
      const r = energy.restore(JSON.parse(restoredState.extra.toString('utf8')) as unknown, (h) => hosts.slotOf(h), Date.now());
      log.info('energy counters restored', { hosts: r.restored, skipped: r.skipped });
    } catch (err) {
      // The readings were restored; only the energy section is lost, and said so.
      log.error('energy counters in the state file unreadable; they start from zero', { error: (err as Error).message });
    }
  }
  hosts.onPlaced = (host, slot, placedMs, watts, intervalMs) => energy.onSample(host, slot, placedMs, watts, intervalMs);
  hosts.onEvicted = (host) => energy.forget(host);
  const saving = dataDirOk && config.saveIntervalS > 0;
  const stats = CollectorStats.create(Date.now());
  const hostTokens = new HostTokenSet(config.dataDir, (message) => log.error('host tokens unreadable', { error: message }));
  const auth = new Authenticator(hostTokens, token, config.auth);
  const agents = new AgentServer({
    hosts, log,
    auth,
    maxHelloBytes: config.maxHelloBytes,
    maxFrameBytes: config.maxFrameBytes,
    guardLimits: { maxDepth: config.maxDepth, maxStringBytes: config.maxStringBytes, maxArrayLength: config.maxArrayItems, maxMapSize: config.maxMapEntries },
    helloTimeoutMs: config.helloTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    ackIntervalMs: config.ackIntervalMs,
    maxConnections: config.maxConnections,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    maxPendingPerAddress: config.maxPendingPerAddress,
    failedHandshakesPerMinute: config.failedHandshakesPerMinute,
    durableAcks: saving,
    stats,
    ...(config.ingestWorkers > 0 ? { ingest: new IngestPool(store.buffer as SharedArrayBuffer, config.ingestWorkers) } : {}),
    ...(start.staticReads === undefined ? {} : { staticReads: start.staticReads }),
    ...(agentTls ? { tls: agentTls } : {}),
  });
  const saver = saving
    ? new StateSaver(config.dataDir, store, log, config.saveIntervalS * 1000, {
      beforeSnapshot: () => agents.markDurable(), afterSave: () => agents.commitDurable(),
      extra: () => energy.stateBytes(),
    })
    : null;
  let control: Server | null = null;
  if (dataDirOk) {
    try {
      control = await startControlSocket(config.dataDir, store, log);
    } catch (err) {
      if (err instanceof ConfigError) throw err; // another collector owns this data directory
      log.error('control socket unavailable; test_reader cannot attach', { dir: config.dataDir, error: (err as Error).message });
    }
  }
  const dashboardOptions: DashboardOptions = {
    buffer: store.buffer as SharedArrayBuffer, statsBuffer: stats.buffer, host: config.http.host, port: config.http.port,
    httpToken,
    allowedHosts: answeredHosts(config.http.host, config.httpAllowedHosts),
    limits: {
      maxConnections: config.httpMaxConnections, headersTimeoutMs: config.httpHeadersTimeoutMs, requestTimeoutMs: config.httpRequestTimeoutMs,
      keepAliveTimeoutMs: config.httpKeepAliveTimeoutMs, maxHeaderBytes: config.httpMaxHeaderBytes,
    },
    resourceLimits: { maxOldGenerationSizeMb: config.dashboardHeapMb },
    energy: { currency: tariff ? tariff.currency : null, timeZone: config.timeZone, projectionDays: config.projectionDays },
    ...(https ? { tls: https } : {}),
  };
  const dashboard = new DashboardSupervisor(dashboardOptions, log);
  dashboard.onEnergyQuery = (q) => energyReport(energy, q, Date.now());
  const webhooks = config.webhooks.length > 0 ? new WebhookNotifier(config.webhooks, log, { timeoutMs: config.webhookTimeoutMs }) : null;
  const alerts = new AlertService({
    rules: config.alerts, hosts: () => hosts.liveness(), hostCount: () => hosts.size, notifier: webhooks, log,
    publish: (feed) => {
      dashboard.postAlerts(feed);
      syncStats();
    },
  });
  /** Copies what /metrics reports about alerts and webhooks into the shared counters. */
  function syncStats(): void {
    stats.setAlertsFiring(alerts.engine.firingCount());
    if (!webhooks) return;
    const w = webhooks.stats();
    stats.setWebhookDeliveries('delivered', w.delivered);
    stats.setWebhookDeliveries('failed', w.failed);
    stats.setWebhookDeliveries('dropped', w.dropped);
  }
  // Deliveries finish in their own time; their counts are copied once a second.
  const statsTimer = setInterval(syncStats, 1000);
  statsTimer.unref();
  hosts.onLatest = (host, sample) => alerts.observe(host, sample);
  let agentAddress: HostPort;
  let httpAddress: HostPort;
  try {
    agentAddress = await agents.listen(config.listen.host, config.listen.port).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`the agent port cannot listen on ${formatHostPort(config.listen)}: ${err.message}${listenAdvice(err, 'listen')}`);
    });
    httpAddress = await dashboard.start();
  } catch (err) {
    control?.close();
    await agents.close();
    await dashboard.stop();
    throw err;
  }
  saver?.start();
  alerts.start();
  energy.start();
  const url = `${https ? 'https' : 'http'}://${formatHostPort(httpAddress)}/`;
  const joinCommand = agentCommand(reachableAddress(agentAddress), token, agentTls !== undefined);
  let stopped: Promise<void> | null = null;
  return {
    store, hosts, agents, saver, dashboard, alerts, energy, webhooks, stats, token, auth, httpToken, agentAddress, httpAddress, url, joinCommand,
    stop() {
      stopped ??= (async () => {
        // The last save comes after the agents are told to go, so it records them offline.
        alerts.stop();
        energy.stop();
        clearInterval(statsTimer);
        await agents.close();
        await Promise.all([saver?.stop(), dashboard.stop(), webhooks?.close(WEBHOOK_CLOSE_MS), new Promise<void>((r) => (control ? control.close(() => r()) : r()))]);
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
