/**
 * The agent's link to the collector: connect, hello, wait for the welcome, send samples, and
 * reconnect with backoff whenever the link breaks. Logs once per change of state, not per try.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { ERROR_CODES } from '../shared/errors.ts';
import { encodeFrame, FrameDecoder, type Message } from '../shared/frame_codec.ts';
import type { Logger } from '../shared/log.ts';
import { MSG_ERROR, MSG_HELLO, MSG_SAMPLE, MSG_WELCOME, PROTO_VERSION, type Hello, type Readings } from '../shared/protocol.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';

/** A connect or a welcome that takes longer than this is given up, ms. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** TCP keepalive probes start after this much silence, ms: notices a collector that vanished without a FIN. */
export const KEEPALIVE_MS = 10_000;
/** If this many bytes wait unsent, the collector is not reading: drop the link and reconnect. */
export const MAX_UNSENT_BYTES = 1024 * 1024;

const SLOW_RETRY_CODES: ReadonlySet<string> = new Set([
  ERROR_CODES.AUTH_FAILED, ERROR_CODES.PROTO_VERSION, ERROR_CODES.HOST_IN_USE, ERROR_CODES.HOST_REPLACED,
]);

export interface SenderOptions {
  host: string;
  port: number;
  /** The hello without `type` and `proto`. */
  hello: Omit<Hello, 'type' | 'proto'>;
  log: Logger;
  backoff?: BackoffOptions;
}

export type SenderState = 'connecting' | 'ready' | 'waiting' | 'stopped';

/** Events: 'ready' (welcome received), 'down' (link lost; reason), 'refused' (error frame; code). */
export class Sender extends EventEmitter {
  state: SenderState = 'waiting';
  private socket: Socket | null = null;
  private seq = 0;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | null = null;
  /** What was last logged about the link, so a failing retry loop logs once. */
  private lastReport = '';

  constructor(private readonly options: SenderOptions) {
    super();
    this.backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF);
  }

  start(): void {
    if (this.state === 'stopped') throw new Error('sender was stopped');
    this.connectNow();
  }

  /**
   * Sends one sample if the link is up; returns false (and drops it) otherwise. The collector
   * keeps only the latest reading, so a sample that cannot go now is worth nothing later.
   */
  sendSample(ts: number, readings: Readings, missing: Record<string, string>): boolean {
    if (this.state !== 'ready' || !this.socket) return false;
    this.seq++;
    const msg: Message = { type: MSG_SAMPLE, seq: this.seq, ts, ...readings };
    if (Object.keys(missing).length > 0) msg['missing'] = missing;
    this.socket.write(encodeFrame(msg));
    if (this.socket.writableLength > MAX_UNSENT_BYTES) this.drop('the collector is not reading (send buffer full)');
    return true;
  }

  /** Closes the link and stops reconnecting. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const s = this.socket;
    this.socket = null;
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.end();
        setTimeout(() => s.destroy(), 1000).unref();
      });
    }
  }

  private connectNow(): void {
    this.retryTimer = null;
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    this.seq = 0;
    const { host, port } = this.options;
    const socket = connect({ host, port, noDelay: true });
    this.socket = socket;
    const decoder = new FrameDecoder();
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => this.drop(`no welcome within ${HANDSHAKE_TIMEOUT_MS} ms`, socket));
    socket.once('connect', () => {
      socket.setKeepAlive(true, KEEPALIVE_MS);
      socket.write(encodeFrame({ type: MSG_HELLO, proto: PROTO_VERSION, ...this.options.hello }));
    });
    socket.on('data', (chunk: Buffer) => {
      const { messages, error } = decoder.push(chunk);
      for (const m of messages) this.onMessage(m, socket);
      if (error) this.drop(`bad frame from the collector: ${error.code}`, socket);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.drop(err.code ?? err.message, socket));
    socket.on('close', () => this.drop('connection closed', socket));
  }

  private onMessage(m: Message, socket: Socket): void {
    if (socket !== this.socket) return;
    if (m['type'] === MSG_WELCOME && this.state === 'connecting') {
      socket.setTimeout(0);
      this.state = 'ready';
      this.backoff.reset();
      this.report(`connected to the collector ${this.options.host}:${this.options.port} as ${String(m['host'])}`, 'info');
      this.emit('ready');
    } else if (m['type'] === MSG_ERROR) {
      const code = String(m['code']);
      // A refusal that will not heal by itself (wrong token, wrong protocol, another agent using
      // this name) retries at the cap, so two agents with one name do not knock each other off.
      if (SLOW_RETRY_CODES.has(code)) this.backoff.toCap();
      this.emit('refused', code);
      this.drop(`the collector refused: ${code}: ${String(m['message']).slice(0, 200)}`, socket);
    }
  }

  /** Ends this link (once) and schedules the next try. */
  private drop(reason: string, socket: Socket | null = this.socket): void {
    if (socket !== this.socket || socket === null) return;
    this.socket = null;
    socket.destroy();
    if (this.state === 'stopped') return;
    this.state = 'waiting';
    const delay = this.backoff.next();
    this.report(`collector link down: ${reason}; retrying with backoff (up to ${Math.round((this.options.backoff ?? DEFAULT_BACKOFF).capMs / 1000)} s)`, 'warn');
    this.emit('down', reason);
    this.retryTimer = setTimeout(() => this.connectNow(), delay);
  }

  private report(message: string, level: 'info' | 'warn'): void {
    if (message === this.lastReport) return;
    this.lastReport = message;
    this.options.log[level](message);
  }
}
