/**
 * CPU time and resident memory of a process together with its descendants, read from /proc
 * (Linux). The agent benchmark compares processes that differ in shape: an agent is one process
 * whose rare children are reaped at once, while Netdata keeps plugins running as children for its
 * whole life (apps.plugin alone is about a third of its CPU here). Counting only a process's own
 * time and its reaped children's, as getrusage does, would leave those plugins out.
 *
 * The tree's CPU is the sum, over the process and every descendant alive when read, of its own
 * utime+stime and of its reaped children's cutime+cstime. The difference of two such reads is the
 * tree's CPU in between: a descendant that ends and is reaped by a member of the tree moves its
 * time into that member's cutime+cstime, so nothing is lost or counted twice; one born in between
 * starts from zero. A descendant orphaned to init in between (its parent ended first) takes its
 * time out of the tree: rare, and a lower bound either way.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface Ticks { own: number; children: number }

/** utime+stime and cutime+cstime of a process, clock ticks; fields counted after the `)` ending comm. */
export function parseStatTicks(stat: string): Ticks {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
  return { own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

/** A process's ticks, or null when it is gone. */
export function ticks(pid: number): Ticks | null {
  try {
    return parseStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Direct children of every thread of `pid` (a worker thread's execSync child is listed under its thread). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tids: string[];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const tid of tids) {
    try {
      for (const p of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(' ')) if (p !== '') out.push(Number(p));
    } catch { /* the thread or process ended between the two reads */ }
  }
  return out;
}

/** Every descendant of `pid` alive now, parents before their children. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    for (const c of childrenOf(p)) {
      out.push(c);
      visit(c);
    }
  };
  visit(pid);
  return out;
}

export function commOf(pid: number): string {
  try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return '?'; }
}

/** Adds every descendant of `pid` now alive to `seen` (pid -> command name). */
export function collectDescendants(pid: number, seen: Map<number, string>): void {
  for (const c of descendants(pid)) if (!seen.has(c)) seen.set(c, commOf(c));
}

/**
 * CPU of `pid` and its live descendants, clock ticks (see the top of this file): `own` is the
 * process's own, `children` all the rest (its reaped children's, and each live descendant's own
 * and reaped children's). Zeros when `pid` is gone.
 */
export function treeTicks(pid: number): Ticks {
  const root = ticks(pid);
  if (root === null) return { own: 0, children: 0 };
  let rest = root.children;
  for (const p of descendants(pid)) {
    const t = ticks(p);
    if (t !== null) rest += t.own + t.children;
  }
  return { own: root.own, children: rest };
}

/** VmRSS of a process, KiB; NaN when it is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * VmRSS of `pid` plus that of each live descendant, KiB; NaN when `pid` is gone. An upper bound:
 * pages two of them share (a forked helper's, the libraries') count once for each.
 */
export function treeRssKiB(pid: number): number {
  const own = rssKiB(pid);
  if (Number.isNaN(own)) return own;
  let sum = own;
  for (const p of descendants(pid)) {
    const r = rssKiB(p);
    if (!Number.isNaN(r)) sum += r;
  }
  return sum;
}
