/**
 * The fleet benchmark's floor: the least a process pays to take one agent's sample a second.
 *
 * A sink on one thread that reads every connection the way the collector does (accepted paused,
 * read into one reused buffer: collector/static_reads.ts), frames the bytes (shared/frame_codec.ts
 * FrameDecoder), answers the hello with a welcome once the token matches, and decodes and checks
 * every sample with the collector's own one-pass decoder (shared/sample_decoder.ts). It writes
 * nothing anywhere: no slot, no history, no acks, no dashboard, no timers. What the collector's
 * main thread pays beyond this per sample is its own work; this much any design that reads one
 * frame per read and validates it pays, on this machine's kernel.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { adoptAccepted } from '../../collector/static_reads.ts';
import { decodeBody, encodeFrame, FrameDecoder } from '../../shared/frame_codec.ts';
import { MSG_HELLO, MSG_WELCOME, PROTO_VERSION } from '../../shared/protocol.ts';
import { decodeSampleFast } from '../../shared/sample_decoder.ts';

export interface FloorCounts {
  /** Connections that sent a hello with the token and were welcomed. */
  welcomed: number;
  /** Samples decoded and checked. */
  samples: number;
  /** Hellos refused, frames that did not frame or decode: each closes its connection. */
  errors: number;
}

export interface FloorSink {
  readonly port: number;
  counts(): FloorCounts;
  close(): Promise<void>;
}

export async function startFloorSink(token: string): Promise<FloorSink> {
  const counts: FloorCounts = { welcomed: 0, samples: 0, errors: 0 };
  const sockets = new Set<Socket>();
  const welcome = encodeFrame({ type: MSG_WELCOME, proto: PROTO_VERSION, host: '', collector: 'floor', max_frame_bytes: 65_536, ack_interval_ms: 0 });
  const server: Server = createServer({ noDelay: true, pauseOnConnect: true }, (accepted) => {
    const reads = adoptAccepted(accepted);
    const socket = reads.socket;
    sockets.add(socket);
    const decoder = new FrameDecoder();
    let ready = false;
    const fail = (): void => {
      counts.errors++;
      socket.destroy();
    };
    const onChunk = (chunk: Buffer): void => {
      const { bodies, error } = decoder.pushBodies(chunk);
      try {
        for (const body of bodies) {
          if (ready) {
            if (decodeSampleFast(body) === null) throw new Error('not a sample of the usual shape');
            counts.samples++;
            continue;
          }
          const hello = decodeBody(body);
          if (hello['type'] !== MSG_HELLO || hello['token'] !== token) throw new Error('not a hello with the token');
          ready = true;
          counts.welcomed++;
          socket.write(welcome);
        }
      } catch {
        fail();
        return;
      }
      if (error) fail();
    };
    if (reads.staticReads) reads.setSink(onChunk);
    else socket.on('data', onChunk);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    counts: () => ({ ...counts }),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
