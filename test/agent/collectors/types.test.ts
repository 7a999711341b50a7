import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_REASON_BYTES } from '../../../shared/protocol.ts';
import { cleanText, reasonFromError, withTimeout } from '../../../agent/collectors/types.ts';

const CLEAN_CASES = [
  { name: 'plain text is kept', raw: 'Debian GNU/Linux 12', maxBytes: 64, want: 'Debian GNU/Linux 12' },
  { name: 'controls become spaces, runs collapse', raw: ' a\r\n\tb\u0000c\u009b ', maxBytes: 64, want: 'a b c' },
  { name: 'bidi override removed', raw: 'abc\u202etxt.exe', maxBytes: 64, want: 'abc txt.exe' },
  { name: 'cut at a byte limit', raw: 'abcdef', maxBytes: 4, want: 'abcd' },
  { name: 'never half a character (2-byte)', raw: 'ééé', maxBytes: 5, want: 'éé' },
  { name: 'never half a surrogate pair', raw: '😀😀', maxBytes: 7, want: '😀' },
  { name: 'no trailing space after a cut', raw: 'ab cd', maxBytes: 3, want: 'ab' },
  { name: 'nothing fits', raw: '😀', maxBytes: 3, want: '' },
];

for (const c of CLEAN_CASES) {
  test(`cleanText: ${c.name}`, () => {
    assert.equal(cleanText(c.raw, c.maxBytes), c.want);
  });
}

const REASON_CASES: ReadonlyArray<{ name: string; err: unknown; want: RegExp }> = [
  { name: 'Error message', err: new Error('boom'), want: /^boom$/ },
  { name: 'multi-line message becomes one line', err: new Error('first\nsecond'), want: /^first second$/ },
  { name: 'errno code kept in front', err: Object.assign(new Error('permission denied'), { code: 'EACCES' }), want: /^EACCES: permission denied$/ },
  { name: 'code not repeated', err: Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' }), want: /^ENOENT: no such file$/ },
  { name: 'empty message falls back to the name', err: new RangeError(''), want: /^RangeError$/ },
  { name: 'a thrown string', err: 'just text', want: /^just text$/ },
  { name: 'a thrown undefined', err: undefined, want: /^undefined$/ },
  { name: 'blank text', err: '  \n ', want: /^unknown error$/ },
];

for (const c of REASON_CASES) {
  test(`reasonFromError: ${c.name}`, () => {
    assert.match(reasonFromError(c.err), c.want);
  });
}

test('reasonFromError: a long multi-byte message fits MAX_REASON_BYTES', () => {
  const reason = reasonFromError(new Error('€'.repeat(500)));
  assert.ok(Buffer.byteLength(reason) <= MAX_REASON_BYTES);
  assert.ok(Buffer.byteLength(reason) > MAX_REASON_BYTES - 3);
  assert.ok(!reason.includes('\n'));
});

test('withTimeout: a fast promise passes through', async () => {
  assert.equal(await withTimeout(Promise.resolve(7), 1_000, 'fast'), 7);
});

test('withTimeout: a rejection passes through unchanged', async () => {
  const err = new Error('inner');
  await assert.rejects(withTimeout(Promise.reject(err), 1_000, 'failing'), (e) => e === err);
});

test('withTimeout: a hanging promise rejects after the timeout, naming what', async () => {
  await assert.rejects(withTimeout(new Promise(() => {}), 50, 'si.mem()'), { message: 'si.mem() timed out after 50 ms' });
});

test('withTimeout: a settled promise leaves no timer behind', async () => {
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  await withTimeout(Promise.resolve(1), 60_000, 'fast');
  const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  assert.equal(after, before);
});

for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
  test(`withTimeout: timeoutMs ${timeoutMs} is a programmer mistake`, () => {
    assert.throws(() => withTimeout(Promise.resolve(1), timeoutMs, 'x'), RangeError);
  });
}
