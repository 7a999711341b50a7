/**
 * The alert engine: rules in, alerts and their transitions out. Called once a second with every
 * known host; it keeps, per (rule, host, instance), since when the condition has held and whether
 * it has fired. Pure: time comes in as an argument, transitions go out as values (the caller
 * hands them to the webhook notifier), so tests drive it second by second.
 */
import type { AlertInputs, AlertOp, AlertRule } from './alert_rules.ts';
import { MAX_ALERT_INSTANCES } from './alert_rules.ts';

/** What the engine needs to know about one host at one evaluation. */
export interface HostAlertState {
  readonly name: string;
  /** Values of the latest sample; null before the first. */
  readonly inputs: AlertInputs | null;
  readonly connected: boolean;
  /** When the host's connection ended, ms; null when connected, or when not known. */
  readonly disconnectedAtMs: number | null;
}

/** One active alert, in the JSON shape of the contract (field names stable). */
export interface Alert {
  rule: string;
  host: string;
  /** The mount point for per-filesystem rules, else ''. */
  instance: string;
  metric: string;
  op: AlertOp;
  threshold: number;
  for_s: number;
  /** The latest value of the metric (for a resolved alert: the value that resolved it, if any). */
  value: number;
  state: 'pending' | 'firing';
  /** Since when the condition has held, ms. */
  active_since_ms: number;
  /** When the alert fired, ms; null while pending. */
  fired_at_ms: number | null;
}

export interface AlertTransition {
  status: 'firing' | 'resolved';
  /** The alert as it stands; a resolved one says state 'resolved' and when. */
  alert: Omit<Alert, 'state'> & { state: Alert['state'] | 'resolved'; resolved_at_ms?: number };
  at_ms: number;
}

interface InstanceState {
  readonly instance: string;
  activeSinceMs: number;
  firedAtMs: number | null;
  value: number;
  /** The evaluation that last saw this instance's value: an older one means it vanished. */
  seenTick: number;
}

interface HostEntry {
  readonly name: string;
  seenTick: number;
  /** By rule index; null until a condition of that rule first holds on this host. */
  readonly byRule: Array<Map<string, InstanceState> | null>;
}

const NO_FS: AlertInputs['fs'] = Object.freeze([]);

function holds(op: AlertOp, value: number, threshold: number): boolean {
  switch (op) {
    case '>': return value > threshold;
    case '>=': return value >= threshold;
    case '<': return value < threshold;
    case '<=': return value <= threshold;
  }
}

export class AlertEngine {
  readonly rules: readonly AlertRule[];
  private readonly hosts = new Map<string, HostEntry>();
  private tick = 0;
  private firing = 0;
  /** The transitions of the evaluate() call under way; a fresh array each call, as it is returned. */
  private out: AlertTransition[] = [];

  constructor(rules: readonly AlertRule[]) {
    const names = new Set(rules.map((r) => r.name));
    if (names.size !== rules.length) throw new TypeError('AlertEngine: rule names must be unique');
    this.rules = Object.freeze([...rules]);
  }

  /**
   * Evaluates every rule on every host at `nowMs` and returns what fired or resolved. Hosts the
   * engine knew that are absent from `hosts` were forgotten: their firing alerts resolve.
   * Cost: O(hosts × rules) plus the filesystems of fs rules; beyond the returned array, objects
   * are made only when an alert starts, fires or resolves.
   */
  evaluate(hosts: Iterable<HostAlertState>, nowMs: number): AlertTransition[] {
    const first = this.tick + 1;
    const out = this.evaluateSome(hosts, nowMs);
    out.push(...this.forgetUnseen(first, nowMs));
    return out;
  }

  /**
   * A round of evaluation in several calls (collector/alert_service.ts spreads one over a
   * second): the tick its first call will have; pass it to forgetUnseen once every host was given.
   */
  nextTick(): number {
    return this.tick + 1;
  }

  /** Evaluates every rule on the hosts given, forgetting none: part of a round (see nextTick). */
  evaluateSome(hosts: Iterable<HostAlertState>, nowMs: number): AlertTransition[] {
    const tick = ++this.tick;
    this.out = [];
    for (const h of hosts) {
      let entry = this.hosts.get(h.name);
      if (entry === undefined) {
        entry = { name: h.name, seenTick: 0, byRule: new Array<Map<string, InstanceState> | null>(this.rules.length).fill(null) };
        this.hosts.set(h.name, entry);
      } else if (entry.seenTick === tick) {
        continue; // the same name twice in one call: the first one counts
      }
      entry.seenTick = tick;
      for (let i = 0; i < this.rules.length; i++) this.evaluateRule(entry, i, h, nowMs, tick);
    }
    return this.out;
  }

  /**
   * Ends a round: hosts the engine knew that no call since tick `first` gave were forgotten, and
   * their firing alerts resolve. Returns those transitions.
   */
  forgetUnseen(first: number, nowMs: number): AlertTransition[] {
    this.out = [];
    for (const entry of this.hosts.values()) {
      if (entry.seenTick >= first) continue;
      for (let i = 0; i < this.rules.length; i++) {
        const states = entry.byRule[i];
        if (states) for (const s of states.values()) this.end(entry, i, s, null, nowMs);
      }
      this.hosts.delete(entry.name);
    }
    return this.out;
  }

  private evaluateRule(entry: HostEntry, i: number, h: HostAlertState, nowMs: number, tick: number): void {
    const rule = this.rules[i]!;
    if (rule.metric === 'offline_s') {
      const offline = h.connected ? 0 : h.disconnectedAtMs === null ? null : Math.max(0, nowMs - h.disconnectedAtMs) / 1000;
      this.step(entry, i, '', offline, nowMs, tick);
    } else if (!h.connected) {
      // Offline: the inputs are those of the last sample and say nothing about now. Resolving
      // would claim a recovery nobody saw, and firing would act on stale values, so every
      // firing reading alert stays as it is until samples come again (host_offline covers the
      // gap). A pending one is dropped: the time offline must not count towards its duration
      // (a replayed sample at reconnect would otherwise fire it at once).
      const states = entry.byRule[i];
      if (states) for (const st of states.values()) if (st.firedAtMs === null) states.delete(st.instance);
      return;
    } else if (rule.metric === 'fs_used_pct') {
      // Only the first MAX_ALERT_INSTANCES rows, whatever the caller passes, and instances not
      // seen are swept below: a hostile agent cannot grow the map beyond that or slow this loop.
      const fs = h.inputs?.fs ?? NO_FS;
      const n = Math.min(fs.length, MAX_ALERT_INSTANCES);
      for (let k = 0; k < n; k++) this.step(entry, i, fs[k]!.instance, fs[k]!.value, nowMs, tick);
    } else {
      this.step(entry, i, '', h.inputs?.values[rule.metric] ?? null, nowMs, tick);
    }
    // Instances not seen in this call (a filesystem unmounted, a reading gone) count as false.
    const states = entry.byRule[i];
    if (states) for (const s of states.values()) if (s.seenTick !== tick) this.end(entry, i, s, null, nowMs);
  }

  /** Advances one (rule, host, instance) with its value now (null: missing). */
  private step(entry: HostEntry, i: number, instance: string, value: number | null, nowMs: number, tick: number): void {
    const rule = this.rules[i]!;
    let states = entry.byRule[i];
    let s = states?.get(instance);
    if (s !== undefined && s.seenTick === tick) return; // a repeated mount point: the first row counts
    if (value === null || !holds(rule.op, value, rule.threshold)) {
      if (s !== undefined) this.end(entry, i, s, value, nowMs);
      return;
    }
    if (s === undefined) {
      if (states == null) states = entry.byRule[i] = new Map();
      s = { instance, activeSinceMs: nowMs, firedAtMs: null, value, seenTick: tick };
      states.set(instance, s);
    }
    s.value = value;
    s.seenTick = tick;
    if (s.firedAtMs === null && nowMs - s.activeSinceMs >= rule.forMs) {
      s.firedAtMs = nowMs;
      this.firing++;
      this.out.push({ status: 'firing', alert: this.toAlert(entry.name, rule, s), at_ms: nowMs });
    }
  }

  /** The condition no longer holds: a firing alert resolves, a pending one is dropped silently. */
  private end(entry: HostEntry, i: number, s: InstanceState, value: number | null, nowMs: number): void {
    entry.byRule[i]!.delete(s.instance);
    if (s.firedAtMs === null) return;
    this.firing--;
    if (value !== null) s.value = value;
    const alert = { ...this.toAlert(entry.name, this.rules[i]!, s), state: 'resolved' as const, resolved_at_ms: nowMs };
    this.out.push({ status: 'resolved', alert, at_ms: nowMs });
  }

  private toAlert(host: string, rule: AlertRule, s: InstanceState): Alert {
    return {
      rule: rule.name, host, instance: s.instance, metric: rule.metric, op: rule.op, threshold: rule.threshold,
      for_s: rule.forMs / 1000, value: s.value, state: s.firedAtMs === null ? 'pending' : 'firing',
      active_since_ms: s.activeSinceMs, fired_at_ms: s.firedAtMs,
    };
  }

  /** Every active alert: firing first, then pending; then by host, rule name and instance. */
  active(): Alert[] {
    const list: Alert[] = [];
    for (const entry of this.hosts.values()) {
      for (let i = 0; i < this.rules.length; i++) {
        const states = entry.byRule[i];
        if (states) for (const s of states.values()) list.push(this.toAlert(entry.name, this.rules[i]!, s));
      }
    }
    const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
    return list.sort((a, b) =>
      (a.state === b.state ? 0 : a.state === 'firing' ? -1 : 1) || cmp(a.host, b.host) || cmp(a.rule, b.rule) || cmp(a.instance, b.instance));
  }

  /** Hosts the engine holds state for (those of the last evaluate() call). */
  trackedHosts(): number {
    return this.hosts.size;
  }

  /** Alerts firing now; O(1). */
  firingCount(): number {
    return this.firing;
  }
}
