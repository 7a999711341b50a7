/**
 * The install command the collector prints (collector/install_command.ts), by table: the
 * one-line fetch when the dashboard is reachable, the checkout form when it listens on loopback
 * only, TLS and HTTPS variants; and shell quoting checked by a real `sh`, which must hand every
 * word back unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { agentCommand, flagWords, installCommand, shellQuote, type InstallCommandInput } from '../../collector/install_command.ts';
import { randomToken } from '../../collector/token.ts';
import { AGENT_SETTINGS } from '../../agent/settings.ts';
import { loadConfig } from '../../shared/config.ts';

const BASE: InstallCommandInput = {
  http: { host: '0.0.0.0', port: 8080 },
  httpReachable: { host: '192.168.1.10', port: 8080 },
  https: false,
  agents: { host: '192.168.1.10', port: 8765 },
  token: 'q2Xy_-9',
  agentTls: false,
};

const CASES: Array<[name: string, input: Partial<InstallCommandInput>, command: string, oneLine: boolean, note: RegExp]> = [
  ['dashboard on all interfaces: one line from it',
    {}, 'curl -fsSL http://192.168.1.10:8080/install/agent.sh | sudo sh -s -- --from http://192.168.1.10:8080 --collector 192.168.1.10:8765 --token q2Xy_-9', true,
    /^Without curl: wget -qO- http:\/\/192\.168\.1\.10:8080\/install\/agent\.sh \| sudo sh -s -- --from/u],
  ['dashboard on loopback (the default): the checkout form, saying how to get the one line',
    { http: { host: '127.0.0.1', port: 8080 }, httpReachable: { host: '127.0.0.1', port: 8080 } },
    'sudo sh scripts/install-agent.sh --collector 192.168.1.10:8765 --token q2Xy_-9', false, /--http 0\.0\.0\.0:8080/u],
  ['dashboard on loopback at another port: the advice keeps that port',
    { http: { host: '127.0.0.1', port: 8081 }, httpReachable: { host: '127.0.0.1', port: 8081 } },
    'sudo sh scripts/install-agent.sh --collector 192.168.1.10:8765 --token q2Xy_-9', false, /--http 0\.0\.0\.0:8081 /u],
  ['dashboard on ::1: loopback too',
    { http: { host: '::1', port: 8080 } }, 'sudo sh scripts/install-agent.sh --collector 192.168.1.10:8765 --token q2Xy_-9', false, /checkout/u],
  ['agents over TLS: the CA goes along',
    { agentTls: true }, 'curl -fsSL http://192.168.1.10:8080/install/agent.sh | sudo sh -s -- --from http://192.168.1.10:8080 --collector 192.168.1.10:8765 --token q2Xy_-9 --ca CA.pem', true,
    /^CA\.pem: the private CA's certificate/u],
  ['HTTPS dashboard and TLS agents: curl checks the dashboard against the CA too',
    { https: true, agentTls: true }, 'curl -fsSL --cacert CA.pem https://192.168.1.10:8080/install/agent.sh | sudo sh -s -- --from https://192.168.1.10:8080 --collector 192.168.1.10:8765 --token q2Xy_-9 --ca CA.pem', true,
    /never ca\.key/u],
  ['HTTPS dashboard with a public certificate: plain curl',
    { https: true }, 'curl -fsSL https://192.168.1.10:8080/install/agent.sh | sudo sh -s -- --from https://192.168.1.10:8080 --collector 192.168.1.10:8765 --token q2Xy_-9', true, /Without curl/u],
  ['IPv6 addresses are bracketed and quoted (brackets are shell glob characters)',
    { httpReachable: { host: 'fd00::5', port: 8080 }, agents: { host: 'fd00::5', port: 8765 } },
    "curl -fsSL 'http://[fd00::5]:8080/install/agent.sh' | sudo sh -s -- --from 'http://[fd00::5]:8080' --collector '[fd00::5]:8765' --token q2Xy_-9", true, /Without curl/u],
  ['the checkout form with TLS',
    { http: { host: '127.0.0.1', port: 8080 }, agentTls: true }, 'sudo sh scripts/install-agent.sh --collector 192.168.1.10:8765 --token q2Xy_-9 --ca CA.pem', false, /CA\.pem/u],
];

for (const [name, over, command, oneLine, note] of CASES) {
  test(`installCommand: ${name}`, () => {
    const got = installCommand({ ...BASE, ...over });
    assert.equal(got.command, command);
    assert.equal(got.oneLine, oneLine);
    assert.ok(got.notes.some((n) => note.test(n)), `a note matching ${note} in ${JSON.stringify(got.notes)}`);
    assert.ok(!got.command.includes('\n'), 'one line');
  });
}

const WORDS: Array<[name: string, word: string, bare: boolean]> = [
  ['a base64url token', 'AbC-_09', true],
  ['a host:port', '10.0.0.5:8765', true],
  ['a URL', 'http://collector.lan:8080', true],
  ['brackets', '[fe80::1]:8765', false],
  ['a space', 'two words', false],
  ['a single quote', "it's", false],
  ['shell specials', '$(reboot);`x`|&<>*?~#!', false],
  ['an empty word', '', false],
];

test('shellQuote: a real sh hands every word back unchanged; safe words stay bare', () => {
  for (const [name, word, bare] of WORDS) assert.equal(shellQuote(word) === word, bare, `${name}: bare or quoted`);
  const script = `printf '%s\\n' ${WORDS.map(([, w]) => shellQuote(w)).join(' ')}`;
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\n').slice(0, -1), WORDS.map(([, w]) => w));
});

/** The words a real `sh` makes of `line`. */
function shWords(line: string): string[] {
  const r = spawnSync('sh', ['-c', `set -- ${line}; printf '%s\\n' "$@"`], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').slice(0, -1);
}

test('agentCommand: the printed join command, split by a real sh, gives the agent back the same collector and token', () => {
  // A token that starts with "-" (given with --token, or a token file from before randomToken
  // stopped making them) reads as a flag unless written --token=VALUE.
  const tokens = ['q2Xy_-9', '-BeQwILpvTgaBVl5aiKQUyp3k3FrWEvCLqLWapBTXvw', "it's odd", '--', '-'];
  for (const token of tokens) {
    for (const agentTls of [false, true]) {
      const line = agentCommand({ host: '192.168.1.10', port: 8765 }, token, agentTls);
      assert.match(line, /^npm run agent -- /);
      const argv = shWords(line.slice('npm run agent -- '.length));
      // --ca names a file the user copies over (its setting reads it): checked as words here.
      if (agentTls) assert.deepEqual(argv.splice(-2), ['--ca', 'CA.pem'], line);
      const { config } = loadConfig(AGENT_SETTINGS, argv, {});
      assert.equal(config.token, token, line);
      assert.equal(formatCollector(config.collector), '192.168.1.10:8765');
    }
  }
  assert.equal(flagWords('token', 'abc'), '--token abc');
  assert.equal(flagWords('token', '-abc'), '--token=-abc');
});

test('randomToken: 43 characters of base64url, never starting with "-" (1 in 64 would without the check)', () => {
  const seen = new Set<string>();
  // With no check, 2,000 tokens hold one starting with "-" with probability 1 - (63/64)^2000 > 0.999999.
  for (let i = 0; i < 2000; i++) {
    const t = randomToken();
    assert.match(t, /^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
    seen.add(t);
  }
  assert.equal(seen.size, 2000);
});

function formatCollector(hp: { host: string; port: number }): string {
  return `${hp.host}:${hp.port}`;
}
