/** The benchmarks' shared helpers (scripts/bench/common.ts). */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { newestMtimeMs, sumLanes } from '../../scripts/bench/common.ts';

test('sumLanes: every lane\'s result counted, with two requests in flight to a real worker', async () => {
  // The worker answers each request with its weight after a delay of its own, so the two lanes'
  // answers interleave: a lane that read the total before its await would lose the other's.
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    parentPort.on('message', (n) => setTimeout(() => parentPort.postMessage(n), n % 3));
  `, { eval: true });
  try {
    const waiting: Array<(n: number) => void> = [];
    worker.on('message', (n: number) => waiting.shift()!(n));
    let sent = 0;
    let answered = 0;
    const total = await sumLanes(2, performance.now() + 300, () => new Promise<number>((resolve) => {
      const weight = 1 + (sent++ % 5);
      waiting.push((n) => { answered += n; resolve(n); });
      worker.postMessage(weight);
    }));
    assert.ok(sent >= 10, `only ${sent} requests in 300 ms`);
    assert.equal(total, answered);
  } finally {
    await worker.terminate();
  }
});

test('sumLanes: lanes run at once, and none starts a step after the deadline', async () => {
  let inFlight = 0;
  let most = 0;
  let lateStarts = 0;
  const until = performance.now() + 150;
  // A step that reads the clock up to SLACK_MS after the deadline is sumLanes's check passing
  // just before it and the thread being held (GC, a busy machine) before the step ran: a full
  // test run on a busy machine saw one such start. A lane that kept going past the deadline
  // starts steps STEP_MS apart after it.
  const STEP_MS = 40;
  const SLACK_MS = 10;
  const total = await sumLanes(4, until, async () => {
    if (performance.now() >= until + SLACK_MS) lateStarts++;
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, STEP_MS));
    inFlight--;
    return 2;
  });
  assert.equal(most, 4);
  assert.equal(lateStarts, 0);
  assert.ok(total > 0 && total % 2 === 0);
});

test('newestMtimeMs: the newest modification time of a file or of a whole tree; 0 for a path that is not there', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-newest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'a/b'), { recursive: true });
  writeFileSync(join(dir, 'top.ts'), '');
  writeFileSync(join(dir, 'a/b/deep.ts'), '');
  const at = (p: string, s: number): number => { const d = new Date(1_700_000_000_000 + s * 1000); utimesSync(join(dir, p), d, d); return d.getTime(); };
  for (const p of ['a/b', 'a', '.']) at(p, 0);
  at('top.ts', 10);
  const deep = at('a/b/deep.ts', 20);
  assert.equal(newestMtimeMs(dir), deep, 'a file two directories down');
  assert.equal(newestMtimeMs(join(dir, 'top.ts')), at('top.ts', 10), 'a file itself');
  assert.equal(newestMtimeMs(join(dir, 'missing')), 0);
});
