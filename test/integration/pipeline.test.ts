/**
 * The whole pipeline as separate processes, as a user runs it: the collector, two agents started
 * with the join command the collector printed, the dashboard's API, a hostile raw socket, an
 * agent killed, test_reader, and a graceful stop.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ERROR_CODES } from '../../shared/errors.ts';
import type { HostsPayload } from '../../dashboard/api.ts';
import { getJson, RawClient, waitFor } from '../helpers/net.ts';
import { runTs, startTs, waitForOutput, type Proc } from '../helpers/procs.ts';

test('collector + two agent processes + dashboard + test_reader, end to end', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-e2e-'));
  const procs: Proc[] = [];
  try {
    const collector = startTs('collector/main.ts', ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir]);
    procs.push(collector);
    const agentsLine = await waitForOutput(collector, /agents:\s+127\.0\.0\.1:(\d+)/);
    const dashLine = await waitForOutput(collector, /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//);
    const join_ = await waitForOutput(collector, /npm run agent -- (--collector \S+ --token[ =]\S+)/);
    const agentPort = Number(agentsLine[1]);
    const base = dashLine[1]!;
    // The printed command, as another machine would run it (names set so both fit on one machine).
    const joinArgs = join_[1]!.split(' ');
    const alpha = startTs('agent/main.ts', [...joinArgs, '--name', 'alpha', '--interval', '250']);
    const beta = startTs('agent/main.ts', [...joinArgs, '--name', 'beta', '--interval', '250']);
    procs.push(alpha, beta);

    const hosts = async (): Promise<HostsPayload> => getJson<HostsPayload>(`${base}/api/hosts`);
    // Two agents started through tsx while other suites load the machine: allow 30 s; a timeout
    // says what the page last showed, so a slow start and a real fault can be told apart.
    let seen = 'no answer';
    const both = await waitFor('alpha and beta online', async () => {
      const p = await hosts();
      seen = JSON.stringify(p.hosts.map((h) => ({ name: h.name, status: h.status, age_ms: h.age_ms, seq: h.sample_seq })));
      return p.hosts.filter((h) => h.status === 'online').length === 2 ? p : null;
    }, 30_000).catch((err: Error) => {
      // What each process said, so that a slow start and a fault can be told apart afterwards.
      const tail = (label: string, p: Proc): string =>
        `${label} (exit ${p.child.exitCode ?? p.child.signalCode ?? 'running'}) stdout: ${JSON.stringify(p.stdout().slice(-300))} stderr: ${JSON.stringify(p.stderr().slice(-600))}`;
      throw new Error(`${err.message}; /api/hosts last said ${seen}; ${tail('alpha', alpha)}; ${tail('beta', beta)}; ${tail('collector', collector)}`);
    });
    assert.deepEqual(both.hosts.map((h) => h.name), ['alpha', 'beta']);
    for (const h of both.hosts) {
      assert.ok(h.cpu_pct === null || (h.cpu_pct >= 0 && h.cpu_pct <= 100));
      assert.ok(h.mem_total_bytes! > 0 && h.mem_used_bytes! <= h.mem_total_bytes!);
      assert.ok(h.uptime_s! > 0);
      assert.equal(h.agent, '0.1.0');
      assert.ok(h.age_ms! < 3 * 250 + 500, `fresh: age ${h.age_ms} ms`);
    }

    // test_reader sees both slots and passes its consistency check.
    const read1 = await runTs('scripts/test_reader.ts', ['--data-dir', dir]);
    assert.equal(read1.code, 0, read1.stdout + read1.stderr);
    assert.match(read1.stdout, /"alpha"/);
    assert.match(read1.stdout, /"beta"/);
    assert.match(read1.stdout, /consistency: all slots pass/);
    assert.match(read1.stdout, /lock seq +write s +status/);

    // A hostile raw socket: a bad frame gets its coded error; the agents are unaffected.
    const seqBefore = (await hosts()).hosts.find((h) => h.name === 'alpha')!.sample_seq!;
    const raw = await RawClient.open(agentPort);
    raw.sendBytes(Buffer.from('ffffffff', 'hex'));
    assert.equal((await raw.next('error'))['code'], ERROR_CODES.FRAME_TOO_LARGE);
    await raw.waitClosed();
    await waitFor('alpha keeps sending', async () => (await hosts()).hosts.find((h) => h.name === 'alpha')!.sample_seq! > seqBefore + 2);

    // Killing an agent turns its host offline; the other stays online.
    beta.child.kill('SIGKILL');
    const afterKill = await waitFor('beta offline', async () => {
      const p = await hosts();
      return p.hosts.find((h) => h.name === 'beta')?.status === 'offline' ? p : null;
    }, 10_000);
    assert.equal(afterKill.hosts.find((h) => h.name === 'alpha')!.status, 'online');
    const s = afterKill.summary;
    assert.deepEqual([s.hosts, s.online, s.stale, s.offline], [2, 1, 0, 1]);

    const read2 = await runTs('scripts/test_reader.ts', ['--data-dir', dir, '--json']);
    assert.equal(read2.code, 0, read2.stderr);
    const snap = JSON.parse(read2.stdout) as { slots: Array<{ name: string; status: string; problems: string[] }> };
    assert.deepEqual(snap.slots.map((s) => [s.name, s.status]).sort(), [['alpha', 'online'], ['beta', 'offline']]);

    // Graceful stop: the collector exits 0 and the agent notices and starts retrying.
    assert.equal(await collector.stop('SIGTERM'), 0);
    await waitFor('agent was told of the shutdown', () => /SENTINEL_SHUTDOWN/.test(alpha.stderr()), 10_000);
    assert.equal(alpha.child.exitCode, null, 'the agent keeps running, waiting for the collector');
  } finally {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('test_reader fails clearly when no collector runs with that data directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-none-'));
  try {
    const r = await runTs('scripts/test_reader.ts', ['--data-dir', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is a collector running with this --data-dir\?/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad flags stop a program at start with a message naming the setting', async () => {
  const r = await runTs('agent/main.ts', ['--collector', 'nowhere', '--token', 't']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--collector: expected HOST:PORT/);
  const help = await runTs('agent/main.ts', ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--collector HOST:PORT/);
  assert.match(help.stdout, /SENTINEL_TOKEN/);
});
