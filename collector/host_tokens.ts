/**
 * Per-host tokens: `npm run token -- add NAME` makes a random token, prints it once and keeps
 * only a salted scrypt hash of it in DATA_DIR/host_tokens.json. A token is bound to its host
 * name: it opens that host's slot and no other.
 *
 * Cost: scrypt N=2^12, r=8, p=1 (4 MiB, about 10 ms on one core of a small machine). The
 * tokens are 256 random bits, so stretching adds nothing against guessing; the hash is there
 * so that a copied file does not hand out working tokens, and the cost is kept low because a
 * collector restarting under thousands of agents verifies one hash per agent. The parameters
 * are stored with each hash, so they can be raised later without breaking old entries.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { normaliseHostName } from '../shared/protocol.ts';

export const HOST_TOKENS_FILE = 'host_tokens.json';
export const HOST_TOKENS_FORMAT = 1;
export const SCRYPT_PARAMS = Object.freeze({ N: 1 << 12, r: 8, p: 1 });
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** Most entries the file may hold; a larger file is refused rather than read. */
export const MAX_HOST_TOKENS = 100_000;
const MAX_FILE_BYTES = MAX_HOST_TOKENS * 512;

export interface HostTokenRecord {
  host: string;
  /** base64 */
  salt: string;
  /** base64 */
  hash: string;
  N: number;
  r: number;
  p: number;
  /** ISO time of creation. */
  created: string;
}

interface FileShape {
  format: number;
  tokens: HostTokenRecord[];
}

function scryptAsync(token: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(token, salt, HASH_BYTES, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashToken(host: string, token: string, nowMs = Date.now()): Promise<HostTokenRecord> {
  const salt = randomBytes(SALT_BYTES);
  const { N, r, p } = SCRYPT_PARAMS;
  const hash = await scryptAsync(token, salt, N, r, p);
  return { host, salt: salt.toString('base64'), hash: hash.toString('base64'), N, r, p, created: new Date(nowMs).toISOString() };
}

/** Hashes `token` with the record's salt and parameters and compares in constant time. */
export async function verifyToken(record: HostTokenRecord, token: string): Promise<boolean> {
  const expected = Buffer.from(record.hash, 'base64');
  const actual = await scryptAsync(token, Buffer.from(record.salt, 'base64'), record.N, record.r, record.p);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * A record no token matches, verified when a hello names a host without a record, so that an
 * unknown host costs the same scrypt as a wrong token.
 */
export const DUMMY_RECORD: Readonly<HostTokenRecord> = Object.freeze({
  host: '', salt: randomBytes(SALT_BYTES).toString('base64'), hash: randomBytes(HASH_BYTES).toString('base64'),
  ...SCRYPT_PARAMS, created: new Date(0).toISOString(),
});

function isRecord(v: unknown): v is HostTokenRecord {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const intIn = (x: unknown, lo: number, hi: number): boolean => Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;
  return typeof o['host'] === 'string' && typeof o['salt'] === 'string' && typeof o['hash'] === 'string' && typeof o['created'] === 'string'
    // Bounded so that a tampered file cannot make each hello cost gigabytes.
    && intIn(o['N'], 2, 1 << 16) && ((o['N'] as number) & ((o['N'] as number) - 1)) === 0 && intIn(o['r'], 1, 32) && intIn(o['p'], 1, 4);
}

/** Parses the file's text into a map by host. Throws Error naming the problem. */
export function parseHostTokens(text: string): Map<string, HostTokenRecord> {
  const data = JSON.parse(text) as unknown;
  if (typeof data !== 'object' || data === null || (data as FileShape).format !== HOST_TOKENS_FORMAT || !Array.isArray((data as FileShape).tokens)) {
    throw new Error(`not a format-${HOST_TOKENS_FORMAT} host token file`);
  }
  const out = new Map<string, HostTokenRecord>();
  for (const rec of (data as FileShape).tokens) {
    if (!isRecord(rec)) throw new Error('an entry is malformed');
    out.set(normaliseHostName(rec.host), rec);
  }
  return out;
}

export function hostTokensPath(dataDir: string): string {
  return join(dataDir, HOST_TOKENS_FILE);
}

/** Reads the file; a missing file is an empty set. Throws for an unreadable or malformed one. */
export function readHostTokens(dataDir: string): Map<string, HostTokenRecord> {
  const file = hostTokensPath(dataDir);
  let text: string;
  try {
    if (statSync(file).size > MAX_FILE_BYTES) throw new Error(`${file} is larger than ${MAX_FILE_BYTES} bytes`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return new Map();
    throw err;
  }
  return parseHostTokens(text);
}

/** Writes the whole set (owner-only), through a temporary file and a rename: readers never see half a file. */
export function writeHostTokens(dataDir: string, records: Map<string, HostTokenRecord>): void {
  const file = hostTokensPath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  const body: FileShape = { format: HOST_TOKENS_FORMAT, tokens: [...records.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0)) };
  writeFileSync(tmp, JSON.stringify(body, null, 1) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

/**
 * The collector's view of the file, re-read when it changes (checked on each hello and by a
 * timer), so that `token add` and `token revoke` take effect without a restart. A file that
 * cannot be read keeps the last good set and is reported once per change.
 */
export class HostTokenSet {
  private records = new Map<string, HostTokenRecord>();
  private signature = '';
  /** The last error reading the file, or null. */
  lastError: string | null = null;
  /** Grows by one each time the set changes, whoever re-read the file: sessions are re-checked against it. */
  generation = 0;
  /**
   * False while the file exists but has never been read successfully: the set may be missing
   * hosts that have tokens, so the cluster token must not be accepted for anyone (fail closed).
   */
  trustworthy = false;

  constructor(private readonly dataDir: string, private readonly onError: (message: string) => void = () => {}) {
    this.refresh();
  }

  get size(): number {
    return this.records.size;
  }

  get(host: string): HostTokenRecord | undefined {
    return this.records.get(host);
  }

  /** Re-reads the file if its size, time or inode changed. Returns true when the set changed. */
  refresh(): boolean {
    const file = hostTokensPath(this.dataDir);
    let sig: string;
    try {
      const st = statSync(file);
      sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      // No such file, or no such directory (a data directory that cannot be made): no host has a
      // token. Anything else (no permission, I/O error) may hide one: see `trustworthy`.
      const code = (err as NodeJS.ErrnoException).code;
      sig = code === 'ENOENT' || code === 'ENOTDIR' ? 'absent' : `error:${(err as Error).message}`;
    }
    if (sig === 'absent') this.trustworthy = true; // no file: no host has a token
    if (sig === this.signature) return false;
    this.signature = sig;
    try {
      const next = readHostTokens(this.dataDir);
      const changed = !sameRecords(this.records, next);
      this.records = next;
      this.lastError = null;
      this.trustworthy = true;
      if (changed) this.generation++;
      return changed;
    } catch (err) {
      this.lastError = `${file}: ${err instanceof Error ? err.message : String(err)}; keeping the ${this.records.size} tokens read before`;
      this.onError(this.lastError);
      return false;
    }
  }
}

function sameRecords(a: Map<string, HostTokenRecord>, b: Map<string, HostTokenRecord>): boolean {
  if (a.size !== b.size) return false;
  for (const [host, rec] of a) if (b.get(host)?.salt !== rec.salt) return false;
  return true;
}
