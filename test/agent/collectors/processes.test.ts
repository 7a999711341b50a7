import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSample } from '../../../shared/protocol.ts';
import {
  createTopProcessesCollector,
  parseProcPidStat,
  parseProcessCounts,
  parseTopPair,
  processCountsCollector,
  READ_BATCH,
  readAllProcStats,
  readProcessCounts,
  topProcessesCollector,
  type ProcStatLine,
} from '../../../agent/collectors/processes.ts';
import type { Timed } from '../../../agent/collectors/rates.ts';
import type { CollectResult } from '../../../agent/collectors/types.ts';

const text = (name: string): string => readFileSync(new URL(`../../fixtures/proc/${name}`, import.meta.url), 'utf8');
function assertValidSample(result: CollectResult): void {
  const sample = parseSample({ type: 'sample', seq: 1, ts: Date.now(), ...result.readings, missing: result.missing });
  for (const [name, value] of Object.entries(result.readings)) assert.deepEqual(sample[name as keyof typeof sample], value);
}
const lines = (name: string): ProcStatLine[] => text(name).split('\n').map(parseProcPidStat).filter((l): l is ProcStatLine => l !== undefined);
const at = (atMs: number, value: ProcStatLine[]): Timed<ProcStatLine[]> => ({ atMs, value });
const IS_LINUX = existsSync('/proc/self/stat');

const STAT_CASES: ReadonlyArray<{ name: string; line: string; want: ProcStatLine | undefined }> = [
  { name: 'plain', line: '42 (bash) S 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1234 0 0', want: { pid: 42, name: 'bash', ticks: 10, start: 1234 } },
  { name: 'comm with spaces and ") ("', line: '7 (evil) (x y) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 99 0 0', want: { pid: 7, name: 'evil) (x y', ticks: 10, start: 99 } },
  { name: 'comm that is only ")"', line: '8 ()) S 1 8 8 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 0', want: { pid: 8, name: ')', ticks: 2, start: 5 } },
  { name: 'recorded line of this VM', line: text('pid_stat_t1.txt').split('\n')[0]!, want: parseProcPidStat(text('pid_stat_t1.txt').split('\n')[0]!) },
  { name: 'no parentheses', line: 'garbage', want: undefined },
  { name: 'cut short', line: '9 (x) S 1 2', want: undefined },
];
for (const c of STAT_CASES) test(`parseProcPidStat: ${c.name}`, () => assert.deepEqual(parseProcPidStat(c.line), c.want));

test('parseTopPair: hand-made pair: busiest first, % of one core, pid reuse, newcomers counted from 0, counters going back not ranked', () => {
  const result = parseTopPair(at(0, lines('pid_stat_hand_t0.txt')), at(1000, lines('pid_stat_hand_t1.txt')));
  assert.deepEqual(result, {
    readings: {
      procs_top: [
        { name: 'nginx: worker', pid: 100, cpu_pct: 150 },
        // Started since the earlier reading: its 0.5 s of CPU all fell in the window.
        { name: 'newcomer', pid: 500, cpu_pct: 50 },
        { name: 'evil) (x', pid: 200, cpu_pct: 40 },
        { name: 'busy1', pid: 700, cpu_pct: 20 },
        { name: 'busy2', pid: 701, cpu_pct: 15 },
      ],
    },
    missing: {},
  });
  assertValidSample(result);
});

test('parseTopPair: over 2 s the percentages halve; recorded pair of this VM is valid', () => {
  const r = parseTopPair(at(0, lines('pid_stat_hand_t0.txt')), at(2000, lines('pid_stat_hand_t1.txt')), 1);
  assert.deepEqual(r.readings.procs_top, [{ name: 'nginx: worker', pid: 100, cpu_pct: 75 }]);
  const recorded = parseTopPair(at(0, lines('pid_stat_t0.txt')), at(1000, lines('pid_stat_t1.txt')));
  assert.equal(recorded.readings.procs_top?.length, 5);
  for (const row of recorded.readings.procs_top ?? []) assert.ok(row.cpu_pct! >= 0 && row.cpu_pct! < 1000);
  assertValidSample(recorded);
});

test('parseTopPair: no overlap and no interval give reasons', () => {
  assert.match(parseTopPair(at(0, []), at(1000, lines('pid_stat_hand_t1.txt'))).missing['procs_top']!, /no process seen in both/);
  assert.match(parseTopPair(at(0, lines('pid_stat_hand_t0.txt')), at(1, lines('pid_stat_hand_t1.txt'))).missing['procs_top']!, /between readings/);
  assert.match(parseTopPair(at(0, []), at(1000, [])).missing['procs_top']!, /no readable/);
});

const COUNT_CASES: ReadonlyArray<{ name: string; stat: string; entries: string[]; readings: Record<string, number>; missing: string[] }> = [
  { name: 'recorded /proc/stat', stat: text('stat_t1.txt'), entries: ['1', '2', 'self', 'stat', '300'], readings: { procs_total: 3, procs_running: 1, procs_blocked: 0 }, missing: [] },
  { name: 'container: host-wide running above the namespace total is capped', stat: 'procs_running 50\nprocs_blocked 9\n', entries: ['1', '7'], readings: { procs_total: 2, procs_running: 2, procs_blocked: 2 }, missing: [] },
  { name: 'nothing', stat: '', entries: [], readings: {}, missing: ['procs_total', 'procs_running', 'procs_blocked'] },
];
for (const c of COUNT_CASES) {
  test(`parseProcessCounts: ${c.name}`, () => {
    const r = parseProcessCounts(c.stat, c.entries);
    assert.deepEqual(r.readings, c.readings);
    assert.deepEqual(Object.keys(r.missing).sort(), [...c.missing].sort());
    assertValidSample(r);
  });
}

test('collector classes: counts fast, top slow', () => {
  assert.equal(processCountsCollector.kind, 'fast');
  assert.equal(topProcessesCollector.kind, 'slow');
});

test('top collector: first run reads twice, FIRST wait apart', async () => {
  const snaps = [lines('pid_stat_hand_t0.txt'), lines('pid_stat_hand_t1.txt')];
  const result = await createTopProcessesCollector(async () => snaps.shift() ?? [], 20).collect();
  assert.equal(result.readings.procs_top?.[0]?.pid, 100);
});

test('readAllProcStats: every process of a tree larger than one batch; gone ones and odd entries skipped; UTF-8 names', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sentinel-proc-'));
  try {
    const n = READ_BATCH * 2 + 3;
    for (let pid = 1; pid <= n; pid++) {
      mkdirSync(join(root, 'proc', String(pid)), { recursive: true });
      // pid 5 has gone between the listing and its read: its directory is there, its stat is not.
      if (pid !== 5) writeFileSync(join(root, 'proc', String(pid), 'stat'), `${pid} (${pid === 7 ? 'tâche ü' : `p${pid}`}) S 1 1 1 0 -1 0 0 0 0 0 ${pid} 1 0 0 20 0 1 0 ${1000 + pid} 0 0\n`);
    }
    mkdirSync(join(root, 'proc', 'self'));
    writeFileSync(join(root, 'proc', 'stat'), 'cpu 1 2 3 4\n');
    const all = await readAllProcStats(`${root}/`);
    assert.equal(all.length, n - 1);
    assert.deepEqual(all.find((p) => p.pid === 7), { pid: 7, name: 'tâche ü', ticks: 8, start: 1007 });
    assert.ok(!all.some((p) => p.pid === 5));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('on this machine: counts and the top (this process is in /proc)', { skip: IS_LINUX ? false : 'no /proc (not Linux)' }, async () => {
  const counts = readProcessCounts();
  assert.ok(counts.readings.procs_total! > 1);
  assert.ok(counts.readings.procs_running! >= 1, 'this test is running');
  const all = await readAllProcStats();
  assert.ok(all.some((p) => p.pid === process.pid));
  const collector = createTopProcessesCollector(undefined, 100);
  const deadline = Date.now() + 60;
  while (Date.now() < deadline) { /* burn CPU so this process ranks */ }
  const top = await collector.collect();
  assert.ok(top.readings.procs_top !== undefined && top.readings.procs_top.length > 0, JSON.stringify(top.missing));
  assertValidSample({ readings: { ...counts.readings, ...top.readings }, missing: {} });
});

test('parseTopPair: a process not read before but older than the newest one then (a race with the listing) is not ranked', () => {
  const old = (pid: number, ticks: number, start: number): ProcStatLine => ({ pid, name: `p${pid}`, ticks, start });
  const r = parseTopPair(at(0, [old(1, 10, 100), old(2, 10, 500)]), at(1000, [old(1, 20, 100), old(2, 30, 500), old(3, 90, 300), old(4, 40, 501)]));
  assert.deepEqual(r.readings.procs_top, [{ name: 'p4', pid: 4, cpu_pct: 40 }, { name: 'p2', pid: 2, cpu_pct: 20 }, { name: 'p1', pid: 1, cpu_pct: 10 }]);
});
