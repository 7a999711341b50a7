/**
 * A small HTTP client for tests: one fresh connection a request (no keep-alive pool, so a
 * restarted server is never reached through a dead pooled socket) and a deadline on each call.
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Server, ServerResponse } from 'node:http';

/** Default deadline of one request, ms. */
export const HTTP_TIMEOUT_MS = 5000;

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpRequestOptions {
  method?: string;
  body?: string;
  timeoutMs?: number;
  /** Request target sent as is, e.g. with dot segments that URL parsing would resolve. */
  rawPath?: string;
  headers?: Record<string, string>;
  /** For https URLs: the CA to verify the server against. */
  ca?: string;
}

export function httpRequest(url: string, opts: HttpRequestOptions = {}): Promise<HttpResult> {
  const u = new URL(url);
  const path = opts.rawPath ?? u.pathname + u.search;
  return new Promise((resolve, reject) => {
    const options = {
      host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port, path, method: opts.method ?? 'GET', agent: false, timeout: opts.timeoutMs ?? HTTP_TIMEOUT_MS,
      headers: opts.headers ?? {}, ...(opts.ca ? { ca: opts.ca } : {}),
    };
    const req = (u.protocol === 'https:' ? httpsRequest : request)(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', reject);
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.once('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${url}: no answer within ${opts.timeoutMs ?? HTTP_TIMEOUT_MS} ms`)));
    req.once('error', reject);
    req.end(opts.body);
  });
}

/** Base URL of a listening server, e.g. http://127.0.0.1:41234. */
export function baseUrl(server: Server): string {
  const addr = server.address() as AddressInfo;
  return `http://127.0.0.1:${addr.port}`;
}

/** Listens on 127.0.0.1 and a port the OS picks; resolves with the base URL. */
export function listenLoopback(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(baseUrl(server));
    });
  });
}

/** Closes the server and any connection still open on it. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Taps what a server response writes: `tap` sees each chunk as text (null for other chunks)
 * and returns the chunk to write instead, or undefined to write it as it was. For tests that
 * count or break events on a real stream (prepend a 'request' listener and tap its `res`).
 */
export function tapWrites(res: ServerResponse, tap: (text: string | null) => string | undefined): void {
  const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
  res.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    const text = Buffer.isBuffer(chunk) ? chunk.toString('utf8') : typeof chunk === 'string' ? chunk : null;
    const instead = tap(text);
    return write(instead ?? chunk, ...rest);
  }) as typeof res.write;
}
