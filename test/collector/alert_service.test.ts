/**
 * Alerts end to end in a real collector: a real agent connection over loopback sends samples,
 * the collector's rules fire and resolve, a real local HTTP receiver gets the webhooks, and the
 * dashboard worker serves them in /api/alerts and /api/hosts. A receiver that never answers
 * must not slow ingestion.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAlertRules } from '../../collector/alert_rules.ts';
import { ALERT_SLICES, AlertService } from '../../collector/alert_service.ts';
import { startCollector, type RunningCollector } from '../../collector/app.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { helpText, loadConfig } from '../../shared/config.ts';
import { hostView } from '../../shared/host_view.ts';
import { createLogger } from '../../shared/log.ts';
import { parseSample, PROTO_VERSION } from '../../shared/protocol.ts';
import { closeServer, listenLoopback } from '../helpers/http_client.ts';
import { getJson, RawClient, waitFor } from '../helpers/net.ts';

const TOKEN = 'alert-test-token';

interface Received {
  body: { status: string; alert: Record<string, unknown>; collector: { version: string }; sent_at_ms: number };
  headers: IncomingMessage['headers'];
  atMs: number;
}

/** A webhook receiver on loopback; `hang` makes it never answer. */
async function receiver(t: { after: (fn: () => unknown) => void }, hang = false): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      got.push({ body: JSON.parse(body), headers: req.headers, atMs: Date.now() });
      if (!hang) res.end('ok');
    });
  });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  return { url: `${base}/hook?secret=s3`, got, server };
}

async function collector(t: { after: (fn: () => unknown) => void }, extra: string[]): Promise<RunningCollector> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-alerts-'));
  const config = loadConfig(COLLECTOR_SETTINGS, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dir, '--token', TOKEN, '--save-interval-s', '0', ...extra], {}).config;
  const c = await startCollector(config, createLogger('test', 'error'));
  t.after(async () => {
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return c;
}

async function agent(c: RunningCollector, host: string): Promise<RawClient> {
  const a = await RawClient.open(c.agentAddress.port);
  a.send({ type: 'hello', proto: PROTO_VERSION, host, agent: 'test', token: TOKEN, interval_ms: 1000 });
  await a.next('welcome');
  return a;
}

function sample(seq: number, cpu: number, fsUsedPct?: number): Record<string, unknown> {
  return {
    type: 'sample', seq, ts: Date.now(), cpu_pct: cpu, mem_total_bytes: 1000, mem_used_bytes: 500, mem_available_bytes: 500,
    ...(fsUsedPct === undefined ? {} : { fs: [{ mount: '/data', type: 'ext4', size_bytes: 100, used_bytes: fsUsedPct, free_bytes: 100 - fsUsedPct }] }),
  };
}

test('alerts: a rule fires and resolves, the webhook gets both in order, the dashboard shows it', async (t) => {
  const hook = await receiver(t);
  const c = await collector(t, ['--alerts', 'cpu_hot: cpu_pct > 50; disk_full: fs_used_pct >= 90; filesystem_full: off', '--webhooks', hook.url]);
  const a = await agent(c, 'web-1');
  t.after(() => a.close());
  a.send(sample(1, 80, 95));
  await waitFor('two firing webhooks', () => hook.got.filter((r) => r.body.status === 'firing').length === 2, 5000);
  const firing = hook.got.find((r) => r.body.alert['rule'] === 'cpu_hot')!;
  assert.equal(firing.body.alert['host'], 'web-1');
  assert.equal(firing.body.alert['value'], 80);
  assert.equal(firing.body.alert['threshold'], 50);
  assert.equal(firing.body.alert['state'], 'firing');
  assert.match(String(firing.headers['content-type']), /^application\/json/);
  assert.match(String(firing.headers['user-agent']), /^cluster-sentinel\//);
  const disk = hook.got.find((r) => r.body.alert['rule'] === 'disk_full')!;
  assert.equal(disk.body.alert['instance'], '/data');

  const base = c.url.replace(/\/$/, '');
  const alerts = await waitFor('/api/alerts lists both', async () => {
    const p = await getJson<{ rules: Array<{ name: string }>; alerts: Array<{ rule: string; state: string }> }>(`${base}/api/alerts`);
    return p.alerts.length === 2 ? p : null;
  });
  assert.deepEqual(alerts.rules.map((r) => r.name).slice(-2), ['cpu_hot', 'disk_full']);
  assert.ok(alerts.rules.some((r) => r.name === 'host_offline'), 'the defaults stay unless turned off');
  const hosts = await getJson<{ summary: { alerts_firing: number }; thresholds: { fs_used_pct: number | null }; hosts: Array<{ name: string; alerts: Array<{ rule: string }> }> }>(`${base}/api/hosts`);
  assert.equal(hosts.summary.alerts_firing, 2);
  assert.deepEqual(hosts.hosts[0]!.alerts.map((x) => x.rule).sort(), ['cpu_hot', 'disk_full']);

  a.send(sample(2, 10, 95));
  const resolved = await waitFor('resolved webhook', () => hook.got.find((r) => r.body.status === 'resolved'), 5000);
  assert.equal(resolved.body.alert['rule'], 'cpu_hot');
  assert.equal(typeof resolved.body.alert['resolved_at_ms'], 'number');
  // Firing came before resolved for the same alert.
  const order = hook.got.filter((r) => r.body.alert['rule'] === 'cpu_hot').map((r) => r.body.status);
  assert.deepEqual(order, ['firing', 'resolved']);
  // Webhook URLs carry secrets in their query strings: they must not appear in the feed.
  assert.ok(!JSON.stringify(await getJson(`${base}/api/alerts`)).includes('s3'));
});

test('alerts: host offline fires after its threshold and resolves on reconnect', async (t) => {
  const hook = await receiver(t);
  const c = await collector(t, ['--alerts', 'host_offline: offline_s > 1', '--webhooks', hook.url]);
  const a = await agent(c, 'db-1');
  a.send(sample(1, 5));
  await waitFor('first sample', () => c.store.readAll().some((s) => hostView(s, Date.now()).sample_seq === 1));
  const leftAt = Date.now();
  a.close();
  const fired = await waitFor('offline alert', () => hook.got.find((r) => r.body.status === 'firing' && r.body.alert['rule'] === 'host_offline'), 6000);
  // offline_s > 1 is true from the second after it left, seen by the next once-a-second evaluation.
  assert.ok(fired.atMs - leftAt >= 1000, `fired ${fired.atMs - leftAt} ms after the host left`);
  const b = await agent(c, 'db-1');
  t.after(() => b.close());
  await waitFor('resolved on reconnect', () => hook.got.find((r) => r.body.status === 'resolved' && r.body.alert['rule'] === 'host_offline'), 5000);
});

test('alerts: a webhook receiver that never answers does not slow ingestion', async (t) => {
  const hook = await receiver(t, true);
  const c = await collector(t, ['--alerts', 'cpu_hot: cpu_pct > 50', '--webhooks', hook.url, '--webhook-timeout-ms', '60000']);
  const a = await agent(c, 'busy-1');
  t.after(() => a.close());
  a.send(sample(1, 99));
  await waitFor('the hung delivery started', () => hook.got.length === 1, 5000);
  // Flip the alert back and forth while the receiver hangs: every sample still lands at once.
  const n = 200;
  const start = Date.now();
  for (let seq = 2; seq <= n; seq++) a.send(sample(seq, seq % 2 ? 99 : 1));
  await waitFor(`sample ${n} stored`, () => c.store.readAll().some((s) => hostView(s, Date.now()).sample_seq === n), 5000);
  const tookMs = Date.now() - start;
  t.diagnostic(`${n - 1} samples stored in ${tookMs} ms with a webhook hanging`);
  assert.ok(tookMs < 3000, `ingestion took ${tookMs} ms`);
  assert.equal(c.webhooks!.stats().delivered, 0);
});

test('alerts: --alerts errors name the setting and the rule; defaults are listed in --help', () => {
  assert.throws(() => loadConfig(COLLECTOR_SETTINGS, ['--alerts', 'x: nope > 1'], {}), (err: Error & { code?: string }) => err.code === 'SENTINEL_CONFIG_INVALID' && /--alerts/.test(err.message));
  assert.throws(() => loadConfig(COLLECTOR_SETTINGS, ['--webhooks', 'ftp://x/'], {}), (err: Error & { code?: string }) => err.code === 'SENTINEL_CONFIG_INVALID' && /--webhooks/.test(err.message));
  const off = loadConfig(COLLECTOR_SETTINGS, ['--alerts', 'cpu_high: off'], {}).config;
  assert.ok(!off.alerts.some((r) => r.name === 'cpu_high'));
  const env = loadConfig(COLLECTOR_SETTINGS, [], { SENTINEL_ALERTS: 'cpu_high: cpu_pct > 97 for 2m' }).config;
  assert.deepEqual(env.alerts.find((r) => r.name === 'cpu_high'), { name: 'cpu_high', metric: 'cpu_pct', op: '>', threshold: 97, forMs: 120_000 });
  const help = helpText('usage', COLLECTOR_SETTINGS);
  assert.match(help, /default: cpu_high: cpu_pct > 90 for 5m; memory_high: mem_used_pct > 90 for 1m;/);
  assert.match(help, /SENTINEL_WEBHOOKS; default: \(none\)/);
});

test('AlertService: a host restored offline is offline only since this collector started (no page on restart)', () => {
  const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
  let now = T0;
  const svc = new AlertService({
    rules: parseAlertRules('host_offline: offline_s > 60', []),
    // Last seen an hour before this collector started (its state file said so).
    hosts: () => [{ name: 'restored', connected: false, lastSeenMs: T0 - 3_600_000, intervalMs: 1000 }],
    notifier: null, publish: () => {}, log: createLogger('test', 'error'), now: () => now,
  });
  now = T0 + 1000;
  assert.deepEqual(svc.evaluate().map((t) => t.status), [], 'one second after start: not an hour offline');
  now = T0 + 60_000;
  assert.deepEqual(svc.evaluate(), []);
  now = T0 + 61_000;
  const fired = svc.evaluate();
  assert.deepEqual(fired.map((t) => `${t.status} ${t.alert.rule}`), ['firing host_offline']);
  assert.equal(fired[0]!.alert.value, 61);
});

test('AlertService: a connected host that went silent (stale) is not judged on its frozen last sample', () => {
  const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
  let now = T0;
  let lastSeenMs = T0;
  const svc = new AlertService({
    rules: parseAlertRules('cpu_high: cpu_pct > 90 for 10s', []),
    hosts: () => [{ name: 'h', connected: true, lastSeenMs, intervalMs: 1000 }],
    notifier: null, publish: () => {}, log: createLogger('test', 'error'), now: () => now,
  });
  svc.observe('h', parseSample({ type: 'sample', seq: 1, ts: T0, cpu_pct: 99 }));
  assert.deepEqual(svc.evaluate(), []);
  assert.equal(svc.engine.active()[0]?.state, 'pending');
  // No sample for 20 s: stale after 3 intervals; the pending alert must not fire on the old 99 %.
  now = T0 + 20_000;
  assert.deepEqual(svc.evaluate(), []);
  assert.deepEqual(svc.engine.active(), []);
  // Samples again: pending from now, firing 10 s later.
  lastSeenMs = now;
  svc.observe('h', parseSample({ type: 'sample', seq: 2, ts: now, cpu_pct: 99 }));
  assert.deepEqual(svc.evaluate(), []);
  now += 10_000;
  lastSeenMs = now;
  assert.deepEqual(svc.evaluate().map((t) => `${t.status} ${t.alert.rule}`), ['firing cpu_high']);
});

test('AlertService.evaluateSlice: a round of ALERT_SLICES ticks gives each host once, a share each tick; hosts gone by the round\'s end resolve', () => {
  const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
  let now = T0;
  // A live Map, as HostTable's: hosts may leave in the middle of a round.
  const table = new Map<string, { name: string; connected: boolean; lastSeenMs: number; intervalMs: number }>();
  for (let i = 0; i < 25; i++) table.set(`h${i}`, { name: `h${i}`, connected: true, lastSeenMs: T0, intervalMs: 1000 });
  const published: number[] = [];
  const svc = new AlertService({
    rules: parseAlertRules('cpu_high: cpu_pct > 90', []),
    hosts: () => table.values(), hostCount: () => table.size,
    notifier: null, publish: (f) => published.push(f.alerts.length), log: createLogger('test', 'error'), now: () => now,
  });
  for (const name of table.keys()) svc.observe(name, parseSample({ type: 'sample', seq: 1, ts: T0, cpu_pct: 99 }));
  // 25 hosts in 10 slices: 3 a tick, so the 9th tick gives the last one and, finding none after
  // it, ends the round; the 10th begins the next.
  const perTick: string[][] = [];
  for (let k = 0; k < ALERT_SLICES; k++) {
    now += 100;
    perTick.push(svc.evaluateSlice().map((t) => `${t.status} ${t.alert.host}`));
  }
  assert.deepEqual(perTick.map((p) => p.length), [3, 3, 3, 3, 3, 3, 3, 3, 1, 0]);
  assert.equal(new Set(perTick.flat()).size, 25, 'every host fired once');
  assert.ok(published.length >= 1 && published.at(-1) === 25, 'the dashboard told at the round\'s end');
  // In the round under way, h20 leaves before its turn: it resolves when the round ends; the
  // rest stay firing.
  table.delete('h20');
  let resolved: string[] = [];
  for (let k = 1; k < ALERT_SLICES; k++) {
    now += 100;
    resolved = resolved.concat(svc.evaluateSlice().map((t) => `${t.status} ${t.alert.host}`));
  }
  assert.deepEqual(resolved, ['resolved h20']);
  assert.equal(svc.engine.active().length, 24);
  // Without hostCount, a tick is a whole round.
  const whole = new AlertService({
    rules: parseAlertRules('cpu_high: cpu_pct > 90', []), hosts: () => table.values(),
    notifier: null, publish: () => {}, log: createLogger('test', 'error'), now: () => now,
  });
  for (const name of table.keys()) whole.observe(name, parseSample({ type: 'sample', seq: 1, ts: T0, cpu_pct: 99 }));
  assert.equal(whole.evaluateSlice().length, 24);
});
