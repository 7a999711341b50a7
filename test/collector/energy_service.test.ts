import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnergyService, PROJECTION_REFRESH_MS, REFRESH_MIN_STEP, REFRESH_STEPS, rounded, STATE_SLICE } from '../../collector/energy_service.ts';
import { energyReport } from '../../collector/energy_report.ts';
import { parseTariff } from '../../collector/tariff.ts';
import { ERROR_CODES, StateFileError } from '../../shared/errors.ts';
import { hostEnergy, type HostEnergy } from '../../shared/host_view.ts';
import { createLogger } from '../../shared/log.ts';
import { NUM } from '../../shared/shm_layout.ts';
import { ShmStore } from '../../shared/shm_store.ts';

const ZONE = 'Europe/Paris';
/** Tue 2026-11-17 10:00:00 in Paris (UTC+1): a weekday, mid-morning, mid-month. */
const T0 = Date.UTC(2026, 10, 17, 9, 0, 0);
const HOUR = 3_600_000;
const TARIFF = parseTariff('0.20 EUR', 'tariff', ZONE);

function setup(opts: { tariff?: typeof TARIFF | null; gapS?: number } = {}) {
  const lines: string[] = [];
  const store = ShmStore.create(4, T0, 60);
  const service = new EnergyService({
    tariff: opts.tariff === undefined ? TARIFF : opts.tariff, timeZone: ZONE, maxGapMs: (opts.gapS ?? 60) * 1000, historyDays: 62, hourlyDays: 2,
    projectionDays: 30, store, log: createLogger('test', 'debug', (l) => { lines.push(l); }),
  });
  const a = store.allocateSlot();
  const b = store.allocateSlot();
  return { store, service, lines, a, b };
}

/** The energy of slot `i` as the dashboard reads it at `nowMs`. */
function read(store: ShmStore, i: number, nowMs: number): HostEnergy | null {
  return hostEnergy(store.readSlot(i)!.numbers, nowMs);
}

/** `seconds` samples of `watts`, one a second from `fromMs`. */
function feed(s: EnergyService, host: string, slot: number, fromMs: number, seconds: number, watts: number, intervalMs = 1000): void {
  for (let k = 0; k <= seconds; k++) s.onSample(host, slot, fromMs + k * 1000, watts, intervalMs);
}

const near = (a: number | null | undefined, b: number, what = ''): void => assert.ok(a !== null && a !== undefined && Math.abs(a - b) < 1e-9, `${what}: ${a} ≠ ${b}`);

test('power samples become kWh and cost in the host\'s slot; the first sample starts the count at zero', () => {
  const { store, service, a } = setup();
  service.onSample('alpha', a, T0, 360, 1000);
  const first = read(store, a, T0)!;
  assert.equal(first.since_ms, T0);
  assert.equal(first.today_kwh, 0);
  feed(service, 'alpha', a, T0, 3600, 360);
  const e = read(store, a, T0 + HOUR)!;
  near(e.today_kwh, 0.36, 'today');
  near(e.month_kwh, 0.36, 'month');
  near(e.total_kwh, 0.36, 'total');
  near(e.today_cost, 0.072, 'cost');
  near(e.total_cost, 0.072, 'total cost');
  assert.equal(service.size, 1);
});

test('samples without power count nothing and make no entry', () => {
  const { store, service, a } = setup();
  service.onSample('alpha', a, T0, undefined, 1000);
  assert.equal(service.size, 0);
  assert.equal(read(store, a, T0), null, 'no energy block before the first power sample');
});

test('without a tariff: kWh counted, every cost null', () => {
  const { store, service, a } = setup({ tariff: null });
  feed(service, 'alpha', a, T0, 100, 3600);
  const e = read(store, a, T0 + 100_000)!;
  near(e.today_kwh, 0.1);
  assert.equal(e.today_cost, null);
  assert.equal(e.month_cost, null);
  assert.equal(e.total_cost, null);
  service.refresh(T0 + 100_000);
  const p = read(store, a, T0 + 100_000)!.projection!;
  assert.equal(p.month_cost, null);
  assert.equal(p.next_cost, null);
  const r = energyReport(service, { host: 'alpha', days: 7 }, T0 + 100_000);
  assert.equal(r.status, 200);
  if (r.status !== 200) return;
  assert.equal(r.body.currency, null);
  assert.equal(r.body.tariff, null);
  assert.equal(r.body.totals.today.cost, null);
  assert.ok(r.body.daily.every((d) => d.cost === null));
});

test('a silence longer than the gap (or 3 of the host\'s intervals) adds nothing; a slow host\'s interval is not a gap', () => {
  const { store, service, a, b } = setup({ gapS: 60 });
  service.onSample('alpha', a, T0, 1000, 1000);
  service.onSample('alpha', a, T0 + 61_000, 1000, 1000);
  near(read(store, a, T0 + 61_000)!.total_kwh, 0, '61 s silence at a 1 s interval');
  // A host sampling every 30 s: up to 90 s between samples is its rhythm, not a gap.
  service.onSample('slow', b, T0, 1000, 30_000);
  service.onSample('slow', b, T0 + 80_000, 1000, 30_000);
  near(read(store, b, T0 + 80_000)!.total_kwh, 80_000 * 1000 / 3.6e9, '80 s at a 30 s interval');
});

test('today and this month end at local midnight and month end, without a rewrite', () => {
  const { store, service, a } = setup();
  feed(service, 'alpha', a, T0, 600, 600);
  const midnight = Date.UTC(2026, 10, 17, 23, 0, 0); // 2026-11-18 00:00 in Paris
  const monthEnd = Date.UTC(2026, 10, 30, 23, 0, 0); // 2026-12-01 00:00 in Paris
  assert.equal(store.readSlot(a)!.numbers[NUM.ENERGY_TODAY_UNTIL_MS], midnight);
  assert.equal(store.readSlot(a)!.numbers[NUM.ENERGY_MONTH_UNTIL_MS], monthEnd);
  near(read(store, a, midnight - 1)!.today_kwh, 0.1);
  const next = read(store, a, midnight)!;
  assert.equal(next.today_kwh, 0, 'a new day: nothing drawn yet');
  assert.equal(next.today_cost, 0);
  near(next.month_kwh, 0.1, 'the month goes on');
  assert.equal(read(store, a, monthEnd)!.month_kwh, 0, 'a new month');
  near(read(store, a, monthEnd)!.total_kwh, 0.1, 'the total never resets');
});

test('refresh writes each host\'s projection; it lapses at the month\'s end', () => {
  const { store, service, a } = setup();
  // Three whole days at 100 W: 2.4 kWh a day.
  for (let d = 0; d < 3; d++) {
    const start = Date.UTC(2026, 10, 13 + d, 23, 0, 0); // local midnight
    for (let k = 0; k <= 24 * 60; k++) service.onSample('alpha', a, start + k * 60_000, 100, 60_000);
  }
  const now = Date.UTC(2026, 10, 17, 11, 0, 0);
  service.refresh(now);
  const e = read(store, a, now)!;
  assert.ok(e.projection, 'a projection');
  near(e.projection.next_kwh, 2.4 * 30, 'next 30 days at the recent daily average');
  assert.equal(e.projection.days, 30);
  assert.ok(e.projection.month_kwh > e.month_kwh, 'the month projected beyond what it drew so far');
  assert.equal(read(store, a, Date.UTC(2026, 10, 30, 23, 0, 0))!.projection, null, 'next month: a new projection is due');
  assert.ok(PROJECTION_REFRESH_MS <= 60_000);
});

test('the slot holds each kWh and cost figure rounded to 1e-9, the counters their own; JSON writes them as short decimals', () => {
  const { store, service, a } = setup();
  // 41.7 W for 7 s: 8.1083...e-5 kWh, a fraction of seventeen digits in the counters.
  feed(service, 'alpha', a, T0, 7, 41.7);
  const now = T0 + 7000;
  service.refresh(now);
  const t = service.accumulator('alpha')!.totals(now);
  const p = service.accumulator('alpha')!.projection(now, 30);
  assert.notEqual(t.today.kwh, rounded(t.today.kwh), 'the counters keep full precision');
  const e = read(store, a, now)!;
  assert.equal(e.today_kwh, Math.round(t.today.kwh * 1e9) / 1e9);
  assert.equal(e.today_cost, Math.round(t.today.cost * 1e9) / 1e9);
  assert.equal(e.month_kwh, Math.round(t.month.kwh * 1e9) / 1e9);
  assert.equal(e.total_cost, Math.round(t.total.cost * 1e9) / 1e9);
  assert.equal(e.projection!.month_kwh, Math.round(p.monthKwh! * 1e9) / 1e9);
  assert.equal(e.projection!.month_cost, Math.round(p.monthCost! * 1e9) / 1e9);
  const json = JSON.stringify(e);
  for (const m of json.matchAll(/"(?:today|month|total|next)_(?:kwh|cost)":(-?[0-9.e-]+)/g)) {
    assert.match(m[1]!, /^\d+(\.\d{1,9})?$/, `${m[0]}: a decimal of at most nine places`);
  }
  // Far from zero and from a million the rounding is the identity on figures already rounded.
  assert.equal(rounded(rounded(1234.567890123456)), 1234.567890123);
  assert.equal(rounded(2e6 + 1 / 3), 2e6 + 1 / 3, 'from 1e6 on, left as it is');
  assert.ok(Number.isNaN(rounded(Number.NaN)));
});

test('toJSON then restore: counters and slot figures back; unknown hosts skipped; one damaged host starts from zero', () => {
  const { service, a, b } = setup();
  feed(service, 'alpha', a, T0, 1800, 200);
  feed(service, 'beta', b, T0, 900, 400);
  const json = JSON.parse(JSON.stringify(service.toJSON())) as { v: number; hosts: Record<string, unknown> };
  json.hosts['gone'] = json.hosts['alpha'];
  json.hosts['broken'] = { v: 1, currency: 'EUR', total: 'lots' };

  const fresh = setup();
  const slots: Record<string, number> = { alpha: fresh.b, beta: fresh.a, broken: 3 };
  fresh.store.allocateSlot(); fresh.store.allocateSlot();
  const r = fresh.service.restore(json, (h) => slots[h], T0 + HOUR);
  assert.deepEqual(r, { restored: 2, skipped: 2 });
  assert.ok(fresh.lines.some((l) => /energy counters of one host unreadable/.test(l) && /broken/.test(l)), fresh.lines.join(''));
  near(read(fresh.store, fresh.b, T0 + HOUR)!.total_kwh, 0.1, 'alpha, now in another slot');
  near(read(fresh.store, fresh.a, T0 + HOUR)!.total_kwh, 0.1, 'beta');
  // The run goes on where it stopped: the next second counts.
  fresh.service.onSample('alpha', fresh.b, T0 + 1_801_000, 200, 1000);
  near(read(fresh.store, fresh.b, T0 + HOUR)!.total_kwh, 0.1 + 200 / 3.6e6, 'continued');
});

test('stateBytes: the bytes of JSON.stringify(toJSON()), STATE_SLICE hosts a turn of the event loop', async () => {
  const store = ShmStore.create(STATE_SLICE * 2 + 10, T0, 10);
  const service = new EnergyService({ tariff: TARIFF, timeZone: ZONE, maxGapMs: 60_000, historyDays: 62, hourlyDays: 2, projectionDays: 30, store, log: createLogger('test', 'error') });
  const expectBytes = async (what: string): Promise<number> => {
    let turns = 0;
    let ticking = true;
    const tick = (): void => { if (ticking) { turns++; setImmediate(tick); } };
    setImmediate(tick);
    const parts = await service.stateBytes();
    ticking = false;
    assert.deepEqual(Buffer.concat(parts), Buffer.from(JSON.stringify(service.toJSON()), 'utf8'), what);
    return turns;
  };
  await expectBytes('no host');
  // Names as agents send them: quotes, backslashes, non-ASCII, line separators.
  const names = ['plain', 'quo"te', 'back\\slash', 'wörk-ünïcode', 'line\u2028sep', ...Array.from({ length: STATE_SLICE * 2 + 5 }, (_, i) => `h${i}`)];
  names.forEach((name, i) => feed(service, name, i, T0 - 2 * HOUR + i * 7000, 30, 100 + i));
  const turns = await expectBytes(`${names.length} hosts`);
  assert.ok(turns >= 2, `other work ran while it was made (${turns} turns)`);
  const back = setup();
  const parsed = JSON.parse(Buffer.concat(await service.stateBytes()).toString('utf8')) as { hosts: Record<string, unknown> };
  assert.deepEqual(Object.keys(parsed.hosts), names);
  assert.deepEqual(back.service.restore(parsed, (h) => (h === 'quo"te' ? back.a : undefined), T0).restored, 1);
});

test('restore refuses a section that is not this format, as a StateFileError', () => {
  const { service } = setup();
  for (const bad of [null, [], 'x', { v: 2, hosts: {} }, { v: 1, hosts: [] }, { v: 1 }]) {
    assert.throws(() => service.restore(bad, () => 0, T0), (err: unknown) => err instanceof StateFileError && err.code === ERROR_CODES.STATE_FILE_INVALID, JSON.stringify(bad));
  }
});

test('a tariff in another currency keeps the kWh and restarts the costs, and says so', () => {
  const { service, a } = setup();
  feed(service, 'alpha', a, T0, 600, 600);
  const chf = setup({ tariff: parseTariff('0.30 CHF', 'tariff', ZONE) });
  chf.service.restore(service.toJSON(), () => chf.a, T0 + 600_000);
  const e = read(chf.store, chf.a, T0 + 600_000)!;
  near(e.total_kwh, 0.1);
  assert.equal(e.total_cost, 0);
  assert.ok(chf.lines.some((l) => /currency changed/.test(l)));
});

test('forget drops a host\'s counters (its slot went to another host)', () => {
  const { service, a } = setup();
  feed(service, 'alpha', a, T0, 10, 100);
  service.forget('alpha');
  assert.equal(service.size, 0);
  assert.equal(energyReport(service, { host: 'alpha', days: 7 }, T0).status, 404);
});

test('a periodic round is spread over half the period, a share of the hosts a step, so the page\'s stream is not sent the whole fleet at once; a host forgotten meanwhile is skipped', async () => {
  const hosts = 250;
  const store = ShmStore.create(hosts, T0, 2);
  // A 2 s period: 50 steps over 1 s, 20 ms apart; 250 hosts make 3 steps of at least REFRESH_MIN_STEP.
  const refreshMs = 2000;
  const stepMs = refreshMs / 2 / REFRESH_STEPS;
  const service = new EnergyService({
    tariff: TARIFF, timeZone: ZONE, maxGapMs: 60_000, historyDays: 62, hourlyDays: 2, projectionDays: 30, store, log: createLogger('test', 'error'), refreshMs,
  });
  const slots: number[] = [];
  for (let i = 0; i < hosts; i++) {
    slots.push(store.allocateSlot());
    service.onSample(`h${i}`, slots[i]!, T0, 100, 1000);
  }
  // Each write tagged with the turn of the event loop it ran in.
  let turn = 0;
  let spinning = true;
  // A 1 ms timer, not setImmediate: it must not keep a core busy beside other test files.
  const spin = (): void => { turn++; if (spinning) setTimeout(spin, 1); };
  spin();
  const writes: Array<{ slot: number; turn: number; at: number }> = [];
  const write = store.write.bind(store);
  store.write = ((slot, w) => { writes.push({ slot, turn, at: performance.now() }); return write(slot, w); }) as typeof store.write;
  try {
    service.start(() => T0 + 60_000);
    assert.equal(new Set(writes.map((w) => w.slot)).size, hosts, 'start refreshes every host at once');
    writes.length = 0;
    // The first step of the periodic round, then the last host is forgotten (its slot could go to another host).
    while (writes.length === 0) await new Promise((r) => setTimeout(r, 5));
    service.forget(`h${hosts - 1}`);
    const deadline = Date.now() + 10_000;
    while (new Set(writes.map((w) => w.slot)).size < hosts - 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 3 * stepMs));
  } finally {
    service.stop();
    spinning = false;
  }
  const round = writes.filter((w) => w.at - writes[0]!.at < refreshMs / 2);
  const written = new Set(round.map((w) => w.slot));
  assert.equal(written.size, hosts - 1, 'every host refreshed once in the round');
  assert.ok(!written.has(slots[hosts - 1]!), 'the forgotten host\'s slot is not written');
  const byTurn = new Map<number, Set<number>>();
  for (const w of round) byTurn.set(w.turn, (byTurn.get(w.turn) ?? new Set()).add(w.slot));
  assert.deepEqual([...byTurn.values()].map((s) => s.size), [REFRESH_MIN_STEP, REFRESH_MIN_STEP, hosts - 1 - 2 * REFRESH_MIN_STEP], 'a share of the hosts per step, each step in a turn of its own');
  const firstStep = round[0]!.at;
  const lastStep = round[round.length - 1]!.at;
  assert.ok(lastStep - firstStep >= 2 * stepMs - 2, `the steps are ${stepMs} ms apart (first to last: ${(lastStep - firstStep).toFixed(1)} ms)`);
});

test('stop() ends a refresh round under way: no step of it runs after, nor beside a start() that follows', { timeout: 30_000 }, async (t) => {
  // Ten steps of 100 hosts, 20 ms apart: stop() lands well inside the round.
  const hosts = 1000;
  const store = ShmStore.create(hosts, T0, 2);
  const refreshMs = 2000;
  const service = new EnergyService({
    tariff: TARIFF, timeZone: ZONE, maxGapMs: 60_000, historyDays: 62, hourlyDays: 2, projectionDays: 30, store, log: createLogger('test', 'error'), refreshMs,
  });
  t.after(() => service.stop());
  for (let i = 0; i < hosts; i++) service.onSample(`h${i}`, store.allocateSlot(), T0, 100, 1000);
  let writes = 0;
  const write = store.write.bind(store);
  store.write = ((slot, w) => { writes++; return write(slot, w); }) as typeof store.write;
  service.start(() => T0 + 60_000);
  writes = 0;
  const deadline = Date.now() + 10_000;
  while (writes === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  assert.ok(writes > 0, 'the periodic round began');
  service.stop();
  const atStop = writes;
  assert.ok(atStop < 2 * hosts, `stopped in the middle of the round (${atStop} writes)`);
  await new Promise((r) => setTimeout(r, (4 * refreshMs) / 2 / REFRESH_STEPS));
  assert.equal(writes, atStop, 'no step after stop()');

  // Stopped and started again inside a round: the old round's steps do not carry on beside the new start.
  service.start(() => T0 + 90_000);
  writes = 0;
  const deadline2 = Date.now() + 10_000;
  while (writes === 0 && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 2));
  assert.ok(writes > 0 && writes < 2 * hosts, `a second periodic round began (${writes} writes)`);
  service.stop();
  service.start(() => T0 + 120_000);
  const afterStart = writes;
  await new Promise((r) => setTimeout(r, (4 * refreshMs) / 2 / REFRESH_STEPS));
  assert.equal(writes, afterStart, 'only the new start\'s own refresh');
});
