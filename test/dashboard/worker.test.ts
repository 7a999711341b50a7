import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DashboardSupervisor, type DashboardOptions } from '../../collector/dashboard_supervisor.ts';
import type { HostsPayload } from '../../dashboard/api.ts';
import type { HostView } from '../../shared/host_view.ts';
import { createLogger } from '../../shared/log.ts';
import { httpRequest } from '../helpers/http_client.ts';
import { waitFor } from '../helpers/net.ts';
import { FIXTURE_READINGS, makeStore } from '../helpers/store_fixture.ts';

/** The worker loads TypeScript through tsx on start, which takes a while on a busy machine, ms. */
const START_DEADLINE_MS = 15_000;
/** The supervisor waits 100 ms, then the new worker boots and binds: about 2 s is the promise, ms. */
// Typically back in ~0.35 s; generous for a loaded 2-core machine running browsers beside it.
const RESTART_DEADLINE_MS = 10_000;
/** A write in the main thread must show up on the next request, ms. */
const LIVE_DEADLINE_MS = 5000;
/** Long enough that the hosts stay online however slow the run is, ms. */
const INTERVAL_MS = 60_000;

async function getHosts(base: string): Promise<HostsPayload> {
  const res = await httpRequest(`${base}/api/hosts`, { timeoutMs: 1000 });
  assert.equal(res.status, 200);
  return JSON.parse(res.body) as HostsPayload;
}

/** The readings of a host, without the fields that move with the clock. */
function readingsOf(h: HostView): Partial<HostView> {
  const { age_ms: _age, status: _status, ...rest } = h;
  return rest;
}

test('dashboard worker: serves shared memory live and survives being killed', async (t) => {
  const fixture = makeStore([{ name: 'before-start', status: 'online', intervalMs: INTERVAL_MS }]);
  const logLines: string[] = [];
  const supervisor = new DashboardSupervisor(
    { buffer: fixture.store.buffer as SharedArrayBuffer, host: '127.0.0.1', port: 0 },
    createLogger('test-dashboard', 'info', (line) => logLines.push(line)),
  );
  t.after(() => supervisor.stop());

  const addr = await Promise.race([
    supervisor.start(),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`worker not listening after ${START_DEADLINE_MS} ms`)), START_DEADLINE_MS).unref()),
  ]);
  assert.equal(addr.host, '127.0.0.1');
  assert.ok(addr.port > 0);
  const base = `http://127.0.0.1:${addr.port}`;

  await t.test('healthz answers from the worker thread', async () => {
    const res = await httpRequest(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { ok: true, capacity: 16, slots_used: 1 });
  });

  await t.test('hosts written by the main thread after the start show up', async () => {
    assert.deepEqual((await getHosts(base)).hosts.map((h) => h.name), ['before-start']);
    fixture.add({ name: 'late-1', status: 'online', intervalMs: INTERVAL_MS });
    fixture.add({ name: 'late-2', status: 'offline', intervalMs: INTERVAL_MS });
    const payload = await waitFor('late hosts in /api/hosts', async () => {
      const p = await getHosts(base);
      return p.summary.hosts === 3 ? p : null;
    }, LIVE_DEADLINE_MS);
    assert.deepEqual(payload.hosts.map((h) => [h.name, h.status]), [['before-start', 'online'], ['late-1', 'online'], ['late-2', 'offline']]);
    assert.equal(payload.hosts[1]!.cpu_pct, FIXTURE_READINGS.cpu_pct);

    // A new reading for a host already listed replaces the old one.
    fixture.sample('late-1', { ...FIXTURE_READINGS, cpu_pct: 7.25 });
    await waitFor('the new cpu_pct of late-1', async () => {
      const h = (await getHosts(base)).hosts.find((x) => x.name === 'late-1');
      return h?.cpu_pct === 7.25 && h.samples_total === 2;
    }, LIVE_DEADLINE_MS);
  });

  await t.test('a killed worker is restarted on the same port and loses no reading', async (st) => {
    const before = await getHosts(base);
    const worker = supervisor.current;
    assert.ok(worker, 'a worker is running');
    const killedAt = Date.now();
    await worker.terminate();
    // Ingestion goes on while no worker runs: this reading is written with the dashboard down.
    fixture.sample('late-1', { ...FIXTURE_READINGS, cpu_pct: 66.5 });
    // The old worker's server went with it: no answer until the new one listens.
    const after = await waitFor('the restarted worker on the same port', async () => {
      if (supervisor.restarts !== 1 || supervisor.current === worker) return null;
      return getHosts(base);
    }, RESTART_DEADLINE_MS);
    const restartMs = Date.now() - killedAt;
    st.diagnostic(`worker back after ${restartMs} ms`);
    assert.equal(supervisor.restarts, 1);
    assert.notEqual(supervisor.current, worker);
    const counts = (p: HostsPayload): unknown => [p.summary.hosts, p.summary.online, p.summary.stale, p.summary.offline];
    assert.deepEqual(counts(after), counts(before));
    const lateAfter = after.hosts.find((h) => h.name === 'late-1')!;
    assert.equal(lateAfter.cpu_pct, 66.5, 'the reading written while the worker was down is served');
    assert.equal(lateAfter.samples_total, 3);
    // Every other reading is as it was before the kill.
    const others = (p: HostsPayload): unknown[] => p.hosts.filter((h) => h.name !== 'late-1').map(readingsOf);
    assert.deepEqual(others(after), others(before));
    assert.ok(logLines.some((l) => l.includes('dashboard worker exited; restarting')), logLines.join(''));
    // The restarted worker still reads shared memory live.
    fixture.add({ name: 'after-restart', status: 'online', intervalMs: INTERVAL_MS });
    await waitFor('a host added after the restart', async () => (await getHosts(base)).summary.hosts === 4, LIVE_DEADLINE_MS);
  });

  await t.test('stop ends the worker for good', async () => {
    const worker = supervisor.current;
    assert.ok(worker);
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    await supervisor.stop();
    await exited;
    assert.equal(supervisor.current, null);
    await assert.rejects(httpRequest(`${base}/healthz`, { timeoutMs: 1000 }), /ECONNREFUSED|ECONNRESET|socket hang up/);
    assert.equal(supervisor.restarts, 1, 'no restart after stop');
  });
});

for (const fault of ['throw', 'oom'] as const) {
  test(`dashboard worker: one that ${fault === 'oom' ? 'runs out of memory' : 'throws'} is restarted; ingestion and readings are untouched`, async (t) => {
    const fixture = makeStore([{ name: 'steady', status: 'online', intervalMs: INTERVAL_MS }]);
    const markerDir = mkdtempSync(join(tmpdir(), 'sentinel-fault-'));
    t.after(() => rmSync(markerDir, { recursive: true, force: true }));
    const marker = join(markerDir, 'fired');
    const logLines: string[] = [];
    const supervisor = new DashboardSupervisor(
      {
        buffer: fixture.store.buffer as SharedArrayBuffer, host: '127.0.0.1', port: 0,
        workerUrl: new URL('../fixtures/workers/faulty_dashboard.mjs', import.meta.url),
        resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
        ...{ fault, marker },
      } as DashboardOptions,
      createLogger('test-dashboard', 'info', (line) => logLines.push(line)),
    );
    t.after(() => supervisor.stop());
    const addr = await supervisor.start();
    const base = `http://127.0.0.1:${addr.port}`;
    const faultAt = Date.now();
    // The main thread keeps writing while the worker fails and comes back.
    let n = 0;
    const writer = setInterval(() => fixture.sample('steady', { ...FIXTURE_READINGS, cpu_pct: ++n }), 20);
    try {
      await waitFor('the worker to fail and be restarted', () => supervisor.restarts === 1, RESTART_DEADLINE_MS + 5000);
      const back = await waitFor('the restarted worker to answer', async () => getHosts(base).catch(() => null), RESTART_DEADLINE_MS);
      t.diagnostic(`${fault}: worker back ${Date.now() - faultAt} ms after the fault was armed`);
      assert.ok(back.hosts[0]!.cpu_pct! >= 1, 'readings are served');
    } finally {
      clearInterval(writer);
    }
    const last = n;
    await waitFor('the last reading', async () => (await getHosts(base)).hosts[0]!.cpu_pct === last, LIVE_DEADLINE_MS);
    assert.equal((await getHosts(base)).hosts[0]!.samples_total, last + 1, 'no sample was lost while the worker was down');
    const exitLine = logLines.find((l) => l.includes('dashboard worker'));
    assert.ok(exitLine, logLines.join(''));
    if (fault === 'oom') assert.ok(logLines.some((l) => /ERR_WORKER_OUT_OF_MEMORY|out of memory/i.test(l)), logLines.join(''));
  });
}
