/**
 * The agent's own cost at the default 1 s interval (issue 7): CPU % of one core and resident
 * memory of real agents beside the peers the issue names, each as Debian packages it and each
 * doing its own work every second, all in one run, so the machine's load weighs on all alike and
 * the ratios hold where the absolute figures drift. Rows:
 *  - the agent as deployed: precompiled JavaScript (`npm run build`, dist/) under `node` with
 *    DEPLOYED_NODE_FLAGS, default settings (slow class every 15 s);
 *  - the same with --slow-interval 0 (the fast class alone; it must start no program);
 *  - the same without DEPLOYED_NODE_FLAGS, plain `node dist/agent/main.js`;
 *  - the agent as run from a checkout: `node --import tsx agent/main.ts`, default settings;
 *  - with --node-flags "...", one more deployed agent under those node flags (to try a flag);
 *  - the peers, each skipped with a word when its package is not installed:
 *    - prometheus-node-exporter (default collectors), scraped every second from this process, as
 *      a Prometheus with a 1 s interval would (it reads the machine only when scraped);
 *    - Netdata (Debian's configuration: 1 s collection, its default plugins), nobody viewing;
 *      its own directories in a temporary folder;
 *    - Glances in quiet mode refreshing every 1 s (`glances -q -t 1`), without the three
 *      plugins that look beyond this machine (ip, ports, cloud);
 *    Netdata and Glances each in a network namespace with loopback only (confinement(): both ask
 *    the cloud metadata address at start), or not at all;
 *  - and the collector the agents send to (shown, not compared).
 * dist/ is built first (the project's own TypeScript) when it is missing or older than a source.
 *
 * `npm run bench -- agent [--seconds 60] [--quick] [--node-flags "--jitless"]`: about 10 s of
 * start and a 5 s warm-up, then the window; --quick: a 10 s window after 3 s, ≤ 25 s in all (a smoke check: at
 * USER_HZ 100 a 0.5 % agent is 5 ticks in 10 s, so its figure is coarse).
 *
 * CPU and RSS are each process tree's (scripts/bench/proc_tree.ts): a Netdata keeps plugins
 * running as its children, an agent's rare children are reaped at once. CPU: utime+stime of the
 * process and of every live descendant, and cutime+cstime of the children they reaped, from
 * /proc/PID/stat over the window, in clock ticks (getconf CLK_TCK). RSS: VmRSS of the process
 * plus the private pages of each live descendant, sampled every second. Children seen: descendants found every
 * CHILD_POLL_MS; a lower bound. Programs started: when perf works here, each agent runs under
 * `perf stat -e sched:sched_process_exec`, which counts every exec in its descendants exactly (to
 * within PERF_INTERVAL_MS at each end of the window).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import type { HostsPayload } from '../../dashboard/api.ts';
import { buildIfStale, machine, table, writeResult } from './common.ts';
import { childrenOf, collectDescendants, treeRssKiB, treeTicks } from './proc_tree.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';
const NETDATA = '/usr/sbin/netdata';
const GLANCES = '/usr/bin/glances';
const PERF = '/usr/bin/perf';
/**
 * How the agent is deployed: `node --jitless dist/agent/main.js` (agent/main.ts says why; README,
 * Deployment). The run also measures it without the flag, to show what the flag is worth.
 */
const DEPLOYED_NODE_FLAGS: readonly string[] = ['--jitless'];
const DIST_MAIN = 'dist/agent/main.js';
/** Sources whose change makes dist/ stale. */
const BUILD_INPUTS = ['agent', 'shared', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];
/** Targets of issue 7, for the deployed agent at the default interval. */
const TARGET_CPU_PCT = 0.5;
const TARGET_RSS_MIB = 60;
/** perf stat prints its running count this often, ms: the precision of the exec count at each end of the window. */
const PERF_INTERVAL_MS = 200;
/** How often descendants are looked for, ms: often enough to catch most, cheap enough not to weigh on 2 cores. */
const CHILD_POLL_MS = 50;
const START_TIMEOUT_MS = 60_000;
const TOKEN = 'bench-agent-token';

const { values: opts } = parseArgs({
  options: { seconds: { type: 'string' }, quick: { type: 'boolean', default: false }, 'node-flags': { type: 'string', default: '' } },
  strict: false, allowPositionals: true,
});
const QUICK = opts.quick === true;
const WINDOW_S = Number(opts.seconds ?? (QUICK ? 10 : 60));
const WARMUP_MS = QUICK ? 3000 : 5000;
if (!Number.isInteger(WINDOW_S) || WINDOW_S < 5 || WINDOW_S > 3600) {
  console.error(`agent: --seconds must be a whole number from 5 to 3600, got ${String(opts.seconds)}`);
  process.exit(2);
}
const EXTRA_FLAGS = String(opts['node-flags'] ?? '').split(/\s+/u).filter((f) => f !== '');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

type PeerRole = 'exporter' | 'netdata' | 'glances';
type Role = 'deployed' | 'deployed-fast' | 'deployed-no-flags' | 'checkout' | 'flags' | PeerRole | 'collector';
/** The peers in the order shown, each with the name its figures go under and its Debian package. */
const PEERS: ReadonlyArray<{ role: PeerRole; name: string; binary: string; pkg: string }> = [
  { role: 'exporter', name: 'node_exporter', binary: NODE_EXPORTER, pkg: 'prometheus-node-exporter' },
  { role: 'netdata', name: 'netdata', binary: NETDATA, pkg: 'netdata' },
  { role: 'glances', name: 'glances', binary: GLANCES, pkg: 'glances' },
];
const isPeer = (role: Role): role is PeerRole => PEERS.some((p) => p.role === role);

interface Watched {
  label: string;
  role: Role;
  /** Host name on the dashboard, for agents. */
  host?: string;
  child: ChildProcess;
  /** The measured process: the child itself, or the agent perf started. */
  pid: number;
  /** perf stat's output, when the process runs under perf. */
  perfFile?: string;
  stderrTail: string;
}

const running = new Set<ChildProcess>();
let tempDir = '';
/** Folders of this run besides tempDir (Netdata's, given to its user), removed at exit. */
const extraDirs: string[] = [];
/** Files Netdata leaves in /dev/shm; removed at exit unless they were there before this run. */
const netdataShmFiles = ['/dev/shm/netdata_shm_cgroup_ebpf', '/dev/shm/sem.netdata_sem_cgroup_ebpf'];
const netdataShmBefore = new Set(netdataShmFiles.filter((f) => existsSync(f)));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Agents started by perf: stopped first, then perf ends by itself. */
const inner = new Set<number>();
const killPid = (pid: number, sig: NodeJS.Signals): void => { try { process.kill(pid, sig); } catch { /* already gone */ } };
/** Kills `c`'s process group: each child leads one (spawned detached), with its descendants in it. */
const killGroup = (c: ChildProcess, sig: NodeJS.Signals): void => {
  if (c.pid === undefined) return;
  try { process.kill(-c.pid, sig); } catch { c.kill(sig); }
};
let stopping = false;
process.on('exit', () => {
  for (const pid of inner) killPid(pid, 'SIGKILL');
  for (const c of running) killGroup(c, 'SIGKILL');
  if (tempDir !== '') rmSync(tempDir, { recursive: true, force: true });
  for (const d of extraDirs) rmSync(d, { recursive: true, force: true });
  for (const f of netdataShmFiles) if (!netdataShmBefore.has(f)) rmSync(f, { force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => { console.error(`agent: ${sig}, stopping children`); void stopAll().then(() => process.exit(130)); });
}

/**
 * Starts a measured process, leading a process group of its own (detached), so that stopping it
 * also stops whatever it started that still runs (Netdata's plugins), and a Ctrl-C reaches it
 * only through stopAll.
 */
function start(label: string, role: Role, file: string, args: string[], host?: string, env?: NodeJS.ProcessEnv): Watched {
  if (stopping) throw new Error(`not starting ${label}: stopping`);
  const child = spawn(file, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(env ? { env } : {}) });
  running.add(child);
  const w: Watched = { label, role, child, pid: child.pid ?? 0, stderrTail: '', ...(host ? { host } : {}) };
  child.stderr!.on('data', (c: Buffer) => { w.stderrTail = (w.stderrTail + c.toString('utf8')).slice(-2000); });
  child.once('exit', () => running.delete(child));
  child.once('error', (err) => { w.stderrTail += `\nspawn failed: ${err.message}`; });
  return w;
}

async function stopAll(): Promise<void> {
  stopping = true;
  for (const pid of inner) killPid(pid, 'SIGTERM');
  await sleep(300);
  const all = [...running];
  for (const c of all) killGroup(c, 'SIGTERM');
  await Promise.all(all.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) { resolve(); return; }
    const t = setTimeout(resolve, 5000);
    c.once('exit', () => { clearTimeout(t); resolve(); });
  })));
  // Whatever of each group is still there (a plugin slow to end, a child started while stopping).
  for (const c of all) killGroup(c, 'SIGKILL');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether perf can count the exec tracepoint here (it needs the tracepoint and the permission). */
function perfWorks(): boolean {
  if (!existsSync(PERF)) return false;
  const r = spawnSync(PERF, ['stat', '-x,', '-e', 'sched:sched_process_exec', '--', '/bin/sh', '-c', '/bin/true'], { encoding: 'utf8' });
  return r.status === 0 && /^\d+,,sched:sched_process_exec/m.test(r.stderr);
}

/** Execs counted so far in a perf stat -I file: the sum of its interval lines. */
function execsSoFar(file: string): number {
  let n = 0;
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { return 0; }
  for (const m of text.matchAll(/^\s*[\d.]+,(\d+),/gm)) n += Number(m[1]);
  return n;
}

/** An agent, under perf when `perfDir` is given; resolves once the measured pid is known. */
async function startAgent(label: string, role: Role, host: string, args: string[], perfDir: string | undefined): Promise<Watched> {
  if (perfDir === undefined) return start(label, role, process.execPath, args, host);
  const file = join(perfDir, `${host}.perf.csv`);
  const w = start(label, role, PERF, ['stat', '-I', String(PERF_INTERVAL_MS), '-x,', '-e', 'sched:sched_process_exec', '-o', file, '--', process.execPath, ...args], host);
  w.perfFile = file;
  for (let i = 0; i < 200; i++) {
    const kids = childrenOf(w.child.pid!);
    if (kids.length > 0) { w.pid = kids[0]!; inner.add(w.pid); return w; }
    await sleep(10);
  }
  throw new Error(`perf did not start ${label}: ${w.stderrTail}`);
}

async function hosts(base: string): Promise<HostsPayload['hosts']> {
  return ((await (await fetch(`${base}/api/hosts`)).json()) as HostsPayload).hosts;
}

interface ScrapeStats { ok: number; failed: number; wireBytes: number; bodyBytes: number; series: number; ms: number }

/** One scrape as Prometheus makes it (Accept-Encoding: gzip); counts wire bytes, body bytes and series. */
function scrape(port: number, stats: ScrapeStats): Promise<void> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', headers: { 'accept-encoding': 'gzip' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const wire = Buffer.concat(chunks);
        let body: Buffer;
        try {
          body = res.headers['content-encoding'] === 'gzip' ? gunzipSync(wire) : wire;
        } catch {
          stats.failed++; // a truncated gzip body: a failed scrape, not a crash that leaves the peers running
          resolve();
          return;
        }
        if (res.statusCode === 200) {
          stats.ok++;
          stats.wireBytes += wire.length;
          stats.bodyBytes += body.length;
          let series = 0;
          for (const line of body.toString('utf8').split('\n')) if (line !== '' && !line.startsWith('#')) series++;
          stats.series += series;
          stats.ms += performance.now() - t0;
        } else stats.failed++;
        resolve();
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.once('error', () => { stats.failed++; resolve(); });
  });
}

/**
 * Each peer's version line (node_exporter prints it on stderr or stdout depending on the build);
 * Netdata and Glances asked inside their confinement too, Glances' log in this run's folder.
 */
function versionOf(role: PeerRole, confine: readonly string[] | null): string {
  const [file, flag] = role === 'exporter' ? [NODE_EXPORTER, '--version'] : role === 'netdata' ? [NETDATA, '-v'] : [GLANCES, '-V'];
  const argv = role === 'exporter' ? [file, flag] : confine === null ? null : [...confine, file, flag];
  if (argv === null) return '';
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000, env: { ...process.env, TMPDIR: tempDir } });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0] ?? '';
}

/**
 * Glances: quiet (no interface), refreshing every second, its log in this run's folder (TMPDIR).
 * The plugins that look beyond this machine are off (ip: the public address; ports: a ping of the
 * default gateway; cloud: the metadata service; the last still asks from its constructor, hence
 * the confinement below). What it reads of this machine is all there.
 */
const GLANCES_ARGS: readonly string[] = ['-q', '-t', '1', '--disable-plugin', 'ip,ports,cloud'];

/**
 * Netdata and Glances each run in a network namespace of their own with loopback only: at start
 * Netdata's system-info.sh asks the cloud metadata address (169.254.169.254) on a virtual
 * machine, and Glances' cloud plugin does so even when disabled, and this benchmark must send
 * nothing beyond this machine. They still read this machine's /proc and /sys as usual (only
 * their view of network interfaces is the namespace's). The prefix that does it; null (the peer
 * is skipped, never run unconfined) where the namespace cannot be made (not root, no unshare).
 */
function confinement(): string[] | null {
  const prefix = ['/usr/bin/unshare', '--net', '--', '/bin/sh', '-c', 'ip link set lo up && exec "$0" "$@"'];
  const r = spawnSync(prefix[0]!, [...prefix.slice(1), '/bin/true'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? prefix : null;
}

/** Resolves once `w`'s process tree has a process whose command name ends with `suffix`; rejects after `ms`. */
async function waitForDescendant(w: Watched, suffix: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (w.child.exitCode !== null || w.child.signalCode !== null) throw new Error(`${w.label} exited during start: ${w.stderrTail}`);
    const seen = new Map<number, string>();
    collectDescendants(w.pid, seen);
    if ([...seen.values()].some((c) => c.endsWith(suffix))) return;
    if (Date.now() > deadline) throw new Error(`${w.label} started no *${suffix} in ${ms} ms: ${w.stderrTail}`);
    await sleep(250);
  }
}

/**
 * Netdata in the foreground with Debian's configuration (1 s collection, its default plugins, its
 * web port on loopback), save for its cache, lib and log directories, in a folder of this run,
 * and, when this is not root, the user it runs as. As root it drops to the `netdata` user, as the
 * service does, so the folder is given to that user. Telemetry is off twice: Debian's opt-out
 * file, and DO_NOT_TRACK here. Started once its plugins run (its web port is in its namespace).
 */
async function startNetdata(confine: readonly string[]): Promise<Watched> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-netdata-'));
  extraDirs.push(dir);
  chmodSync(dir, 0o755);
  let user = userInfo().username;
  let owner: { uid: number; gid: number } | null = null;
  if (process.getuid?.() === 0) {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('netdata:'));
    if (line) {
      const f = line.split(':');
      owner = { uid: Number(f[2]), gid: Number(f[3]) };
      user = 'netdata';
    }
  }
  const set = (section: string, name: string, value: string): string[] => ['-W', 'set', section, name, value];
  const args = ['-D', ...set('global', 'run as user', user)];
  for (const d of ['cache', 'lib', 'log']) {
    const path = join(dir, d);
    mkdirSync(path);
    if (owner) chownSync(path, owner.uid, owner.gid);
    args.push(...set('directories', d, path));
  }
  const w = start('netdata, Debian defaults', 'netdata', confine[0]!, [...confine.slice(1), NETDATA, ...args], undefined,
    { ...process.env, DO_NOT_TRACK: '1', DISABLE_TELEMETRY: '1' });
  await waitForDescendant(w, '.plugin', START_TIMEOUT_MS);
  return w;
}

interface Row {
  process: string; role: Role; command: string; pid: number; cpu_pct: number; children_cpu_pct: number; total_cpu_pct: number;
  rss_mean_mib: number; rss_max_mib: number; children_seen: number; children_commands: string[];
  /** Execs in the process's descendants over the window (perf); null when not counted. */
  programs_started: number | null; work: string;
}

const round = (x: number, d = 2): number => Number(x.toFixed(d));
const MiB = 1024;

async function main(): Promise<void> {
  const built = buildIfStale('agent', 'tsconfig.build.json', DIST_MAIN, BUILD_INPUTS);
  tempDir = mkdtempSync(join(tmpdir(), 'sentinel-bench-agent-'));
  const loadStart = readFileSync('/proc/loadavg', 'utf8').trim();

  // The collector first: the agents need its port.
  const collector = start('collector', 'collector', process.execPath, ['--import', 'tsx', 'collector/main.ts', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', tempDir, '--token', TOKEN, '--log-level', 'warn']);
  let out = '';
  const { agentPort, base } = await new Promise<{ agentPort: number; base: string }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`collector did not print its ports in ${START_TIMEOUT_MS} ms; stderr: ${collector.stderrTail}`)), START_TIMEOUT_MS);
    collector.child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const a = /agents:\s+\S+:(\d+)/.exec(out);
      const d = /dashboard: (http:\/\/\S+?)\//.exec(out);
      if (a && d) { clearTimeout(t); resolve({ agentPort: Number(a[1]), base: d[1]! }); }
    });
    collector.child.once('exit', (code) => { clearTimeout(t); reject(new Error(`collector exited ${code}: ${collector.stderrTail}`)); });
  });

  const agentArgs = (host: string, extra: string[]): string[] => ['--collector', `127.0.0.1:${agentPort}`, '--token', TOKEN, '--name', host, '--log-level', 'warn', ...extra];
  const usePerf = perfWorks();
  if (!usePerf) console.log(`agent: ${PERF} cannot count sched:sched_process_exec here: programs started are not counted, only children seen`);
  const perfDir = usePerf ? tempDir : undefined;
  const deployed = (flags: readonly string[]): string[] => [...flags, DIST_MAIN];
  const specs: Array<{ label: string; role: Role; host: string; args: string[] }> = [
    { label: `agent, deployed (node ${[...DEPLOYED_NODE_FLAGS, DIST_MAIN].join(' ')})`, role: 'deployed', host: 'bench-deployed', args: [...deployed(DEPLOYED_NODE_FLAGS), ...agentArgs('bench-deployed', [])] },
    { label: 'agent, deployed, --slow-interval 0', role: 'deployed-fast', host: 'bench-fast', args: [...deployed(DEPLOYED_NODE_FLAGS), ...agentArgs('bench-fast', ['--slow-interval', '0'])] },
    ...(DEPLOYED_NODE_FLAGS.length > 0 ? [{ label: `agent, deployed, plain node ${DIST_MAIN}`, role: 'deployed-no-flags' as const, host: 'bench-no-flags', args: [DIST_MAIN, ...agentArgs('bench-no-flags', [])] }] : []),
    { label: 'agent, from a checkout (tsx)', role: 'checkout', host: 'bench-checkout', args: ['--import', 'tsx', 'agent/main.ts', ...agentArgs('bench-checkout', [])] },
  ];
  if (EXTRA_FLAGS.length > 0) {
    specs.push({ label: `agent, deployed, node ${[...DEPLOYED_NODE_FLAGS, ...EXTRA_FLAGS].join(' ')}`, role: 'flags', host: 'bench-flags', args: [...deployed([...DEPLOYED_NODE_FLAGS, ...EXTRA_FLAGS]), ...agentArgs('bench-flags', [])] });
  }
  const watched: Watched[] = [];
  const commands = new Map<Watched, string>();
  for (const s of specs) {
    const w = await startAgent(s.label, s.role, s.host, s.args, perfDir);
    watched.push(w);
    commands.set(w, `node ${s.args.join(' ').replace(TOKEN, 'TOKEN').replace(/127\.0\.0\.1:\d+/u, 'HOST:PORT')}`);
  }
  const peers = new Map<PeerRole, Watched>();
  let exporterPort = 0;
  const confine = confinement();
  for (const p of PEERS) {
    if (!existsSync(p.binary)) {
      console.log(`agent: ${p.binary} not found: the ${p.name} row and its ratios are skipped (apt-get install -y ${p.pkg})`);
      continue;
    }
    if (p.role !== 'exporter' && confine === null) {
      console.log(`agent: ${p.name} is skipped: it would reach beyond this machine, and no network namespace could be made to keep it in (unshare --net needs root)`);
      continue;
    }
    if (p.role === 'exporter') {
      exporterPort = await freePort();
      const w = start('prometheus-node-exporter, scraped every 1 s', 'exporter', NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${exporterPort}`]);
      commands.set(w, `${NODE_EXPORTER} (default collectors)`);
      peers.set('exporter', w);
    } else if (p.role === 'netdata') {
      const w = await startNetdata(confine!);
      commands.set(w, `${NETDATA} -D (Debian's configuration; its directories in a temporary folder), in a network namespace with loopback only`);
      peers.set('netdata', w);
    } else {
      const glancesTmp = join(tempDir, 'glances');
      mkdirSync(glancesTmp);
      const w = start('glances -q -t 1', 'glances', confine![0]!, [...confine!.slice(1), GLANCES, ...GLANCES_ARGS], undefined, { ...process.env, TMPDIR: glancesTmp });
      commands.set(w, `${GLANCES} ${GLANCES_ARGS.join(' ')}, in a network namespace with loopback only`);
      peers.set('glances', w);
    }
  }
  watched.push(...peers.values());
  const exporter = peers.get('exporter');
  watched.push(collector);
  commands.set(collector, 'node --import tsx collector/main.ts');

  // Every agent must have landed samples before the warm-up counts.
  const agents = watched.filter((w) => w.host !== undefined);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    for (const w of watched) {
      if (w.child.exitCode !== null || w.child.signalCode !== null) throw new Error(`${w.label} exited (${w.child.exitCode ?? w.child.signalCode}) during start: ${w.stderrTail}`);
    }
    const h = await hosts(base).catch(() => []);
    if (agents.every((w) => h.some((x) => x.name === w.host && x.samples_total > 0))) break;
    if (Date.now() > deadline) throw new Error(`agents did not land a sample in ${START_TIMEOUT_MS} ms: ${agents.map((w) => `${w.label}: ${w.stderrTail}`).join('\n')}`);
    await sleep(250);
  }

  // Scrape every second from now on, so node_exporter warms up under the same load it is measured under.
  const scrapes: ScrapeStats = { ok: 0, failed: 0, wireBytes: 0, bodyBytes: 0, series: 0, ms: 0 };
  let scraping = false;
  const scrapeTimer = exporter ? setInterval(() => {
    if (scraping) return;
    scraping = true;
    void scrape(exporterPort, scrapes).finally(() => { scraping = false; });
  }, 1000) : undefined;

  console.log(`agent: all started; warming up ${WARMUP_MS / 1000} s, then measuring ${WINDOW_S} s`);
  await sleep(WARMUP_MS);

  const pids = watched.map((w) => w.pid);
  const execsBefore = watched.map((w) => (w.perfFile ? execsSoFar(w.perfFile) : 0));
  const before = pids.map(treeTicks);
  const samplesBefore = new Map((await hosts(base)).map((h) => [h.name, h.samples_total]));
  const scrapesBefore = { ...scrapes };
  const rss: number[][] = pids.map(() => []);
  const seen: Array<Map<number, string>> = pids.map(() => new Map());
  const t0 = performance.now();
  const sampleRss = (): void => { pids.forEach((pid, i) => rss[i]!.push(treeRssKiB(pid))); };
  sampleRss();
  const rssTimer = setInterval(sampleRss, 1000);
  const childTimer = setInterval(() => { pids.forEach((pid, i) => collectDescendants(pid, seen[i]!)); }, CHILD_POLL_MS);
  await sleep(WINDOW_S * 1000);
  const after = pids.map(treeTicks);
  const wallS = (performance.now() - t0) / 1000;
  // Wait for perf's next line, so the execs of the window's last moments are in the file.
  if (usePerf) await sleep(PERF_INTERVAL_MS + 50);
  const execs = watched.map((w, i) => (w.perfFile ? execsSoFar(w.perfFile) - execsBefore[i]! : null));
  clearInterval(rssTimer);
  clearInterval(childTimer);
  if (scrapeTimer) clearInterval(scrapeTimer);
  const samplesAfter = new Map((await hosts(base)).map((h) => [h.name, h.samples_total]));
  const loadEnd = readFileSync('/proc/loadavg', 'utf8').trim();
  for (const w of watched) {
    if (w.child.exitCode !== null || w.child.signalCode !== null) throw new Error(`${w.label} exited during the window: ${w.stderrTail}`);
  }

  const pct = (dTicks: number): number => (dTicks / CLK_TCK / wallS) * 100;
  const nScrapes = scrapes.ok - scrapesBefore.ok;
  const rows: Row[] = watched.map((w, i) => {
    const own = pct(after[i]!.own - before[i]!.own);
    const kids = pct(after[i]!.children - before[i]!.children);
    const r = rss[i]!.filter((x) => Number.isFinite(x));
    let work = '';
    if (w.host !== undefined) work = `${(samplesAfter.get(w.host) ?? 0) - (samplesBefore.get(w.host) ?? 0)} samples landed`;
    else if (w === exporter) work = `${nScrapes} scrapes (${scrapes.failed - scrapesBefore.failed} failed)`;
    else if (w.role === 'netdata' || w.role === 'glances') work = 'collects every 1 s';
    else if (w === collector) work = `receives ${agents.length} agents`;
    return {
      process: w.label, role: w.role, command: commands.get(w) ?? '', pid: w.pid, cpu_pct: round(own), children_cpu_pct: round(kids), total_cpu_pct: round(own + kids),
      rss_mean_mib: round(r.reduce((a, b) => a + b, 0) / r.length / MiB, 1), rss_max_mib: round(Math.max(...r) / MiB, 1),
      children_seen: seen[i]!.size, children_commands: [...new Set(seen[i]!.values())].sort(), programs_started: execs[i]!, work,
    };
  });
  const byRole = (role: Role): Row | undefined => rows.find((r) => r.role === role);
  const dep = byRole('deployed')!;
  const fast = byRole('deployed-fast')!;
  const ne = byRole('exporter');
  const nd = byRole('netdata');
  const scrapeSummary = nScrapes > 0 ? {
    scrapes: nScrapes,
    wire_bytes_per_scrape: Math.round((scrapes.wireBytes - scrapesBefore.wireBytes) / nScrapes),
    body_bytes_per_scrape: Math.round((scrapes.bodyBytes - scrapesBefore.bodyBytes) / nScrapes),
    series_per_scrape: Math.round((scrapes.series - scrapesBefore.series) / nScrapes),
    ms_per_scrape: round((scrapes.ms - scrapesBefore.ms) / nScrapes, 1),
  } : null;

  const ratio = (a: number, b: number): number => round(a / b, 2);
  const peerRows = PEERS.flatMap((p) => { const r = byRole(p.role); return r ? [{ name: p.name, row: r }] : []; });
  const isAgent = (r: Row): boolean => !isPeer(r.role) && r.role !== 'collector';
  // Each agent row against each peer measured in this run: CPU and mean RSS, as ratios.
  const ratios = Object.fromEntries(rows.filter(isAgent).map((r) => [r.role, Object.fromEntries(peerRows.map(({ name, row }) => [name, {
    cpu: ratio(r.total_cpu_pct, row.total_cpu_pct), rss_mean: ratio(r.rss_mean_mib, row.rss_mean_mib),
  }]))]));
  const lighterThan = (peer: Row | undefined, name: string): { target: string; value: number; met: boolean } | null =>
    (peer ? { target: `< 1x ${name}`, value: ratio(dep.total_cpu_pct, peer.total_cpu_pct), met: dep.total_cpu_pct < peer.total_cpu_pct } : null);
  const targets = {
    cpu_pct: { target: `<= ${TARGET_CPU_PCT}`, value: dep.total_cpu_pct, met: dep.total_cpu_pct <= TARGET_CPU_PCT },
    rss_mean_mib: { target: `<= ${TARGET_RSS_MIB}`, value: dep.rss_mean_mib, met: dep.rss_mean_mib <= TARGET_RSS_MIB },
    cpu_below_node_exporter: lighterThan(ne, 'node_exporter'),
    cpu_below_netdata: lighterThan(nd, 'netdata'),
  };
  const fastSpawnedNone = fast.children_seen === 0 && fast.children_cpu_pct === 0 && (fast.programs_started ?? 0) === 0;

  const m = machine();
  console.log(`\nagent: ${m.cores} cores, ${m.model}, node ${m.node}; ${WINDOW_S} s window after ${WARMUP_MS / 1000} s warm-up; interval 1000 ms; CLK_TCK ${CLK_TCK}`);
  console.log(`load average at start: ${loadStart}; at end: ${loadEnd} (shared machine: other work competes for the cores)\n`);
  const isTargeted = (r: Row): boolean => r.role === 'deployed';
  console.log(table(rows.map((r) => ({
    process: r.process,
    'cpu % (total)': `${r.total_cpu_pct.toFixed(2)}${r.children_cpu_pct > 0 ? ` (${r.children_cpu_pct.toFixed(2)} children)` : ''}`,
    'cpu target': isTargeted(r) ? `<= ${TARGET_CPU_PCT}` : '',
    ...Object.fromEntries(peerRows.map(({ name, row }) => [`cpu / ${name}`, isAgent(r) ? `${ratio(r.total_cpu_pct, row.total_cpu_pct).toFixed(2)}x` : ''])),
    'rss mean MiB': r.rss_mean_mib.toFixed(1), 'rss max MiB': r.rss_max_mib.toFixed(1),
    'rss target': isTargeted(r) ? `<= ${TARGET_RSS_MIB}` : '',
    ...Object.fromEntries(peerRows.map(({ name, row }) => [`rss / ${name}`, isAgent(r) ? `${ratio(r.rss_mean_mib, row.rss_mean_mib).toFixed(2)}x` : ''])),
    'programs started': r.programs_started ?? '-', work: r.work,
  }))));
  console.log(`\n(cpu: % of one core, of the process tree: own, live descendants' and reaped children's; rss: the process's VmRSS plus its live descendants' private pages; programs started: execs in the descendants, counted by perf, agents only)`);
  for (const r of rows) console.log(`  ${r.process}: ${r.command}`);
  if (scrapeSummary) console.log(`node_exporter scrapes: ${scrapeSummary.series_per_scrape} series, ${scrapeSummary.body_bytes_per_scrape} bytes (${scrapeSummary.wire_bytes_per_scrape} gzipped) and ${scrapeSummary.ms_per_scrape} ms each`);
  for (const r of rows) if (r.role !== 'collector' && r.children_seen > 0) console.log(`${r.process}: children seen: ${r.children_commands.join(', ')}`);
  const verdict = (name: string, t: { target: string; value: number; met: boolean } | null): string => (t ? `${name} ${t.value} (target ${t.target}): ${t.met ? 'met' : 'NOT met'}` : `${name}: not measured`);
  console.log(`deployed agent: ${verdict('cpu %', targets.cpu_pct)}; ${verdict('rss MiB', targets.rss_mean_mib)}; ${verdict('cpu vs node_exporter', targets.cpu_below_node_exporter)}; ${verdict('cpu vs netdata', targets.cpu_below_netdata)}`);
  if (!fastSpawnedNone) console.log(`FAIL: the deployed agent with --slow-interval 0 started programs (${fast.children_commands.join(', ')}); the fast class must start none`);

  const peerFacts = Object.fromEntries(PEERS.map((p) => [p.name, peers.has(p.role)
    ? { binary: p.binary, version: versionOf(p.role, confine), ...(p.role === 'exporter' ? { scrape: scrapeSummary } : {}) }
    : 'absent']));
  console.log(`written: ${relative(ROOT, writeResult('agent', {
    window_s: round(wallS, 1), warmup_s: WARMUP_MS / 1000, quick: QUICK, interval_ms: 1000, slow_interval_ms: 'default (15000)', clk_tck: CLK_TCK,
    deployed_node_flags: DEPLOYED_NODE_FLAGS, extra_node_flags: EXTRA_FLAGS, build: built || 'dist/ up to date',
    child_poll_ms: CHILD_POLL_MS, programs_counted_by_perf: usePerf, load_average_start: loadStart, load_average_end: loadEnd,
    peers: peerFacts, processes: rows, ratios_to_peers: ratios, targets, fast_spawned_none: fastSpawnedNone,
    notes: [
      'cpu and rss are of each process tree: Netdata\'s plugins run as its children all along; rss is the process\'s VmRSS plus its descendants\' private pages',
      'netdata and glances run in network namespaces with loopback only (both ask the cloud metadata address at start)',
      'static facts (about 20 children) are read at agent start and every 5 min: outside a 60 s window',
      'shared machine: other processes compete for the cores; compare within one run',
    ],
  }))}`);
  await stopAll();
  if (!fastSpawnedNone) process.exitCode = 1;
}

main().catch(async (err: unknown) => {
  console.error('agent:', err instanceof Error ? err.message : err);
  await stopAll();
  process.exit(1);
});
