/**
 * A small DevTools-protocol client for the browser tests: headless chromium driven over
 * --remote-debugging-pipe (Node 20 has no WebSocket client). Commands go to the browser's fd 3 and
 * answers come from its fd 4, each a JSON message ended by a NUL byte. Pages are attached with
 * flatten:true, so page commands travel on the same pipe with a sessionId.
 *
 * Like runChromium: a fresh profile directory (removed on close), the browser in its own process
 * group (killed on close, at the hard wall-clock limit, or when this process exits), and a
 * deadline on every command, so a hung browser can never hang the test run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { CHROMIUM_FLAGS, chromiumOrSkip, findChromium, INSTALL_HINT, killGroup, running } from './chromium.ts';

/** Wall-clock limit on one browser's whole life, ms; past it the browser is killed. */
export const DEFAULT_BROWSER_TIMEOUT_MS = 90_000;
/** Deadline of one protocol command, ms (a navigation includes its load). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;
const STDERR_TAIL_CHARS = 4000;
/** How long close() waits for the killed group's processes to go, ms. */
const GROUP_EXIT_WAIT_MS = 3000;
/** Name of the binding through which the page reports CSP violations. */
const REPORT_BINDING = '__sentinelCdpReport';

export interface LaunchOptions {
  chromium?: string;
  /** Hard wall-clock limit, ms (default DEFAULT_BROWSER_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Deadline of each command, ms (default DEFAULT_COMMAND_TIMEOUT_MS). */
  commandTimeoutMs?: number;
}

export interface PageOptions {
  /** Viewport, CSS pixels. */
  width: number;
  height: number;
  /** Emulate prefers-color-scheme: dark (default light). */
  dark?: boolean;
}

export interface CspViolation {
  directive: string;
  blockedUri: string;
  sample: string;
}

type Params = Record<string, unknown>;
type Listener = (method: string, params: Params) => void;
interface Pending { resolve: (v: Params) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; method: string }

/**
 * Processes of group `pgid` still running (zombies waiting for their reaper do not count); read
 * from /proc, so empty where there is none.
 */
export function liveInGroup(pgid: number): number[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  return pids.flatMap((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state, ppid, pgrp ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields[2] === String(pgid) && fields[0] !== 'Z' && fields[0] !== 'X' ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private dead: Error | null = null;
  private stderr = '';
  private closing: Promise<void> | null = null;
  private readonly exited: Promise<void>;

  constructor(private readonly child: ChildProcess, readonly profileDir: string, readonly commandTimeoutMs: number, timeoutMs: number) {
    if (child.pid !== undefined) running.add(child.pid);
    const out = child.stdio[4] as Readable;
    // Parts of a message not yet ended; only new chunks are searched for the NUL (screenshots are megabytes).
    const parts: Buffer[] = [];
    out.on('data', (chunk: Buffer) => {
      let start = 0;
      for (let end = chunk.indexOf(0); end >= 0; end = chunk.indexOf(0, start)) {
        parts.push(chunk.subarray(start, end));
        this.dispatch(JSON.parse(Buffer.concat(parts).toString('utf8')) as Params);
        parts.length = 0;
        start = end + 1;
      }
      if (start < chunk.length) parts.push(chunk.subarray(start));
    });
    out.on('error', () => {});
    (child.stdio[3] as Writable).on('error', () => {});
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => { this.stderr = (this.stderr + c).slice(-STDERR_TAIL_CHARS); });
    const hardLimit = setTimeout(() => {
      this.fail(new Error(`chromium killed after its wall-clock limit of ${timeoutMs} ms`));
      killGroup(this.pid);
      void this.close();
    }, timeoutMs);
    this.exited = new Promise((resolve) => child.once('exit', () => {
      clearTimeout(hardLimit);
      this.fail(new Error(`chromium exited; stderr tail:\n${this.stderr}`));
      resolve();
    }));
  }

  /** The browser's process id, also its process group id. */
  get pid(): number { return this.child.pid!; }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(new Error(`${p.method}: ${err.message}`)); }
    this.pending.clear();
  }

  private dispatch(msg: Params): void {
    if (typeof msg['id'] === 'number') {
      const p = this.pending.get(msg['id']);
      if (!p) return;
      this.pending.delete(msg['id']);
      clearTimeout(p.timer);
      const error = msg['error'] as { message?: string; data?: string } | undefined;
      if (error) p.reject(new Error(`${p.method}: ${error.message ?? 'error'}${error.data ? ` (${error.data})` : ''}`));
      else p.resolve((msg['result'] ?? {}) as Params);
      return;
    }
    const session = (msg['sessionId'] as string | undefined) ?? '';
    for (const l of this.listeners.get(session) ?? []) l(msg['method'] as string, (msg['params'] ?? {}) as Params);
  }

  /** Sends one command (to a page when `sessionId` is given) and waits for its answer. */
  send(method: string, params: Params = {}, sessionId?: string, timeoutMs = this.commandTimeoutMs): Promise<Params> {
    if (this.dead) return Promise.reject(new Error(`${method}: ${this.dead.message}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, method });
      (this.child.stdio[3] as Writable).write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  /** Subscribes to the events of one session ('' for the browser's); returns the unsubscriber. */
  on(sessionId: string, listener: Listener): () => void {
    let set = this.listeners.get(sessionId);
    if (!set) this.listeners.set(sessionId, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  async newPage(opts: PageOptions): Promise<Page> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' }) as { targetId: string };
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true }) as { sessionId: string };
    const page = new Page(this, targetId, sessionId);
    await page.init(opts);
    return page;
  }

  /** Asks the browser to quit, then kills its whole process group and removes the profile. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.dead) await this.send('Browser.close', {}, undefined, 2000).catch(() => {});
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 2000))]);
      // Renderers and the zygote may outlive the main process: the group goes as a whole.
      killGroup(this.pid);
      await this.exited;
      // SIGKILL is delivered to the rest of the group asynchronously: wait until it has taken.
      for (let waited = 0; liveInGroup(this.pid).length > 0 && waited < GROUP_EXIT_WAIT_MS; waited += 20) await new Promise((r) => setTimeout(r, 20));
      running.delete(this.pid);
      // Retries: a helper process may still be closing files in the profile for a moment.
      await rm(this.profileDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    })();
    return this.closing;
  }
}

export async function launchBrowser(opts: LaunchOptions = {}): Promise<Browser> {
  const binary = opts.chromium ?? findChromium();
  if (!binary) throw new Error(`chromium not found: ${INSTALL_HINT}`);
  const profile = await mkdtemp(join(tmpdir(), 'sentinel-cdp-'));
  const child = spawn(binary, [...CHROMIUM_FLAGS, '--remote-debugging-pipe', '--hide-scrollbars', `--user-data-dir=${profile}`, 'about:blank'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`cannot start ${binary}: ${err.message}`)));
  }).catch(async (err: unknown) => {
    await rm(profile, { recursive: true, force: true });
    throw err;
  });
  const browser = new Browser(child, profile, opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, opts.timeoutMs ?? DEFAULT_BROWSER_TIMEOUT_MS);
  try {
    await browser.send('Browser.getVersion');
  } catch (err) {
    await browser.close();
    throw err;
  }
  return browser;
}

/** Windows key codes of the keys tests press (chromium needs them for default actions). */
const KEYS: Readonly<Record<string, { code: string; keyCode: number; text?: string }>> = {
  Enter: { code: 'Enter', keyCode: 13, text: '\r' }, Escape: { code: 'Escape', keyCode: 27 }, Tab: { code: 'Tab', keyCode: 9 },
  Backspace: { code: 'Backspace', keyCode: 8 }, ArrowUp: { code: 'ArrowUp', keyCode: 38 }, ArrowDown: { code: 'ArrowDown', keyCode: 40 },
  ' ': { code: 'Space', keyCode: 32, text: ' ' },
};

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

export class Page {
  private readonly errors: string[] = [];
  private readonly violations: CspViolation[] = [];

  constructor(readonly browser: Browser, readonly targetId: string, readonly sessionId: string) {
    browser.on(sessionId, (method, p) => {
      if (method === 'Runtime.consoleAPICalled' && (p['type'] === 'error' || p['type'] === 'assert')) {
        this.errors.push(`console.${String(p['type'])}: ${(p['args'] as Array<{ value?: unknown; description?: string }>).map((a) => a.description ?? String(a.value)).join(' ')}`);
      } else if (method === 'Runtime.exceptionThrown') {
        const d = p['exceptionDetails'] as { text: string; exception?: { description?: string } };
        this.errors.push(`exception: ${d.exception?.description ?? d.text}`);
      } else if (method === 'Log.entryAdded') {
        const e = p['entry'] as { level: string; source: string; text: string; url?: string };
        if (e.level === 'error') this.errors.push(`${e.source}: ${e.text}${e.url ? ` (${e.url})` : ''}`);
      } else if (method === 'Runtime.bindingCalled' && p['name'] === REPORT_BINDING) {
        // The page can call the binding too: what is not a report is kept as it came.
        try {
          this.violations.push(JSON.parse(p['payload'] as string) as CspViolation);
        } catch {
          this.violations.push({ directive: '(not a report)', blockedUri: '', sample: String(p['payload']) });
        }
      }
    });
  }

  send(method: string, params: Params = {}, timeoutMs?: number): Promise<Params> {
    return this.browser.send(method, params, this.sessionId, timeoutMs);
  }

  async init(opts: PageOptions): Promise<void> {
    await Promise.all([this.send('Page.enable'), this.send('Runtime.enable'), this.send('Log.enable')]);
    await this.send('Runtime.addBinding', { name: REPORT_BINDING });
    // Scripts added this way are run by the browser, not loaded by the page: the page's CSP does not apply to them.
    await this.addInitScript(`addEventListener('securitypolicyviolation', (e) => ${REPORT_BINDING}(JSON.stringify({ directive: e.violatedDirective, blockedUri: e.blockedURI, sample: e.sample })), true);`);
    await this.setViewport(opts.width, opts.height);
    await this.setColorScheme(opts.dark ?? false);
  }

  /** Runs `source` in every document this page loads from now on, before the page's own scripts. */
  async addInitScript(source: string): Promise<void> {
    await this.send('Page.addScriptToEvaluateOnNewDocument', { source });
  }

  async setViewport(width: number, height: number): Promise<void> {
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
  }

  async setColorScheme(dark: boolean): Promise<void> {
    await this.send('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: dark ? 'dark' : 'light' }] });
  }

  /** Navigates (or reloads, for the same URL) and waits for the load event. */
  async goto(url: string, timeoutMs = this.browser.commandTimeoutMs): Promise<void> {
    let off = (): void => {};
    const loaded = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`goto ${url}: no load event within ${timeoutMs} ms`)), timeoutMs);
      off = this.browser.on(this.sessionId, (method) => { if (method === 'Page.loadEventFired') { clearTimeout(timer); resolve(); } });
    });
    loaded.catch(() => {});
    try {
      const r = await this.send('Page.navigate', { url }, timeoutMs);
      if (r['errorText']) throw new Error(`goto ${url}: ${String(r['errorText'])}`);
      await loaded;
    } finally {
      off();
    }
  }

  /** The value of `expression` (awaited when it is a promise); throws with the page's exception text. */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true, userGesture: true }) as {
      result: { value?: unknown }; exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(`evaluate ${expression}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** Polls `expression` until it is truthy and returns its value; the error names the expression and its last value. */
  async waitFor<T = unknown>(expression: string, timeoutMs = 5000, everyMs = 50): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        last = await this.evaluate(expression);
        if (last) return last as T;
      } catch (err) {
        last = err instanceof Error ? err.message : err;
      }
      if (Date.now() > deadline) throw new Error(`waitFor ${expression}: not truthy within ${timeoutMs} ms; last value ${describe(last)}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  /** A real mouse click at the centre of the first element matching `selector`, scrolled into view. */
  async click(selector: string): Promise<void> {
    const at = await this.evaluate<{ x: number; y: number } | string>(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el) return 'no element';
      el.scrollIntoView({ block: 'center', inline: 'center' });
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return 'element has no size (hidden?)';
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      const hit = document.elementFromPoint(x, y);
      if (!hit || !(hit === el || el.contains(hit))) return 'element is covered by ' + (hit ? hit.outerHTML.slice(0, 120) : 'nothing');
      return { x, y };
    })()`);
    if (typeof at === 'string') throw new Error(`click ${selector}: ${at}`);
    await this.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x: at.x, y: at.y });
    await this.send('Input.dispatchMouseEvent', { type: 'mousePressed', x: at.x, y: at.y, button: 'left', clickCount: 1 });
    await this.send('Input.dispatchMouseEvent', { type: 'mouseReleased', x: at.x, y: at.y, button: 'left', clickCount: 1 });
  }

  /** Focuses the field, selects what it holds and types `text` over it (input events fire as for a user). */
  async type(selector: string, text: string): Promise<void> {
    const ok = await this.evaluate<boolean>(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el) return false;
      el.focus();
      if (typeof el.select === 'function') el.select();
      return document.activeElement === el;
    })()`);
    if (!ok) throw new Error(`type ${selector}: no focusable element`);
    if (text === '') await this.press('Backspace');
    else await this.send('Input.insertText', { text });
  }

  /** Presses and releases one key (names as KeyboardEvent.key: Enter, Escape, Tab, Backspace, ArrowDown ...). */
  async press(key: string): Promise<void> {
    const k = KEYS[key] ?? { code: `Key${key.toUpperCase()}`, keyCode: key.toUpperCase().charCodeAt(0), text: key };
    const base = { key, code: k.code, windowsVirtualKeyCode: k.keyCode, nativeVirtualKeyCode: k.keyCode };
    await this.send('Input.dispatchKeyEvent', { type: k.text ? 'keyDown' : 'rawKeyDown', ...base, ...(k.text ? { text: k.text } : {}) });
    await this.send('Input.dispatchKeyEvent', { type: 'keyUp', ...base });
  }

  /** Chooses `value` in a <select> and fires input and change, as a user's choice does (its popup cannot be clicked headless). */
  async select(selector: string, value: string): Promise<void> {
    const r = await this.evaluate<string>(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el || el.tagName !== 'SELECT') return 'no select element';
      if (![...el.options].some((o) => o.value === ${JSON.stringify(value)})) return 'no option ' + ${JSON.stringify(value)};
      el.focus();
      el.value = ${JSON.stringify(value)};
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
      return 'ok';
    })()`);
    if (r !== 'ok') throw new Error(`select ${selector}: ${r}`);
  }

  /** Writes a PNG of the viewport (or the whole document with `fullPage`) to `file`; returns its bytes. */
  async screenshot(file: string, opts: { fullPage?: boolean } = {}): Promise<Buffer> {
    const params: Params = { format: 'png' };
    if (opts.fullPage) {
      const m = await this.send('Page.getLayoutMetrics') as { cssContentSize: { width: number; height: number } };
      params['captureBeyondViewport'] = true;
      params['clip'] = { x: 0, y: 0, width: Math.ceil(m.cssContentSize.width), height: Math.ceil(m.cssContentSize.height), scale: 1 };
    }
    const { data } = await this.send('Page.captureScreenshot', params) as { data: string };
    const png = Buffer.from(data, 'base64');
    await writeFile(file, png);
    return png;
  }

  /** Console errors, uncaught exceptions and error log entries (CSP refusals among them) so far. */
  consoleErrors(): string[] { return [...this.errors]; }

  /** securitypolicyviolation events the page's documents fired so far. */
  cspViolations(): CspViolation[] { return [...this.violations]; }

  async close(): Promise<void> {
    await this.browser.send('Target.closeTarget', { targetId: this.targetId }).catch(() => {});
  }
}

/**
 * A fresh browser (fresh localStorage) showing `url`, closed after the test; null when chromium
 * is missing (the test is then skipped, or failed under CI: chromiumOrSkip).
 */
export async function openPage(t: TestContext, url: string, size = { width: 1280, height: 800 }, timeoutMs = 60_000): Promise<Page | null> {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return null;
  const browser = await launchBrowser({ chromium, timeoutMs });
  t.after(() => browser.close());
  const page = await browser.newPage(size);
  await page.goto(url);
  return page;
}
