/** What every program's main.ts does around its settings: --help, --version, errors, signals. */
import { ConfigError } from './errors.ts';
import { helpText, loadConfig, type ConfigOf, type SettingsTable } from './config.ts';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from './log.ts';
import { SENTINEL_VERSION } from './version.ts';

/**
 * Resolves the settings of `program` from argv and the environment. Prints help or the version
 * and exits 0 when asked; prints a bad setting and exits 2.
 */
export function configFromCommandLine<S extends SettingsTable>(program: string, usage: string, table: S): ConfigOf<S> {
  try {
    const loaded = loadConfig(table, process.argv.slice(2), process.env);
    if (loaded.help) {
      process.stdout.write(helpText(usage, table));
      process.exit(0);
    }
    if (loaded.version) {
      process.stdout.write(`${SENTINEL_VERSION}\n`);
      process.exit(0);
    }
    return loaded.config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${program}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * On SIGINT or SIGTERM, runs `stop` once and exits 0 when it resolves (1 if it fails or takes
 * longer than `graceMs`).
 */
export function stopOnSignals(log: Logger, stop: () => Promise<void>, graceMs: number): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    stop().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(1), graceMs).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Reports a failure at start and exits 1. */
export function exitOnStartFailure(program: string): (err: unknown) => void {
  return (err) => {
    process.stderr.write(`${program}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  };
}

/** What a reload found: the settings that changed, split by whether the running program applies them. */
export interface ReloadPlan<S extends SettingsTable> {
  next: ConfigOf<S>;
  /** Changed, and applied by the program (Setting.reload). */
  apply: (keyof S & string)[];
  /** Changed, but only a restart takes them. */
  restart: (keyof S & string)[];
}

/** Compares two resolutions of one table; pure, so tests can drive it without signals. */
export function planReload<S extends SettingsTable>(table: S, current: ConfigOf<S>, next: ConfigOf<S>): ReloadPlan<S> {
  const apply: (keyof S & string)[] = [];
  const restart: (keyof S & string)[] = [];
  for (const [key, s] of Object.entries(table)) {
    if (isDeepStrictEqual(current[key as keyof S], next[key as keyof S])) continue;
    (s.reload ? apply : restart).push(key as keyof S & string);
  }
  return { next, apply, restart };
}

/**
 * On SIGHUP, resolves the settings again (the config file re-read; environment and flags as at
 * start) and hands the reloadable changes to `apply`. A file that no longer parses changes
 * nothing: the error is logged and the running settings stay. Changes that need a restart are
 * named in the log and left alone. Reloads never overlap: a signal during one runs one more after.
 */
export function reloadOnHangup<S extends SettingsTable>(
  table: S, log: Logger, initial: ConfigOf<S>, apply: (plan: ReloadPlan<S>) => Promise<void> | void,
  resolve: () => ConfigOf<S> = () => loadConfig(table, process.argv.slice(2), process.env).config,
): () => Promise<void> {
  let current = initial;
  let running: Promise<void> | null = null;
  let again = false;
  const once = async (): Promise<void> => {
    let next: ConfigOf<S>;
    try {
      next = resolve();
    } catch (err) {
      log.error('reload refused; the running settings stay', { error: err instanceof Error ? err.message : String(err) });
      return;
    }
    const plan = planReload(table, current, next);
    if (plan.restart.length > 0) log.warn('reload: these settings changed but need a restart', { settings: plan.restart.map((k) => table[k]!.flag).join(',') });
    try {
      await apply(plan);
    } catch (err) {
      log.error('reload failed', { error: err instanceof Error ? err.message : String(err) });
      return;
    }
    // What needs a restart stays as it runs, so the next reload names it again.
    const merged: Record<string, unknown> = { ...current };
    for (const k of plan.apply) merged[k] = next[k];
    current = Object.freeze(merged) as ConfigOf<S>;
    log.info('reloaded', { applied: plan.apply.map((k) => table[k]!.flag).join(',') || 'nothing' });
  };
  const reload = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await once();
      } while (again);
    })().finally(() => { running = null; });
    return running;
  };
  process.on('SIGHUP', () => { void reload(); });
  return reload;
}
