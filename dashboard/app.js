// Sluice's dashboard: plain browser JavaScript, no build step. It reads and steers runs through
// the same /api/v1 a script would use, with the token the operator pastes (kept in this tab's
// sessionStorage), and follows /api/v1/events for live updates. Everything from the server is
// inserted as text (textContent), never as markup.
'use strict';

const TOKEN_KEY = 'sluice.token';
const state = { runs: new Map(), route: null, runDetail: null, batches: [], charts: [], stream: null, refreshTimer: null };

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
function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

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
  if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
  return body;
}

function announce(text, isError = false) {
  const box = document.getElementById('flash');
  if (!box) return;
  box.textContent = visible(text);
  box.className = isError ? 'error' : 'hint';
}

// ---- sign-in ---------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  stopStream();
  document.getElementById('login').hidden = false;
  document.getElementById('view').replaceChildren();
  document.getElementById('sign-out').hidden = true;
  document.getElementById('login-error').textContent = visible(message || '');
  document.getElementById('token-input').focus();
}

document.getElementById('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = document.getElementById('token-input').value.trim();
  sessionStorage.setItem(TOKEN_KEY, value);
  try {
    await api('/runs?limit=1');
    document.getElementById('token-input').value = '';
    start();
  } catch (error) {
    document.getElementById('login-error').textContent = visible(error.message);
  }
});
document.getElementById('sign-out').addEventListener('click', () => signOut());

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

function handleEvent(block) {
  let event = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (!data) return;
  const payload = JSON.parse(data);
  if (event === 'runs') for (const run of payload.runs) state.runs.set(run.id, run);
  if (event === 'run') state.runs.set(payload.id, payload);
  if (state.route?.page === 'runs') renderRunRows();
  if (state.route?.page === 'run' && (event === 'runs' || payload.id === state.route.id)) scheduleDetailRefresh();
}

// ---- runs list -------------------------------------------------------------------------------

function progressCell(run) {
  const pct = run.progress === null ? null : Math.round(run.progress * 1000) / 10;
  return el('td', {},
    el('progress', { max: 100, value: pct ?? undefined, 'aria-label': `progress of ${run.id}`, 'data-run': run.id }),
    el('span', { class: 'pct', text: pct === null ? '—' : `${pct}%` }));
}

/** The row's cells that change while a run goes, rebuilt; its link cell is kept (see renderRunRows). */
function runCells(run) {
  return [
    el('td', { text: run.backfill }),
    el('td', {}, el('span', { class: `state ${run.state}`, text: run.state })),
    progressCell(run),
    el('td', { class: 'num', text: run.rate === null ? '—' : `${count(run.rate)}/s` }),
    el('td', { class: 'num', text: duration(run.etaSeconds) }),
    el('td', { text: run.owner }),
    el('td', { text: when(run.createdAt) }),
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

async function showRuns() {
  const view = document.getElementById('view');
  const backfills = await api('/backfills').catch(() => ({ backfills: [] }));
  const form = el('form', { class: 'controls', 'aria-label': 'start a run', onsubmit: startRun },
    el('label', {}, 'Backfill', el('select', { name: 'backfill', required: true }, backfills.backfills.map((b) => el('option', { value: b.name, text: b.name })))),
    el('label', {}, 'Batch size', el('input', { name: 'batchSize', type: 'number', min: 1, max: 100000 })),
    el('label', {}, 'Concurrency', el('input', { name: 'concurrency', type: 'number', min: 1, max: 256 })),
    el('label', {}, 'Since', el('input', { name: 'since', placeholder: '7d' })),
    el('label', {}, 'Owner', el('input', { name: 'owner' })),
    el('button', { type: 'submit', text: 'Start run' }));
  view.replaceChildren(
    el('h1', { text: 'Runs' }),
    form,
    el('p', { id: 'flash', role: 'status', 'aria-live': 'polite' }),
    el('table', { 'aria-label': 'runs' },
      el('thead', {}, el('tr', {}, ['Run', 'Backfill', 'State', 'Progress', 'Rate', 'ETA', 'Owner', 'Created'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', { id: 'runs-body' })),
    el('p', { id: 'runs-empty', class: 'hint', text: 'No runs yet.' }),
  );
  const { runs } = await api('/runs?limit=200');
  for (const run of runs) state.runs.set(run.id, run);
  renderRunRows();
}

async function startRun(event) {
  event.preventDefault();
  const data = new FormData(event.target);
  const body = { backfill: data.get('backfill') };
  for (const key of ['batchSize', 'concurrency']) if (data.get(key)) body[key] = Number(data.get(key));
  for (const key of ['since', 'owner']) if (data.get(key)) body[key] = String(data.get(key));
  try {
    const { run } = await api('/runs', { method: 'POST', body: JSON.stringify(body) });
    state.runs.set(run.id, run);
    renderRunRows();
    announce(`Run ${run.id} created.`);
  } catch (error) {
    announce(error.message, true);
  }
}

// ---- one run ---------------------------------------------------------------------------------

function scheduleDetailRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    refreshDetail().catch((error) => announce(error.message, true));
  }, 300);
}

async function control(verb, body = {}) {
  const id = state.route.id;
  try {
    await api(`/runs/${encodeURIComponent(id)}/${verb}`, { method: 'POST', body: JSON.stringify(body) });
    announce(`${verb} requested.`);
    await refreshDetail();
  } catch (error) {
    announce(error.message, true);
  }
}

function confirmThen(text, action) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = visible(text);
  dialog.returnValue = '';
  dialog.addEventListener('close', () => { if (dialog.returnValue === 'ok') action(); }, { once: true });
  dialog.showModal();
  document.getElementById('confirm-no').focus();
}

function table(label, header, rows) {
  if (rows.length === 0) return el('p', { class: 'hint', text: 'None.' });
  return el('table', { 'aria-label': label },
    el('thead', {}, el('tr', {}, header.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => (c instanceof Node ? el('td', {}, c) : el('td', { text: c })))))));
}

async function showRun(id) {
  state.batches = [];
  state.charts.forEach((c) => c.destroy());
  state.charts = [];
  const view = document.getElementById('view');
  view.replaceChildren(
    el('p', {}, el('a', { href: '#/', text: '← Runs' })),
    el('h1', { id: 'run-title', text: `Run ${id}` }),
    el('div', { class: 'controls', role: 'group', 'aria-label': 'run controls' },
      el('button', { id: 'btn-pause', type: 'button', text: 'Pause', onclick: () => control('pause') }),
      el('button', { id: 'btn-resume', type: 'button', text: 'Resume', onclick: () => control('resume') }),
      el('button', { id: 'btn-retry', type: 'button', text: 'Retry failed', onclick: () => control('retry') }),
      el('button', { id: 'btn-cancel', type: 'button', class: 'danger', text: 'Cancel…', onclick: () => confirmThen(`Cancel run ${id}? A cancelled run cannot be resumed.`, () => control('cancel')) })),
    el('form', { class: 'controls', 'aria-label': 'retune', onsubmit: retune },
      el('label', {}, 'Batch size', el('input', { name: 'batchSize', type: 'number', min: 1, max: 100000 })),
      el('label', {}, 'Concurrency', el('input', { name: 'concurrency', type: 'number', min: 1, max: 256 })),
      el('label', {}, 'Profile', el('select', { name: 'profile' }, el('option', { value: '', text: '—' }), ['background', 'moderate', 'fast'].map((p) => el('option', { value: p, text: p })))),
      el('button', { type: 'submit', text: 'Retune' })),
    el('p', { id: 'flash', role: 'status', 'aria-live': 'polite' }),
    el('div', { id: 'detail' }),
    el('div', { class: 'grid' },
      el('section', { class: 'card' }, el('h2', { text: 'Throughput (items/s per batch)' }), el('div', { id: 'chart-rate', class: 'chart' })),
      el('section', { class: 'card' }, el('h2', { text: 'Batch duration (ms)' }), el('div', { id: 'chart-duration', class: 'chart' }))),
    el('div', { id: 'detail-more' }),
  );
  await refreshDetail();
}

async function retune(event) {
  event.preventDefault();
  const data = new FormData(event.target);
  const body = {};
  for (const key of ['batchSize', 'concurrency']) if (data.get(key)) body[key] = Number(data.get(key));
  if (data.get('profile')) body.profile = String(data.get('profile'));
  if (Object.keys(body).length === 0) return announce('Give a batch size, a concurrency or a profile.', true);
  await control('retune', body);
}

async function refreshDetail() {
  if (state.route?.page !== 'run') return;
  const id = state.route.id;
  const status = await api(`/runs/${encodeURIComponent(id)}`);
  const after = state.batches.length ? state.batches[state.batches.length - 1].id : 0;
  const { batches } = await api(`/runs/${encodeURIComponent(id)}/batches?afterId=${after}`);
  state.batches.push(...batches);
  if (state.route?.id !== id) return;
  const { run, summary } = status;
  document.getElementById('run-title').textContent = visible(`${run.backfill} · run ${run.id}`);
  document.getElementById('btn-pause').disabled = !['running', 'pending'].includes(run.state);
  document.getElementById('btn-resume').disabled = run.state !== 'paused';
  document.getElementById('btn-retry').disabled = run.state !== 'failed';
  document.getElementById('btn-cancel').disabled = !['running', 'pending', 'paused'].includes(run.state);
  const throttle = status.throttle.state === 'running' ? 'running' : `${status.throttle.state}: ${status.throttle.reason}`;
  document.getElementById('detail').replaceChildren(
    el('dl', { class: 'kv' },
      el('dt', { text: 'State' }), el('dd', {}, el('span', { id: 'run-state', class: `state ${run.state}`, text: run.state }), run.reason ? ` ${run.reason}` : ''),
      el('dt', { text: 'Progress' }), el('dd', {}, progressCell(summary).childNodes[0], el('span', { class: 'pct', text: summary.progress === null ? '' : `${Math.round(summary.progress * 1000) / 10}%` })),
      el('dt', { text: 'Counts' }), el('dd', { class: 'num', text: `received ${count(run.counts.received)} · processed ${count(run.counts.processed)} · skipped ${count(run.counts.skipped)} · quarantined ${count(run.counts.quarantined)}${run.plannedItems ? ` of ${count(run.plannedItems)} planned` : ''}` }),
      el('dt', { text: 'Rate / ETA' }), el('dd', { class: 'num', text: `${summary.rate === null ? '—' : `${count(summary.rate)}/s`} · ${duration(summary.etaSeconds)}` }),
      el('dt', { text: 'Owner' }), el('dd', { text: `${summary.owner} (created by ${run.createdBy} at ${when(run.createdAt)})` }),
      el('dt', { text: 'Throttle' }), el('dd', { id: 'throttle', text: throttle }),
      el('dt', { text: 'Options' }), el('dd', { text: `batch size ${run.options.batchSize}, concurrency ${run.options.concurrency}${run.options.profile ? `, profile ${run.options.profile}` : ''}` }),
      run.control ? el('dt', { text: 'Requested' }) : null, run.control ? el('dd', { text: `${run.control.kind} by ${run.control.actor}` }) : null,
    ),
  );
  drawCharts();
  const quarantine = status.quarantine.length > 0 ? (await api(`/runs/${encodeURIComponent(id)}/quarantine?limit=50`)).entries : [];
  document.getElementById('detail-more').replaceChildren(
    el('h2', { text: 'SLO alerts' }),
    table('SLO alerts', ['Alert', 'State', 'Severity', 'Since', 'Summary'], status.alerts.map((a) => [`${a.slo}/${a.tier}`, el('span', { class: a.state === 'firing' ? 'alert-firing' : '', text: a.state }), a.severity, when(a.since), a.summary])),
    el('h2', { text: 'Partitions' }),
    table('partitions', ['#', 'State', 'Range', 'Child', 'Received', 'Processed', 'Quarantined', 'Worker'], status.partitions.map((p) => [p.index, p.state, p.label || '', p.child || '', count(p.counts.received), count(p.counts.processed), count(p.counts.quarantined), p.leaseOwner || ''])),
    el('h2', { text: 'Errors by class' }),
    table('errors by class', ['Class', 'Items', ''], status.quarantine.map((q) => [q.errorClass, count(q.count), el('button', { type: 'button', text: `Replay ${q.errorClass}`, onclick: () => replay(q.errorClass) })])),
    el('h2', { text: 'Quarantine' }),
    table('quarantine', ['Id', 'Item', 'Class', 'Attempts', 'Message'], quarantine.map((q) => [q.id, q.itemKey, q.errorClass, q.attempts, q.message])),
    el('h2', { text: 'Throttle decisions' }),
    table('throttle decisions', ['At', 'Decision', 'Reason', 'Worker'], status.decisions.map((d) => [when(d.at), d.kind, d.reason, d.worker])),
    el('h2', { text: 'Transitions' }),
    table('transitions', ['At', 'From', 'To', 'Actor', 'Reason'], status.transitions.map((t) => [when(t.at), t.from || '∅', t.to, t.actor, t.reason])),
  );
}

async function replay(errorClass) {
  try {
    const result = await api(`/runs/${encodeURIComponent(state.route.id)}/quarantine/replay`, { method: 'POST', body: JSON.stringify({ errorClass }) });
    announce(`Replayed ${result.replayed} of ${result.attempted}; ${result.stillFailing} still failing.`);
    await refreshDetail();
  } catch (error) {
    announce(error.message, true);
  }
}

function drawCharts() {
  if (typeof uPlot === 'undefined') return;
  const xs = state.batches.map((b) => Date.parse(b.finishedAt) / 1000);
  const rate = state.batches.map((b) => (b.durationMs > 0 ? b.counts.received / (b.durationMs / 1000) : null));
  const ms = state.batches.map((b) => b.durationMs);
  const specs = [['chart-rate', 'items/s', rate], ['chart-duration', 'ms', ms]];
  if (state.charts.length === 0) {
    for (const [id, label, values] of specs) {
      const target = document.getElementById(id);
      const width = Math.max(300, target.clientWidth || 500);
      state.charts.push(new uPlot({ width, height: 200, series: [{}, { label, stroke: '#0969da', width: 1.5 }], axes: [{}, { size: 60 }] }, [xs, values], target));
    }
  } else {
    state.charts.forEach((chart, i) => chart.setData([xs, specs[i][2]]));
  }
}

// ---- routing ---------------------------------------------------------------------------------

function parseRoute() {
  const match = /^#\/runs\/([^/]+)$/.exec(location.hash);
  return match ? { page: 'run', id: decodeURIComponent(match[1]) } : { page: 'runs' };
}

async function render() {
  state.route = parseRoute();
  try {
    if (state.route.page === 'run') await showRun(state.route.id);
    else await showRuns();
  } catch (error) {
    document.getElementById('view').replaceChildren(el('p', { class: 'error', role: 'alert', text: error.message }));
  }
  document.getElementById('main').focus({ preventScroll: true });
}

function start() {
  document.getElementById('login').hidden = true;
  document.getElementById('sign-out').hidden = false;
  render();
  followEvents();
}

window.addEventListener('hashchange', () => { if (token()) render(); });
if (token()) start();
else signOut();
