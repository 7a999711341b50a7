// Cluster Sentinel overview script. Plain browser JavaScript, inlined by page.ts after chart.js
// (formatting, the live indicator) as one module script.
// Every value that came from an agent is put in the page with textContent, never as markup.
import { formatBytes, formatDuration, liveState } from './chart.js';

(function main() {
  const REFRESH_MS = Number(document.body.dataset.refreshMs) || 1000;
  // After this long without a successful refresh the page says it is no longer live.
  const LOST_AFTER_MS = 3 * REFRESH_MS + 1000;
  // A request on a dead connection (half-open after sleep or a network change) can hang for
  // minutes; aborting it lets the next refresh open a new one.
  const FETCH_TIMEOUT_MS = Math.max(5000, 2 * REFRESH_MS);
  const tbody = document.querySelector('#hosts tbody');
  const summary = document.getElementById('summary');
  const live = document.getElementById('live');
  const errorBox = document.getElementById('error');
  const empty = document.getElementById('empty');
  let lastOkAt = 0;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function age(ms) {
    if (ms === null || ms === undefined) return 'no sample yet';
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s ago`;
    return `${formatDuration(ms / 1000)} ago`;
  }

  function meter(fraction) {
    const wrap = el('span', fraction >= 0.9 ? 'meter high' : 'meter');
    const bar = el('span');
    bar.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
    wrap.appendChild(bar);
    wrap.setAttribute('aria-hidden', 'true');
    return wrap;
  }

  function row(h) {
    const tr = el('tr', `status-${h.status}`);
    tr.dataset.host = h.name;

    const name = el('td', 'host');
    // The link is built from the name with encodeURIComponent: the agent's text can never
    // choose where it points (no scheme, no other path), and it is shown as text.
    const link = el('a', 'host-name', h.name);
    link.setAttribute('href', `/hosts/${encodeURIComponent(h.name)}`);
    name.appendChild(link);
    const facts = [h.os, h.kernel, h.arch, h.cpu_model, h.cpu_cores ? `${h.cpu_cores} cores` : ''].filter(Boolean).join(' · ');
    if (facts) name.appendChild(el('span', 'sub', facts));
    if (h.note) name.appendChild(el('span', 'sub', `missing: ${h.note}`));
    tr.appendChild(name);

    const status = el('td');
    status.appendChild(el('span', 'dot'));
    status.appendChild(el('span', 'status', h.status));
    status.appendChild(el('span', 'sub age', h.status === 'offline' ? 'disconnected' : age(h.age_ms)));
    tr.appendChild(status);

    const cpu = el('td', 'num');
    if (h.cpu_pct !== null) cpu.appendChild(meter(h.cpu_pct / 100));
    cpu.appendChild(el('span', '', h.cpu_pct === null ? '–' : `${h.cpu_pct.toFixed(1)} %`));
    tr.appendChild(cpu);

    const mem = el('td');
    if (h.mem_used_bytes !== null && h.mem_total_bytes) mem.appendChild(meter(h.mem_used_bytes / h.mem_total_bytes));
    mem.appendChild(el('span', '', `${formatBytes(h.mem_used_bytes)} / ${formatBytes(h.mem_total_bytes)}`));
    if (h.swap_total_bytes) mem.appendChild(el('span', 'sub', `swap ${formatBytes(h.swap_used_bytes)} / ${formatBytes(h.swap_total_bytes)}`));
    tr.appendChild(mem);

    tr.appendChild(el('td', 'num', h.load.map((v) => (v === null ? '–' : v.toFixed(2))).join(' / ')));
    tr.appendChild(el('td', 'num', formatDuration(h.uptime_s)));
    tr.appendChild(el('td', '', h.agent || '–'));
    return tr;
  }

  function render(data) {
    const s = data.summary;
    const text = `${s.hosts} host${s.hosts === 1 ? '' : 's'}: ${s.online} online, ${s.stale} stale, ${s.offline} offline`;
    // #summary is a live region: rewrite it only when it changes, or screen readers repeat it every refresh.
    if (summary.textContent !== text) summary.textContent = text;
    const rows = data.hosts.map(row);
    tbody.replaceChildren(...rows);
    empty.hidden = data.hosts.length > 0;
  }

  function tickLive() {
    const { lost, text } = liveState(lastOkAt, !errorBox.hidden, Date.now(), LOST_AFTER_MS);
    live.classList.toggle('lost', lost);
    live.textContent = text;
  }

  async function refresh() {
    try {
      const signal = typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(FETCH_TIMEOUT_MS) : undefined;
      const res = await fetch('/api/hosts', { cache: 'no-store', headers: { accept: 'application/json' }, signal });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      render(await res.json());
      lastOkAt = Date.now();
      errorBox.hidden = true;
    } catch (err) {
      errorBox.hidden = false;
      errorBox.textContent = `Cannot reach the collector: ${err && err.message ? err.message : err}`;
    } finally {
      tickLive();
      setTimeout(refresh, REFRESH_MS);
    }
  }

  setInterval(tickLive, 250);
  refresh();
})();
