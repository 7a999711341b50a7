/**
 * `npm run token -- add NAME | list | revoke NAME [--data-dir DIR]`: per-host tokens.
 * `add` prints the new token once (only its salted scrypt hash is kept); a running collector
 * picks changes up within a second, and `revoke` closes the host's live connection.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SENTINEL_VERSION } from '../shared/version.ts';
import { COLLECTOR_SETTINGS } from '../collector/settings.ts';
import { flagWords } from '../collector/install_command.ts';
import { ensureDataDir, randomToken } from '../collector/token.ts';
import { hashToken, hostTokensPath, readHostTokens, writeHostTokens } from '../collector/host_tokens.ts';
import { envName } from '../shared/config.ts';
import { ConfigError, ProtocolError } from '../shared/errors.ts';
import { newHostName, normaliseHostName } from '../shared/protocol.ts';

const USAGE = `Usage: npm run token -- COMMAND [--data-dir DIR]

Commands:
  add NAME      make a token for host NAME, print it once, keep only its hash
                (replaces NAME's old token: the agent using it is disconnected)
  list          the hosts that have a token, and when each was made
  revoke NAME   delete NAME's token (its agent is disconnected)

--data-dir DIR  the collector's data directory (env ${envName('data-dir')}; default: ${COLLECTOR_SETTINGS.dataDir.default})
`;

export interface TokenCommandResult {
  code: number;
  out: string;
}

/** NAME on the command line: a new one (`add`) follows newHostName's rules, one to find (`revoke`) the older ones too. */
function hostArg(raw: string | undefined, isNew: boolean): string {
  if (raw === undefined) throw new ConfigError('NAME', 'is required');
  try {
    return isNew ? newHostName(raw, 'NAME') : normaliseHostName(raw, 'NAME');
  } catch (err) {
    throw new ConfigError('NAME', err instanceof ProtocolError ? err.message.replace(/^[^:]+: /, '') : String(err));
  }
}

/** Runs one command; returns what to print and the exit code. Throws ConfigError for bad usage. */
export async function runTokenCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<TokenCommandResult> {
  const { values, positionals } = parseArgs({ args: [...argv], options: { 'data-dir': { type: 'string' }, help: { type: 'boolean' }, version: { type: 'boolean' } }, allowPositionals: true, strict: true });
  if (values.version) return { code: 0, out: `${SENTINEL_VERSION}\n` };
  if (values.help || positionals.length === 0) return { code: values.help ? 0 : 2, out: USAGE };
  const dataDir = values['data-dir'] ?? (env[envName('data-dir')] || COLLECTOR_SETTINGS.dataDir.default!);
  const [command, name, ...extra] = positionals;
  if (extra.length > 0) throw new ConfigError('command line', `unexpected "${extra[0]}" (see --help)`);
  switch (command) {
    case 'add': {
      const host = hostArg(name, true);
      ensureDataDir(dataDir);
      const records = readHostTokens(dataDir);
      const token = randomToken();
      const replaced = records.has(host);
      records.set(host, await hashToken(host, token));
      writeHostTokens(dataDir, records);
      return {
        code: 0,
        out: `${replaced ? 'Replaced' : 'Made'} the token of ${JSON.stringify(host)}. It is shown this once; only its hash is kept in ${hostTokensPath(dataDir)}.\n`
          + `  ${token}\n`
          + `On that machine: npm run agent -- --collector COLLECTOR:8765 ${flagWords('name', host)} ${flagWords('token', token)}\n`
          + `(or put it in SENTINEL_TOKEN rather than on the command line, so it does not show in the process list)\n`,
      };
    }
    case 'list': {
      const records = readHostTokens(dataDir);
      if (records.size === 0) return { code: 0, out: `no host tokens in ${hostTokensPath(dataDir)}\n` };
      // JSON quoting shows control-free but otherwise arbitrary names unambiguously.
      const lines = [...records.values()].map((r) => `${JSON.stringify(r.host)}\tmade ${r.created}`);
      return { code: 0, out: lines.join('\n') + '\n' };
    }
    case 'revoke': {
      const host = hostArg(name, false);
      const records = readHostTokens(dataDir);
      if (!records.delete(host)) return { code: 1, out: `no token for ${JSON.stringify(host)}\n` };
      writeHostTokens(dataDir, records);
      return { code: 0, out: `Revoked the token of ${JSON.stringify(host)}.\n` };
    }
    default:
      throw new ConfigError('command line', `unknown command "${String(command).slice(0, 40)}" (see --help)`);
  }
}

async function main(): Promise<void> {
  try {
    const r = await runTokenCommand(process.argv.slice(2), process.env);
    (r.code === 0 ? process.stdout : process.stderr).write(r.out);
    process.exitCode = r.code;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`token: ${message}\n`);
    process.exitCode = err instanceof ConfigError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 2 : 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
