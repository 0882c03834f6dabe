// The run view (/runs/<id>): one run's whole stream — text, thinking, each tool call with its input and result,
// errors —, its facts (state, agent, task, attempt, backend, CLI version, session, usage, cost, duration), live
// while it runs (the team's WebSocket stream, this run's events), and its raw CLI lines one toggle away.
import { api } from './api.js';
import { $, h, replace } from './dom.js';
import { dateTime, duration, money, tokens } from './format.js';
import { installShortcuts } from './keys.js';
import { TeamStore } from './store.js';
import { TraceView } from './trace.js';
import { bindConnectionIndicator, EventStream } from './ws.js';

installShortcuts();
const page = $('#run-page');
const runId = page.dataset.runId;
const enc = encodeURIComponent;
const PAGE = 1000;

let run = null;
let store = null;
let trace = null;
let rawShown = false;

function fact(label, value, cls = '') {
  if (value === null || value === undefined || value === '') return null;
  return [h('dt', { text: label }), h('dd', { class: cls, text: String(value) })];
}

function renderFacts() {
  const agent = store ? store.agent(run.agent_id) : null;
  $('#run-title').textContent = `${agent ? agent.name : 'Agent'} · ${run.reason} run`;
  const teamLink = $('#run-team-link');
  teamLink.href = `/teams/${enc(run.team_id)}`;
  teamLink.textContent = store && store.team ? store.team.name : 'Team';
  const usage = run.input_tokens !== null && run.input_tokens !== undefined
    ? `${tokens(run.input_tokens)} in · ${tokens(run.output_tokens)} out` : null;
  replace($('#run-facts'),
    h('dt', { text: 'State' }), h('dd', {}, h('span', { class: 'badge', id: 'run-state', dataset: { state: run.state }, text: run.state })),
    fact('Outcome', run.outcome), fact('Error', run.error, 'err'),
    fact('Attempt', run.attempt), fact('Backend', run.backend), fact('CLI version', run.cli_version),
    fact('Session', run.session_id, 'mono small'), fact('Model', run.model), fact('Turns', run.num_turns),
    fact('Tokens', usage), fact('Cost', run.cost_usd !== null && run.cost_usd !== undefined ? money(run.cost_usd) : null),
    fact('Duration', run.duration_ms ? duration(run.duration_ms) : null),
    fact('Started', run.started_at ? dateTime(run.started_at) : null), fact('Ended', run.ended_at ? dateTime(run.ended_at) : null),
    fact('Task', run.task_id, 'mono small'), fact('Id', run.id, 'mono small'));
}

function renderCount() {
  $('#run-count').textContent = `${trace.events.length} event(s)`;
}

// Rows drawn between two turns of the event loop: a run of thousands of lines loads while the page stays
// responsive (scrolling, the raw toggle, live events) instead of freezing for one long task per page.
const DRAW_CHUNK = 100;
const yieldToBrowser = () => new Promise((resolve) => { setTimeout(resolve, 0); });

async function draw(events) {
  for (let start = 0; start < events.length; start += DRAW_CHUNK) {
    if (start) await yieldToBrowser();
    trace.add(events.slice(start, start + DRAW_CHUNK));
  }
}

async function loadHistory() {
  const first = await api.get(`/api/teams/${enc(run.team_id)}/events?run_id=${enc(runId)}&limit=${PAGE}`);
  await draw(first.events);
  let after = first.next_after;
  let more = first.events.length === PAGE;
  while (more) {
    const next = await api.get(`/api/teams/${enc(run.team_id)}/events?run_id=${enc(runId)}&after=${after}&limit=${PAGE}`);
    await draw(next.events);
    after = next.next_after;
    more = next.events.length === PAGE;
  }
  renderCount();
  return first.head;
}

async function refreshRun() {
  run = await api.get(`/api/runs/${enc(runId)}`);
  renderFacts();
}

async function toggleRaw() {
  rawShown = !rawShown;
  const raw = $('#run-raw');
  $('#run-raw-toggle').setAttribute('aria-pressed', String(rawShown));
  raw.hidden = !rawShown;
  $('#run-trace').hidden = rawShown;
  if (!rawShown) return;
  raw.textContent = 'Loading…';
  const lines = [];
  let after = 0;
  for (;;) {
    const got = await api.get(`/api/runs/${enc(runId)}/lines?after=${after}&limit=${PAGE}`);
    lines.push(...got.lines.map((l) => l.line));
    if (got.lines.length < PAGE) break;
    after = got.next_after;
  }
  raw.textContent = lines.join('\n') || '(no output lines yet)';
}

async function main() {
  try {
    run = await api.get(`/api/runs/${enc(runId)}`);
  } catch (err) {
    replace(page, h('h1', { text: 'Run not found' }), h('p', { class: 'error', role: 'alert', text: err.message }),
      h('p', {}, h('a', { href: '/', text: 'Back to the teams' })));
    return;
  }
  store = new TeamStore(run.team_id);
  try { store.setTeam(await api.getTeam(run.team_id)); } catch { /* the facts still show */ }
  renderFacts();
  trace = new TraceView($('#run-trace'), store, { showAgent: false, max: 100000, emptyText: 'No events from this run yet.' });
  const head = await loadHistory();
  const setConn = bindConnectionIndicator($('#conn'));
  const stream = new EventStream(`/ws/teams/${enc(run.team_id)}`, {
    after: head, teamId: run.team_id,
    onEvents: (events) => {
      const mine = events.filter((e) => e.run_id === runId);
      if (!mine.length) return;
      trace.add(mine);
      renderCount();
      if (mine.some((e) => e.kind.startsWith('run.'))) void refreshRun();
    },
    onStatus: setConn,
  }).start();
  window.addEventListener('pagehide', () => stream.stop());
  page.dataset.ready = 'true';
}

$('#run-raw-toggle').addEventListener('click', () => void toggleRaw());
void main();
