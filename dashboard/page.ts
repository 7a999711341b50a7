/**
 * The page: one self-contained HTML document, its style and script inline (no external font,
 * script or style, so it works on an air-gapped network). The Content-Security-Policy allows
 * exactly those two inline blocks by their SHA-256 hashes, so no 'unsafe-inline' is needed and
 * any other script that might slip into the page would not run. The script fills the table
 * from /api/hosts with textContent only, so a host name is always text, never markup.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface PageAssets {
  html: Buffer;
  /** The Content-Security-Policy for the page, naming its inline script and style by hash. */
  csp: string;
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
<style>__CSS__</style>
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
<script>__JS__</script>
</body>
</html>
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** Builds the page from dashboard/static/ once, at worker start. */
export function loadPageAssets(): PageAssets {
  const dir = new URL('./static/', import.meta.url);
  const js = readFileSync(new URL('app.js', dir), 'utf8');
  const css = readFileSync(new URL('app.css', dir), 'utf8');
  if (js.includes('</script') || css.includes('</style')) throw new Error('page assets must not close their own element');
  const html = HTML.replace('__CSS__', () => css).replace('__JS__', () => js);
  const csp = `default-src 'none'; script-src ${sha256(js)}; style-src ${sha256(css)}; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  return { html: Buffer.from(html, 'utf8'), csp };
}
