/**
 * The agent's command line: wiring only.
 *
 * Deployed as precompiled JavaScript under `node --jitless` (`npm run build`, then
 * `node --jitless dist/agent/main.js ...`; README, Deployment). Measured with
 * `npm run bench -- agent` (60 s, one run, both side by side): --jitless keeps the agent at
 * 52 MiB resident instead of 58 (V8 no longer maps or runs its compilers' code, nor keeps
 * machine code), at no CPU cost seen (0.35 % of one core against 0.38 %): the agent runs a few
 * milliseconds of JavaScript a second, which the interpreter handles as well as compiled code.
 * --lite-mode on top saved nothing more; --max-semi-space-size=1 (the heap stays small) and
 * --single-threaded (V8's background threads; Node's worker threads, which the GPU probe uses,
 * are not affected) saved no memory. --jitless also turns WebAssembly off, which the agent does
 * not use. From a checkout, `npm run agent` (tsx) takes ~19 MiB more than plain node for the
 * TypeScript loader (76 against 57 MiB in the same run), plus tsx's esbuild process.
 */
// First: it must run before any module loads msgpackr.
import './msgpack_env.ts';
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
