/**
 * Drives Debian's chromium headless for the browser tests: dump the DOM after the page's scripts
 * ran, or take a screenshot. Every run gets a fresh profile directory (removed afterwards) and a
 * hard kill after a deadline, so a hung browser can never hang the test run.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/** Flags for a root-run, offline, quiet headless chromium (the profile directory is added per run). */
export const CHROMIUM_FLAGS: readonly string[] = Object.freeze([
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]);

/** Virtual time the page gets before the DOM is dumped, ms: enough for several refreshes. */
export const DEFAULT_VIRTUAL_TIME_BUDGET_MS = 5000;
/** Wall-clock limit on one chromium run, ms; past it the browser is killed. */
export const DEFAULT_CHROMIUM_TIMEOUT_MS = 30_000;
/** Stderr kept for error messages, characters (chromium logs a lot of harmless dbus noise). */
const STDERR_TAIL_CHARS = 4000;

export const INSTALL_HINT = 'apt-get install -y chromium';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The chromium binary to run: /usr/bin/chromium, then `chromium` or `chromium-browser` on PATH; null when none. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  if (isExecutable('/usr/bin/chromium')) return '/usr/bin/chromium';
  const dirs = (env['PATH'] ?? '').split(delimiter).filter(Boolean);
  for (const name of ['chromium', 'chromium-browser']) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return null;
}

/**
 * For a test that needs chromium: its path, or null after marking the test skipped. On CI
 * (`CI` set) a missing browser is a failure instead, so the browser test cannot silently vanish.
 */
export function chromiumOrSkip(t: TestContext, env: NodeJS.ProcessEnv = process.env): string | null {
  const path = findChromium(env);
  if (path) return path;
  if (env['CI']) assert.fail(`chromium not found (looked for /usr/bin/chromium, chromium and chromium-browser on PATH); CI must install it: ${INSTALL_HINT}`);
  t.skip(`chromium not installed: ${INSTALL_HINT}`);
  return null;
}

export interface ChromiumRunOptions {
  /** Wall-clock limit, ms (default DEFAULT_CHROMIUM_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Binary to run (default findChromium()). */
  chromium?: string;
}

// Process groups of browsers still running (these runs and cdp.ts's browsers), killed if this
// process exits first (chromium is started in its own group so that its zygote and renderers go
// with it).
export const running = new Set<number>();
process.once('exit', () => {
  for (const pgid of running) killGroup(pgid);
});

export function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Runs chromium with CHROMIUM_FLAGS, a fresh profile and `args`; resolves with its stdout when it exits 0. */
export async function runChromium(args: readonly string[], opts: ChromiumRunOptions = {}): Promise<string> {
  const binary = opts.chromium ?? findChromium();
  if (!binary) throw new Error(`chromium not found: ${INSTALL_HINT}`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CHROMIUM_TIMEOUT_MS;
  const profile = await mkdtemp(join(tmpdir(), 'sentinel-chromium-'));
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = spawn(binary, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, ...args], {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const pgid = child.pid;
      if (pgid !== undefined) running.add(pgid);
      const stdout: Buffer[] = [];
      let stderr = '';
      let timedOut = false;
      child.stdout.on('data', (c: Buffer) => stdout.push(c));
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (c: string) => {
        stderr = (stderr + c).slice(-STDERR_TAIL_CHARS);
      });
      const timer = setTimeout(() => {
        timedOut = true;
        if (pgid !== undefined) killGroup(pgid);
      }, timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        if (pgid !== undefined) running.delete(pgid);
        reject(new Error(`cannot start ${binary}: ${err.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (pgid !== undefined) running.delete(pgid);
        if (timedOut) reject(new Error(`chromium killed after ${timeoutMs} ms; stderr tail:\n${stderr}`));
        else if (code !== 0) reject(new Error(`chromium exited with ${code ?? signal}; stderr tail:\n${stderr}`));
        else resolve(Buffer.concat(stdout).toString('utf8'));
      });
    });
  } finally {
    // Retries: a helper process may still be closing files in the profile for a moment.
    await rm(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }
}

export interface DumpDomOptions extends ChromiumRunOptions {
  /** Virtual time the page runs before the dump, ms (default DEFAULT_VIRTUAL_TIME_BUDGET_MS). */
  virtualTimeBudgetMs?: number;
}

/** The page's DOM as serialised after its scripts ran for the virtual time budget. */
export function dumpDom(url: string, opts: DumpDomOptions = {}): Promise<string> {
  const budget = opts.virtualTimeBudgetMs ?? DEFAULT_VIRTUAL_TIME_BUDGET_MS;
  return runChromium(['--dump-dom', `--virtual-time-budget=${budget}`, url], opts);
}

export interface ScreenshotOptions extends DumpDomOptions {
  /** Viewport, CSS pixels. */
  width: number;
  height: number;
  /** Force prefers-color-scheme: dark (default: the browser's, light when headless). */
  dark?: boolean;
}

/** Writes a PNG of the page to `file`, for looking at by hand. */
export async function screenshot(url: string, file: string, opts: ScreenshotOptions): Promise<void> {
  const budget = opts.virtualTimeBudgetMs ?? DEFAULT_VIRTUAL_TIME_BUDGET_MS;
  const args = ['--hide-scrollbars', `--screenshot=${file}`, `--window-size=${opts.width},${opts.height}`, `--virtual-time-budget=${budget}`];
  if (opts.dark) args.push('--force-dark-mode', '--blink-settings=preferredColorScheme=0');
  await runChromium([...args, url], opts);
}

/** A start tag of a serialised DOM: its name and attributes (values with entities decoded). */
export interface Tag {
  name: string;
  attrs: Map<string, string>;
}

/** Decodes the entities chromium writes when it serialises text and attribute values. */
export function decodeEntities(s: string): string {
  return s.replace(/&(lt|gt|quot|#39|nbsp|amp);/g, (_m, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", nbsp: '\u00a0', amp: '&' })[e]!);
}

/** Every start tag of a serialised DOM (chromium always double-quotes attribute values). */
export function startTags(html: string): Tag[] {
  const tags: Tag[] = [];
  for (const m of html.matchAll(/<([a-zA-Z][\w-]*)((?:\s+[^\s=>/]+(?:="[^"]*")?)*)\s*\/?>/g)) {
    const attrs = new Map<string, string>();
    for (const a of m[2]!.matchAll(/\s+([^\s=>/]+)(?:="([^"]*)")?/g)) attrs.set(a[1]!.toLowerCase(), decodeEntities(a[2] ?? ''));
    tags.push({ name: m[1]!.toLowerCase(), attrs });
  }
  return tags;
}

/** The text of a serialised DOM fragment: tags dropped, entities decoded, white space collapsed. */
export function textOf(html: string): string {
  return decodeEntities(html.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim();
}

/**
 * Elements and event-handler attributes (`tag[onx]`) that agent text must never create: any
 * `forbidden` element, and any <script> beyond the page's own one.
 */
export function injectedMarkup(html: string, forbidden: readonly string[] = ['img', 'iframe', 'object', 'embed']): string[] {
  const tags = startTags(html);
  const scripts = tags.filter((tag) => tag.name === 'script').length;
  return tags.flatMap((tag) => [
    ...(forbidden.includes(tag.name) ? [tag.name] : []),
    ...(tag.name === 'script' && scripts > 1 ? ['script'] : []),
    ...[...tag.attrs.keys()].filter((a) => a.startsWith('on')).map((a) => `${tag.name}[${a}]`),
  ]);
}
