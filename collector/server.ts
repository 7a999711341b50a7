/**
 * The agents' server (TCP, or TLS): per-address admission, one FrameDecoder per socket, the
 * hello handshake with its credential check, then dispatch. Whatever an agent sends, the worst
 * outcome is an error frame with a stable code and the end of that one connection; other
 * sessions and the process carry on.
 *
 * Deadlines (hello, idle) and acks are driven by one sweep timer for all sessions rather than a
 * timer per socket: cheap with thousands of agents, and independent of what we write (Node's
 * socket timeout counts our own writes, such as acks, as activity). Each round of the sweep
 * visits every session once, a tenth of them per tick, so that the acks due in a round (at
 * 19,000 agents, ~1,000 socket writes every 250 ms) never hold the event loop in one block.
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { CollectorStats } from '../shared/collector_stats.ts';
import { ERROR_CODES, FrameError, SentinelError, SessionError, type ErrorCode } from '../shared/errors.ts';
import { decodeBody, encodeFrame, FrameDecoder, type Message } from '../shared/frame_codec.ts';
import type { GuardLimits } from '../shared/msgpack_guard.ts';
import type { Logger } from '../shared/log.ts';
import { MSG_ACK, MSG_ERROR, MSG_WELCOME, parseHello, PROTO_VERSION, type Hello } from '../shared/protocol.ts';
import { decodeSampleFast } from '../shared/sample_decoder.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import { ONLINE_INTERVALS } from '../shared/host_view.ts';
import type { Authenticator, Credential } from './auth.ts';
import { dispatch, handleSample, type HandlerDeps, type SessionContext } from './handlers.ts';
import type { HostTable } from './hosts.ts';
import { addressKey, ConnectionCounter, FailureLimiter } from './limits.ts';
import { adoptAccepted, type Adopted } from './static_reads.ts';
import { packFrames, unpackFrames } from './ingest_job.ts';
import { BULK_FRAMES, type IngestPool } from './ingest_pool.ts';

export interface AgentServerOptions {
  hosts: HostTable;
  auth: Authenticator;
  /** Largest hello, bytes; nothing may precede it. */
  maxHelloBytes: number;
  maxFrameBytes: number;
  guardLimits: GuardLimits;
  helloTimeoutMs: number;
  idleTimeoutMs: number;
  ackIntervalMs: number;
  /** Connections held at once; one more is told TOO_MANY_CONNECTIONS and closed. */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** Connections from one address not yet welcomed (connecting, in TLS, or being checked). */
  maxPendingPerAddress: number;
  failedHandshakesPerMinute: number;
  /** PEM certificate and key: the port speaks TLS. */
  tls?: { cert: string; key: string };
  /**
   * Acks confirm only samples already saved to the state file (markDurable/commitDurable), so
   * an agent keeps, and after a reconnect resends, whatever a kill -9 of the collector could
   * lose. Off: acks confirm samples as soon as they are stored in shared memory.
   */
  durableAcks?: boolean;
  /** Counters for /metrics (connections, agents, frames, rejections by code); none kept without it. */
  stats?: CollectorStats;
  /**
   * Ingest workers for bulk reads (many frames in one read); without it every frame is decoded
   * on the main thread. The server closes it when it closes.
   */
  ingest?: IngestPool;
  log: Logger;
  now?: () => number;
  /**
   * Plain TCP: read every connection into one reused buffer (collector/static_reads.ts). On by
   * default; off reads through 'data' events, the way TLS connections always are.
   */
  staticReads?: boolean;
}

/** After an error frame, how long a peer gets to read it before the socket is destroyed, ms. */
const CLOSE_GRACE_MS = 1000;
/** Added to ONLINE_INTERVALS x the agent's interval for its idle timeout, ms. */
const IDLE_SLACK_MS = 5000;
/** A round of the sweep takes this long at most, ms (less when the hello timeout is short). */
const MAX_SWEEP_MS = 250;
/** Ticks per round of the sweep: each visits this share of the sessions. */
const SWEEP_SLICES = 10;
/** How often the token file is checked for revocations, ms. */
const TOKEN_CHECK_MS = 1000;
/** Token checks (scrypt, on libuv's thread pool) run at once; the rest wait in a queue. */
const PARALLEL_VERIFICATIONS = 4;
/** Refused sockets kept open for their error frame to be read; beyond, refusals are silent closes. */
const MAX_LINGERING = 1024;

/** The answer to an HTTP request on the agents' port. */
const HTTP_REFUSAL_TEXT = "This is a Cluster Sentinel collector's agent port: it speaks the agents' protocol (length-prefixed msgpack frames, shared/PROTOCOL.md), not HTTP.\n"
  + "The dashboard has its own port: the collector printed its address at start (--http, 127.0.0.1:8080 by default).\n";
const HTTP_REFUSAL = Buffer.from(
  `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(HTTP_REFUSAL_TEXT)}\r\nconnection: close\r\n\r\n${HTTP_REFUSAL_TEXT}`,
  'utf8',
);

/** Session endings before the welcome that count against the address's allowance of failures. */
const FAILED_HANDSHAKE: ReadonlySet<string> = new Set<string>([
  ERROR_CODES.AUTH_FAILED, ERROR_CODES.HELLO_TIMEOUT, ERROR_CODES.PROTO_BAD_FIELD, ERROR_CODES.PROTO_UNEXPECTED,
  ERROR_CODES.PROTO_UNKNOWN_TYPE, ERROR_CODES.PROTO_VERSION, ERROR_CODES.FRAME_EMPTY, ERROR_CODES.FRAME_TOO_LARGE,
  ERROR_CODES.FRAME_MALFORMED, ERROR_CODES.FRAME_NOT_MAP, ERROR_CODES.FRAME_TOO_DEEP, ERROR_CODES.FRAME_FORBIDDEN_TYPE,
  ERROR_CODES.FRAME_FORBIDDEN_KEY,
]);

type State = 'hello' | 'auth' | 'ready' | 'closed';

class Session implements SessionContext {
  state: State = 'hello';
  host = '';
  lastSeq = 0;
  /** seq up to which this session's samples are in a saved state file (durableAcks). */
  durableSeq = 0;
  /** lastSeq when the save under way took its snapshot. */
  snapshotSeq = 0;
  credential: Credential | null = null;
  readonly decoder: FrameDecoder;
  readonly remote: string;
  readonly openedMs: number;
  lastRxMs: number;
  lastAckMs: number;
  idleLimitMs: number;

  /** The parsed hello, waiting for its token check. */
  private hello: Hello | null = null;
  /** Collector clock when the hello arrived: the agent's clock offset is measured against it, not after the token check. */
  private helloAtMs = 0;
  /** Still counted as pending (not yet welcomed) for its address. */
  private pending = true;
  /** Counted in the stats' connected agents: set at the welcome, cleared once at the end. */
  private counted = false;
  /** A bulk read of this session is with an ingest worker (the socket is paused until it answers). */
  private batching = false;
  /** Reads that came while batching, copied, handled after the batch in order. */
  private held: Buffer[] = [];
  /** Older samples of this session went to the history only (logged once). */
  replaying?: boolean;
  private readonly stats: CollectorStats | undefined;

  constructor(readonly id: number, readonly socket: Socket, readonly addressKey: string, acceptedMs: number, private readonly server: AgentServer, reads?: Adopted) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const opts = server.options;
    this.decoder = new FrameDecoder({ maxFrameBytes: opts.maxHelloBytes, limits: opts.guardLimits });
    // The hello deadline runs from the TCP accept, so a TLS handshake spends the same budget.
    this.openedMs = acceptedMs;
    this.lastRxMs = this.lastAckMs = server.deps.now();
    this.idleLimitMs = opts.idleTimeoutMs;
    this.stats = opts.stats;
    socket.setNoDelay(true);
    // Keepalive helps the kernel notice a peer that vanished; the idle deadline is the sure way.
    socket.setKeepAlive(true, 15_000);
    if (reads?.staticReads) reads.setSink((chunk) => this.onData(chunk));
    else socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => { /* reported by 'close'; a reset peer is not our failure */ });
    socket.on('close', () => this.onClose());
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    if (this.batching) {
      // Paused, but a read may already have been under way: kept, in order, for after the batch.
      this.held.push(Buffer.from(chunk));
      return;
    }
    this.lastRxMs = this.server.deps.now();
    const { bodies, error } = this.decoder.pushBodies(chunk);
    // One atomic add per chunk, not per frame: this is the hot path.
    if (bodies.length > 0) this.stats?.framesReceived(bodies.length);
    const ingest = this.server.options.ingest;
    if (ingest && bodies.length >= BULK_FRAMES && this.state === 'ready') {
      if (ingest.ready && this.sendBatch(ingest, bodies, error)) return;
      ingest.start(); // decoded here until the workers are up
    }
    this.onBodies(bodies, error);
  }

  /** Handles frame bodies in order on this thread, then a framing error that came after them. */
  private onBodies(bodies: readonly Uint8Array[], error: FrameError | null): void {
    const limits = this.server.options.guardLimits;
    const hosts = this.server.options.hosts;
    // Of the samples of one read that become the latest reading, only the newest is written to
    // the slot (HostTable.beginRead); the history gets every one.
    hosts.beginRead();
    try {
      for (const body of bodies) {
        // A message may have closed the session (an error, or a newer connection took over).
        if ((this.state as State) === 'closed') return;
        try {
          // Samples, once welcomed: decoded and checked in one pass when they take the usual
          // shape; anything else (and any doubt) through the general decoder and handler map.
          const sample = this.state === 'ready' ? decodeSampleFast(body, limits) : null;
          if (sample) handleSample(this, sample, this.server.deps);
          else this.onMessage(decodeBody(body, limits));
        } catch (err) {
          if (err instanceof FrameError) this.decoder.fail(err);
          this.fail(err, true);
          return;
        }
      }
    } finally {
      // A defect in writing the reading (or in what watches it) ends this session, as it would
      // have inside the loop: never the collector.
      try {
        hosts.endRead();
      } catch (err) {
        this.fail(err);
      }
    }
    if (error) this.fail(error, true);
  }

  /**
   * Sends a bulk read's frames to an ingest worker (collector/ingest_pool.ts), paused until it
   * answers; then takes the frames it left (the first that is not a usual sample, and the rest)
   * here, in order. False when the host is not this session's (handled here, as always).
   */
  private sendBatch(ingest: IngestPool, bodies: readonly Uint8Array[], error: FrameError | null): boolean {
    const { hosts, log } = this.server.options;
    const nowMs = this.server.deps.now();
    const st = hosts.placementOf(this.host, this, nowMs);
    if (!st) return false;
    // The bodies are views into the read buffer, which the next read reuses: copied, once.
    const frames = packFrames(bodies);
    this.socket.pause();
    this.batching = true;
    const slot = st.slot;
    ingest.run({ frames, slot, clockOffsetMs: st.clockOffsetMs, newestMs: st.newestMs, samples: st.samples, lastSeq: this.lastSeq, nowMs, limits: this.server.options.guardLimits }).then((r) => {
      this.batching = false;
      this.lastSeq = r.lastSeq;
      hosts.afterBatch(this.host, slot, r);
      if (r.error !== undefined) log.error('ingest worker failed on a frame; the rest handled on the main thread', { host: this.host, error: r.error });
      if (r.history && !this.replaying) {
        this.replaying = true;
        log.info('older samples placed in the history only', { host: this.host });
      }
      if (this.state === 'closed') return;
      this.onBodies(unpackFrames(r.frames, r.offset), error);
      for (const chunk of this.held.splice(0)) this.onData(chunk);
      if ((this.state as State) !== 'closed' && !this.batching) this.socket.resume();
    }, (err: unknown) => {
      // The pool closed under it (shutdown) or a worker died: its frames are lost, not
      // acknowledged, so the agent sends them again.
      this.batching = false;
      this.fail(new SessionError(ERROR_CODES.SHUTDOWN, `ingest worker: ${err instanceof Error ? err.message : String(err)}`));
    }).catch((err: unknown) => {
      // A defect in taking the batch's outcome in (the alert watcher, say) ends this session,
      // never the collector through an unhandled rejection.
      this.batching = false;
      this.fail(err);
    });
    return true;
  }

  private onMessage(msg: Message): void {
    if (this.state === 'ready') {
      dispatch(this, msg, this.server.deps);
      return;
    }
    if (this.state === 'auth') throw new SessionError(ERROR_CODES.PROTO_UNEXPECTED, 'a frame arrived before the welcome');
    // The sweep enforces the deadline on silent peers; a hello that arrives late is refused here,
    // whichever of the two a busy event loop runs first.
    const late = this.helloOverdue(this.server.deps.now());
    if (late) throw late;
    this.hello = parseHello(msg);
    this.helloAtMs = this.server.deps.now();
    this.state = 'auth';
    this.server.queueVerification(this);
  }

  /** Runs the token check of a session still waiting for it; resolves when done (or skipped). */
  async verify(): Promise<void> {
    const hello = this.hello;
    if (this.state !== 'auth' || !hello) return; // closed while queued: its check costs nothing
    let cred: Credential | null;
    try {
      cred = await this.server.options.auth.verify(hello.host, hello.token);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.admit(hello, cred);
  }

  /** Second half of the handshake, once the credential has been checked. */
  private admit(hello: Hello, cred: Credential | null): void {
    if (this.state !== 'auth') return; // closed meanwhile
    const { options } = this.server;
    try {
      // Checked again now: the token file may have changed while the hash was computed.
      if (!cred || !options.auth.stillValid(hello.host, cred)) throw new SessionError(ERROR_CODES.AUTH_FAILED, 'token refused');
      const claim = options.hosts.claim(hello, this, this.server.deps.now(), this.helloAtMs);
      if (!claim.ok && claim.reason === 'in_use') {
        throw new SessionError(ERROR_CODES.HOST_IN_USE, `another live connection is sending as "${hello.host}"; give this agent another --name`);
      }
      if (!claim.ok) throw new SessionError(ERROR_CODES.CAPACITY_FULL, `the collector holds its maximum of ${options.hosts.capacity} hosts`);
      this.host = hello.host;
      this.credential = cred;
      this.state = 'ready';
      this.counted = true;
      this.stats?.agentConnected();
      this.leavePending();
      this.decoder.setMaxFrameBytes(options.maxFrameBytes);
      // An agent with a long interval is not idle between its samples.
      this.idleLimitMs = Math.max(options.idleTimeoutMs, ONLINE_INTERVALS * hello.interval_ms + IDLE_SLACK_MS);
      if (claim.replaced) {
        this.server.sessionById(claim.replaced.id)?.fail(new SessionError(ERROR_CODES.HOST_REPLACED, 'a newer connection took over this host'));
      }
      this.send({
        type: MSG_WELCOME, proto: PROTO_VERSION, host: hello.host, collector: SENTINEL_VERSION,
        max_frame_bytes: options.maxFrameBytes, ack_interval_ms: options.ackIntervalMs,
      });
      options.log.info('agent connected', { host: hello.host, agent: hello.agent, from: this.remote, slot: claim.slot, auth: cred.kind, evicted: claim.evicted ?? undefined });
    } catch (err) {
      // The hello was refused (token, host in use, capacity): a rejected frame.
      this.fail(err, true);
    }
  }

  send(msg: Message): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encodeFrame(msg));
  }

  /** The error to end the session with when its hello deadline (from the TCP accept) has passed. */
  private helloOverdue(nowMs: number): SessionError | null {
    const { helloTimeoutMs } = this.server.options;
    return nowMs - this.openedMs > helloTimeoutMs ? new SessionError(ERROR_CODES.HELLO_TIMEOUT, `no hello within ${helloTimeoutMs} ms`) : null;
  }

  /** Called by the sweep: enforces deadlines and sends the ack when due. */
  tick(nowMs: number): void {
    const { options } = this.server;
    if (this.state === 'hello' || this.state === 'auth') {
      const late = this.helloOverdue(nowMs);
      if (late) this.fail(late);
      return;
    }
    if (this.state !== 'ready') return;
    if (nowMs - this.lastRxMs > this.idleLimitMs) {
      this.fail(new SessionError(ERROR_CODES.IDLE_TIMEOUT, `nothing received for ${this.idleLimitMs} ms`));
      return;
    }
    if (nowMs - this.lastAckMs >= options.ackIntervalMs) {
      this.lastAckMs = nowMs;
      this.send({ type: MSG_ACK, seq: options.durableAcks ? this.durableSeq : this.lastSeq });
    }
  }

  private leavePending(): void {
    if (this.pending) this.server.pendingDone(this.addressKey);
    this.pending = false;
  }

  /**
   * Ends the session with an error frame naming why. Safe to call more than once.
   * `rejected`: the error is about something the agent sent (counted as a rejected frame).
   */
  fail(err: unknown, rejected = false): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    const wasChecking = this.state === 'auth';
    this.state = 'closed';
    const code: ErrorCode = err instanceof SentinelError ? err.code : ERROR_CODES.PROTO_BAD_FIELD;
    if (this.stats) {
      if (rejected) this.stats.frameRejected(code);
      this.stats.sessionEnded(code);
    }
    this.uncount();
    const message = err instanceof Error ? err.message : String(err);
    const { log } = this.server.options;
    if (!(err instanceof SentinelError)) log.error('unexpected error in a session', { from: this.remote, error: message });
    const level = code === ERROR_CODES.SHUTDOWN || code === ERROR_CODES.HOST_REPLACED ? 'info' : 'warn';
    log[level]('session closed', { code, host: wasReady ? this.host : undefined, from: this.remote, reason: message });
    // A hello that timed out while waiting for its check is our slowness, not the agent's fault.
    if (!wasReady && FAILED_HANDSHAKE.has(code) && !(wasChecking && code === ERROR_CODES.HELLO_TIMEOUT)) this.server.handshakeFailed(this.addressKey);
    // A browser or curl pointed at this port gets an answer it can show, not a binary frame.
    if (err instanceof FrameError && err.foreign === 'http') {
      if (!this.socket.destroyed && this.socket.writable) this.socket.write(HTTP_REFUSAL);
    } else this.send({ type: MSG_ERROR, code, message });
    this.release();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private onClose(): void {
    if (this.state !== 'closed') {
      if (this.state === 'ready') this.server.options.log.info('agent disconnected', { host: this.host, from: this.remote });
      // Leaving while its token is being checked counts as a failed handshake: otherwise
      // "hello, then hang up" would queue hashes for free, never meeting the rate limit.
      if (this.state === 'auth') this.server.handshakeFailed(this.addressKey);
      this.state = 'closed';
      this.stats?.sessionEnded(null);
    }
    this.uncount();
    this.leavePending();
    this.release();
    this.server.forget(this);
  }

  /** Leaves the stats' connected agents, once, whichever way the session ends. */
  private uncount(): void {
    if (this.counted) this.stats?.agentDisconnected();
    this.counted = false;
  }

  private release(): void {
    if (this.host) this.server.options.hosts.release(this.host, this, this.server.deps.now());
  }
}

export class AgentServer {
  readonly server: Server;
  readonly deps: HandlerDeps;
  readonly failures: FailureLimiter;
  private readonly perAddress: ConnectionCounter;
  private readonly pendingPerAddress: ConnectionCounter;
  private readonly sessions = new Map<number, Session>();
  private nextId = 1;
  /** Sockets accepted and not yet closed, authenticated or not (TLS ones before their handshake too). */
  private readonly rawSockets = new Set<Socket>();
  /** TLS: accept time by remote address:port, until the handshake ends (the hello deadline starts there). */
  private readonly acceptedAt = new Map<string, number>();
  private readonly verifyQueue: Session[] = [];
  private verifying = 0;
  private lingering = 0;
  private onDrained: (() => void) | null = null;
  private closing = false;
  /** The token-set generation the live sessions were last checked against. */
  private checkedGeneration: number;
  private readonly sweepTimer: NodeJS.Timeout;
  /** The sweep's round in progress. */
  private sweepRound: IterableIterator<Session> | null = null;
  private readonly tokenTimer: NodeJS.Timeout;

  constructor(readonly options: AgentServerOptions) {
    this.deps = { hosts: options.hosts, now: options.now ?? Date.now, log: options.log };
    this.failures = new FailureLimiter(options.failedHandshakesPerMinute);
    this.perAddress = new ConnectionCounter(options.maxConnectionsPerAddress);
    this.pendingPerAddress = new ConnectionCounter(options.maxPendingPerAddress);
    this.checkedGeneration = options.auth.generation;
    if (options.tls) {
      const tlsServer = createTlsServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2', handshakeTimeout: options.helloTimeoutMs });
      tlsServer.on('connection', (raw: Socket) => {
        if (!this.admit(raw, false)) return;
        const peer = `${raw.remoteAddress}:${raw.remotePort}`;
        this.acceptedAt.set(peer, this.deps.now());
        // Gone before its TLS handshake finished: no session will release its pending count.
        raw.once('close', () => { if (this.acceptedAt.delete(peer)) this.pendingDone(addressKey(raw.remoteAddress)); });
      });
      tlsServer.on('secureConnection', (socket: TLSSocket) => {
        const peer = `${socket.remoteAddress}:${socket.remotePort}`;
        const accepted = this.acceptedAt.get(peer) ?? this.deps.now();
        this.acceptedAt.delete(peer);
        this.startSession(socket, accepted);
      });
      tlsServer.on('tlsClientError', (err, socket) => {
        // A failed or timed-out TLS handshake of an admitted connection is a failed handshake.
        if (this.acceptedAt.has(`${socket.remoteAddress}:${socket.remotePort}`)) this.handshakeFailed(addressKey(socket.remoteAddress));
        options.log.debug('TLS handshake failed', { error: err.message, from: socket.remoteAddress });
      });
      this.server = tlsServer;
    } else {
      // Accepted paused, so that each connection can be moved to reads into one reused buffer
      // before its first byte is read (collector/static_reads.ts).
      const tcpServer = createTcpServer({ noDelay: true, pauseOnConnect: true });
      tcpServer.on('connection', (accepted: Socket) => {
        const reads = adoptAccepted(accepted, options.staticReads !== false);
        if (this.admit(reads.socket, true)) this.startSession(reads.socket, this.deps.now(), reads);
      });
      this.server = tcpServer;
    }
    this.server.on('error', (err) => options.log.error('agent server error', { error: err.message }));
    const sweepMs = Math.max(20, Math.min(MAX_SWEEP_MS, Math.floor(options.helloTimeoutMs / 4), Math.floor(options.ackIntervalMs / 2)));
    this.sweepTimer = setInterval(() => this.sweepSlice(), Math.max(1, Math.floor(sweepMs / SWEEP_SLICES))).unref();
    this.tokenTimer = setInterval(() => this.recheckCredentials(), TOKEN_CHECK_MS).unref();
  }

  /**
   * Admission, checked on the raw socket before any per-connection state or TLS work exists:
   * the total cap, the per-address cap, and the failed-handshake allowance. A refused plain-TCP
   * peer is told why in one small frame; a refused TLS peer is simply closed.
   */
  private admit(socket: Socket, canExplain: boolean): boolean {
    const key = addressKey(socket.remoteAddress);
    const { options } = this;
    let refusal: { code: ErrorCode; message: string } | null = null;
    if (this.closing) {
      refusal = { code: ERROR_CODES.SHUTDOWN, message: 'the collector is shutting down' };
    } else if (this.rawSockets.size >= options.maxConnections) {
      refusal = { code: ERROR_CODES.TOO_MANY_CONNECTIONS, message: `the collector holds its maximum of ${options.maxConnections} connections` };
    } else if (this.failures.blocked(key, this.deps.now())) {
      refusal = { code: ERROR_CODES.RATE_LIMITED, message: `too many failed handshakes from this address; retry in ${Math.ceil(this.failures.retryAfterMs(key, this.deps.now()) / 1000)} s` };
    } else if (this.perAddress.count(key) >= options.maxConnectionsPerAddress) {
      refusal = { code: ERROR_CODES.TOO_MANY_CONNECTIONS, message: `this address holds its maximum of ${options.maxConnectionsPerAddress} connections` };
    } else if (!this.pendingPerAddress.tryAdd(key)) {
      refusal = { code: ERROR_CODES.TOO_MANY_CONNECTIONS, message: `this address has ${options.maxPendingPerAddress} handshakes in progress; retry shortly` };
    }
    socket.on('error', () => {});
    if (refusal) {
      options.stats?.connectionRefused(refusal.code);
      options.log.debug('connection refused', { code: refusal.code, from: socket.remoteAddress });
      if (canExplain && this.lingering < MAX_LINGERING) {
        // Kept open a moment so the peer can read why; bounded, so refusals cannot hold descriptors.
        this.lingering++;
        socket.once('close', () => {
          this.lingering--;
          this.checkDrained();
        });
        socket.end(encodeFrame({ type: MSG_ERROR, ...refusal }));
        setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
      } else {
        socket.destroy();
      }
      return false;
    }
    options.stats?.connectionAccepted();
    this.perAddress.tryAdd(key);
    this.rawSockets.add(socket);
    socket.once('close', () => {
      this.rawSockets.delete(socket);
      this.perAddress.remove(key);
      this.checkDrained();
    });
    return true;
  }

  /** Resolves close()'s wait once no socket is left open (the server does not count sockets moved to static reads). */
  private checkDrained(): void {
    if (this.onDrained !== null && this.rawSockets.size === 0 && this.lingering === 0) {
      this.onDrained();
      this.onDrained = null;
    }
  }

  private startSession(socket: Socket, acceptedMs: number, reads?: Adopted): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const session = new Session(this.nextId++, socket, addressKey(socket.remoteAddress), acceptedMs, this, reads);
    this.sessions.set(session.id, session);
  }

  /** A connection from `key` was welcomed or ended: one fewer handshake in progress. */
  pendingDone(key: string): void {
    this.pendingPerAddress.remove(key);
  }

  /** Queues a session's token check; at most PARALLEL_VERIFICATIONS run at once, in arrival order. */
  queueVerification(session: Session): void {
    this.verifyQueue.push(session);
    this.runVerifications();
  }

  private runVerifications(): void {
    while (this.verifying < PARALLEL_VERIFICATIONS && this.verifyQueue.length > 0) {
      const next = this.verifyQueue.shift()!;
      if (next.state !== 'auth') continue; // gone while it waited
      this.verifying++;
      void next.verify().finally(() => {
        this.verifying--;
        this.runVerifications();
      });
    }
  }

  handshakeFailed(key: string): void {
    if (this.failures.fail(key, this.deps.now())) {
      this.options.log.warn('address refused for failed handshakes', { address: key, per_minute: this.options.failedHandshakesPerMinute });
    }
  }

  /**
   * One tick of the sweep: the next SWEEP_SLICES-th of the sessions (of as many as there are
   * now, so that a round takes SWEEP_SLICES ticks however many start during it). A Map's
   * iterator is live: sessions that end meanwhile are skipped, those that start are visited in
   * the same round.
   */
  private sweepSlice(): void {
    this.sweepRound ??= this.sessions.values();
    const quota = Math.max(1, Math.ceil(this.sessions.size / SWEEP_SLICES));
    const now = this.deps.now();
    for (let n = 0; n < quota; n++) {
      const next = this.sweepRound.next();
      if (next.done) {
        this.sweepRound = null;
        return;
      }
      next.value.tick(now);
    }
  }

  /**
   * Closes sessions whose token was revoked or replaced since they were admitted. Keyed on the
   * token set's generation, so a change noticed by a hello's check is acted on here too.
   */
  recheckCredentials(): void {
    this.options.auth.refresh();
    if (this.options.auth.generation === this.checkedGeneration) return;
    this.checkedGeneration = this.options.auth.generation;
    for (const s of this.sessions.values()) {
      if (s.state === 'ready' && s.credential && !this.options.auth.stillValid(s.host, s.credential)) {
        s.fail(new SessionError(ERROR_CODES.AUTH_REVOKED, 'the token this agent used was revoked or replaced'));
      }
    }
  }

  /** Listens and resolves with the bound address (port 0 picks a free port). */
  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        if (addr === null || typeof addr === 'string') return reject(new Error('unexpected server address'));
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  /** Connections open now, authenticated or not. */
  get connectionCount(): number {
    return this.rawSockets.size;
  }

  sessionById(id: number): Session | undefined {
    return this.sessions.get(id);
  }

  /** Called just before a state snapshot: what each session has stored so far is in it. */
  markDurable(): void {
    for (const s of this.sessions.values()) s.snapshotSeq = s.lastSeq;
  }

  /** Called once that snapshot is safely on disk: acks may now confirm it. */
  commitDurable(): void {
    for (const s of this.sessions.values()) s.durableSeq = Math.max(s.durableSeq, s.snapshotSeq);
  }

  forget(session: Session): void {
    this.sessions.delete(session.id);
  }

  /** Stops accepting, tells every agent why, and resolves when every socket is closed. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweepTimer);
    clearInterval(this.tokenTimer);
    const closed = Promise.all([
      new Promise<void>((resolve) => this.server.close(() => resolve())),
      new Promise<void>((resolve) => {
        this.onDrained = resolve;
        this.checkDrained();
      }),
    ]);
    for (const s of this.sessions.values()) s.fail(new SessionError(ERROR_CODES.SHUTDOWN, 'the collector is shutting down'));
    // Connections without a session (TLS handshakes in progress) have no one to end them.
    const stragglers = setTimeout(() => { for (const s of this.rawSockets) s.destroy(); }, CLOSE_GRACE_MS);
    await closed;
    clearTimeout(stragglers);
    // After the sessions: a batch still out lands first (no worker stops mid-write).
    await this.options.ingest?.close();
  }
}
