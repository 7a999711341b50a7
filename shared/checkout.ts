/**
 * Where a module runs from. The collector runs either from its TypeScript sources through tsx
 * (`npm run collector`, `npm start`, the tests) or compiled by `npm run build` into
 * `dist-collector/` (the service: `node dist-collector/collector/main.js`), one directory deeper: a module
 * that reads files of the checkout (the page's static files, the agent bundle) or starts a
 * worker thread on a sibling module finds them through these, from its own `import.meta.url`.
 */
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** True for a module running compiled (a .js file), false for a TypeScript source. */
export function isCompiled(moduleUrl: string): boolean {
  return moduleUrl.endsWith('.js');
}

/**
 * The checkout's root (a directory URL, with its final slash) from the URL of a module one
 * directory below it in the sources (collector/x.ts, dashboard/x.ts, shared/x.ts), which is two
 * below it compiled (dist-collector/collector/x.js, dist/agent/x.js).
 */
export function checkoutRoot(moduleUrl: string): URL {
  return new URL(isCompiled(moduleUrl) ? '../../' : '../', moduleUrl);
}

/**
 * The entry of a worker thread on module `path` (relative to the module at `moduleUrl`, without
 * extension, e.g. '../dashboard/worker'): compiled, that module itself; from the sources, its
 * `<path>_boot.mjs`, which registers tsx in the thread first (Node 20 does not carry the loader
 * into worker threads).
 */
export function workerEntry(moduleUrl: string, path: string): URL {
  return new URL(isCompiled(moduleUrl) ? `${path}.js` : `${path}_boot.mjs`, moduleUrl);
}

/**
 * For a compiled module: the first TypeScript source under the checkout's `dirs` newer than the
 * module's own file, or null (none, or running from the sources, or no sources beside the build).
 * The collector's service runs dist-collector/; a source edited or pulled without `npm run build`
 * (or `npm ci`) would otherwise go unnoticed. Only regular files count (an editor's lock file is
 * a dangling symlink named like a source); never throws for what it cannot read.
 */
export function newerSource(moduleUrl: string, dirs: readonly string[]): string | null {
  if (!isCompiled(moduleUrl)) return null;
  let builtMs: number;
  try {
    builtMs = statSync(fileURLToPath(moduleUrl)).mtimeMs;
  } catch {
    return null;
  }
  const root = fileURLToPath(checkoutRoot(moduleUrl));
  const walk = (dir: string): string | null => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return null;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        const found = walk(p);
        if (found) return found;
      } else if (e.isFile() && e.name.endsWith('.ts')) {
        // A file gone since the listing (a checkout being updated) is no newer source.
        const st = statSync(p, { throwIfNoEntry: false });
        if (st !== undefined && st.mtimeMs > builtMs) return p;
      }
    }
    return null;
  };
  for (const d of dirs) {
    const found = walk(join(root, d));
    if (found) return found;
  }
  return null;
}
