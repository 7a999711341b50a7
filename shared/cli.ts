/** What every program's main.ts does around its settings: --help, --version, errors, signals. */
import { ConfigError } from './errors.ts';
import { helpText, loadConfig, type ConfigOf, type SettingsTable } from './config.ts';
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
