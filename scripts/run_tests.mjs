// Runs every test/**/*.test.ts with node:test through tsx. Node 20's --test takes no globs,
// so the files are listed here; extra arguments (e.g. a file filter) are passed on.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : find(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
}
const filters = process.argv.slice(2);
const files = find(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('run_tests: no test file matches');
  process.exit(1);
}
// Each file, and each test, has 300 s at most: the longest file, the million-frame fuzz
// (test/robustness/fuzz_codec.test.ts), takes 60-70 s alone and passed 120 s beside chromium
// tests on a loaded machine, so its own 240 s deadline never got the chance to apply.
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...files], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
