/** collector/alerts.ts: the engine, driven second by second through its nowMs argument. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ALERT_RULES, MAX_ALERT_INSTANCES, parseAlertRules, type AlertInputs } from '../../collector/alert_rules.ts';
import { AlertEngine, type AlertTransition, type HostAlertState } from '../../collector/alerts.ts';

const T0 = 1_700_000_000_000;
const S = 1000;

function online(name: string, values: AlertInputs['values'], fs: Array<[string, number]> = []): HostAlertState {
  return { name, inputs: { values, fs: fs.map(([instance, value]) => ({ instance, value })) }, connected: true, disconnectedAtMs: null };
}

/** Brief form of transitions, for table comparisons. */
const brief = (ts: AlertTransition[]): string[] => ts.map((t) => `${t.status} ${t.alert.rule} ${t.alert.host}${t.alert.instance ? ` ${t.alert.instance}` : ''}`);

test('pending, then firing once the condition held for the duration, then resolved', () => {
  const e = new AlertEngine(parseAlertRules('cpu_high: cpu_pct > 90 for 5s', []));
  // [second, cpu_pct, transitions expected, state of the active alert after]
  const steps: Array<[number, number | undefined, string[], string | null]> = [
    [0, 50, [], null],
    [1, 95, [], 'pending'],
    [2, 99, [], 'pending'],
    [5, 97, [], 'pending'],
    [6, 96, ['firing cpu_high h'], 'firing'], // true since second 1: 5 s held
    [7, 93, [], 'firing'],
    [8, 90, ['resolved cpu_high h'], null], // not > 90
    [9, 91, [], 'pending'],
  ];
  for (const [sec, cpu, want, state] of steps) {
    const got = e.evaluate([online('h', cpu === undefined ? {} : { cpu_pct: cpu })], T0 + sec * S);
    assert.deepEqual(brief(got), want, `second ${sec}`);
    assert.equal(e.active()[0]?.state ?? null, state, `state at second ${sec}`);
  }
});

test('the alert and transition JSON: every contract field', () => {
  const e = new AlertEngine(parseAlertRules('cpu_high: cpu_pct >= 90 for 2s', []));
  e.evaluate([online('web-1', { cpu_pct: 92 })], T0);
  assert.deepEqual(e.active(), [{
    rule: 'cpu_high', host: 'web-1', instance: '', metric: 'cpu_pct', op: '>=', threshold: 90, for_s: 2, value: 92,
    state: 'pending', active_since_ms: T0, fired_at_ms: null,
  }]);
  const [fired] = e.evaluate([online('web-1', { cpu_pct: 97 })], T0 + 2 * S);
  assert.deepEqual(fired, {
    status: 'firing', at_ms: T0 + 2 * S,
    alert: { rule: 'cpu_high', host: 'web-1', instance: '', metric: 'cpu_pct', op: '>=', threshold: 90, for_s: 2, value: 97, state: 'firing', active_since_ms: T0, fired_at_ms: T0 + 2 * S },
  });
  const [resolved] = e.evaluate([online('web-1', { cpu_pct: 10 })], T0 + 3 * S);
  assert.deepEqual(resolved, {
    status: 'resolved', at_ms: T0 + 3 * S,
    alert: { ...fired!.alert, value: 10, state: 'resolved', resolved_at_ms: T0 + 3 * S },
  });
});

test('flapping within the duration never fires; a missing value counts as false', () => {
  const e = new AlertEngine(parseAlertRules('cpu_high: cpu_pct > 90 for 3s', []));
  const pattern = [95, 95, 95, 50, 95, 95, 95, undefined, 95, 95, 95, 80];
  pattern.forEach((cpu, sec) => {
    const got = e.evaluate([online('h', cpu === undefined ? {} : { cpu_pct: cpu })], T0 + sec * S);
    assert.deepEqual(got, [], `second ${sec}`);
  });
  assert.equal(e.firingCount(), 0);
  assert.deepEqual(e.active(), []);
});

test('for 0 fires at once; ops < and <=; swap without swap (null) never fires', () => {
  const e = new AlertEngine(parseAlertRules('cold: temp_max_c < 0; low: load_1m <= 0.5; swap: swap_used_pct >= 0', []));
  const got = e.evaluate([online('a', { temp_max_c: -1, load_1m: 0.5, swap_used_pct: null }), online('b', { temp_max_c: 0, load_1m: 0.51 })], T0);
  assert.deepEqual(brief(got), ['firing cold a', 'firing low a']);
  assert.equal(e.firingCount(), 2);
});

test('one alert per filesystem; an unmounted filesystem resolves', () => {
  const e = new AlertEngine(DEFAULT_ALERT_RULES);
  const steps: Array<[number, Array<[string, number]>, string[]]> = [
    [0, [['/', 50], ['/data', 95], ['/var', 91]], ['firing filesystem_full h /data', 'firing filesystem_full h /var']],
    [1, [['/', 92], ['/data', 96], ['/var', 91]], ['firing filesystem_full h /']],
    [2, [['/', 92], ['/data', 80]], ['resolved filesystem_full h /data', 'resolved filesystem_full h /var']],
  ];
  for (const [sec, fs, want] of steps) {
    assert.deepEqual(brief(e.evaluate([online('h', { cpu_pct: 1 }, fs)], T0 + sec * S)), want, `second ${sec}`);
  }
  assert.deepEqual(e.active().map((a) => [a.instance, a.value]), [['/', 92]]);
});

test('host_offline fires after 60 s offline and resolves on reconnect; reading alerts stay while offline', () => {
  const e = new AlertEngine(parseAlertRules('cpu_high: cpu_pct > 90 for 10s; filesystem_full: off; memory_high: off; temperature_high: off'));
  const hot = online('h', { cpu_pct: 99 });
  const off = (atMs: number): HostAlertState => ({ ...hot, connected: false, disconnectedAtMs: atMs });
  assert.deepEqual(brief(e.evaluate([hot], T0)), []);
  assert.deepEqual(brief(e.evaluate([hot], T0 + 10 * S)), ['firing cpu_high h']);
  const down = T0 + 11 * S;
  const steps: Array<[number, HostAlertState, string[]]> = [
    [11, off(down), []],
    [60, off(down), []],
    [71, off(down), []], // 60 s offline: not yet > 60
    [72, off(down), ['firing host_offline h']],
    [100, off(down), []],
    [101, hot, ['resolved host_offline h']],
  ];
  for (const [sec, h, want] of steps) {
    assert.deepEqual(brief(e.evaluate([h], T0 + sec * S)), want, `second ${sec}`);
    if (sec < 101) assert.ok(e.active().some((a) => a.rule === 'cpu_high' && a.state === 'firing'), `cpu_high still firing at second ${sec}`);
  }
  const offline = e.active().find((a) => a.rule === 'host_offline');
  assert.equal(offline, undefined);
  // A pending reading alert does not fire on stale values while offline, and the time offline
  // does not count towards its duration: back online, it starts pending again.
  const e2 = new AlertEngine(parseAlertRules('cpu_high: cpu_pct > 90 for 10s', []));
  e2.evaluate([hot], T0);
  assert.equal(e2.active()[0]?.state, 'pending');
  assert.deepEqual(e2.evaluate([off(T0 + S)], T0 + 30 * S), []);
  assert.deepEqual(e2.active(), [], 'the pending alert is dropped while offline');
  assert.deepEqual(e2.evaluate([hot], T0 + 31 * S), [], 'back online: pending again, not fired at once');
  assert.equal(e2.active()[0]?.active_since_ms, T0 + 31 * S);
  assert.deepEqual(brief(e2.evaluate([hot], T0 + 41 * S)), ['firing cpu_high h']);
  // Offline without a known disconnection time: no value, no alert.
  const e3 = new AlertEngine(DEFAULT_ALERT_RULES);
  assert.deepEqual(e3.evaluate([{ name: 'x', inputs: null, connected: false, disconnectedAtMs: null }], T0 + 3600 * S), []);
  assert.deepEqual(e3.evaluate([{ name: 'x', inputs: null, connected: false, disconnectedAtMs: T0 }], T0 + 3600 * S).map((t) => t.alert.value), [3600]);
});

test('a host absent from the list was forgotten: its firing alerts resolve, pending ones vanish', () => {
  const e = new AlertEngine(parseAlertRules('cpu_high: cpu_pct > 90; mem: mem_used_pct > 50 for 1m', []));
  e.evaluate([online('a', { cpu_pct: 95, mem_used_pct: 60 }), online('b', { cpu_pct: 99 })], T0);
  assert.equal(e.firingCount(), 2);
  assert.equal(e.active().length, 3);
  const got = e.evaluate([online('b', { cpu_pct: 99 })], T0 + S);
  assert.deepEqual(brief(got), ['resolved cpu_high a']);
  assert.equal(got[0]!.alert.value, 95, 'the last value known');
  assert.deepEqual(e.active().map((a) => a.host), ['b']);
  assert.equal(e.firingCount(), 1);
  assert.equal(e.trackedHosts(), 1, 'its state is freed');
  // It can come back as new.
  assert.deepEqual(brief(e.evaluate([online('a', { cpu_pct: 95 }), online('b', { cpu_pct: 99 })], T0 + 2 * S)), ['firing cpu_high a']);
});

test('a disabled rule never fires; inputs null (no sample yet) fire nothing', () => {
  const e = new AlertEngine(parseAlertRules('cpu_high: off; filesystem_full: off'));
  for (let sec = 0; sec < 400; sec++) {
    assert.deepEqual(e.evaluate([online('h', { cpu_pct: 100 }, [['/', 100]]), { name: 'new', inputs: null, connected: true, disconnectedAtMs: null }], T0 + sec * S), []);
  }
  assert.deepEqual(e.active(), []);
  assert.ok(!e.rules.some((r) => r.name === 'cpu_high'));
});

test('active(): firing first, then pending; then by host, rule, instance', () => {
  const e = new AlertEngine(parseAlertRules('b_rule: cpu_pct > 50; a_rule: cpu_pct > 10 for 1h; fs: fs_used_pct > 10', []));
  e.evaluate([online('zeta', { cpu_pct: 60 }, [['/z', 50], ['/a', 50]]), online('alpha', { cpu_pct: 60 })], T0);
  assert.deepEqual(e.active().map((a) => `${a.state} ${a.host} ${a.rule} ${a.instance}`), [
    'firing alpha b_rule ', 'firing zeta b_rule ', 'firing zeta fs /a', 'firing zeta fs /z', 'pending alpha a_rule ', 'pending zeta a_rule ',
  ]);
});

test(`at most ${MAX_ALERT_INSTANCES} instances per host and rule, whatever the inputs`, () => {
  const e = new AlertEngine(parseAlertRules('fs: fs_used_pct > 10', []));
  const many = Array.from({ length: 1000 }, (_, i): [string, number] => [`/m${i}`, 99]);
  const got = e.evaluate([online('evil', {}, many), online('ok', {}, [['/', 99]])], T0);
  assert.equal(got.filter((t) => t.alert.host === 'evil').length, MAX_ALERT_INSTANCES);
  assert.equal(e.firingCount(), MAX_ALERT_INSTANCES + 1, 'another host is not affected');
  // The set of filesystems changing whole does not let the state grow either.
  const other = Array.from({ length: 1000 }, (_, i): [string, number] => [`/n${i}`, 99]);
  const next = e.evaluate([online('evil', {}, other), online('ok', {}, [['/', 99]])], T0 + S);
  assert.equal(next.filter((t) => t.status === 'resolved').length, MAX_ALERT_INSTANCES);
  assert.equal(next.filter((t) => t.status === 'firing').length, MAX_ALERT_INSTANCES);
  assert.equal(e.active().length, MAX_ALERT_INSTANCES + 1);
  // Repeated mount points count once.
  const e2 = new AlertEngine(parseAlertRules('fs: fs_used_pct > 10', []));
  assert.equal(e2.evaluate([online('h', {}, [['/', 99], ['/', 5], ['/', 99]])], T0).length, 1);
  assert.equal(e2.firingCount(), 1);
});

test('the same host twice in one call counts once; rule names must be unique', () => {
  const e = new AlertEngine(parseAlertRules('c: cpu_pct > 90', []));
  assert.equal(e.evaluate([online('h', { cpu_pct: 95 }), online('h', { cpu_pct: 5 })], T0).length, 1);
  assert.equal(e.firingCount(), 1);
  const r = parseAlertRules('c: cpu_pct > 90', [])[0]!;
  assert.throws(() => new AlertEngine([r, r]), TypeError);
});

test('cost: 1000 hosts × default rules a second stays cheap', () => {
  const e = new AlertEngine(DEFAULT_ALERT_RULES);
  const hosts = Array.from({ length: 1000 }, (_, i) => online(`h${i}`, { cpu_pct: i % 100, mem_used_pct: 50, temp_max_c: 40 }, [['/', 50], ['/data', 95]]));
  const t = performance.now();
  for (let sec = 0; sec < 50; sec++) e.evaluate(hosts, T0 + sec * S);
  const perCallMs = (performance.now() - t) / 50;
  assert.equal(e.firingCount(), 1000, 'every /data');
  assert.ok(perCallMs < 20, `${perCallMs.toFixed(2)} ms per evaluation`);
});
