/**
 * The agents' TCP server: one FrameDecoder per socket, the hello handshake, then dispatch.
 * Whatever an agent sends, the worst outcome is an error frame with a stable code and the end
 * of that one connection; other sessions and the process carry on.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ERROR_CODES, SentinelError, SessionError, type ErrorCode } from '../shared/errors.ts';
import { encodeFrame, FrameDecoder, type Message } from '../shared/frame_codec.ts';
import type { Logger } from '../shared/log.ts';
import { MSG_ERROR, MSG_WELCOME, parseHello, PROTO_VERSION } from '../shared/protocol.ts';
import { SENTINEL_VERSION } from '../shared/version.ts';
import { ONLINE_INTERVALS } from '../shared/host_view.ts';
import { dispatch, type HandlerDeps, type SessionContext } from './handlers.ts';
import type { HostTable } from './hosts.ts';
import { MAX_HELLO_BYTES } from './settings.ts';
import { tokensEqual } from './token.ts';

export interface AgentServerOptions {
  hosts: HostTable;
  token: string;
  maxFrameBytes: number;
  helloTimeoutMs: number;
  idleTimeoutMs: number;
  /** Connections held at once; one more is told TOO_MANY_CONNECTIONS and closed. */
  maxConnections: number;
  log: Logger;
  now?: () => number;
}

/** After an error frame, how long a peer gets to read it before the socket is destroyed, ms. */
const CLOSE_GRACE_MS = 1000;
/** Added to ONLINE_INTERVALS x the agent's interval for its idle timeout, ms. */
const IDLE_SLACK_MS = 5000;

type State = 'hello' | 'ready' | 'closed';

class Session implements SessionContext {
  state: State = 'hello';
  host = '';
  lastSeq = 0;
  readonly decoder = new FrameDecoder({ maxFrameBytes: MAX_HELLO_BYTES });
  readonly remote: string;
  private helloTimer: NodeJS.Timeout | null;

  constructor(readonly id: number, readonly socket: Socket, private readonly server: AgentServer) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const opts = server.options;
    this.helloTimer = setTimeout(() => this.fail(new SessionError(ERROR_CODES.HELLO_TIMEOUT, `no hello within ${opts.helloTimeoutMs} ms`)), opts.helloTimeoutMs);
    socket.setNoDelay(true);
    // Keepalive notices a peer that vanished without a FIN; the idle timeout one that stays silent.
    socket.setKeepAlive(true, 15_000);
    socket.setTimeout(opts.idleTimeoutMs, () => this.fail(new SessionError(ERROR_CODES.IDLE_TIMEOUT, `nothing received for ${opts.idleTimeoutMs} ms`)));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => { /* reported by 'close'; a reset peer is not our failure */ });
    socket.on('close', () => this.onClose());
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    const { messages, error } = this.decoder.push(chunk);
    for (const msg of messages) {
      // A message may have closed the session (an error, or a newer connection took over).
      if ((this.state as State) === 'closed') return;
      try {
        this.onMessage(msg);
      } catch (err) {
        this.fail(err);
        return;
      }
    }
    if (error) this.fail(error);
  }

  private onMessage(msg: Message): void {
    const { options } = this.server;
    if (this.state === 'ready') {
      dispatch(this, msg, this.server.deps);
      return;
    }
    const hello = parseHello(msg);
    if (!tokensEqual(hello.token, options.token)) {
      throw new SessionError(ERROR_CODES.AUTH_FAILED, 'token refused');
    }
    const claim = options.hosts.claim(hello, this, this.server.deps.now());
    if (!claim.ok && claim.reason === 'in_use') {
      throw new SessionError(ERROR_CODES.HOST_IN_USE, `another live connection is sending as "${hello.host}"; give this agent another --name`);
    }
    if (!claim.ok) {
      throw new SessionError(ERROR_CODES.CAPACITY_FULL, `the collector holds its maximum of ${options.hosts.size} hosts`);
    }
    this.host = hello.host;
    this.state = 'ready';
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.decoder.setMaxFrameBytes(options.maxFrameBytes);
    // An agent with a long interval is not idle between its samples.
    this.socket.setTimeout(Math.max(options.idleTimeoutMs, ONLINE_INTERVALS * hello.interval_ms + IDLE_SLACK_MS));
    if (claim.replaced) {
      this.server.sessionById(claim.replaced.id)?.fail(new SessionError(ERROR_CODES.HOST_REPLACED, 'a newer connection took over this host'));
    }
    this.send({ type: MSG_WELCOME, proto: PROTO_VERSION, host: hello.host, collector: SENTINEL_VERSION, max_frame_bytes: options.maxFrameBytes });
    options.log.info('agent connected', { host: hello.host, agent: hello.agent, from: this.remote, slot: claim.slot });
  }

  send(msg: Message): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encodeFrame(msg));
  }

  /** Ends the session with an error frame naming why. Safe to call more than once. */
  fail(err: unknown): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    const code: ErrorCode = err instanceof SentinelError ? err.code : ERROR_CODES.PROTO_BAD_FIELD;
    const message = err instanceof Error ? err.message : String(err);
    if (!(err instanceof SentinelError)) this.server.options.log.error('unexpected error in a session', { from: this.remote, error: message });
    const level = code === ERROR_CODES.SHUTDOWN || code === ERROR_CODES.HOST_REPLACED ? 'info' : 'warn';
    this.server.options.log[level]('session closed', { code, host: wasReady ? this.host : undefined, from: this.remote, reason: message });
    this.send({ type: MSG_ERROR, code, message });
    this.release();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private onClose(): void {
    if (this.state !== 'closed') {
      if (this.state === 'ready') this.server.options.log.info('agent disconnected', { host: this.host, from: this.remote });
      this.state = 'closed';
    }
    this.release();
    this.server.forget(this);
  }

  private release(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    if (this.host) this.server.options.hosts.release(this.host, this, this.server.deps.now());
  }
}

export class AgentServer {
  readonly server: Server;
  readonly deps: HandlerDeps;
  private readonly sessions = new Map<number, Session>();
  private nextId = 1;

  constructor(readonly options: AgentServerOptions) {
    this.deps = { hosts: options.hosts, now: options.now ?? Date.now };
    this.server = createServer({ noDelay: true }, (socket) => {
      if (this.sessions.size >= options.maxConnections) {
        // Checked before any per-connection state exists: a flood costs one small write each.
        socket.on('error', () => {});
        socket.end(encodeFrame({ type: MSG_ERROR, code: ERROR_CODES.TOO_MANY_CONNECTIONS, message: `the collector holds its maximum of ${options.maxConnections} connections` }));
        setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
        return;
      }
      const session = new Session(this.nextId++, socket, this);
      this.sessions.set(session.id, session);
    });
    this.server.on('error', (err) => options.log.error('agent server error', { error: err.message }));
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

  get connectionCount(): number {
    return this.sessions.size;
  }

  sessionById(id: number): Session | undefined {
    return this.sessions.get(id);
  }

  forget(session: Session): void {
    this.sessions.delete(session.id);
  }

  /** Stops accepting, tells every agent why, and resolves when every socket is closed. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions.values()) s.fail(new SessionError(ERROR_CODES.SHUTDOWN, 'the collector is shutting down'));
    await closed;
  }
}
