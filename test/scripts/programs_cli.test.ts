/** Every program a user runs answers --help and --version, exits 0, and refuses an unknown flag with exit 2; a collector whose ports are taken says which flag chooses others. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

test('the collector, its ports taken: exits 1 naming the address and the flag that chooses another', { timeout: 60_000 }, async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as AddressInfo).port;
  const dataDir = mkdtempSync(join(tmpdir(), 'sentinel-ports-'));
  try {
    const http = await runTs('collector/main.ts', ['--http', `127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'error']);
    assert.equal(http.code, 1, http.stderr);
    assert.match(http.stderr, new RegExp(`dashboard cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*choose another address with --http HOST:PORT`));
    const agents = await runTs('collector/main.ts', ['--http', '127.0.0.1:0', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'error']);
    assert.equal(agents.code, 1, agents.stderr);
    assert.match(agents.stderr, new RegExp(`agent port cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*--listen HOST:PORT`));
  } finally {
    holder.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
