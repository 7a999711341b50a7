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

test('json format: one object a line, values kept exact, unsafe characters escaped, base keys never overwritten', () => {
  const lines: string[] = [];
  const log = createLogger('collector', 'info', (l) => lines.push(l), 'json');
  log.warn('agent refused', { host: 'evil\nhost\u2028\u202e\u{e0041}', n: 3, ok: false, none: null, skipped: undefined, msg: 'spoof', level: 'error' });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.endsWith('\n'));
  assert.doesNotMatch(lines[0]!.slice(0, -1), /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]|\u{e0041}/u);
  const o = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(o['level'], 'warn');
  assert.equal(o['component'], 'collector');
  assert.equal(o['msg'], 'agent refused');
  assert.ok(!Number.isNaN(Date.parse(String(o['time']))));
  assert.equal(o['host'], 'evil\nhost\u2028\u202e\u{e0041}', 'JSON keeps the value exact once parsed');
  assert.equal(o['n'], 3);
  assert.equal(o['ok'], false);
  assert.equal(o['none'], null);
  assert.ok(!('skipped' in o));
  assert.equal(o['field_msg'], 'spoof');
  assert.equal(o['field_level'], 'error');
});

test('level and format change while running (a reload)', () => {
  const lines: string[] = [];
  const log = createLogger('agent', 'warn', (l) => lines.push(l));
  log.info('dropped');
  log.setLevel('debug');
  log.debug('kept');
  log.setFormat('json');
  log.info('as json');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, / debug agent kept\n$/);
  assert.equal((JSON.parse(lines[1]!) as { msg: string }).msg, 'as json');
});
