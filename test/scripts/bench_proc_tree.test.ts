/**
 * A process tree's CPU and memory (scripts/bench/proc_tree.ts), read from /proc of real
 * processes: a child that keeps a grandchild running, as Netdata keeps its plugins.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { descendants, parseStatTicks, rssKiB, ticks, treeRssKiB, treeTicks } from '../../scripts/bench/proc_tree.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('parseStatTicks: fields counted after the last ")", so a command name with spaces and ")" reads right', () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
  const stat = '4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 17 5 30 12 20 0 1 0 777 1000 50';
  assert.deepEqual(parseStatTicks(stat), { own: 22, children: 42 });
});

// The child starts a grandchild that burns 300 ms of CPU on SIGUSR1 and otherwise idles; on any
// line on stdin the child ends the grandchild, reaps it and says "reaped".
const CHILD = `
const { spawn } = require('node:child_process');
const g = spawn(process.execPath, ['-e', \`
  process.on('SIGUSR1', () => { const s = process.cpuUsage(); while (process.cpuUsage(s).user < 300000); });
  setInterval(() => {}, 1000);
  process.send('ready');
\`], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
g.once('message', () => process.stdout.write(g.pid + '\\n'));
process.stdin.once('data', () => { g.once('exit', () => process.stdout.write('reaped\\n')); g.kill('SIGKILL'); });
`;

async function line(child: ChildProcess): Promise<string> {
  const [chunk] = await once(child.stdout!, 'data') as [Buffer];
  return chunk.toString('utf8').trim();
}

test('treeTicks and treeRssKiB count a live grandchild, and treeTicks keeps its time once it is reaped', { timeout: 20_000 }, async () => {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
  let gpid = 0;
  try {
    gpid = Number(await line(child));
    assert.ok(gpid > 0);
    assert.deepEqual(descendants(child.pid!), [gpid]);

    const before = treeTicks(child.pid!);
    const gBefore = ticks(gpid)!.own;
    process.kill(gpid, 'SIGUSR1');
    const deadline = Date.now() + 10_000;
    while (ticks(gpid)!.own - gBefore < 25) {
      assert.ok(Date.now() < deadline, 'the grandchild did not burn its CPU in 10 s');
      await sleep(20);
    }
    const after = treeTicks(child.pid!);
    // The grandchild's time is in the tree's, under children; the child itself stayed idle.
    assert.ok(after.children - before.children >= 25, `children ${before.children} -> ${after.children}`);
    assert.ok(after.own - before.own < after.children - before.children);
    // Its own reading alone (getrusage's view) has none of it: the grandchild is not reaped.
    assert.equal(ticks(child.pid!)!.children, 0);

    const own = rssKiB(child.pid!);
    const g = rssKiB(gpid);
    const tree = treeRssKiB(child.pid!);
    assert.ok(g > 1000, `grandchild RSS ${g} KiB`);
    assert.ok(tree >= own + g - 2048 && tree <= own + g + 2048, `tree ${tree} KiB, child ${own} + grandchild ${g}`);

    child.stdin!.write('end\n');
    assert.equal(await line(child), 'reaped');
    assert.deepEqual(descendants(child.pid!), []);
    const reaped = treeTicks(child.pid!);
    // Reaped by the child, its time moved into the child's cutime+cstime: still in the tree's.
    assert.ok(reaped.children >= after.children, `children ${after.children} -> ${reaped.children} once reaped`);
    assert.ok(ticks(child.pid!)!.children >= 25);
  } finally {
    // The grandchild first: once the child is gone it would be orphaned, not ended.
    if (gpid > 0) try { process.kill(gpid, 'SIGKILL'); } catch { /* reaped already */ }
    child.kill('SIGKILL');
  }
});

test('a process that is gone reads as nothing, not as an error', async () => {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await once(child, 'exit');
  assert.equal(ticks(child.pid!), null);
  assert.deepEqual(treeTicks(child.pid!), { own: 0, children: 0 });
  assert.ok(Number.isNaN(treeRssKiB(child.pid!)));
  assert.deepEqual(descendants(child.pid!), []);
});
