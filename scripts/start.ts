/**
 * `npm start`: the collector (with its dashboard) and an agent for this machine, as two child
 * processes, so a newcomer sees a host on the page at once. Takes the collector's flags
 * (--listen, --http, --data-dir, ...), so several can run side by side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { configFromCommandLine } from '../shared/cli.ts';
import { formatHostPort } from '../shared/config.ts';
import { COLLECTOR_SETTINGS } from '../collector/settings.ts';
import { loadOrCreateClusterToken } from '../collector/token.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USAGE = 'Usage: npm start -- [collector options]\n\nStarts the collector, its dashboard, and an agent for this machine.';

function run(script: string, args: string[], env: NodeJS.ProcessEnv, pipeStdout: boolean): ChildProcess {
  // process.execArgv carries tsx's loader, so the child runs the TypeScript as this process does.
  return spawn(process.execPath, [...process.execArgv, script, ...args], { cwd: ROOT, env, stdio: ['ignore', pipeStdout ? 'pipe' : 'inherit', 'inherit'] });
}

function main(): void {
  const args = process.argv.slice(2);
  const config = configFromCommandLine('start', USAGE, COLLECTOR_SETTINGS);
  // Created here (same file, same atomic rule as the collector) so the agent can be given it.
  const token = config.token !== '' ? config.token : loadOrCreateClusterToken(config.dataDir);
  const collector = run('collector/main.ts', args, process.env, true);
  let agent: ChildProcess | null = null;
  let buffered = '';
  collector.stdout!.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (agent) return;
    buffered += chunk.toString('utf8');
    const m = /agents:\s+(\S+):(\d+)\s/.exec(buffered);
    if (!m) return;
    // The agent of this machine talks to the collector over loopback unless it is bound elsewhere.
    const bound = m[1]!.replace(/^\[|\]$/g, '');
    const host = bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound;
    const address = formatHostPort({ host, port: Number(m[2]) });
    // The token goes by environment, not argv, so it does not show in the process list.
    agent = run('agent/main.ts', ['--collector', address], { ...process.env, SENTINEL_TOKEN: token }, false);
    agent.on('exit', (code) => { if (!stopping) process.stderr.write(`start: the agent exited (code ${code})\n`); });
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    agent?.kill(signal);
    collector.kill(signal);
  };
  collector.on('exit', (code) => {
    if (!stopping) {
      stopping = true;
      agent?.kill('SIGTERM');
    }
    process.exitCode = code ?? 1;
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main();
