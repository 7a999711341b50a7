/**
 * A fixture machine with RAPL, end to end: a real collector, a real agent process reading a copy of
 * the two_packages_dram powercap tree whose counters the test moves at known rates (30 W in all),
 * and a second agent on a tree without RAPL. The dashboard's API must show the first measured at
 * about 30 W, with its zones in /metrics, and the second estimated.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import type { HostsPayload } from '../../dashboard/api.ts';
import { loadConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/log.ts';
import { parseProm } from '../helpers/prom_parse.ts';
import { getJson, waitFor } from '../helpers/net.ts';
import { startTs } from '../helpers/procs.ts';
import { POWERCAP_FIXTURES, RaplTree, TWO_PACKAGES_TOTAL_W, TWO_PACKAGES_WATTS } from '../helpers/rapl_tree.ts';

const TOKEN = 'power-fixture-token';
/** Within this share of the rate the counters move at: a figure missing the drams (25 W) is not. */
const TOLERANCE = 0.1;

test('a fixture machine with RAPL shows measured watts end to end; one without shows estimated', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-power-'));
  const tree = RaplTree.copy('two_packages_dram');
  tree.drawAt(TWO_PACKAGES_WATTS);
  const config = loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', TOKEN, '--save-interval-s', '0'], {}).config;
  const c = await startCollector(config, createLogger('test', 'error'));
  t.after(async () => {
    await c.stop();
    tree.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  const agentArgs = (name: string, root: string): string[] => [
    '--collector', `127.0.0.1:${c.agentAddress.port}`, '--name', name, '--interval', '500', '--slow-interval', '0', '--log-level', 'warn', '--power-root', root,
  ];
  const rapl = startTs('agent/main.ts', agentArgs('rapl-host', tree.root), { SENTINEL_TOKEN: TOKEN });
  const plain = startTs('agent/main.ts', agentArgs('plain-host', `${POWERCAP_FIXTURES}none`), { SENTINEL_TOKEN: TOKEN });
  t.after(async () => { await Promise.all([rapl.stop(), plain.stop()]); });

  const base = c.url.replace(/\/$/, '');
  type Host = HostsPayload['hosts'][number];
  const seen: Array<number | null> = [];
  // Bounded wait for a figure within tolerance: the timer moving the counters can run late on a
  // loaded machine for a sample or two, but a wrong total never comes within 10 %.
  const payload = await waitFor('both hosts online, rapl-host measured near 30 W', async () => {
    const p = await getJson<HostsPayload>(`${base}/api/hosts`);
    const r = p.hosts.find((h) => h.name === 'rapl-host');
    const e = p.hosts.find((h) => h.name === 'plain-host');
    if (r === undefined || e === undefined || r.status !== 'online' || e.status !== 'online') return null;
    seen.push(r.readings.power_w);
    const watts = r.readings.power_w;
    if (watts === null || Math.abs(watts - TWO_PACKAGES_TOTAL_W) > TOLERANCE * TWO_PACKAGES_TOTAL_W) return null;
    return e.readings.power_w !== null ? p : null;
  }, 40_000, 200).catch((err: Error) => {
    throw new Error(`${err.message}; rapl-host power_w seen: ${JSON.stringify(seen.slice(-10))}; agent stderr: ${rapl.stderr().slice(-500)}`);
  });

  const host = (name: string): Host => payload.hosts.find((h) => h.name === name)!;
  assert.equal(host('rapl-host').power_source, 'measured');
  assert.equal(host('plain-host').power_source, 'estimated');
  assert.ok(host('plain-host').readings.power_w! > 0);
  assert.match(host('plain-host').note, /power_zones: RAPL: no intel-rapl zones in /);
  assert.doesNotMatch(host('rapl-host').note, /power/);
  t.diagnostic(`rapl-host ${host('rapl-host').readings.power_w} W measured (counters at ${TWO_PACKAGES_TOTAL_W} W); plain-host ${host('plain-host').readings.power_w} W estimated`);

  const prom = parseProm(await (await fetch(`${base}/metrics`)).text());
  const zone = (name: string): number | undefined => prom.samples.find((s) => s.name === 'sentinel_power_zone_watts' && s.labels['host'] === 'rapl-host' && s.labels['zone'] === name)?.value;
  for (const [name, watts] of [['package-0', 10], ['package-0/dram', 3], ['package-1', 15], ['package-1/dram', 2]] as const) {
    const v = zone(name);
    assert.ok(v !== undefined, `sentinel_power_zone_watts{host="rapl-host",zone="${name}"}`);
    // One zone alone is a smaller figure, so timer lag weighs more: 25 %, or 1 W.
    assert.ok(Math.abs(v - watts) <= Math.max(1, 0.25 * watts), `${name}: ${v} W, drawing ${watts}`);
  }
  assert.equal(prom.samples.filter((s) => s.name === 'sentinel_power_zone_watts' && s.labels['host'] === 'plain-host').length, 0, 'no zones for an estimate');
});
