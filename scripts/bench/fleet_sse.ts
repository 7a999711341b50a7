/**
 * Child process of the fleet benchmark: a client of the dashboard's event stream as the page
 * opens it (GET /api/events?view=overview), in a process of its own so that its parsing costs the collector nothing. For
 * every event whose data has a `hosts` array (`hosts` snapshots, and `delta` events carrying only
 * the changed hosts), each host whose sample_ts_ms changed since it was last seen gives one
 * latency: the time the event's last byte arrived - sample_ts_ms (the agent's send time).
 *
 * IPC: `start` {url, httpToken} -> `ready` once the stream answered; `reset` starts the window;
 * `stats` -> `stats`; `stop` -> exit.
 */
import { request } from 'node:http';
import { LatencyHistogram, SampleTimes, SseParser } from './fleet_lib.ts';

export interface SseStats {
  type: 'stats';
  histogram: ReturnType<LatencyHistogram['toJSON']>;
  /** Events in the window, and of them those with a hosts array. */
  events: number;
  hostEvents: number;
  bytes: number;
  /** Time spent parsing JSON in the window, ms (this process). */
  parseMs: number;
  /** Host sample times older than one seen before on this stream (since it opened). */
  regressions: number;
  error: string | null;
}

let hist = new LatencyHistogram();
let events = 0;
let hostEvents = 0;
let bytes = 0;
let parseMs = 0;
let error: string | null = null;
const times = new SampleTimes();

function start(url: string, httpToken: string): void {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (httpToken !== '') headers['authorization'] = `Bearer ${httpToken}`;
  const req = request(new URL('/api/events?view=overview', url), { headers, agent: false }, (res) => {
    if (res.statusCode !== 200) {
      error = `GET /api/events answered ${res.statusCode}`;
      process.send!({ type: 'ready', error });
      res.resume();
      return;
    }
    process.send!({ type: 'ready', error: null });
    res.setEncoding('utf8');
    const parser = new SseParser();
    res.on('data', (chunk: string) => {
      // Taken before any parsing: the arrival of the event's last byte.
      const now = Date.now();
      bytes += chunk.length;
      for (const ev of parser.push(chunk)) {
        events++;
        const t0 = performance.now();
        let data: unknown;
        try {
          data = JSON.parse(ev.data);
        } catch {
          continue;
        }
        parseMs += performance.now() - t0;
        if (!Array.isArray((data as { hosts?: unknown } | null)?.hosts)) continue;
        hostEvents++;
        for (const h of times.observe(data)) hist.record(now - h.sampleTsMs);
      }
    });
    res.on('end', () => { error ??= 'event stream ended'; });
  });
  req.on('error', (err) => {
    error = err.message;
    process.send!({ type: 'ready', error });
  });
  req.end();
}

process.on('message', (m: { type: string; url?: string; httpToken?: string }) => {
  if (m.type === 'start') start(m.url!, m.httpToken ?? '');
  else if (m.type === 'reset') { hist = new LatencyHistogram(); events = 0; hostEvents = 0; bytes = 0; parseMs = 0; }
  else if (m.type === 'stats') {
    process.send!({ type: 'stats', histogram: hist.toJSON(), events, hostEvents, bytes, parseMs, regressions: times.regressions, error } satisfies SseStats);
  } else if (m.type === 'stop') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
