/**
 * The agent bundle the dashboard serves (dashboard/install_bundle.ts). The pure parts by
 * table; then a real build: a scratch checkout (this repo's sources and packages, linked) whose
 * dist/ is compiled by tsc, bundled, unpacked by the system's tar, and the unpacked agent run
 * under plain node with nothing but the bundle's own node_modules. Also: no dist/ and a dist/
 * older than its sources give InstallUnavailableError saying `npm run build`, a failure is not
 * kept, and concurrent first requests share one build. Last, scripts/postinstall.mjs, which
 * makes `npm ci` build that dist/: quiet without TypeScript, skipped when up to date, loud on
 * a failed build.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AGENT_UNIT, BUNDLE_TOP, bundleEntries, bundlePackageJson, InstallAssets, InstallUnavailableError, keepPackageFile, readBundleFiles,
} from '../../dashboard/install_bundle.ts';
import { ROOT } from '../helpers/procs.ts';

const HAVE_TAR = spawnSync('tar', ['--version']).status === 0;
if (!HAVE_TAR && process.env['CI']) throw new Error('tar is required in CI');

const KEEP: Array<[path: string, keep: boolean]> = [
  ['index.js', true], ['dist/node.cjs', true], ['package.json', true], ['LICENSE', true], ['LICENSE.md', true],
  ['dist/index.js.map', false], ['index.d.ts', false], ['index.d.cts', false], ['README.md', false], ['lib/x.d.mts', false],
];
for (const [path, keep] of KEEP) {
  test(`keepPackageFile: ${path} ${keep ? 'kept' : 'left out'}`, () => assert.equal(keepPackageFile(path), keep));
}

test('the bundle package.json makes dist/**.js ES modules and carries the version', () => {
  assert.deepEqual(JSON.parse(bundlePackageJson('1.2.3')), { name: 'cluster-sentinel-agent', version: '1.2.3', private: true, type: 'module' });
});

test('bundleEntries: under agent/, each directory once and before what it holds, in path order', () => {
  const f = (path: string, mtimeS: number) => ({ path, data: Buffer.from(path), mtimeS });
  const entries = bundleEntries([f('dist/shared/b.js', 5), f('package.json', 7), f('dist/agent/a.js', 3), f('dist/agent/c/d.js', 4)]);
  assert.deepEqual(entries.map((e) => e.path), [
    'agent/', 'agent/dist/', 'agent/dist/agent/', 'agent/dist/agent/a.js', 'agent/dist/agent/c/', 'agent/dist/agent/c/d.js',
    'agent/dist/shared/', 'agent/dist/shared/b.js', 'agent/package.json',
  ]);
  for (const e of entries) {
    assert.equal(e.mode, e.type === 'dir' ? 0o755 : 0o644, `${e.path}: mode`);
    if (e.type === 'dir') assert.equal(e.mtimeS, 7, `${e.path}: directories carry the newest file's time`);
  }
});

/** A scratch checkout: this repo's sources and packages linked in, dist/ its own. */
function scratchCheckout(dir: string): string {
  const root = join(dir, 'checkout');
  mkdirSync(root);
  for (const x of ['agent', 'shared', 'node_modules', 'package.json', 'scripts', 'tsconfig.json', 'tsconfig.build.json']) symlinkSync(join(ROOT, x), join(root, x));
  return root;
}

function buildDist(root: string): void {
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(root, 'dist')], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
  assert.equal(tsc.status, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);
}

async function rejectsUnavailable(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InstallUnavailableError, `an InstallUnavailableError, got ${String(err)}`);
    assert.equal(err.code, 'SENTINEL_INSTALL_UNAVAILABLE');
    assert.match(err.message, re);
    return true;
  });
}

test('a real bundle: refused before the build, built once, unpacked by tar, and the unpacked agent runs on its own', { skip: HAVE_TAR ? false : 'tar is not installed', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bundle-'));
  try {
    const root = scratchCheckout(dir);
    const assets = new InstallAssets(root);
    await rejectsUnavailable(assets.bundle(), /npm run build/u);

    buildDist(root);
    // The failure above was not kept: the same object builds now. Two first requests, one build.
    const [a, b] = await Promise.all([assets.bundle(), assets.bundle()]);
    assert.equal(a, b, 'concurrent first requests share one build');
    assert.equal(await assets.bundle(), a, 'later requests get the kept bundle');
    assert.ok(a.length < 2 * 1024 * 1024, `bundle is small: ${a.length} bytes`);
    assert.deepEqual(await assets.script(), readFileSync(join(ROOT, 'scripts/install-agent.sh')));

    const archive = join(dir, 'agent.tar.gz');
    writeFileSync(archive, a);
    const out = join(dir, 'out');
    mkdirSync(out);
    const x = spawnSync('tar', ['-xzf', archive, '-C', out], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(x.status, 0, x.stderr);
    const top = join(out, BUNDLE_TOP);
    assert.equal(JSON.parse(readFileSync(join(top, 'package.json'), 'utf8')).type, 'module');
    for (const f of ['dist/agent/main.js', 'dist/shared/config.js', 'node_modules/msgpackr/package.json', 'node_modules/systeminformation/package.json', 'systemd/cluster-sentinel-agent.service']) {
      assert.ok(existsSync(join(top, f)), `${f} in the bundle`);
    }
    assert.deepEqual(readFileSync(join(top, 'systemd/cluster-sentinel-agent.service')), readFileSync(join(ROOT, AGENT_UNIT)));
    const listing = spawnSync('tar', ['-tzf', archive], { encoding: 'utf8' }).stdout.split('\n');
    assert.ok(listing.every((p) => p === '' || p.startsWith(`${BUNDLE_TOP}/`)), 'everything under agent/');
    assert.deepEqual(listing.filter((p) => /\.(map|ts|cts|mts)$/u.test(p)), [], 'no source maps, declarations or TypeScript sources');
    // The unpacked agent resolves every import from the bundle alone (nothing above it in tmp).
    const run = spawnSync(process.execPath, ['--jitless', join(top, 'dist/agent/main.js'), '--version'], { cwd: out, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, `the unpacked agent runs: ${run.stderr}`);
    assert.equal(run.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);

    // A dist/ older than its sources is refused: an agent from an old build would join out of date.
    const built = join(root, 'dist/agent/backoff.js');
    const past = new Date(statSync(join(ROOT, 'agent/backoff.ts')).mtimeMs - 60_000);
    utimesSync(built, past, past);
    await rejectsUnavailable(readBundleFiles(root), /agent\/backoff\.ts is newer than its build.*npm run build/u);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * scripts/postinstall.mjs, which makes `npm install` / `npm ci` build the dist/ the bundle is
 * made from (and the collector's dist-collector/): run from a scratch project (its own
 * package.json, tsconfig files, agent/main.ts and the collector's three entry modules).
 */
function scratchProject(dir: string, mainTs: string | null, withTypescript: boolean): string {
  const root = join(dir, 'project');
  mkdirSync(join(root, 'scripts'), { recursive: true });
  mkdirSync(join(root, 'agent'));
  mkdirSync(join(root, 'shared'));
  mkdirSync(join(root, 'collector'));
  mkdirSync(join(root, 'dashboard'));
  for (const f of ['collector/main.ts', 'collector/ingest_worker.ts', 'dashboard/worker.ts']) writeFileSync(join(root, f), 'export const y: number = 2;\n');
  writeFileSync(join(root, 'tsconfig.collector.json'), readFileSync(join(ROOT, 'tsconfig.collector.json')));
  writeFileSync(join(root, 'scripts/postinstall.mjs'), readFileSync(join(ROOT, 'scripts/postinstall.mjs')));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'scratch', version: '0.0.0', type: 'module', private: true }));
  writeFileSync(join(root, 'tsconfig.json'), readFileSync(join(ROOT, 'tsconfig.json')));
  writeFileSync(join(root, 'tsconfig.build.json'), readFileSync(join(ROOT, 'tsconfig.build.json')));
  if (mainTs !== null) writeFileSync(join(root, 'agent/main.ts'), mainTs);
  if (withTypescript) symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  return root;
}

function postinstall(root: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(root, 'scripts/postinstall.mjs')], { cwd: root, encoding: 'utf8', timeout: 90_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('postinstall: without TypeScript (npm ci --omit=dev) it does nothing, quietly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-postinstall-'));
  try {
    const root = scratchProject(dir, 'export const x: number = 1;\n', false);
    const r = postinstall(root);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out, '');
    assert.ok(!existsSync(join(root, 'dist')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('postinstall: builds dist/ and dist-collector/, skips a build that is up to date, and fails visibly on a type error', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-postinstall-'));
  try {
    const root = scratchProject(dir, 'export const x: number = 1;\n', true);
    const built = postinstall(root);
    assert.equal(built.status, 0, built.out);
    assert.match(built.out, /building dist\//u);
    assert.match(built.out, /building dist-collector\//u);
    assert.ok(existsSync(join(root, 'dist/agent/main.js')), 'dist/agent/main.js built');
    assert.ok(existsSync(join(root, 'dist-collector/collector/main.js')), 'dist-collector/collector/main.js built');
    const again = postinstall(root);
    assert.equal(again.status, 0, again.out);
    assert.match(again.out, /dist\/ is up to date/u);
    assert.match(again.out, /dist-collector\/ is up to date/u);
    assert.doesNotMatch(again.out, /building/u);

    // A newer collector source: only dist-collector/ is built again.
    const soon = new Date(Date.now() + 3000);
    utimesSync(join(root, 'dashboard/worker.ts'), soon, soon);
    const collectorOnly = postinstall(root);
    assert.equal(collectorOnly.status, 0, collectorOnly.out);
    assert.match(collectorOnly.out, /dist\/ is up to date/u);
    assert.match(collectorOnly.out, /building dist-collector\//u);

    // A newer source with a type error: rebuilt, and the install fails with tsc's error.
    writeFileSync(join(root, 'agent/main.ts'), 'export const x: number = "one";\n');
    const future = new Date(Date.now() + 5000);
    utimesSync(join(root, 'agent/main.ts'), future, future);
    const failed = postinstall(root);
    assert.notEqual(failed.status, 0);
    assert.match(failed.out, /TS2322/u, "tsc's error shown");
    assert.match(failed.out, /postinstall: the build failed/u);
    // Nothing was emitted (noEmitOnError): the next install builds again and fails again, rather
    // than taking a build that failed for an up-to-date one.
    const again2 = postinstall(root);
    assert.notEqual(again2.status, 0, again2.out);
    assert.doesNotMatch(again2.out, /dist\/ is up to date/u);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
