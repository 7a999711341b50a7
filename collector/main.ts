/** The collector's command line: wiring only. */
import { newerSource } from '../shared/checkout.ts';
import { configFromCommandLine, exitOnStartFailure, reloadOnHangup, stopOnSignals } from '../shared/cli.ts';
import { formatHostPort } from '../shared/config.ts';
import { createLogger } from '../shared/log.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import { reachableAddress, startCollector } from './app.ts';
import { installCommand } from './install_command.ts';
import { COLLECTOR_SETTINGS } from './settings.ts';
import { loadOrCreateClusterToken } from './token.ts';

const USAGE = 'Usage: npm run collector -- [options]\n\nAccepts agents over TCP, keeps the latest readings of every host in shared memory, and serves the dashboard.';

async function main(): Promise<void> {
  const config = configFromCommandLine('collector', USAGE, COLLECTOR_SETTINGS);
  const log = createLogger('collector', config.logLevel, undefined, config.logFormat);
  const c = await startCollector(config, log);
  const install = installCommand({
    http: c.httpAddress, httpReachable: reachableAddress(c.httpAddress), https: config.httpsCert !== '',
    agents: reachableAddress(c.agentAddress), token: c.token, agentTls: config.tlsCert !== '',
  });
  log.info('agents port open', { listen: formatHostPort(c.agentAddress), capacity: config.capacity });
  log.info('dashboard ready', { url: c.url, password: c.httpToken !== '' });
  let stale: string | null = null;
  try {
    stale = newerSource(import.meta.url, ['collector', 'dashboard', 'shared']);
  } catch (err) {
    log.debug('could not compare the build with its sources', { error: (err as Error).message });
  }
  if (stale) log.warn('this compiled collector is older than its sources: run `npm run build` (or `npm ci`) in the checkout, then restart', { newer: stale });
  process.stdout.write(
    `Cluster Sentinel collector ${SENTINEL_VERSION}\n` +
    `  agents:    ${formatHostPort(c.agentAddress)}${config.tlsCert ? ' (TLS)' : ''}\n` +
    `  dashboard: ${c.url}\n` +
    // Printed like the join command's token: whoever reads this output runs the collector.
    (c.httpToken !== '' ? `  dashboard password (any user name, or Authorization: Bearer): ${c.httpToken}\n` : '') +
    `To install the agent as a service on another machine (Linux with systemd), run this on it:\n` +
    `  ${install.command}\n` +
    install.notes.map((n) => `  ${n}\n`).join('') +
    `Or run an agent by hand (in a checkout of Cluster Sentinel, after npm install):\n` +
    `  ${c.joinCommand}\n` +
    `(A second agent on one machine needs its own name: add --name OTHER-NAME.)\n`,
  );
  stopOnSignals(log, () => c.stop(), 5000);
  // SIGHUP (systemctl reload): log level and format, and the cluster token (from the config
  // file, or DATA_DIR/cluster.token when none is set: replace that file, then reload).
  reloadOnHangup(COLLECTOR_SETTINGS, log, config, ({ next, apply }) => {
    if (apply.includes('logLevel')) log.setLevel(next.logLevel);
    if (apply.includes('logFormat')) log.setFormat(next.logFormat);
    let token = next.token;
    if (token === '') {
      try {
        token = loadOrCreateClusterToken(next.dataDir);
      } catch (err) {
        log.error('cluster token file unreadable; the token in use stays', { error: (err as Error).message });
        token = '';
      }
    }
    if (token !== '' && c.auth.setClusterToken(token)) {
      log.warn('cluster token replaced: agents admitted with the old one are disconnected');
      c.agents.recheckCredentials();
    }
  });
}

main().catch(exitOnStartFailure('collector'));
