// The trace page (/trace): every team's events in one list. Filters for team, agent, kind, task, run, time and
// payload text live in the URL's query string (a filtered view is a link: shareable, restored on reload, and
// the back button goes to the previous filters). History comes a page at a time by cursor (GET /api/events,
// next_after) as the list scrolls; the live tail (/ws/events) adds rows without redrawing the list, and while
// paused it keeps what arrives and offers "N new — resume". The export link is the same filters as JSON Lines.
//
// The text search is the server's (`q`: the payload's JSON text contains it, case-insensitively); live events
// are matched against the same filters here (matches() below mirrors the server's rules).

import { api } from './api.js';
import { $, debounce, h, replace } from './dom.js';
import { plural } from './format.js';
import { installShortcuts, registerShortcut } from './keys.js';
import { eventRow, fillToolResult } from './trace.js';
import { vocabulary, words } from './vocabulary.js';
import { bindConnectionIndicator, EventStream } from './ws.js';

const PAGE = 500;
const CHUNK = 50; // rows built in one go (a few tens of milliseconds)
// The query parameters of the page's URL, which are the API's (GET /api/events) names.
const FILTER_NAMES = ['team_id', 'agent_id', 'kind', 'task_id', 'run_id', 'since', 'until', 'q', 'order'];
const DEFAULT_ORDER = 'newest';
const enc = encodeURIComponent;

installShortcuts();
const page = $('#trace-page');
const form = $('#trace-filters');
const scroller = $('#trace-list');
const controls = {
  team_id: $('#tf-team'), agent_id: $('#tf-agent'), kind: $('#tf-kind'), task_id: $('#tf-task'),
  run_id: $('#tf-run'), since: $('#tf-since'), until: $('#tf-until'), q: $('#tf-q'), order: $('#tf-order'),
};
const pauseButton = $('#trace-pause');
const resumeButton = $('#trace-resume');
const exportLink = $('#trace-export');
const errorBox = $('#trace-error');
const countText = $('#trace-count');

const list = h('ol', { class: 'trace trace-page-list', 'aria-label': 'Events' });
const empty = h('p', { class: 'empty', text: 'No events match these filters.', hidden: true });
const moreButton = h('button', { type: 'button', class: 'btn btn-ghost btn-sm trace-more', id: 'trace-more', text: 'Load older events' });
scroller.append(empty, list, moreButton);

// Names for the rows and the filter menus: every team (archived too) and its members.
const teams = new Map();
const agents = new Map();
// What eventRow needs of a team store, across teams.
const directory = { tasks: new Map(), agent: (id) => (id ? agents.get(id) || null : null) };

let filters = readUrl();
let generation = 0; // bumped by every reload: answers for older filters are dropped
let aborter = null;
let seen = new Set(); // event ids in the list
let nextAfter = null;
let exhausted = false;
let loading = false;
let loaded = 0;
let paused = false;
let buffered = [];
let toolCalls = new Map(); // tool_use_id → {slot, state, row}: where a result shows in its call's row
let toolResults = new Map(); // tool_use_id → a result's payload that came before its call (newest first)

// ------------------------------------------------------------------------------------------ the URL

function readUrl() {
  const params = new URLSearchParams(window.location.search);
  const found = {};
  for (const name of FILTER_NAMES) {
    const value = (params.get(name) || '').trim();
    if (value) found[name] = value;
  }
  if (found.order === DEFAULT_ORDER) delete found.order;
  return found;
}

function queryString(values) {
  const parts = FILTER_NAMES.filter((name) => values[name]).map((name) => `${enc(name)}=${enc(values[name])}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

function sameFilters(a, b) {
  return FILTER_NAMES.every((name) => (a[name] || '') === (b[name] || ''));
}

const order = () => filters.order || DEFAULT_ORDER;

// ------------------------------------------------------------------------------------------ the controls

function pad(n) {
  return String(n).padStart(2, '0');
}

/** An ISO instant as a datetime-local value in this browser's zone ('' when it is not one), to the
 *  millisecond when it has one (events are often milliseconds apart). */
function toLocalInput(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return '';
  const ms = d.getMilliseconds() ? `.${String(d.getMilliseconds()).padStart(3, '0')}` : '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${ms}`;
}

/** A datetime-local value (this browser's zone) as an ISO instant in UTC, for the URL and the API. */
function fromLocalInput(value) {
  const d = new Date(value);
  if (!value || Number.isNaN(d.getTime())) return '';
  return d.toISOString().replace('.000Z', 'Z');
}

/** A value from the URL that the menu lacks (an agent of an archived team, a kind list) is offered as is. */
function ensureOption(select, value) {
  if (value && ![...select.options].some((o) => o.value === value)) select.append(h('option', { value, text: value }));
}

function renderTeamOptions() {
  const sorted = [...teams.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  replace(controls.team_id, h('option', { value: '', text: 'All teams' }),
    sorted.map((t) => h('option', { value: t.id, text: `${t.name}${t.status === 'archived' ? ' (archived)' : ''}` })));
  ensureOption(controls.team_id, filters.team_id);
  controls.team_id.value = filters.team_id || '';
}

function renderAgentOptions() {
  const team = controls.team_id.value;
  const shown = [...agents.values()].filter((a) => !team || a.team_id === team)
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  replace(controls.agent_id, h('option', { value: '', text: 'All agents' }),
    shown.map((a) => h('option', { value: a.id, text: team ? a.name : `${a.name} · ${(teams.get(a.team_id) || {}).name || a.team_id}` })));
  ensureOption(controls.agent_id, filters.agent_id);
  controls.agent_id.value = filters.agent_id || '';
}

/** Families (`task.`: every task event), then each kind the server knows (vocabulary.js). */
function renderKindOptions() {
  const kinds = words().event_kinds;
  const families = [...new Set(kinds.map((k) => `${k.split('.')[0]}.`))];
  replace(controls.kind, h('option', { value: '', text: 'All kinds' }),
    families.length ? h('optgroup', { label: 'Every event of' }, families.map((f) => h('option', { value: f, text: `${f}*` }))) : null,
    kinds.length ? h('optgroup', { label: 'Exact kind' }, kinds.map((k) => h('option', { value: k, text: k }))) : null);
  ensureOption(controls.kind, filters.kind);
  controls.kind.value = filters.kind || '';
}

function showFilters() {
  renderTeamOptions();
  renderAgentOptions();
  renderKindOptions();
  for (const name of ['task_id', 'run_id', 'q']) controls[name].value = filters[name] || '';
  controls.since.value = toLocalInput(filters.since);
  controls.until.value = toLocalInput(filters.until);
  controls.order.value = order();
}

function filtersFromControls() {
  const found = {};
  for (const name of ['team_id', 'agent_id', 'kind', 'task_id', 'run_id', 'q']) {
    const value = controls[name].value.trim();
    if (value) found[name] = value;
  }
  for (const name of ['since', 'until']) {
    const value = fromLocalInput(controls[name].value);
    if (value) found[name] = value;
  }
  if (controls.order.value !== DEFAULT_ORDER) found.order = controls.order.value;
  return found;
}

/** The controls changed: a new URL (pushed, or replaced while typing a search) and the list for it. */
function apply({ push = true } = {}) {
  const next = filtersFromControls();
  if (sameFilters(next, filters)) return;
  filters = next;
  const url = `${window.location.pathname}${queryString(filters)}`;
  if (push) window.history.pushState(null, '', url);
  else window.history.replaceState(null, '', url);
  reload();
}

// ------------------------------------------------------------------------------------------ the list

/** Would the server keep `ev` under the current filters? (Its rules: web/api/events.py, shared/events.py.) */
function matches(ev) {
  for (const name of ['team_id', 'agent_id', 'task_id', 'run_id']) {
    if (filters[name] && ev[name] !== filters[name]) return false;
  }
  if (filters.kind) {
    const kinds = filters.kind.split(',').map((k) => k.trim()).filter(Boolean);
    if (!kinds.some((k) => (k.endsWith('.') ? ev.kind.startsWith(k) : ev.kind === k))) return false;
  }
  const at = new Date(ev.created_at).getTime();
  if (filters.since && !(at >= new Date(filters.since).getTime())) return false;
  if (filters.until && !(at < new Date(filters.until).getTime())) return false;
  if (filters.q) {
    // The payload's JSON text, with the needle escaped as JSON would (a quote in it is \" there).
    const needle = JSON.stringify(filters.q).slice(1, -1).toLowerCase();
    if (!JSON.stringify(ev.payload ?? {}).toLowerCase().includes(needle)) return false;
  }
  return true;
}

function rowOf(ev, { live = false } = {}) {
  const team = teams.get(ev.team_id);
  const lead = h('span', { class: 'ev-team' },
    h('a', { href: `/teams/${enc(ev.team_id)}`, title: ev.team_id, text: team ? team.name : ev.team_id }),
    ev.run_id ? h('a', { class: 'ev-run-link', href: `/runs/${enc(ev.run_id)}`, title: `Run ${ev.run_id}`, text: 'run' }) : null);
  const row = eventRow(ev, directory, { lead });
  row.dataset.teamId = ev.team_id;
  row.dataset.id = ev.id;
  if (live) row.classList.add('ev-live');
  const p = ev.payload || {};
  if (row.gammaToolSlot) {
    const call = { ...row.gammaToolSlot, row };
    if (toolResults.has(p.tool_use_id)) fillToolResult(call, toolResults.get(p.tool_use_id));
    else toolCalls.set(p.tool_use_id, call);
  } else if (ev.kind === 'agent.tool_result' && p.tool_use_id) {
    if (toolCalls.has(p.tool_use_id)) fillToolResult(toolCalls.get(p.tool_use_id), p);
    else toolResults.set(p.tool_use_id, p);
  }
  return row;
}

/** New rows, built off the document and put in with one insertion: nothing already shown is redrawn. */
function rowsOf(events, options) {
  const fragment = document.createDocumentFragment();
  let added = 0;
  for (const ev of events) {
    if (!ev || !ev.id || seen.has(ev.id)) continue;
    seen.add(ev.id);
    fragment.append(rowOf(ev, options));
    added += 1;
  }
  loaded += added;
  return fragment;
}

function showCount() {
  const state = exhausted ? 'all loaded' : 'scroll for more';
  countText.textContent = `${plural(loaded, 'event')} · ${state}${paused ? ' · live tail paused' : ''}`;
  scroller.dataset.loaded = String(loaded);
  scroller.dataset.exhausted = String(exhausted);
  empty.hidden = loaded > 0 || !exhausted;
  moreButton.hidden = exhausted;
}

function reload() {
  generation += 1;
  if (aborter) aborter.abort();
  aborter = null;
  seen = new Set();
  toolCalls = new Map();
  toolResults = new Map();
  buffered = [];
  nextAfter = null;
  exhausted = false;
  loading = false;
  loaded = 0;
  list.replaceChildren();
  errorBox.hidden = true;
  exportLink.href = api.traceExportUrl({ ...filters, order: order() }); // the page's order, which the URL omits when default
  showResume();
  showCount();
  void loadPage();
}

/** The next page of history, at the far end of the list (older ones when newest first, later ones otherwise). */
async function loadPage() {
  if (loading || exhausted) return;
  loading = true;
  const mine = generation;
  aborter = new AbortController();
  moreButton.disabled = true;
  moreButton.textContent = 'Loading…';
  scroller.setAttribute('aria-busy', 'true');
  try {
    const body = await api.traceEvents({ ...filters, order: order(), after: nextAfter, limit: PAGE }, { signal: aborter.signal });
    await directoryReady; // rows name their team and agent
    // A page goes in a chunk at a time, yielding between chunks, so scrolling and typing never wait long.
    for (let i = 0; i < body.events.length; i += CHUNK) {
      if (mine !== generation) return;
      if (i) await new Promise((resolve) => { setTimeout(resolve, 0); });
      if (mine !== generation) return;
      list.append(rowsOf(body.events.slice(i, i + CHUNK)));
    }
    if (mine !== generation) return;
    nextAfter = body.next_after;
    exhausted = body.events.length < PAGE;
  } catch (err) {
    if (mine !== generation || (err && err.name === 'AbortError')) return;
    errorBox.textContent = `Could not load the trace: ${err.message}`;
    errorBox.hidden = false;
    exhausted = true; // a refused filter stays refused: fix it, then the list reloads
  } finally {
    if (mine === generation) {
      loading = false;
      moreButton.disabled = false;
      moreButton.textContent = order() === 'newest' ? 'Load older events' : 'Load later events';
      scroller.setAttribute('aria-busy', 'false');
      showCount();
      // Observed afresh, the button reports whether it is still in view: a short page loads the next one.
      observer.unobserve(moreButton);
      if (!exhausted) observer.observe(moreButton);
    }
  }
}

const observer = new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) void loadPage();
}, { root: scroller, rootMargin: '600px 0px' });

// ------------------------------------------------------------------------------------------ the live tail

/** Live events in: at the live end (the top when newest first; the bottom once history is all loaded). */
function showLive(events) {
  if (order() === 'newest') {
    list.prepend(rowsOf([...events].reverse(), { live: true }));
  } else if (exhausted) {
    list.append(rowsOf(events, { live: true }));
  } // else: later pages bring them, in their place
  showCount();
}

function onLive(events) {
  const kept = events.filter((ev) => ev && ev.id && !seen.has(ev.id) && matches(ev));
  if (!kept.length) return;
  if (paused) {
    buffered.push(...kept);
    showResume();
  } else {
    showLive(kept);
  }
}

function showResume() {
  const n = buffered.length;
  resumeButton.hidden = !(paused && n);
  resumeButton.textContent = `${n} new — resume`;
  pauseButton.setAttribute('aria-pressed', String(paused));
  pauseButton.textContent = paused ? 'Resume live' : 'Pause live';
  page.dataset.paused = String(paused);
}

function setPaused(value) {
  paused = value;
  if (!paused && buffered.length) {
    const waiting = buffered;
    buffered = [];
    showLive(waiting.filter((ev) => !seen.has(ev.id)));
  }
  showResume();
  showCount();
}

/** After a reconnect, what the stream missed meanwhile: the events after the live end of the list. */
async function catchUp() {
  const edge = order() === 'newest' ? list.firstElementChild : (exhausted ? list.lastElementChild : null);
  if (!edge || !edge.gammaEvent) return;
  const ev = edge.gammaEvent;
  let after = ev.global_cursor || `${ev.created_at}|${ev.team_id}|${ev.cursor}`;
  const mine = generation;
  try {
    for (;;) {
      const body = await api.traceEvents({ ...filters, order: 'oldest', after, limit: PAGE });
      if (mine !== generation) return;
      onLive(body.events);
      if (body.events.length < PAGE) return;
      after = body.next_after;
    }
  } catch (err) {
    console.warn('could not catch up on the trace after a reconnect', err);
  }
}

// ------------------------------------------------------------------------------------------ wiring

async function loadDirectory() {
  try {
    for (const team of await api.listTeams({ includeArchived: true })) {
      teams.set(team.id, team);
      for (const member of team.members || []) agents.set(member.id, { ...member, team_id: team.id });
    }
  } catch (err) {
    console.warn('could not load the teams for the trace filters', err);
  }
  renderTeamOptions();
  renderAgentOptions();
}

form.addEventListener('submit', (ev) => { ev.preventDefault(); apply(); });
for (const name of ['agent_id', 'kind', 'task_id', 'run_id', 'since', 'until', 'order']) {
  controls[name].addEventListener('change', () => apply());
}
controls.team_id.addEventListener('change', () => {
  const chosen = controls.agent_id.value;
  const team = controls.team_id.value;
  renderAgentOptions();
  // An agent of another team would leave nothing to show: the team wins.
  const agent = agents.get(chosen);
  controls.agent_id.value = agent && team && agent.team_id !== team ? '' : chosen;
  apply();
});
const searchSoon = debounce(() => apply({ push: false }), 350);
controls.q.addEventListener('input', searchSoon);
controls.q.addEventListener('change', () => { searchSoon.cancel(); apply({ push: false }); });
$('#tf-clear').addEventListener('click', () => {
  form.reset();
  for (const control of Object.values(controls)) if (control.tagName === 'SELECT') control.selectedIndex = 0;
  renderAgentOptions();
  controls.agent_id.value = '';
  apply();
});
window.addEventListener('popstate', () => {
  filters = readUrl();
  showFilters();
  reload();
});
moreButton.addEventListener('click', () => void loadPage());
pauseButton.addEventListener('click', () => setPaused(!paused));
resumeButton.addEventListener('click', () => setPaused(false));
registerShortcut('/', 'Search the trace', () => controls.q.focus());
registerShortcut('p', 'Pause or resume the live tail', () => setPaused(!paused));

const directoryReady = loadDirectory();
showFilters();
reload();
void vocabulary().then(() => renderKindOptions());

const stream = new EventStream('/ws/events', {
  resume: false,
  onStatus: bindConnectionIndicator($('#conn')),
  onHello: (_frame, { reconnect }) => { if (reconnect) void catchUp(); },
  onEvents: onLive,
}).start();
window.addEventListener('pagehide', () => stream.stop());
