/** The agent's command line: wiring only. */
import { ConfigError } from '../shared/errors.ts';
import { helpText, loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/log.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import { startAgent } from './agent.ts';
import { AGENT_SETTINGS } from './settings.ts';

const USAGE = 'Usage: npm run agent -- --collector HOST:PORT --token TOKEN [--name NAME] [--interval MS]\n\nCollects this machine\'s readings every interval and sends them to the collector.';

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig(AGENT_SETTINGS, process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`agent: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (loaded.help) return void process.stdout.write(helpText(USAGE, AGENT_SETTINGS));
  if (loaded.version) return void process.stdout.write(`${SENTINEL_VERSION}\n`);
  const config = loaded.config;
  const log = createLogger('agent', config.logLevel);
  log.info('starting', { name: config.name, collector: `${config.collector.host}:${config.collector.port}`, interval_ms: config.intervalMs });
  const agent = await startAgent(config, log);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    agent.stop().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(1), 3000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
