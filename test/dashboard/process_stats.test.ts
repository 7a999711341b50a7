/** dashboard/process_stats.ts: the open-file limit parsed, and this process's own figures read for real. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { metricsText } from '../../dashboard/metrics.ts';
import { maxOpenFiles, readProcessStats } from '../../dashboard/process_stats.ts';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
`;

test('maxOpenFiles: the soft limit, or null', () => {
  assert.equal(maxOpenFiles(LIMITS), 20000);
  assert.equal(maxOpenFiles(LIMITS.replace('20000                20000', 'unlimited            unlimited')), null);
  assert.equal(maxOpenFiles(''), null);
});

test('readProcessStats: this process, as /proc sees it; written under the client libraries\' names', () => {
  const p = readProcessStats();
  assert.ok(p.cpuSeconds > 0);
  assert.ok(p.residentBytes > 2 ** 20);
  if (process.platform === 'linux') {
    const now = readdirSync('/proc/self/fd').length - 1;
    assert.ok(Math.abs(p.openFds! - now) <= 2, `open files ${p.openFds} vs ${now}`);
    assert.ok(p.maxFds! >= p.openFds!);
  }
  const text = metricsText([], Date.now(), null, { currency: null, process: { cpuSeconds: 1.5, residentBytes: 1024, openFds: 7, maxFds: null } });
  assert.match(text, /# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1\.5\n/);
  assert.match(text, /\nprocess_resident_memory_bytes 1024\n/);
  assert.match(text, /\nprocess_open_fds 7\n/);
  assert.doesNotMatch(text, /process_max_fds/, 'an unknown limit is left out, not written as 0');
  assert.doesNotMatch(metricsText([], Date.now(), null, { currency: null }), /process_/);
});
