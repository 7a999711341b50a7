/**
 * The dashboard's tab icon, /favicon.ico: drawn here as pixels and packed as an ICO, so that
 * nothing is loaded from elsewhere and a browser's request for it is answered (it used to be a
 * 404 in every page's log). The picture is the page's "live" dot: a green dot in a blue ring.
 *
 * ICO layout (one image): a 6-byte ICONDIR, a 16-byte ICONDIRENTRY, then a BMP without its file
 * header: a 40-byte BITMAPINFOHEADER whose height counts both masks (2 x size), the colour
 * pixels bottom-up as BGRA, then the 1-bit AND mask (all zero: the alpha channel says what is
 * transparent), each row padded to 4 bytes. Pure: no I/O.
 */

/** Edge of the square icon, pixels. */
export const FAVICON_SIZE = 32;
/** Samples per pixel along each axis, for smooth edges. */
const SUPERSAMPLE = 4;

type Rgb = readonly [number, number, number];
/** The page's --bar and --ok colours (dashboard/static/app.css, light theme). */
const RING: Rgb = [0x09, 0x69, 0xda];
const DOT: Rgb = [0x1a, 0x7f, 0x37];

/** Which colour covers the point (x, y) of a unit square centred on (0.5, 0.5), or null. */
function paintAt(x: number, y: number): Rgb | null {
  const r = Math.hypot(x - 0.5, y - 0.5);
  if (r <= 0.22) return DOT;
  if (r >= 0.33 && r <= 0.47) return RING;
  return null;
}

/** BGRA pixels, top row first: each the mean of its supersamples (colour weighted by coverage). */
export function faviconPixels(size = FAVICON_SIZE): Uint8Array {
  const out = new Uint8Array(size * size * 4);
  const n = SUPERSAMPLE * SUPERSAMPLE;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let covered = 0;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        for (let sx = 0; sx < SUPERSAMPLE; sx++) {
          const c = paintAt((px + (sx + 0.5) / SUPERSAMPLE) / size, (py + (sy + 0.5) / SUPERSAMPLE) / size);
          if (c === null) continue;
          covered++;
          r += c[0];
          g += c[1];
          b += c[2];
        }
      }
      const at = (py * size + px) * 4;
      if (covered > 0) {
        out[at] = Math.round(b / covered);
        out[at + 1] = Math.round(g / covered);
        out[at + 2] = Math.round(r / covered);
        out[at + 3] = Math.round((covered / n) * 255);
      }
    }
  }
  return out;
}

/** Packs top-row-first BGRA pixels of a square image into an ICO file. */
export function encodeIco(pixels: Uint8Array, size: number): Buffer {
  if (!Number.isInteger(size) || size < 1 || size > 256) throw new RangeError(`an ICO image is 1 to 256 pixels wide, got ${size}`);
  if (pixels.length !== size * size * 4) throw new RangeError(`${size} x ${size} BGRA pixels are ${size * size * 4} bytes, got ${pixels.length}`);
  const maskRow = Math.ceil(size / 32) * 4;
  const imageBytes = 40 + pixels.length + maskRow * size;
  const ico = Buffer.alloc(6 + 16 + imageBytes);
  // ICONDIR: reserved, type 1 (icon), one image.
  ico.writeUInt16LE(0, 0);
  ico.writeUInt16LE(1, 2);
  ico.writeUInt16LE(1, 4);
  // ICONDIRENTRY: width and height (0 means 256), no palette, 1 plane, 32 bits, size, offset.
  ico.writeUInt8(size & 0xff, 6);
  ico.writeUInt8(size & 0xff, 7);
  ico.writeUInt16LE(1, 10);
  ico.writeUInt16LE(32, 12);
  ico.writeUInt32LE(imageBytes, 14);
  ico.writeUInt32LE(22, 18);
  // BITMAPINFOHEADER: the height covers the colour image and the mask.
  const h = 22;
  ico.writeUInt32LE(40, h);
  ico.writeInt32LE(size, h + 4);
  ico.writeInt32LE(size * 2, h + 8);
  ico.writeUInt16LE(1, h + 12);
  ico.writeUInt16LE(32, h + 14);
  ico.writeUInt32LE(0, h + 16);
  ico.writeUInt32LE(pixels.length + maskRow * size, h + 20);
  // Colour rows bottom-up; the AND mask after them stays zero.
  const rowBytes = size * 4;
  for (let y = 0; y < size; y++) {
    ico.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), h + 40 + (size - 1 - y) * rowBytes);
  }
  return ico;
}

let cached: Buffer | null = null;

/** The icon served at /favicon.ico, drawn once. */
export function favicon(): Buffer {
  cached ??= encodeIco(faviconPixels(FAVICON_SIZE), FAVICON_SIZE);
  return cached;
}
