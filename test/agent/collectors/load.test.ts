import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSample } from '../../../shared/protocol.ts';
import { loadCollector, parseLoad } from '../../../agent/collectors/load.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.equal(sample[name as keyof typeof sample], value);
}

const WINDOWS_REASON = 'load average not available on Windows';

const CASES: ReadonlyArray<{ name: string; loadavg: readonly unknown[]; platform: string; want: CollectResult }> = [
  {
    name: 'recorded from /proc/loadavg (0.02 0.15 0.08)',
    loadavg: [0.02, 0.15, 0.08],
    platform: 'linux',
    want: { readings: { load_1m: 0.02, load_5m: 0.15, load_15m: 0.08 }, missing: {} },
  },
  {
    name: 'busy host above the core count',
    loadavg: [17.5, 9.01, 4],
    platform: 'darwin',
    want: { readings: { load_1m: 17.5, load_5m: 9.01, load_15m: 4 }, missing: {} },
  },
  {
    name: 'idle Linux host reports real zeros',
    loadavg: [0, 0, 0],
    platform: 'linux',
    want: { readings: { load_1m: 0, load_5m: 0, load_15m: 0 }, missing: {} },
  },
  {
    name: 'Windows zeros are not measurements',
    loadavg: [0, 0, 0],
    platform: 'win32',
    want: { readings: {}, missing: { load_1m: WINDOWS_REASON, load_5m: WINDOWS_REASON, load_15m: WINDOWS_REASON } },
  },
  {
    name: 'bad values cost only their own reading',
    loadavg: [1.5, Number.NaN, -1],
    platform: 'linux',
    want: { readings: { load_1m: 1.5 }, missing: { load_5m: 'os.loadavg() gave NaN', load_15m: 'os.loadavg() gave -1' } },
  },
  {
    name: 'short array',
    loadavg: [],
    platform: 'linux',
    want: {
      readings: {},
      missing: { load_1m: 'os.loadavg() gave absent', load_5m: 'os.loadavg() gave absent', load_15m: 'os.loadavg() gave absent' },
    },
  },
];

for (const c of CASES) {
  test(`parseLoad: ${c.name}`, () => {
    const result = parseLoad(c.loadavg, c.platform);
    assert.deepEqual(result, c.want);
    assertValidSample(result);
  });
}

test('loadCollector on this machine gives all three averages or the reasons', async () => {
  const result = await loadCollector.collect();
  for (const name of loadCollector.provides) {
    assert.ok(result.readings[name] !== undefined || result.missing[name] !== undefined, name);
  }
  assertValidSample(result);
});
