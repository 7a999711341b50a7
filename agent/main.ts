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
import { configFromCommandLine, exitOnStartFailure, reloadOnHangup, stopOnSignals } from '../shared/cli.ts';
import { createLogger, type LogFields, type Logger } from '../shared/log.ts';
import { startAgent, type RunningAgent } from './agent.ts';
import { startPowerSocket, type PowerSocket } from './power_socket.ts';
import { AGENT_SETTINGS, type AgentConfig } from './settings.ts';

const USAGE = 'Usage: npm run agent -- --collector HOST:PORT --token TOKEN [--name NAME] [--interval MS] [--slow-interval MS] [--buffer-s SECONDS] [--ca CA.pem] [--power-socket PATH]\n\n'
  + 'Collects this machine\'s readings every interval and sends them to the collector. While the collector is away,\n'
  + 'samples are kept (--buffer-s, at most 8 MiB of them) and sent, oldest first, when it is back.';

/** A power figure older than this many intervals is served as an error: the sampling is stuck. */
const POWER_STALE_INTERVALS = 3;

/** The agent and its power socket, as one unit that a reload can replace. */
interface Running {
  agent: RunningAgent;
  socket: PowerSocket | undefined;
}

function startSocket(config: AgentConfig, agent: RunningAgent, log: Logger): Promise<PowerSocket | undefined> {
  if (config.powerSocket === '') return Promise.resolve(undefined);
  return startPowerSocket(config.powerSocket, () => agent.power(), log, {
    mode: config.powerSocketMode,
    ...(config.powerSocketGroup !== null ? { gid: config.powerSocketGroup } : {}),
    // One interval of slack on top, for a round that runs long.
    maxAgeMs: (POWER_STALE_INTERVALS + 1) * config.intervalMs,
  });
}

async function startAll(config: AgentConfig, log: Logger): Promise<Running> {
  const agent = await startAgent(config, log);
  try {
    return { agent, socket: await startSocket(config, agent, log) };
  } catch (err) {
    await agent.stop();
    throw err;
  }
}

async function stopAll(r: Running): Promise<void> {
  await r.socket?.close();
  await r.agent.stop();
}

function startingFields(config: AgentConfig): LogFields {
  return { name: config.name, collector: `${config.collector.host}:${config.collector.port}`, interval_ms: config.intervalMs, slow_interval_ms: config.slowIntervalMs, buffer_s: config.bufferSeconds };
}

async function main(): Promise<void> {
  const config = configFromCommandLine('agent', USAGE, AGENT_SETTINGS);
  const log = createLogger('agent', config.logLevel, undefined, config.logFormat);
  log.info('starting', startingFields(config));
  let running = await startAll(config, log);
  let current = config;
  let stopping = false;
  stopOnSignals(log, async () => {
    stopping = true;
    await stopAll(running);
  }, 3000);
  // SIGHUP (systemctl reload): log settings apply in place; any other change (collector,
  // token, name, interval, power...) restarts the agent's loop, connection and power socket in
  // this process with the new settings. Samples not yet acknowledged by the old collector are
  // dropped then (they were for it); a new setting that fails to start keeps the old agent.
  reloadOnHangup(AGENT_SETTINGS, log, config, async ({ next, apply }) => {
    if (apply.includes('logLevel')) log.setLevel(next.logLevel);
    if (apply.includes('logFormat')) log.setFormat(next.logFormat);
    if (stopping || apply.every((k) => k === 'logLevel' || k === 'logFormat')) return;
    // The old socket path must be free before the new socket binds it; the old agent goes on
    // until the new one is up, so a bad setting costs nothing.
    await running.socket?.close();
    let fresh: Running;
    try {
      fresh = await startAll(next, log);
    } catch (err) {
      // The old agent goes on as it was, its socket back in place.
      if (running.socket) running = { ...running, socket: await startSocket(current, running.agent, log).catch(() => undefined) };
      throw err;
    }
    const old = running;
    running = fresh;
    current = next;
    log.info('restarted with new settings', startingFields(next));
    await old.agent.stop();
  });
}
main().catch(exitOnStartFailure('agent'));
