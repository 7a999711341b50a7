/**
 * The collector as the service runs it: `tsconfig.collector.json` (what `npm run build` and
 * `npm install` compile into dist-collector/) compiled into a stand-in checkout in a temp dir
 * that holds only what a checkout holds at those paths (package.json, node_modules/, the page's
 * static files, the agent's dist/ and sources for the bundle, the install script and units), then
 * `node dist-collector/collector/main.js` under plain node, no tsx: a raw agent's samples land,
 * the dashboard worker (compiled, started from its own module) serves the page, the JSON and the
 * agent bundle; and an ingest worker (compiled) loads in a real thread and answers.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import type { HostsPayload } from '../../dashboard/api.ts';
import { checkoutRoot, isCompiled, newerSource, workerEntry } from '../../shared/checkout.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { ShmStore } from '../../shared/shm_store.ts';
import { getJson, RawClient, waitFor } from '../helpers/net.ts';
import { freePort, ROOT, trackProc, waitForOutput } from '../helpers/procs.ts';

const TOKEN = 'built-collector-token';

/** Every .js file under `dir`. */
function emitted(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? emitted(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));
}

test('checkout paths: a source module is one directory below the checkout, a compiled one two; a worker starts from its boot file or its compiled module', () => {
  assert.equal(isCompiled('file:///opt/cs/collector/app.ts'), false);
  assert.equal(isCompiled('file:///opt/cs/dist-collector/collector/app.js'), true);
  assert.equal(checkoutRoot('file:///opt/cs/dashboard/page.ts').href, 'file:///opt/cs/');
  assert.equal(checkoutRoot('file:///opt/cs/dist-collector/dashboard/page.js').href, 'file:///opt/cs/');
  assert.equal(checkoutRoot('file:///opt/cs/dist/agent/main.js').href, 'file:///opt/cs/');
  assert.equal(workerEntry('file:///opt/cs/collector/dashboard_supervisor.ts', '../dashboard/worker').href, 'file:///opt/cs/dashboard/worker_boot.mjs');
  assert.equal(workerEntry('file:///opt/cs/dist-collector/collector/dashboard_supervisor.js', '../dashboard/worker').href, 'file:///opt/cs/dist-collector/dashboard/worker.js');
  assert.equal(workerEntry('file:///opt/cs/collector/ingest_pool.ts', './ingest_worker').href, 'file:///opt/cs/collector/ingest_worker_boot.mjs');
  // The boot files the sources need exist beside their modules.
  for (const f of ['dashboard/worker_boot.mjs', 'collector/ingest_worker_boot.mjs']) assert.ok(existsSync(join(ROOT, f)), f);
});

test('newerSource: a compiled module older than a TypeScript source under the given directories names that source; none newer, or from the sources: null', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sentinel-newer-source-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'dist-collector/collector'), { recursive: true });
  mkdirSync(join(root, 'collector'));
  mkdirSync(join(root, 'dashboard/deep'), { recursive: true });
  const built = join(root, 'dist-collector/collector/main.js');
  writeFileSync(built, '');
  for (const f of ['collector/main.ts', 'dashboard/deep/x.ts', 'dashboard/notes.md']) writeFileSync(join(root, f), '');
  const at = (f: string, s: number): void => { const d = new Date(Date.now() + s * 1000); utimesSync(join(root, f), d, d); };
  at('dist-collector/collector/main.js', 0);
  at('collector/main.ts', -60);
  at('dashboard/deep/x.ts', -60);
  at('dashboard/notes.md', 60);
  // An editor's lock file: a dangling symlink named like a source. Neither counted nor a throw.
  symlinkSync(join(root, 'nowhere'), join(root, 'collector/.#main.ts'));
  const url = pathToFileURL(built).href;
  assert.equal(newerSource(url, ['collector', 'dashboard', 'missing']), null, 'every source older (a newer non-TypeScript file does not count)');
  at('dashboard/deep/x.ts', 60);
  assert.equal(newerSource(url, ['collector', 'dashboard']), join(root, 'dashboard/deep/x.ts'));
  assert.equal(newerSource(url, ['collector']), null, 'only the directories asked for');
  assert.equal(newerSource(pathToFileURL(join(root, 'collector/main.ts')).href, ['dashboard']), null, 'running from the sources');
});

test('the compiled collector (tsconfig.collector.json) runs under plain node: samples land, the page, /api/hosts and the agent bundle are served, an ingest worker answers', { timeout: 120_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sentinel-built-collector-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  // The stand-in checkout: what the compiled collector reads at run time, at the checkout's paths,
  // with both builds made here (the agent's dist/ for the bundle, built after its sources).
  for (const p of ['package.json', 'node_modules', 'agent', 'shared', 'scripts']) symlinkSync(join(ROOT, p), join(root, p));
  mkdirSync(join(root, 'dashboard'));
  symlinkSync(join(ROOT, 'dashboard/static'), join(root, 'dashboard/static'));
  const tscJs = join(ROOT, 'node_modules/typescript/bin/tsc');
  const agentBuild = spawnSync(process.execPath, [tscJs, '-p', 'tsconfig.build.json', '--outDir', join(root, 'dist')], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
  assert.equal(agentBuild.status, 0, `agent build failed:\n${agentBuild.stdout}${agentBuild.stderr}`);
  const out = join(root, 'dist-collector');
  const tsc = spawnSync(process.execPath, [tscJs, '-p', 'tsconfig.collector.json', '--outDir', out], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
  assert.equal(tsc.status, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);
  const main = join(out, 'collector/main.js');
  for (const f of ['collector/main.js', 'dashboard/worker.js', 'collector/ingest_worker.js']) assert.ok(existsSync(join(out, f)), `${f} emitted`);
  for (const f of emitted(out)) assert.doesNotMatch(readFileSync(f, 'utf8'), /(?:from|import\()\s*["'][^"']+\.ts["']/u, `${f}: relative .ts imports rewritten to .js`);

  // An ingest worker, compiled: the pool module from the build starts its worker from the build.
  const { IngestPool } = (await import(pathToFileURL(join(out, 'collector/ingest_pool.js')).href)) as typeof import('../../collector/ingest_pool.ts');
  const pool = new IngestPool(ShmStore.create(4, Date.now(), 2).buffer as SharedArrayBuffer, 1);
  pool.start();
  try {
    await waitFor('the compiled ingest worker answers', () => pool.ready, 30_000);
  } finally {
    await pool.close();
  }

  const [agentPort, httpPort] = [await freePort(), await freePort()];
  // No loader flags from the environment either: whatever is left uncompiled must fail here.
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const proc = trackProc(spawn(process.execPath, [main, '--listen', `127.0.0.1:${agentPort}`, '--http', `127.0.0.1:${httpPort}`, '--data-dir', join(root, 'data'), '--token', TOKEN, '--log-level', 'warn'], {
    cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'],
  }));
  t.after(() => proc.stop());
  const base = (await waitForOutput(proc, /dashboard: (http:\/\/\S+?)\/\s/, 30_000))[1]!;
  const execArgs = readFileSync(`/proc/${proc.child.pid}/cmdline`, 'utf8').split('\0');
  assert.ok(!execArgs.some((a) => /tsx/u.test(a)), `no tsx on the command line: ${execArgs.join(' ')}`);

  const a = await RawClient.open(agentPort);
  try {
    a.send({ type: 'hello', proto: PROTO_VERSION, host: 'built-host', agent: 'test', token: TOKEN, interval_ms: 1000 });
    await a.next('welcome');
    for (let seq = 1; seq <= 3; seq++) a.send({ type: 'sample', seq, ts: Date.now(), cpu_pct: 10 * seq, mem_total_bytes: 100, mem_used_bytes: 50, power_w: 42 });
    const host = await waitFor('the host with its 3 samples', async () => {
      const { hosts } = await getJson<HostsPayload>(`${base}/api/hosts`);
      return hosts.find((h) => h.name === 'built-host' && h.samples_total === 3);
    }, 20_000, 100);
    assert.equal(host.readings['cpu_pct'], 30);
    assert.ok(host.energy, 'the energy block, from the power');
  } finally {
    a.close();
  }
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>Cluster Sentinel/u, 'the page, from dashboard/static');
  const bundle = await fetch(`${base}/install/agent.tar.gz`);
  assert.equal(bundle.status, 200, 'the agent bundle, from the checkout\'s dist/');
  assert.ok((await bundle.arrayBuffer()).byteLength > 10_000);
  assert.equal(proc.child.exitCode, null, `still running; stderr: ${proc.stderr()}`);
  assert.doesNotMatch(proc.stderr(), /older than its sources/u, 'a fresh build: no warning');
});
