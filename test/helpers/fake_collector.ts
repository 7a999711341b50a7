/**
 * A stand-in collector for agent tests, on loopback, built from the real codec and validators:
 * it welcomes any hello, records every frame per connection, acks on a timer or on demand, and
 * can go away (every connection cut, new ones closed at once) and come back on the same port.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ERROR_CODES } from '../../shared/errors.ts';
import { encodeFrame, FrameDecoder, type Message } from '../../shared/frame_codec.ts';
import { MSG_ACK, MSG_ERROR, MSG_FACTS, MSG_HELLO, MSG_SAMPLE, MSG_WELCOME, parseFacts, parseHello, parseSample, PROTO_VERSION } from '../../shared/protocol.ts';

export interface FakeCollectorOptions {
  /** Announced in the welcome, ms; 0 announces none (an older collector that never acks). */
  ackIntervalMs?: number;
  /** Ack every ackIntervalMs by itself (default true); false: only conn.ack(). */
  autoAck?: boolean;
  /** Stop reading for this long when a connection's first sample arrives, ms: back-pressure on the agent. */
  stallMs?: number;
  /** An error code to end the session with when a sample of this ts arrives, as a collector refuses a bad field. */
  refuseTs?: ReadonlySet<number>;
}

export interface FakeConnection {
  readonly socket: Socket;
  hello: Message | null;
  /** Every frame after the hello, in arrival order. */
  readonly frames: Message[];
  /** seq of the last sample, as an ack would report it. */
  lastSeq: number;
  /** Protocol faults seen (a bad field, a seq not increasing): a test expects none. */
  readonly faults: string[];
  /** When the welcome was written, performance.now(). */
  welcomedAt: number;
  closed: boolean;
  ack(seq?: number): void;
}

export interface ReceivedSample {
  /** Index of the welcomed connection it came on. */
  conn: number;
  seq: number;
  ts: number;
  /** When it arrived, performance.now(). */
  at: number;
  msg: Message;
}

export class FakeCollector {
  /** Welcomed connections, in order. */
  readonly connections: FakeConnection[] = [];
  readonly samples: ReceivedSample[] = [];
  private readonly live = new Set<Socket>();
  private down = false;

  private constructor(private readonly server: Server, private readonly options: FakeCollectorOptions) {}

  static start(options: FakeCollectorOptions = {}): Promise<FakeCollector> {
    const server = createServer();
    const fake = new FakeCollector(server, options);
    server.on('connection', (socket) => fake.accept(socket));
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(fake)));
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Frames of `type` on every connection, in order. */
  framesOf(type: string): Message[] {
    return this.connections.flatMap((c) => c.frames.filter((m) => m['type'] === type));
  }

  get faults(): string[] {
    return this.connections.flatMap((c) => c.faults);
  }

  /** Down: every connection is cut and new ones are closed at once. Up: it welcomes again. */
  setDown(down: boolean): void {
    this.down = down;
    if (down) for (const s of this.live) s.destroy();
  }

  /** Cuts every connection but stays up: the agent comes straight back. */
  cutAll(): void {
    for (const s of this.live) s.destroy();
  }

  close(): Promise<void> {
    this.setDown(true);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {});
    if (this.down) {
      socket.destroy();
      return;
    }
    this.live.add(socket);
    const ackIntervalMs = this.options.ackIntervalMs ?? 200;
    const decoder = new FrameDecoder();
    let timer: NodeJS.Timeout | null = null;
    let stalled = false;
    let refused = false;
    const conn: FakeConnection = {
      socket, hello: null, frames: [], lastSeq: 0, faults: [], welcomedAt: 0, closed: false,
      ack: (seq = conn.lastSeq) => { if (!socket.destroyed) socket.write(encodeFrame({ type: MSG_ACK, seq })); },
    };
    socket.on('close', () => {
      conn.closed = true;
      this.live.delete(socket);
      if (timer) clearInterval(timer);
    });
    socket.on('data', (chunk: Buffer) => {
      if (refused) return;
      const { messages, error } = decoder.push(chunk);
      if (error) conn.faults.push(`frame: ${error.code}`);
      for (const m of messages) {
        if (conn.hello === null) {
          if (m['type'] !== MSG_HELLO) { conn.faults.push(`first frame ${String(m['type'])}`); continue; }
          try { parseHello(m); } catch (err) { conn.faults.push(`hello: ${String(err)}`); }
          conn.hello = m;
          this.connections.push(conn);
          socket.write(encodeFrame({ type: MSG_WELCOME, proto: PROTO_VERSION, host: String(m['host']), collector: 'fake', max_frame_bytes: 65_536, ...(ackIntervalMs > 0 ? { ack_interval_ms: ackIntervalMs } : {}) }));
          conn.welcomedAt = performance.now();
          if (ackIntervalMs > 0 && this.options.autoAck !== false) timer = setInterval(() => conn.ack(), ackIntervalMs);
          continue;
        }
        conn.frames.push(m);
        try {
          if (m['type'] === MSG_SAMPLE) {
            const sample = parseSample(m);
            if (this.options.refuseTs?.has(sample.ts)) {
              socket.end(encodeFrame({ type: MSG_ERROR, code: ERROR_CODES.PROTO_BAD_FIELD, message: `ts ${sample.ts} refused by the test` }));
              refused = true;
              return;
            }
            if (sample.seq !== conn.lastSeq + 1) conn.faults.push(`seq ${sample.seq} after ${conn.lastSeq}`);
            conn.lastSeq = sample.seq;
            this.samples.push({ conn: this.connections.indexOf(conn), seq: sample.seq, ts: sample.ts, at: performance.now(), msg: m });
          } else if (m['type'] === MSG_FACTS) {
            parseFacts(m);
          } else {
            conn.faults.push(`unexpected ${String(m['type'])}`);
          }
        } catch (err) {
          conn.faults.push(String(err));
        }
      }
      if (this.options.stallMs && !stalled && conn.lastSeq > 0) {
        stalled = true;
        socket.pause();
        setTimeout(() => socket.resume(), this.options.stallMs);
      }
    });
  }
}
