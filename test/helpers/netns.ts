/**
 * A private test network inside this machine, made of Linux network namespaces (`ip netns`): a
 * hub namespace (the collector's) holding a bridge, and one namespace per member (an agent) joined
 * to the bridge by a veth pair. Each program runs in its own namespace with its own address, so a link can be cut (its
 * bridge port brought down) as a pulled cable would, without touching this machine's own network:
 * every interface and address is created inside the namespaces, and removing the namespaces
 * removes them all. Needs root and iproute2.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { ROOT, trackProc, type Proc } from './procs.ts';

/** Every namespace of these tests is named `sntest-PID-...`: leftovers of a killed run are told apart by the pid. */
export const NETNS_PREFIX = 'sntest-';
/** One `ip` command may take this long before it counts as hung, ms. */
const IP_TIMEOUT_MS = 10_000;
export const INSTALL_HINT = 'apt-get install -y iproute2';

/** Runs `ip ARGS...`; throws with its stderr when it fails. */
export function ip(...args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  if (r.error) throw new Error(`ip ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Names of every network namespace (`ip netns list` prints "NAME" or "NAME (id: N)"). */
function listNamespaces(): string[] {
  return ip('netns', 'list').split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean);
}

/**
 * Removes namespaces left by runs of these tests that did not clean up: those of this process id
 * (a reused pid), and those of a process that no longer exists and in which nothing runs.
 */
export function removeLeftovers(): string[] {
  const removed: string[] = [];
  for (const name of listNamespaces()) {
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    const ours = pid === process.pid;
    if (!ours && (pidAlive(pid) || ip('netns', 'pids', name).trim() !== '')) continue;
    try {
      ip('netns', 'del', name);
      removed.push(name);
    } catch { /* already gone */ }
  }
  return removed;
}

/**
 * Whether this machine can run the namespace tests, or why not. Under CI (env CI set) a root
 * without a working `ip netns` fails the test rather than skips it: .ci/run installs iproute2,
 * so its absence there is a broken machine, and a skip would hide it.
 */
export function netnsOrSkip(t: TestContext, env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform !== 'linux') {
    t.skip('network namespaces are Linux only');
    return false;
  }
  if (process.getuid?.() !== 0) {
    t.skip('needs root (creates network namespaces and veth pairs with ip netns); run as root, as CI does');
    return false;
  }
  const why = probe();
  if (why === null) return true;
  if (env['CI']) assert.fail(`network namespace test cannot run although CI is set and this is root: ${why}`);
  t.skip(why);
  return false;
}

/** null when namespaces, a bridge and a veth pair can be made here; else the reason. */
function probe(): string | null {
  const v = spawnSync('ip', ['-V'], { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  if (v.error) return `the ip program was not found (${(v.error as NodeJS.ErrnoException).code}): ${INSTALL_HINT}`;
  const name = `${NETNS_PREFIX}${process.pid}-probe`;
  try {
    removeLeftovers();
    ip('netns', 'add', name);
  } catch (err) {
    return `ip netns add is not permitted here (a container without CAP_SYS_ADMIN?): ${(err as Error).message}`;
  }
  try {
    ip('-n', name, 'link', 'add', 'probebr', 'type', 'bridge');
    ip('-n', name, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1');
    return null;
  } catch (err) {
    return `bridges or veth pairs cannot be made here (kernel modules bridge, veth?): ${(err as Error).message}`;
  } finally {
    spawnSync('ip', ['netns', 'del', name], { timeout: IP_TIMEOUT_MS, stdio: 'ignore' });
  }
}

export interface Member {
  /** Namespace the member's programs run in. */
  ns: string;
  address: string;
  /** The veth end on the bridge, in the hub namespace: bring it down to cut this member off. */
  port: string;
}

/**
 * A hub namespace with a bridge at `${subnet}.1/24` and members at `${subnet}.11`, `.12`, ...
 * each in its own namespace. remove() undoes everything; it is also called at process exit.
 */
export class TestNetwork {
  readonly hub: string;
  readonly hubAddress: string;
  readonly members: Member[] = [];
  private readonly tag: string;
  private readonly bridge: string;
  private removed = false;
  private readonly onExit = (): void => this.remove();

  constructor(memberCount: number, subnet = '10.231.0') {
    // The pid first (leftovers are recognised by it), then a random part: unique per run.
    this.tag = `${process.pid}-${randomBytes(2).toString('hex')}`;
    // Interface names live inside the namespaces, but stay short (at most 15 bytes) and tagged.
    const short = `s${process.pid.toString(36)}`;
    this.hub = `${NETNS_PREFIX}${this.tag}-hub`;
    this.hubAddress = `${subnet}.1`;
    this.bridge = `${short}br`;
    for (let i = 1; i <= memberCount; i++) {
      this.members.push({ ns: `${NETNS_PREFIX}${this.tag}-m${i}`, address: `${subnet}.${10 + i}`, port: `${short}p${i}` });
    }
    process.once('exit', this.onExit);
  }

  /** Creates the namespaces, bridge and links, all up. */
  create(): void {
    removeLeftovers();
    ip('netns', 'add', this.hub);
    ip('-n', this.hub, 'link', 'set', 'lo', 'up');
    // No STP: a port brought back up forwards at once.
    ip('-n', this.hub, 'link', 'add', this.bridge, 'type', 'bridge', 'stp_state', '0');
    ip('-n', this.hub, 'addr', 'add', `${this.hubAddress}/24`, 'dev', this.bridge);
    ip('-n', this.hub, 'link', 'set', this.bridge, 'up');
    this.members.forEach((m, i) => {
      const inner = `s${process.pid.toString(36)}e${i + 1}`;
      ip('netns', 'add', m.ns);
      ip('-n', m.ns, 'link', 'set', 'lo', 'up');
      // Both ends are made directly in their namespaces: nothing appears in this machine's own.
      ip('-n', m.ns, 'link', 'add', inner, 'type', 'veth', 'peer', 'name', m.port, 'netns', this.hub);
      ip('-n', this.hub, 'link', 'set', m.port, 'master', this.bridge);
      ip('-n', this.hub, 'link', 'set', m.port, 'up');
      ip('-n', m.ns, 'addr', 'add', `${m.address}/24`, 'dev', inner);
      ip('-n', m.ns, 'link', 'set', inner, 'up');
    });
  }

  /** Brings a member's bridge port down (cut) or up (restored). */
  setLink(member: Member, up: boolean): void {
    ip('-n', this.hub, 'link', 'set', member.port, up ? 'up' : 'down');
  }

  /** Deletes every namespace of this network (and with them their veth pairs and bridge). Idempotent. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    process.off('exit', this.onExit);
    for (const ns of [...this.members.map((m) => m.ns), this.hub]) {
      spawnSync('ip', ['netns', 'del', ns], { timeout: IP_TIMEOUT_MS, stdio: 'ignore' });
    }
  }

  /** Namespaces of this network still present (for the test to check its own cleanup). */
  remaining(): string[] {
    const mine = new Set([this.hub, ...this.members.map((m) => m.ns)]);
    return listNamespaces().filter((n) => mine.has(n));
  }
}

/**
 * Runs `node --import tsx SCRIPT ...args` from the repo root inside namespace `ns`. `ip netns
 * exec` execs node in its place, so the child's pid is node's own and signals reach it.
 */
export function startTsInNetns(ns: string, script: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return trackProc(child);
}

/** Relays GETs, one JSON line each way: the test process cannot enter a namespace itself. */
const RELAY_SCRIPT = `
const base = process.env.RELAY_BASE;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const { id, path } = JSON.parse(line);
  try {
    const res = await fetch(base + path, { signal: AbortSignal.timeout(5000) });
    out({ id, status: res.status, body: await res.text() });
  } catch (err) {
    out({ id, error: String(err) });
  }
});
rl.on('close', () => process.exit(0));
`;

/**
 * An HTTP client living in namespace `ns` (a small node process kept running), for a server that
 * listens only inside it, such as a dashboard on the namespace's own loopback.
 */
export class NetnsHttp {
  private readonly child: ChildProcess;
  private readonly proc: Proc;
  private nextId = 1;
  private readonly waiting = new Map<number, (r: { status?: number; body?: string; error?: string }) => void>();

  constructor(ns: string, base: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', RELAY_SCRIPT], {
      env: { ...process.env, RELAY_BASE: base },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc = trackProc(this.child);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as { id: number; status?: number; body?: string; error?: string };
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
  }

  /** GETs `path` and parses the JSON answer; rejects on an error status or after `timeoutMs`. */
  async getJson<T>(path: string, timeoutMs = 8000): Promise<T> {
    const id = this.nextId++;
    const answer = new Promise<{ status?: number; body?: string; error?: string }>((resolve, reject) => {
      const t = setTimeout(() => { this.waiting.delete(id); reject(new Error(`GET ${path} (in the namespace): no answer within ${timeoutMs} ms; relay stderr: ${this.proc.stderr().slice(-300)}`)); }, timeoutMs);
      this.waiting.set(id, (r) => { clearTimeout(t); resolve(r); });
    });
    this.child.stdin!.write(`${JSON.stringify({ id, path })}\n`);
    const r = await answer;
    if (r.error !== undefined) throw new Error(`GET ${path} (in the namespace): ${r.error}`);
    if (r.status !== 200) throw new Error(`GET ${path} (in the namespace): HTTP ${r.status}`);
    return JSON.parse(r.body!) as T;
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    await this.proc.stop();
  }
}
