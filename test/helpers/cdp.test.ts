/**
 * The DevTools client against a tiny local page with a hash-only CSP, as the dashboard serves:
 * evaluation, real mouse and keyboard input, polling, screenshots, console errors and CSP
 * violations collected, and a browser that leaves no process behind.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumOrSkip } from './chromium.ts';
import { launchBrowser, liveInGroup, type Browser, type Page } from './cdp.ts';
import { closeServer, listenLoopback } from './http_client.ts';

const SCRIPT = `
const out = document.getElementById('out');
const field = document.getElementById('field');
let clicks = 0;
document.getElementById('btn').addEventListener('click', (e) => { clicks++; out.textContent = 'clicked ' + clicks + (e.isTrusted ? ' trusted' : ''); });
field.addEventListener('input', (e) => { out.textContent = 'input ' + field.value + (e.isTrusted ? ' trusted' : ''); });
addEventListener('keydown', (e) => { document.body.dataset.key = e.key; });
setTimeout(() => { document.body.dataset.late = 'yes'; }, 300);
`;
const BODY = `<p id="out">none</p><button id="btn" style="width:120px;height:40px">Press</button>
<input id="field" type="search"><div id="cover-wrap" style="position:relative"><button id="covered">x</button>
<div style="position:absolute;inset:0;background:#fff"></div></div><button id="hidden" hidden>h</button>
<p style="height:2000px">tall</p><button id="far">far</button>`;
const hash = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
// The good page's script is allowed by its hash; the bad page adds an inline script and handler that are not.
const CSP = `default-src 'none'; script-src ${hash(SCRIPT)}; style-src 'unsafe-inline'`;
const PAGES: Record<string, string> = {
  '/': `<!doctype html><html><body>${BODY}<script>${SCRIPT}</script></body></html>`,
  '/bad': `<!doctype html><html><body>${BODY}<script>${SCRIPT}</script><script>window.__pwned = 1</script><img src="/x.png" onerror="window.__pwned = 2"></body></html>`,
};

let server: Server;
let base: string;
before(async () => {
  server = createServer((req, res) => {
    const html = PAGES[req.url ?? ''];
    res.writeHead(html ? 200 : 404, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP });
    res.end(html ?? 'not found');
  });
  base = await listenLoopback(server);
});
after(() => closeServer(server));

async function withPage(t: TestContext, fn: (page: Page, browser: Browser) => Promise<void>, dark = false): Promise<void> {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return;
  const browser = await launchBrowser({ chromium, timeoutMs: 60_000 });
  try {
    const page = await browser.newPage({ width: 640, height: 480, dark });
    await page.goto(`${base}/`);
    await fn(page, browser);
  } finally {
    await browser.close();
  }
}

test('cdp: evaluate returns values, awaits promises, throws with the exception text', async (t) => {
  await withPage(t, async (page) => {
    assert.equal(await page.evaluate('document.getElementById("out").textContent'), 'none');
    assert.deepEqual(await page.evaluate('({ a: [1, 2], b: "x" })'), { a: [1, 2], b: 'x' });
    assert.equal(await page.evaluate('new Promise((r) => setTimeout(() => r(42), 50))'), 42);
    await assert.rejects(page.evaluate('document.querySelector("#nope").textContent'), /TypeError: Cannot read properties of null/);
    await assert.rejects(page.evaluate('Promise.reject(new Error("boom"))'), /Error: boom/);
    assert.equal(await page.evaluate('window.innerWidth'), 640, 'the viewport is emulated');
    assert.equal(await page.evaluate('matchMedia("(prefers-color-scheme: dark)").matches'), false, 'light by default');
  });
});

test('cdp: dark pages match prefers-color-scheme: dark', async (t) => {
  await withPage(t, async (page) => {
    assert.equal(await page.evaluate('matchMedia("(prefers-color-scheme: dark)").matches'), true);
  }, true);
});

test('cdp: click is a trusted mouse click at the element; hidden and covered elements refuse', async (t) => {
  await withPage(t, async (page) => {
    await page.click('#btn');
    assert.equal(await page.evaluate('document.getElementById("out").textContent'), 'clicked 1 trusted');
    await page.click('#btn');
    assert.equal(await page.evaluate('document.getElementById("out").textContent'), 'clicked 2 trusted');
    await page.click('#far');
    assert.ok(await page.evaluate<number>('scrollY') > 0, 'an element below the fold is scrolled to');
    await assert.rejects(page.click('#nope'), /click #nope: no element/);
    await assert.rejects(page.click('#hidden'), /click #hidden: element has no size/);
    await assert.rejects(page.click('#covered'), /click #covered: element is covered by <div/);
  });
});

test('cdp: type fires trusted input events and replaces the value; press sends keys', async (t) => {
  await withPage(t, async (page) => {
    await page.type('#field', 'web');
    assert.equal(await page.evaluate('document.getElementById("out").textContent'), 'input web trusted');
    await page.type('#field', 'db');
    assert.equal(await page.evaluate('document.getElementById("field").value'), 'db', 'typing replaces what was there');
    await page.type('#field', '');
    assert.equal(await page.evaluate('document.getElementById("out").textContent'), 'input  trusted', 'clearing fires input too');
    await page.press('Escape');
    assert.equal(await page.evaluate('document.body.dataset.key'), 'Escape');
    await assert.rejects(page.type('#out', 'x'), /type #out: no focusable element/);
  });
});

test('cdp: waitFor returns the first truthy value; its timeout names the expression and the last value', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(`${base}/`); // again: the late attribute is set 300 ms after this load
    assert.equal(await page.waitFor('document.body.dataset.late', 3000), 'yes');
    const started = Date.now();
    await assert.rejects(page.waitFor('document.getElementById("out").textContent === "never" || 0', 400),
      (err: Error) => err.message.includes('document.getElementById("out").textContent === "never" || 0') && /within 400 ms; last value 0$/.test(err.message));
    assert.ok(Date.now() - started < 3000, 'gives up near its deadline');
  });
});

test('cdp: screenshot writes a PNG of the viewport', async (t) => {
  await withPage(t, async (page) => {
    const file = join(tmpdir(), `sentinel-cdp-test-${process.pid}.png`);
    t.after(() => rmSync(file, { force: true }));
    const png = await page.screenshot(file);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [640, 480], 'of the viewport');
    assert.deepEqual(readFileSync(file), png, 'written to the file');
    const full = await page.screenshot(file, { fullPage: true });
    assert.ok(full.readUInt32BE(20) > 2000, `the whole document: ${full.readUInt32BE(20)} px high`);
  });
});

test('cdp: console errors, exceptions and CSP violations are collected', async (t) => {
  await withPage(t, async (page) => {
    assert.deepEqual(page.consoleErrors(), [], 'the allowed script runs clean');
    assert.deepEqual(page.cspViolations(), []);
    await page.evaluate('console.error("oops", 1)');
    await page.evaluate('setTimeout(() => { throw new Error("thrown later") }, 0)');
    await page.waitFor('new Promise((r) => setTimeout(() => r(true), 100))');
    const errors = page.consoleErrors();
    assert.ok(errors.includes('console.error: oops 1'), errors.join('\n'));
    assert.ok(errors.some((e) => /^exception: .*Error: thrown later/s.test(e)), errors.join('\n'));

    await page.goto(`${base}/bad`);
    await page.waitFor('document.querySelector("img").complete', 3000);
    assert.equal(await page.evaluate('window.__pwned'), undefined, 'neither the inline script nor the handler ran');
    assert.equal(await page.evaluate('document.getElementById("out").textContent'), 'none', 'the hashed script still ran');
    const directives = await (async () => {
      // The violation events come a moment after the refusals.
      await page.waitFor('new Promise((r) => setTimeout(() => r(true), 100))');
      return page.cspViolations().map((v) => v.directive).sort();
    })();
    assert.deepEqual(directives, ['img-src', 'script-src-attr', 'script-src-elem'], JSON.stringify(page.cspViolations()));
    assert.ok(page.consoleErrors().some((e) => e.startsWith('security: Executing inline script violates')), 'chromium logs the refusal too');
  });
});

test('cdp: close ends every process of the browser and removes its profile', async (t) => {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return;
  const browser = await launchBrowser({ chromium });
  const page = await browser.newPage({ width: 320, height: 240 });
  await page.goto(`${base}/`);
  const pgid = browser.pid;
  assert.ok(liveInGroup(pgid).length >= 2, 'the browser runs helper processes in its group');
  assert.ok(existsSync(browser.profileDir));
  await browser.close();
  assert.deepEqual(liveInGroup(pgid), [], 'no process of the browser is left');
  assert.equal(existsSync(browser.profileDir), false, 'the profile is removed');
  await assert.rejects(page.evaluate('1'), /Runtime.evaluate: chromium exited/);
});

test('cdp: the wall-clock limit kills a browser nobody closed', async (t) => {
  const chromium = chromiumOrSkip(t);
  if (!chromium) return;
  const LIMIT_MS = 3000;
  const started = Date.now();
  const browser = await launchBrowser({ chromium, timeoutMs: LIMIT_MS });
  const pgid = browser.pid;
  // Nobody closes it: the limit must. (Nothing is sent meanwhile, so a slow start cannot fail the test.)
  while (liveInGroup(pgid).length > 0 && Date.now() - started < LIMIT_MS + 10_000) await new Promise((r) => setTimeout(r, 50));
  const elapsed = Date.now() - started;
  assert.deepEqual(liveInGroup(pgid), [], `the browser is gone after ${elapsed} ms`);
  assert.ok(elapsed >= LIMIT_MS, `not before its limit: ${elapsed} ms`);
  await assert.rejects(browser.send('Browser.getVersion'), /wall-clock limit of 3000 ms/);
  await browser.close();
  assert.equal(existsSync(browser.profileDir), false, 'the profile is removed');
});
