/**
 * CPU time and resident memory of a process together with its descendants, read from /proc
 * (Linux). The agent benchmark compares processes that differ in shape: an agent is one process
 * whose rare children are reaped at once, while Netdata keeps plugins running as children for its
 * whole life (apps.plugin alone is about a third of its CPU here). Counting only a process's own
 * time and its reaped children's, as getrusage does, would leave those plugins out.
 *
 * The tree's CPU is the sum, over the process and every descendant alive when read, of its own
 * utime+stime and of its reaped children's cutime+cstime. A descendant that ends and is reaped by
 * a member of the tree moves its time into that member's cutime+cstime, so the difference of two
 * reads is the tree's CPU in between, with nothing counted twice; one born in between starts
 * from zero. One read must not straddle a reap, though: a child reaped after its parent's line
 * was read and before its own would be counted nowhere (or twice, read the other way round). So a
 * read is taken twice in a row and kept only when the two agree on the members and on every
 * member's reaped-children time; else it is taken again. Not covered: a descendant orphaned to
 * init in between (its parent ended first) takes its whole time out of the tree, so a tree whose
 * members end that way is not measured right by differences; the benchmark's peers do not.
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

interface Member { pid: number; ticks: Ticks | null }

function readMembers(pid: number): Member[] {
  return [pid, ...descendants(pid)].map((p) => ({ pid: p, ticks: ticks(p) }));
}

/** Whether two reads saw the same members, all alive, with the same reaped-children time each. */
function agree(a: Member[], b: Member[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.pid !== y.pid || x.ticks === null || y.ticks === null || x.ticks.children !== y.ticks.children) return false;
  }
  return true;
}

/** Most reads treeTicks takes before it settles for the last (a tree forking without pause). */
const MAX_TREE_READS = 50;

/**
 * CPU of `pid` and its live descendants, clock ticks (see the top of this file): `own` is the
 * process's own, `children` all the rest (its reaped children's, and each live descendant's own
 * and reaped children's). Zeros when `pid` is gone.
 */
export function treeTicks(pid: number): Ticks {
  let prev = readMembers(pid);
  for (let n = 1; n < MAX_TREE_READS; n++) {
    const next = readMembers(pid);
    if (agree(prev, next)) {
      prev = next;
      break;
    }
    prev = next;
  }
  const root = prev[0]!.ticks;
  if (root === null) return { own: 0, children: 0 };
  let rest = root.children;
  for (let i = 1; i < prev.length; i++) {
    const t = prev[i]!.ticks;
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

/** Private_Clean + Private_Dirty of a process (its pages no other process maps), KiB; NaN when unknown. */
export function privateKiB(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const clean = /^Private_Clean:\s+(\d+) kB$/m.exec(text);
    const dirty = /^Private_Dirty:\s+(\d+) kB$/m.exec(text);
    return clean && dirty ? Number(clean[1]) + Number(dirty[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Resident memory of `pid` and its live descendants, KiB: the process's VmRSS, plus what each
 * descendant adds of its own (its private pages; its VmRSS where those cannot be read). A forked
 * helper's pages shared with its parent, and the libraries every member maps, count once, so a
 * tree of one process reads as its VmRSS. NaN when `pid` is gone.
 */
export function treeRssKiB(pid: number): number {
  const own = rssKiB(pid);
  if (Number.isNaN(own)) return own;
  let sum = own;
  for (const p of descendants(pid)) {
    const priv = privateKiB(p);
    const r = Number.isNaN(priv) ? rssKiB(p) : priv;
    if (!Number.isNaN(r)) sum += r;
  }
  return sum;
}
