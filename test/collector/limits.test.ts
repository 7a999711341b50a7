/** collector/limits.ts: address grouping, per-address connection counts, the failed-handshake bucket. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey, ConnectionCounter, FailureLimiter, MAX_TRACKED_ADDRESSES } from '../../collector/limits.ts';

test('addressKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
  const cases: Array<[string | undefined, string]> = [
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::FFFF:10.0.0.1', '10.0.0.1'],
    ['2001:db8:1:2:aaaa::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:bbbb:cccc:dddd:eeee', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    [undefined, '?'],
  ];
  for (const [input, key] of cases) assert.equal(addressKey(input), key, String(input));
});

test('ConnectionCounter: refuses beyond the limit per address, frees on remove', () => {
  const c = new ConnectionCounter(2);
  assert.equal(c.tryAdd('a'), true);
  assert.equal(c.tryAdd('a'), true);
  assert.equal(c.tryAdd('a'), false, 'third from one address');
  assert.equal(c.tryAdd('b'), true, 'another address is not affected');
  assert.equal(c.count('a'), 2);
  c.remove('a');
  assert.equal(c.tryAdd('a'), true);
  c.remove('a'); c.remove('a'); c.remove('a');
  assert.equal(c.count('a'), 0, 'never negative');
});

test('FailureLimiter: N failures a minute, then blocked until the bucket refills', () => {
  const l = new FailureLimiter(10);
  const t0 = 1_000_000;
  for (let i = 0; i < 9; i++) assert.equal(l.fail('x', t0), false, `failure ${i + 1}`);
  assert.equal(l.blocked('x', t0), false);
  assert.equal(l.fail('x', t0), true, 'the tenth failure uses up the allowance');
  assert.equal(l.blocked('x', t0), true);
  assert.equal(l.blocked('y', t0), false, 'other addresses are not affected');
  assert.equal(l.retryAfterMs('x', t0), 6000, 'one token refills in 60 s / 10');
  assert.equal(l.blocked('x', t0 + 5999), true);
  assert.equal(l.blocked('x', t0 + 6000), false, 'one more try after 6 s');
  assert.equal(l.fail('x', t0 + 6000), true, 'and it is used up again at once');
  assert.equal(l.blocked('x', t0 + 6000 + 60_000), false);
  assert.equal(l.tracked, 0, 'a full bucket is forgotten');
});

test('FailureLimiter: the table stays bounded under failures from many addresses', () => {
  const l = new FailureLimiter(10);
  for (let i = 0; i < MAX_TRACKED_ADDRESSES + 100; i++) l.fail(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 0);
  assert.equal(l.tracked, MAX_TRACKED_ADDRESSES);
});
