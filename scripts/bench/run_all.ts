/**
 * `npm run bench [-- NAME ...] [--FLAG VALUE ...]`: runs the benchmarks (never part of npm test),
 * prints a table per benchmark and writes JSON to scripts/bench/results/. Names: codec, ingest,
 * fleet, dashboard, agent, page, energy (all by default). Flags are passed on to every benchmark
 * named (e.g. `agent --seconds 60`); `--quick` runs each at small sizes, all of them in under two
 * minutes, as a smoke check.
 *
 * The full run takes about 20 minutes, most of it the fleet (1,000, 10,000 and as many agents as
 * the open-file limit allows, 60 s each after their ramp) and the agent (60 s beside
 * prometheus-node-exporter, whose column is skipped, saying so, when the binary is absent). page
 * opens the overview in headless chromium and skips itself, saying so, when chromium is absent.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const KNOWN = ['codec', 'ingest', 'fleet', 'dashboard', 'agent', 'page', 'energy'];
const DEFAULT = KNOWN;
/** What `--quick` promises for all seven, s. */
const QUICK_BUDGET_S = 120;
const wanted: string[] = [];
const flags: string[] = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a.startsWith('-')) {
    flags.push(a);
    // A flag's value: the next word, unless it is a flag itself or a benchmark name.
    const next = argv[i + 1];
    if (!a.includes('=') && next !== undefined && !next.startsWith('-') && !KNOWN.includes(next)) flags.push(argv[++i]!);
  } else wanted.push(a);
}
const names = wanted.length > 0 ? wanted : DEFAULT;
for (const n of names) {
  if (!KNOWN.includes(n)) {
    console.error(`bench: unknown benchmark "${n}"; known: ${KNOWN.join(', ')}`);
    process.exit(2);
  }
}
let failed = 0;
const started = Date.now();
for (const n of names) {
  console.log(`\n=== ${n} ===`);
  const t0 = Date.now();
  const script = fileURLToPath(new URL(`./${n}.ts`, import.meta.url));
  const r = spawnSync(process.execPath, [...process.execArgv, script, ...flags], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`${n}: FAILED (exit ${r.status ?? r.signal})`);
  }
  console.log(`(${n}: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
const totalS = (Date.now() - started) / 1000;
console.log(`\nbench: ${names.length - failed} of ${names.length} ran, ${totalS.toFixed(0)} s in all`);
// The quick run promises every script in under two minutes: say so when a slow day breaks it.
if (flags.includes('--quick') && names.length === KNOWN.length && totalS >= QUICK_BUDGET_S) {
  console.log(`bench: --quick took over its ${QUICK_BUDGET_S} s budget (this machine is slow today, or a script's quick sizes grew)`);
}
process.exit(failed === 0 ? 0 : 1);
