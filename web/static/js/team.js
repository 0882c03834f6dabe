// The team page: wires the store, the components and the team's event stream together.

import { ActivityBar } from './activity.js';
import { openAddAgentDialog } from './addagent.js';
import { AgentPanel } from './agentpanel.js';
import { api } from './api.js';
import { Chat } from './chat.js';
import { $, debounce, h, replace } from './dom.js';
import { EventLog } from './eventlog.js';
import { FilesView } from './files.js';
import { installShortcuts, registerShortcut } from './keys.js';
import { installPanels } from './panels.js';
import { RunQueue } from './runqueue.js';
import { TeamStore } from './store.js';
import { TaskBoard } from './tasks.js';
import { TeamHeader } from './teamhead.js';
import { TeamMap } from './teammap.js';
import { startTicker } from './ticker.js';
import { toast, toastError } from './toast.js';
import { vocabulary, words } from './vocabulary.js';
import { bindConnectionIndicator, EventStream } from './ws.js';

const page = $('#team-page');
const teamId = page.dataset.teamId;
const store = new TeamStore(teamId);
const setConn = bindConnectionIndicator($('#conn'));
let lastCursor = null;
let stream = null;
let historyLoaded = false;

installShortcuts();
startTicker();

// ------------------------------------------------------------------------------------------------ refreshers

const refreshTeam = debounce(async () => {
  try { store.setTeam(await api.getTeam(teamId)); } catch (err) { if (err.status === 404) showGone(); }
}, 250);
const refreshTasks = debounce(async () => {
  try { store.setTasks(await api.listTasks(teamId)); } catch (err) { store.setTasksError(err); }
}, 300);
// Finished runs: the server's terminal run states.
const finished = () => words().terminal_run_states.join(',');
const refreshRuns = debounce(async () => {
  try { store.setRuns(await api.listRuns(teamId)); } catch (err) { store.setRunsError(err); }
  refreshRecentRuns();
}, 200);
const refreshRecentRuns = debounce(async () => {
  try { store.setRecentRuns(await api.listRuns(teamId, finished(), 8)); } catch { /* optional */ }
}, 1000);
const refreshUsage = debounce(async () => {
  try { store.setUsage(await api.usage(teamId)); } catch { /* usage is optional */ }
}, 800);

function refreshAll() {
  refreshTeam();
  refreshTasks();
  refreshRuns();
  refreshUsage();
}

// ------------------------------------------------------------------------------------------------ components

const header = new TeamHeader($('#team-head'), store, { onChanged: refreshAll });
const panel = new AgentPanel($('#agent-panel'), store, {
  onClose: (id) => {
    map.setOpen(null);
    const node = document.querySelector(`.agent-node[data-agent-id="${CSS.escape(id)}"]`);
    if (node) node.focus();
  },
  eventsFor: (id) => log.trace.events.filter((e) => e.agent_id === id),
  headCursor: () => lastCursor,
  onChanged: refreshAll,
});
const map = new TeamMap($('#team-map'), store, {
  onOpen: (id) => {
    panel.open(id);
    map.setOpen(panel.isOpen() ? id : null);
  },
});
const activityHost = h('div', { hidden: true });
const chat = new Chat($('#chat'), store, { activityHost });
const activity = new ActivityBar(activityHost, store);
const setCount = (id, n) => { const el = document.getElementById(id); if (el) { el.textContent = String(n); el.dataset.zero = n ? '0' : '1'; } };
const tasks = new TaskBoard($('#panel-tasks'), store, {
  onCount: (n) => setCount('count-tasks', n),
  onOpenAgent: (id) => map.onOpen(id),
  onRetry: () => refreshTasks(),
  // The board across the page: the team map and the chat step aside until it is narrowed again.
  onWide: (wide) => {
    if (wide) page.dataset.board = 'wide'; else delete page.dataset.board;
    if (wide) selectTab('tasks');
    try { sessionStorage.setItem(`gamma-board-${teamId}`, wide ? 'wide' : ''); } catch { /* private mode */ }
  },
});
const runs = new RunQueue($('#panel-runs'), store, { onCount: (n) => setCount('count-runs', n), onChanged: refreshAll });
const log = new EventLog($('#panel-log'), store, { onCount: (n) => setCount('count-log', n) });
const files = new FilesView($('#panel-files'), teamId);
void header; void runs;

const panels = installPanels($('.team-body'), { left: $('#team-panel'), right: $('#work-panel') },
  { left: $('#team-panel-head'), right: $('#work-panel-head') });

$('#add-agent').addEventListener('click', () => openAddAgentDialog(store, { onAdded: refreshTeam }));

// ------------------------------------------------------------------------------------------------ tabs

const TABS = ['tasks', 'runs', 'log', 'files'];

function selectTab(name, { focus = false } = {}) {
  if (!TABS.includes(name)) name = 'tasks';
  for (const t of TABS) {
    const tab = document.getElementById(`tab-${t}`);
    const panelEl = document.getElementById(`panel-${t}`);
    const on = t === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    panelEl.hidden = !on;
    if (on && focus) tab.focus();
  }
  log.setVisible(name === 'log');
  if (name === 'files') void files.show();
  try { sessionStorage.setItem(`gamma-tab-${teamId}`, name); } catch { /* private mode */ }
}

for (const t of TABS) document.getElementById(`tab-${t}`).addEventListener('click', () => selectTab(t));
$('#work-tabs').addEventListener('keydown', (ev) => {
  const current = TABS.findIndex((t) => document.getElementById(`tab-${t}`).getAttribute('aria-selected') === 'true');
  let next = null;
  if (ev.key === 'ArrowRight') next = (current + 1) % TABS.length;
  if (ev.key === 'ArrowLeft') next = (current - 1 + TABS.length) % TABS.length;
  if (ev.key === 'Home') next = 0;
  if (ev.key === 'End') next = TABS.length - 1;
  if (next !== null) { ev.preventDefault(); selectTab(TABS[next], { focus: true }); }
});
let savedTab = 'tasks';
try { savedTab = sessionStorage.getItem(`gamma-tab-${teamId}`) || 'tasks'; } catch { /* private mode */ }
selectTab(location.hash && location.hash !== '#board' ? location.hash.slice(1) : savedTab);
let savedBoard = '';
try { savedBoard = sessionStorage.getItem(`gamma-board-${teamId}`) || ''; } catch { /* private mode */ }
if (location.hash === '#board' || savedBoard === 'wide') tasks.setWide(true);

registerShortcut('/', 'Focus the chat input', () => chat.focus());
registerShortcut('g t', 'Show tasks', () => selectTab('tasks', { focus: true }));
registerShortcut('g r', 'Show the run queue', () => selectTab('runs', { focus: true }));
registerShortcut('g l', 'Show the event log', () => selectTab('log', { focus: true }));
registerShortcut('g f', 'Show the files', () => selectTab('files', { focus: true }));
registerShortcut('[', 'Fold or unfold the team panel', () => panels.setFolded('left', !panels.isFolded('left')));
registerShortcut(']', 'Fold or unfold the work panel', () => panels.setFolded('right', !panels.isFolded('right')));
registerShortcut('b', 'Widen the task board, or narrow it back', () => tasks.setWide(!tasks.wide));
registerShortcut('a', 'Add an agent', () => openAddAgentDialog(store, { onAdded: refreshTeam }));

// ------------------------------------------------------------------------------------------------ events

const OUTPUT_KINDS = new Set(['agent.thinking', 'agent.text', 'agent.tool_use', 'agent.tool_result', 'agent.raw', 'agent.system', 'agent.rate_limit']);

function handleEvents(events) {
  for (const ev of events) if (lastCursor === null || ev.cursor > lastCursor) lastCursor = ev.cursor;
  log.add(events);
  panel.add(events);
  activity.handle(events);
  for (const ev of events) {
    const p = ev.payload || {};
    if (ev.kind === 'run.started' && ev.run_id) chat.runStarted(ev.run_id);
    const family = ev.kind.split('.')[0];
    if (ev.kind === 'chat.message') {
      chat.receive(p); // the message itself (orchestrator/workflows/conversation.py chat_payload)
    } else if (ev.kind === 'chat.updated') {
      chat.update(p); // the lead's answer, grown or final (same shape)
    } else if (ev.kind === 'agent.status') {
      if (ev.agent_id) store.patchAgent(ev.agent_id, { status: p.to }); // {from, to}
      refreshTeam();
    } else if (family === 'agent' && !OUTPUT_KINDS.has(ev.kind)) {
      refreshTeam(); // created, updated, archived, stopped, session_reset, init, result…
      if (ev.kind === 'agent.result' || ev.kind === 'agent.archived') refreshUsage();
      if (ev.kind === 'agent.archived' || ev.kind === 'agent.stopped') { refreshRuns(); refreshTasks(); }
    } else if (family === 'team') {
      refreshTeam();
      if (ev.kind !== 'team.updated') { refreshRuns(); refreshTasks(); }
    } else if (family === 'run') {
      refreshRuns();
      refreshTeam();
      if (ev.kind === 'run.finished') { refreshUsage(); refreshTasks(); }
    } else if (family === 'task') {
      // task.updated carries {from, to: stage}; task.assigned's `to` is an agent's name, not a stage.
      if (ev.kind === 'task.updated' && ev.task_id) store.patchTask(ev.task_id, { stage: p.to, updated_at: ev.created_at });
      refreshTasks();
    }
    if (ev.kind === 'team.goal_done') toast('🎯 The lead marked the goal as done', 'success');
  }
}

async function loadHistory(head) {
  if (historyLoaded) return;
  historyLoaded = true;
  const last = await log.loadHistory(head);
  if (typeof last === 'number' && (lastCursor === null || last > lastCursor)) lastCursor = last;
}

function startStream(after) {
  stream = new EventStream(`/ws/teams/${encodeURIComponent(teamId)}`, {
    after,
    teamId,
    onEvents: handleEvents,
    onStatus: setConn,
    onHello: (frame, { reconnect }) => {
      if (reconnect) refreshAll(); // the stream replays events; REST state catches anything derived
      if (!historyLoaded) loadHistory(typeof frame.cursor === 'number' ? frame.cursor : null);
    },
  }).start();
  window.addEventListener('pagehide', () => stream.stop());
}

// ------------------------------------------------------------------------------------------------ boot

function showGone() {
  if (stream) stream.stop();
  setConn('offline');
  replace(page, h('section', { class: 'not-found' },
    h('h1', { text: 'Team not found' }),
    h('p', { class: 'muted', text: 'It may have been deleted, or the link is wrong.' }),
    h('p', {}, h('a', { class: 'btn btn-primary', href: '/', text: 'Back to all teams' }))));
}

async function boot() {
  let team;
  try {
    [team] = await Promise.all([api.getTeam(teamId), vocabulary()]); // vocabulary() never rejects
  } catch (err) {
    if (err.status === 404) { showGone(); return; }
    toastError(err, 'Could not load the team');
    setTimeout(boot, 3000);
    return;
  }
  store.setTeam(team);
  const head = team.event_seq; // the team's last event cursor when it was read
  await Promise.all([
    api.listTasks(teamId).then((t) => store.setTasks(t)).catch((err) => store.setTasksError(err)),
    api.listRuns(teamId).then((r) => store.setRuns(r)).catch((err) => store.setRunsError(err)),
    api.listRuns(teamId, finished(), 8).then((r) => store.setRecentRuns(r)).catch(() => {}),
    api.usage(teamId).then((u) => store.setUsage(u)).catch(() => {}),
    chat.load(),
    head !== undefined ? loadHistory(head) : Promise.resolve(),
  ]);
  // Resume from the cursor the team had when it was fetched, before chat, tasks and runs were read: whatever
  // happened while they loaded is replayed (and deduplicated), so nothing falls between REST and the stream.
  startStream(head ?? null);
  page.dataset.ready = 'true';
}

boot();
