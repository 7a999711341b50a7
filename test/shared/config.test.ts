import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { AGENT_SETTINGS } from '../../agent/settings.ts';
import { ConfigError } from '../../shared/errors.ts';
import { envName, helpText, loadConfig, parseHostPort } from '../../shared/config.ts';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'SENTINEL_CONFIG_INVALID');
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('defaults, then environment, then flags', () => {
  const d = loadConfig(COLLECTOR_SETTINGS, [], {}).config;
  assert.deepEqual(d.listen, { host: '0.0.0.0', port: 8765 });
  assert.deepEqual(d.http, { host: '127.0.0.1', port: 8080 });
  assert.equal(d.capacity, 1024);
  const e = loadConfig(COLLECTOR_SETTINGS, [], { SENTINEL_CAPACITY: '50', SENTINEL_LISTEN: '127.0.0.1:9000' }).config;
  assert.equal(e.capacity, 50);
  assert.deepEqual(e.listen, { host: '127.0.0.1', port: 9000 });
  const f = loadConfig(COLLECTOR_SETTINGS, ['--capacity', '7', '--listen=:0'], { SENTINEL_CAPACITY: '50' }).config;
  assert.equal(f.capacity, 7);
  assert.deepEqual(f.listen, { host: '0.0.0.0', port: 0 });
});

test('environment names share one prefix', () => {
  assert.equal(envName('data-dir'), 'SENTINEL_DATA_DIR');
  assert.equal(envName('collector'), 'SENTINEL_COLLECTOR');
});

test('host:port forms', () => {
  assert.deepEqual(parseHostPort('[::1]:80', 'x'), { host: '::1', port: 80 });
  assert.deepEqual(parseHostPort('example.org:65535', 'x'), { host: 'example.org', port: 65535 });
  for (const bad of ['nohost', 'a:b', 'a:65536', 'a:-1', '', ':']) configError(() => parseHostPort(bad, 'x'));
});

const BAD: Array<[string, string[], Record<string, string>, string]> = [
  ['unknown flag', ['--nope', '1'], {}, 'command line'],
  ['flag without its value', ['--capacity'], {}, 'command line'],
  ['capacity not a number', ['--capacity', 'lots'], {}, '--capacity'],
  ['capacity out of range', ['--capacity', '0'], {}, '--capacity'],
  ['bad listen address from the environment', [], { SENTINEL_LISTEN: 'everywhere' }, 'SENTINEL_LISTEN'],
  ['log level unknown', ['--log-level', 'loud'], {}, '--log-level'],
  ['a positional argument', ['extra'], {}, 'command line'],
];
for (const [name, argv, env, setting] of BAD) {
  test(`collector config refused: ${name} (names ${setting})`, () => {
    const err = configError(() => loadConfig(COLLECTOR_SETTINGS, argv, env));
    assert.equal(err.setting, setting);
  });
}

test('the agent requires --collector and --token, and checks --name like the collector does', () => {
  assert.equal(configError(() => loadConfig(AGENT_SETTINGS, ['--token', 't'], {})).setting, '--collector');
  assert.equal(configError(() => loadConfig(AGENT_SETTINGS, ['--collector', 'h:1'], {})).setting, '--token');
  assert.equal(configError(() => loadConfig(AGENT_SETTINGS, ['--collector', 'h:1', '--token', 't', '--name', 'a\nb'], {})).setting, '--name');
  const ok = loadConfig(AGENT_SETTINGS, ['--collector', 'h:1'], { SENTINEL_TOKEN: 'secret', SENTINEL_INTERVAL: '500' }).config;
  assert.equal(ok.token, 'secret');
  assert.equal(ok.intervalMs, 500);
});

test('--help needs no required setting and lists every flag with its environment variable', () => {
  const r = loadConfig(AGENT_SETTINGS, ['--help'], {});
  assert.equal(r.help, true);
  const text = helpText('usage', AGENT_SETTINGS);
  for (const s of Object.values(AGENT_SETTINGS)) {
    assert.match(text, new RegExp(`--${s.flag} `));
    assert.match(text, new RegExp(envName(s.flag)));
  }
});

test('a secret default is not printed by --help', () => {
  assert.doesNotMatch(helpText('usage', COLLECTOR_SETTINGS), /default: \n/);
  assert.match(helpText('usage', COLLECTOR_SETTINGS), /SENTINEL_TOKEN; default: \(set\)/);
});

test('README lists every setting of the collector and the agent, with its environment variable', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const table of [COLLECTOR_SETTINGS, AGENT_SETTINGS]) {
    for (const s of Object.values(table)) {
      assert.ok(readme.includes(`\`--${s.flag} ${s.arg.replaceAll('|', '\\|')}\``), `README lacks --${s.flag}`);
      assert.ok(readme.includes(`\`${envName(s.flag)}\``), `README lacks ${envName(s.flag)}`);
    }
  }
});
