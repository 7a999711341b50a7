/**
 * The agent's link to the collector: connect, hello, wait for the welcome, send samples, and
 * reconnect with backoff whenever the link breaks. Logs once per change of state, not per try.
 * Nothing is lost to a short outage: samples wait in a bounded buffer (sample_buffer.ts) while
 * the link is down and until the collector acknowledges them, and go out oldest first, at the
 * pace the socket drains, after the next welcome.
 */
import { EventEmitter } from 'node:events';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ERROR_CODES } from '../shared/errors.ts';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder, type Message } from '../shared/frame_codec.ts';
import { fitSampleSized } from './fit_sample.ts';
import type { Logger } from '../shared/log.ts';
import { MSG_ACK, MSG_ERROR, MSG_FACTS, MSG_HELLO, MSG_WELCOME, PROTO_VERSION, type Facts, type Hello, type Readings } from '../shared/protocol.ts';
import type { SampleFields } from './collectors/types.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import { DEFAULT_BUFFER_MAX_BYTES, DEFAULT_BUFFER_SECONDS, SampleBuffer, sampleFrame, samplesFor } from './sample_buffer.ts';

/** A connect or a welcome that takes longer than this is given up, ms. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** TCP keepalive probes start after this much silence, ms: notices a collector that vanished without a FIN. */
export const KEEPALIVE_MS = 10_000;
/**
 * If this many bytes wait unsent, the collector is not reading: drop the link and reconnect.
 * Counted: the socket's own queue plus samples queued after the welcome; the backlog kept through
 * an outage is exempt, as it is written only as fast as the socket drains.
 */
export const MAX_UNSENT_BYTES = 1024 * 1024;
/** The link is dead when nothing came from the collector for this many of its ack intervals. */
export const ACKS_MISSED = 3;
/** Added to ACKS_MISSED x the ack interval, ms: room for a busy collector. */
const ACK_SLACK_MS = 2000;

const SLOW_RETRY_CODES: ReadonlySet<string> = new Set([
  ERROR_CODES.AUTH_FAILED, ERROR_CODES.PROTO_VERSION, ERROR_CODES.HOST_IN_USE, ERROR_CODES.HOST_REPLACED,
  ERROR_CODES.AUTH_REVOKED, ERROR_CODES.RATE_LIMITED,
]);

/**
 * The collector refused a frame of ours as malformed or out of range. It can only be one written on
 * this connection and not acknowledged, and it would be refused again on every resend, so those go.
 */
const REFUSED_FRAME_CODES: ReadonlySet<string> = new Set([
  ERROR_CODES.FRAME_EMPTY, ERROR_CODES.FRAME_TOO_LARGE, ERROR_CODES.FRAME_MALFORMED, ERROR_CODES.FRAME_NOT_MAP,
  ERROR_CODES.FRAME_TOO_DEEP, ERROR_CODES.FRAME_FORBIDDEN_TYPE, ERROR_CODES.FRAME_FORBIDDEN_KEY, ERROR_CODES.PROTO_BAD_FIELD,
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

/** The static facts a hello may carry and a `facts` message updates. */
export type FactFields = Omit<Facts, 'type'>;

export interface SenderOptions {
  host: string;
  port: number;
  /** The hello without `type`, `proto` and `ts` (set when it is sent). */
  hello: Omit<Hello, 'type' | 'proto' | 'ts'>;
  log: Logger;
  backoff?: BackoffOptions;
  /** Speak TLS and verify the collector's certificate (there is no option to skip the check). */
  tls?: SenderTls;
  /** Most samples kept unsent or unacknowledged; default 10 minutes of them at hello.interval_ms. 0: none kept. */
  bufferMaxSamples?: number;
  /** Most bytes of encoded samples kept; default 8 MiB. Whichever bound is hit first drops the oldest. */
  bufferMaxBytes?: number;
}

export type SenderState = 'connecting' | 'ready' | 'waiting' | 'stopped';

/**
 * Events: 'ready' (welcome received), 'down' (link lost; reason), 'refused' (error frame; code),
 * 'dropped' (samples lost for lack of room, or refused by the collector; how many now, how many since start).
 */
export class Sender extends EventEmitter {
  state: SenderState = 'waiting';
  /** Largest frame the collector accepts: the default until a welcome says otherwise. */
  private maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  private socket: Socket | null = null;
  private readonly backoff: Backoff;
  private readonly buffer: SampleBuffer;
  /** The hello to send next: facts given to sendFacts() land here. */
  private readonly hello: Omit<Hello, 'type' | 'proto' | 'ts'>;
  /** Facts changed after the hello of this connection went out: sent after its welcome. */
  private factsAfterHello: FactFields = {};
  /** The collector acks (a welcome with ack_interval_ms): written samples wait for the ack. */
  private collectorAcks = false;
  /** Waiting for the socket's 'drain' before writing more. */
  private awaitingDrain = false;
  /** Newest sample held at the welcome: it and those before it are the backlog, exempt from MAX_UNSENT_BYTES. */
  private backlogLastId = 0;
  private lostTotal = 0;
  /** Lost since the last welcome: logged once, when the link is back (or at stop). */
  private lostThisOutage = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  /** When something last arrived from the collector, ms (monotonic clock). */
  private lastRxMs = 0;
  /** What was last logged about the link, so a failing retry loop logs once. */
  private lastReport = '';

  constructor(private readonly options: SenderOptions) {
    super();
    this.backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF);
    this.hello = { ...options.hello };
    this.buffer = new SampleBuffer(
      options.bufferMaxSamples ?? samplesFor(DEFAULT_BUFFER_SECONDS, options.hello.interval_ms),
      options.bufferMaxBytes ?? DEFAULT_BUFFER_MAX_BYTES,
    );
  }

  /** Samples held: not yet written on this connection, or written and not yet acknowledged. */
  get pendingSamples(): number {
    return this.buffer.size;
  }

  /** Samples not yet written on this connection. */
  get unsentSamples(): number {
    return this.buffer.unsent;
  }

  /** Samples lost since start: for lack of room, or refused by the collector. */
  get droppedSamples(): number {
    return this.lostTotal;
  }

  start(): void {
    if (this.state === 'stopped') throw new Error('sender was stopped');
    this.connectNow();
  }

  /**
   * Queues one sample, taken at `ts` (ms since the epoch), behind any older ones; it goes out as
   * soon as the link is up and the socket has room, and is kept until acknowledged. When the
   * buffer is full, the oldest sample is dropped ('dropped' event). After stop(): ignored.
   * `fields`: the sample's fields beside its readings (power_source).
   */
  sendSample(ts: number, readings: Readings, missing: Record<string, string>, fields: SampleFields = {}): void {
    if (this.state === 'stopped') return;
    const raw: Message = { ts, ...readings, ...fields };
    if (Object.keys(missing).length > 0) raw['missing'] = missing;
    // Encoded before any welcome may have told the limit: the default is the floor a collector accepts.
    const { body, frameBytes } = fitSampleSized(raw, this.maxFrameBytes);
    this.buffer.push(ts, body, frameBytes);
    this.flush();
    // Trimmed after the flush, so that with no room at all (bufferMaxSamples 0) a sample still goes out when it can.
    this.lose(this.buffer.trim());
    const socket = this.socket;
    if (this.state === 'ready' && socket && socket.writableLength + this.buffer.unsentBytesAfter(this.backlogLastId) > MAX_UNSENT_BYTES) {
      this.drop('the collector is not reading (send buffer full)');
    }
  }

  /**
   * Static facts that changed (OS upgraded in place, cores brought online): sent as a `facts`
   * message now if the link is up, and carried by every later hello either way.
   */
  sendFacts(facts: FactFields): void {
    if (this.state === 'stopped') return;
    const changed = Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined)) as FactFields;
    if (Object.keys(changed).length === 0) return;
    Object.assign(this.hello, changed);
    if (this.state === 'ready' && this.socket) this.socket.write(encodeFrame({ type: MSG_FACTS, ...changed }));
    // A hello already on its way lacks them, and nothing but the hello may precede the welcome.
    else if (this.state === 'connecting') Object.assign(this.factsAfterHello, changed);
  }

  /**
   * Closes the link and stops reconnecting. Samples still held are let go, and the log says which
   * kind: written but not yet acknowledged (a collector that is up has them: it acknowledges
   * every few seconds, not every sample), or waiting to be sent (lost).
   */
  async stop(): Promise<void> {
    if (this.state !== 'stopped') this.reportLost();
    const unsent = this.buffer.unsent;
    const written = this.buffer.clear() - unsent;
    if (written > 0) this.options.log.info(`stopping: ${written} samples sent since the collector's last acknowledgement are not kept for resending (a collector that is up has them)`);
    if (unsent > 0) this.options.log.warn(`stopping: ${unsent} samples waiting to be sent (no link to the collector) are lost`);
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
    this.buffer.rewind();
    this.awaitingDrain = false;
    this.factsAfterHello = {};
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
      this.factsAfterHello = {};
      socket.write(encodeFrame({ type: MSG_HELLO, proto: PROTO_VERSION, ...this.hello, ts: Date.now() }));
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
      const limit = m['max_frame_bytes'];
      if (typeof limit === 'number' && Number.isInteger(limit) && limit >= 1024) this.maxFrameBytes = limit;
      socket.setTimeout(0);
      this.state = 'ready';
      this.backoff.reset();
      this.collectorAcks = this.watch(socket, m['ack_interval_ms']);
      this.report(`connected to the collector ${this.options.host}:${this.options.port} as ${String(m['host'])}`, 'info');
      this.reportLost();
      if (this.buffer.unsent > 0) this.options.log.info(`sending ${this.buffer.unsent} samples kept while the collector was away`);
      this.backlogLastId = this.buffer.lastId;
      if (Object.keys(this.factsAfterHello).length > 0) socket.write(encodeFrame({ type: MSG_FACTS, ...this.factsAfterHello }));
      this.factsAfterHello = {};
      this.flush();
      this.emit('ready');
    } else if (m['type'] === MSG_ACK && this.state === 'ready') {
      if (typeof m['seq'] === 'number') this.buffer.ack(m['seq']);
    } else if (m['type'] === MSG_ERROR) {
      const code = String(m['code']);
      // A refusal that will not heal by itself (wrong token, wrong protocol, another agent using
      // this name) retries at the cap, so two agents with one name do not knock each other off.
      if (SLOW_RETRY_CODES.has(code)) this.backoff.toCap();
      if (REFUSED_FRAME_CODES.has(code) && this.state === 'ready') {
        const n = this.buffer.releaseWritten();
        this.options.log.warn(`the collector refused a sample (${code}): the ${n} unacknowledged ones are dropped, not resent`);
        this.lose(n, false);
      }
      this.emit('refused', code);
      this.drop(`the collector refused: ${code}: ${String(m['message']).slice(0, 200)}`, socket);
    }
  }

  /**
   * A collector that vanished without a FIN (power cut, cable pulled) leaves writes to pile up
   * unanswered for many minutes of TCP retries. The collector acks every `ack_interval_ms`; when
   * nothing has come for ACKS_MISSED of them, the link is dropped and retried. Returns whether
   * the collector acks at all.
   */
  private watch(socket: Socket, ackIntervalMs: unknown): boolean {
    if (typeof ackIntervalMs !== 'number' || !Number.isFinite(ackIntervalMs) || ackIntervalMs <= 0) return false; // an older collector
    const limitMs = ACKS_MISSED * Math.min(ackIntervalMs, 600_000) + ACK_SLACK_MS;
    this.lastRxMs = performance.now();
    this.watchdog = setInterval(() => {
      if (performance.now() - this.lastRxMs > limitMs) this.drop(`nothing from the collector for ${Math.round(limitMs)} ms`, socket);
    }, Math.max(50, Math.floor(limitMs / 4)));
    this.watchdog.unref();
    return true;
  }

  /**
   * Writes unsent samples, oldest first, until the socket's queue is full, then waits for
   * 'drain': a large backlog goes out in chunks as fast as the collector reads, never piling up
   * in the socket (where MAX_UNSENT_BYTES would take it for a collector that stopped reading).
   */
  private flush(): void {
    const socket = this.socket;
    if (this.state !== 'ready' || socket === null || this.awaitingDrain) return;
    for (let next = this.buffer.takeNext(); next; next = this.buffer.takeNext()) {
      if (!socket.write(sampleFrame(next.sample, next.seq))) {
        this.awaitingDrain = true;
        socket.once('drain', () => {
          if (socket !== this.socket) return;
          this.awaitingDrain = false;
          this.flush();
        });
        break;
      }
    }
    // A collector without acks never confirms anything: keeping written samples would only fill the buffer.
    if (!this.collectorAcks) this.buffer.releaseWritten();
  }

  /** Counts samples lost; `forLack` of room ones are logged at the end of the outage, the others where they happen. */
  private lose(n: number, forLack = true): void {
    if (n === 0) return;
    this.lostTotal += n;
    if (forLack) this.lostThisOutage += n;
    this.emit('dropped', n, this.lostTotal);
  }

  /** Logs, once per outage, how many samples were lost for lack of room. */
  private reportLost(): void {
    if (this.lostThisOutage === 0) return;
    this.options.log.warn(`${this.lostThisOutage} samples dropped while the collector was away: the buffer keeps at most ${this.buffer.maxSamples} samples and ${this.buffer.maxBytes} bytes`);
    this.lostThisOutage = 0;
  }

  /** Ends this link (once) and schedules the next try. */
  private drop(reason: string, socket: Socket | null = this.socket): void {
    if (socket !== this.socket || socket === null) return;
    this.socket = null;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    socket.destroy();
    // Written but unacknowledged samples may not have arrived: they go back to the front, to be resent.
    this.buffer.rewind();
    this.awaitingDrain = false;
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
