/** The agent's command line: wiring only. */
import { configFromCommandLine, exitOnStartFailure, stopOnSignals } from '../shared/cli.ts';
import { createLogger } from '../shared/log.ts';
import { startAgent } from './agent.ts';
import { AGENT_SETTINGS } from './settings.ts';

const USAGE = 'Usage: npm run agent -- --collector HOST:PORT --token TOKEN [--name NAME] [--interval MS] [--ca CA.pem]\n\nCollects this machine\'s readings every interval and sends them to the collector.';

async function main(): Promise<void> {
  const config = configFromCommandLine('agent', USAGE, AGENT_SETTINGS);
  const log = createLogger('agent', config.logLevel);
  log.info('starting', { name: config.name, collector: `${config.collector.host}:${config.collector.port}`, interval_ms: config.intervalMs });
  const agent = await startAgent(config, log);
  stopOnSignals(log, () => agent.stop(), 3000);
}

main().catch(exitOnStartFailure('agent'));
