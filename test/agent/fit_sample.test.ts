import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitSample, fitSampleSized, SENT_ROWS } from '../../agent/fit_sample.ts';
import { encodeFrame } from '../../shared/frame_codec.ts';
import { parseSample } from '../../shared/protocol.ts';

const iface = (i: number) => ({ name: `veth${String(i).padStart(5, '0')}`, rx_bps: i, tx_bps: i, rx_pps: 1, tx_pps: 1, rx_errs_ps: 0, tx_errs_ps: 0, rx_drops_ps: 0, tx_drops_ps: 0 });
const mount = (i: number, len = 40) => ({ mount: `/var/lib/containers/${'x'.repeat(len)}/${i}`, type: 'ext4', size_bytes: 1e9, used_bytes: 1e8, free_bytes: 9e8 });

test('a small sample passes unchanged', () => {
  const body = { ts: 1, cpu_pct: 5, net: [iface(1)], fs: [mount(1)] };
  assert.deepEqual(fitSample(body), body);
});

test('tables are cut to SENT_ROWS with the rest counted in truncated, and the sample stays valid', () => {
  const body = { ts: 1, net: Array.from({ length: 900 }, (_, i) => iface(i)), fs: Array.from({ length: 70 }, (_, i) => mount(i)) };
  const out = fitSample(body);
  assert.equal((out['net'] as unknown[]).length, SENT_ROWS.net);
  assert.equal((out['fs'] as unknown[]).length, SENT_ROWS.fs);
  assert.deepEqual(out['truncated'], { net: 900 - SENT_ROWS.net, fs: 70 - SENT_ROWS.fs });
  const parsed = parseSample({ type: 'sample', seq: 1, ...out });
  assert.deepEqual(parsed.truncated, { net: 900 - SENT_ROWS.net, fs: 70 - SENT_ROWS.fs });
});

test('a sample still over the frame limit leaves out whole tables, largest first, each named in missing', () => {
  // 64 mounts of ~500 bytes each: ~33 KB of fs alone; with a 16 KiB limit fs must go, net may stay.
  const body = { ts: 1, cpu_pct: 7, fs: Array.from({ length: 64 }, (_, i) => mount(i, 460)), net: [iface(1)], missing: { gpu: 'no GPU found' } };
  const limit = 16 * 1024;
  const out = fitSample(body, limit);
  assert.equal(out['fs'], undefined);
  assert.ok(Array.isArray(out['net']), 'the small table is kept');
  assert.match((out['missing'] as Record<string, string>)['fs']!, /16384-byte frame limit/);
  assert.equal((out['missing'] as Record<string, string>)['gpu'], 'no GPU found', 'earlier reasons kept');
  assert.ok(encodeFrame({ type: 'sample', seq: 123456, ...out }).length <= limit);
  assert.equal(out['cpu_pct'], 7);
});

test('fitSampleSized: frameBytes is the size of the result\'s frame with seq 0, as the sample buffer counts it', () => {
  const small = { ts: 1, cpu_pct: 5, net: [iface(1)] };
  const big = { ts: 1, fs: Array.from({ length: 64 }, (_, i) => mount(i, 900)), net: [iface(1)] };
  for (const [name, body, max] of [['small', small, undefined], ['cut to fit', big, 8192]] as const) {
    const { body: out, frameBytes } = fitSampleSized(body, max);
    assert.deepEqual(out, fitSample(body, max), name);
    assert.equal(frameBytes, encodeFrame({ type: 'sample', seq: 0, ...out }).length, name);
  }
});
