/**
 * Config files and SIGHUP, as an operator uses them: a real collector and a real agent started
 * with `--config FILE` alone, JSON logs, an agent renamed by editing its file and sending
 * SIGHUP, a cluster token rotated the same way (old sessions closed, the agent back once its
 * file has the new token), a broken file refused by a reload while the collector goes on, and
 * files that stop a program at start.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { HostsPayload } from '../../dashboard/api.ts';
import { getJson, waitFor } from '../helpers/net.ts';
import { runTs, startTs, waitForOutput, type Proc } from '../helpers/procs.ts';

function writeJson(path: string, value: unknown, mode = 0o600): void {
  writeFileSync(path, JSON.stringify(value, null, 2));
  chmodSync(path, mode);
}

/** Every stderr line of a `--log-format json` program, parsed; a line that is not JSON fails. */
function jsonLines(p: Proc): Record<string, unknown>[] {
  return p.stderr().split('\n').filter((l) => l !== '').map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      assert.fail(`not a JSON log line: ${l}`);
    }
  });
}

function logged(p: Proc, msg: string): Record<string, unknown> | null {
  return jsonLines(p).find((l) => l['msg'] === msg) ?? null;
}

test('collector and agent from config files; SIGHUP renames a host and rotates the cluster token', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-reload-'));
  const procs: Proc[] = [];
  try {
    const collectorFile = join(dir, 'collector.json');
    const collectorSettings = {
      listen: '127.0.0.1:0', http: '127.0.0.1:0', 'data-dir': join(dir, 'data'), token: 'first-token-0123456789', 'log-format': 'json',
      // Hosts go stale and offline within a few seconds of their last sample at this interval.
      'save-interval-s': 0,
    };
    writeJson(collectorFile, collectorSettings);
    const collector = startTs('collector/main.ts', ['--config', collectorFile]);
    procs.push(collector);
    const agentPort = Number((await waitForOutput(collector, /agents:\s+127\.0\.0\.1:(\d+)/))[1]);
    const base = (await waitForOutput(collector, /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//))[1]!;
    await waitFor('the collector logs in JSON', () => logged(collector, 'dashboard ready'), 10_000);

    const agentFile = join(dir, 'agent.json');
    const agentSettings = { collector: `127.0.0.1:${agentPort}`, token: 'first-token-0123456789', name: 'from-file', interval: 250, 'log-format': 'json' };
    writeJson(agentFile, agentSettings);
    const agent = startTs('agent/main.ts', ['--config', agentFile]);
    procs.push(agent);
    const online = async (name: string): Promise<boolean> => {
      const p = await getJson<HostsPayload>(`${base}/api/hosts`);
      return p.hosts.some((h) => h.name === name && h.status === 'online');
    };
    await waitFor('the agent online under the name in its file', () => online('from-file'), 20_000);

    // Renamed in the file, then SIGHUP: the same process comes back under the new name.
    writeJson(agentFile, { ...agentSettings, name: 'renamed' });
    agent.child.kill('SIGHUP');
    await waitFor('the renamed host online', () => online('renamed'), 20_000);
    assert.ok(logged(agent, 'restarted with new settings'), agent.stderr());
    assert.equal(agent.child.exitCode, null, 'the agent process lives on');
    const sessionsBefore = await getJson<HostsPayload>(`${base}/api/hosts`);
    const renamed = sessionsBefore.hosts.find((h) => h.name === 'renamed')!;

    // The cluster token rotated on the collector: the agent's session under the old one closes.
    writeJson(collectorFile, { ...collectorSettings, token: 'second-token-9876543210' });
    collector.child.kill('SIGHUP');
    await waitFor('the collector says the token was replaced', () => logged(collector, 'cluster token replaced: agents admitted with the old one are disconnected'), 10_000);
    await waitFor('the old token\'s session closed', async () => {
      const p = await getJson<HostsPayload>(`${base}/api/hosts`);
      return p.hosts.find((h) => h.name === 'renamed')?.status === 'offline';
    }, 10_000);
    // The agent's file gets the new token: back online.
    writeJson(agentFile, { ...agentSettings, name: 'renamed', token: 'second-token-9876543210' });
    agent.child.kill('SIGHUP');
    await waitFor('the agent back with the new token', async () => {
      const p = await getJson<HostsPayload>(`${base}/api/hosts`);
      const h = p.hosts.find((x) => x.name === 'renamed');
      return h?.status === 'online' && (h.sample_seq ?? 0) > (renamed.sample_seq ?? 0);
    }, 20_000);

    // A broken file: the reload is refused and named, the collector goes on serving.
    writeFileSync(collectorFile, '{ "listen": ');
    collector.child.kill('SIGHUP');
    const refused = await waitFor('the reload refused', () => logged(collector, 'reload refused; the running settings stay'), 10_000);
    assert.match(String(refused['error']), /not valid JSON/);
    assert.ok(await online('renamed'));
    // A setting that needs a restart is named, not applied.
    writeJson(collectorFile, { ...collectorSettings, token: 'second-token-9876543210', capacity: 7 });
    collector.child.kill('SIGHUP');
    const restart = await waitFor('the restart-only change named', () => logged(collector, 'reload: these settings changed but need a restart'), 10_000);
    assert.equal(restart['settings'], 'capacity');
    assert.equal(collector.child.exitCode, null);

    assert.equal(await collector.stop(), 0);
    assert.equal(await agent.stop(), 0);
  } finally {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad config file stops a program at start, naming the file and the key', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-badconf-'));
  try {
    const unknown = join(dir, 'unknown.json');
    writeJson(unknown, { collector: '127.0.0.1:1', token: 't', intervall: 1000 });
    const a = await runTs('agent/main.ts', ['--config', unknown]);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /unknown\.json: "intervall": unknown setting/);

    const loose = join(dir, 'loose.json');
    writeJson(loose, { collector: '127.0.0.1:1', token: 'secret-token' }, 0o644);
    const b = await runTs('agent/main.ts', ['--config', loose]);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /loose\.json: "token": is a secret, and the file can be read by every user \(mode 0644\)/);

    const badValue = join(dir, 'bad.json');
    writeJson(badValue, { capacity: 0 });
    const c = await runTs('collector/main.ts', ['--config', badValue]);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /bad\.json: "capacity": must be from 1 to/);

    const missing = await runTs('collector/main.ts', ['--config', join(dir, 'absent.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--config: cannot read ".*absent\.json": ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
