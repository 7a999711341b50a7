/**
 * Energy counters survive collector restarts, with real processes: a raw agent sends power
 * samples, the collector integrates them (GET /api/energy, /api/hosts, /metrics), is stopped
 * (SIGTERM) and started again on the same data directory, and the counters come back and go on
 * from where they were; a silence longer than --energy-gap-s adds nothing; after a SIGKILL the
 * counters of the last periodic save come back.
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
import { parseProm } from '../helpers/prom_parse.ts';
import { freePort, runTs, startCollectorProcess, type Proc } from '../helpers/procs.ts';

const TOKEN = 'energy-restart-token';
const HOST = 'meter';
const WATTS = 720;
/** kWh of WATTS drawn for `s` seconds. */
const kwhFor = (s: number): number => (WATTS * s) / 3_600_000;
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });


function startCollector(dataDir: string, agentPort: number, httpPort: number): Promise<{ proc: Proc; base: string }> {
  return startCollectorProcess(dataDir, agentPort, httpPort, TOKEN, ['--save-interval-s', '1', '--tariff', '0.25 EUR', '--timezone', 'UTC', '--energy-gap-s', '60']);
}

async function connectAgent(agentPort: number): Promise<RawClient> {
  const c = await RawClient.open(agentPort);
  c.send({ type: 'hello', proto: PROTO_VERSION, host: HOST, agent: 'energy-test', token: TOKEN, interval_ms: 1000 });
  await c.next('welcome', 10_000);
  return c;
}

function energy(base: string): Promise<EnergyReport> {
  return getJson<EnergyReport>(`${base}/api/energy?host=${encodeURIComponent(HOST)}&days=7`);
}

const near = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9;

test('energy counters: integrated from power samples, kept across a graceful restart and a SIGKILL, gaps not invented', { timeout: 150_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sentinel-energy-'));
  dirs.push(dataDir);
  const agentPort = await freePort();
  const httpPort = await freePort();
  let { proc, base } = await startCollector(dataDir, agentPort, httpPort);
  // Samples one second apart, five minutes in the past (placed at their own times), mid-second.
  const t0 = (Math.floor(Date.now() / 1000) - 300) * 1000 + 500;
  let seq = 0;
  const send = (c: RawClient, k: number): void => c.send({ type: 'sample', seq: ++seq, ts: t0 + k * 1000, power_w: WATTS, power_source: 'measured', cpu_pct: 5 });
  try {
    let agent = await connectAgent(agentPort);
    for (let k = 0; k <= 60; k++) send(agent, k);
    let e = await waitFor('60 s of energy', async () => { const r = await energy(base); return near(r.totals.total.kwh, kwhFor(60)) ? r : null; }, 15_000, 100);
    assert.equal(e.currency, 'EUR');
    assert.equal(e.scope, 'host');
    assert.ok(near(e.totals.total.cost!, kwhFor(60) * 0.25), `cost ${e.totals.total.cost}`);
    assert.equal(e.totals.total.covered_s, 60);
    assert.equal(e.per_host[0]!.host, HOST);
    const hosts = await getJson<HostsPayload>(`${base}/api/hosts`);
    const h = hosts.hosts.find((x) => x.name === HOST)!;
    assert.equal(h.power_source, 'measured');
    assert.equal(h.readings.power_w, WATTS);
    assert.ok(h.energy && near(h.energy.total_kwh, kwhFor(60)), `host energy ${JSON.stringify(h.energy)}`);
    assert.equal(hosts.summary.currency, 'EUR');
    assert.equal(hosts.summary.power_measured_hosts, 1);
    const prom = parseProm(await (await fetch(`${base}/metrics`)).text());
    const joules = prom.samples.find((s) => s.name === 'sentinel_energy_joules_total' && s.labels['host'] === HOST);
    assert.ok(joules && Math.abs(joules.value - WATTS * 60) < 1e-6, `joules ${joules?.value}`);
    assert.ok(prom.samples.some((s) => s.name === 'sentinel_energy_cost_total' && s.labels['currency'] === 'EUR'));

    // Graceful stop: the last save holds the counters.
    agent.close();
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0, 'the collector stops cleanly');
    ({ proc, base } = await startCollector(dataDir, agentPort, httpPort));
    e = await energy(base);
    assert.ok(near(e.totals.total.kwh, kwhFor(60)), `after the restart: ${e.totals.total.kwh} kWh, want ${kwhFor(60)}`);
    const back = (await getJson<HostsPayload>(`${base}/api/hosts`)).hosts.find((x) => x.name === HOST)!;
    assert.ok(back.energy && near(back.energy.total_kwh, kwhFor(60)), 'the slot shows the restored counters before any new sample');

    // The agent's buffered samples continue the run: seconds 60..90 are counted, not reset.
    agent = await connectAgent(agentPort);
    for (let k = 61; k <= 90; k++) send(agent, k);
    await waitFor('90 s of energy', async () => near((await energy(base)).totals.total.kwh, kwhFor(90)), 15_000, 100);
    // Two minutes of silence: a gap, not integrated; the run goes on after it.
    send(agent, 210);
    send(agent, 211);
    e = await waitFor('the second after the gap', async () => { const r = await energy(base); return near(r.totals.total.kwh, kwhFor(91)) ? r : null; }, 15_000, 100);
    assert.equal(e.totals.total.covered_s, 91, 'the 119 silent seconds are not covered');

    // SIGKILL after a periodic save (every second): the counters come back from it.
    await new Promise((r) => setTimeout(r, 2500));
    agent.close();
    proc.child.kill('SIGKILL');
    await proc.exited;
    ({ proc, base } = await startCollector(dataDir, agentPort, httpPort));
    e = await energy(base);
    assert.ok(near(e.totals.total.kwh, kwhFor(91)), `after SIGKILL: ${e.totals.total.kwh} kWh, want ${kwhFor(91)}`);
    assert.ok(near(e.totals.total.cost!, kwhFor(91) * 0.25));
    console.log(`energy restart: ${e.totals.total.kwh.toFixed(6)} kWh, ${e.totals.total.cost!.toFixed(6)} EUR over ${e.totals.total.covered_s} s, kept across SIGTERM and SIGKILL`);
  } finally {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
});

test('GET /api/energy: 404 for a host without power, 400 for bad days, fleet scope by default', { timeout: 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sentinel-energy-'));
  dirs.push(dataDir);
  const { proc, base } = await startCollector(dataDir, await freePort(), await freePort());
  try {
    const missing = await fetch(`${base}/api/energy?host=nobody`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /no energy counted/);
    for (const bad of ['0', '367', 'x', '1.5', '']) {
      const r = await fetch(`${base}/api/energy?days=${bad}`);
      assert.equal(r.status, 400, `days=${bad}`);
    }
    const fleet = await getJson<EnergyReport>(`${base}/api/energy`);
    assert.equal(fleet.scope, 'fleet');
    assert.equal(fleet.hosts, 0);
    assert.equal(fleet.days, 30, 'the --projection-days default');
    assert.equal(fleet.projection.basis, 'none');
    assert.deepEqual(fleet.daily, []);
  } finally {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
});

test('a tariff with a gap, an overlap or a bad zone stops the collector at start, naming the setting and the fault', { timeout: 60_000 }, async () => {
  const CASES: ReadonlyArray<[string[], RegExp]> = [
    [['--tariff', 'EUR; peak 0.30 mon-fri 06:00-22:00'], /^collector: --tariff: gap: no rule covers mon 00:00 to mon 06:00/m],
    [['--tariff', 'EUR; peak 0.30 daily 06:00-22:00; offpeak 0.10 daily 21:00-06:00'], /^collector: --tariff: overlap: .*21:00/m],
    [['--tariff', '0.25 euro'], /^collector: --tariff: .*currency/im],
    [['--tariff', '0.25 EUR', '--timezone', 'Mars/Olympus'], /^collector: --timezone: /m],
    [['--energy-history-days', '7', '--energy-hourly-days', '8'], /energy-hourly-days.*must not exceed --energy-history-days \(7\)/],
  ];
  for (const [args, want] of CASES) {
    const dataDir = mkdtempSync(join(tmpdir(), 'sentinel-energy-'));
    dirs.push(dataDir);
    const r = await runTs('collector/main.ts', ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dataDir, ...args]);
    assert.notEqual(r.code, 0, `${args.join(' ')} exits non-zero`);
    assert.match(r.stderr, want, args.join(' '));
  }
});
