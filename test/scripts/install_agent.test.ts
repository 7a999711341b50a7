/**
 * scripts/install-agent.sh, run for real as root into scratch directories (--prefix,
 * --config-dir, --systemd-dir under a temp dir, --no-start: no systemd runs the unit here).
 *
 * From the checkout: files, owners and modes (agent.json 0640 root:cluster-sentinel), the unit
 * as written (placeholders filled, enabled in its root), systemd-analyze verify on it; a second
 * run updates in place and keeps the settings it is not given; then the INSTALLED agent, started
 * exactly as the unit's ExecStart says and as the unit's user, lands on a real collector;
 * --uninstall removes it all. From a collector: the one-line command the collector prints
 * (installCommand), run by `sh -c`, fetches the script and the bundle from the collector's
 * dashboard (open while the rest asks a password) and installs an agent that lands there.
 * --ca: the CA copied beside agent.json and named in it. Refusals: not root, a Node.js too old,
 * a missing --collector, a setting the agent rejects, a collector answering 503 (its reason
 * shown). Also: shellcheck and dash on the script, and --help without root.
 *
 * Skipped when not root (the script creates a system user and chowns files).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostsPayload } from '../../dashboard/api.ts';
import { installCommand } from '../../collector/install_command.ts';
import { waitFor } from '../helpers/net.ts';
import { freePort, ROOT, startCollectorProcess } from '../helpers/procs.ts';

const IS_ROOT = process.getuid?.() === 0;
const NOT_ROOT = IS_ROOT ? false : 'not root: the install script creates a system user and chowns files (run the tests as root to cover it)';
const SCRIPT = join(ROOT, 'scripts/install-agent.sh');

/** A program the tests need: present; missing fails in CI and skips elsewhere. */
function need(program: string, versionArg: string, pkg: string): false | string {
  if (spawnSync(program, [versionArg]).status === 0) return false;
  if (process.env['CI']) throw new Error(`${program} is required in CI (apt-get install ${pkg})`);
  return `${program} is not installed (apt-get install ${pkg})`;
}
const NO_CURL = need('curl', '--version', 'curl');
const NO_SHELLCHECK = need('shellcheck', '--version', 'shellcheck');
const UNIT = 'cluster-sentinel-agent.service';
const SERVICE_USER = 'cluster-sentinel';
const TOKEN = 'install-test-token';
/** What systemd gives a service as PATH. */
const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface Dirs {
  tmp: string;
  prefix: string;
  configDir: string;
  systemdRoot: string;
  systemdDir: string;
}

function scratch(): Dirs {
  const tmp = mkdtempSync(join(tmpdir(), 'sentinel-install-'));
  // The service user must be able to reach the prefix and config directory below it.
  chmodSync(tmp, 0o755);
  const systemdRoot = join(tmp, 'root');
  return { tmp, prefix: join(tmp, 'opt/cluster-sentinel'), configDir: join(tmp, 'etc/cluster-sentinel'), systemdRoot, systemdDir: join(systemdRoot, 'etc/systemd/system') };
}

function placeArgs(d: Dirs): string[] {
  return ['--prefix', d.prefix, '--config-dir', d.configDir, '--systemd-dir', d.systemdDir, '--no-start'];
}

function runScript(args: string[], opts: { uid?: number; gid?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('sh', [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, ...opts });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** runScript without blocking this process: for a script that talks to a server of this test. */
function runScriptAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', [SCRIPT, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('close', (status) => { clearTimeout(t); resolve({ status, stdout, stderr }); });
  });
}

function idOf(kind: 'passwd' | 'group', name: string): number {
  const r = spawnSync('getent', [kind, name], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${kind} ${name} exists`);
  return Number(r.stdout.split(':')[2]);
}

/** The unit's ExecStart, split into words (the unit quotes nothing). */
function execStart(unitText: string): string[] {
  const line = unitText.split('\n').find((l) => l.startsWith('ExecStart='));
  assert.ok(line, 'an ExecStart line');
  const argv = line.slice('ExecStart='.length).split(' ');
  assert.match(argv[0]!, /^\//u, 'an absolute program path, no prefix characters');
  return argv;
}

/** Starts the installed agent as the unit would: its ExecStart, its user and group, systemd's PATH. */
function startAsUnit(unitText: string): { child: ChildProcess; stderr: () => string; stop: () => Promise<number | null> } {
  const [program, ...args] = execStart(unitText);
  const child = spawn(program!, args, {
    cwd: '/', uid: idOf('passwd', SERVICE_USER), gid: idOf('group', SERVICE_USER), env: { PATH: SYSTEMD_PATH }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err += c.toString('utf8'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 8000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

async function hostsOf(base: string, password = ''): Promise<HostsPayload> {
  const res = await fetch(`${base}/api/hosts`, password ? { headers: { authorization: `Bearer ${password}` } } : {});
  if (!res.ok) throw new Error(`GET /api/hosts: HTTP ${res.status}`);
  return (await res.json()) as HostsPayload;
}

async function waitForHost(base: string, name: string, agent: ReturnType<typeof startAsUnit>, password = ''): Promise<void> {
  await waitFor(`host ${name} online with a sample (agent stderr: ${JSON.stringify(agent.stderr().slice(-500))})`, async () => {
    if (agent.child.exitCode !== null) throw new Error(`the installed agent exited ${agent.child.exitCode}: ${agent.stderr()}`);
    const { hosts } = await hostsOf(base, password);
    return hosts.find((h) => h.name === name && h.status === 'online' && h.samples_total >= 1);
  }, 45_000, 250);
}

/** Leftovers of the script's temporary files: none may remain after a run. */
function leftovers(d: Dirs): string[] {
  const out: string[] = [];
  for (const dir of [d.prefix, d.configDir, d.systemdDir]) {
    if (existsSync(dir)) out.push(...readdirSync(dir).filter((f) => f.startsWith('.')).map((f) => join(dir, f)));
  }
  return out;
}

function assertInstalled(d: Dirs, config: Record<string, string>): string {
  const cfgFile = join(d.configDir, 'agent.json');
  assert.deepEqual(JSON.parse(readFileSync(cfgFile, 'utf8')), config, 'agent.json holds the settings');
  const st = statSync(cfgFile);
  assert.equal(st.mode & 0o777, 0o640, 'agent.json 0640');
  assert.equal(st.uid, 0, 'agent.json owned by root');
  assert.equal(st.gid, idOf('group', SERVICE_USER), 'agent.json group cluster-sentinel');
  const agentDir = join(d.prefix, 'agent');
  for (const f of ['package.json', 'dist/agent/main.js', 'dist/shared/config.js', 'node_modules/msgpackr/package.json', 'node_modules/systeminformation/package.json']) {
    const s = statSync(join(agentDir, f));
    assert.equal(s.uid, 0, `${f} owned by root`);
    assert.equal(s.mode & 0o022, 0, `${f} writable by root only`);
  }
  assert.equal(JSON.parse(readFileSync(join(agentDir, 'package.json'), 'utf8')).type, 'module');
  const unitFile = join(d.systemdDir, UNIT);
  const unit = readFileSync(unitFile, 'utf8');
  assert.equal(statSync(unitFile).mode & 0o777, 0o644);
  assert.doesNotMatch(unit, /__[A-Z_]+__/u, 'every placeholder filled');
  assert.deepEqual(execStart(unit), [process.execPath, '--jitless', join(agentDir, 'dist/agent/main.js'), '--config', cfgFile]);
  assert.match(unit, /^User=cluster-sentinel$/mu);
  // Enabled in its root as `systemctl enable` does it: the wants link, absolute inside that root.
  const wants = join(d.systemdDir, 'multi-user.target.wants', UNIT);
  assert.ok(lstatSync(wants).isSymbolicLink(), 'enabled: multi-user.target wants it');
  assert.equal(readlinkSync(wants), `/etc/systemd/system/${UNIT}`);
  assert.deepEqual(leftovers(d), [], 'no temporary file left');
  return unit;
}

before(() => {
  if (!IS_ROOT) return;
  // The checkout's dist/ must be built and current: the default source, and what the collector serves.
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/postinstall.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `postinstall (the build of dist/) failed:\n${r.stdout}${r.stderr}`);
});

test('from the checkout: installs, reinstalls in place, the installed agent runs as its unit says and lands; --uninstall removes it', { skip: NOT_ROOT, timeout: 240_000 }, async () => {
  const d = scratch();
  let collector: Awaited<ReturnType<typeof startCollectorProcess>> | undefined;
  let agent: ReturnType<typeof startAsUnit> | undefined;
  try {
    const [agentPort, httpPort] = [await freePort(), await freePort()];
    collector = await startCollectorProcess(join(d.tmp, 'data'), agentPort, httpPort, TOKEN);
    const settings = { collector: `127.0.0.1:${agentPort}`, token: TOKEN, name: 'install-test-checkout' };

    const first = runScript(['--collector', settings.collector, '--token', TOKEN, '--name', settings.name, ...placeArgs(d)]);
    assert.equal(first.status, 0, `first install failed:\n${first.stdout}${first.stderr}`);
    assert.doesNotMatch(first.stdout + first.stderr, new RegExp(TOKEN, 'u'), 'the token is never printed');
    assertInstalled(d, settings);
    const firstInode = statSync(join(d.prefix, 'agent')).ino;
    assert.match(readFileSync(join(d.systemdDir, UNIT), 'utf8'), /^ExecStartPre=-\+\/bin\/sh -c .*powercap/mu, 'the powercap line by default');
    assert.match(first.stdout, /enabled in \S+\/root \(not this machine's running systemd\)/u);

    if (spawnSync('systemd-analyze', ['--version']).status === 0) {
      const v = spawnSync('systemd-analyze', ['verify', join(d.systemdDir, UNIT)], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(v.status, 0, v.stderr);
      assert.equal(v.stderr.trim(), '', 'the written unit verifies without a warning');
    }

    // Again, with no settings: the bundle is replaced, the settings kept.
    const second = runScript(placeArgs(d));
    assert.equal(second.status, 0, `second install failed:\n${second.stdout}${second.stderr}`);
    const unit = assertInstalled(d, settings);
    assert.notEqual(statSync(join(d.prefix, 'agent')).ino, firstInode, 'the bundle was swapped for a fresh copy');

    agent = startAsUnit(unit);
    await waitForHost(collector.base, settings.name, agent);
    assert.equal(await agent.stop(), 0, `clean exit on SIGTERM: ${agent.stderr()}`);

    const gone = runScript(['--uninstall', ...placeArgs(d).filter((a) => a !== '--no-start')]);
    assert.equal(gone.status, 0, `uninstall failed:\n${gone.stdout}${gone.stderr}`);
    assert.ok(!existsSync(d.prefix), 'the prefix is gone (it held only the agent)');
    assert.ok(!existsSync(join(d.configDir, 'agent.json')), 'agent.json is gone');
    assert.ok(!existsSync(join(d.systemdDir, UNIT)), 'the unit is gone');
    assert.ok(!existsSync(join(d.systemdDir, 'multi-user.target.wants', UNIT)), 'no longer enabled');
    assert.equal(spawnSync('getent', ['passwd', SERVICE_USER]).status, 0, 'the user is kept (documented)');
    assert.match(gone.stdout, /userdel cluster-sentinel/u);
    const again = runScript(['--uninstall', ...placeArgs(d).filter((a) => a !== '--no-start')]);
    assert.equal(again.status, 0, `a second uninstall is harmless:\n${again.stderr}`);
  } finally {
    await agent?.stop();
    await collector?.proc.stop();
    rmSync(d.tmp, { recursive: true, force: true });
  }
});

test('from a collector: the printed one-line command (curl | sh) fetches script and bundle from the dashboard and the agent lands', { skip: NOT_ROOT || NO_CURL, timeout: 240_000 }, async () => {
  const d = scratch();
  const password = 'install-test-dashboard-password';
  let collector: Awaited<ReturnType<typeof startCollectorProcess>> | undefined;
  let agent: ReturnType<typeof startAsUnit> | undefined;
  try {
    const [agentPort, httpPort] = [await freePort(), await freePort()];
    collector = await startCollectorProcess(join(d.tmp, 'data'), agentPort, httpPort, TOKEN, ['--http-token', password]);
    const base = collector.base;
    // The dashboard asks its password; the install files do not.
    assert.equal((await fetch(`${base}/api/hosts`)).status, 401);
    const script = await fetch(`${base}/install/agent.sh`);
    assert.equal(script.status, 200);
    assert.equal(await script.text(), readFileSync(SCRIPT, 'utf8'));
    const head = await fetch(`${base}/install/agent.tar.gz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'application/gzip');

    // The command as the collector prints it when its dashboard is bound to all interfaces
    // (here reached on loopback); as root, without sudo; the scratch places added at the end.
    const printed = installCommand({
      http: { host: '0.0.0.0', port: httpPort }, httpReachable: { host: '127.0.0.1', port: httpPort }, https: false,
      agents: { host: '127.0.0.1', port: agentPort }, token: TOKEN, agentTls: false,
    });
    assert.ok(printed.oneLine);
    assert.match(printed.command, /^curl -fsSL \S+\/install\/agent\.sh \| sudo sh -s -- /u);
    const name = 'install-test-from-collector';
    const command = `${printed.command.replace('| sudo sh', '| sh')} --name ${name} --no-powercap ${placeArgs(d).join(' ')}`;
    const r = spawnSync('sh', ['-c', command], { cwd: d.tmp, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `the one-line install failed:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /fetching http:\/\/127\.0\.0\.1:\d+\/install\/agent\.tar\.gz/u);
    const unit = assertInstalled(d, { collector: `127.0.0.1:${agentPort}`, token: TOKEN, name });
    assert.equal(readFileSync(join(d.prefix, 'agent/systemd', UNIT), 'utf8'), readFileSync(join(ROOT, 'scripts/systemd', UNIT), 'utf8'), 'the unit template came in the bundle');
    assert.doesNotMatch(unit, /^ExecStartPre=/mu, '--no-powercap leaves the powercap line out');

    agent = startAsUnit(unit);
    await waitForHost(base, name, agent, password);
    assert.equal(await agent.stop(), 0, `clean exit on SIGTERM: ${agent.stderr()}`);
  } finally {
    await agent?.stop();
    await collector?.proc.stop();
    spawnSync('sh', [SCRIPT, '--uninstall', '--prefix', d.prefix, '--config-dir', d.configDir, '--systemd-dir', d.systemdDir], { timeout: 60_000 });
    rmSync(d.tmp, { recursive: true, force: true });
  }
});

test('with --ca and --tls: the CA is copied beside agent.json and named in it; --uninstall removes both', { skip: NOT_ROOT, timeout: 120_000 }, () => {
  const d = scratch();
  try {
    const ca = join(d.tmp, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n');
    const r = runScript(['--collector', 'collector.lan:8765', '--token', TOKEN, '--ca', ca, '--tls', 'on', ...placeArgs(d)]);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const copy = join(d.configDir, 'agent-ca.pem');
    assertInstalled(d, { collector: 'collector.lan:8765', token: TOKEN, ca: copy, tls: 'on' });
    assert.deepEqual(readFileSync(copy), readFileSync(ca));
    assert.equal(statSync(copy).mode & 0o777, 0o644, 'a certificate is no secret');
    const gone = runScript(['--uninstall', '--prefix', d.prefix, '--config-dir', d.configDir, '--systemd-dir', d.systemdDir]);
    assert.equal(gone.status, 0, gone.stderr);
    assert.ok(!existsSync(d.configDir), 'agent.json and the CA are gone, and the emptied directory with them');
  } finally {
    rmSync(d.tmp, { recursive: true, force: true });
  }
});

test('refusals: not root, Node.js too old, no --collector on a first install, a setting the agent rejects, a collector that cannot serve the bundle', { skip: NOT_ROOT, timeout: 120_000 }, async () => {
  const d = scratch();
  // A dashboard that cannot serve the bundle answers 503 with its reason; the script shows it.
  const reason = 'the agent bundle is not built on this collector: run `npm run build`';
  const server = createServer((_req, res) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`${reason}\n`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    if (!NO_CURL) {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r503 = await runScriptAsync(['--from', url, '--collector', 'h:1', '--token', 't', ...placeArgs(d)]);
      assert.equal(r503.status, 1);
      assert.ok(r503.stderr.includes(reason), `the collector's reason shown: ${r503.stderr}`);
      assert.match(r503.stderr, /could not fetch http:\/\/127\.0\.0\.1:\d+\/install\/agent\.tar\.gz/u);
      assert.ok(!existsSync(join(d.prefix, 'agent')), 'nothing installed');
    }

    const nobody = spawnSync('getent', ['passwd', 'nobody'], { encoding: 'utf8' });
    if (nobody.status === 0) {
      const [, , uid, gid] = nobody.stdout.split(':');
      const r = runScript(['--collector', 'h:1', '--token', 't', ...placeArgs(d)], { uid: Number(uid), gid: Number(gid) });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /run as root/u);
    }

    // A node that says it is 18 (Debian 12's own).
    const fakeNode = join(d.tmp, 'node18');
    writeFileSync(fakeNode, '#!/bin/sh\nprintf 18.20.4\n');
    chmodSync(fakeNode, 0o755);
    const old = runScript(['--collector', 'h:1', '--token', 't', '--node', fakeNode, ...placeArgs(d)]);
    assert.equal(old.status, 1);
    assert.match(old.stderr, /found Node\.js 18\.20\.4 at \S+node18, but the agent needs Node\.js 20 or later/u);

    const noCollector = runScript(['--token', 't', ...placeArgs(d)]);
    assert.equal(noCollector.status, 1);
    assert.match(noCollector.stderr, /--collector is required/u);

    const bad = runScript(['--collector', 'not-an-address', '--token', 't', ...placeArgs(d)]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /agent\.json: "collector": expected HOST:PORT/u, 'the agent\'s own parser names the key');
    assert.match(bad.stderr, /nothing was changed/u);
    assert.ok(!existsSync(join(d.prefix, 'agent')), 'nothing installed');
    assert.ok(!existsSync(join(d.configDir, 'agent.json')), 'no agent.json');
    assert.deepEqual(leftovers(d), [], 'no temporary file left');

    const unknown = runScript(['--colector', 'h:1']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /unknown option '--colector'/u);
  } finally {
    server.close();
    rmSync(d.tmp, { recursive: true, force: true });
  }
});

test('the script is POSIX sh: dash parses it, shellcheck finds nothing', { skip: NO_SHELLCHECK }, () => {
  const syntax = spawnSync('sh', ['-n', SCRIPT], { encoding: 'utf8' });
  assert.equal(syntax.status, 0, syntax.stderr);
  const r = spawnSync('shellcheck', ['--shell=sh', '--severity=style', SCRIPT], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `shellcheck:\n${r.stdout}${r.stderr}`);
});

test('--help needs no root and names every option', () => {
  const r = spawnSync('sh', [SCRIPT, '--help'], { encoding: 'utf8', ...(IS_ROOT ? { uid: 65534, gid: 65534 } : {}) });
  assert.equal(r.status, 0, r.stderr);
  for (const opt of ['--collector', '--token', '--name', '--from', '--bundle', '--prefix', '--config-dir', '--ca', '--tls', '--node', '--no-start', '--no-powercap', '--systemd-dir', '--uninstall']) {
    assert.match(r.stdout, new RegExp(`^\\s+${opt}\\b`, 'mu'), `--help lists ${opt}`);
  }
});
