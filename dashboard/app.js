// Sluice's dashboard: plain browser JavaScript, no build step. It reads and steers runs through
// the same /api/v1 a script would use, with the token the operator pastes (kept in this tab's
// sessionStorage), and follows /api/v1/events for live updates. Everything from the server is
// inserted as text (textContent), never as markup. Controls that need a write token are disabled
// (with the reason) for a read token: the page never offers what the server would refuse.

const TOKEN_KEY = 'sluice.token';
const PAGE_SIZE = 50;
const QUARANTINE_PAGE = 25;
/** The throttle profiles' knobs, as the core defines them (src/core/throttle/knobs.ts): a retune shows what one changes. */
const PROFILES = {
  background: { batchSize: 100, batchDelayMs: 1000, concurrency: 1 },
  moderate: { batchSize: 500, batchDelayMs: 200, concurrency: 2 },
  fast: { batchSize: 2000, batchDelayMs: 0, concurrency: 8 },
};
const KNOB_LABELS = { batchSize: 'batch size', concurrency: 'concurrency', batchDelayMs: 'delay between batches (ms)', profile: 'profile' };
const state = {
  me: null,
  runs: new Map(),
  route: null,
  run: null,
  batches: [],
  charts: [],
  stream: null,
  refreshTimer: null,
  backfills: [],
};

// ---- small helpers ---------------------------------------------------------------------------

// Bidirectional controls (U+202A-U+202E, U+2066-U+2069 and the marks) shown as <U+202E>: a run
// name, an item key or an error message from the server never displays reversed text.
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
function visible(text) {
  return String(text).replace(BIDI_CONTROLS, (c) => `<U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}>`);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'text') node.textContent = visible(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(visible(child)));
  }
  return node;
}

const fmt = new Intl.NumberFormat('en');
const count = (n) => (n === null || n === undefined ? '—' : fmt.format(Math.round(n)));
const perSecond = (n) => (n === null || n === undefined ? '—' : `${n >= 10 ? fmt.format(Math.round(n)) : n.toFixed(1)}/s`);
function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}
// Times carry their zone: an operator compares them with logs and alerts from elsewhere.
const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
  timeZoneName: 'short',
});
const when = (iso) => (iso ? timeFormat.format(new Date(iso)) : '—');
function whenCell(iso) {
  return iso ? el('time', { datetime: iso, title: iso, text: when(iso) }) : '—';
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}
const canWrite = () => state.me !== null && (state.me.scope === 'write' || state.me.scope === 'admin');
const READ_ONLY = 'needs a write token; this one is read-only';

async function api(path, options = {}) {
  const response = await fetch(`api/v1${path}`, {
    ...options,
    headers: { authorization: `Bearer ${token()}`, ...(options.body ? { 'content-type': 'application/json' } : {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    signOut('The token was refused: ' + (body.message || 'unauthorized'));
    throw new Error(body.message || 'unauthorized');
  }
  if (!response.ok) {
    // The hint says what to do next, shown with the message; the server words both in the API's
    // terms already (its routes and fields, no command-line flags).
    const message = String(body.message || `HTTP ${response.status}`);
    // `code` and the bare `message` let a form say what to do in its own terms (a box to tick, not a body field).
    throw Object.assign(new Error(body.hint ? `${message} — ${body.hint}` : message), { code: body.error, apiMessage: message });
  }
  return body;
}

function announce(text, kind = 'info') {
  const box = document.getElementById('flash');
  if (!box) return;
  box.textContent = visible(text);
  box.className = kind === 'error' ? 'error' : kind === 'ok' ? 'ok' : 'hint';
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}

/** A button that writes: disabled for a read token, with the reason as its title. */
function writeButton(attrs, enabled = true) {
  const button = el('button', { type: 'button', ...attrs, 'data-write': '' });
  setWritable(button, enabled);
  return button;
}
function setWritable(node, enabled) {
  node.disabled = !canWrite() || !enabled;
  if (!canWrite()) node.title = READ_ONLY;
  else node.removeAttribute('title');
}

/** Saves JSON the API answers as a file (the token goes in a header, so a plain link cannot fetch it). */
async function download(path, filename) {
  try {
    const body = await api(path);
    const url = URL.createObjectURL(new Blob([JSON.stringify(body, null, 2)], { type: 'application/json' }));
    const a = el('a', { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (error) {
    announce(error.message, 'error');
  }
}

// ---- sign-in ---------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  stopStream();
  document.getElementById('login').hidden = false;
  document.getElementById('view').replaceChildren();
  document.getElementById('sign-out').hidden = true;
  document.getElementById('whoami').hidden = true;
  document.getElementById('grafana').hidden = true;
  document.getElementById('login-error').textContent = visible(message || '');
  document.getElementById('token-input').focus();
}

document.getElementById('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = document.getElementById('token-input').value.trim();
  sessionStorage.setItem(TOKEN_KEY, value);
  try {
    await api('/whoami');
    document.getElementById('token-input').value = '';
    await start();
  } catch (error) {
    document.getElementById('login-error').textContent = visible(error.message);
  }
});
document.getElementById('sign-out').addEventListener('click', () => signOut());
document.getElementById('grafana').addEventListener('click', () => download('/grafana-dashboard', 'sluice-grafana-dashboard.json'));

// ---- live updates ----------------------------------------------------------------------------

function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
  setLive(false);
}

function setLive(on) {
  const live = document.getElementById('live');
  live.textContent = on ? 'live' : 'offline';
  live.className = on ? 'live on' : 'live';
}

/** Reads /api/v1/events with fetch (so the token goes in a header, not the URL) and reconnects. */
async function followEvents() {
  stopStream();
  const controller = new AbortController();
  state.stream = controller;
  while (!controller.signal.aborted) {
    try {
      const response = await fetch('api/v1/events', { headers: { authorization: `Bearer ${token()}` }, signal: controller.signal });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      setLive(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          handleEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      if (controller.signal.aborted) return;
    }
    setLive(false);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/** Whether a run belongs on the runs page as filtered: new runs appear on the first page only. */
function listed(run) {
  const r = state.route;
  if (r?.page !== 'runs') return false;
  if (state.runs.has(run.id)) return true;
  return r.offset === 0 && (!r.backfill || r.backfill === run.backfill) && (!r.state || r.state === run.state);
}

function handleEvent(block) {
  let event = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (!data) return;
  const payload = JSON.parse(data);
  const runs = event === 'runs' ? payload.runs : event === 'run' ? [payload] : [];
  if (state.route?.page === 'runs') {
    // The snapshot updates the rows shown; single changes may add a new run.
    for (const run of runs) if (state.runs.has(run.id) || (event === 'run' && listed(run))) state.runs.set(run.id, run);
    renderRunRows();
  }
  if (state.route?.page === 'run' && runs.some((run) => run.id === state.route.id)) scheduleDetailRefresh();
}

// ---- runs list -------------------------------------------------------------------------------

function progressBar(run) {
  const pct = run.progress === null ? null : Math.round(run.progress * 1000) / 10;
  return [
    el('progress', { max: 100, value: pct ?? undefined, 'aria-label': `progress of ${run.id}`, 'data-run': run.id }),
    el('span', { class: 'pct', text: pct === null ? '—' : `${pct}%` }),
  ];
}

/** The row's cells that change while a run goes, rebuilt; its link cell is kept (see renderRunRows). */
function runCells(run) {
  return [
    el('td', { text: run.backfill }),
    el('td', {}, el('span', { class: `state ${run.state}`, text: run.state })),
    el('td', { class: 'num' }, progressBar(run)),
    el('td', { class: 'num opt', text: run.rate === null ? '—' : `${perSecond(run.rate)} avg` }),
    el('td', { class: 'num opt', text: duration(run.etaSeconds) }),
    el('td', { class: 'opt', text: run.owner }),
    el('td', { class: 'opt' }, whenCell(run.createdAt)),
  ];
}

/**
 * Updates the runs table in place: a run's row and its link stay the same elements from one event
 * to the next, so that a click or the keyboard focus on a run is never lost to a redraw (events
 * arrive several times a second while runs go). Rows move only when the order changes.
 */
function renderRunRows() {
  const body = document.getElementById('runs-body');
  if (!body) return;
  const runs = [...state.runs.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  const existing = new Map([...body.children].map((tr) => [tr.dataset.run, tr]));
  const rows = runs.map((run) => {
    let tr = existing.get(run.id);
    if (!tr) tr = el('tr', { 'data-run': run.id }, el('td', {}, el('a', { href: `#/runs/${encodeURIComponent(run.id)}`, text: run.id })));
    const cells = runCells(run);
    // Only what changed is replaced: an unchanged cell keeps its element.
    cells.forEach((cell, i) => {
      const current = tr.children[i + 1];
      if (!current) tr.append(cell);
      else if (!current.isEqualNode(cell)) current.replaceWith(cell);
    });
    return tr;
  });
  const current = [...body.children];
  if (current.length !== rows.length || rows.some((tr, i) => current[i] !== tr)) body.replaceChildren(...rows);
  document.getElementById('runs-empty').hidden = runs.length > 0;
}

function runsHash(filter) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v) q.set(k, String(v));
  const text = q.toString();
  return `#/${text ? `?${text}` : ''}`;
}

async function showRuns() {
  const route = state.route;
  state.runs = new Map();
  const view = document.getElementById('view');
  state.backfills = (await api('/backfills').catch(() => ({ backfills: [] }))).backfills;
  const names = state.backfills.map((b) => b.name);
  const filters = el(
    'form',
    {
      class: 'controls',
      'aria-label': 'filter runs',
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        location.hash = runsHash({ backfill: data.get('backfill'), state: data.get('state') });
      },
    },
    el(
      'label',
      {},
      'Backfill',
      el(
        'select',
        { name: 'backfill' },
        el('option', { value: '', text: 'all' }),
        names.map((n) => el('option', { value: n, text: n, selected: n === route.backfill })),
      ),
    ),
    el(
      'label',
      {},
      'State',
      el(
        'select',
        { name: 'state' },
        el('option', { value: '', text: 'all' }),
        ['pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled'].map((s) =>
          el('option', { value: s, text: s, selected: s === route.state }),
        ),
      ),
    ),
    el('button', { type: 'submit', text: 'Filter' }),
  );
  view.replaceChildren(
    el('h1', { text: 'Runs' }),
    startSection(names),
    el('p', { id: 'flash', role: 'status', 'aria-live': 'polite' }),
    el('h2', { text: 'Recent' }),
    filters,
    el(
      'div',
      tableWrap('runs'),
      el(
        'table',
        { 'aria-label': 'runs' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ['Run', 'Backfill', 'State', 'Progress', 'Rate', 'ETA', 'Owner', 'Created'].map((h, i) =>
              el('th', { scope: 'col', class: i >= 4 ? 'opt' : undefined, text: h }),
            ),
          ),
        ),
        el('tbody', { id: 'runs-body' }),
      ),
    ),
    el('p', { id: 'runs-empty', class: 'hint', text: 'No runs match.' }),
    el('div', { class: 'pager', id: 'runs-pager' }),
  );
  const q = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(route.offset) });
  if (route.backfill) q.set('backfill', route.backfill);
  if (route.state) q.set('state', route.state);
  const { runs, nextOffset } = await api(`/runs?${q}`);
  for (const run of runs) state.runs.set(run.id, run);
  renderRunRows();
  const base = { backfill: route.backfill, state: route.state };
  document
    .getElementById('runs-pager')
    .replaceChildren(
      ...[
        route.offset > 0 ? el('a', { href: runsHash({ ...base, offset: Math.max(0, route.offset - PAGE_SIZE) }), text: '← Newer' }) : null,
        el('span', { class: 'hint', text: runs.length ? `Runs ${route.offset + 1}–${route.offset + runs.length}` : '' }),
        nextOffset ? el('a', { href: runsHash({ ...base, offset: nextOffset }), text: 'Older →' }) : null,
      ].filter(Boolean),
    );
}

/** Starting a run: options and a reason, then a preview of what it will cover, then the start. */
function startSection(names) {
  if (!canWrite()) return el('p', { class: 'hint', text: 'Signed in read-only: starting and steering runs needs a write token.' });
  const form = el(
    'form',
    { class: 'controls', id: 'start-form', 'aria-label': 'start a run', onsubmit: previewRun },
    el(
      'label',
      {},
      'Backfill',
      el(
        'select',
        { name: 'backfill', required: true },
        names.map((n) => el('option', { value: n, text: n })),
      ),
    ),
    el('label', {}, 'Since (7d, 12h or an instant)', el('input', { name: 'since', placeholder: 'all items' })),
    el('label', {}, 'Batch size', el('input', { name: 'batchSize', type: 'number', min: 1, max: 100000, placeholder: 'default' })),
    el('label', {}, 'Concurrency', el('input', { name: 'concurrency', type: 'number', min: 1, max: 256, placeholder: 'default' })),
    el('label', {}, 'Owner', el('input', { name: 'owner', placeholder: 'you' })),
    el('label', {}, 'Parameters (key=value, …)', el('input', { name: 'params', class: 'wide', placeholder: keysHint() })),
    el(
      'label',
      { class: 'check' },
      el('input', { name: 'new', type: 'checkbox' }),
      'New run, even beside an open run or one that succeeded with these parameters',
    ),
    el(
      'label',
      {},
      'Reason (required)',
      el('input', { name: 'reason', class: 'wide', required: true, maxlength: 500, placeholder: 'why this run' }),
    ),
    writeButton({ type: 'submit', text: 'Preview run…' }),
  );
  return el('details', { class: 'card', id: 'start' }, el('summary', { text: 'Start a run' }), form, el('div', { id: 'start-preview' }));
}

/** The concurrency keys the defined backfills need as parameters, as a placeholder. */
function keysHint() {
  const keys = [...new Set(state.backfills.flatMap((b) => Object.keys(b.concurrencyKeys ?? {})))];
  return keys.length ? keys.map((k) => `${k}=…`).join(', ') : 'none';
}

/** `tenant=acme, region=eu` as the run's params; a piece without "=" is refused by name. */
function parseParams(text) {
  const params = {};
  for (const piece of String(text ?? '')
    .split(/[,\n]/)
    .map((p) => p.trim())
    .filter(Boolean)) {
    const at = piece.indexOf('=');
    if (at <= 0) throw new Error(`Parameters: "${piece}" is not key=value`);
    params[piece.slice(0, at).trim()] = piece.slice(at + 1).trim();
  }
  return params;
}

function startBody(form) {
  const data = new FormData(form);
  const body = { backfill: data.get('backfill') };
  const params = parseParams(data.get('params'));
  if (Object.keys(params).length) body.params = params;
  for (const key of ['batchSize', 'concurrency']) if (data.get(key)) body[key] = Number(data.get(key));
  for (const key of ['since', 'owner', 'reason']) if (String(data.get(key) ?? '').trim()) body[key] = String(data.get(key)).trim();
  if (data.get('new')) body.new = true;
  return body;
}

async function previewRun(event) {
  event.preventDefault();
  const box = document.getElementById('start-preview');
  box.replaceChildren();
  announce('');
  try {
    const body = startBody(event.target);
    const plan = await api('/plan', {
      method: 'POST',
      body: JSON.stringify({
        backfill: body.backfill,
        since: body.since,
        batchSize: body.batchSize,
        concurrency: body.concurrency,
        params: body.params,
      }),
    });
    const keys = Object.entries(plan.keys)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    box.replaceChildren(
      el(
        'section',
        { class: 'preview', id: 'plan', 'aria-label': 'preview of the run' },
        el('h2', { text: `Preview: ${plan.backfill}` }),
        el(
          'dl',
          { class: 'kv' },
          el('dt', { text: 'Planned items' }),
          el('dd', {
            id: 'plan-items',
            class: 'num',
            text: plan.plannedItems === null ? 'unknown (the source cannot count)' : count(plan.plannedItems),
          }),
          el('dt', { text: 'Partitions' }),
          el('dd', { text: String(plan.partitions.length) }),
          el('dt', { text: 'Batch size' }),
          el('dd', { text: String(plan.options.batchSize ?? '—') }),
          el('dt', { text: 'Concurrency' }),
          el('dd', { text: String(plan.options.concurrency ?? '—') }),
          el('dt', { text: 'Since' }),
          el('dd', { text: body.since || 'all items' }),
          el('dt', { text: 'Parameters' }),
          el('dd', {
            text:
              Object.entries(body.params ?? {})
                .map(([k, v]) => `${k}=${v}`)
                .join(', ') || 'none',
          }),
          el('dt', { text: 'Concurrency keys' }),
          el('dd', { text: keys || 'none' }),
          el('dt', { text: 'New run' }),
          el('dd', {
            id: 'plan-new',
            text: body.new ? 'yes, beside any open or succeeded run with these parameters' : 'no: an open run with them is shown instead',
          }),
          el('dt', { text: 'Reason' }),
          el('dd', { text: body.reason }),
        ),
        el('p', {
          class: 'hint',
          text: 'Nothing is recorded yet. A dry run processes up to 5 batches with ctx.dryRun and writes nothing.',
        }),
        el(
          'div',
          { class: 'controls' },
          writeButton({ class: 'primary', id: 'start-confirm', text: 'Start this run', onclick: () => createRun(body) }),
          writeButton({ text: 'Dry run (5 batches)', onclick: () => dryRun(body) }),
          el('button', { type: 'button', text: 'Discard preview', onclick: () => box.replaceChildren() }),
        ),
        el('p', { id: 'dry-run-result', role: 'status' }),
      ),
    );
  } catch (error) {
    announce(error.message, 'error');
  }
}

async function dryRun(body) {
  const out = document.getElementById('dry-run-result');
  out.textContent = 'Dry run under way…';
  try {
    const r = await api('/runs', { method: 'POST', body: JSON.stringify({ ...body, dryRun: true, maxBatches: 5 }) });
    out.textContent = visible(
      `Dry run ${r.state}: ${r.batches} batches, received ${count(r.counts.received)}, processed ${count(r.counts.processed)}, skipped ${count(r.counts.skipped)}, quarantined ${count(r.counts.quarantined)} in ${duration(r.durationMs / 1000)}.`,
    );
    out.className = r.counts.quarantined > 0 || r.state === 'failed' ? 'error' : 'ok';
  } catch (error) {
    out.textContent = visible(error.message);
    out.className = 'error';
  }
}

async function createRun(body) {
  try {
    const { run, outcome } = await api('/runs', { method: 'POST', body: JSON.stringify(body) });
    document.getElementById('start-preview').replaceChildren();
    state.runs.set(run.id, run);
    renderRunRows();
    announce(outcome === 'created' ? `Run ${run.id} created.` : `An open run with these parameters exists already: ${run.id}.`, 'ok');
  } catch (error) {
    // The API's hint names its body field; here the field is the form's box.
    if (error.code === 'run_already_succeeded')
      announce(
        `${error.apiMessage} — tick "New run" and preview again to start another run (items already delivered are skipped)`,
        'error',
      );
    else announce(error.message, 'error');
  }
}

// ---- confirmations ---------------------------------------------------------------------------

/** A modal that says what the action will do; `action(reason)` runs on "yes" only. */
function confirmThen({ title, text, yes, no = 'Back', danger = false, reason = true }, action) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = visible(title);
  document.getElementById('confirm-text').replaceChildren(...(Array.isArray(text) ? text : [el('p', { text })]));
  const yesButton = document.getElementById('confirm-yes');
  yesButton.textContent = yes;
  yesButton.className = danger ? 'danger' : 'primary';
  document.getElementById('confirm-no').textContent = no;
  const input = document.getElementById('confirm-reason');
  input.value = '';
  input.hidden = !reason;
  document.getElementById('confirm-reason-label').hidden = !reason;
  dialog.returnValue = '';
  dialog.addEventListener(
    'close',
    () => {
      if (dialog.returnValue === 'ok') action(input.value.trim() || undefined);
    },
    { once: true },
  );
  dialog.showModal();
  document.getElementById('confirm-no').focus();
}

// ---- one run ---------------------------------------------------------------------------------

function scheduleDetailRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    refreshDetail().catch((error) => announce(error.message, 'error'));
  }, 300);
}

async function control(verb, body = {}, done = `${verb} requested.`) {
  const id = state.route.id;
  try {
    const answer = await api(`/runs/${encodeURIComponent(id)}/${verb}`, { method: 'POST', body: JSON.stringify(body) });
    announce(typeof done === 'function' ? done(answer) : done, 'ok');
    await refreshDetail();
  } catch (error) {
    announce(error.message, 'error');
  }
}

/** A box a wide table scrolls in, reachable by keyboard (arrow keys scroll it) for those without a pointer. */
const tableWrap = (label) => ({ class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': `${label} (scrolls sideways)` });

function table(label, header, rows, optional = []) {
  if (rows.length === 0) return el('p', { class: 'hint', text: 'None.' });
  const cls = (i) => (optional.includes(i) ? 'opt' : undefined);
  return el(
    'div',
    tableWrap(label),
    el(
      'table',
      { 'aria-label': label },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          header.map((h, i) => el('th', { scope: 'col', class: cls(i), text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        rows.map((r) =>
          el(
            'tr',
            {},
            r.map((c, i) => (c instanceof Node ? el('td', { class: cls(i) }, c) : el('td', { class: cls(i), text: c }))),
          ),
        ),
      ),
    ),
  );
}

function destroyCharts() {
  state.charts.forEach((c) => c.destroy());
  state.charts = [];
}

async function showRun(id) {
  state.batches = [];
  state.run = null;
  destroyCharts();
  const enc = encodeURIComponent(id);
  const view = document.getElementById('view');
  view.replaceChildren(
    el('p', {}, el('a', { href: '#/', text: '← Runs' })),
    el('h1', { id: 'run-title', text: `Run ${id}` }),
    el(
      'div',
      { class: 'links' },
      el('a', { href: `#/runs/${enc}/quarantine`, text: 'Quarantine' }),
      el('button', {
        type: 'button',
        class: 'link',
        text: 'Report (JSON)',
        onclick: () => download(`/runs/${enc}/report`, `sluice-report-${id}.json`),
      }),
    ),
    el(
      'div',
      { class: 'controls', role: 'group', 'aria-label': 'run controls' },
      writeButton(
        { id: 'btn-pause', text: 'Pause', onclick: () => control('pause', {}, 'Pause requested: workers stop after their current batch.') },
        false,
      ),
      writeButton({ id: 'btn-resume', text: 'Resume', onclick: () => control('resume', {}, 'Resume requested.') }, false),
      writeButton({ id: 'btn-retry', text: 'Retry failed…', onclick: confirmRetry }, false),
      writeButton({ id: 'btn-cancel', class: 'danger', text: 'Cancel…', onclick: confirmCancel }, false),
    ),
    el('p', { id: 'flash', role: 'status', 'aria-live': 'polite' }),
    el('div', { id: 'detail' }),
    el(
      'section',
      { class: 'card', id: 'retune-card', 'aria-labelledby': 'retune-title' },
      el('h2', { id: 'retune-title', text: 'Retune' }),
      el('p', { id: 'retune-current', class: 'hint' }),
      el(
        'form',
        { class: 'controls', id: 'retune-form', 'aria-label': 'retune', oninput: showRetuneChanges, onsubmit: confirmRetune },
        el(
          'label',
          {},
          'Profile',
          el(
            'select',
            { name: 'profile' },
            el('option', { value: '', text: 'keep' }),
            Object.keys(PROFILES).map((p) => el('option', { value: p, text: p })),
          ),
        ),
        el('label', {}, 'Batch size', el('input', { name: 'batchSize', type: 'number', min: 1, max: 100000 })),
        el('label', {}, 'Concurrency', el('input', { name: 'concurrency', type: 'number', min: 1, max: 256 })),
        el('label', {}, 'Delay between batches (ms)', el('input', { name: 'batchDelayMs', type: 'number', min: 0, max: 3600000 })),
        writeButton({ type: 'submit', id: 'btn-retune', text: 'Retune…' }, false),
      ),
      el('div', { id: 'retune-changes', 'aria-live': 'polite' }),
    ),
    el(
      'div',
      { class: 'grid' },
      el(
        'section',
        { class: 'card' },
        el('h2', { text: 'Throughput (items/s per batch)' }),
        el('p', { class: 'hint', text: 'processed (left axis); skipped, already delivered (right axis)' }),
        el('div', { id: 'chart-rate', class: 'chart' }),
      ),
      el('section', { class: 'card' }, el('h2', { text: 'Batch duration (ms)' }), el('div', { id: 'chart-duration', class: 'chart' })),
    ),
    el('div', { id: 'detail-more' }),
  );
  await refreshDetail();
}

function confirmRetry() {
  const run = state.run;
  confirmThen(
    {
      title: `Retry run ${run.id}?`,
      yes: 'Retry the run',
      text: `The failed run goes back to pending and a worker starts it again where it stopped (${count(run.counts.received)} items received so far). Items already delivered are skipped; items in quarantine stay there (replay them from the quarantine).`,
    },
    (reason) => control('retry', reason ? { reason } : {}, 'Retry requested.'),
  );
}

function confirmCancel() {
  const run = state.run;
  confirmThen(
    {
      title: `Cancel run ${run.id}?`,
      yes: 'Cancel the run',
      no: 'Keep it running',
      danger: true,
      text: `A cancelled run cannot be resumed. Workers stop after their current batch; ${count(run.counts.received)} items were received, ${run.plannedItems ? `${count(Math.max(0, run.plannedItems - run.counts.received))} planned items will not be processed` : 'the rest will not be processed'}.`,
    },
    (reason) => control('cancel', reason ? { reason } : {}, 'Cancel requested.'),
  );
}

/** The run's effective knobs now (options as retuned; the profile's delay when none was set). */
function currentKnobs(run) {
  const o = run.options;
  return { profile: o.profile ?? '', batchSize: o.batchSize, concurrency: o.concurrency, batchDelayMs: o.batchDelayMs ?? 0 };
}

/** What the form asks for: a profile fills every knob first, explicit fields override it (as the core applies a retune). */
function retuneRequest(form) {
  const data = new FormData(form);
  const body = {};
  if (data.get('profile')) body.profile = String(data.get('profile'));
  for (const key of ['batchSize', 'concurrency', 'batchDelayMs']) if (String(data.get(key) ?? '') !== '') body[key] = Number(data.get(key));
  const before = currentKnobs(state.run);
  const after = { ...before, ...(body.profile ? { profile: body.profile, ...PROFILES[body.profile] } : {}) };
  for (const key of ['batchSize', 'concurrency', 'batchDelayMs']) if (key in body) after[key] = body[key];
  const changes = Object.keys(KNOB_LABELS)
    .filter((k) => String(before[k]) !== String(after[k]))
    .map((k) => ({ knob: k, before: before[k] === '' ? 'none' : before[k], after: after[k] }));
  return { body, changes };
}

function changeList(changes) {
  return el(
    'ul',
    { class: 'changes', 'aria-label': 'changes' },
    changes.map((c) => el('li', { text: `${KNOB_LABELS[c.knob]}: ${c.before} → ${c.after}` })),
  );
}

function showRetuneChanges() {
  if (!state.run) return;
  const { changes } = retuneRequest(document.getElementById('retune-form'));
  document
    .getElementById('retune-changes')
    .replaceChildren(
      changes.length
        ? el('div', {}, el('p', { class: 'hint', text: 'This retune will change:' }), changeList(changes))
        : el('p', { class: 'hint', text: 'No change yet: pick a profile or set a knob.' }),
    );
}

function confirmRetune(event) {
  event.preventDefault();
  const { body, changes } = retuneRequest(event.target);
  if (changes.length === 0)
    return announce(
      'Nothing to change: pick a profile or set a batch size, a concurrency or a delay different from the current values.',
      'error',
    );
  confirmThen(
    {
      title: `Retune run ${state.run.id}?`,
      yes: 'Apply',
      text: [el('p', { text: 'Every worker applies it within one batch:' }), changeList(changes)],
    },
    (reason) => {
      event.target.reset();
      document.getElementById('retune-changes').replaceChildren();
      control(
        'retune',
        { ...body, ...(reason ? { reason } : {}) },
        `Retuned: ${changes.map((c) => `${KNOB_LABELS[c.knob]} ${c.before} → ${c.after}`).join(', ')}.`,
      );
    },
  );
}

/** Processed items per second over the batches of the last `windowS` seconds (all lanes), or null. */
function currentRate(windowS = 30) {
  const last = state.batches.at(-1);
  if (!last) return null;
  const end = Date.parse(last.finishedAt);
  const recent = state.batches.filter((b) => Date.parse(b.finishedAt) > end - windowS * 1000);
  const first = Math.min(...recent.map((b) => Date.parse(b.finishedAt) - b.durationMs));
  const span = (end - first) / 1000;
  return span > 0 ? recent.reduce((n, b) => n + b.counts.processed, 0) / span : null;
}

async function refreshDetail() {
  if (state.route?.page !== 'run') return;
  const id = state.route.id;
  const status = await api(`/runs/${encodeURIComponent(id)}`);
  const after = state.batches.length ? state.batches[state.batches.length - 1].id : 0;
  const { batches } = await api(`/runs/${encodeURIComponent(id)}/batches?afterId=${after}`);
  if (state.route?.page !== 'run' || state.route.id !== id) return;
  state.batches.push(...batches);
  const { run, summary } = status;
  state.run = run;
  document.getElementById('run-title').textContent = visible(`${run.backfill} · run ${run.id}`);
  setWritable(document.getElementById('btn-pause'), ['running', 'pending'].includes(run.state));
  setWritable(document.getElementById('btn-resume'), run.state === 'paused');
  setWritable(document.getElementById('btn-retry'), run.state === 'failed');
  setWritable(document.getElementById('btn-cancel'), ['running', 'pending', 'paused'].includes(run.state));
  setWritable(document.getElementById('btn-retune'), ['running', 'pending', 'paused'].includes(run.state));
  const knobs = currentKnobs(run);
  document.getElementById('retune-current').textContent =
    `Now: profile ${knobs.profile || 'none'}, batch size ${knobs.batchSize}, concurrency ${knobs.concurrency}, delay between batches ${knobs.batchDelayMs} ms.`;
  const form = document.getElementById('retune-form');
  for (const key of ['batchSize', 'concurrency', 'batchDelayMs']) form.elements[key].placeholder = String(knobs[key]);
  // The throttle acts on a running run only: for another state its last word would mislead.
  const throttle =
    run.state !== 'running'
      ? `not in effect (the run is ${run.state})`
      : status.throttle.state === 'running'
        ? 'not holding back'
        : `${status.throttle.state}: ${status.throttle.reason}`;
  const elapsed = run.startedAt
    ? ((run.finishedAt ? Date.parse(run.finishedAt) : Date.parse(status.at)) - Date.parse(run.startedAt)) / 1000
    : 0;
  const average = elapsed > 0 ? run.counts.processed / elapsed : null;
  const now = run.state === 'running' ? currentRate() : null;
  document.getElementById('detail').replaceChildren(
    el(
      'dl',
      { class: 'kv' },
      el('dt', { text: 'State' }),
      el('dd', {}, el('span', { id: 'run-state', class: `state ${run.state}`, text: run.state })),
      run.reason ? el('dt', { text: 'Why' }) : null,
      run.reason ? el('dd', { id: 'run-reason', text: run.reason }) : null,
      el('dt', { text: 'Progress' }),
      el('dd', { class: 'num' }, progressBar(summary)),
      el('dt', { text: 'Counts' }),
      el('dd', {
        class: 'num',
        text: `received ${count(run.counts.received)} · processed ${count(run.counts.processed)} · skipped ${count(run.counts.skipped)} · quarantined ${count(run.counts.quarantined)}${run.plannedItems ? ` of ${count(run.plannedItems)} planned` : ''}`,
      }),
      el('dt', { text: 'Processed' }),
      el('dd', { id: 'rates', class: 'num', text: `${perSecond(now)} now (last 30 s) · ${perSecond(average)} average since start` }),
      el('dt', { text: 'ETA' }),
      el('dd', { class: 'num', text: duration(summary.etaSeconds) }),
      el('dt', { text: 'Owner' }),
      el('dd', {}, `${summary.owner} (created by ${run.createdBy} at `, whenCell(run.createdAt), ')'),
      el('dt', { text: 'Throttle' }),
      el('dd', { id: 'throttle', text: throttle }),
      run.control ? el('dt', { text: 'Requested' }) : null,
      run.control ? el('dd', {}, `${run.control.kind} by ${run.control.actor} at `, whenCell(run.control.requestedAt)) : null,
    ),
  );
  drawCharts();
  document.getElementById('detail-more').replaceChildren(
    el('h2', { text: 'Errors by class' }),
    table(
      'errors by class',
      ['Class', 'Items', ''],
      status.quarantine.map((q) => [
        q.errorClass,
        count(q.count),
        el(
          'span',
          {},
          el('a', {
            href: `#/runs/${encodeURIComponent(id)}/quarantine?errorClass=${encodeURIComponent(q.errorClass)}`,
            text: 'Show items',
          }),
          ' ',
          writeButton({
            text: `Replay ${q.errorClass}…`,
            onclick: () => confirmReplay({ errorClass: q.errorClass }, `all ${count(q.count)} open items of class ${q.errorClass}`),
          }),
        ),
      ]),
    ),
    el('h2', { text: 'SLO alerts' }),
    table(
      'SLO alerts',
      ['Alert', 'State', 'Severity', 'Since', 'Summary'],
      status.alerts.map((a) => [
        `${a.slo}/${a.tier}`,
        el('span', { class: a.state === 'firing' ? 'alert-firing' : '', text: a.state }),
        a.severity,
        whenCell(a.since),
        a.summary,
      ]),
    ),
    el('h2', { text: 'Partitions' }),
    table(
      'partitions',
      ['#', 'State', 'Range', 'Received', 'Processed', 'Quarantined', 'Worker'],
      status.partitions.map((p) => [
        p.index,
        p.state,
        p.label || '',
        count(p.counts.received),
        count(p.counts.processed),
        count(p.counts.quarantined),
        p.leaseOwner || '',
      ]),
      [2, 6],
    ),
    el('h2', { text: 'Throttle decisions' }),
    table(
      'throttle decisions',
      ['At', 'Decision', 'Reason', 'Worker'],
      status.decisions.map((d) => [whenCell(d.at), d.kind, d.reason, d.worker]),
      [3],
    ),
    el('h2', { text: 'Transitions' }),
    table(
      'transitions',
      ['At', 'From', 'To', 'Actor', 'Reason'],
      status.transitions.map((t) => [whenCell(t.at), t.from || '∅', t.to, t.actor, t.reason]),
    ),
  );
}

/** Replays quarantined items after saying what will happen; a replay that leaves items failing is an error. */
function confirmReplay(selector, what) {
  const runId = state.route.id;
  confirmThen(
    {
      title: 'Replay quarantined items?',
      yes: 'Replay now',
      text: `This server processes ${what} again now, while you wait. Items that succeed leave the quarantine and count as processed; items that fail again stay quarantined with the new error.`,
    },
    async (reason) => {
      try {
        const r = await api(`/runs/${encodeURIComponent(runId)}/quarantine/replay`, {
          method: 'POST',
          body: JSON.stringify({ ...selector, ...(reason ? { reason } : {}) }),
        });
        announce(
          `Replayed ${r.replayed} of ${r.attempted}${r.stillFailing > 0 ? `; ${r.stillFailing} still failing (still quarantined).` : '.'}`,
          r.stillFailing > 0 || r.attempted === 0 ? 'error' : 'ok',
        );
        if (state.route?.page === 'run') await refreshDetail();
        else if (state.route?.page === 'quarantine') await loadQuarantine();
      } catch (error) {
        announce(error.message, 'error');
      }
    },
  );
}

function chartWidth(target) {
  return Math.max(200, (target.clientWidth || 400) - 4);
}

function drawCharts() {
  if (typeof uPlot === 'undefined') return;
  const xs = state.batches.map((b) => Date.parse(b.finishedAt) / 1000);
  const per = (n, b) => (b.durationMs > 0 ? n / (b.durationMs / 1000) : null);
  // Skipped (already delivered) items go by thousands a second; on their own scale they do not flatten the processed line.
  const processed = state.batches.map((b) => per(b.counts.processed, b));
  const skipped = state.batches.map((b) => per(b.counts.skipped, b));
  const ms = state.batches.map((b) => b.durationMs);
  if (state.charts.length === 0) {
    const rateTarget = document.getElementById('chart-rate');
    const durationTarget = document.getElementById('chart-duration');
    state.charts.push(
      new uPlot(
        {
          width: chartWidth(rateTarget),
          height: 200,
          series: [
            {},
            { label: 'processed/s', stroke: '#0969da', width: 1.5, scale: 'processed' },
            { label: 'skipped/s', stroke: '#9a6700', width: 1, dash: [4, 4], scale: 'skipped' },
          ],
          axes: [{}, { scale: 'processed', size: 55 }, { scale: 'skipped', side: 1, size: 55, grid: { show: false } }],
        },
        [xs, processed, skipped],
        rateTarget,
      ),
    );
    state.charts.push(
      new uPlot(
        {
          width: chartWidth(durationTarget),
          height: 200,
          series: [{}, { label: 'ms', stroke: '#0969da', width: 1.5 }],
          axes: [{}, { size: 55 }],
        },
        [xs, ms],
        durationTarget,
      ),
    );
  } else {
    state.charts[0].setData([xs, processed, skipped]);
    state.charts[1].setData([xs, ms]);
  }
}

window.addEventListener('resize', () => {
  const ids = ['chart-rate', 'chart-duration'];
  state.charts.forEach((chart, i) => {
    const target = document.getElementById(ids[i]);
    if (target) chart.setSize({ width: chartWidth(target), height: 200 });
  });
});

// ---- quarantine ------------------------------------------------------------------------------

async function showQuarantine(id) {
  destroyCharts();
  const route = state.route;
  const enc = encodeURIComponent(id);
  const status = await api(`/runs/${enc}`);
  state.run = status.run;
  const classes = status.quarantine.map((q) => q.errorClass);
  const filters = el(
    'form',
    {
      class: 'controls',
      'aria-label': 'filter quarantine',
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const q = new URLSearchParams();
        if (data.get('errorClass')) q.set('errorClass', String(data.get('errorClass')));
        if (data.get('status') !== 'open') q.set('status', String(data.get('status')));
        location.hash = `#/runs/${enc}/quarantine${q.toString() ? `?${q}` : ''}`;
      },
    },
    el(
      'label',
      {},
      'Error class',
      el(
        'select',
        { name: 'errorClass' },
        el('option', { value: '', text: 'all' }),
        [...new Set([...classes, ...(route.errorClass ? [route.errorClass] : [])])].map((c) =>
          el('option', { value: c, text: c, selected: c === route.errorClass }),
        ),
      ),
    ),
    el(
      'label',
      {},
      'Status',
      el(
        'select',
        { name: 'status' },
        ['open', 'replayed'].map((s) => el('option', { value: s, text: s, selected: s === route.status })),
      ),
    ),
    el('button', { type: 'submit', text: 'Filter' }),
  );
  document.getElementById('view').replaceChildren(
    el('p', {}, el('a', { href: `#/runs/${enc}`, text: `← Run ${id}` })),
    el('h1', { text: `Quarantine of ${status.run.backfill} · run ${id}` }),
    el('p', {
      class: 'hint',
      text: `${count(status.run.counts.quarantined)} items quarantined in this run; open items by class: ${status.quarantine.map((q) => `${q.errorClass} ${count(q.count)}`).join(', ') || 'none'}.`,
    }),
    filters,
    el('p', { id: 'flash', role: 'status', 'aria-live': 'polite' }),
    el('div', { id: 'quarantine-list' }),
    el('div', { class: 'pager', id: 'quarantine-pager' }),
  );
  await loadQuarantine();
}

async function loadQuarantine() {
  const route = state.route;
  const enc = encodeURIComponent(route.id);
  const q = new URLSearchParams({ limit: String(QUARANTINE_PAGE + 1), status: route.status });
  if (route.errorClass) q.set('errorClass', route.errorClass);
  if (route.afterId) q.set('afterId', String(route.afterId));
  const { entries } = await api(`/runs/${enc}/quarantine?${q}`);
  const page = entries.slice(0, QUARANTINE_PAGE);
  const open = route.status === 'open';
  document.getElementById('quarantine-list').replaceChildren(
    table(
      'quarantine',
      ['Id', 'Item', 'Class', 'Attempts', 'Quarantined at', 'Error and payload', ''],
      page.map((entry) => [
        String(entry.id),
        typeof entry.itemKey === 'string' ? entry.itemKey : JSON.stringify(entry.itemKey),
        entry.errorClass,
        String(entry.attempts),
        whenCell(entry.createdAt),
        el(
          'div',
          {},
          el('div', { text: entry.message }),
          entry.payload === null
            ? el('span', { class: 'hint', text: 'no payload kept' })
            : el('details', {}, el('summary', { text: 'payload' }), el('pre', { class: 'payload', text: prettyPayload(entry.payload) })),
        ),
        open
          ? writeButton({
              text: 'Replay…',
              'aria-label': `Replay item ${entry.id}`,
              onclick: () => confirmReplay({ ids: [entry.id] }, `quarantined item ${entry.id} (key ${JSON.stringify(entry.itemKey)})`),
            })
          : '',
      ]),
      [3],
    ),
  );
  const base = new URLSearchParams();
  if (route.errorClass) base.set('errorClass', route.errorClass);
  if (route.status !== 'open') base.set('status', route.status);
  const link = (params) => `#/runs/${enc}/quarantine${params.toString() ? `?${params}` : ''}`;
  const next = new URLSearchParams(base);
  if (page.length) next.set('afterId', String(page.at(-1).id));
  document
    .getElementById('quarantine-pager')
    .replaceChildren(
      ...[
        route.afterId ? el('a', { href: link(base), text: '← First page' }) : null,
        el('span', { class: 'hint', text: page.length ? `Entries ${page[0].id}–${page.at(-1).id}` : 'No entries.' }),
        entries.length > QUARANTINE_PAGE ? el('a', { href: link(next), text: 'Next page →' }) : null,
      ].filter(Boolean),
    );
}

function prettyPayload(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// ---- routing ---------------------------------------------------------------------------------

function parseRoute() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?', 2);
  const q = new URLSearchParams(query);
  const quarantine = /^\/runs\/([^/]+)\/quarantine$/.exec(path);
  if (quarantine)
    return {
      page: 'quarantine',
      id: decodeURIComponent(quarantine[1]),
      errorClass: q.get('errorClass') || '',
      status: q.get('status') === 'replayed' ? 'replayed' : 'open',
      afterId: Number(q.get('afterId')) || 0,
    };
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run) return { page: 'run', id: decodeURIComponent(run[1]) };
  return { page: 'runs', backfill: q.get('backfill') || '', state: q.get('state') || '', offset: Number(q.get('offset')) || 0 };
}

async function render() {
  state.route = parseRoute();
  try {
    if (state.route.page === 'run') await showRun(state.route.id);
    else if (state.route.page === 'quarantine') await showQuarantine(state.route.id);
    else await showRuns();
  } catch (error) {
    document.getElementById('view').replaceChildren(el('p', { class: 'error', role: 'alert', text: error.message }));
  }
  document.getElementById('main').focus({ preventScroll: true });
}

async function start() {
  try {
    state.me = await api('/whoami');
  } catch {
    return;
  }
  const who = document.getElementById('whoami');
  who.replaceChildren(
    'Signed in as ',
    el('strong', { id: 'whoami-name', text: state.me.name }),
    ' ',
    el('span', { id: 'whoami-scope', class: `scope ${state.me.scope}`, text: state.me.scope }),
  );
  who.hidden = false;
  document.getElementById('login').hidden = true;
  document.getElementById('sign-out').hidden = false;
  document.getElementById('grafana').hidden = false;
  render();
  followEvents();
}

window.addEventListener('hashchange', () => {
  if (state.me) render();
});
if (token()) start();
else signOut();
