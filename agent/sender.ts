/**
 * The agent's link to the collector: connect, hello, wait for the welcome, send samples, and
 * reconnect with backoff whenever the link breaks. Logs once per change of state, not per try.
 */
import { EventEmitter } from 'node:events';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
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
/** The link is dead when nothing came from the collector for this many of its ack intervals. */
export const ACKS_MISSED = 3;
/** Added to ACKS_MISSED x the ack interval, ms: room for a busy collector. */
const ACK_SLACK_MS = 2000;

const SLOW_RETRY_CODES: ReadonlySet<string> = new Set([
  ERROR_CODES.AUTH_FAILED, ERROR_CODES.PROTO_VERSION, ERROR_CODES.HOST_IN_USE, ERROR_CODES.HOST_REPLACED,
  ERROR_CODES.AUTH_REVOKED, ERROR_CODES.RATE_LIMITED,
]);

/** Certificate errors do not heal by retrying soon: the configuration (--ca, the name) is wrong. */
function isTlsConfigError(code: string | undefined): boolean {
  return code !== undefined && (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/.test(code));
}

export interface SenderTls {
  /** PEM of the CA that signed the collector's certificate; undefined: the system's CAs. */
  ca?: string;
  /** Name to verify the certificate against, when it differs from the host connected to. */
  servername?: string;
}

export interface SenderOptions {
  host: string;
  port: number;
  /** The hello without `type` and `proto`. */
  hello: Omit<Hello, 'type' | 'proto'>;
  log: Logger;
  backoff?: BackoffOptions;
  /** Speak TLS and verify the collector's certificate (there is no option to skip the check). */
  tls?: SenderTls;
}

export type SenderState = 'connecting' | 'ready' | 'waiting' | 'stopped';

/** Events: 'ready' (welcome received), 'down' (link lost; reason), 'refused' (error frame; code). */
export class Sender extends EventEmitter {
  state: SenderState = 'waiting';
  private socket: Socket | null = null;
  private seq = 0;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  /** When something last arrived from the collector, ms (monotonic clock). */
  private lastRxMs = 0;
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
    if (this.watchdog) clearInterval(this.watchdog);
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
    const { host, port, tls } = this.options;
    // SNI and the name checked: --tls-servername, else the host connected to (an IP is checked against the certificate's IP entries).
    const servername = tls?.servername ?? (isIP(host) ? undefined : host);
    const socket: Socket = tls
      // rejectUnauthorized explicitly: NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment must not turn the check off.
      ? tlsConnect({ host, port, minVersion: 'TLSv1.2', rejectUnauthorized: true, ...(tls.ca ? { ca: tls.ca } : {}), ...(servername ? { servername } : {}) })
      : connect({ host, port });
    socket.setNoDelay(true);
    this.socket = socket;
    const decoder = new FrameDecoder();
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => this.drop(`no welcome within ${HANDSHAKE_TIMEOUT_MS} ms`, socket));
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      socket.setKeepAlive(true, KEEPALIVE_MS);
      socket.write(encodeFrame({ type: MSG_HELLO, proto: PROTO_VERSION, ...this.options.hello }));
    });
    socket.on('data', (chunk: Buffer) => {
      this.lastRxMs = performance.now();
      const { messages, error } = decoder.push(chunk);
      for (const m of messages) this.onMessage(m, socket);
      if (error) this.drop(`bad frame from the collector: ${error.code}`, socket);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (isTlsConfigError(err.code)) this.backoff.toCap();
      this.drop(isTlsConfigError(err.code) ? `TLS: ${err.message} (check --ca and the collector's certificate)` : err.code ?? err.message, socket);
    });
    socket.on('close', () => this.drop('connection closed', socket));
  }

  private onMessage(m: Message, socket: Socket): void {
    if (socket !== this.socket) return;
    if (m['type'] === MSG_WELCOME && this.state === 'connecting') {
      socket.setTimeout(0);
      this.state = 'ready';
      this.backoff.reset();
      this.watch(socket, m['ack_interval_ms']);
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

  /**
   * A collector that vanished without a FIN (power cut, cable pulled) leaves writes to pile up
   * unanswered for many minutes of TCP retries. The collector acks every `ack_interval_ms`; when
   * nothing has come for ACKS_MISSED of them, the link is dropped and retried.
   */
  private watch(socket: Socket, ackIntervalMs: unknown): void {
    if (typeof ackIntervalMs !== 'number' || !Number.isFinite(ackIntervalMs) || ackIntervalMs <= 0) return; // an older collector
    const limitMs = ACKS_MISSED * Math.min(ackIntervalMs, 600_000) + ACK_SLACK_MS;
    this.lastRxMs = performance.now();
    this.watchdog = setInterval(() => {
      if (performance.now() - this.lastRxMs > limitMs) this.drop(`nothing from the collector for ${Math.round(limitMs)} ms`, socket);
    }, Math.max(50, Math.floor(limitMs / 4)));
    this.watchdog.unref();
  }

  /** Ends this link (once) and schedules the next try. */
  private drop(reason: string, socket: Socket | null = this.socket): void {
    if (socket !== this.socket || socket === null) return;
    this.socket = null;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
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
