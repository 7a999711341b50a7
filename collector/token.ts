/**
 * The cluster token: a random secret created in the data directory at first start, which every
 * agent must present in its hello. Compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TOKEN_FILE = 'cluster.token';
/** The dashboard's password when it is bound beyond loopback and none was given. */
export const HTTP_TOKEN_FILE = 'http.token';
/** Entropy of a generated token, in bytes (256 bits). */
export const TOKEN_BYTES = 32;

/** Creates the data directory (owner only) if needed. */
export function ensureDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * A fresh random token, 43 characters of base64url, never starting with '-'. base64url's alphabet
 * holds '-', and a value that starts with it reads as a flag: Node's parseArgs refuses
 * `--token -Xy…` as ambiguous, so one printed join command in 64 failed. Drawing again costs
 * log2(64/63) ≈ 0.02 of the 256 bits.
 */
export function randomToken(): string {
  for (;;) {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    if (!token.startsWith('-')) return token;
  }
}

/**
 * Reads DATA_DIR/FILE (cluster.token by default), creating it (mode 0600) with a fresh random
 * token when absent. `wx` makes creation atomic: two processes starting at once end with the
 * same token.
 */
export function loadOrCreateClusterToken(dataDir: string, fileName = TOKEN_FILE): string {
  ensureDataDir(dataDir);
  const file = join(dataDir, fileName);
  try {
    writeFileSync(file, randomToken() + '\n', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const token = readFileSync(file, 'utf8').trim();
  if (token.length === 0) throw new Error(`${file} is empty: delete it to have a new token created`);
  return token;
}

/**
 * Constant-time comparison. Both sides are hashed first so that neither the comparison nor an
 * early length check reveals how long the expected token is.
 */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
