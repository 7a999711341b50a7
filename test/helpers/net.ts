/** Test helpers for real sockets on loopback: a raw protocol client and bounded polling. */
import { connect, type Socket } from 'node:net';
import { encodeFrame, FrameDecoder, type Message } from '../../shared/frame_codec.ts';

/** Polls `fn` until it returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 5000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A raw agent-side connection: send frames or bytes, collect decoded replies, see the close. */
export class RawClient {
  readonly messages: Message[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder();

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => this.messages.push(...this.decoder.push(c).messages));
    socket.on('close', () => { this.closed = true; });
    socket.on('error', () => {});
  }

  /** `localAddress`: another loopback source address (127.0.0.2 ...), to count as another peer. */
  static open(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, ...(localAddress ? { localAddress } : {}) });
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(msg: Message): void {
    this.socket.write(encodeFrame(msg));
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Waits for a reply of `type` (e.g. welcome, error). */
  next(type: string, timeoutMs = 3000): Promise<Message> {
    return waitFor(`a "${type}" frame`, () => this.messages.find((m) => m['type'] === type), timeoutMs);
  }

  waitClosed(timeoutMs = 3000): Promise<boolean> {
    return waitFor('the connection to close', () => this.closed, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** GETs a JSON document from a local HTTP server. */
export async function getJson<T = unknown>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}
