/**
 * The systemd units in scripts/systemd/: filled in as the install script fills them, each must
 * pass `systemd-analyze verify` without a word on stderr (an unknown key is only a warning
 * there, so silence is the check), keep its exposure under `systemd-analyze security` at the
 * level reached ("OK"), and carry the settings the design asks for. The agent's powercap line
 * runs against a scratch tree: it opens the RAPL counters to the group, leaves others alone,
 * and exits 0 when there is no tree at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/procs.ts';

const ANALYZE = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;
if (!ANALYZE && process.env['CI']) throw new Error('systemd-analyze is required in CI (apt-get install systemd)');
const NO_ANALYZE = ANALYZE ? false : 'systemd-analyze is not installed (apt-get install systemd)';

const UNITS = ['cluster-sentinel-agent.service', 'cluster-sentinel-collector.service'] as const;
/** Highest exposure score allowed (systemd-analyze security: 0 best, 10 worst; "OK" below 5). */
const MAX_EXPOSURE = 4.5;

function template(unit: string): string {
  return readFileSync(join(ROOT, 'scripts/systemd', unit), 'utf8');
}

/** The unit as install-agent.sh writes it (same placeholders), into `dir`. */
function filled(unit: string, dir: string): string {
  const text = template(unit).replaceAll('__NODE__', process.execPath).replaceAll('__PREFIX__', ROOT.replace(/\/$/u, '')).replaceAll('__CONFIG_DIR__', '/etc/cluster-sentinel');
  const file = join(dir, unit);
  writeFileSync(file, text);
  return file;
}

/** Directive values of a unit by key, in file order (comments and sections left out). */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/u.exec(line);
    if (!m) continue;
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

for (const unit of UNITS) {
  test(`${unit}: systemd-analyze verify passes without a warning`, { skip: NO_ANALYZE }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-units-'));
    try {
      const r = spawnSync('systemd-analyze', ['verify', filled(unit, dir)], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, `verify failed: ${r.stderr}`);
      assert.equal(r.stderr.trim(), '', 'no warning (an unknown or misplaced key is only a warning)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${unit}: exposure under systemd-analyze security stays at most ${MAX_EXPOSURE}`, { skip: NO_ANALYZE }, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-units-'));
    try {
      const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', filled(unit, dir)], { encoding: 'utf8', timeout: 30_000 });
      const m = /Overall exposure level for \S+: ([\d.]+)/u.exec(r.stdout + r.stderr);
      if (!m && /unrecognized option|unknown option/iu.test(r.stderr)) {
        t.skip('this systemd-analyze has no --offline (systemd < 250)');
        return;
      }
      assert.ok(m, `an exposure level in: ${r.stdout.slice(-300)} ${r.stderr}`);
      assert.ok(Number(m[1]) <= MAX_EXPOSURE, `exposure ${m[1]} > ${MAX_EXPOSURE}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

const COMMON: Array<[key: string, value: string]> = [
  ['Type', 'exec'], ['User', 'cluster-sentinel'], ['Group', 'cluster-sentinel'], ['Restart', 'on-failure'], ['RestartSec', '5'],
  ['RestartPreventExitStatus', '2'], ['StartLimitIntervalSec', '0'], ['ExecReload', '/bin/kill -HUP $MAINPID'], ['KillSignal', 'SIGTERM'],
  ['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['PrivateTmp', 'yes'], ['ProtectKernelTunables', 'yes'],
  ['CapabilityBoundingSet', ''], ['StandardError', 'journal'], ['WantedBy', 'multi-user.target'],
];

test('both units: restart with a wait, the service user, hardening, the journal, started at boot', () => {
  for (const unit of UNITS) {
    const d = directives(template(unit));
    for (const [key, value] of COMMON) assert.deepEqual(d.get(key), [value], `${unit}: ${key}=${value}`);
    assert.ok(Number(d.get('TimeoutStopSec')?.[0]) >= 10, `${unit}: TimeoutStopSec leaves room for a clean stop`);
    // The back-off keys systemd 252 does not know stay commented (the install script turns them on from 254).
    assert.match(template(unit), /^#systemd254\+ RestartSteps=\d+$/mu);
    assert.match(template(unit), /^#systemd254\+ RestartMaxDelaySec=\d+$/mu);
  }
});

test('agent unit: runs the bundle under --jitless with its config file; no state directory; /home readable for statfs', () => {
  const d = directives(template('cluster-sentinel-agent.service'));
  assert.deepEqual(d.get('ExecStart'), ['__NODE__ --jitless __PREFIX__/agent/dist/agent/main.js --config __CONFIG_DIR__/agent.json']);
  assert.equal(d.get('StateDirectory'), undefined, 'the agent keeps no state');
  assert.deepEqual(d.get('ProtectHome'), ['read-only']);
  assert.equal(d.get('PrivateDevices'), undefined, 'nvidia-smi needs /dev/nvidia*');
  const pre = d.get('ExecStartPre') ?? [];
  assert.equal(pre.length, 1);
  assert.match(pre[0]!, /^-\+\/bin\/sh -c '.*\/sys\/class\/powercap\/intel-rapl:\*\/energy_uj.*'$/u, 'as root ("+"), failure allowed ("-")');
});

test('collector unit: its state directory, the compiled collector (dist-collector/) under plain node with its config file', () => {
  const d = directives(template('cluster-sentinel-collector.service'));
  assert.deepEqual(d.get('StateDirectory'), ['cluster-sentinel']);
  assert.deepEqual(d.get('WorkingDirectory'), ['__PREFIX__']);
  assert.deepEqual(d.get('ExecStart'), ['__NODE__ __PREFIX__/dist-collector/collector/main.js --config __CONFIG_DIR__/collector.json']);
  assert.ok(existsSync(join(ROOT, 'tsconfig.collector.json')), 'the build the unit runs is configured');
  assert.match(readFileSync(join(ROOT, 'tsconfig.collector.json'), 'utf8'), /"outDir": "dist-collector"/u);
  assert.deepEqual(d.get('PrivateDevices'), ['yes']);
  assert.deepEqual(d.get('ProtectHome'), ['yes']);
});

/** The agent's ExecStartPre as the shell gets it: systemd turns `$$` into `$`. */
function powercapCommand(): string {
  const pre = directives(template('cluster-sentinel-agent.service')).get('ExecStartPre')![0]!;
  const m = /^-\+\/bin\/sh -c '(.*)'$/u.exec(pre);
  assert.ok(m, pre);
  return m[1]!.replaceAll('$$', '$');
}

test('agent unit: the powercap line opens energy_uj to the group, skips other zones, and exits 0 without a tree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-powercap-'));
  try {
    const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
    const files = ['intel-rapl:0/energy_uj', 'intel-rapl:0:0/energy_uj', 'intel-rapl-mmio:0/energy_uj', 'intel-rapl:0/max_energy_range_uj'];
    for (const f of files) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      writeFileSync(join(dir, f), '123\n');
      chmodSync(join(dir, f), 0o400);
    }
    // The same line on a scratch tree, with this process's group for cluster-sentinel.
    const cmd = powercapCommand().replaceAll('/sys/class/powercap', dir).replaceAll('cluster-sentinel', group);
    const r = spawnSync('/bin/sh', ['-c', cmd], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    const mode = (f: string): number => statSync(join(dir, f)).mode & 0o777;
    assert.equal(mode('intel-rapl:0/energy_uj'), 0o440);
    assert.equal(mode('intel-rapl:0:0/energy_uj'), 0o440);
    assert.equal(mode('intel-rapl-mmio:0/energy_uj'), 0o400, 'the MMIO zone (not read by the agent) stays closed');
    assert.equal(mode('intel-rapl:0/max_energy_range_uj'), 0o400, 'only the counters');
    const none = spawnSync('/bin/sh', ['-c', powercapCommand().replaceAll('/sys/class/powercap', join(dir, 'absent'))], { encoding: 'utf8' });
    assert.equal(none.status, 0, `no powercap tree: exit 0 (${none.stderr})`);
    assert.equal(none.stderr, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
