/**
 * Child of static_facts.test.ts, run inside a network namespace: reads the static facts once and
 * prints how long it took and the longest gap between 10 ms ticks of its event loop meanwhile.
 */
import { collectStaticFacts } from '../../../agent/collectors/static_facts.ts';

let last = Date.now();
let maxGapMs = 0;
const tick = setInterval(() => {
  const now = Date.now();
  maxGapMs = Math.max(maxGapMs, now - last);
  last = now;
}, 10);
const started = Date.now();
const { facts, missing } = await collectStaticFacts(5000);
const ms = Date.now() - started;
clearInterval(tick);
maxGapMs = Math.max(maxGapMs, Date.now() - last);
process.stdout.write(JSON.stringify({ ms, maxGapMs, facts, missing }));
