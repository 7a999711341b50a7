import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSample } from '../../../shared/protocol.ts';
import { parseUptime, uptimeCollector } from '../../../agent/collectors/uptime.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.equal(sample[name as keyof typeof sample], value);
}

const CASES: ReadonlyArray<{ name: string; uptimeS: unknown; want?: number }> = [
  { name: 'recorded from /proc/uptime (313.64)', uptimeS: 313.64, want: 313 },
  { name: 'rounds down, never ahead of the clock', uptimeS: 59.999, want: 59 },
  { name: 'just booted', uptimeS: 0, want: 0 },
  { name: 'a year', uptimeS: 31_557_600, want: 31_557_600 },
  { name: 'negative', uptimeS: -1 },
  { name: 'NaN', uptimeS: Number.NaN },
  { name: 'Infinity', uptimeS: Number.POSITIVE_INFINITY },
  { name: 'above 2^53', uptimeS: 2 ** 60 },
  { name: 'string', uptimeS: '5' },
];

for (const c of CASES) {
  test(`parseUptime: ${c.name}`, () => {
    const result = parseUptime(c.uptimeS);
    if (c.want === undefined) {
      assert.deepEqual(result.readings, {});
      assert.match(result.missing['uptime_s'] ?? '', /^os\.uptime\(\) gave /);
    } else {
      assert.deepEqual(result, { readings: { uptime_s: c.want }, missing: {} });
    }
    assertValidSample(result);
  });
}

test('uptimeCollector on this machine gives whole seconds since boot', async () => {
  const result = await uptimeCollector.collect();
  const uptimeS = result.readings.uptime_s;
  if (uptimeS === undefined) assert.ok(result.missing['uptime_s']);
  else assert.ok(Number.isInteger(uptimeS) && uptimeS >= 0, `uptime_s ${uptimeS}`);
  assertValidSample(result);
});
