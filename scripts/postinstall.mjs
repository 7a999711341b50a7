// Run by npm after `npm install` / `npm ci`: builds dist/ (tsc -p tsconfig.build.json, the
// compiled agent that deployments run and that the collector serves at /install/agent.tar.gz),
// so a fresh checkout is ready once its packages are. Plain JavaScript: it runs before anything
// could compile it.
//
// Without TypeScript (npm ci --omit=dev) it does nothing and exits 0. When dist/ is already
// newer than every source it compiles (npm ci again on an unchanged checkout), it skips the
// ~10 s build. A failed build fails the install, with tsc's errors above it.
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
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function upToDate() {
  try {
    const built = statSync(join(root, 'dist/agent/main.js')).mtimeMs;
    const sources = Math.max(newestTs(join(root, 'agent')), newestTs(join(root, 'shared')),
      statSync(join(root, 'tsconfig.json')).mtimeMs, statSync(join(root, 'tsconfig.build.json')).mtimeMs);
    return built >= sources;
  } catch {
    return false;
  }
}

if (upToDate()) {
  process.stdout.write('postinstall: dist/ is up to date\n');
  process.exit(0);
}
process.stdout.write('postinstall: building dist/ (tsc -p tsconfig.build.json)\n');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(`postinstall: the build failed (${r.error ? r.error.message : `tsc exited ${r.status ?? r.signal}`}); fix it and run \`npm run build\`\n`);
  process.exit(r.status || 1);
}
