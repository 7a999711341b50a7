/**
 * /metrics on real output: a real collector, this machine's real agent as a child process, one
 * broken connection for the rejection counters, and the scrape checked by Debian's promtool
 * (`promtool check metrics`) and by the project's own parser.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { loadConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/log.ts';
import { PROTO_VERSION } from '../../shared/protocol.ts';
import { RawClient, waitFor } from '../helpers/net.ts';
import { startTs } from '../helpers/procs.ts';
import { parseProm, promtoolCheck, promtoolOrSkip } from '../helpers/prom_parse.ts';

const TOKEN = 'metrics-real-token';
const HOST = 'metrics-real-host';

test('metrics: a real collector with a real agent passes promtool check metrics', { timeout: 90_000 }, async (t) => {
  const promtool = promtoolOrSkip(t);
  if (!promtool) return;
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-metrics-'));
  const config = loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', TOKEN, '--save-interval-s', '0'], {}).config;
  const c = await startCollector(config, createLogger('test', 'error'));
  t.after(async () => {
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // The slow class at once (short interval) so that filesystems are in the scrape.
  const agent = startTs('agent/main.ts', ['--collector', `127.0.0.1:${c.agentAddress.port}`, '--name', HOST, '--slow-interval', '1000', '--log-level', 'error'], { SENTINEL_TOKEN: TOKEN });
  t.after(() => agent.stop());
  // A broken agent: a hello with a wrong token is rejected with its code.
  const bad = await RawClient.open(c.agentAddress.port);
  bad.send({ type: 'hello', proto: PROTO_VERSION, host: 'intruder', agent: 'x', token: 'wrong', interval_ms: 1000 });
  await bad.waitClosed(5000);

  const base = c.url.replace(/\/$/, '');
  const text = await waitFor('a scrape with the agent\'s filesystems', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    return body.includes(`sentinel_filesystem_size_bytes{host="${HOST}"`) && body.includes(`sentinel_cpu_usage_ratio{host="${HOST}"}`) ? body : null;
  }, 40_000, 250);

  const check = promtoolCheck(promtool, text);
  assert.equal(check.status, 0, `promtool check metrics failed:\n${check.output}`);

  const parsed = parseProm(text);
  const value = (name: string, labels: Record<string, string> = {}): number | undefined => parsed.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  assert.equal(value('sentinel_host_up', { host: HOST }), 1);
  assert.equal(value('sentinel_collector_connected_agents'), 1);
  assert.ok((value('sentinel_collector_frames_received_total') ?? 0) > 1);
  assert.equal(value('sentinel_collector_frames_rejected_total', { code: 'SENTINEL_AUTH_FAILED' }), 1);
  // The collector process's own figures, as a real process reports them.
  assert.ok(value('process_cpu_seconds_total')! > 0);
  assert.ok(value('process_resident_memory_bytes')! > 16 * 2 ** 20, 'RSS of a real collector');
  const fds = value('process_open_fds')!;
  assert.ok(fds >= 3, `open files: two listening sockets and the agent's connection at least, got ${fds}`);
  assert.ok(value('process_max_fds')! > fds);
  const ratio = value('sentinel_cpu_usage_ratio', { host: HOST })!;
  assert.ok(ratio >= 0 && ratio <= 1, `cpu ratio ${ratio}`);
  // Every family has HELP and TYPE (promtool would also complain), and every host series is labelled.
  for (const [name, fam] of parsed.families) {
    assert.ok(fam.help, `${name} has HELP`);
    assert.ok(fam.type, `${name} has TYPE`);
  }
  for (const s of parsed.samples) {
    if (!s.name.startsWith('sentinel_collector_') && !s.name.startsWith('process_') && !['sentinel_alerts_firing', 'sentinel_webhook_deliveries_total', 'sentinel_build_info'].includes(s.name)) {
      assert.ok(s.labels['host'], `${s.name} carries host`);
    }
  }
  t.diagnostic(`${parsed.samples.length} samples in ${parsed.families.size} families, ${text.length} bytes`);
});
