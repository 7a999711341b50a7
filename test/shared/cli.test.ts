/** shared/cli.ts: what a reload applies, what it names for a restart, and a refused reload. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGENT_SETTINGS } from '../../agent/settings.ts';
import { COLLECTOR_SETTINGS } from '../../collector/settings.ts';
import { planReload, reloadOnHangup } from '../../shared/cli.ts';
import { loadConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';

const collector = (...argv: string[]) => loadConfig(COLLECTOR_SETTINGS, argv, {}).config;

test('planReload: changed settings split into applied and restart-only; equal objects are no change', () => {
  const a = collector('--listen', '127.0.0.1:1');
  const same = planReload(COLLECTOR_SETTINGS, a, collector('--listen', '127.0.0.1:1'));
  assert.deepEqual([same.apply, same.restart], [[], []], 'a fresh but equal host:port object is no change');
  const p = planReload(COLLECTOR_SETTINGS, a, collector('--listen', '127.0.0.1:2', '--log-level', 'debug', '--token', 'x', '--capacity', '9'));
  assert.deepEqual(p.apply.sort(), ['logLevel', 'token']);
  assert.deepEqual(p.restart.sort(), ['capacity', 'listen']);
  // Every agent setting reloads (the agent restarts its loop in place).
  const agent = (...argv: string[]) => loadConfig(AGENT_SETTINGS, ['--collector', 'h:1', '--token', 't', ...argv], {}).config;
  const q = planReload(AGENT_SETTINGS, agent(), agent('--name', 'other', '--interval', '2000', '--log-format', 'json'));
  assert.deepEqual(q.apply.sort(), ['intervalMs', 'logFormat', 'name']);
  assert.deepEqual(q.restart, []);
});

test('reloadOnHangup: applies, refuses a bad resolution, keeps restart-only settings as they run, never overlaps', async () => {
  const lines: string[] = [];
  const log = createLogger('test', 'info', (l) => lines.push(l));
  let next: () => ReturnType<typeof collector> = () => collector('--log-level', 'debug');
  const applied: string[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const reload = reloadOnHangup(COLLECTOR_SETTINGS, log, collector(), async (plan) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, 20));
    applied.push(plan.apply);
    inFlight--;
  }, () => next());
  await reload();
  assert.deepEqual(applied, [['logLevel']]);
  assert.match(lines.at(-1)!, /reloaded applied=log-level/);

  next = () => { throw new ConfigError('c.json', 'not valid JSON'); };
  await reload();
  assert.deepEqual(applied.length, 1, 'nothing applied');
  assert.match(lines.at(-1)!, /error test reload refused; the running settings stay error="c.json: not valid JSON"/);

  // Restart-only changes are named each time and never applied.
  next = () => collector('--log-level', 'debug', '--capacity', '9');
  await reload();
  assert.deepEqual(applied.at(-1), []);
  assert.ok(lines.some((l) => /warn  test reload: these settings changed but need a restart settings=capacity/.test(l)));

  // Three signals at once: one runs, one more runs after it, none overlap.
  next = () => collector('--log-level', 'warn');
  const before = applied.length;
  await Promise.all([reload(), reload(), reload()]);
  assert.equal(maxInFlight, 1);
  assert.equal(applied.length - before, 2);
  assert.deepEqual(applied[before], ['logLevel']);
  assert.deepEqual(applied[before + 1], [], 'the second saw the level already applied');
});
