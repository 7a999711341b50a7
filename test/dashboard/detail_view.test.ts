/**
 * dashboard/static/detail_view.js's pure parts, in node: what a card says of readings the host
 * did not send (the DOM-building parts run in chromium: detail_browser.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAMILIES, familyState, hostAlertLines, parseNote, type FamilyState } from '../../dashboard/static/detail_view.js';

const temps = FAMILIES['temps']!;

const CASES: Array<{ name: string; host: unknown; note: string; want: FamilyState }> = [
  {
    name: 'nothing sent, one reason for every reading: said once',
    host: { readings: {}, tables: {} }, note: 'temp_cpu_c: no sensors; temp_max_c: no sensors; temp_cores_c: no sensors',
    want: { reported: false, reasons: ['temp_cpu_c: no sensors', 'temp_max_c: no sensors', 'temp_cores_c: no sensors'], why: 'no sensors' },
  },
  {
    name: 'nothing sent, different reasons: each named',
    host: { readings: {}, tables: {} }, note: 'temp_cpu_c: no package sensor; temp_max_c: no sensors',
    want: { reported: false, reasons: ['temp_cpu_c: no package sensor', 'temp_max_c: no sensors'], why: 'temp_cpu_c: no package sensor; temp_max_c: no sensors' },
  },
  {
    name: 'nothing sent, a reading named without a reason: no single reason to give',
    host: { readings: {}, tables: {} }, note: 'temp_cpu_c; temp_max_c',
    want: { reported: false, reasons: ['temp_cpu_c', 'temp_max_c'], why: 'temp_cpu_c; temp_max_c' },
  },
  {
    name: 'nothing sent, no reason at all',
    host: { readings: {}, tables: {} }, note: '',
    want: { reported: false, reasons: [], why: '' },
  },
  {
    name: 'partly sent: what is missing, named',
    host: { readings: { temp_cpu_c: 51 }, tables: {} }, note: 'temp_max_c: no sensors; temp_cores_c: no sensors; gpu: none',
    want: { reported: true, reasons: ['temp_max_c: no sensors', 'temp_cores_c: no sensors'], why: 'no sensors' },
  },
  {
    name: 'a table with rows counts as sent',
    host: { readings: {}, tables: { temp_cores_c: [40, 41] } }, note: 'temp_cpu_c: no sensors',
    want: { reported: true, reasons: ['temp_cpu_c: no sensors'], why: 'no sensors' },
  },
];

for (const c of CASES) {
  test(`familyState: ${c.name}`, () => {
    assert.deepEqual(familyState(c.host, parseNote(c.note), temps), c.want);
  });
}

test('hostAlertLines: firing before pending, each state in the collector\'s order; anything else left out', () => {
  const a = (rule: string, state: unknown, instance: unknown = ''): unknown => ({ rule, metric: 'fs_used_pct', instance, state });
  assert.deepEqual(hostAlertLines([a('p1', 'pending'), a('f1', 'firing', '/var'), a('p2', 'pending'), a('f2', 'firing'), a('x', 'resolved'), null, 'junk', { state: 'firing' }]), [
    { rule: 'f1', metric: 'fs_used_pct', instance: '/var', state: 'firing' },
    { rule: 'f2', metric: 'fs_used_pct', instance: '', state: 'firing' },
    { rule: 'p1', metric: 'fs_used_pct', instance: '', state: 'pending' },
    { rule: 'p2', metric: 'fs_used_pct', instance: '', state: 'pending' },
  ]);
  assert.deepEqual(hostAlertLines(undefined), [], 'an older collector sends none');
  assert.deepEqual(hostAlertLines([a('f', 'firing', 42)]), [{ rule: 'f', metric: 'fs_used_pct', instance: '', state: 'firing' }], 'a non-string instance is none');
});
