/** The collector's command line: wiring only. */
import { configFromCommandLine, exitOnStartFailure, stopOnSignals } from '../shared/cli.ts';
import { formatHostPort } from '../shared/config.ts';
import { createLogger } from '../shared/log.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import { startCollector } from './app.ts';
import { COLLECTOR_SETTINGS } from './settings.ts';

const USAGE = 'Usage: npm run collector -- [options]\n\nAccepts agents over TCP, keeps the latest readings of every host in shared memory, and serves the dashboard.';

async function main(): Promise<void> {
  const config = configFromCommandLine('collector', USAGE, COLLECTOR_SETTINGS);
  const log = createLogger('collector', config.logLevel);
  const c = await startCollector(config, log);
  log.info('agents port open', { listen: formatHostPort(c.agentAddress), capacity: config.capacity });
  log.info('dashboard ready', { url: c.url, password: c.httpToken !== '' });
  process.stdout.write(
    `Cluster Sentinel collector ${SENTINEL_VERSION}\n` +
    `  agents:    ${formatHostPort(c.agentAddress)}${config.tlsCert ? ' (TLS)' : ''}\n` +
    `  dashboard: ${c.url}\n` +
    // Printed like the join command's token: whoever reads this output runs the collector.
    (c.httpToken !== '' ? `  dashboard password (any user name, or Authorization: Bearer): ${c.httpToken}\n` : '') +
    `To add a machine, run this on it (in a checkout of Cluster Sentinel, after npm install):\n` +
    `  ${c.joinCommand}\n` +
    `(A second agent on one machine needs its own name: add --name OTHER-NAME.)\n`,
  );
  stopOnSignals(log, () => c.stop(), 5000);
}

main().catch(exitOnStartFailure('collector'));
