/**
 * Runs the alert rules in the collector: keeps each host's alert inputs from its latest sample,
 * evaluates every host once a second, logs each firing and resolving, hands them to the webhook
 * notifier (which never blocks), and tells the dashboard what is active.
 *
 * Inputs are computed when a sample becomes a host's latest reading (one pass over a sample
 * already in hand, into the host's own cell: no allocation); the once-a-second evaluation is
 * O(hosts x rules) comparisons, so ingestion pays almost nothing for alerts.
 */
import { ONLINE_INTERVALS } from '../shared/host_view.ts';
import type { Logger } from '../shared/log.ts';
import type { Sample } from '../shared/protocol.ts';
import type { AlertFeed, AlertView, RuleView } from '../dashboard/api.ts';
import { AlertInputsCell, type AlertRule } from './alert_rules.ts';
import { AlertEngine, type AlertTransition, type HostAlertState } from './alerts.ts';
import type { HostLiveness } from './hosts.ts';
import type { WebhookNotifier } from './webhook.ts';

/** How often the rules are evaluated on every host, ms. */
export const ALERT_EVAL_MS = 1000;
/**
 * Each evaluation is spread over this many ticks, each over the next share of the hosts: at
 * 19,000 hosts a whole one held the collector's event loop 30-60 ms once a second.
 */
export const ALERT_SLICES = 10;
/** With alerts active, the dashboard gets their fresh values this often even when nothing changed state, ms. */
const FEED_REFRESH_MS = 1000;

export interface AlertServiceDeps {
  rules: readonly AlertRule[];
  /** Every known host (HostTable.liveness); iterated live across the ticks of a round (a Map's iterator). */
  hosts: () => Iterable<HostLiveness>;
  /** How many hosts there are (HostTable.size): sets the share of each tick. Without it, each tick evaluates all. */
  hostCount?: () => number;
  notifier: WebhookNotifier | null;
  /** Receives the dashboard's view of the alerts whenever it changes. */
  publish: (feed: AlertFeed) => void;
  log: Logger;
  now?: () => number;
}

export function ruleViews(rules: readonly AlertRule[]): RuleView[] {
  return rules.map((r) => ({ name: r.name, metric: r.metric, op: r.op, threshold: r.threshold, for_s: r.forMs / 1000 }));
}

export class AlertService {
  readonly engine: AlertEngine;
  /** Each host's inputs from its latest sample, updated in place (AlertInputsCell says why). */
  private readonly inputs = new Map<string, AlertInputsCell>();
  /** The metrics the rules test: all a sample's inputs are cut down to. */
  private readonly wanted: ReadonlySet<string>;
  private readonly rules: RuleView[];
  private timer: NodeJS.Timeout | null = null;
  /** The round under way (evaluateSlice): the hosts still to come, the engine's first tick, the names seen. */
  private round: { hosts: Iterator<HostLiveness>; first: number; seen: Set<string> } | null = null;
  private version = 0;
  private lastKey = '';
  private lastPublishMs = 0;
  private readonly now: () => number;
  /** When this collector started watching, ms. */
  private readonly startedAtMs: number;

  constructor(private readonly deps: AlertServiceDeps) {
    this.engine = new AlertEngine(deps.rules);
    this.wanted = new Set(deps.rules.map((r) => r.metric));
    this.rules = ruleViews(deps.rules);
    this.now = deps.now ?? Date.now;
    this.startedAtMs = this.now();
  }

  /** HostTable.onLatest: a sample became `host`'s latest reading. */
  observe(host: string, sample: Sample): void {
    if (this.engine.rules.length === 0) return;
    let cell = this.inputs.get(host);
    if (cell === undefined) this.inputs.set(host, (cell = new AlertInputsCell(this.wanted)));
    cell.update(sample);
  }

  start(): void {
    this.publish(true);
    if (this.engine.rules.length === 0 || this.timer) return;
    this.timer = setInterval(() => this.evaluateSlice(), ALERT_EVAL_MS / ALERT_SLICES);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One evaluation of every rule on every host at once; returns the transitions (also logged and sent). */
  evaluate(nowMs = this.now()): AlertTransition[] {
    const states: HostAlertState[] = [];
    const known = new Set<string>();
    for (const h of this.deps.hosts()) {
      known.add(h.name);
      states.push(this.stateOf(h, nowMs));
    }
    this.forgetInputs(known);
    return this.report(this.engine.evaluate(states, nowMs), true);
  }

  /**
   * One tick of a round: the next ALERT_SLICES-th of the hosts (of as many as there are now);
   * the tick that finds none left ends the round, forgetting hosts that left the table (their
   * alerts resolve). Each host is evaluated once a round, a round taking ALERT_EVAL_MS.
   */
  evaluateSlice(nowMs = this.now()): AlertTransition[] {
    this.round ??= { hosts: this.deps.hosts()[Symbol.iterator](), first: this.engine.nextTick(), seen: new Set() };
    const round = this.round;
    const quota = this.deps.hostCount ? Math.max(1, Math.ceil(this.deps.hostCount() / ALERT_SLICES)) : Number.POSITIVE_INFINITY;
    const states: HostAlertState[] = [];
    let ended = false;
    while (states.length < quota) {
      const next = round.hosts.next();
      if (next.done) {
        ended = true;
        break;
      }
      round.seen.add(next.value.name);
      states.push(this.stateOf(next.value, nowMs));
    }
    const transitions = this.engine.evaluateSome(states, nowMs);
    if (ended) {
      transitions.push(...this.engine.forgetUnseen(round.first, nowMs));
      this.forgetInputs(round.seen);
      this.round = null;
    }
    return this.report(transitions, ended);
  }

  private stateOf(h: HostLiveness, nowMs: number): HostAlertState {
    // Connected but silent past ONLINE_INTERVALS intervals (stale): its inputs are frozen, so
    // it is judged as offline is (alerts kept, none new) without counting as offline itself.
    const stale = h.connected && nowMs - h.lastSeenMs > ONLINE_INTERVALS * h.intervalMs;
    // Offline since it was last seen, but never before this collector started: a host
    // restored from the state file whose agent has not reconnected yet was not watched while
    // the collector itself was down, and a restart must not page for every host.
    const disconnectedAtMs = h.connected ? null : Math.max(h.lastSeenMs, this.startedAtMs);
    return { name: h.name, inputs: this.inputs.get(h.name)?.view() ?? null, connected: h.connected && !stale, disconnectedAtMs: stale ? null : disconnectedAtMs };
  }

  /** Inputs of hosts that left the table (evicted) go with them. */
  private forgetInputs(known: ReadonlySet<string>): void {
    for (const name of this.inputs.keys()) if (!known.has(name)) this.inputs.delete(name);
  }

  /** Logs and sends each transition, and tells the dashboard (at least when a round ends). */
  private report(transitions: AlertTransition[], roundEnded: boolean): AlertTransition[] {
    for (const t of transitions) {
      const a = t.alert;
      const fields = { rule: a.rule, host: a.host, ...(a.instance ? { instance: a.instance } : {}), metric: a.metric, value: a.value, threshold: `${a.op} ${a.threshold}` };
      if (t.status === 'firing') this.deps.log.warn('alert firing', fields);
      else this.deps.log.info('alert resolved', fields);
      this.deps.notifier?.notify(t);
    }
    if (roundEnded || transitions.length > 0) this.publish(transitions.length > 0);
    return transitions;
  }

  /** The dashboard's view; its version changes only when the set of alerts or their states change. */
  feed(): AlertFeed {
    return { version: this.version, rules: this.rules, alerts: this.engine.active() as AlertView[] };
  }

  private publish(force: boolean): void {
    const now = this.now();
    const alerts = this.engine.active();
    const key = alerts.map((a) => `${a.rule}\u0000${a.host}\u0000${a.instance}\u0000${a.state}`).join('\u0001');
    const changed = key !== this.lastKey;
    if (!force && !changed && (alerts.length === 0 || now - this.lastPublishMs < FEED_REFRESH_MS)) return;
    if (changed) this.version++;
    this.lastKey = key;
    this.lastPublishMs = now;
    this.deps.publish({ version: this.version, rules: this.rules, alerts: alerts as AlertView[] });
  }
}
