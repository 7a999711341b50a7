/**
 * A process tree's CPU and memory (scripts/bench/proc_tree.ts), read from /proc of real
 * processes: a child that keeps a grandchild running, as Netdata keeps its plugins.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { descendants, parseStatTicks, privateKiB, rssKiB, ticks, treeRssKiB, treeTicks } from '../../scripts/bench/proc_tree.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('parseStatTicks: fields counted after the last ")", so a command name with spaces and ")" reads right', () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
  const stat = '4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 17 5 30 12 20 0 1 0 777 1000 50';
  assert.deepEqual(parseStatTicks(stat), { own: 22, children: 42 });
});

// The child starts a grandchild that burns 300 ms of CPU on SIGUSR1 and otherwise idles (and
// ends with its parent, whose IPC channel then closes); on any line on stdin the child ends the
// grandchild, reaps it and says "reaped".
const CHILD = `
const { spawn } = require('node:child_process');
const g = spawn(process.execPath, ['-e', \`
  process.on('SIGUSR1', () => { const s = process.cpuUsage(); while (process.cpuUsage(s).user < 300000); });
  process.on('disconnect', () => process.exit(0));
  setInterval(() => {}, 1000);
  process.send('ready');
\`], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
g.once('message', () => process.stdout.write(g.pid + '\\n'));
process.stdin.once('data', () => { g.once('exit', () => process.stdout.write('reaped\\n')); g.kill('SIGKILL'); });
`;

/** The child's next output, or a rejection after 10 s (so a silent child cannot hang the test). */
async function line(child: ChildProcess): Promise<string> {
  const [chunk] = await once(child.stdout!, 'data', { signal: AbortSignal.timeout(10_000) }) as [Buffer];
  return chunk.toString('utf8').trim();
}

test('treeTicks and treeRssKiB count a live grandchild, and treeTicks keeps its time once it is reaped', { timeout: 20_000 }, async () => {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
  let gpid = 0;
  try {
    const first = await line(child);
    gpid = Number(first);
    assert.ok(Number.isInteger(gpid) && gpid > 0, `the child said ${JSON.stringify(first)}, not a pid`);
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
    const gBurnt = ticks(gpid)!.own - gBefore;
    // The grandchild's time is in the tree's, under children, once (its own reads bracket the
    // tree's, so they may differ by the ticks of those moments); the child itself stayed idle.
    const counted = after.children - before.children;
    assert.ok(counted >= 25 && Math.abs(counted - gBurnt) <= 3, `children ${before.children} -> ${after.children}, the grandchild burnt ${gBurnt}`);
    assert.ok(after.own - before.own < counted);
    // Its own reading alone (getrusage's view) has none of it: the grandchild is not reaped.
    assert.equal(ticks(child.pid!)!.children, 0);

    // The tree's memory: the child's RSS, plus what the grandchild has of its own (its private
    // pages: a node process's heap, but not the node binary both map).
    const own = rssKiB(child.pid!);
    const gPrivate = privateKiB(gpid);
    const gRss = rssKiB(gpid);
    const tree = treeRssKiB(child.pid!);
    assert.ok(gPrivate > 1000 && gPrivate < gRss, `grandchild private ${gPrivate} KiB of RSS ${gRss}`);
    assert.ok(Math.abs(tree - (own + gPrivate)) <= 2048, `tree ${tree} KiB, child ${own} + grandchild's private ${gPrivate}`);
    assert.ok(tree < own + gRss, 'pages the two share counted twice');

    child.stdin!.write('end\n');
    assert.equal(await line(child), 'reaped');
    assert.deepEqual(descendants(child.pid!), []);
    const reaped = treeTicks(child.pid!);
    // Reaped by the child, its time moved into the child's cutime+cstime: still in the tree's.
    assert.ok(reaped.children >= after.children, `children ${after.children} -> ${reaped.children} once reaped`);
    assert.ok(ticks(child.pid!)!.children >= 25);
  } finally {
    // The grandchild also ends by itself when the child's IPC channel closes.
    child.kill('SIGKILL');
  }
});

test('treeTicks never goes back while the tree starts and reaps children all the time (no read straddles a reap)', { timeout: 20_000 }, async () => {
  // Each child burns ~30 ms of CPU and ends; the parent waits for it (spawnSync), reaps it and
  // starts the next. A read that saw a child alive, then its parent's line after the reap (or
  // the other way round), would count its time twice or not at all, and the total would fall.
  const burner = `
    const { spawnSync } = require('node:child_process');
    for (;;) spawnSync(process.execPath, ['-e', 'const s = process.cpuUsage(); while (process.cpuUsage(s).user < 30000);'], { stdio: 'ignore' });
  `;
  const child = spawn(process.execPath, ['-e', burner], { stdio: 'ignore' });
  try {
    await sleep(300);
    let prev = 0;
    let reads = 0;
    let grew = 0;
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      const t = treeTicks(child.pid!);
      const total = t.own + t.children;
      assert.ok(total >= prev, `the tree's CPU fell from ${prev} to ${total} ticks at read ${reads}`);
      if (total > prev) grew++;
      prev = total;
      reads++;
    }
    assert.ok(reads > 100 && grew > 10, `${reads} reads, ${grew} of them saw it grow`);
  } finally {
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
