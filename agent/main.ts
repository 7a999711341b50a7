/** The agent's command line: wiring only. */
import { configFromCommandLine, exitOnStartFailure, stopOnSignals } from '../shared/cli.ts';
import { createLogger } from '../shared/log.ts';
import { startAgent } from './agent.ts';
import { startPowerSocket, type PowerSocket } from './power_socket.ts';
import { AGENT_SETTINGS } from './settings.ts';

const USAGE = 'Usage: npm run agent -- --collector HOST:PORT --token TOKEN [--name NAME] [--interval MS] [--slow-interval MS] [--buffer-s SECONDS] [--ca CA.pem] [--power-socket PATH]\n\n'
  + 'Collects this machine\'s readings every interval and sends them to the collector. While the collector is away,\n'
  + 'samples are kept (--buffer-s, at most 8 MiB of them) and sent, oldest first, when it is back.';

/** A power figure older than this many intervals is served as an error: the sampling is stuck. */
const POWER_STALE_INTERVALS = 3;

async function main(): Promise<void> {
  const config = configFromCommandLine('agent', USAGE, AGENT_SETTINGS);
  const log = createLogger('agent', config.logLevel);
  log.info('starting', { name: config.name, collector: `${config.collector.host}:${config.collector.port}`, interval_ms: config.intervalMs, slow_interval_ms: config.slowIntervalMs, buffer_s: config.bufferSeconds });
  const agent = await startAgent(config, log);
  let socket: PowerSocket | undefined;
  if (config.powerSocket !== '') {
    socket = await startPowerSocket(config.powerSocket, () => agent.power(), log, {
      mode: config.powerSocketMode,
      ...(config.powerSocketGroup !== null ? { gid: config.powerSocketGroup } : {}),
      // One interval of slack on top, for a round that runs long.
      maxAgeMs: (POWER_STALE_INTERVALS + 1) * config.intervalMs,
    });
  }
  stopOnSignals(log, async () => {
    await socket?.close();
    await agent.stop();
  }, 3000);
}

main().catch(exitOnStartFailure('agent'));
