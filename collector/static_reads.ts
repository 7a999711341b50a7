/**
 * Agent connections read into one reused buffer, not a fresh Buffer per read.
 *
 * A Node socket in the usual flowing mode allocates a buffer for every read, wraps it, and hands
 * it through the Readable stream machinery to a 'data' listener. An agent sends one ~1 KB frame a
 * second, so each read carries one frame and that per-read cost is paid once per sample: at
 * 10,000 agents it was ~4 µs of the collector's ~32 µs per sample (stream code in a CPU profile),
 * and every read's buffer was garbage for the main thread's scavenges. A bare sink over 10,000
 * loopback connections measured 18–20 µs of CPU per read through 'data' against 13–14 µs through
 * `onread` (the same frames, the same process; the rest is the kernel's).
 *
 * net.Socket's `onread` option (public since Node 12) reads into a caller's buffer and calls back
 * with the byte count, bypassing the stream machinery. net.Server has no such option for the
 * sockets it accepts, so a server made with `pauseOnConnect` hands its accepted socket here: its
 * libuv handle (not yet reading) moves to a new socket made with `onread`, and the empty shell is
 * destroyed without closing the handle. `_handle` is not a documented property; when it is not
 * there as expected, the accepted socket is returned unchanged (resumed) and read through 'data'.
 *
 * One buffer serves every connection: reads run one at a time on the event loop, and the callback
 * uses the bytes before it returns (shared/frame_codec.ts FrameDecoder copies any frame that
 * spans reads; decoded messages hold no views into their frame: bin is refused by the guard).
 */
import { Socket } from 'node:net';

/** Bytes of the reused read buffer: one read takes at most this much (as Node's own 64 KiB reads). */
export const STATIC_READ_BYTES = 64 * 1024;
const buffer = Buffer.allocUnsafe(STATIC_READ_BYTES);

/** Where the bytes of an adopted socket go. Each chunk is valid only until the call returns. */
export type ChunkSink = (chunk: Buffer) => void;

/** A connection and how its bytes are delivered. */
export interface Adopted {
  readonly socket: Socket;
  /** True when reads come through `setSink`'s function; false: through the socket's 'data' events. */
  readonly staticReads: boolean;
  /** Where reads go from now on (nothing is delivered before it is set: those bytes are dropped). */
  setSink(sink: ChunkSink): void;
}

interface HandleLike {
  readStart: () => number;
  readStop: () => number;
  reading?: boolean;
}

/**
 * Takes a socket just accepted by a server made with `pauseOnConnect: true`. With `enabled`
 * false, or when this Node's socket does not expose a handle to move, the socket is resumed as it
 * is and its bytes come in 'data' events.
 */
export function adoptAccepted(accepted: Socket, enabled = true): Adopted {
  const shell = accepted as Socket & { _handle?: HandleLike | null };
  const handle = enabled ? shell._handle : null;
  if (!handle || typeof handle.readStart !== 'function' || typeof handle.readStop !== 'function' || handle.reading === true) {
    accepted.resume();
    return { socket: accepted, staticReads: false, setSink: () => undefined };
  }
  let sink: ChunkSink | null = null;
  // The shell lets go of the handle first, so destroying it closes nothing; it leaves the
  // server's connection count (net.Server counts only the sockets it made).
  shell._handle = null;
  const socket = new Socket({
    handle: handle as never,
    readable: true,
    writable: true,
    onread: {
      buffer,
      callback: (n: number): void => {
        if (sink !== null) sink(buffer.subarray(0, n));
      },
    },
  } as ConstructorParameters<typeof Socket>[0]);
  shell.destroy();
  return { socket, staticReads: true, setSink: (s) => { sink = s; } };
}
