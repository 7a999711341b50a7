/** The collector's command line: wiring only. */
import { ConfigError } from '../shared/errors.ts';
import { formatHostPort, helpText, loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/log.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import { startCollector } from './app.ts';
import { COLLECTOR_SETTINGS } from './settings.ts';

const USAGE = 'Usage: npm run collector -- [options]\n\nAccepts agents over TCP, keeps the latest readings of every host in shared memory, and serves the dashboard.';

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig(COLLECTOR_SETTINGS, process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`collector: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (loaded.help) return void process.stdout.write(helpText(USAGE, COLLECTOR_SETTINGS));
  if (loaded.version) return void process.stdout.write(`${SENTINEL_VERSION}\n`);
  const config = loaded.config;
  const log = createLogger('collector', config.logLevel);
  const c = await startCollector(config, log);
  log.info('agents port open', { listen: formatHostPort(c.agentAddress), capacity: config.capacity });
  log.info('dashboard ready', { url: `http://${formatHostPort(c.httpAddress)}/` });
  process.stdout.write(
    `Cluster Sentinel collector ${SENTINEL_VERSION}\n` +
    `  agents:    ${formatHostPort(c.agentAddress)}\n` +
    `  dashboard: http://${formatHostPort(c.httpAddress)}/\n` +
    `To add a machine, run this on it (in a checkout of Cluster Sentinel, after npm install):\n` +
    `  ${c.joinCommand}\n`,
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    c.stop().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(1), 5000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`collector: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
