/**
 * The agent's loop: static facts once, then every interval collect all readings in parallel and
 * hand them to the sender. main.ts wires it to the command line; tests start it directly.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../shared/log.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import { collectAll } from './collectors/index.ts';
import { collectStaticFacts } from './collectors/static_facts.ts';
import { Sender, type SenderTls } from './sender.ts';
import type { AgentConfig } from './settings.ts';

/** Static facts (OS, CPU model) may take a while on first call; never hold the agent longer, ms. */
export const STATIC_FACTS_TIMEOUT_MS = 5000;
/** A collection round may use at most this share of the interval before its laggards are cut. */
const COLLECT_SHARE = 0.8;

export interface RunningAgent {
  readonly sender: Sender;
  stop(): Promise<void>;
}

/** TLS when --tls on or --ca is given; the CA file is read once, at start. */
export function tlsOptions(config: AgentConfig): SenderTls | undefined {
  if (config.tls !== 'on' && config.ca === '') return undefined;
  const tls: SenderTls = {};
  if (config.ca !== '') tls.ca = readFileSync(config.ca, 'utf8');
  if (config.tlsServername !== '') tls.servername = config.tlsServername;
  return tls;
}

export async function startAgent(config: AgentConfig, log: Logger): Promise<RunningAgent> {
  const { facts, missing } = await collectStaticFacts(STATIC_FACTS_TIMEOUT_MS);
  for (const [name, reason] of Object.entries(missing)) log.warn('static fact not available', { fact: name, reason });
  const sender = new Sender({
    host: config.collector.host,
    port: config.collector.port,
    hello: { host: config.name, agent: SENTINEL_VERSION, token: config.token, interval_ms: config.intervalMs, ...facts },
    log,
    ...(tlsOptions(config) ? { tls: tlsOptions(config)! } : {}),
  });
  sender.start();

  let stopped = false;
  let busy = false;
  let timer: NodeJS.Timeout | null = null;
  const started = Date.now();
  let tick = 0;
  const collectTimeoutMs = Math.max(50, Math.floor(config.intervalMs * COLLECT_SHARE));

  const round = async (): Promise<void> => {
    // A round still running (a slow source) makes this tick skip rather than pile up.
    if (busy) return;
    busy = true;
    try {
      const ts = Date.now();
      const result = await collectAll(collectTimeoutMs);
      if (!stopped) sender.sendSample(ts, result.readings, result.missing);
    } catch (err) {
      log.error('collection round failed', { error: err instanceof Error ? err.message : String(err) });
    } finally {
      busy = false;
    }
  };
  // Ticks are scheduled against the start time, so samples do not drift later with each round.
  const schedule = (): void => {
    if (stopped) return;
    tick++;
    timer = setTimeout(() => { void round(); schedule(); }, Math.max(0, started + tick * config.intervalMs - Date.now()));
  };
  sender.on('ready', () => { void round(); });
  schedule();

  return {
    sender,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await sender.stop();
    },
  };
}
