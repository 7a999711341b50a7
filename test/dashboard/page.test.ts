// The pages as page.ts builds them: each inline script parses as one module (its files share one
// scope, so a name declared twice would stop the whole page), and the overview's markup carries
// the DOM contract's elements, its columns those of overview.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPageAssets } from '../../dashboard/page.ts';
import { COLUMNS, STATUS_FILTERS, fleetModel } from '../../dashboard/static/overview.js';
import { startTags, type Tag } from '../helpers/chromium.ts';

const assets = loadPageAssets();
const pages: ReadonlyArray<[string, Buffer]> = [['overview', assets.html], ['host page', assets.detail.html]];

test('each page\'s inline script parses as a module', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-page-'));
  try {
    for (const [name, html] of pages) {
      const script = /<script type="module">([\s\S]*?)<\/script>/.exec(html.toString('utf8'))?.[1];
      assert.ok(script, `${name} has its module script`);
      assert.doesNotMatch(script, /^import /m, `${name}: the joined files import nothing`);
      const file = join(dir, `${name.replace(/\W/g, '_')}.mjs`);
      writeFileSync(file, script);
      const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the overview\'s markup: the DOM contract\'s elements, named for assistive technology', () => {
  const tags = startTags(assets.html.toString('utf8'));
  const find = (pred: (t: Tag) => boolean): Tag[] => tags.filter(pred);
  const byId = (id: string): Tag => {
    const found = find((t) => t.attrs.get('id') === id);
    assert.equal(found.length, 1, `one #${id}`);
    return found[0]!;
  };
  assert.deepEqual(find((t) => t.attrs.has('data-fleet')).map((t) => t.attrs.get('data-fleet')), [
    'hosts', 'online', 'stale', 'offline', 'cpu', 'memory', 'power', 'power_detail', 'energy', 'energy_detail', 'cost', 'cost_detail', 'projected', 'projected_detail',
  ], 'every figure of fleetModel, each second line beside its figure');
  const fleetKeys = Object.keys(fleetModel({}, []));
  assert.deepEqual(find((t) => t.attrs.has('data-fleet')).map((t) => t.attrs.get('data-fleet')).sort(), fleetKeys.sort(), 'the page and overview.js agree on the figures');
  assert.ok(byId('alerts-banner').attrs.has('hidden'), 'the banner starts hidden');
  const filter = byId('filter');
  assert.equal(filter.attrs.get('type'), 'search');
  assert.ok(filter.attrs.get('aria-label'));
  assert.ok(byId('status-filter').attrs.get('aria-label'));
  assert.deepEqual(find((t) => t.name === 'option' && STATUS_FILTERS.includes(t.attrs.get('value') as never)).map((t) => t.attrs.get('value')), [...STATUS_FILTERS]);
  assert.deepEqual(find((t) => t.name === 'button' && t.attrs.has('data-view')).map((t) => [t.attrs.get('data-view'), t.attrs.get('aria-pressed')]), [['table', 'true'], ['grid', 'false']]);
  assert.deepEqual(find((t) => t.name === 'th' && t.attrs.has('data-col')).map((t) => [t.attrs.get('data-col'), t.attrs.get('aria-sort')]), COLUMNS.map((c) => [c, 'none']), 'a header per column of overview.js');
  assert.deepEqual(find((t) => t.name === 'button' && t.attrs.has('data-sort')).map((t) => t.attrs.get('data-sort')), [...COLUMNS]);
  assert.deepEqual(find((t) => t.name === 'option' && COLUMNS.includes(t.attrs.get('value') as never)).map((t) => t.attrs.get('value')), [...COLUMNS], 'the sort menu has every column');
  const live = byId('live');
  assert.equal(live.attrs.get('data-mode'), 'connecting');
  assert.equal(live.attrs.get('aria-live'), undefined, 'the per-second text is not announced');
  assert.ok(byId('empty').attrs.has('hidden'));
  assert.ok(byId('grid').attrs.has('hidden'), 'the table is the first view');
  assert.match(assets.html.toString('utf8'), /<noscript>/);
});

test('the host page has an energy card beside the power card', () => {
  const tags = startTags(assets.detail.html.toString('utf8'));
  const ids = tags.filter((t) => t.name === 'section').map((t) => t.attrs.get('id'));
  assert.ok(ids.includes('energy'), `sections: ${ids.join(', ')}`);
  assert.equal(ids.indexOf('energy'), ids.indexOf('power') + 1);
});
