// Run by npm after `npm install` / `npm ci`: builds dist/ (tsc -p tsconfig.build.json, the
// compiled agent that deployments run and that the collector serves at /install/agent.tar.gz)
// and dist-collector/ (tsc -p tsconfig.collector.json, the compiled collector its service runs),
// so a fresh checkout is ready once its packages are. Plain JavaScript: it runs before anything
// could compile it.
//
// Without TypeScript (npm ci --omit=dev) it does nothing and exits 0. A build already newer
// than every source it compiles (npm ci again on an unchanged checkout) is skipped (each takes
// ~5-10 s). A failed build fails the install, with tsc's errors above it.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

let tsc;
try {
  tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
} catch {
  process.exit(0);
}

/** Newest modification time (ms) of the .ts files under `dir`, 0 for none. */
function newestTs(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestTs(p));
    // Regular files only: an editor's lock file is a dangling symlink named like a source.
    else if (e.isFile() && e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? 0);
  }
  return newest;
}

/**
 * What npm install builds: the agent (dist/, which deployments run and the collector serves as
 * its bundle) and the collector (dist-collector/, which its service runs), each with the
 * sources it is compiled from.
 */
const BUILDS = [
  { config: 'tsconfig.build.json', out: 'dist/agent/main.js', sources: ['agent', 'shared'] },
  { config: 'tsconfig.collector.json', out: 'dist-collector/collector/main.js', sources: ['collector', 'dashboard', 'shared'] },
];

function upToDate(b) {
  try {
    const built = statSync(join(root, b.out)).mtimeMs;
    const sources = Math.max(...b.sources.map((d) => newestTs(join(root, d))),
      statSync(join(root, 'tsconfig.json')).mtimeMs, statSync(join(root, b.config)).mtimeMs);
    return built >= sources;
  } catch {
    return false;
  }
}

for (const b of BUILDS) {
  const dir = b.out.slice(0, b.out.indexOf('/'));
  if (upToDate(b)) {
    process.stdout.write(`postinstall: ${dir}/ is up to date\n`);
    continue;
  }
  process.stdout.write(`postinstall: building ${dir}/ (tsc -p ${b.config})\n`);
  const r = spawnSync(process.execPath, [tsc, '-p', b.config], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`postinstall: the build failed (${r.error ? r.error.message : `tsc exited ${r.status ?? r.signal}`}); fix it and run \`npm run build\`\n`);
    process.exit(r.status || 1);
  }
}
