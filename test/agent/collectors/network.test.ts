import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parseSample } from '../../../shared/protocol.ts';
import { createNetworkCollector, networkCollector, parseNetDev, parseNetPair, readNetSnapshot, type NetSnapshot } from '../../../agent/collectors/network.ts';
import type { Timed } from '../../../agent/collectors/rates.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

const text = (name: string): string => readFileSync(new URL(`../../fixtures/proc/${name}`, import.meta.url), 'utf8');
function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.deepEqual(sample[name as keyof typeof sample], value);
}
const at = (atMs: number, value: NetSnapshot): Timed<NetSnapshot> => ({ atMs, value });
const H0 = parseNetDev(text('net_dev_hand_t0.txt'));
const H1 = parseNetDev(text('net_dev_hand_t1.txt'));

test('parseNetDev: header skipped, loopback left out, no-space-after-colon format read', () => {
  assert.deepEqual([...H1.keys()], ['eth0', 'eth1', 'wlan0', 'docker0']);
  assert.deepEqual(H0.get('eth1'), { rxBytes: 100, rxPackets: 1, rxErrs: 0, rxDrop: 0, txBytes: 200, txPackets: 2, txErrs: 0, txDrop: 0 });
  assert.deepEqual([...parseNetDev(text('net_dev_t0.txt')).keys()].sort(), ['eth0', 'ifb0', 'ifb1']);
});

test('parseNetPair: hand-made (wlan0 32-bit wrap, docker0 new): rows by name, rates only where both readings are sane', () => {
  const result = parseNetPair(at(0, H0), at(1000, H1));
  assert.deepEqual(result.readings.net, [
    { name: 'docker0' },
    { name: 'eth0', rx_bps: 1_000_000, tx_bps: 500_000, rx_pps: 1000, tx_pps: 400, rx_errs_ps: 1, tx_errs_ps: 0, rx_drops_ps: 2, tx_drops_ps: 0 },
    { name: 'eth1', rx_bps: 200, tx_bps: 200, rx_pps: 2, tx_pps: 2, rx_errs_ps: 0, tx_errs_ps: 0, rx_drops_ps: 0, tx_drops_ps: 0 },
    { name: 'wlan0' },
  ]);
  // lo moved 9 MB and is not in the totals; wlan0's wrap is not a 4 GB burst.
  assert.equal(result.readings.net_rx_bps, 1_000_200);
  assert.equal(result.readings.net_tx_bps, 500_200);
  assert.deepEqual(result.missing, {});
  assertValidSample(result);
});

test('parseNetPair: over 250 ms the rates are per second', () => {
  const result = parseNetPair(at(100, H0), at(350, H1));
  assert.equal(result.readings.net_rx_bps, 4_000_800);
  assert.equal(result.readings.net?.find((r) => r.name === 'eth0')?.rx_pps, 4000);
});

const REASON_CASES: ReadonlyArray<{ name: string; prev: Timed<NetSnapshot>; curr: Timed<NetSnapshot>; reason: RegExp; rows?: number }> = [
  { name: 'wrong order: every counter went back', prev: at(0, H1), curr: at(1000, H0), reason: /no interface with two consistent readings/, rows: 3 },
  { name: 'first reading of a new interface only', prev: at(0, new Map()), curr: at(1000, H1), reason: /no interface with two consistent readings/, rows: 4 },
  { name: 'no time between readings', prev: at(0, H0), curr: at(5, H1), reason: /only 5 ms between readings/ },
  { name: 'loopback only', prev: at(0, parseNetDev('lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0')), curr: at(1000, parseNetDev('lo: 2 2 0 0 0 0 0 0 2 2 0 0 0 0 0 0')), reason: /no network interface but loopback/ },
];
for (const c of REASON_CASES) {
  test(`parseNetPair: ${c.name}`, () => {
    const result = parseNetPair(c.prev, c.curr);
    assert.match(result.missing['net_rx_bps']!, c.reason);
    assert.match(result.missing['net_tx_bps']!, c.reason);
    assert.equal(result.readings.net?.length, c.rows);
    for (const row of result.readings.net ?? []) assert.deepEqual(Object.keys(row), ['name']);
    assertValidSample(result);
  });
}

test('parseNetPair: recorded net_dev_t0 -> t1 of this VM', () => {
  const result = parseNetPair(at(0, parseNetDev(text('net_dev_t0.txt'))), at(1000, parseNetDev(text('net_dev_t1.txt'))));
  assert.deepEqual(result.readings.net?.map((r) => r.name), ['eth0', 'ifb0', 'ifb1']);
  for (const row of result.readings.net ?? []) assert.ok(row.rx_bps !== undefined && row.rx_bps >= 0);
  assertValidSample(result);
});

test('parseNetPair: names are cleaned and bounded', () => {
  const line = (n: string, b: number): string => `${n}: ${b} 1 0 0 0 0 0 0 ${b} 1 0 0 0 0 0 0`;
  const evil = `ev\u202eil${'x'.repeat(100)}`;
  const result = parseNetPair(at(0, parseNetDev(line(evil, 1))), at(1000, parseNetDev(line(evil, 2))));
  const name = result.readings.net?.[0]?.name ?? '';
  assert.ok(Buffer.byteLength(name) <= 64 && !name.includes('\u202e'), name);
  assertValidSample(result);
});

test('collector: first call has rates after a short wait', async () => {
  const snaps = [H0, H1];
  const result = await createNetworkCollector(() => snaps.shift() ?? H1, 20).collect();
  assert.ok(result.readings.net_rx_bps !== undefined && result.readings.net_rx_bps > 0);
});

test('networkCollector on this machine', { skip: existsSync('/proc/net/dev') ? false : 'no /proc/net/dev (not Linux)' }, async () => {
  assert.ok(!readNetSnapshot().has('lo'));
  const result = await networkCollector.collect();
  for (const n of networkCollector.provides) assert.ok(result.readings[n] !== undefined || result.missing[n] !== undefined, n);
  const names = result.readings.net?.map((r) => r.name) ?? [];
  assert.deepEqual(names, [...names].sort());
  assertValidSample(result);
});
