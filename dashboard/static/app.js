// The overview page's wiring: the view state and its controls, the updates (Server-Sent Events,
// polling when the stream breaks), the sparklines, and one render per update. The stream's
// `hosts` snapshot (on connect) renders everything (order, filter, fleet header); its `delta`
// events replace the hosts they carry and update those rows in place once per frame (a whole
// render, spaced out, when the order or the status filter depends on values); its `status`
// events (every second) bring the fleet header, the alerts and each host's status as it ages by
// the clock, and redraw only the rows whose status or alerts changed. No periodic snapshot: at
// 10,000 hosts one is ~13 MiB, whose parse and render held the page for seconds. What to show
// is worked out in overview.js (pure); overview_view.js keeps the DOM in step. The first list
// comes from the stream's snapshot alone: /api/hosts is fetched only when the stream fails, its
// snapshot cannot be read, or not even its headers come in time (at 10,000 hosts the full list
// is ~13.6 MiB, the snapshot ~5.4). Inlined by
// page.ts last, after chart.js, overview.js and overview_view.js, as one module script.
import { liveState } from './chart.js';
import {
  COLUMNS, NARROW_MEDIA, PAGE_ROWS, applyStatusEvent, bannerModel, currencyOf, defaultDir, fleetModel, formatAge, initialState, normalizeHost,
  normalizeHosts, pageModel, parseQuery, parseStored, rowModel, serialiseQuery, serialiseStored, shownView, sparkRequest, thresholdsOf, toggleSort, visibleHosts,
} from './overview.js';
import {
  createCard, createRow, placeInOrder, renderBanner, renderFleet, updateAge, updateItem, updateSparks,
} from './overview_view.js';

{
  /** Polling period while the event stream is down, ms. */
  const POLL_MS = 2000;
  /** How long after the stream broke it is tried again, ms. */
  const STREAM_RETRY_MS = 15_000;
  /** The stream sends at least every 5 s (a status event every second); this long without an event means it is dead, ms. */
  const STREAM_SILENT_MS = 12_000;
  /**
   * The stream's snapshot is sent as it opens; this long without even the stream's headers (a
   * proxy that holds the stream back, a collector busy elsewhere), /api/hosts is fetched once to
   * show something, ms.
   */
  const FIRST_SNAPSHOT_MS = 3000;
  /** Past this without an update the page says it is not live, ms. */
  const LOST_AFTER_MS = 7500;
  const SPARK_MS = 15_000;
  const SPARK_URL = '/api/sparklines?seconds=900&points=60';
  /** How soon after a render that drew rows without sparklines they are asked for, ms. */
  const SPARK_SOON_MS = 300;
  /** Sparklines are asked for at most this often (a view sorted by CPU draws new rows every second), ms. */
  const SPARK_MIN_GAP_MS = 2000;
  // A request on a dead connection can hang for minutes; the timeout lets the next one retry.
  const FETCH_TIMEOUT_MS = 5000;
  /** Most time for the body of an /api/hosts answer once it has begun, ms. */
  const HOSTS_BODY_TIMEOUT_MS = 60_000;
  const STORAGE_KEY = 'sentinel.overview';

  const $ = (id) => document.getElementById(id);
  const live = $('live');
  const liveNote = $('live-note');
  const errorBox = $('error');
  const empty = $('empty');
  const noMatch = $('no-match');
  const shown = $('shown');
  const moreBox = $('more-rows');
  const moreButton = $('show-more');
  const fleetBox = $('fleet');
  const banner = $('alerts-banner');
  const tableWrap = $('table-wrap');
  const tbody = document.querySelector('#hosts tbody');
  const grid = $('grid');
  const filterInput = $('filter');
  const statusSelect = $('status-filter');
  const sortSelect = $('sort-key');
  const dirButton = $('sort-dir');

  let storedText = null;
  try { storedText = localStorage.getItem(STORAGE_KEY); } catch { /* storage off: the URL still works */ }
  let state = initialState(location.search, storedText);
  /** The layout chosen with the buttons, in this visit or one before ('auto': none): what storage keeps (serialiseStored). */
  let chosenView = parseStored(storedText).view ?? 'auto';
  /** The layout this page's own URL named, until a button is pressed: the URL keeps it (serialiseQuery). */
  let linkView = parseQuery(location.search).view;
  /** Matches while the screen is narrow enough for the cards (NARROW_MEDIA); null without matchMedia. */
  const narrowScreen = typeof matchMedia === 'function' ? matchMedia(NARROW_MEDIA) : null;
  /** The layout shown, 'table' or 'grid': the one chosen, else the width's (shownView); set by showState. */
  let layout = shownView(state.view, narrowScreen?.matches === true);
  /** Rows drawn at most (pageModel): PAGE_ROWS, and PAGE_ROWS more at each "Show more". */
  let limit = PAGE_ROWS;

  let payload = null;
  /** performance.now() when `payload` arrived: ages tick on from the payload's. */
  let payloadAt = 0;
  let hosts = [];
  /** Host name -> its index in `hosts`. */
  let hostIndex = new Map();
  /** Slot -> the name of the host held there: a delta of a new host in a reused slot removes the old one. */
  let slotOwner = new Map();
  /** Names whose row a delta changed, drawn at the next row frame (scheduleRows). */
  const changedRows = new Set();
  /** Non-zero while a row frame is scheduled (a timer, then an animation frame). */
  let rowFrame = 0;
  /** performance.now() when rows were last drawn from deltas. */
  let rowsDrawnAt = -Infinity;
  let deltas = 0;
  let lastOkAt = 0;
  let failed = false;
  let transport = 'connecting';
  let source = null;
  let pollTimer = null;
  let retryTimer = null;
  /** Date.now() when the stream was opened or last sent an event. */
  let streamAt = 0;
  let sparks = {};
  /** Names of the hosts the last sparklines answer covered; null: every host. */
  let sparkNames = new Set();
  let sparkTimer = null;
  let sparkLoading = false;
  /** Whether the next sparklines request is one asked for by a render (not the periodic one). */
  let sparkSoon = false;
  /** Whether the collector refused a `slots=` list (414 or 431): every host's are asked for instead. */
  let sparkSlotsRefused = false;
  /** performance.now() when sparklines were last asked for. */
  let sparkAt = -Infinity;
  /** The rows of the last render (pageModel): whose sparklines to ask for. */
  let drawnRows = [];
  let bannerKey = '';
  let renders = 0;
  /** performance.now() of the last render: ages set by it need no tick for a while. */
  let renderedAt = -Infinity;
  /** Per view, host name -> its element and what it shows. */
  const items = { table: new Map(), grid: new Map() };
  /**
   * The rows and cards on screen, whose ages tick every second. A row off screen gets its age
   * when it scrolls in (or at the next render): at 500 hosts, rewriting every age each second
   * cost one long task a second (text and layout of 500 rows) for the 20 or so one can see.
   */
  const onScreen = new Set();
  /** Rows this far above and below the viewport count as on screen (percent of its height), so a row is pinned before it scrolls in. */
  const PIN_MARGIN_PCT = 50;
  const itemOfNode = new WeakMap();
  const visibility = typeof IntersectionObserver === 'function'
    ? new IntersectionObserver((entries) => {
      for (const e of entries) {
        const item = itemOfNode.get(e.target);
        // An entry queued before the item was dropped (a row past the page's rows, the other layout) is old news.
        if (!item || items[layout].get(item.root.dataset.host) !== item) continue;
        // data-pin makes the row's name cell sticky (app.css). Only rows near the screen have
        // it: every sticky cell is a composited layer, and 500 of them cost each frame's
        // pre-paint and commit ~6 % of the main thread for rows no one sees.
        if (e.isIntersecting) {
          onScreen.add(item);
          e.target.dataset.pin = '';
          // A row that deltas changed while it was away is drawn now, before it scrolls in.
          if (item.stale && payload !== null) drawItem(item, thresholdsOf(payload), currencyOf(payload));
          else updateAge(item, formatAge(ageNow(item.ageMs)));
        } else {
          onScreen.delete(item);
          delete e.target.dataset.pin;
        }
      }
    }, { rootMargin: `${PIN_MARGIN_PCT}% 0px` })
    : null;
  function watch(item) {
    if (visibility === null) { onScreen.add(item); item.root.dataset.pin = ''; return; }
    itemOfNode.set(item.root, item);
    visibility.observe(item.root);
  }
  function unwatch(item) {
    onScreen.delete(item);
    visibility?.unobserve(item.root);
  }

  // ---- view state ----

  function saveState() {
    const url = `${location.pathname}${serialiseQuery(state, linkView)}`;
    if (url !== `${location.pathname}${location.search}`) history.replaceState(null, '', url);
    try { localStorage.setItem(STORAGE_KEY, serialiseStored(state, chosenView)); } catch { /* storage off or full */ }
  }

  function showState() {
    if (filterInput.value !== state.q) filterInput.value = state.q;
    statusSelect.value = state.status;
    sortSelect.value = state.sort;
    dirButton.textContent = state.dir === 'asc' ? '↑' : '↓';
    dirButton.setAttribute('aria-label', state.dir === 'asc' ? 'Sort ascending; switch to descending' : 'Sort descending; switch to ascending');
    for (const th of document.querySelectorAll('#hosts th[data-col]')) {
      th.setAttribute('aria-sort', th.dataset.col !== state.sort ? 'none' : state.dir === 'asc' ? 'ascending' : 'descending');
    }
    layout = shownView(state.view, narrowScreen?.matches === true);
    for (const b of document.querySelectorAll('button[data-view]')) b.setAttribute('aria-pressed', String(b.dataset.view === layout));
    tableWrap.hidden = layout !== 'table';
    grid.hidden = layout !== 'grid';
  }

  function setState(next) {
    // A new filter, sort or layout starts from the first PAGE_ROWS again: rows asked for with
    // "Show more" were rows of the list as it was.
    limit = PAGE_ROWS;
    state = next;
    showState();
    saveState();
    render();
  }

  // ---- rendering ----

  function render() {
    if (payload === null) return;
    performance.mark('sentinel-render-start');
    const thresholds = thresholdsOf(payload);
    const currency = currencyOf(payload);
    renderHeader();

    const view = items[layout];
    const page = pageModel(visibleHosts(hosts, state), hosts.length, limit);
    // Only the rows drawn keep their elements, and the other layout keeps none (its container
    // is emptied below): the DOM stays within `limit` rows however large the fleet.
    const drawn = new Set(page.rows.map((h) => h.name));
    for (const [key, map] of Object.entries(items)) {
      for (const [name, item] of map) if (key !== layout || !drawn.has(name)) { unwatch(item); map.delete(name); }
    }
    // The places near the screen, by index in the list: the rows that will stand there are
    // drawn now, whether or not they stood there before (the observer would tell too late, a
    // frame after a new order showed them). The rest are drawn when they come near, with the
    // values of this render, so that the rows one sees always show one moment in their order.
    let nearFrom = Infinity;
    let nearTo = -Infinity;
    for (const item of onScreen) {
      if (item.index < nearFrom) nearFrom = item.index;
      if (item.index > nearTo) nearTo = item.index;
    }
    const nodes = [];
    for (const h of page.rows) {
      const k = nodes.length;
      let item = view.get(h.name);
      if (item && visibility !== null && !onScreen.has(item) && (k < nearFrom || k > nearTo)) {
        item.stale = true;
        item.drawFrom = h;
        item.index = k;
        nodes.push(item.root);
        continue;
      }
      const m = rowModel(h, thresholds, currency);
      if (!item) {
        item = layout === 'table' ? createRow(h.name, m.href) : createCard(h.name, m.href);
        view.set(h.name, item);
        watch(item);
      }
      item.ageMs = h.ageMs;
      item.stale = false;
      item.drawFrom = null;
      item.index = k;
      updateItem(item, m);
      updateSparks(item, sparks[h.name]);
      updateAge(item, formatAge(ageNow(item.ageMs)));
      nodes.push(item.root);
    }
    placeInOrder(layout === 'table' ? tbody : grid, nodes);
    // The other layout's rows or cards went with their items (above): its container holds none.
    placeInOrder(layout === 'table' ? grid : tbody, []);
    drawnRows = page.rows;
    // Rows drawn whose sparklines were not asked for (the first list, a new order, "Show more"): ask soon.
    if (!sparkLoading && !sparkSoon && sparkNames !== null && page.rows.some((h) => !sparkNames.has(h.name))) sparksSoon();

    empty.hidden = hosts.length > 0;
    noMatch.hidden = hosts.length === 0 || nodes.length > 0;
    if (shown.textContent !== page.count) shown.textContent = page.count;
    moreBox.hidden = page.more === null;
    if (page.more !== null && moreButton.textContent !== page.more) moreButton.textContent = page.more;

    // Entries are kept for whoever measures; bounded so a page left on for weeks does not grow.
    if (++renders % 600 === 0) performance.clearMeasures('sentinel-render');
    performance.measure('sentinel-render', 'sentinel-render-start');
    renderedAt = performance.now();
    performance.clearMarks('sentinel-render-start');
  }

  /** The fleet header and the alerts banner, from `payload` and `hosts`. */
  function renderHeader() {
    renderFleet(fleetBox, fleetModel(payload, hosts));
    const banned = bannerModel(payload);
    const key = JSON.stringify(banned);
    if (key !== bannerKey) {
      bannerKey = key;
      renderBanner(banner, banned);
      document.title = banned.count > 0 ? `(${banned.count}) Cluster Sentinel` : 'Cluster Sentinel';
    }
  }

  function indexHosts() {
    hostIndex = new Map(hosts.map((h, i) => [h.name, i]));
    slotOwner = new Map();
    for (const h of hosts) if (h.slot !== null) slotOwner.set(h.slot, h.name);
  }

  function ageNow(ms) {
    return ms === null ? null : ms + (performance.now() - payloadAt);
  }

  /** A payload older than the one shown by less than this, arriving within this of it, is a race and skipped, ms. */
  const STEP_BACK_MS = 5000;

  function apply(data) {
    if (!data || typeof data !== 'object' || !Array.isArray(data.hosts)) throw new Error('the collector sent no host list');
    // A poll answered just after a newer pushed update would step the page back: skip it. Only
    // a slightly older answer arriving soon after: a collector clock stepped back (NTP, a VM
    // resumed) must not freeze the page until the clock catches up.
    if (payload !== null && typeof data.now_ms === 'number' && data.now_ms < payload.now_ms
      && payload.now_ms - data.now_ms < STEP_BACK_MS && performance.now() - payloadAt < STEP_BACK_MS) return;
    payload = data;
    payloadAt = performance.now();
    hosts = normalizeHosts(data);
    indexHosts();
    changedRows.clear();
    lastOkAt = Date.now();
    failed = false;
    errorBox.hidden = true;
    render();
    tickLive();
  }

  /**
   * A `delta` event: the hosts it carries replace theirs; their rows are drawn at the next frame.
   * Ages are re-based on the snapshot's arrival, as every age on the page counts from there.
   */
  function applyDelta(data) {
    if (payload === null || !data || typeof data !== 'object' || !Array.isArray(data.hosts)) return;
    const shift = performance.now() - payloadAt;
    let added = false;
    let replaced = false;
    for (const raw of data.hosts) {
      if (!raw || typeof raw !== 'object' || typeof raw.name !== 'string') continue;
      const was = hostIndex.get(raw.name);
      const h = normalizeHost(raw, was === undefined ? null : hosts[was]);
      if (h.ageMs !== null) h.ageMs -= shift;
      if (h.slot !== null) {
        // A slot taken over by a new host (the old one evicted): the old one leaves the page.
        const owner = slotOwner.get(h.slot);
        if (owner !== undefined && owner !== h.name) replaced = true;
        slotOwner.set(h.slot, h.name);
      }
      const at = hostIndex.get(h.name);
      if (at === undefined) {
        hostIndex.set(h.name, hosts.length);
        hosts.push(h);
        added = true;
      } else {
        hosts[at] = h;
        changedRows.add(h.name);
      }
    }
    if (replaced) {
      hosts = hosts.filter((h) => h.slot === null || slotOwner.get(h.slot) === h.name);
      indexHosts();
    }
    lastOkAt = Date.now();
    failed = false;
    // A new host needs a place in the order: a whole render. So does a change while the order
    // or the status filter depends on values; those renders are spaced out (a busy fleet sends
    // a delta every 25 ms) and show values and order of one moment.
    if (added || replaced) render();
    else if (state.sort !== 'name' || state.status !== 'all') scheduleRender();
    else scheduleRows();
    tickLive();
  }

  /**
   * A `status` event: the summary, the alerts (when they changed) and each host's status by its
   * slot. Only rows whose status or alerts changed are drawn again, at the next frame; a whole
   * render when hosts left, the thresholds changed, or a status change moves rows (sorted or
   * filtered by status). Ages are left alone: they count on from the last sample's.
   */
  function applyStatus(data) {
    if (payload === null || !data || typeof data !== 'object' || typeof data.statuses !== 'string') return;
    const next = { ...payload };
    if (typeof data.now_ms === 'number') next.now_ms = data.now_ms;
    if (data.summary && typeof data.summary === 'object') next.summary = data.summary;
    if (Array.isArray(data.alerts)) next.alerts = data.alerts;
    let whole = false;
    if (data.thresholds && typeof data.thresholds === 'object') {
      whole = JSON.stringify(thresholdsOf(data)) !== JSON.stringify(thresholdsOf(payload));
      next.thresholds = data.thresholds;
    }
    payload = next;
    const r = applyStatusEvent(hosts, data);
    hosts = r.hosts;
    if (r.gone > 0) {
      indexHosts();
      whole = true;
    }
    for (const name of r.changed) changedRows.add(name);
    lastOkAt = Date.now();
    failed = false;
    if (whole) {
      changedRows.clear();
      render();
    } else {
      renderHeader();
      // A view ordered or filtered by values shows the values and order of one moment: the rows
      // that changed (here or in deltas since the last render) wait for its next whole render.
      // Drawing them now would put newer values into the older order.
      if (state.sort !== 'name' || state.status !== 'all') {
        if (changedRows.size > 0) scheduleRender();
      } else scheduleRows();
    }
    tickLive();
  }

  /**
   * Least time between two whole renders caused by deltas, ms: how often a view sorted or
   * filtered by values takes its new order. At 500 hosts sorted by CPU, a new order every
   * 250 ms kept the browser 79 % busy with 78 long tasks in 20 s (rows moved, laid out and
   * painted again); rows that jump four times a second cannot be read either.
   */
  const DELTA_RENDER_GAP_MS = 1000;
  let renderTimer = null;

  function scheduleRender() {
    if (renderTimer !== null) return;
    const wait = Math.max(0, renderedAt + DELTA_RENDER_GAP_MS - performance.now());
    renderTimer = setTimeout(() => requestAnimationFrame(() => { renderTimer = null; changedRows.clear(); render(); }), wait);
  }

  /**
   * Least time between two frames that draw rows from deltas, ms. Each such frame lays the whole
   * table out again, whatever the number of rows changed; a fleet whose agents sample at
   * different moments sends a delta every 25 ms, so drawing each at its own frame kept the
   * browser's main thread about half busy at 500 hosts (`npm run bench -- page`). Four frames a
   * second still show every one-second sample, at most this much after it arrived.
   */
  const ROW_FRAME_GAP_MS = 250;
  /** Most rows drawn from deltas in one animation frame. */
  const ROWS_PER_FRAME = 100;

  /** Draws the changed rows at the next animation frame at least ROW_FRAME_GAP_MS after the last. */
  function scheduleRows() {
    if (rowFrame !== 0 || changedRows.size === 0) return;
    const wait = rowsDrawnAt + ROW_FRAME_GAP_MS - performance.now();
    if (wait <= 0) rowFrame = requestAnimationFrame(drawChangedRows);
    else rowFrame = setTimeout(() => { rowFrame = requestAnimationFrame(drawChangedRows); }, wait);
  }

  function drawChangedRows() {
    rowFrame = 0;
    rowsDrawnAt = performance.now();
    if (payload === null) return;
    // The view was sorted or filtered by values since this frame was asked for: its changed
    // rows wait for the next whole render (one moment's values in that moment's order).
    if (state.sort !== 'name' || state.status !== 'all') {
      if (changedRows.size > 0) scheduleRender();
      return;
    }
    performance.mark('sentinel-delta-start');
    const thresholds = thresholdsOf(payload);
    const currency = currencyOf(payload);
    const view = items[layout];
    let drawn = 0;
    for (const name of changedRows) {
      // A frame draws at most so many rows; the rest go to the next frames, so that a fleet
      // whose samples all land at once (agents restarted together) never blocks the page.
      if (drawn === ROWS_PER_FRAME) break;
      changedRows.delete(name);
      const item = view.get(name);
      if (!item || !item.root.isConnected) continue;
      // A row far from the screen is only marked: it is drawn when it comes near (the
      // IntersectionObserver above). Each row drawn costs its text, paint and layer update, and
      // at 500 hosts nearly every row changes every second for the 20 or so one can see.
      if (visibility !== null && !onScreen.has(item)) {
        item.stale = true;
        item.drawFrom = null;
        continue;
      }
      if (drawItem(item, thresholds, currency)) drawn++;
    }
    if (changedRows.size > 0) rowFrame = requestAnimationFrame(drawChangedRows);
    if (++deltas % 600 === 0) performance.clearMeasures('sentinel-delta');
    performance.measure('sentinel-delta', 'sentinel-delta-start');
    performance.clearMarks('sentinel-delta-start');
  }

  /**
   * Draws `item`: from the values the last whole render placed it by (item.drawFrom), else from
   * its host's latest. False when the host is gone.
   */
  function drawItem(item, thresholds, currency) {
    const at = hostIndex.get(item.root.dataset.host);
    if (at === undefined) return false;
    const h = item.drawFrom ?? hosts[at];
    item.ageMs = h.ageMs;
    item.stale = false;
    item.drawFrom = null;
    updateItem(item, rowModel(h, thresholds, currency));
    updateSparks(item, sparks[h.name]);
    updateAge(item, formatAge(ageNow(item.ageMs)));
    return true;
  }

  /** Once a second: the ages, a stream that fell silent, the live indicator. */
  function tick() {
    // While updates come every second the render has just set the ages; ticking them as well
    // would lay the table out twice a second for nothing.
    if (performance.now() - renderedAt > 900) {
      for (const item of onScreen) if (item.root.isConnected) updateAge(item, formatAge(ageNow(item.ageMs)));
    }
    // A half-open connection never errors: silence is the only sign of a dead stream.
    if (source !== null && Date.now() - streamAt > STREAM_SILENT_MS) streamFailed();
    tickLive();
  }

  function tickLive() {
    const { lost, text } = liveState(lastOkAt, failed, Date.now(), LOST_AFTER_MS);
    const mode = lost ? 'lost' : lastOkAt === 0 ? 'connecting' : transport;
    if (live.dataset.mode !== mode) {
      live.dataset.mode = mode;
      document.body.dataset.live = mode;
      // The one announced change: going live, falling back to polling, or losing the collector.
      liveNote.textContent = mode === 'sse' ? 'Live: updates are pushed.' : mode === 'poll' ? 'Live: polling every 2 s.' : mode === 'lost' ? 'Not live: no recent update.' : '';
      live.title = mode === 'poll' ? 'Polling every 2 s: the event stream is not available' : mode === 'sse' ? 'Updates pushed by the collector as samples land' : 'Time since the page last got readings from the collector';
    }
    if (live.textContent !== text) live.textContent = text;
  }

  // ---- updates: the event stream, polling when it breaks ----

  function requestInit() {
    const signal = typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(FETCH_TIMEOUT_MS) : undefined;
    return { cache: 'no-store', headers: { accept: 'application/json' }, signal };
  }

  /** The /api/hosts request on its way, aborted when the stream's snapshot lands first; null: none. */
  let hostsFetch = null;

  async function loadHosts() {
    const ctl = new AbortController();
    hostsFetch = ctl;
    let timer = setTimeout(() => ctl.abort(new Error('no answer in time')), FETCH_TIMEOUT_MS);
    try {
      const res = await fetch('/api/hosts', { cache: 'no-store', headers: { accept: 'application/json' }, signal: ctl.signal });
      // The answer has begun: its body is ~13 MiB at 10,000 hosts, more than a slow link carries
      // in FETCH_TIMEOUT_MS, so the body has a limit of its own.
      clearTimeout(timer);
      timer = setTimeout(() => ctl.abort(new Error('the answer took too long')), HOSTS_BODY_TIMEOUT_MS);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const data = await res.json();
      // The stream took over while this was on its way (at 10,000 hosts the answer is ~13 MiB;
      // the request is aborted then, but its body may be whole already): the snapshot and deltas
      // are newer, and deltas leave out what did not change, so an older list would stay wrong.
      if (transport === 'sse') return;
      apply(data);
    } catch (err) {
      if (transport === 'sse') return;
      failed = true;
      errorBox.hidden = false;
      errorBox.textContent = `Cannot reach the collector: ${err && err.message ? err.message : err}`;
      tickLive();
    } finally {
      clearTimeout(timer);
      if (hostsFetch === ctl) hostsFetch = null;
    }
  }

  async function poll() {
    pollTimer = null;
    await loadHosts();
    if (transport === 'poll' && pollTimer === null) pollTimer = setTimeout(poll, POLL_MS);
  }

  function openStream() {
    if (typeof EventSource !== 'function') { streamFailed(); return; }
    // The overview's view: each host with what this page shows, its facts only when they change.
    source = new EventSource('/api/events?view=overview');
    streamAt = Date.now();
    source.addEventListener('hosts', (ev) => {
      streamAt = Date.now();
      try {
        apply(JSON.parse(ev.data));
      } catch {
        // A snapshot the page cannot take: its deltas would build on a list the page does not
        // have. Poll /api/hosts, and try the stream again later for a fresh snapshot.
        streamFailed();
        return;
      }
      if (transport !== 'sse') {
        transport = 'sse';
        clearTimeout(pollTimer);
        pollTimer = null;
        if (hostsFetch !== null) hostsFetch.abort();
        tickLive();
      }
    });
    source.addEventListener('delta', (ev) => {
      streamAt = Date.now();
      let data;
      try { data = JSON.parse(ev.data); } catch { return; }
      applyDelta(data);
    });
    source.addEventListener('status', (ev) => {
      streamAt = Date.now();
      let data;
      try { data = JSON.parse(ev.data); } catch { return; }
      applyStatus(data);
    });
    // A 404 (no stream on this collector), a dropped connection or a proxy that buffers: poll.
    source.addEventListener('error', streamFailed);
  }

  function streamFailed() {
    if (source) { source.close(); source = null; }
    transport = 'poll';
    if (pollTimer === null) pollTimer = setTimeout(poll, 0);
    if (retryTimer === null) retryTimer = setTimeout(() => { retryTimer = null; openStream(); }, STREAM_RETRY_MS);
  }

  function scheduleSparks(ms) {
    clearTimeout(sparkTimer);
    sparkTimer = setTimeout(loadSparks, ms);
  }

  /** Sparklines asked for soon, for rows the last answer did not cover: SPARK_MIN_GAP_MS after the last request at the earliest. */
  function sparksSoon() {
    sparkSoon = true;
    scheduleSparks(Math.max(SPARK_SOON_MS, sparkAt + SPARK_MIN_GAP_MS - performance.now()));
  }

  /**
   * The sparklines of the rows drawn (at 10,000 hosts, 500 of them: ~0.3 MiB instead of ~6),
   * or of every host when every one is drawn; again every SPARK_MS, and soon after a render
   * draws a row the last answer did not cover.
   */
  async function loadSparks() {
    sparkTimer = null;
    sparkSoon = false;
    sparkLoading = true;
    sparkAt = performance.now();
    const ask = sparkSlotsRefused ? { slots: null, names: null } : sparkRequest(drawnRows, hosts.length);
    let again = false;
    try {
      const res = await fetch(ask.slots === null ? SPARK_URL : `${SPARK_URL}&slots=${ask.slots}`, requestInit());
      // A request line too long for this collector (--http-max-header-bytes): every host's from now on.
      if (ask.slots !== null && (res.status === 414 || res.status === 431)) {
        sparkSlotsRefused = true;
        again = true;
      }
      if (res.ok) {
        const data = await res.json();
        if (data && typeof data.hosts === 'object' && data.hosts !== null) {
          const next = data.hosts;
          // Rows drawn while this was on its way keep the lines they had until theirs come
          // (defined, not assigned: a host may be named "__proto__").
          if (ask.names !== null) {
            for (const h of drawnRows) {
              if (!ask.names.has(h.name) && Object.hasOwn(sparks, h.name)) Object.defineProperty(next, h.name, { value: sparks[h.name], enumerable: true, writable: true, configurable: true });
            }
          }
          sparks = next;
          sparkNames = ask.names;
          for (const [name, item] of items[layout]) if (item.root.isConnected) updateSparks(item, sparks[name]);
          // Rows drawn while this was on its way, not covered by it: theirs soon, not in 15 s.
          again = sparkNames !== null && drawnRows.some((h) => !sparkNames.has(h.name));
        }
      }
    } catch { /* sparklines are extra: the rows carry the numbers */ }
    sparkLoading = false;
    if (again) sparksSoon();
    else scheduleSparks(SPARK_MS);
  }

  // ---- controls ----

  filterInput.addEventListener('input', () => setState({ ...state, q: filterInput.value.slice(0, 200) }));
  statusSelect.addEventListener('change', () => setState({ ...state, status: statusSelect.value }));
  sortSelect.addEventListener('change', () => setState({ ...state, sort: sortSelect.value, dir: defaultDir(sortSelect.value) }));
  dirButton.addEventListener('click', () => setState({ ...state, dir: state.dir === 'asc' ? 'desc' : 'asc' }));
  moreButton.addEventListener('click', () => {
    const from = limit;
    limit += PAGE_ROWS;
    render();
    // Focus goes to the first row just drawn: the keyboard carries on there, and is not left on
    // a button that the last batch hides.
    const first = (layout === 'table' ? tbody : grid).children[from];
    first?.querySelector('a')?.focus();
  });
  for (const b of document.querySelectorAll('button[data-sort]')) {
    b.addEventListener('click', () => setState(toggleSort(state, b.dataset.sort)));
  }
  for (const b of document.querySelectorAll('button[data-view]')) {
    b.addEventListener('click', () => {
      if (chosenView === b.dataset.view && state.view === b.dataset.view) return;
      chosenView = b.dataset.view;
      linkView = undefined;
      // Pressing the layout the width (or a link) picked chooses it too: it stays through a turn of the screen and a reload.
      if (layout === b.dataset.view) {
        state = { ...state, view: b.dataset.view };
        saveState();
      } else setState({ ...state, view: b.dataset.view });
    });
  }
  // A screen turned or a window resized across NARROW_MEDIA: while no layout was chosen, the
  // layout follows the width. A chosen one stays whatever the width.
  narrowScreen?.addEventListener('change', () => {
    if (state.view !== 'auto' || shownView(state.view, narrowScreen.matches) === layout) return;
    limit = PAGE_ROWS;
    showState();
    render();
  });
  if (COLUMNS.length !== document.querySelectorAll('#hosts th[data-col]').length) throw new Error('page and script disagree on the columns');

  showState();
  saveState();
  // The stream's snapshot is the first list: fetching /api/hosts as well would send the fleet
  // twice, the second time with every field of every host.
  openStream();
  // A stream whose headers came is sending its snapshot (5 MiB at 10,000 hosts takes a while on
  // a slow link): then it is not asked twice, and the watchdog covers one that falls silent.
  setTimeout(() => {
    if (transport === 'connecting' && hostsFetch === null && (source === null || source.readyState !== 1)) loadHosts();
  }, FIRST_SNAPSHOT_MS);
  // The sparklines are first asked for once the first list is drawn (render), for its rows.
  setInterval(tick, 1000);
}
