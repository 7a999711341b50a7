import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { AGENT_SETTINGS } from '../../agent/settings.ts';
import { ConfigError } from '../../shared/errors.ts';
import { envName, helpText, listenAdvice, loadConfig, MAX_CONFIG_FILE_BYTES, parseHostPort, readConfigFile } from '../../shared/config.ts';

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

test('a value starting with "-": refused with the --flag=VALUE form named; that form is taken as given', () => {
  const err = configError(() => loadConfig(AGENT_SETTINGS, ['--collector', 'h:1', '--token', '-dash-first'], {}));
  assert.equal(err.setting, '--token');
  assert.match(err.message, /--token=VALUE/);
  assert.equal(loadConfig(AGENT_SETTINGS, ['--collector', 'h:1', '--token=-dash-first'], {}).config.token, '-dash-first');
});

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
  // One table: program, flag, environment, default, unit, what SIGHUP does, meaning.
  for (const [program, table] of [['collector', COLLECTOR_SETTINGS], ['agent', AGENT_SETTINGS]] as const) {
    for (const s of Object.values(table)) {
      const flag = `\`--${s.flag} ${s.arg.replaceAll('|', '\\|')}\``;
      const row = readme.split('\n').find((l) => l.startsWith(`| ${program} | ${flag} |`));
      assert.ok(row, `README's table lacks the ${program} row of --${s.flag}`);
      const cells = row.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
      assert.equal(cells.length, 7, row);
      assert.equal(cells[5], s.reload ? 'yes' : 'restart', `SIGHUP column of ${program} --${s.flag}`);
    }
  }
});

// ---------- the config file ----------

const file = (text: string, mode = 0o600) => () => ({ text, mode });

test('config file: under the environment and flags, over the defaults', () => {
  const read = file(JSON.stringify({ capacity: 50, listen: '127.0.0.1:9000', 'log-level': 'debug', 'save-interval-s': '30' }));
  const a = loadConfig(COLLECTOR_SETTINGS, ['--config', '/etc/c.json'], {}, read);
  assert.equal(a.configFile, '/etc/c.json');
  assert.equal(a.config.capacity, 50, 'a JSON number');
  assert.equal(a.config.saveIntervalS, 30, 'a string, parsed as the flag would be');
  assert.deepEqual(a.config.listen, { host: '127.0.0.1', port: 9000 });
  assert.equal(a.config.logLevel, 'debug');
  const b = loadConfig(COLLECTOR_SETTINGS, ['--config', '/etc/c.json', '--capacity', '7'], { SENTINEL_LOG_LEVEL: 'warn' }, read);
  assert.equal(b.config.capacity, 7, 'the flag wins');
  assert.equal(b.config.logLevel, 'warn', 'the environment wins');
  assert.deepEqual(b.config.listen, { host: '127.0.0.1', port: 9000 });
  const c = loadConfig(COLLECTOR_SETTINGS, [], { SENTINEL_CONFIG: '/etc/c.json' }, read);
  assert.equal(c.config.capacity, 50, 'SENTINEL_CONFIG names the file too');
  const none = loadConfig(COLLECTOR_SETTINGS, [], {}, () => assert.fail('no file is read without --config'));
  assert.equal(none.configFile, '');
  // Required settings may come from the file.
  const agent = loadConfig(AGENT_SETTINGS, ['--config', 'a.json'], {}, file(JSON.stringify({ collector: 'h:1', token: 't', interval: 500, tls: 'off' })));
  assert.equal(agent.config.intervalMs, 500);
});

test('config file: every mistake stops the program naming the file and the key', () => {
  const bad = (text: string, setting: RegExp, message: RegExp, mode = 0o600): void => {
    const err = configError(() => loadConfig(COLLECTOR_SETTINGS, ['--config', 'c.json'], {}, file(text, mode)));
    assert.match(err.setting, setting);
    assert.match(err.message, message);
  };
  bad('{"capacity": 5,', /^c\.json$/, /not valid JSON/);
  bad('[1, 2]', /^c\.json$/, /one JSON object/);
  bad('"listen"', /^c\.json$/, /one JSON object/);
  bad('{"capacty": 5}', /^c\.json: "capacty"$/, /unknown setting \(keys are the flag names of --help/);
  bad('{"log_level": "info"}', /^c\.json: "log_level"$/, /did you mean "log-level"/);
  bad('{"capacity": 0}', /^c\.json: "capacity"$/, /must be from 1 to/);
  bad('{"capacity": null}', /^c\.json: "capacity"$/, /got null/);
  bad('{"webhooks": ["http://a"]}', /^c\.json: "webhooks"$/, /got an array/);
  bad('{"alerts": {"cpu": 1}}', /^c\.json: "alerts"$/, /got object/);
  bad('{"config": "other.json"}', /^c\.json: "config"$/, /unknown setting/);
  // A secret in a file every user can read; the same file without the secret is fine.
  bad('{"token": "s3cret"}', /^c\.json: "token"$/, /every user \(mode 0644\): chmod 640 or 600/, 0o644);
  assert.equal(loadConfig(COLLECTOR_SETTINGS, ['--config', 'c.json'], {}, file('{"capacity": 9}', 0o644)).config.capacity, 9);
  assert.equal(loadConfig(COLLECTOR_SETTINGS, ['--config', 'c.json'], {}, file('{"token": "s3cret"}', 0o640)).config.token, 's3cret');
  assert.match(configError(() => loadConfig(COLLECTOR_SETTINGS, ['--config', ''], {})).setting, /^--config$/);
});

test('config file: read from disk, bounded, only a regular file', () => {
  const d = mkdtempSync(join(tmpdir(), 'sentinel-conf-'));
  try {
    const ok = join(d, 'ok.json');
    writeFileSync(ok, '{"capacity": 3}');
    chmodSync(ok, 0o640);
    assert.deepEqual(readConfigFile(ok), { text: '{"capacity": 3}', mode: 0o640 });
    assert.equal(loadConfig(COLLECTOR_SETTINGS, ['--config', ok], {}).config.capacity, 3);
    const big = join(d, 'big.json');
    writeFileSync(big, Buffer.alloc(MAX_CONFIG_FILE_BYTES + 1, 0x20));
    assert.match(configError(() => readConfigFile(big)).message, /more than 1048576/);
    assert.match(configError(() => readConfigFile(d)).message, /not a regular file/);
    assert.match(configError(() => readConfigFile(join(d, 'absent.json'))).message, /ENOENT/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('--help names --config and SENTINEL_CONFIG', () => {
  assert.match(helpText('usage', AGENT_SETTINGS), /--config FILE +JSON object of settings by flag name[^\n]*\n +env SENTINEL_CONFIG/);
});

test('listenAdvice: a port that cannot be taken says what to do, naming the flag', () => {
  assert.match(listenAdvice({ code: 'EADDRINUSE' }, 'http'), /another program, perhaps another collector.*--http HOST:PORT/);
  assert.match(listenAdvice({ code: 'EADDRINUSE' }, 'listen'), /--listen HOST:PORT/);
  assert.match(listenAdvice({ code: 'EACCES' }, 'http'), /below 1024.*--http/);
  assert.match(listenAdvice({ code: 'EADDRNOTAVAIL' }, 'listen'), /no interface.*--listen/);
  assert.equal(listenAdvice({ code: 'EMFILE' }, 'http'), '');
  assert.equal(listenAdvice({}, 'http'), '');
});
