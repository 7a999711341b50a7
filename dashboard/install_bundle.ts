/**
 * What the dashboard serves a machine that joins the fleet (GET /install/agent.sh and
 * /install/agent.tar.gz): the install script and the agent bundle, built from this checkout's
 * compiled `dist/` and its `node_modules/`. Neither carries a secret or a reading, so both are
 * served without the dashboard password (the token travels in the command line).
 *
 * The bundle (layout as scripts/install-agent.sh installs it under PREFIX/agent):
 *
 *   agent/package.json                      {"type": "module", name, version}
 *   agent/dist/agent/**.js                  the compiled agent (npm run build)
 *   agent/dist/shared/**.js                 what it imports from shared/
 *   agent/node_modules/msgpackr/...         its two packages, pure JavaScript (the agent
 *   agent/node_modules/systeminformation/   turns msgpackr's native addon off)
 *   agent/systemd/cluster-sentinel-agent.service   the unit template the script fills in
 *
 * Both files are read and the bundle built once, on the first request, then served from
 * memory: a request after that reads no file. A failure (dist/ missing or older than its
 * sources) is not kept, so the next request tries again once `npm run build` has run.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { checkoutRoot } from '../shared/checkout.ts';
import { tarArchive, type TarEntry } from './tar.ts';

const gzipAsync = promisify(gzip);

/** The directory the bundle unpacks into; the install script expects it. */
export const BUNDLE_TOP = 'agent';
/** The compiled directories the agent needs, relative to the checkout. */
export const BUNDLE_DIST_DIRS: readonly string[] = ['dist/agent', 'dist/shared'];
/** The packages the compiled agent imports, copied from the checkout's node_modules/. */
export const BUNDLE_PACKAGES: readonly string[] = ['msgpackr', 'systeminformation'];
/** The install script, relative to the checkout. */
export const INSTALL_SCRIPT = 'scripts/install-agent.sh';
/** The agent's unit template, relative to the checkout; in the bundle under systemd/. */
export const AGENT_UNIT = 'scripts/systemd/cluster-sentinel-agent.service';
/** The checkout this module belongs to. */
export const CHECKOUT_ROOT = fileURLToPath(checkoutRoot(import.meta.url));

/** Why a file cannot be served now; the route answers 503 with the message. */
export class InstallUnavailableError extends Error {
  readonly code = 'SENTINEL_INSTALL_UNAVAILABLE';
}

/** One file for the bundle: its path inside the bundle, bytes and mtime (s). */
export interface BundleFile {
  readonly path: string;
  readonly data: Uint8Array;
  readonly mtimeS: number;
}

/**
 * Pure: which files of a package go into the bundle (path relative to the package's directory).
 * Source maps, type declarations and documentation stay out; licences stay in.
 */
export function keepPackageFile(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (/^(LICEN[CS]E|COPYING)/iu.test(base)) return true;
  return !/\.(map|d\.ts|d\.cts|d\.mts|md|markdown)$/iu.test(base);
}

/** Pure: the bundle's package.json: ES modules, so Node reads dist/**.js as such. */
export function bundlePackageJson(version: string): string {
  return `${JSON.stringify({ name: 'cluster-sentinel-agent', version, private: true, type: 'module' }, null, 2)}\n`;
}

/**
 * Pure: the tar entries for `files` under BUNDLE_TOP, each directory listed once before what
 * it holds, in path order (the same files always make the same archive).
 */
export function bundleEntries(files: readonly BundleFile[]): TarEntry[] {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const newest = sorted.reduce((m, f) => Math.max(m, f.mtimeS), 0);
  const dirs = new Set<string>();
  const out: TarEntry[] = [{ path: `${BUNDLE_TOP}/`, mode: 0o755, mtimeS: newest, type: 'dir' }];
  for (const f of sorted) {
    const parts = f.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      out.push({ path: `${BUNDLE_TOP}/${dir}/`, mode: 0o755, mtimeS: newest, type: 'dir' });
    }
    out.push({ path: `${BUNDLE_TOP}/${f.path}`, mode: 0o644, mtimeS: f.mtimeS, data: f.data, type: 'file' });
  }
  return out;
}

/** Every regular file under `dir`, as paths relative to it with `/` separators. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)).map((q) => `${e.name}/${q}`));
    else if (e.isFile()) out.push(e.name);
  }
  return out;
}

async function fileOf(abs: string, path: string): Promise<BundleFile> {
  const [data, st] = await Promise.all([readFile(abs), stat(abs)]);
  return { path, data, mtimeS: Math.floor(st.mtimeMs / 1000) };
}

const NOT_BUILT = 'the agent bundle is not built on this collector: run `npm run build` in its checkout (npm install does it too), then try again';

/**
 * Reads the files of the bundle from the checkout at `root`. Refuses a dist/ that is missing or
 * older than its TypeScript sources: an agent from an old build would join silently out of date.
 */
export async function readBundleFiles(root: string): Promise<BundleFile[]> {
  const files: BundleFile[] = [];
  try {
    await stat(join(root, 'dist/agent/main.js'));
  } catch {
    throw new InstallUnavailableError(NOT_BUILT);
  }
  for (const d of BUNDLE_DIST_DIRS) {
    for (const rel of await walk(join(root, d))) {
      if (!rel.endsWith('.js')) continue;
      const f = await fileOf(join(root, d, rel), `${d}/${rel}`);
      // dist/agent/x.js comes from agent/x.ts.
      const source = join(root, d.slice('dist/'.length), rel.replace(/\.js$/u, '.ts'));
      const srcStat = await stat(source).catch(() => null);
      if (srcStat && Math.floor(srcStat.mtimeMs / 1000) > f.mtimeS) {
        throw new InstallUnavailableError(`the agent bundle is out of date on this collector (${relative(root, source).split(sep).join('/')} is newer than its build): run \`npm run build\` in its checkout, then try again`);
      }
      files.push(f);
    }
  }
  for (const pkg of BUNDLE_PACKAGES) {
    const dir = join(root, 'node_modules', pkg);
    let rels: string[];
    try {
      rels = await walk(dir);
    } catch {
      throw new InstallUnavailableError(`package ${pkg} is missing on this collector: run \`npm ci\` in its checkout, then try again`);
    }
    for (const rel of rels.filter(keepPackageFile)) files.push(await fileOf(join(dir, rel), `node_modules/${pkg}/${rel}`));
  }
  files.push(await fileOf(join(root, AGENT_UNIT), `systemd/${AGENT_UNIT.slice(AGENT_UNIT.lastIndexOf('/') + 1)}`));
  const rootPkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version?: unknown };
  const version = typeof rootPkg.version === 'string' ? rootPkg.version : '0.0.0';
  const newest = files.reduce((m, f) => Math.max(m, f.mtimeS), 0);
  files.push({ path: 'package.json', data: Buffer.from(bundlePackageJson(version), 'utf8'), mtimeS: newest });
  return files;
}

/** The gzipped bundle of the checkout at `root`. */
export async function buildAgentBundle(root: string): Promise<Buffer> {
  return gzipAsync(tarArchive(bundleEntries(await readBundleFiles(root))), { level: 9 });
}

/** The install files of one checkout, each built on first use and then kept. */
export class InstallAssets {
  private bundleP: Promise<Buffer> | null = null;
  private scriptP: Promise<Buffer> | null = null;

  constructor(private readonly root: string = CHECKOUT_ROOT) {}

  /** The install script's bytes. */
  script(): Promise<Buffer> {
    this.scriptP ??= readFile(join(this.root, INSTALL_SCRIPT)).catch((err: unknown) => {
      this.scriptP = null;
      throw new InstallUnavailableError(`the install script cannot be read on this collector: ${(err as Error).message}`);
    });
    return this.scriptP;
  }

  /** The gzipped agent bundle; concurrent first requests share one build. */
  bundle(): Promise<Buffer> {
    this.bundleP ??= buildAgentBundle(this.root).catch((err: unknown) => {
      this.bundleP = null;
      throw err instanceof InstallUnavailableError ? err : new InstallUnavailableError(`the agent bundle cannot be built on this collector: ${(err as Error).message}`);
    });
    return this.bundleP;
  }
}

let shared: InstallAssets | null = null;

/** The install files of the checkout this dashboard runs from. */
export function installAssets(): InstallAssets {
  shared ??= new InstallAssets();
  return shared;
}
