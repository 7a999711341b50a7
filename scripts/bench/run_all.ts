/**
 * `npm run bench [-- NAME ...]`: runs the benchmarks (never part of npm test), prints a table per
 * benchmark and writes JSON to scripts/bench/results/. Names: codec, ingest.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ALL = ['codec', 'ingest'];
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length > 0 ? wanted : ALL;
for (const n of names) {
  if (!ALL.includes(n)) {
    console.error(`bench: unknown benchmark "${n}"; known: ${ALL.join(', ')}`);
    process.exit(2);
  }
}
let failed = 0;
for (const n of names) {
  console.log(`\n=== ${n} ===`);
  const script = fileURLToPath(new URL(`./${n}.ts`, import.meta.url));
  const r = spawnSync(process.execPath, [...process.execArgv, script], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
