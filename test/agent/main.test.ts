/**
 * agent/main.ts as a user runs it: a real agent process with --power-root at a fixture tree and
 * --power-socket, read by a client as a desktop widget would, then stopped with SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PowerLine } from '../../agent/power_socket.ts';
import { FakeCollector } from '../helpers/fake_collector.ts';
import { waitFor } from '../helpers/net.ts';
import { runTs, startTs } from '../helpers/procs.ts';
import { POWERCAP_FIXTURES, RaplTree, TWO_PACKAGES_TOTAL_W, TWO_PACKAGES_WATTS } from '../helpers/rapl_tree.ts';

/** Connects, reads to end of file, parses the one line. */
function readLine(path: string): Promise<PowerLine> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = connect(path);
    s.on('data', (c: Buffer) => { got += c.toString('utf8'); });
    s.on('end', () => {
      try {
        assert.ok(got.endsWith('\n') && got.indexOf('\n') === got.length - 1, `one line: ${JSON.stringify(got)}`);
        resolve(JSON.parse(got) as PowerLine);
      } catch (err) {
        reject(err);
      }
    });
    s.on('error', reject);
  });
}

/** Starts the agent against `fake` with the power flags given; the socket in a fresh temp dir. */
function startAgentProcess(fake: FakeCollector, powerArgs: string[]): { dir: string; socket: string; proc: ReturnType<typeof startTs> } {
  const dir = mkdtempSync(join(tmpdir(), 'agent-main-'));
  const socket = join(dir, 'power.sock');
  const proc = startTs('agent/main.ts', [
    '--collector', `127.0.0.1:${fake.port}`, '--name', 'main-test', '--interval', '500', '--slow-interval', '0',
    '--power-socket', socket, ...powerArgs,
  ], { SENTINEL_TOKEN: 'main-test-token' });
  return { dir, socket, proc };
}

const SOURCE_CASES = [
  { name: 'a RAPL tree (two packages with dram) drawing 30 W: measured', fixture: 'two_packages_dram', source: 'measured', mode: '0600' },
  { name: 'no RAPL counters (none fixture): estimated', fixture: 'none', source: 'estimated', mode: '0660' },
] as const;
for (const c of SOURCE_CASES) {
  test(`agent process, power socket: ${c.name}; the socket file goes on SIGTERM`, { timeout: 60_000 }, async () => {
    const tree = RaplTree.copy(c.fixture);
    if (c.fixture === 'two_packages_dram') tree.drawAt(TWO_PACKAGES_WATTS);
    const fake = await FakeCollector.start();
    const { dir, socket, proc } = startAgentProcess(fake, ['--power-root', tree.root, '--power-socket-mode', c.mode]);
    try {
      const seen: PowerLine[] = [];
      // A loaded machine may delay the timer that moves the counters by a tick or two: the test
      // waits (bounded) for a line within 10 % rather than judging the first one. A figure that
      // leaves something out (dram: 25 W) or counts something twice never gets there.
      const line = await waitFor(`an ok line on ${socket}`, async () => {
        if (!existsSync(socket)) return null;
        const l = await readLine(socket);
        seen.push(l);
        if (l.status !== 'ok' || typeof l.power_watts !== 'number') return null;
        return c.source === 'estimated' || Math.abs(l.power_watts - TWO_PACKAGES_TOTAL_W) <= 0.1 * TWO_PACKAGES_TOTAL_W ? l : null;
      }, 30_000, 100).catch((err: Error) => { throw new Error(`${err.message}; lines: ${JSON.stringify(seen.slice(-5))}; agent stderr: ${proc.stderr().slice(-600)}`); });
      assert.equal(statSync(socket).mode & 0o777, Number.parseInt(c.mode, 8));
      assert.equal(line.source, c.source);
      assert.ok(typeof line.power_watts === 'number' && line.power_watts > 0, JSON.stringify(line));
      assert.ok(seen.every((l) => l.status === 'error' || l.source === c.source), `never another source: ${JSON.stringify(seen)}`);
      // The same figure and source the agent sent, taken at that sample's ts.
      await waitFor('the sample of that ts at the collector', () => fake.samples.some((s) => s.ts === line.timestamp), 5000);
      const sent = fake.samples.find((s) => s.ts === line.timestamp)!.msg;
      assert.deepEqual([sent['power_w'], sent['power_source']], [line.power_watts, line.source]);
      assert.equal(await proc.stop('SIGTERM'), 0);
      assert.equal(existsSync(socket), false, 'socket file removed on exit');
    } finally {
      await proc.stop('SIGKILL');
      await fake.close();
      tree.remove();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('agent process: power overrides that contradict the class stop it at start, naming the setting', { timeout: 30_000 }, async () => {
  const r = await runTs('agent/main.ts', ['--collector', '127.0.0.1:9', '--token', 't', '--power-root', `${POWERCAP_FIXTURES}none`, '--power-class', 'sbc', '--power-max-w', '2']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /agent: --power-max-w: idle watts \(3\) above max watts \(2\)/);
  const bad = await runTs('agent/main.ts', ['--collector', '127.0.0.1:9', '--token', 't', '--power-socket-mode', '0777']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--power-socket-mode: must be one of 0600, 0660/);
});
