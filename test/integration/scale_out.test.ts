/**
 * More than one collector, as README's "More than one collector" runs it: two real collector
 * processes (site A on loopback without a dashboard password, site B with one, as a collector
 * bound beyond loopback has), each with its own data directory and cluster token, and real agent
 * processes split between them. Their two /metrics outputs, read with the project's strict
 * parser, together name every host exactly once, and each names only the hosts whose agents
 * point at it. An agent holding B's token but pointed at A is refused, not listed. A host moved
 * from A to B (its config file edited, then SIGHUP) stays on A as offline (`sentinel_host_up 0`),
 * which is why README's rules count a host down by `max by (host)`. Then README's prometheus.yml and rules go through promtool:
 * `check config`, and `test rules` with series that mean a moved host and one name on two sites.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { HostsPayload } from '../../dashboard/api.ts';
import { ERROR_CODES } from '../../shared/errors.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { RawClient, waitFor } from '../helpers/net.ts';
import { ROOT, startCollectorProcess, startTs, type Proc } from '../helpers/procs.ts';
import { parseProm, promtoolOrSkip, type PromParsed } from '../helpers/prom_parse.ts';

interface Site {
  name: string;
  /** The site's cluster token: agents of another site do not hold it. */
  token: string;
  /** The dashboard password, or null for none (loopback). */
  password: string | null;
  /** The agents that start pointed at this site's collector, by --name. */
  hosts: string[];
}

const SITES: readonly Site[] = [
  { name: 'a', token: 'scale-out-site-a-token', password: null, hosts: ['alpha', 'bravo', 'charlie'] },
  { name: 'b', token: 'scale-out-site-b-token', password: 'scale-out-site-b-password', hosts: ['delta', 'echo'] },
];
const ALL_HOSTS = SITES.flatMap((s) => s.hosts).sort();
/** Small, so that sentinel_collector_slots is this collector's own figure, not the default. */
const CAPACITY = 16;
/** Every wait in this file gives up after this long. */
const ONLINE_WITHIN_MS = 45_000;

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

interface RunningSite extends Site {
  proc: Proc;
  base: string;
  agentPort: number;
}

async function startSite(site: Site): Promise<RunningSite> {
  const extra = ['--save-interval-s', '0', '--capacity', String(CAPACITY), ...(site.password ? ['--http-token', site.password] : [])];
  // Ports 0: the collector prints where it bound them.
  const { proc, base } = await startCollectorProcess(tempDir(`sentinel-scale-${site.name}-`), 0, 0, site.token, extra);
  const m = /agents:\s+127\.0\.0\.1:(\d+)/.exec(proc.stdout());
  assert.ok(m, `collector ${site.name} printed its agents' port: ${proc.stdout()}`);
  return { ...site, proc, base, agentPort: Number(m[1]) };
}

function get(site: RunningSite, path: string, password = site.password): Promise<Response> {
  return fetch(`${site.base}${path}`, { headers: password ? { authorization: `Bearer ${password}` } : {}, signal: AbortSignal.timeout(10_000) });
}

async function hostsOf(site: RunningSite): Promise<HostsPayload> {
  const res = await get(site, '/api/hosts');
  assert.equal(res.status, 200, `GET /api/hosts on collector ${site.name}`);
  return (await res.json()) as HostsPayload;
}

/** Waits until the collector lists exactly `expected` (name → status), nothing more. */
async function waitForHosts(site: RunningSite, expected: Record<string, string>, what: string): Promise<void> {
  const want = JSON.stringify(Object.entries(expected).sort());
  let seen = '';
  try {
    await waitFor(`${what} on collector ${site.name}`, async () => {
      seen = JSON.stringify((await hostsOf(site)).hosts.map((h) => [h.name, h.status]).sort());
      return seen === want;
    }, ONLINE_WITHIN_MS, 200);
  } catch (err) {
    throw new Error(`${(err as Error).message}: want ${want}, last seen ${seen}; collector stderr: ${site.proc.stderr().slice(-500)}`);
  }
}

/** Slow readings off: not needed here. */
const AGENT_FLAGS = ['--slow-interval', '0', '--log-level', 'error'];

function startAgent(site: RunningSite, name: string): Proc {
  // The site's token through the environment, as README's join command has it.
  return startTs('agent/main.ts', ['--collector', `127.0.0.1:${site.agentPort}`, '--name', name, ...AGENT_FLAGS], { SENTINEL_TOKEN: site.token });
}

/** An agent's config file pointing it at `site` (0600: it holds the token). */
function writeAgentConfig(path: string, site: RunningSite, name: string): void {
  writeFileSync(path, JSON.stringify({ collector: `127.0.0.1:${site.agentPort}`, token: site.token, name }));
  chmodSync(path, 0o600);
}

async function scrape(site: RunningSite): Promise<PromParsed> {
  const res = await get(site, '/metrics');
  assert.equal(res.status, 200, `GET /metrics on collector ${site.name}`);
  return parseProm(await res.text());
}

/** Every `host` label value in a scrape, over every family. */
function hostLabels(p: PromParsed): string[] {
  return [...new Set(p.samples.flatMap((s) => (s.labels['host'] === undefined ? [] : [s.labels['host']])))].sort();
}

/** One series' value: `name` with these labels (and any others). */
function value(p: PromParsed, name: string, labels: Record<string, string> = {}): number | undefined {
  return p.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** sentinel_host_up as host → value; a host written twice would already have failed the parser. */
function hostUp(p: PromParsed): Map<string, number> {
  return new Map(p.samples.filter((s) => s.name === 'sentinel_host_up').map((s) => [s.labels['host']!, s.value]));
}

test('scale out: two collectors with agents split between them; their /metrics together name every host once', { timeout: 120_000 }, async () => {
  const startedAt = performance.now();
  const procs: Proc[] = [];
  const sites = await Promise.all(SITES.map(startSite));
  procs.push(...sites.map((s) => s.proc));
  const [a, b] = sites as [RunningSite, RunningSite];
  try {
    // charlie reads its collector and token from a config file, so that it can be moved by a reload.
    const charlieConfig = join(tempDir('sentinel-scale-agent-'), 'agent.json');
    writeAgentConfig(charlieConfig, a, 'charlie');
    const agents = new Map<string, Proc>();
    for (const site of sites) {
      for (const name of site.hosts) agents.set(name, name === 'charlie' ? startTs('agent/main.ts', ['--config', charlieConfig, ...AGENT_FLAGS]) : startAgent(site, name));
    }
    procs.push(...agents.values());

    // Misrouted: a hello with site B's token at site A's collector is refused, and A never lists it.
    const misrouted = await RawClient.open(a.agentPort);
    misrouted.send({ type: 'hello', proto: PROTO_VERSION, host: 'misrouted', agent: 'x', token: b.token, interval_ms: 1000 });
    const refusal = await misrouted.next('error', 10_000);
    assert.equal(refusal['code'], ERROR_CODES.AUTH_FAILED);
    await misrouted.waitClosed(10_000);

    await Promise.all(sites.map((s) => waitForHosts(s, Object.fromEntries(s.hosts.map((h) => [h, 'online'])), 'every agent of the site online')));
    const onlineMs = performance.now() - startedAt;

    // B's dashboard has a password: a scrape without it is refused, as Prometheus' would be.
    assert.equal((await get(b, '/metrics', null)).status, 401);

    const scraped = await Promise.all(sites.map(scrape));
    const seenBy = new Map<string, string[]>();
    sites.forEach((site, i) => {
      const p = scraped[i]!;
      // Exactly its own hosts, in every family (readings, tables, liveness, energy), none of the other site's.
      assert.deepEqual(hostLabels(p), [...site.hosts].sort(), `collector ${site.name} exports exactly its own hosts`);
      assert.deepEqual([...hostUp(p).keys()].sort(), [...site.hosts].sort(), `collector ${site.name}: sentinel_host_up names its own hosts`);
      for (const h of site.hosts) {
        assert.equal(hostUp(p).get(h), 1, `${h} up on collector ${site.name}`);
        assert.equal(value(p, 'sentinel_host_status', { host: h, status: 'online' }), 1);
        assert.ok(value(p, 'sentinel_cpu_usage_ratio', { host: h }) !== undefined, `${h}'s readings on collector ${site.name}`);
      }
      for (const h of hostLabels(p)) seenBy.set(h, [...(seenBy.get(h) ?? []), site.name]);
      // The collector-level gauges agree with the hosts it lists.
      assert.equal(value(p, 'sentinel_collector_slots_used'), site.hosts.length, `collector ${site.name}: slots used`);
      assert.equal(value(p, 'sentinel_collector_slots'), CAPACITY);
      assert.equal(value(p, 'sentinel_collector_connected_agents'), site.hosts.length, `collector ${site.name}: connected agents`);
    });
    // Together, from the outputs alone: every agent's name, each on exactly one collector.
    assert.deepEqual([...seenBy.keys()].sort(), ALL_HOSTS, 'the union of both outputs is every agent');
    for (const [h, on] of seenBy) assert.equal(on.length, 1, `${h} is on one collector only, found on ${on.join(' and ')}`);
    assert.equal(value(scraped[0]!, 'sentinel_collector_frames_rejected_total', { code: ERROR_CODES.AUTH_FAILED }), 1, 'the misrouted hello counted on A');
    assert.equal(value(scraped[1]!, 'sentinel_collector_frames_rejected_total', { code: ERROR_CODES.AUTH_FAILED }), 0);

    // Move charlie from A to B as README says: its config file names B's collector and token, then SIGHUP.
    const charlie = agents.get('charlie')!;
    writeAgentConfig(charlieConfig, b, 'charlie');
    charlie.child.kill('SIGHUP');
    await waitForHosts(b, { delta: 'online', echo: 'online', charlie: 'online' }, 'charlie online after the reload');
    await waitForHosts(a, { alpha: 'online', bravo: 'online', charlie: 'offline' }, 'charlie offline after the reload');
    assert.equal(charlie.child.exitCode, null, 'the agent moved in place, same process');
    const [afterA, afterB] = await Promise.all(sites.map(scrape)) as [PromParsed, PromParsed];
    // A keeps charlie as offline: up 0 and no readings (a gap); B has it up.
    assert.equal(hostUp(afterA).get('charlie'), 0);
    assert.equal(value(afterA, 'sentinel_host_status', { host: 'charlie', status: 'offline' }), 1);
    assert.equal(value(afterA, 'sentinel_cpu_usage_ratio', { host: 'charlie' }), undefined, 'no readings for an offline host');
    assert.equal(hostUp(afterB).get('charlie'), 1);
    assert.equal(value(afterA, 'sentinel_collector_connected_agents'), 2);
    assert.equal(value(afterB, 'sentinel_collector_connected_agents'), 3);
    // max by (host) (sentinel_host_up) over both: every host once, every one up.
    const maxUp = new Map<string, number>();
    for (const p of [afterA, afterB]) for (const [h, v] of hostUp(p)) maxUp.set(h, Math.max(v, maxUp.get(h) ?? 0));
    assert.deepEqual([...maxUp.keys()].sort(), ALL_HOSTS);
    assert.ok([...maxUp.values()].every((v) => v === 1), `every host up somewhere: ${JSON.stringify([...maxUp])}`);
    const upTwice = ALL_HOSTS.filter((h) => hostUp(afterA).get(h) === 1 && hostUp(afterB).get(h) === 1);
    assert.deepEqual(upTwice, [], 'no host online on both');

    console.log(`scale_out: ${ALL_HOSTS.length} agents on 2 collectors online ${(onlineMs / 1000).toFixed(1)} s after start; whole test ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  } finally {
    await Promise.all(procs.reverse().map((p) => p.stop()));
  }
});

/** README's ```yaml blocks whose first line is `# /etc/prometheus/FILE`, by FILE. */
function readmePrometheusFiles(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const files = new Map<string, string>();
  for (const m of readme.matchAll(/^```yaml\n(# \/etc\/prometheus\/(\S+)\n[\s\S]*?)^```$/gm)) files.set(m[2]!, m[1]!);
  return files;
}

/**
 * Writes README's prometheus.yml and rules into `dir`, its /etc/prometheus/ paths moved there
 * and each password file it names made (promtool checks they exist). Returns the config's path.
 */
function writeReadmeExample(dir: string): { config: string; text: string } {
  const files = readmePrometheusFiles();
  for (const name of ['prometheus.yml', 'sentinel_rules.yml']) {
    assert.ok(files.has(name), `README.md has a \`\`\`yaml block starting with "# /etc/prometheus/${name}" (section "More than one collector")`);
  }
  for (const [name, text] of files) writeFileSync(join(dir, name), text.replaceAll('/etc/prometheus/', `${dir}/`));
  const text = readFileSync(join(dir, 'prometheus.yml'), 'utf8');
  for (const m of text.matchAll(/credentials_file:\s*(\S+)/g)) writeFileSync(m[1]!, 'scale-out-password\n', { mode: 0o600 });
  return { config: join(dir, 'prometheus.yml'), text };
}

function promtool(promtoolPath: string, args: string[], cwd: string): { status: number | null; output: string } {
  const r = spawnSync(promtoolPath, args, { cwd, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

test('scale out: README\'s prometheus.yml (two collectors, a password each) passes promtool check config', { timeout: 60_000 }, (t) => {
  const tool = promtoolOrSkip(t);
  if (!tool) return;
  const dir = tempDir('sentinel-scale-prom-');
  const { config, text } = writeReadmeExample(dir);
  const check = promtool(tool, ['check', 'config', config], dir);
  assert.equal(check.status, 0, `promtool check config failed:\n${check.output}`);
  assert.match(check.output, /SUCCESS: 1 rule files found/);
  // The rules' SentinelCollectorDown matches up{job=~"sentinel-.*"}: every job must be named so,
  // one per collector, each with its own password file.
  const jobs = [...text.matchAll(/job_name:\s*(\S+)/g)].map((m) => m[1]!);
  assert.ok(jobs.length >= 2, `two scrape jobs or more: ${jobs.join(', ')}`);
  for (const j of jobs) assert.match(j, /^sentinel-/);
  const credentials = [...text.matchAll(/credentials_file:\s*(\S+)/g)].map((m) => m[1]!);
  assert.equal(new Set(credentials).size, jobs.length, 'a password file per job');
});

/**
 * Series that say what README's rules must mean, one minute a step: web-1 goes down at 2m; web-2
 * moves from site a to b at 2m (0 on a, 1 on b from then); web-3 is two machines, one per site,
 * under one name; collector c stops answering scrapes at 2m; collector a holds 1,000 of 1,024.
 */
const RULES_TEST = `
rule_files: [sentinel_rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'sentinel_host_up{host="web-1",site="a",job="sentinel-site-a",instance="collector-a.lan:8080"}'
        values: '1 1 0x18'
      - series: 'sentinel_host_up{host="web-2",site="a",job="sentinel-site-a",instance="collector-a.lan:8080"}'
        values: '1 1 0x18'
      - series: 'sentinel_host_up{host="web-2",site="b",job="sentinel-site-b",instance="collector-b.lan:8080"}'
        values: '_ _ 1x18'
      - series: 'sentinel_host_up{host="web-3",site="a",job="sentinel-site-a",instance="collector-a.lan:8080"}'
        values: '1x20'
      - series: 'sentinel_host_up{host="web-3",site="b",job="sentinel-site-b",instance="collector-b.lan:8080"}'
        values: '1x20'
      - series: 'up{site="c",job="sentinel-site-c",instance="collector-c.lan:8080"}'
        values: '1 1 0x18'
      - series: 'sentinel_collector_slots_used{site="a",job="sentinel-site-a",instance="collector-a.lan:8080"}'
        values: '1000x20'
      - series: 'sentinel_collector_slots{site="a",job="sentinel-site-a",instance="collector-a.lan:8080"}'
        values: '1024x20'
    alert_rule_test:
      - eval_time: 1m
        alertname: SentinelHostDown
        exp_alerts: []
      - eval_time: 8m
        alertname: SentinelHostDown
        exp_alerts:
          - exp_labels: {severity: page, host: web-1}
      - eval_time: 8m
        alertname: SentinelHostNameOnTwoCollectors
        exp_alerts:
          - exp_labels: {severity: ticket, host: web-3}
      - eval_time: 8m
        alertname: SentinelCollectorDown
        exp_alerts:
          - exp_labels: {severity: page, site: c, job: sentinel-site-c, instance: "collector-c.lan:8080"}
      - eval_time: 16m
        alertname: SentinelCollectorNearlyFull
        exp_alerts:
          - exp_labels: {severity: ticket, site: a, job: sentinel-site-a, instance: "collector-a.lan:8080"}
    promql_expr_test:
      - expr: site:sentinel_hosts_online:sum
        eval_time: 8m
        exp_samples:
          - labels: 'site:sentinel_hosts_online:sum{site="a"}'
            value: 1
          - labels: 'site:sentinel_hosts_online:sum{site="b"}'
            value: 2
      - expr: site:sentinel_collector_slots_used:ratio
        eval_time: 16m
        exp_samples:
          - labels: 'site:sentinel_collector_slots_used:ratio{site="a"}'
            value: 0.9765625
`;

test('scale out: README\'s rules pass promtool test rules (a moved host does not page, one name on two collectors does)', { timeout: 60_000 }, (t) => {
  const tool = promtoolOrSkip(t);
  if (!tool) return;
  const dir = tempDir('sentinel-scale-rules-');
  writeReadmeExample(dir);
  writeFileSync(join(dir, 'rules_test.yml'), RULES_TEST);
  const r = promtool(tool, ['test', 'rules', 'rules_test.yml'], dir);
  assert.equal(r.status, 0, `promtool test rules failed:\n${r.output}`);
});
