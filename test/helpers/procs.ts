/** Real child processes for integration tests: start a program of this repo, read its output, stop it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitFor } from './net.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();
// Never leave a child behind, whatever way the test run ends.
process.on('exit', () => { for (const c of running) c.kill('SIGKILL'); });

/** Runs `node --import tsx SCRIPT ...args` from the repo root. */
export function startTs(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return trackProc(spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
}

/** Follows a child started with piped stdout and stderr: its output, its exit, a stop that ends it for sure. */
export function trackProc(child: ChildProcess): Proc {
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString('utf8'); });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString('utf8'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { running.delete(child); resolve(code); }));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 8000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Waits for a regex to match a process's stdout; returns the match. */
export function waitForOutput(p: Proc, re: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
  return waitFor(`output matching ${re} (stdout so far: ${JSON.stringify(p.stdout().slice(-300))}, stderr: ${JSON.stringify(p.stderr().slice(-500))})`, () => re.exec(p.stdout()), timeoutMs, 50);
}

/** Runs a script to completion; resolves with its exit code and output. */
export async function runTs(script: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = startTs(script, args);
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(t);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** A TCP port free on loopback now (for a child process that must bind it itself). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

/**
 * A real collector process on loopback ports with `dataDir` and `token`, started once it prints
 * its dashboard URL (`base`, without the trailing slash). `extra`: more flags.
 */
export async function startCollectorProcess(dataDir: string, agentPort: number, httpPort: number, token: string, extra: string[] = []): Promise<{ proc: Proc; base: string }> {
  const proc = startTs('collector/main.ts', [
    '--listen', `127.0.0.1:${agentPort}`, '--http', `127.0.0.1:${httpPort}`, '--data-dir', dataDir, '--token', token, '--log-level', 'warn', ...extra,
  ]);
  const m = await waitForOutput(proc, /dashboard: (http:\/\/\S+?)\/\s/, 30_000);
  return { proc, base: m[1]! };
}
