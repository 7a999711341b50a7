/** Reads a hex fixture: `#` comments and white space are ignored. */
import { readFileSync } from 'node:fs';

export function hexFixture(name: string): Buffer {
  const text = readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
  return Buffer.from(text.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('').replace(/\s+/g, ''), 'hex');
}

/** Frames a raw msgpack body (hex) with its 4-byte big-endian length. */
export function frameHex(bodyHex: string): Buffer {
  const body = Buffer.from(bodyHex.replace(/\s+/g, ''), 'hex');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/** A small seeded PRNG (mulberry32): the same seed gives the same run, so failures replay. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
