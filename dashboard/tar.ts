/**
 * A minimal POSIX ustar writer: entries in, archive bytes out. Pure (no I/O), so it is tested
 * against the system's `tar` with bytes alone. Enough for the agent bundle the dashboard serves
 * (regular files and directories, ASCII paths up to 255 bytes); anything else is a RangeError
 * rather than an archive that some tar would read differently.
 *
 * Layout (POSIX.1-1988 ustar, as GNU tar and busybox read it): per entry one 512-byte header,
 * then the file's bytes padded with zeros to a multiple of 512; the archive ends with two
 * 512-byte blocks of zeros.
 */

/** Every header and data block is this many bytes. */
export const TAR_BLOCK_BYTES = 512;

/** Header fields: [offset, length] in bytes (POSIX ustar). */
const NAME = [0, 100] as const;
const MODE = [100, 8] as const;
const UID = [108, 8] as const;
const GID = [116, 8] as const;
const SIZE = [124, 12] as const;
const MTIME = [136, 12] as const;
const CHKSUM = [148, 8] as const;
const TYPEFLAG = 156;
const MAGIC = [257, 6] as const;
const VERSION = [263, 2] as const;
const UNAME = [265, 32] as const;
const GNAME = [297, 32] as const;
const PREFIX = [345, 155] as const;

const TYPE_FILE = '0';
const TYPE_DIR = '5';
/** Largest size an 11-digit octal field holds: 8 GiB - 1, bytes. */
const MAX_SIZE_BYTES = 8 ** 11 - 1;

export interface TarEntry {
  /** Relative path with `/` separators; a directory's may end in `/`. */
  readonly path: string;
  /** Permission bits, e.g. 0o644. */
  readonly mode: number;
  /** Modification time, seconds since the epoch. */
  readonly mtimeS: number;
  /** File contents; absent for a directory. */
  readonly data?: Uint8Array;
  readonly type: 'file' | 'dir';
}

/** Writes `value` as zero-padded octal filling `len - 1` bytes and a NUL. */
function octal(header: Buffer, [off, len]: readonly [number, number], value: number, what: string): void {
  const digits = Math.floor(value).toString(8);
  if (value < 0 || digits.length > len - 1) throw new RangeError(`tar: ${what} ${value} does not fit its field`);
  header.write(digits.padStart(len - 1, '0'), off, len - 1, 'ascii');
  header[off + len - 1] = 0;
}

function ascii(header: Buffer, [off, len]: readonly [number, number], value: string): void {
  header.write(value, off, len, 'ascii');
}

/**
 * Splits a path into ustar's name (≤ 100 bytes) and prefix (≤ 155 bytes), cut at a `/`:
 * readers join them as prefix + '/' + name.
 */
export function splitPath(path: string): { name: string; prefix: string } {
  if (path.length <= NAME[1]) return { name: path, prefix: '' };
  // The rightmost cut whose prefix fits leaves the name as long as possible but still ≤ 100.
  for (let i = Math.min(path.length - 1, PREFIX[1]); i > 0; i--) {
    if (path[i] === '/' && path.length - i - 1 <= NAME[1] && path.length - i - 1 > 0) return { name: path.slice(i + 1), prefix: path.slice(0, i) };
  }
  throw new RangeError(`tar: path too long for ustar: ${path}`);
}

function checkPath(path: string): void {
  // ASCII printable only: a name is never re-encoded by a reader, and control bytes never reach a terminal.
  if (!/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/u.test(path)) throw new RangeError(`tar: path must be printable ASCII: ${JSON.stringify(path)}`);
  if (path.startsWith('/') || path.split('/').some((seg) => seg === '..')) throw new RangeError(`tar: path must be relative and stay inside: ${path}`);
}

/** One entry's 512-byte header. */
export function tarHeader(entry: TarEntry): Buffer {
  const path = entry.type === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  checkPath(path);
  const size = entry.type === 'file' ? (entry.data?.length ?? 0) : 0;
  if (size > MAX_SIZE_BYTES) throw new RangeError(`tar: ${path} is larger than ustar allows`);
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) throw new RangeError(`tar: bad mode for ${path}`);
  const header = Buffer.alloc(TAR_BLOCK_BYTES);
  const { name, prefix } = splitPath(path);
  ascii(header, NAME, name);
  octal(header, MODE, entry.mode, 'mode');
  octal(header, UID, 0, 'uid');
  octal(header, GID, 0, 'gid');
  octal(header, SIZE, size, 'size');
  octal(header, MTIME, entry.mtimeS, 'mtime');
  header.write(entry.type === 'dir' ? TYPE_DIR : TYPE_FILE, TYPEFLAG, 1, 'ascii');
  // "ustar\0" then version "00": POSIX, as opposed to GNU's "ustar  \0".
  ascii(header, MAGIC, 'ustar\0');
  ascii(header, VERSION, '00');
  ascii(header, UNAME, 'root');
  ascii(header, GNAME, 'root');
  ascii(header, PREFIX, prefix);
  // The checksum is the byte sum of the header with its own field read as eight spaces; it is
  // written as six octal digits, a NUL and a space (what every tar writes and accepts).
  header.fill(0x20, CHKSUM[0], CHKSUM[0] + CHKSUM[1]);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, CHKSUM[0], CHKSUM[1], 'ascii');
  return header;
}

/** The whole archive (uncompressed), entries in the order given. */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e));
    if (e.type === 'file' && e.data && e.data.length > 0) {
      parts.push(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.length));
      const pad = (TAR_BLOCK_BYTES - (e.data.length % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES;
      if (pad > 0) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(2 * TAR_BLOCK_BYTES));
  return Buffer.concat(parts);
}
