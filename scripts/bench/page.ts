/**
 * `npm run bench -- page [--hosts 500] [--seconds 20] [--burst] [--query sort=cpu&dir=desc]`: is the overview smooth at 500 hosts? A real
 * dashboard server over a store whose every host gets a new sample each second through the
 * collector's write path (HostTable, as test/helpers/store_fixture.ts does), and the page open in
 * headless chromium over the DevTools protocol for the window. Reports the page's own
 * `sentinel-render` measures (the first, full render apart), long tasks (> 50 ms on the main
 * thread, the browser's own definition of jank), and how busy the renderer's main thread was.
 *
 * `--trace FILE`: after the window, a few seconds more recorded as a Chrome trace (CDP's
 * Tracing domain) written to FILE (open it in chrome://tracing or Perfetto), with the renderer
 * main thread's time summed by event name printed, to see which phase of the frame costs.
 * Outside the window, so tracing's own overhead does not change the figures above.
 *
 * Skipped, saying so, when chromium is not installed.
 */
import { writeFileSync } from 'node:fs';
import { PAGE_ROWS } from '../../dashboard/static/overview.js';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { createDashboardServer } from '../../dashboard/server.ts';
import { launchBrowser, type Browser } from '../../test/helpers/cdp.ts';
import { findChromium, INSTALL_HINT } from '../../test/helpers/chromium.ts';
import { closeServer, listenLoopback } from '../../test/helpers/http_client.ts';
import { FIXTURE_READINGS, makeStore } from '../../test/helpers/store_fixture.ts';
import { machine, table, writeResult } from './common.ts';

const { values: opts } = parseArgs({ options: { hosts: { type: 'string', default: '500' }, seconds: { type: 'string' }, quick: { type: 'boolean', default: false }, burst: { type: 'boolean', default: false }, trace: { type: 'string' }, query: { type: 'string', default: '' } }, strict: false, allowPositionals: true });
// --quick: the smoke check of `npm run bench -- --quick`, a 5 s window.
if (opts.seconds === undefined) opts.seconds = opts.quick === true ? '5' : '20';
const HOSTS = Number(opts.hosts);
/** Rows the page draws: all hosts up to PAGE_ROWS, then the first PAGE_ROWS until "Show more". */
const ROWS = Math.min(HOSTS, PAGE_ROWS);
const WINDOW_S = Number(opts.seconds);
/** The overview's state in its own query form (`sort=cpu&dir=desc`, `status=online`, `view=grid`), '' for the default: name order, all hosts, the table. */
const QUERY = opts.query === '' ? '' : `?${new URLSearchParams(String(opts.query)).toString()}`;
if (!Number.isInteger(HOSTS) || HOSTS < 1 || HOSTS > 10_000 || !Number.isInteger(WINDOW_S) || WINDOW_S < 5 || WINDOW_S > 600) {
  console.error(`page: --hosts must be a whole number from 1 to 10000 and --seconds from 5 to 600, got ${String(opts.hosts)} and ${String(opts.seconds)}`);
  process.exit(2);
}
const SAMPLE_EVERY_MS = 1000;
/**
 * Hosts are written in this many slices a second, as a fleet's agents, started at different
 * times, land spread over the second; `--burst` writes them all at once (agents restarted
 * together), the worst case for one delta.
 */
const SLICES = opts.burst === true ? 1 : 20;
/** After every row is shown: time for the page's start-up work (first sparklines, ...) before the window, ms. */
const WARMUP_MS = 3000;
/** Time the first render of every host may take before the run is called failed, ms. */
const FIRST_RENDER_TIMEOUT_MS = 30_000;
/** Long tasks, recorded from the document's start by an observer the page's CSP does not apply to. */
const LONGTASK_OBSERVER = `window.__longtasks = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longtasks.push({ start: e.startTime, duration: e.duration }); })
  .observe({ type: 'longtask', buffered: true });`;

/** Nearest-rank quantile of sorted values (p95 of 20 renders is the 19th). */
/** Bytes of the first `hosts` event (the snapshot) a client of the stream at `url` is sent, its `event:` and `data:` lines included. */
async function snapshotBytes(url: string): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  const reader = res.body!.getReader();
  const HEAD = Buffer.from('event: hosts\n');
  let seen = Buffer.alloc(0);
  let from = -1;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${url} ended before its snapshot`);
      const searchAt = Math.max(0, seen.length - HEAD.length);
      seen = Buffer.concat([seen, value]);
      if (from < 0) from = seen.indexOf(HEAD, searchAt);
      if (from >= 0) {
        const end = seen.indexOf('\n\n', Math.max(from, searchAt - 1));
        if (end >= 0) return end + 2 - from;
      }
    }
  } finally {
    ac.abort();
  }
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** How long `--trace` records, ms. */
const TRACE_MS = 4000;
const TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'blink', 'cc', 'viz', 'benchmark', 'toplevel'];
/** Rows of the per-event summary printed after a trace. */
const TRACE_TOP = 25;

interface TraceEvent { name: string; ph: string; ts: number; dur?: number; pid: number; tid: number; args?: { name?: string } }

/** Records the browser's trace for `durationMs`; resolves with its events. */
async function recordTrace(browser: Browser, durationMs: number): Promise<TraceEvent[]> {
  const events: TraceEvent[] = [];
  let complete!: () => void;
  const done = new Promise<void>((r) => { complete = r; });
  const off = browser.on('', (method, p) => {
    if (method === 'Tracing.dataCollected') events.push(...(p['value'] as TraceEvent[]));
    else if (method === 'Tracing.tracingComplete') complete();
  });
  try {
    await browser.send('Tracing.start', { transferMode: 'ReportEvents', traceConfig: { includedCategories: TRACE_CATEGORIES } });
    await new Promise((r) => setTimeout(r, durationMs));
    await browser.send('Tracing.end');
    await done;
  } finally {
    off();
  }
  return events;
}

/**
 * The renderer main thread's complete ('X') events summed by name, over the busiest
 * CrRendererMain thread: total (inclusive of nested events) and self time (without them), ms.
 */
function summariseTrace(events: readonly TraceEvent[]): { thread: string; rows: Array<{ name: string; count: number; total_ms: number; self_ms: number }> } {
  const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const byThread = new Map<string, TraceEvent[]>();
  for (const e of events) {
    const key = `${e.pid}:${e.tid}`;
    if (e.ph !== 'X' || e.dur === undefined || !mains.has(key)) continue;
    let list = byThread.get(key);
    if (!list) byThread.set(key, (list = []));
    list.push(e);
  }
  let thread = '';
  let list: TraceEvent[] = [];
  for (const [key, l] of byThread) if (l.length > list.length) { thread = key; list = l; }
  // Parents before children: by start, then the longer first.
  list.sort((a, b) => a.ts - b.ts || b.dur! - a.dur!);
  const sums = new Map<string, { count: number; total: number; self: number }>();
  const stack: Array<{ e: TraceEvent; end: number; child: number }> = [];
  const close = (until: number): void => {
    while (stack.length > 0 && stack.at(-1)!.end <= until) {
      const top = stack.pop()!;
      const s = sums.get(top.e.name) ?? { count: 0, total: 0, self: 0 };
      s.count++; s.total += top.e.dur!; s.self += top.e.dur! - top.child;
      sums.set(top.e.name, s);
      if (stack.length > 0) stack.at(-1)!.child += top.e.dur!;
    }
  };
  for (const e of list) {
    close(e.ts);
    stack.push({ e, end: e.ts + e.dur!, child: 0 });
  }
  close(Infinity);
  const rows = [...sums].map(([name, s]) => ({ name, count: s.count, total_ms: s.total / 1000, self_ms: s.self / 1000 }));
  rows.sort((a, b) => b.self_ms - a.self_ms);
  return { thread, rows };
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '–');

async function main(): Promise<void> {
  const chromium = findChromium();
  if (!chromium) {
    console.log(`page: skipped, chromium not installed (${INSTALL_HINT})`);
    return;
  }
  const names = Array.from({ length: HOSTS }, (_, i) => `node-${String(i + 1).padStart(4, '0')}`);
  const fixture = makeStore(names.map((name) => ({ name, status: 'online' as const })), { capacity: HOSTS });
  // Each host's CPU wanders, so every push changes every row's numbers and the sort order.
  const cpuOf = names.map((_, i) => (i * 37) % 100);
  let slice = 0;
  const writeSlice = (): number => {
    const t0 = performance.now();
    const now = Date.now();
    for (let i = slice; i < names.length; i += SLICES) {
      cpuOf[i] = Math.min(100, Math.max(0, cpuOf[i]! + (Math.random() - 0.5) * 20));
      fixture.sample(names[i]!, { ...FIXTURE_READINGS, cpu_pct: cpuOf[i]!, mem_used_bytes: Math.round(FIXTURE_READINGS['mem_used_bytes']! * (0.5 + cpuOf[i]! / 200)) }, now);
    }
    slice = (slice + 1) % SLICES;
    return performance.now() - t0;
  };
  const server = createDashboardServer(fixture.store);
  // The sparklines the page asks for (its drawn rows' slots, or every host's).
  const sparkUrls: string[] = [];
  server.prependListener('request', (req) => { if ((req.url ?? '').startsWith('/api/sparklines')) sparkUrls.push(req.url!); });
  const base = await listenLoopback(server);
  const writeMs: number[] = [];
  const writer = setInterval(() => writeMs.push(writeSlice()), SAMPLE_EVERY_MS / SLICES);
  const browser = await launchBrowser({ chromium, timeoutMs: WINDOW_S * 1000 + 90_000 });
  try {
    const page = await browser.newPage({ width: 1280, height: 800 });
    await page.addInitScript(LONGTASK_OBSERVER);
    await page.send('Performance.enable');
    const opened = performance.now();
    await page.goto(`${base}/${QUERY}`);
    await page.waitFor(`document.querySelectorAll('#hosts tbody tr[data-host]').length === ${ROWS}`, FIRST_RENDER_TIMEOUT_MS, 100);
    const firstRowsMs = performance.now() - opened;
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    // The page's first list is its stream's snapshot; /api/hosts is what it would cost instead.
    const loadFetches = await page.evaluate<number>(`performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname === '/api/hosts').length`);
    const streamSnapshotBytes = await snapshotBytes(`${base}/api/events?view=overview`);
    const payloadBytes = Buffer.byteLength(await (await fetch(`${base}/api/hosts`)).text());
    const sparkAsked = sparkUrls.at(-1) ?? '/api/sparklines?seconds=900&points=60';
    const sparkBytes = Buffer.byteLength(await (await fetch(`${base}${sparkAsked}`)).text());
    const sparkAllBytes = Buffer.byteLength(await (await fetch(`${base}/api/sparklines?seconds=900&points=60`)).text());
    const metric = async (): Promise<Record<string, number>> => {
      const { metrics } = await page.send('Performance.getMetrics') as { metrics: Array<{ name: string; value: number }> };
      return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
    };
    const windowStart = await page.evaluate<number>('performance.now()');
    const m0 = await metric();
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const wallS = (performance.now() - wall0) / 1000;
    const cpu1 = process.cpuUsage(cpu0);
    const m1 = await metric();
    const seen = await page.evaluate<{ renders: Array<{ start: number; duration: number }>; deltas: Array<{ start: number; duration: number }>; longtasks: Array<{ start: number; duration: number }>; mode: string; rows: number }>(
      `({ renders: performance.getEntriesByName('sentinel-render').map((e) => ({ start: e.startTime, duration: e.duration })), longtasks: window.__longtasks,
          deltas: performance.getEntriesByName('sentinel-delta').map((e) => ({ start: e.startTime, duration: e.duration })),
          mode: document.getElementById('live')?.dataset.mode ?? '', rows: document.querySelectorAll('#hosts tbody tr[data-host]').length })`);
    const first = seen.renders[0];
    const during = seen.renders.filter((r) => r.start >= windowStart).map((r) => r.duration).sort((a, b) => a - b);
    const deltaDraws = seen.deltas.filter((r) => r.start >= windowStart).map((r) => r.duration).sort((a, b) => a - b);
    const longInWindow = seen.longtasks.filter((l) => l.start >= windowStart);
    const long = longInWindow.map((l) => l.duration);
    const busy = (name: string): number => ((m1[name] ?? 0) - (m0[name] ?? 0)) / wallS * 100;
    const result = {
      hosts: HOSTS, query: QUERY, window_s: wallS, data_mode: seen.mode, rows: seen.rows, writes: SLICES === 1 ? 'burst: every host at once' : `spread: ${SLICES} slices a second`,
      delta_draws: deltaDraws.length, delta_draw_ms: { median: quantile(deltaDraws, 0.5), p95: quantile(deltaDraws, 0.95), max: deltaDraws.at(-1) ?? null },
      first_rows_ms: firstRowsMs, first_render_ms: first?.duration ?? null,
      renders: during.length, renders_per_s: during.length / wallS,
      render_ms: { median: quantile(during, 0.5), p95: quantile(during, 0.95), max: during.at(-1) ?? null },
      long_tasks: long.length, long_task_ms_total: long.reduce((a, b) => a + b, 0), long_task_ms_max: long.length ? Math.max(...long) : 0,
      long_tasks_at: longInWindow.map((l) => ({ at_s: (l.start - windowStart) / 1000, ms: l.duration })),
      hosts_payload_bytes: payloadBytes, stream_snapshot_bytes: streamSnapshotBytes, hosts_fetches_at_load: loadFetches, sparklines_payload_bytes: sparkBytes, sparklines_every_host_bytes: sparkAllBytes, sparklines_requests: sparkUrls.length,
      renderer_main_thread_busy_pct: busy('TaskDuration'), renderer_script_pct: busy('ScriptDuration'),
      renderer_layout_style_pct: busy('LayoutDuration') + busy('RecalcStyleDuration'),
      js_heap_mib: (m1['JSHeapUsedSize'] ?? 0) / 2 ** 20, dom_nodes: m1['Nodes'] ?? null,
      store_write_ms_median: quantile([...writeMs].sort((a, b) => a - b), 0.5),
      node_cpu_pct: (cpu1.user + cpu1.system) / 1000 / (wallS * 1000) * 100,
    };
    const mc = machine();
    console.log(`page: ${HOSTS} hosts, every one sampled each second (${result.writes}), ${QUERY === '' ? '' : `page ${QUERY}, `}${wallS.toFixed(1)} s window; ${mc.cores} cores, ${mc.model}; browser, server and writer share the machine\n`);
    console.log(table([
      { what: 'first full render (sentinel-render)', value: `${ms(result.first_render_ms ?? Number.NaN)} ms` },
      { what: `page open to its ${ROWS} rows shown${ROWS < HOSTS ? ` (the first ${PAGE_ROWS}: "Show more" for the rest)` : ''}`, value: `${ms(firstRowsMs)} ms` },
      { what: `renders in the window (${seen.mode})`, value: `${during.length} (${result.renders_per_s.toFixed(2)}/s)` },
      { what: 'render median / p95 / max', value: `${ms(result.render_ms.median)} / ${ms(result.render_ms.p95)} / ${ms(result.render_ms.max ?? Number.NaN)} ms` },
      { what: 'rows drawn from deltas: frames, median / p95 / max', value: `${deltaDraws.length}, ${ms(result.delta_draw_ms.median)} / ${ms(result.delta_draw_ms.p95)} / ${ms(result.delta_draw_ms.max ?? Number.NaN)} ms` },
      { what: 'long tasks (> 50 ms) in the window', value: `${long.length}, ${ms(result.long_task_ms_total)} ms in all, longest ${ms(result.long_task_ms_max)} ms` },
      { what: 'renderer main thread busy', value: `${result.renderer_main_thread_busy_pct.toFixed(1)} % (script ${result.renderer_script_pct.toFixed(1)} %, layout+style ${result.renderer_layout_style_pct.toFixed(1)} %)` },
      { what: 'first list: the stream\'s snapshot (/api/hosts fetched at load)', value: `${(streamSnapshotBytes / 1024).toFixed(0)} KiB (${loadFetches}× ${(payloadBytes / 1024).toFixed(0)} KiB)` },
      { what: 'sparklines the page asks for, every 15 s (every host\'s)', value: `${(sparkBytes / 1024).toFixed(0)} KiB (${(sparkAllBytes / 1024).toFixed(0)} KiB), ${sparkUrls.length} requests${sparkAsked.includes('slots=') ? ', by slot' : ''}` },
      { what: 'JS heap / DOM nodes at the end', value: `${result.js_heap_mib.toFixed(1)} MiB / ${String(result.dom_nodes)}` },
      { what: 'server + writer process CPU', value: `${result.node_cpu_pct.toFixed(1)} % of one core (writing ${Math.ceil(HOSTS / SLICES)} samples: ${ms(result.store_write_ms_median)} ms)` },
    ]));
    console.log(`written: ${writeResult('page', result)}`);
    if (typeof opts.trace === 'string') {
      const events = await recordTrace(browser, TRACE_MS);
      writeFileSync(opts.trace, JSON.stringify({ traceEvents: events }));
      const { thread, rows } = summariseTrace(events);
      console.log(`\ntrace: ${events.length} events over ${TRACE_MS / 1000} s in ${opts.trace}; renderer main thread (${thread}) by self time:\n`);
      console.log(table(rows.slice(0, TRACE_TOP).map((r) => ({ event: r.name, count: String(r.count), 'self ms': r.self_ms.toFixed(1), 'total ms': r.total_ms.toFixed(1) }))));
    }
    // With the event stream, whole renders happen only on connect (and on a status change that
    // reorders the view): keeping up means rows drawn from deltas in the window.
    if (seen.rows !== ROWS || during.length + deltaDraws.length === 0) {
      console.error(`page: the page did not keep up (rows ${seen.rows}, renders ${during.length}, delta frames ${deltaDraws.length})`);
      process.exitCode = 1;
    }
  } finally {
    clearInterval(writer);
    await browser.close();
    await closeServer(server);
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
