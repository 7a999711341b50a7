import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_SETTINGS, groupId } from '../../agent/settings.ts';
import { helpText, loadConfig } from '../../shared/config.ts';
import { ERROR_CODES } from '../../shared/errors.ts';

const REQUIRED = ['--collector', '127.0.0.1:8765', '--token', 't'];
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(AGENT_SETTINGS, [...REQUIRED, ...argv], env).config;
const configError = (setting: string) => (err: unknown): boolean => {
  const e = err as { code?: string; setting?: string };
  return e.code === ERROR_CODES.CONFIG_INVALID && e.setting === setting;
};

test('power settings: defaults', () => {
  const c = load([]);
  assert.deepEqual(
    [c.powerRoot, c.powerClass, c.powerIdleW, c.powerMaxW, c.powerWPerGib, c.powerSocket, c.powerSocketMode, c.powerSocketGroup],
    ['/sys/class/powercap', 'auto', null, null, null, '', 0o660, null],
  );
});

test('power settings: environment, then flags; an empty flag is the class default', () => {
  const env = { SENTINEL_POWER_ROOT: '/tmp/pc', SENTINEL_POWER_CLASS: 'laptop', SENTINEL_POWER_IDLE_W: '6.5', SENTINEL_POWER_W_PER_GIB: '0' };
  const fromEnv = load([], env);
  assert.deepEqual([fromEnv.powerRoot, fromEnv.powerClass, fromEnv.powerIdleW, fromEnv.powerMaxW, fromEnv.powerWPerGib], ['/tmp/pc', 'laptop', 6.5, null, 0]);
  const flags = load(['--power-class', 'sbc', '--power-idle-w', '', '--power-max-w', '12', '--power-socket', '/run/p.sock', '--power-socket-mode', '0600', '--power-socket-group', '0'], env);
  assert.deepEqual(
    [flags.powerClass, flags.powerIdleW, flags.powerMaxW, flags.powerSocket, flags.powerSocketMode, flags.powerSocketGroup],
    ['sbc', null, 12, '/run/p.sock', 0o600, 0],
  );
});

const BAD_CASES: ReadonlyArray<{ name: string; argv: string[]; env?: NodeJS.ProcessEnv; setting: string }> = [
  { name: 'an unknown class', argv: ['--power-class', 'mainframe'], setting: '--power-class' },
  { name: 'negative idle watts', argv: ['--power-idle-w=-1'], setting: '--power-idle-w' },
  { name: 'max watts not a number', argv: ['--power-max-w', '100W'], setting: '--power-max-w' },
  { name: 'max watts above 100 kW (a typo)', argv: ['--power-max-w', '250000'], setting: '--power-max-w' },
  { name: 'W per GiB above 100', argv: ['--power-w-per-gib', '101'], setting: '--power-w-per-gib' },
  { name: 'a bad value from the environment names the variable', argv: [], env: { SENTINEL_POWER_IDLE_W: 'lots' }, setting: 'SENTINEL_POWER_IDLE_W' },
  { name: 'a socket mode wider than 0660', argv: ['--power-socket-mode', '0666'], setting: '--power-socket-mode' },
  { name: 'a socket path longer than sun_path', argv: ['--power-socket', `/tmp/${'p'.repeat(120)}`], setting: '--power-socket' },
  { name: 'a group that does not exist', argv: ['--power-socket-group', 'no-such-group-here'], setting: '--power-socket-group' },
  { name: 'a GID above 2^32 - 2', argv: ['--power-socket-group', '4294967295'], setting: '--power-socket-group' },
];
for (const c of BAD_CASES) {
  test(`power settings: ${c.name} stops the agent at start, naming the setting`, () => {
    assert.throws(() => load(c.argv, c.env), configError(c.setting));
  });
}

test('groupId: a name from the group file, a GID as is, empty for none', () => {
  const dir = mkdtempSync(join(tmpdir(), 'groups-'));
  try {
    const file = join(dir, 'group');
    writeFileSync(file, 'root:x:0:\npower:x:1234:alice,bob\nbroken:x::\n');
    assert.equal(groupId('power', '--power-socket-group', file), 1234);
    assert.equal(groupId('root', '--power-socket-group', file), 0);
    assert.equal(groupId('77', '--power-socket-group', file), 77);
    assert.equal(groupId('', '--power-socket-group', file), null);
    assert.throws(() => groupId('broken', '--power-socket-group', file), configError('--power-socket-group'));
    assert.throws(() => groupId('power', '--power-socket-group', join(dir, 'absent')), /give its GID/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--help shows every power setting with its default', () => {
  const help = helpText('usage', AGENT_SETTINGS);
  for (const line of ['--power-root DIR', '--power-class CLASS', '--power-idle-w W', '--power-max-w W', '--power-w-per-gib W', '--power-socket PATH', '--power-socket-mode 0600|0660', '--power-socket-group GROUP']) {
    assert.ok(help.includes(line), line);
  }
  assert.match(help, /SENTINEL_POWER_SOCKET_MODE; default: 0660/);
  assert.match(help, /SENTINEL_POWER_IDLE_W; default: the class's/);
  assert.match(help, /SENTINEL_POWER_SOCKET; default: \(none\)/);
});
