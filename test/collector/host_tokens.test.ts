/** collector/host_tokens.ts: scrypt hashes, the file, and the collector's live view of it. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DUMMY_RECORD, hashToken, hostTokensPath, HostTokenSet, parseHostTokens, readHostTokens, SCRYPT_PARAMS, verifyToken, writeHostTokens } from '../../collector/host_tokens.ts';
import { randomToken } from '../../collector/token.ts';
import { runTs } from '../helpers/procs.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sentinel-tokens-'));
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

test('hashToken/verifyToken: the token verifies, anything else does not; salts differ', async () => {
  const token = randomToken();
  const a = await hashToken('web1', token);
  const b = await hashToken('web1', token);
  assert.notEqual(a.salt, b.salt);
  assert.notEqual(a.hash, b.hash);
  assert.equal(a.N, SCRYPT_PARAMS.N);
  assert.equal(await verifyToken(a, token), true);
  assert.equal(await verifyToken(b, token), true);
  assert.equal(await verifyToken(a, token.slice(0, -1)), false);
  assert.equal(await verifyToken(a, ''), false);
  assert.equal(await verifyToken(DUMMY_RECORD, token), false);
  assert.ok(!JSON.stringify(a).includes(token), 'the token itself is never stored');
});

test('the file: written owner-only, read back; missing is empty; malformed is refused', async () => {
  const dir = tempDir();
  assert.equal(readHostTokens(dir).size, 0);
  const recs = new Map([['web<1>', await hashToken('web<1>', 't1')], ['db', await hashToken('db', 't2')]]);
  writeHostTokens(dir, recs);
  assert.equal(statSync(hostTokensPath(dir)).mode & 0o777, 0o600);
  const back = readHostTokens(dir);
  assert.deepEqual([...back.keys()].sort(), ['db', 'web<1>']);
  assert.equal(await verifyToken(back.get('db')!, 't2'), true);
  const bad: Array<[string, RegExp]> = [
    ['not json', /JSON|Unexpected/],
    ['{"format":2,"tokens":[]}', /format-1/],
    ['{"format":1,"tokens":[{"host":"x"}]}', /malformed/],
    ['{"format":1,"tokens":[{"host":"x","salt":"","hash":"","created":"","N":1073741824,"r":8,"p":1}]}', /malformed/],
    ['{"format":1,"tokens":[{"host":"bad\\u0000name","salt":"","hash":"","created":"","N":4096,"r":8,"p":1}]}', /control/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseHostTokens(text), re, text);
});

test('HostTokenSet: picks up additions and revocations; keeps the last good set when the file breaks', async () => {
  const dir = tempDir();
  const errors: string[] = [];
  const set = new HostTokenSet(dir, (m) => errors.push(m));
  assert.equal(set.size, 0);
  writeHostTokens(dir, new Map([['a', await hashToken('a', 'ta')]]));
  assert.equal(set.refresh(), true);
  assert.ok(set.get('a'));
  assert.equal(set.refresh(), false, 'unchanged file: no re-read');
  writeFileSync(hostTokensPath(dir), '{broken');
  assert.equal(set.refresh(), false);
  assert.ok(set.get('a'), 'last good set kept');
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /keeping the 1 tokens/);
  writeHostTokens(dir, new Map());
  assert.equal(set.refresh(), true);
  assert.equal(set.get('a'), undefined);
  assert.equal(set.lastError, null);
  assert.ok(readFileSync(hostTokensPath(dir), 'utf8').includes('"tokens": []'));
});

test('a token file from before the "." / ".." rule still loads, and `npm run token` refuses such a new name but revokes an old one', async () => {
  const dir = tempDir();
  writeHostTokens(dir, new Map([['web1', await hashToken('web1', 't1')], ['..', await hashToken('..', 't2')]]));
  assert.deepEqual([...readHostTokens(dir).keys()].sort(), ['..', 'web1'], 'the file is not refused whole');
  const add = await runTs('scripts/token.ts', ['add', '.', '--data-dir', dir]);
  assert.equal(add.code, 2, add.stderr);
  assert.match(add.stderr, /URL path cannot name it/);
  const revoke = await runTs('scripts/token.ts', ['revoke', '..', '--data-dir', dir]);
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.deepEqual([...readHostTokens(dir).keys()], ['web1']);
});
