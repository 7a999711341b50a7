/**
 * `npm run bench [-- NAME ...] [--FLAG VALUE ...]`: runs the benchmarks (never part of npm test),
 * prints a table per benchmark and writes JSON to scripts/bench/results/. Names: codec, ingest, api,
 * agent_cost, page, energy. Flags are passed on to every benchmark named (e.g. `agent_cost --seconds 60`).
 *
 * agent_cost takes about 70 s (a 60 s window after start and a 5 s warm-up; under the 2 minutes
 * that would keep it out of the default list). It compares against prometheus-node-exporter and
 * skips that column, saying so, when the binary is absent.
 *
 * page takes about 25 s (the overview at 500 hosts in headless chromium for a 20 s window); it
 * skips itself, saying so, when chromium is absent.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const KNOWN = ['codec', 'ingest', 'api', 'agent_cost', 'page', 'energy'];
const DEFAULT = KNOWN;
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
for (const n of names) {
  console.log(`\n=== ${n} ===`);
  const script = fileURLToPath(new URL(`./${n}.ts`, import.meta.url));
  const r = spawnSync(process.execPath, [...process.execArgv, script, ...flags], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
