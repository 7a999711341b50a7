/** Every program a user runs answers --help and --version, exits 0, and refuses an unknown flag with exit 2. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runTs } from '../helpers/procs.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const PROGRAMS = ['collector/main.ts', 'agent/main.ts', 'scripts/start.ts', 'scripts/token.ts', 'scripts/test_reader.ts', 'scripts/energy.ts'];

test('--help, --version and an unknown flag, for every program', { timeout: 120_000 }, async () => {
  const results = await Promise.all(PROGRAMS.flatMap((p) => [
    runTs(p, ['--version']).then((r) => ({ p, what: 'version', r })),
    runTs(p, ['--help']).then((r) => ({ p, what: 'help', r })),
    runTs(p, ['--no-such-flag']).then((r) => ({ p, what: 'unknown', r })),
  ]));
  for (const { p, what, r } of results) {
    if (what === 'version') {
      assert.equal(r.code, 0, `${p} --version: ${r.stderr}`);
      assert.equal(r.stdout, `${VERSION}\n`, p);
    } else if (what === 'help') {
      assert.equal(r.code, 0, `${p} --help: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: /, p);
    } else {
      assert.equal(r.code, 2, `${p} --no-such-flag: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /no-such-flag/, p);
    }
  }
});
