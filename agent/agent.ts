/**
 * The agent's loop: static facts at start (and re-read every few minutes), then every interval
 * take a sample and hand it to the sender, whether or not the collector is there: the sender
 * keeps what it cannot send yet. main.ts wires it to the command line; tests start it directly.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../shared/log.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import type { BackoffOptions } from './backoff.ts';
import { collectorsWith, Sampler } from './collectors/index.ts';
import { cpuOfFacts, PowerDrawCollector, powerModelFor } from './collectors/power_draw.ts';
import { collectStaticFacts, factsFingerprint, type StaticFacts, type StaticFactsResult } from './collectors/static_facts.ts';
import type { Collector } from './collectors/types.ts';
import { readingFromSample, type PowerReading } from './power_socket.ts';
import { samplesFor } from './sample_buffer.ts';
import { Sender, type SenderTls } from './sender.ts';
import type { AgentConfig } from './settings.ts';

/** Static facts (OS, CPU model) may take a while on first call; never hold the agent longer, ms. */
export const STATIC_FACTS_TIMEOUT_MS = 5000;
/** A collection round may use at most this share of the interval before its laggards are cut. */
const COLLECT_SHARE = 0.8;
/** Static facts are re-read this often, ms: rarely, as each read spawns ~20 child processes (static_facts.ts). */
export const FACTS_REFRESH_MS = 5 * 60_000;

/** What tests replace; production uses the defaults. */
export interface AgentHooks {
  backoff?: BackoffOptions;
  /** Readings collectors for the sampler; default the list of index.ts with the power collector of the settings. */
  collectors?: readonly Collector[];
  readStaticFacts?: (timeoutMs: number) => Promise<StaticFactsResult>;
  /** A key that changes when a fact may have (default factsFingerprint): facts are read again only then. */
  factsFingerprint?: () => string;
  factsRefreshMs?: number;
}

export interface RunningAgent {
  readonly sender: Sender;
  readonly sampler: Sampler;
  /** The power of the last sample handed to the sender (the power socket serves it), or why there is none. */
  power(): PowerReading;
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

/** The facts of `now` that are known and differ from `sent`; undefined when none do. */
export function changedFacts(sent: StaticFacts, now: StaticFacts): StaticFacts | undefined {
  const changed = Object.fromEntries(Object.entries(now).filter(([k, v]) => v !== undefined && v !== sent[k as keyof StaticFacts]));
  return Object.keys(changed).length > 0 ? changed : undefined;
}

export async function startAgent(config: AgentConfig, log: Logger, hooks: AgentHooks = {}): Promise<RunningAgent> {
  const readFacts = hooks.readStaticFacts ?? collectStaticFacts;
  const fingerprint = hooks.factsFingerprint ?? factsFingerprint;
  let factsKey = fingerprint();
  const { facts, missing } = await readFacts(STATIC_FACTS_TIMEOUT_MS);
  for (const [name, reason] of Object.entries(missing)) log.warn('static fact not available', { fact: name, reason });
  // Before anything starts: overrides that contradict the class stop the agent here (ConfigError).
  const power = new PowerDrawCollector({ root: config.powerRoot, model: powerModelFor(config, cpuOfFacts(facts)), log });
  const collectors = hooks.collectors ?? collectorsWith(power);
  // Read the counters now, so that the first sample already has an energy delta.
  if (collectors.includes(power)) power.start();
  const tls = tlsOptions(config);
  const sender = new Sender({
    host: config.collector.host,
    port: config.collector.port,
    hello: { host: config.name, agent: SENTINEL_VERSION, token: config.token, interval_ms: config.intervalMs, ...facts },
    log,
    bufferMaxSamples: samplesFor(config.bufferSeconds, config.intervalMs),
    ...(tls ? { tls } : {}),
    ...(hooks.backoff ? { backoff: hooks.backoff } : {}),
  });
  const sampler = new Sampler({ slowIntervalMs: config.slowIntervalMs, collectors });
  sampler.start();
  sender.start();

  let stopped = false;
  let busy = false;
  let timer: NodeJS.Timeout | null = null;
  let factsBusy = false;
  const sentFacts: StaticFacts = { ...facts };
  const started = Date.now();
  let tick = 0;
  let lastPower: PowerReading = { source: null, atMs: started, error: 'no sample taken yet' };
  const collectTimeoutMs = Math.max(50, Math.floor(config.intervalMs * COLLECT_SHARE));

  const round = async (): Promise<void> => {
    // A round still running (a slow source) makes this tick skip rather than pile up.
    if (busy) return;
    busy = true;
    try {
      const ts = Date.now();
      const result = await sampler.sample(collectTimeoutMs);
      if (!stopped) {
        sender.sendSample(ts, result.readings, result.missing, result.fields);
        lastPower = readingFromSample(result, ts);
      }
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
  // Facts rarely change (an OS upgraded in place, CPUs brought online); a change goes to the
  // collector at once. The fingerprint (microseconds, no process) says when to look: si.cpu()
  // starts 7 child processes, not worth running every few minutes for nothing.
  const refreshFacts = async (): Promise<void> => {
    if (factsBusy || stopped) return;
    const key = fingerprint();
    if (key === factsKey) return;
    factsKey = key;
    factsBusy = true;
    try {
      const changed = changedFacts(sentFacts, (await readFacts(STATIC_FACTS_TIMEOUT_MS)).facts);
      if (changed && !stopped) {
        log.info('static facts changed', { ...changed });
        Object.assign(sentFacts, changed);
        sender.sendFacts(changed);
      }
    } catch (err) {
      log.warn('static facts could not be re-read', { error: err instanceof Error ? err.message : String(err) });
    } finally {
      factsBusy = false;
    }
  };
  schedule();
  const factsTimer = setInterval(() => { void refreshFacts(); }, hooks.factsRefreshMs ?? FACTS_REFRESH_MS);

  return {
    sender,
    sampler,
    power: () => lastPower,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      clearInterval(factsTimer);
      sampler.stop();
      await sender.stop();
    },
  };
}
