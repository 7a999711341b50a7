/** The dashboard's HTTP server: node:http with timeouts and a connection cap, routes in routes.ts. */
import { createServer, type Server } from 'node:http';
import type { ShmStore } from '../shared/shm_store.ts';
import { loadPageAssets } from './page.ts';
import { handleRequest } from './routes.ts';

/** Bounds so that slow or idle clients cannot hold the server: ms, and connections. */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
export const HTTP_REQUEST_TIMEOUT_MS = 15_000;
export const HTTP_KEEPALIVE_TIMEOUT_MS = 5_000;
export const HTTP_MAX_CONNECTIONS = 256;
export const HTTP_MAX_HEADER_BYTES = 16 * 1024;

export function createDashboardServer(store: ShmStore, now: () => number = Date.now): Server {
  const assets = loadPageAssets();
  const server = createServer(
    { headersTimeout: HTTP_HEADERS_TIMEOUT_MS, requestTimeout: HTTP_REQUEST_TIMEOUT_MS, keepAliveTimeout: HTTP_KEEPALIVE_TIMEOUT_MS, maxHeaderSize: HTTP_MAX_HEADER_BYTES },
    (req, res) => {
      try {
        handleRequest(req, res, { store, assets, now });
      } catch (err) {
        // A bug in one route answers 500 and leaves the server up.
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('internal error\n');
        process.emitWarning(`dashboard route failed: ${err instanceof Error ? err.stack : String(err)}`);
      }
    },
  );
  server.maxConnections = HTTP_MAX_CONNECTIONS;
  return server;
}
