/**
 * The page: one HTML shell plus a script and a stylesheet served from the same origin (no
 * external font, script or style, so it works on an air-gapped network, and the CSP needs no
 * 'unsafe-inline'). The script fills the table from /api/hosts with textContent only, so a
 * host name is always text, never markup.
 */
import { readFileSync } from 'node:fs';

export interface PageAssets {
  html: string;
  js: Buffer;
  css: Buffer;
}

/** How often the page asks for new readings, ms. Agents sample every 1000 ms by default. */
export const PAGE_REFRESH_MS = 1000;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Cluster Sentinel</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body data-refresh-ms="${PAGE_REFRESH_MS}">
<header>
  <h1>Cluster Sentinel</h1>
  <p id="summary" aria-live="polite">Loading…</p>
  <p id="live" class="live" title="Time since the page last got readings from the collector">connecting…</p>
</header>
<main>
  <noscript><p class="warn">This page needs JavaScript to refresh. The same data is at <a href="/api/hosts">/api/hosts</a>.</p></noscript>
  <p id="error" class="warn" hidden></p>
  <div class="table-wrap">
  <table id="hosts" aria-label="Hosts">
    <thead><tr>
      <th scope="col">Host</th><th scope="col">Status</th><th scope="col" class="num">CPU</th>
      <th scope="col">Memory</th><th scope="col" class="num">Load 1 / 5 / 15</th>
      <th scope="col" class="num">Uptime</th><th scope="col">Agent</th>
    </tr></thead>
    <tbody></tbody>
  </table>
  </div>
  <p id="empty" hidden>No agent has connected yet. Start one with the command the collector printed.</p>
</main>
</body>
</html>
`;

export function loadPageAssets(): PageAssets {
  const dir = new URL('./static/', import.meta.url);
  return {
    html: HTML,
    js: readFileSync(new URL('app.js', dir)),
    css: readFileSync(new URL('app.css', dir)),
  };
}
