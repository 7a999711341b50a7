/**
 * Runs the alert rules in the collector: keeps each host's alert inputs from its latest sample,
 * evaluates every host once a second, logs each firing and resolving, hands them to the webhook
 * notifier (which never blocks), and tells the dashboard what is active.
 *
 * Inputs are computed when a sample becomes a host's latest reading (one pass over a sample
 * already in hand); the once-a-second evaluation is O(hosts x rules) comparisons, so ingestion
 * pays almost nothing for alerts.
 */
import { ONLINE_INTERVALS } from '../shared/host_view.ts';
import type { Logger } from '../shared/log.ts';
import type { Sample } from '../shared/protocol.ts';
import type { AlertFeed, AlertView, RuleView } from '../dashboard/api.ts';
import { alertInputs, type AlertInputs, type AlertRule } from './alert_rules.ts';
import { AlertEngine, type AlertTransition, type HostAlertState } from './alerts.ts';
import type { HostLiveness } from './hosts.ts';
import type { WebhookNotifier } from './webhook.ts';

/** How often the rules are evaluated, ms. */
export const ALERT_EVAL_MS = 1000;
/** With alerts active, the dashboard gets their fresh values this often even when nothing changed state, ms. */
const FEED_REFRESH_MS = 1000;

export interface AlertServiceDeps {
  rules: readonly AlertRule[];
  /** Every known host (HostTable.liveness). */
  hosts: () => Iterable<HostLiveness>;
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
  private readonly inputs = new Map<string, AlertInputs>();
  /** The metrics the rules test: all a sample's inputs are cut down to. */
  private readonly wanted: ReadonlySet<string>;
  private readonly rules: RuleView[];
  private timer: NodeJS.Timeout | null = null;
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
    if (this.engine.rules.length > 0) this.inputs.set(host, alertInputs(sample, this.wanted));
  }

  start(): void {
    this.publish(true);
    if (this.engine.rules.length === 0 || this.timer) return;
    this.timer = setInterval(() => this.evaluate(), ALERT_EVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One evaluation of every rule on every host; returns the transitions (also logged and sent). */
  evaluate(nowMs = this.now()): AlertTransition[] {
    const states: HostAlertState[] = [];
    const known = new Set<string>();
    for (const h of this.deps.hosts()) {
      known.add(h.name);
      // Connected but silent past ONLINE_INTERVALS intervals (stale): its inputs are frozen, so
      // it is judged as offline is (alerts kept, none new) without counting as offline itself.
      const stale = h.connected && nowMs - h.lastSeenMs > ONLINE_INTERVALS * h.intervalMs;
      // Offline since it was last seen, but never before this collector started: a host
      // restored from the state file whose agent has not reconnected yet was not watched while
      // the collector itself was down, and a restart must not page for every host.
      const disconnectedAtMs = h.connected ? null : Math.max(h.lastSeenMs, this.startedAtMs);
      states.push({ name: h.name, inputs: this.inputs.get(h.name) ?? null, connected: h.connected && !stale, disconnectedAtMs: stale ? null : disconnectedAtMs });
    }
    // Inputs of hosts that left the table (evicted) go with them.
    for (const name of this.inputs.keys()) if (!known.has(name)) this.inputs.delete(name);
    const transitions = this.engine.evaluate(states, nowMs);
    for (const t of transitions) {
      const a = t.alert;
      const fields = { rule: a.rule, host: a.host, ...(a.instance ? { instance: a.instance } : {}), metric: a.metric, value: a.value, threshold: `${a.op} ${a.threshold}` };
      if (t.status === 'firing') this.deps.log.warn('alert firing', fields);
      else this.deps.log.info('alert resolved', fields);
      this.deps.notifier?.notify(t);
    }
    this.publish(transitions.length > 0);
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
