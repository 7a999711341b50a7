/**
 * The agent as deployed: `npm run build`'s configuration (tsconfig.build.json) compiled into a
 * temp dir, then `node TMP/agent/main.js` (plain node, no tsx) against a real collector, until
 * its host lands in GET /api/hosts with samples; then SIGTERM. Proves the emitted imports resolve
 * (.ts rewritten to .js), nothing the agent needs is left out of the build, and msgpackr's native
 * addon stays unloaded (agent/msgpack_env.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostsPayload } from '../../dashboard/api.ts';
import { getJson, waitFor } from '../helpers/net.ts';
import { freePort, ROOT, startCollectorProcess } from '../helpers/procs.ts';

const TOKEN = 'build-test-token';

test('the built agent (tsc -p tsconfig.build.json) runs under plain node and its host lands on a real collector', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-build-'));
  const out = join(dir, 'dist');
  let collector: Awaited<ReturnType<typeof startCollectorProcess>> | undefined;
  let agent: ReturnType<typeof spawn> | undefined;
  try {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', out], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(tsc.status, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);
    const main = join(out, 'agent/main.js');
    assert.ok(existsSync(main), 'agent/main.js emitted');
    assert.doesNotMatch(readFileSync(main, 'utf8'), /from ["'][^"']+\.ts["']/u, 'relative .ts imports rewritten to .js');
    // Packages resolve from the build's ancestors, as they do from a checkout's dist/.
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');

    const [agentPort, httpPort] = [await freePort(), await freePort()];
    collector = await startCollectorProcess(join(dir, 'data'), agentPort, httpPort, TOKEN);
    let stderr = '';
    agent = spawn(process.execPath, [main, '--collector', `127.0.0.1:${agentPort}`, '--name', 'built-agent', '--log-level', 'warn'], {
      cwd: dir, env: { ...process.env, SENTINEL_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    agent.stderr!.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    const base = collector.base;
    const host = await waitFor(`the built agent's host with samples (agent stderr: ${JSON.stringify(stderr.slice(-500))})`, async () => {
      if (agent!.exitCode !== null) throw new Error(`the built agent exited ${agent!.exitCode}: ${stderr}`);
      const { hosts } = await getJson<HostsPayload>(`${base}/api/hosts`);
      return hosts.find((h) => h.name === 'built-agent' && h.samples_total >= 2);
    }, 45_000, 250);
    assert.equal(host.status, 'online');
    assert.ok(typeof host.readings['cpu_pct'] === 'number', 'a fast reading arrived');
    if (existsSync(`/proc/${agent.pid}/maps`)) {
      assert.doesNotMatch(readFileSync(`/proc/${agent.pid}/maps`, 'utf8'), /msgpackr-extract/u, 'msgpackr native addon not loaded');
    }
    const exited = new Promise<number | null>((resolve) => agent!.once('exit', (code) => resolve(code)));
    agent.kill('SIGTERM');
    assert.equal(await exited, 0, `clean exit on SIGTERM; stderr: ${stderr}`);
  } finally {
    if (agent && agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
    await collector?.proc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
