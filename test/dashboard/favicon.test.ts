/**
 * dashboard/favicon.ts: the ICO's structure byte by byte, the drawing, and /favicon.ico decoded
 * by a real browser (chromium's own ICO decoder draws it on a canvas: colours and which way up).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDashboardServer } from '../../dashboard/server.ts';
import { encodeIco, favicon, FAVICON_SIZE, faviconPixels } from '../../dashboard/favicon.ts';
import { launchBrowser } from '../helpers/cdp.ts';
import { chromiumOrSkip } from '../helpers/chromium.ts';
import { closeServer, httpRequest, listenLoopback } from '../helpers/http_client.ts';
import { makeStore } from '../helpers/store_fixture.ts';

test('encodeIco: ICONDIR, ICONDIRENTRY and BITMAPINFOHEADER as the format says; rows bottom-up; a zero AND mask', () => {
  // 2 x 2: top-left red, top-right green, bottom-left blue, bottom-right white (BGRA).
  const px = Uint8Array.from([0, 0, 255, 255, 0, 255, 0, 255, 255, 0, 0, 255, 255, 255, 255, 128]);
  const ico = encodeIco(px, 2);
  assert.equal(ico.length, 6 + 16 + 40 + 16 + 4 * 2);
  assert.deepEqual([ico.readUInt16LE(0), ico.readUInt16LE(2), ico.readUInt16LE(4)], [0, 1, 1], 'ICONDIR: reserved, icon, one image');
  assert.deepEqual([ico[6], ico[7], ico[8], ico[9], ico.readUInt16LE(10), ico.readUInt16LE(12)], [2, 2, 0, 0, 1, 32], 'entry: 2 x 2, no palette, 1 plane, 32 bits');
  assert.equal(ico.readUInt32LE(14), 40 + 16 + 8, 'entry: bytes of the image');
  assert.equal(ico.readUInt32LE(18), 22, 'entry: the image right after the directory');
  assert.deepEqual([ico.readUInt32LE(22), ico.readInt32LE(26), ico.readInt32LE(30), ico.readUInt16LE(34), ico.readUInt16LE(36), ico.readUInt32LE(38)], [40, 2, 4, 1, 32, 0], 'header: height counts both masks; no compression');
  // The first row stored is the bottom one.
  assert.deepEqual([...ico.subarray(62, 70)], [255, 0, 0, 255, 255, 255, 255, 128], 'bottom row first');
  assert.deepEqual([...ico.subarray(70, 78)], [0, 0, 255, 255, 0, 255, 0, 255], 'then the top row');
  assert.deepEqual([...ico.subarray(78)], [0, 0, 0, 0, 0, 0, 0, 0], 'AND mask: 4 bytes a row, all zero');
  assert.equal(encodeIco(new Uint8Array(256 * 256 * 4), 256)[6], 0, '256 is written as 0');
  assert.throws(() => encodeIco(new Uint8Array(4 * 4 * 4), 3), RangeError);
  assert.throws(() => encodeIco(new Uint8Array(0), 0), RangeError);
  assert.throws(() => encodeIco(new Uint8Array(257 * 257 * 4), 257), RangeError);
});

test('faviconPixels: a green dot in a blue ring, transparent around and between, soft edges', () => {
  const px = faviconPixels();
  const at = (x: number, y: number): number[] => [...px.subarray((y * FAVICON_SIZE + x) * 4, (y * FAVICON_SIZE + x) * 4 + 4)];
  const c = FAVICON_SIZE / 2;
  assert.deepEqual(at(c, c), [0x37, 0x7f, 0x1a, 255], 'the centre: the dot, opaque (BGRA)');
  assert.deepEqual(at(c, 2), [0xda, 0x69, 0x09, 255], 'near the top: the ring');
  assert.deepEqual(at(0, 0), [0, 0, 0, 0], 'a corner: transparent');
  assert.equal(at(c, Math.round(c - 0.275 * FAVICON_SIZE))[3], 0, 'between dot and ring: transparent');
  const alphas = new Set<number>();
  for (let i = 3; i < px.length; i += 4) alphas.add(px[i]!);
  assert.ok(alphas.size > 4, `edges are blended (${alphas.size} alpha levels)`);
  assert.equal(favicon(), favicon(), 'drawn once');
});

test('/favicon.ico: served without a password, cached a day; chromium decodes it in its colours, and encodeIco\'s rows the right way up', { timeout: 90_000 }, async (t) => {
  const server = createDashboardServer(makeStore([]).store, { httpToken: 'secret' });
  const base = await listenLoopback(server);
  t.after(() => closeServer(server));
  const res = await httpRequest(`${base}/favicon.ico`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'image/x-icon');
  assert.equal(res.headers['cache-control'], 'public, max-age=86400');
  assert.equal(Number(res.headers['content-length']), favicon().length);
  assert.equal((await httpRequest(`${base}/api/hosts`)).status, 401, 'the rest still needs the password');

  const chromium = chromiumOrSkip(t);
  if (!chromium) return;
  const browser = await launchBrowser({ chromium });
  t.after(() => browser.close());
  const page = await browser.newPage({ width: 400, height: 300 });
  // The icon as its own document: chromium shows it in an <img>, read back through a canvas.
  await page.goto(`${base}/favicon.ico`);
  const seen = await page.waitFor<{ w: number; h: number; centre: number[]; top: number[]; bottom: number[]; corner: number[] } | false>(`(() => {
    const img = document.images[0];
    if (!img || !img.complete || img.naturalWidth === 0) return false;
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const px = (x, y) => [...g.getImageData(x, y, 1, 1).data];
    const m = c.width / 2;
    return { w: c.width, h: c.height, centre: px(m, m), top: px(m, 2), bottom: px(m, c.height - 3), corner: px(0, 0) };
  })()`, 15_000);
  assert.ok(seen);
  assert.deepEqual([seen.w, seen.h], [FAVICON_SIZE, FAVICON_SIZE]);
  assert.deepEqual(seen.centre, [0x1a, 0x7f, 0x37, 255], 'the green dot (RGBA)');
  assert.deepEqual(seen.top, [0x09, 0x69, 0xda, 255], 'the blue ring at the top');
  assert.deepEqual(seen.bottom, [0x09, 0x69, 0xda, 255], 'and at the bottom');
  assert.equal(seen.corner[3], 0, 'a transparent corner');

  // Which way up: an icon whose top half is red and bottom half blue, decoded the same way.
  const size = 8;
  const halves = new Uint8Array(size * size * 4);
  for (let i = 0; i < size * size; i++) halves.set(i < (size * size) / 2 ? [0, 0, 255, 255] : [255, 0, 0, 255], i * 4);
  const dataUrl = `data:image/x-icon;base64,${encodeIco(halves, size).toString('base64')}`;
  await page.goto('about:blank');
  const rows = await page.waitFor<{ top: number[]; bottom: number[] } | false>(`(async () => {
    const img = new Image();
    img.src = ${JSON.stringify(dataUrl)};
    await img.decode();
    const c = document.createElement('canvas');
    c.width = ${size}; c.height = ${size};
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    return { top: [...g.getImageData(1, 0, 1, 1).data], bottom: [...g.getImageData(1, ${size - 1}, 1, 1).data] };
  })()`, 15_000);
  assert.ok(rows);
  assert.deepEqual(rows, { top: [255, 0, 0, 255], bottom: [0, 0, 255, 255] }, 'the first row given is drawn at the top');
});
