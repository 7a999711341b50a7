/**
 * The frame codec: a 4-byte unsigned big-endian length, then exactly that many bytes holding
 * one msgpack map. Pure: bytes in, messages out; no sockets here.
 *
 * Wire encoding decision (measured by `npm run bench -- codec`, figures in README): frames are
 * plain msgpack maps. msgpackr's record extension decodes faster, but it reinterprets standard
 * fixints 0x40-0x7f, so an agent written in any other language could not speak it; plain maps
 * decode well above one collector's needs, so interoperability wins.
 */
import { Packr, Unpackr } from 'msgpackr';
import { ERROR_CODES, FrameError, type ForeignProtocol } from './errors.ts';
import { checkMsgpackMap, DEFAULT_GUARD_LIMITS, type GuardLimits } from './msgpack_guard.ts';

/** Size of the length prefix, in bytes. */
export const FRAME_HEADER_BYTES = 4;
/** Default largest frame body accepted, in bytes (64 KiB). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
/** The largest body any configuration may allow, in bytes (16 MiB). */
export const MAX_FRAME_BYTES_CEILING = 16 * 1024 * 1024;

export type Message = Record<string, unknown>;

// Plain maps only: no records, and nothing that msgpackr would turn into an extension.
const packr = new Packr({ useRecords: false, moreTypes: false });
// The guard has refused ext/bin types and prototype keys before this decoder sees a byte.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', moreTypes: false });

/** Encodes one message as a frame. `undefined` fields are dropped (msgpackr would write an ext). */
export function encodeFrame(message: Message): Buffer {
  const body = packr.pack(dropUndefined(message));
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

function dropUndefined(message: Message): Message {
  let clean: Message | undefined;
  for (const key of Object.keys(message)) {
    if (message[key] === undefined) {
      clean ??= { ...message };
      delete clean[key];
    }
  }
  return clean ?? message;
}

/** Checks and decodes one frame body (without its length prefix). Throws FrameError. */
export function decodeBody(body: Uint8Array, limits: GuardLimits = DEFAULT_GUARD_LIMITS): Message {
  checkMsgpackMap(body, 0, body.length, limits);
  try {
    return unpackr.unpack(body) as Message;
  } catch (cause) {
    // The guard should have caught anything msgpackr refuses; keep the code stable regardless.
    throw new FrameError(ERROR_CODES.FRAME_MALFORMED, 'msgpack body could not be decoded', { cause });
  }
}

export interface FrameDecoderOptions {
  /** Largest body accepted, in bytes; checked against the header before the body is buffered. */
  maxFrameBytes?: number;
  limits?: GuardLimits;
}

export interface DecodeResult {
  /** Every whole message completed by this chunk, in order. */
  messages: Message[];
  /** Set when the stream broke; the decoder stays broken and returns it again. */
  error: FrameError | null;
}

/**
 * A streaming state machine: push chunks split at any byte; each frame is yielded exactly once.
 * Frames wholly inside one chunk are decoded in place; only a frame that spans chunks is copied,
 * into one buffer of its declared (already bounded) size.
 */
export class FrameDecoder {
  private maxFrameBytes: number;
  private readonly limits: GuardLimits;
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;
  private error: FrameError | null = null;
  /** Frame headers read so far: only the stream's first can be another protocol's opening. */
  private headersRead = 0;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    this.limits = options.limits ?? DEFAULT_GUARD_LIMITS;
  }

  /** Changes the bound for frames whose header has not yet been read (e.g. larger after the hello). */
  setMaxFrameBytes(bytes: number): void {
    this.maxFrameBytes = checkMaxFrameBytes(bytes);
  }

  /** Bytes held for a frame not yet complete. */
  get pendingBytes(): number {
    return this.headerFill + this.bodyFill;
  }

  push(chunk: Uint8Array): DecodeResult {
    const messages: Message[] = [];
    const { bodies, error } = this.pushBodies(chunk);
    for (const body of bodies) {
      try {
        messages.push(decodeBody(body, this.limits));
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        // The stream is broken at this frame: later frames of the chunk are not yielded.
        this.error = err;
        this.body = null;
        return { messages, error: err };
      }
    }
    return { messages, error };
  }

  /**
   * Like push, but yields each whole frame's body undecoded, for a caller with a faster decoder
   * for some frames (collector/server.ts: shared/sample_decoder.ts) that decodes the rest with
   * decodeBody. A body may be a view into `chunk`: use it before the chunk is reused. Only the
   * framing errors (length 0, too large) are found here.
   */
  pushBodies(chunk: Uint8Array): { bodies: Uint8Array[]; error: FrameError | null } {
    const bodies: Uint8Array[] = [];
    if (this.error) return { bodies, error: this.error };
    try {
      this.consume(chunk, bodies);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.error = err;
      this.body = null;
    }
    return { bodies, error: this.error };
  }

  /** Marks the stream broken (a caller that decodes bodies itself found one malformed). */
  fail(error: FrameError): void {
    this.error ??= error;
    this.body = null;
  }

  private consume(chunk: Uint8Array, out: Uint8Array[]): void {
    let off = 0;
    const end = chunk.length;
    while (off < end) {
      if (this.body === null) {
        let length: number;
        if (this.headerFill === 0 && end - off >= FRAME_HEADER_BYTES) {
          length = frameLength(chunk, off);
          off += FRAME_HEADER_BYTES;
          if (length === 0 || length > this.maxFrameBytes) this.refuseLength(length, chunk, off - FRAME_HEADER_BYTES);
        } else {
          const n = Math.min(FRAME_HEADER_BYTES - this.headerFill, end - off);
          this.header.set(chunk.subarray(off, off + n), this.headerFill);
          this.headerFill += n;
          off += n;
          if (this.headerFill < FRAME_HEADER_BYTES) return;
          this.headerFill = 0;
          length = frameLength(this.header, 0);
          if (length === 0 || length > this.maxFrameBytes) this.refuseLength(length, this.header, 0);
        }
        this.headersRead++;
        if (end - off >= length) {
          out.push(chunk.subarray(off, off + length));
          off += length;
          continue;
        }
        // The length was bounded above, so this allocation is at most maxFrameBytes.
        this.body = Buffer.allocUnsafe(length);
        this.bodyFill = 0;
      }
      const body = this.body;
      const n = Math.min(body.length - this.bodyFill, end - off);
      body.set(chunk.subarray(off, off + n), this.bodyFill);
      this.bodyFill += n;
      off += n;
      if (this.bodyFill === body.length) {
        this.body = null;
        this.bodyFill = 0;
        out.push(body);
      }
    }
  }

  /**
   * Throws for a header declaring 0 bytes or more than the bound. When the stream opened with
   * another protocol's bytes (read as a length they are always far too large), the error says
   * so: someone pointed a browser, curl or a TLS client at the agents' port.
   */
  private refuseLength(length: number, header: Uint8Array, at: number): never {
    if (length === 0) throw new FrameError(ERROR_CODES.FRAME_EMPTY, 'frame length 0 is not allowed');
    const foreign = this.headersRead === 0 ? foreignProtocol(header, at) : null;
    const hint = foreign === 'http'
      ? ': the bytes look like an HTTP request, and this port takes agents, not browsers (the dashboard has its own port, --http)'
      : foreign === 'tls'
        ? ': the bytes look like a TLS handshake, and this port is plain TCP (an agent with --tls on needs a collector started with --tls-cert and --tls-key)'
        : '';
    throw new FrameError(ERROR_CODES.FRAME_TOO_LARGE, `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}${hint}`, { foreign });
  }
}

/** The first four bytes of the requests HTTP/1.x methods and HTTP/2's preface ("PRI *") start with. */
const HTTP_OPENINGS: ReadonlySet<number> = new Set(
  ['GET ', 'HEAD', 'POST', 'PUT ', 'DELE', 'OPTI', 'PATC', 'CONN', 'TRAC', 'PRI '].map((m) => frameLength(Buffer.from(m, 'latin1'), 0)),
);
/** A TLS record of type handshake (22), protocol version 3.x: every ClientHello begins so. */
const TLS_HANDSHAKE = 0x16;
const TLS_MAJOR = 0x03;

/**
 * Whether the four bytes at `at` open another protocol's stream rather than a frame header.
 * Each of them, read as a frame length, is over 300 MB, so no frame can begin with them.
 */
export function foreignProtocol(b: Uint8Array, at: number): ForeignProtocol | null {
  if (b[at] === TLS_HANDSHAKE && b[at + 1] === TLS_MAJOR) return 'tls';
  return HTTP_OPENINGS.has(frameLength(b, at)) ? 'http' : null;
}

/** The 4-byte big-endian length prefix of the frame at `off` in `b` (at least 4 bytes there). */
export function frameLength(b: Uint8Array, off: number): number {
  return b[off]! * 0x1000000 + ((b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!);
}

function checkMaxFrameBytes(bytes: number): number {
  if (!Number.isInteger(bytes) || bytes < 16 || bytes > MAX_FRAME_BYTES_CEILING) {
    throw new RangeError(`maxFrameBytes must be an integer from 16 to ${MAX_FRAME_BYTES_CEILING}, got ${bytes}`);
  }
  return bytes;
}
