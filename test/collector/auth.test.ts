/** collector/auth.ts: which credential opens which host, in both modes. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Authenticator } from '../../collector/auth.ts';
import { hashToken, HostTokenSet, writeHostTokens } from '../../collector/host_tokens.ts';

const dir = mkdtempSync(join(tmpdir(), 'sentinel-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const CLUSTER = 'cluster-secret';

test('per-host tokens are bound to their host; the cluster token opens only hosts without one', async () => {
  writeHostTokens(dir, new Map([['web1', await hashToken('web1', 'web1-secret')], ['db', await hashToken('db', 'db-secret')]]));
  const auth = new Authenticator(new HostTokenSet(dir), CLUSTER, 'cluster');
  assert.equal((await auth.verify('web1', 'web1-secret'))?.kind, 'host');
  assert.equal(await auth.verify('db', 'web1-secret'), null, 'a token opens only its own host');
  assert.equal(await auth.verify('web1', CLUSTER), null, 'a host with its own token refuses the cluster token');
  assert.equal((await auth.verify('new-host', CLUSTER))?.kind, 'cluster');
  assert.equal(await auth.verify('new-host', 'web1-secret'), null);
  assert.equal(await auth.verify('new-host', 'wrong'), null);
});

test('per-host mode: the cluster token opens nothing', async () => {
  writeHostTokens(dir, new Map([['web1', await hashToken('web1', 'web1-secret')]]));
  const auth = new Authenticator(new HostTokenSet(dir), CLUSTER, 'per-host');
  assert.equal(await auth.verify('new-host', CLUSTER), null);
  assert.equal((await auth.verify('web1', 'web1-secret'))?.kind, 'host');
});

test('stillValid: a replaced or revoked token, or a new token for a cluster host, ends the session', async () => {
  writeHostTokens(dir, new Map([['web1', await hashToken('web1', 'one')]]));
  const auth = new Authenticator(new HostTokenSet(dir), CLUSTER, 'cluster');
  const hostCred = (await auth.verify('web1', 'one'))!;
  const clusterCred = (await auth.verify('other', CLUSTER))!;
  assert.equal(auth.stillValid('web1', hostCred), true);
  assert.equal(auth.stillValid('other', clusterCred), true);
  const generation = auth.generation;
  writeHostTokens(dir, new Map([['web1', await hashToken('web1', 'two')]]));
  auth.refresh();
  assert.equal(auth.generation, generation + 1, 'a change raises the generation');
  assert.equal(auth.stillValid('web1', hostCred), false, 'replaced');
  writeHostTokens(dir, new Map([['other', await hashToken('other', 'x')]]));
  auth.refresh();
  assert.equal(auth.stillValid('other', clusterCred), false, 'the host now has its own token');
  assert.equal(auth.stillValid('web1', hostCred), false, 'revoked');
});

test('an unknown host costs one scrypt, like a known host with a wrong token', async () => {
  writeHostTokens(dir, new Map([['web1', await hashToken('web1', 'one')]]));
  const auth = new Authenticator(new HostTokenSet(dir), CLUSTER, 'cluster');
  // Interleaved, medians: the machine is noisy, so only a gross difference (a skipped hash) fails.
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 30; i++) {
    let t = performance.now();
    await auth.verify('web1', 'wrong');
    known.push(performance.now() - t);
    t = performance.now();
    await auth.verify('nobody', 'wrong');
    unknown.push(performance.now() - t);
  }
  const median = (a: number[]): number => a.sort((x, y) => x - y)[a.length >> 1]!;
  const ratio = median(unknown) / median(known);
  assert.ok(ratio > 0.5 && ratio < 2, `unknown/known median time ratio ${ratio.toFixed(2)} (${median(unknown).toFixed(1)} ms vs ${median(known).toFixed(1)} ms)`);
});

test('a working token is not hashed again: the cluster token for a host without one, a host token scrypt already accepted', async () => {
  writeHostTokens(dir, new Map([['web1', await hashToken('web1', 'web1-secret')]]));
  const auth = new Authenticator(new HostTokenSet(dir), CLUSTER, 'cluster');
  for (let i = 0; i < 50; i++) assert.equal((await auth.verify(`node-${i}`, CLUSTER))?.kind, 'cluster');
  assert.equal(auth.hashes, 0, 'the cluster token for hosts without a record needs no scrypt');
  assert.equal((await auth.verify('web1', 'web1-secret'))?.kind, 'host');
  assert.equal(auth.hashes, 1);
  for (let i = 0; i < 20; i++) assert.equal((await auth.verify('web1', 'web1-secret'))?.kind, 'host');
  assert.equal(auth.hashes, 1, 'a proven host token is remembered');
  // Wrong tokens always pay the hash, known host or not, cluster token or not.
  assert.equal(await auth.verify('web1', 'wrong'), null);
  assert.equal(await auth.verify('web1', CLUSTER), null);
  assert.equal(await auth.verify('nobody', 'wrong'), null);
  assert.equal(auth.hashes, 4);
});

test('a remembered host token stops working once its record is replaced or revoked', async () => {
  writeHostTokens(dir, new Map([['web1', await hashToken('web1', 'old-secret')]]));
  const tokens = new HostTokenSet(dir);
  const auth = new Authenticator(tokens, CLUSTER, 'cluster');
  assert.equal((await auth.verify('web1', 'old-secret'))?.kind, 'host');
  // A new file (another mtime and size) with a new record for the same host.
  await new Promise((r) => setTimeout(r, 20));
  writeHostTokens(dir, new Map([['web1', await hashToken('web1', 'new-secret-longer')]]));
  assert.equal(await auth.verify('web1', 'old-secret'), null, 'the old token under a new salt is hashed again, and refused');
  assert.equal((await auth.verify('web1', 'new-secret-longer'))?.kind, 'host');
  writeHostTokens(dir, new Map());
  assert.equal(await auth.verify('web1', 'new-secret-longer'), null, 'revoked: the remembered token opens nothing');
  // Per-host mode never takes the cluster fast path.
  const strict = new Authenticator(new HostTokenSet(dir), CLUSTER, 'per-host');
  assert.equal(await strict.verify('new-host', CLUSTER), null);
});

test('a replaced cluster token: the old one opens nothing, sessions admitted with it end, the new one works', async () => {
  writeHostTokens(dir, new Map([['web1', await hashToken('web1', 'web1-secret')]]));
  const auth = new Authenticator(new HostTokenSet(dir), CLUSTER, 'cluster');
  const old = await auth.verify('new-host', CLUSTER);
  const host = await auth.verify('web1', 'web1-secret');
  assert.ok(old && host);
  const generation = auth.generation;
  assert.equal(auth.setClusterToken(CLUSTER), false, 'the same token again changes nothing');
  assert.equal(auth.generation, generation);
  assert.equal(auth.setClusterToken('rotated-secret'), true);
  assert.notEqual(auth.generation, generation, 'the server re-checks its sessions on a new generation');
  assert.equal(auth.stillValid('new-host', old), false, 'a session under the old cluster token ends');
  assert.equal(auth.stillValid('web1', host), true, 'a host token is not affected');
  assert.equal(await auth.verify('new-host', CLUSTER), null);
  const fresh = await auth.verify('new-host', 'rotated-secret');
  assert.equal(fresh?.kind, 'cluster');
  assert.equal(auth.stillValid('new-host', fresh!), true);
});
