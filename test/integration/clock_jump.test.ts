/**
 * An agent whose clock jumps between its hello and its samples, with real processes: a raw agent
 * says hello at ts 2^53 - 1 and then sends power samples at ts 2000 and 3000, which the hello's
 * clock offset would place near -9e15 ms. The collector keeps the session, places none of them
 * (history and energy untouched: shared/PROTOCOL.md, Time), and the fleet's energy figures stay
 * those of the honest host beside it: GET /api/energy has no "since" decades away, and
 * `npm run energy` still prints its report.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { EnergyReport } from '../../collector/energy_report.ts';
import type { HostsPayload } from '../../dashboard/api.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { getJson, RawClient, waitFor } from '../helpers/net.ts';
import { freePort, startCollectorProcess, startTs } from '../helpers/procs.ts';

const TOKEN = 'clock-jump-token';
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function agent(port: number, host: string, helloTs: number): Promise<RawClient> {
  const c = await RawClient.open(port);
  c.send({ type: 'hello', proto: PROTO_VERSION, host, agent: 'clock-test', token: TOKEN, interval_ms: 1000, ts: helloTs });
  await c.next('welcome', 10_000);
  return c;
}

test('a clock that jumps back 285,000 years after the hello: its samples are not placed, and the fleet\'s energy stays sound', { timeout: 90_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sentinel-clock-'));
  dirs.push(dataDir);
  const agentPort = await freePort();
  const { proc, base } = await startCollectorProcess(dataDir, agentPort, await freePort(), TOKEN, ['--tariff', '0.25 EUR', '--timezone', 'UTC']);
  try {
    const now = Date.now();
    const honest = await agent(agentPort, 'honest', now);
    for (let k = 0; k <= 10; k++) honest.send({ type: 'sample', seq: k + 1, ts: now - 10_000 + k * 1000, power_w: 360, power_source: 'measured', cpu_pct: 5 });
    const jumper = await agent(agentPort, 'jumper', Number.MAX_SAFE_INTEGER);
    jumper.send({ type: 'sample', seq: 1, ts: 2000, power_w: 50, power_source: 'measured', cpu_pct: 41 });
    jumper.send({ type: 'sample', seq: 2, ts: 3000, power_w: 50, power_source: 'measured', cpu_pct: 42 });

    // Its latest reading lands (the samples count as received); its session goes on.
    const hosts = await waitFor('both hosts\' latest readings', async () => {
      const h = await getJson<HostsPayload>(`${base}/api/hosts`);
      const j = h.hosts.find((x) => x.name === 'jumper');
      const o = h.hosts.find((x) => x.name === 'honest');
      return j?.cpu_pct === 42 && o?.energy !== null && o?.energy !== undefined ? h : null;
    }, 15_000, 100);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(jumper.closed, false, 'the session is kept');
    assert.equal(jumper.messages.find((m) => m['type'] === 'error'), undefined, `no error frame: ${JSON.stringify(jumper.messages)}`);
    const j = hosts.hosts.find((x) => x.name === 'jumper')!;
    assert.equal(j.energy, null, 'no energy counted for the jumper');
    const history = await getJson<{ t: number[] }>(`${base}/api/hosts/jumper/history?seconds=900`);
    assert.deepEqual(history.t, [], 'nothing placed in its history');

    // The fleet's energy: the honest host's 10 s at 360 W, since its own first sample.
    const e = await getJson<EnergyReport>(`${base}/api/energy?days=7`);
    assert.ok(e.totals.since_ms !== null && e.totals.since_ms >= now - 11_000 && e.totals.since_ms <= now, `fleet since ${e.totals.since_ms}`);
    assert.ok(Math.abs(e.totals.total.kwh - (360 * 10) / 3_600_000) < 1e-9, `fleet kWh ${e.totals.total.kwh}`);
    assert.deepEqual(e.per_host.map((h) => h.host), ['honest']);

    // And the report a person runs prints.
    const report = startTs('scripts/energy.ts', ['--url', base], { SENTINEL_URL: '', SENTINEL_HTTP_TOKEN: '', SENTINEL_HOST: '', SENTINEL_DAYS: '', SENTINEL_FORMAT: '' });
    const timer = setTimeout(() => report.child.kill('SIGKILL'), 20_000);
    const code = await report.exited;
    clearTimeout(timer);
    assert.equal(code, 0, report.stderr());
    assert.match(report.stdout(), /honest/);
    honest.close();
    jumper.close();
  } finally {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
});
