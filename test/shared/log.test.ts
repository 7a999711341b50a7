import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, logValue } from '../../shared/log.ts';

test('values from the network cannot split or recolour a log line', () => {
  const cases: Array<[string, string]> = [
    ['plain', 'web-1'],
    ['newline', 'a\nfake line'],
    ['ANSI escape', '\u001b[31mred'],
    ['NUL', 'a\u0000b'],
    ['C1 control', 'a\u009bb'],
    ['right-to-left override', 'abc\u202Etxt'],
    ['line separator', 'a\u2028b'],
    ['quote and backslash', 'a"b\\c'],
  ];
  for (const [name, v] of cases) {
    const out = logValue(v);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(out, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/u, name);
  }
  assert.equal(logValue('web-1'), 'web-1');
  assert.equal(logValue('a b'), '"a b"');
  assert.equal(logValue('\u001b[31m'), '"\\u001b[31m"');
});

test('one line per event, below the level is dropped', () => {
  const lines: string[] = [];
  const log = createLogger('test', 'info', (l) => lines.push(l));
  log.debug('hidden');
  log.info('agent connected', { host: 'evil\nhost', n: 3 });
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.split('\n').length, 2); // the line and the empty string after its newline
  assert.match(lines[0]!, / info  test agent connected host="evil\\nhost" n=3\n$/);
});
