/** dashboard/host_check.ts: the Host names a dashboard without a password answers (DNS rebinding). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answeredHosts, hostAllowed, hostName, MAX_ALLOWED_HOSTS, parseAllowedHosts } from '../../dashboard/host_check.ts';
import { ConfigError } from '../../shared/errors.ts';

test('hostName: the name part of a Host header, lower-cased, port and trailing dot gone; null when malformed', () => {
  const cases: Array<[string, string | null]> = [
    ['127.0.0.1:8080', '127.0.0.1'], ['LOCALHOST:8080', 'localhost'], ['localhost.', 'localhost'], ['[::1]:8080', '::1'],
    ['[::1]', '::1'], ['sentinel.lan', 'sentinel.lan'], ['a.example:1', 'a.example'],
    ['', null], ['[not-v6]:80', null], ['a b:80', null], ['host:port', null], ['[::1', null], ['a:80:80', null],
  ];
  for (const [header, name] of cases) assert.equal(hostName(header), name, header);
});

test('hostAllowed: IP addresses, localhost and .localhost always; other names only when allowed, exactly or by domain', () => {
  for (const h of ['127.0.0.1:8080', '10.1.2.3:8080', '[::1]:8080', '[fe80::1]', 'localhost:8080', 'Localhost', 'app.localhost:8080', 'localhost.:8080']) {
    assert.equal(hostAllowed(h, []), true, h);
  }
  for (const h of ['attacker.example:8080', 'localhost.attacker.example', 'evil-localhost', '127.0.0.1.attacker.example', 'sentinel.lan:8080', '', '[x]']) {
    assert.equal(hostAllowed(h, []), false, h);
  }
  const allowed = parseAllowedHosts('Sentinel.LAN, .example.org', 'http-allowed-hosts');
  assert.equal(hostAllowed('sentinel.lan:8080', allowed), true);
  assert.equal(hostAllowed('example.org', allowed), true, 'a domain with a leading dot allows itself');
  assert.equal(hostAllowed('mon.example.org:443', allowed), true);
  assert.equal(hostAllowed('badexample.org', allowed), false, 'a suffix match stops at a dot');
  assert.equal(hostAllowed('other.lan', allowed), false);
  assert.equal(hostAllowed(undefined, []), true, 'no Host at all (HTTP/1.0 tools): no browser sends that');
});

test('parseAllowedHosts: names checked, lower-cased, bounded; a bad one names the setting', () => {
  assert.deepEqual(parseAllowedHosts(' a.lan ,,B.example ', 'x'), ['a.lan', 'b.example']);
  assert.deepEqual(parseAllowedHosts('', 'x'), []);
  for (const bad of ['a b', 'a..b', '-a', 'a-', 'http://a', 'a/b', '*', 'a:80', `${'a'.repeat(64)}.lan`]) {
    assert.throws(() => parseAllowedHosts(bad, 'http-allowed-hosts'), (e: unknown) => e instanceof ConfigError && /http-allowed-hosts/.test(e.message), bad);
  }
  assert.throws(() => parseAllowedHosts(Array.from({ length: MAX_ALLOWED_HOSTS + 1 }, (_, i) => `h${i}.lan`).join(','), 'x'), ConfigError);
});

test('answeredHosts: the name the dashboard listens on is answered too; addresses add nothing', () => {
  assert.deepEqual(answeredHosts('nas.lan', []), ['nas.lan']);
  assert.deepEqual(answeredHosts('NAS.lan', ['a.lan']), ['a.lan', 'nas.lan']);
  assert.deepEqual(answeredHosts('a.lan', ['a.lan']), ['a.lan']);
  for (const address of ['0.0.0.0', '127.0.0.1', '192.168.1.5', '::', '::1', 'fe80::1']) assert.deepEqual(answeredHosts(address, ['x.lan']), ['x.lan'], address);
  assert.equal(hostAllowed('nas.lan:8080', answeredHosts('nas.lan', [])), true);
});
