/**
 * A strict reader of the Prometheus text format 0.0.4, for tests: it checks every line against
 * the grammar, undoes the escapes (only \\, \" and \n in label values; only \\ and \n in HELP,
 * as Prometheus' own parser does) and throws, naming the line, at the first thing it would refuse.
 * It also checks what the format asks of a whole answer: the last line ends with a line feed,
 * HELP and TYPE at most once per family and TYPE before its samples, a family's samples together,
 * no series twice. Also finds a real `promtool` for the tests that can use one.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  /** Label names in the order written. */
  labelNames: string[];
  value: number;
  timestampMs: number | undefined;
  /** 1-based line number. */
  line: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help: string | undefined;
  samples: PromSample[];
}

export interface PromParsed {
  families: Map<string, PromFamily>;
  samples: PromSample[];
  /** Lines in the text, the final empty one not counted. */
  lineCount: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const FLOAT = /^(?:NaN|[+-]?Inf|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

function parseFloatToken(s: string): number {
  if (!FLOAT.test(s)) throw new Error(`not a float: ${JSON.stringify(s)}`);
  if (s === 'NaN') return NaN;
  if (s.endsWith('Inf')) return s.startsWith('-') ? -Infinity : Infinity;
  return Number(s);
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(.?)/gs, (_m, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    throw new Error(`invalid escape \\${c} in HELP`);
  });
}

/** Parses `{a="x",b="y"}` from `s` at `i` (just past the brace); returns the index past `}`. */
function parseLabels(s: string, start: number, into: PromSample): number {
  let i = start;
  for (;;) {
    if (s[i] === '}') return i + 1;
    const m = LABEL_NAME.exec(s.slice(i));
    if (!m) throw new Error(`label name expected at column ${i + 1}`);
    const name = m[0];
    i += name.length;
    if (s[i] !== '=' || s[i + 1] !== '"') throw new Error(`="..." expected after label ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = s[i];
      if (c === undefined) throw new Error(`label ${name}: value not closed`);
      if (c === '"') break;
      if (c === '\\') {
        const e = s[i + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new Error(`label ${name}: invalid escape \\${e ?? ''}`);
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    i++; // the closing quote
    if (Object.hasOwn(into.labels, name)) throw new Error(`label ${name} twice`);
    into.labels[name] = value;
    into.labelNames.push(name);
    if (s[i] === ',') i++;
    else if (s[i] !== '}') throw new Error(`, or } expected after label ${name}`);
  }
}

function parseSampleLine(s: string, line: number): PromSample {
  const m = METRIC_NAME.exec(s);
  if (!m) throw new Error('metric name expected');
  const sample: PromSample = { name: m[0], labels: {}, labelNames: [], value: NaN, timestampMs: undefined, line };
  let i = m[0].length;
  if (s[i] === '{') i = parseLabels(s, i + 1, sample);
  const rest = s.slice(i);
  const tokens = /^[ \t]+(\S+)(?:[ \t]+(\S+))?[ \t]*$/.exec(rest);
  if (!tokens) throw new Error(`value expected, got ${JSON.stringify(rest)}`);
  sample.value = parseFloatToken(tokens[1]!);
  if (tokens[2] !== undefined) {
    if (!/^-?\d+$/.test(tokens[2])) throw new Error(`bad timestamp ${JSON.stringify(tokens[2])}`);
    sample.timestampMs = Number(tokens[2]);
  }
  return sample;
}

export function parseProm(text: string): PromParsed {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the last line must end with a line feed');
  const lines = text.split('\n');
  lines.pop();
  const families = new Map<string, PromFamily>();
  const samples: PromSample[] = [];
  const seriesSeen = new Set<string>();
  const finished = new Set<PromFamily>();
  const typed = new Set<string>();
  let current: PromFamily | undefined;

  const familyOf = (sampleName: string): PromFamily => {
    for (const [fname, fam] of families) {
      const suffixes = SUFFIXES[fam.type] ?? [''];
      if (suffixes.some((x) => fname + x === sampleName)) return fam;
    }
    if (families.has(sampleName)) throw new Error(`${sampleName} is no sample name of its ${families.get(sampleName)!.type}`);
    // A sample with no TYPE before it is untyped, a family of its own.
    const fam: PromFamily = { name: sampleName, type: 'untyped', help: undefined, samples: [] };
    families.set(sampleName, fam);
    return fam;
  };

  lines.forEach((s, idx) => {
    const line = idx + 1;
    try {
      if (/^[ \t]*$/.test(s)) return;
      const meta = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/s.exec(s);
      if (meta) {
        const [, kind, name, rest = ''] = meta;
        if (!METRIC_NAME.test(name!) || METRIC_NAME.exec(name!)![0] !== name) throw new Error(`bad metric name ${name}`);
        let fam = families.get(name!);
        if (!fam) {
          fam = { name: name!, type: 'untyped', help: undefined, samples: [] };
          families.set(name!, fam);
        }
        if (fam.samples.length > 0) throw new Error(`${kind} for ${name} after its samples`);
        if (kind === 'HELP') {
          if (fam.help !== undefined) throw new Error(`second HELP for ${name}`);
          fam.help = unescapeHelp(rest);
        } else {
          if (!TYPES.has(rest)) throw new Error(`unknown type ${JSON.stringify(rest)}`);
          if (typed.has(name!)) throw new Error(`second TYPE for ${name}`);
          typed.add(name!);
          fam.type = rest;
        }
        return;
      }
      if (s.startsWith('#')) return; // any other comment
      const sample = parseSampleLine(s, line);
      const fam = familyOf(sample.name);
      if (fam !== current) {
        if (current) finished.add(current);
        if (finished.has(fam)) throw new Error(`samples of ${fam.name} are not together`);
        current = fam;
      }
      const key = JSON.stringify([sample.name, Object.entries(sample.labels).sort(([a], [b]) => (a < b ? -1 : 1))]);
      if (seriesSeen.has(key)) throw new Error(`series written twice: ${s}`);
      seriesSeen.add(key);
      fam.samples.push(sample);
      samples.push(sample);
    } catch (err) {
      throw new Error(`line ${line}: ${(err as Error).message}: ${JSON.stringify(s)}`);
    }
  });
  return { families, samples, lineCount: lines.length };
}

/** The path of a promtool to check output with: $PROMTOOL, else the first on PATH; null if none. */
export function findPromtool(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = env['PROMTOOL'] ? [env['PROMTOOL']] : (env['PATH'] ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'promtool'));
  for (const p of candidates) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here; try the next
    }
  }
  return null;
}

/**
 * The promtool a test should use, or null after marking the test skipped. Under CI (env CI set)
 * a missing promtool is a failure, not a skip: .ci/run installs it, so its absence is a broken
 * machine, and a skip would let the check pass unseen.
 */
export function promtoolOrSkip(t: { skip(message?: string): void }, env: NodeJS.ProcessEnv = process.env): string | null {
  const promtool = findPromtool(env);
  if (promtool) return promtool;
  if (env['CI']) throw new Error('promtool not found and CI is set: .ci/run installs it (Debian package prometheus); or set PROMTOOL');
  t.skip('promtool not found (set PROMTOOL or put it on PATH; Debian package prometheus)');
  return null;
}

/** Runs `promtool check metrics` on `text`: exit 0 clean, 1 unparsable, 3 lint problems. */
export function promtoolCheck(promtool: string, text: string): { status: number | null; output: string } {
  const r = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
