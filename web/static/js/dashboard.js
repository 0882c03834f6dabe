// The dashboard: a card per team (lead, members, who is working, task progress, last activity, cost), kept
// live by the global event stream; "New team" opens the creation dialog.

import { agentEmoji, agentRole, demoTag } from './agentview.js';
import { api } from './api.js';
import { confirmDialog } from './dialog.js';
import { $, h, replace, replaceKeepingFocus } from './dom.js';
import { money, plural, timeAgo, toDate } from './format.js';
import { installShortcuts, registerShortcut } from './keys.js';
import { openNewTeamDialog } from './newteam.js';
import { startTicker } from './ticker.js';
import { toast, toastError } from './toast.js';
import { bindConnectionIndicator, EventStream } from './ws.js';

const grid = $('#team-grid');
const summary = $('#dash-summary');
const setConn = bindConnectionIndicator($('#conn'));

let teams = []; // summaries from GET /api/teams
const activity = new Map(); // team id → {lastEventAt, live} from the live stream
const pendingTeams = new Map(); // team id → timer (debounced per-team refresh)
let showArchived = false;
let highlightId = null;

installShortcuts();
startTicker();

// --------------------------------------------------------------------------------------------- data

function membersOf(team) {
  return (team.members || []).filter((a) => a.status !== 'archived');
}

const taskCounts = (team) => team.task_counts || {};
const costOf = (team) => (team.cost_usd === undefined || team.cost_usd === null ? null : Number(team.cost_usd));

function lastActivity(team) {
  const live = activity.get(team.id) || {};
  const candidates = [live.lastEventAt, team.updated_at, team.created_at];
  for (const m of membersOf(team)) candidates.push(m.last_active_at);
  let best = null;
  for (const c of candidates) {
    const t = toDate(c);
    if (t && (!best || t > best)) best = t;
  }
  return best ? best.toISOString() : null;
}

// The latest load wins: starting one aborts the one in flight, whose answer (the other archived filter, or a
// reconnect's reload) could otherwise arrive last and draw the wrong list.
let loading = null;

async function loadTeams() {
  if (loading) loading.abort();
  const mine = new AbortController();
  loading = mine;
  let fresh;
  try {
    fresh = await api.listTeams({ includeArchived: showArchived, signal: mine.signal });
  } catch (err) {
    if (mine.signal.aborted) return;
    grid.setAttribute('aria-busy', 'false');
    replace(grid, h('div', { class: 'empty big' }, h('p', { text: `Could not load teams: ${err.message}` }),
      h('button', { type: 'button', class: 'btn', text: 'Try again', onClick: loadTeams })));
    summary.textContent = '';
    return;
  }
  if (mine.signal.aborted) return;  // answered, but a later load has started meanwhile
  teams = fresh;
  render();
}

async function refreshTeam(teamId) {
  try {
    const fresh = await api.getTeam(teamId);  // carries members, task_counts and cost_usd like the list
    const i = teams.findIndex((t) => t.id === teamId);
    if (i >= 0) teams[i] = fresh; else teams.unshift(fresh);
    render();
  } catch (err) {
    if (err.status === 404) { teams = teams.filter((t) => t.id !== teamId); render(); }
  }
}

function scheduleTeam(teamId) {
  if (pendingTeams.has(teamId)) return;
  pendingTeams.set(teamId, setTimeout(() => { pendingTeams.delete(teamId); refreshTeam(teamId); }, 700));
}

// What an agent does now, from its `doing` (GET /api/teams: its running run, else its first queued one).
const REASONS = { chat: 'answering you', message: 'reading a message', wake: 'checking on the team', retry: 'trying again', task: 'a task' };

function activityOf(agent) {
  const doing = agent.doing || null;
  const state = doing ? doing.state : agent.status;
  if (state !== 'running' && state !== 'queued') return null;
  const what = doing ? (doing.task_title || REASONS[doing.reason] || 'working') : 'working';
  // A stopped run ends when its worker has ended the CLI: until then it says so.
  const shown = state === 'running' && doing && doing.cancel_requested_at ? 'stopping' : state;
  return { state: shown, what, taskId: doing ? doing.task_id : null };
}

/** One line per agent with work: "Ann — running: Build the page", running ones first. */
function doingList(members) {
  const busy = members.map((m) => ({ m, now: activityOf(m) })).filter((x) => x.now)
    .sort((a, b) => (a.now.state === 'queued' ? 1 : 0) - (b.now.state === 'queued' ? 1 : 0));
  if (!busy.length) {
    const stopped = members.length && members.every((m) => m.status === 'stopped');
    return h('p', { class: 'tc-quiet muted small', dataset: { doing: stopped ? 'stopped' : 'idle' },
      text: stopped ? 'Stopped: the agents wait for your next message' : 'All idle' });
  }
  const shown = busy.slice(0, 4);
  return h('ul', { class: 'tc-doing', 'aria-label': 'What the agents do now' },
    shown.map(({ m, now }) => h('li', { class: `tc-doing-${now.state}`, dataset: { agentId: m.id, doing: now.state }, title: `${m.name} — ${now.state}: ${now.what}` },
      h('span', { class: `dot dot-${now.state === 'stopping' ? 'stopped' : now.state}`, 'aria-hidden': 'true' }),
      h('span', { class: 'tc-doing-emoji', 'aria-hidden': 'true', text: agentEmoji(m) }),
      h('span', { class: 'tc-doing-text' }, h('strong', { text: m.name }), ` — ${now.state}: `, h('span', { class: 'tc-doing-what', text: now.what })))),
    busy.length > shown.length ? h('li', { class: 'muted small', text: `and ${busy.length - shown.length} more` }) : null);
}

/** Teams with running or queued work now (what "Stop everything" touches). */
const teamsWithWork = () => teams.filter((t) => t.status !== 'archived' && membersOf(t).some((m) => activityOf(m)));

// --------------------------------------------------------------------------------------------- view

function card(team) {
  const members = membersOf(team);
  const lead = members ? members.find((m) => m.is_lead) : null;
  // An agent's status and its current run say the same once both are read; either one counts meanwhile.
  const stateOf = (m) => (activityOf(m) || { state: m.status }).state;
  const running = members ? members.filter((m) => m.status === 'running' || ['running', 'stopping'].includes(stateOf(m))) : [];
  const queued = members ? members.filter((m) => !running.includes(m) && (m.status === 'queued' || stateOf(m) === 'queued')) : [];
  const counts = taskCounts(team);
  // Every task counts in the total; only done ones are done (cancelled and failed ones are said apart).
  const total = counts ? Object.values(counts).reduce((n, v) => n + Number(v || 0), 0) : 0;
  const done = counts ? Number(counts.done || 0) : 0;
  const inProgress = counts ? Number(counts.in_progress || 0) + Number(counts.review || 0) : 0;
  const ended = counts ? [['cancelled', counts.cancelled], ['failed', counts.failed]].filter(([, n]) => Number(n || 0) > 0) : [];
  const cost = costOf(team);
  const last = lastActivity(team);
  const d = activity.get(team.id) || {};
  const demo = members && members.some((m) => m.backend === 'demo');
  const archived = team.status === 'archived';
  const titleId = `team-${team.id}-title`;

  return h('article', {
    class: ['team-card', running.length && 'is-working', d.live && 'is-live', archived && 'is-archived', highlightId === team.id && 'is-new'],
    'aria-labelledby': titleId,
    dataset: { teamId: team.id },
  },
  h('div', { class: 'tc-head' },
    h('h2', { class: 'tc-name', id: titleId }, h('a', { href: `/teams/${encodeURIComponent(team.id)}`, class: 'stretched', dataset: { focusKey: team.id }, text: team.name })),
    demo ? demoTag() : null,
    h('span', { class: `badge status-${team.status || 'active'}`, text: archived ? 'Archived' : (running.length ? 'working' : team.status || 'active') })),
  h('p', { class: 'tc-desc', text: team.description || 'No description.' }),
  h('div', { class: 'tc-lead' },
    lead ? [h('span', { class: 'tc-emoji', 'aria-hidden': 'true', text: agentEmoji(lead) }),
      h('span', {}, h('strong', { text: lead.name }), h('span', { class: 'muted', text: ` · ${agentRole(lead)}` }))]
      : h('span', { class: 'muted', text: members ? 'No lead' : 'Loading members…' }),
    members ? h('span', { class: 'muted tc-count', text: plural(members.length, 'agent') }) : null),
  h('div', { class: 'tc-working' },
    running.length
      ? h('span', { class: 'ok', text: `${plural(running.length, 'agent')} working` })
      : h('span', { class: 'muted', text: queued.length ? `${queued.length} queued` : 'Quiet' }),
    running.length && queued.length ? h('span', { class: 'muted', text: ` · ${queued.length} queued` }) : null,
    !archived && team.budget_state === 'paused' ? h('span', { class: 'tc-paused', text: 'Paused: the budget is spent' }) : null),
  archived ? null : doingList(members),
  h('div', { class: 'tc-progress' },
    h('span', { class: 'progress', role: 'progressbar', 'aria-label': 'Tasks done', 'aria-valuemin': '0', 'aria-valuemax': String(total || 0), 'aria-valuenow': String(done) },
      h('span', { class: 'progress-fill', style: { width: total ? `${(done / total) * 100}%` : '0%' } })),
    h('span', { class: 'small muted', dataset: { progress: '' }, text: counts ? (total ? `${done} of ${total} done${inProgress ? ` · ${inProgress} in progress` : ''}${ended.map(([s, n]) => ` · ${n} ${s}`).join('')}` : 'No tasks yet') : '…' })),
  h('div', { class: 'tc-foot small muted' },
    archived ? h('span', { class: 'archived-label' }, 'Archived ', h('span', { dataset: { ago: team.updated_at }, text: timeAgo(team.updated_at) }))
      : (last ? h('span', {}, 'Active ', h('span', { dataset: { ago: last }, text: timeAgo(last) })) : h('span', { text: 'No activity yet' })),
    h('span', { title: 'Total cost', text: cost === null ? '' : money(cost) })));
}

function render() {
  grid.setAttribute('aria-busy', 'false');
  const visible = teams.filter((t) => showArchived || t.status !== 'archived')
    // archived teams last; each group by its latest activity, newest first
    .sort((a, b) => (a.status === 'archived') - (b.status === 'archived')
      || String(lastActivity(b) || '').localeCompare(String(lastActivity(a) || '')));
  const archivedCount = teams.filter((t) => t.status === 'archived').length;
  const working = teams.filter((t) => (membersOf(t) || []).some((m) => m.status === 'running')).length;
  const active = teams.length - archivedCount;
  summary.textContent = `${active ? plural(active, 'team') : 'No teams yet'}${working ? ` · ${working} working now` : ''}`
    + `${archivedCount ? ` · ${archivedCount} archived` : ''}`;
  const newCard = h('button', { type: 'button', class: 'team-card new-card', 'aria-haspopup': 'dialog' },
    h('span', { class: 'new-plus', 'aria-hidden': 'true', text: '+' }), h('span', { text: 'Create a team' }),
    h('span', { class: 'muted small', text: 'From a blueprint or a lead role' }));
  newCard.addEventListener('click', openCreate);
  if (!visible.length) {
    replace(grid, h('div', { class: 'empty big' },
      h('h2', { text: 'Start your first team' }),
      h('p', { class: 'muted', text: 'A team is a lead plus specialists, each a Claude Code session with its own workspace. Give the lead a goal; it plans, delegates, reviews and answers.' }),
      h('p', {}, h('button', { type: 'button', class: 'btn btn-primary', text: 'Create a team', onClick: openCreate }))));
    return;
  }
  replaceKeepingFocus(grid, visible.map(card), newCard);
}

function openCreate() {
  openNewTeamDialog({
    onCreated: async (team, { open = false } = {}) => {
      if (open) { window.location.assign(`/teams/${encodeURIComponent(team.id)}`); return; }
      toast(`Team “${team.name}” created`, 'success');
      highlightId = team.id;
      if (team && team.id && !teams.some((t) => t.id === team.id)) teams.unshift(team);
      render();
      await refreshTeam(team.id);
      const link = grid.querySelector(`.team-card[data-team-id="${CSS.escape(team.id)}"] a`);
      if (link) link.focus();
      setTimeout(() => { highlightId = null; }, 4000);
    },
  });
}

// --------------------------------------------------------------------------------------------- health

async function checkHealth() {
  const banner = $('#health');
  try {
    const report = await api.health();
    const problems = [];
    if (report.database && report.database.ok === false) problems.push(`database unavailable${report.database.error ? ` (${report.database.error})` : ''}`);
    if (report.migrations && report.migrations.ok === false) problems.push('database migrations pending');
    if (report.workers && report.workers.ok === false) problems.push('no worker is running: messages will queue until one starts (gamma worker)');
    const unsandboxed = (report.workers && report.workers.unsandboxed) || [];
    if (unsandboxed.length) problems.push(`agents on ${unsandboxed.length === 1 ? 'a worker' : `${unsandboxed.length} workers`} run without a sandbox and can read that worker's secrets and files (install bubblewrap; see gamma doctor)`);
    banner.hidden = problems.length === 0;
    banner.textContent = problems.length ? `Heads up: ${problems.join('; ')}.` : '';
  } catch (err) {
    banner.hidden = false;
    banner.textContent = `Cannot reach the server: ${err.message}`;
  }
}

// --------------------------------------------------------------------------------------------- wiring

$('#new-team').addEventListener('click', openCreate);
$('#show-archived').addEventListener('change', (ev) => { showArchived = ev.target.checked; loadTeams(); });
$('#stop-all').addEventListener('click', async () => {
  const busy = teamsWithWork();
  const ok = await confirmDialog({
    title: 'Stop everything?',
    message: busy.length ? `${plural(busy.length, 'team')} ${busy.length === 1 ? 'has' : 'have'} work going on now: ${busy.map((t) => t.name).join(', ')}.` : 'No team seems to have work going on right now.',
    consequences: ['Every running agent run in every team is stopped, and every queued run cancelled.', 'Only teams with work going on are touched; their agents stay stopped until you message them, and their chat says so.', 'Teams with nothing going on are left as they are. Tasks, files and chats stay.'],
    confirmLabel: 'Stop everything',
    danger: true,
  });
  if (!ok) return;
  try {
    const res = await api.stopAll();
    toast(res.stopped_teams.length ? `Stopped ${plural(res.stopped_teams.length, 'team')}: ${plural(res.cancelled_runs.length, 'run')} cancelled` : 'Nothing was running.', 'success');
    loadTeams();
  } catch (err) {
    toastError(err, 'Stop failed');
  }
});
registerShortcut('n', 'New team', openCreate);

const liveTimers = new Map();
const stream = new EventStream('/ws/events', {
  resume: false,
  onStatus: setConn,
  onHello: (_frame, { reconnect }) => { if (reconnect) loadTeams(); },
  onEvents: (events) => {
    for (const ev of events) {
      if (!ev.team_id) continue;
      const d = activity.get(ev.team_id) || {};
      d.lastEventAt = ev.created_at;
      d.live = true;
      activity.set(ev.team_id, d);
      clearTimeout(liveTimers.get(ev.team_id));
      liveTimers.set(ev.team_id, setTimeout(() => { d.live = false; render(); }, 4000));
      scheduleTeam(ev.team_id);
    }
  },
}).start();
window.addEventListener('pagehide', () => stream.stop());

loadTeams();
checkHealth();
setInterval(checkHealth, 30000);
