// The agent panel: a slide-over with the agent's state, session (with a copyable resume command), actions
// (reset session, stop, archive with confirmation), its settings (agentedit.js), its runs (each a link to its
// run page), the CLAUDE.md it runs with and its live activity.

import {
  agentCost, agentEmoji, agentRole, agentTurns, contextBar, costText, demoTag, effectiveStatus, statusDot, statusLine, STATUS_TEXT,
} from './agentview.js';
import { AgentEditForm } from './agentedit.js';
import { api } from './api.js';
import { confirmDialog } from './dialog.js';
import { copyButton, debounce, h, replace, replaceKeepingFocus } from './dom.js';
import { dateTime, duration, elapsedSince, money, timeAgo, truncate } from './format.js';
import { onEscape } from './keys.js';
import { toast, toastError } from './toast.js';
import { TraceView } from './trace.js';

function shellQuote(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${String(s).replace(/'/g, "'\\''")}'`;
}

export function resumeCommand(agent) {
  if (!agent || !agent.session_id) return '';
  const cd = agent.workspace_path ? `cd ${shellQuote(agent.workspace_path)} && ` : '';
  const resume = agent.backend === 'codex' ? 'codex resume' : 'claude --resume';
  return `${cd}${resume} ${shellQuote(agent.session_id)}`;
}

const RUNS_PAGE = 10;
const RUN_REASON = { chat: 'chat', task: 'task', wake: 'wake-up', message: 'message', retry: 'retry' };
const RUN_BADGE = { running: 'stage-in_progress', queued: 'stage-backlog', succeeded: 'stage-done', cancelled: 'stage-cancelled' };

export class AgentPanel {
  constructor(root, store, { onClose, eventsFor, headCursor, onChanged }) {
    this.root = root;
    this.store = store;
    this.onClose = onClose || (() => {});
    this.eventsFor = eventsFor; // agentId → events already loaded by the page
    this.headCursor = headCursor; // () → last cursor the page has
    this.onChanged = onChanged || (() => {});
    this.agentId = null;
    this.trace = null;
    this.unEscape = null;
    this.editor = null;
    this.agentRuns = [];
    this.runsComplete = false;
    store.on('agents', () => this.renderInfo());
    store.on('runs', () => this.renderInfo());
    store.on('usage', () => this.renderInfo());
    // The page refreshes its runs on every run event: the agent's own list follows, titles with the tasks.
    this.reloadRuns = debounce(() => this.loadRuns(), 300);
    store.on('runs', () => { if (this.agentId) this.reloadRuns(); });
    store.on('tasks', () => this.renderRuns());
  }

  isOpen() {
    return Boolean(this.agentId);
  }

  open(agentId) {
    if (this.agentId === agentId) { this.close(); return; }
    this.agentId = agentId;
    this.root.hidden = false;
    this.root.setAttribute('role', 'complementary');
    this.info = h('div', { class: 'ap-info' });
    const scroller = h('div', { class: 'ap-trace', tabindex: '0', 'aria-label': 'Agent activity' });
    const closeBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-icon', 'aria-label': 'Close agent panel', text: '✕' });
    closeBtn.addEventListener('click', () => this.close());
    this.head = h('div', { class: 'ap-head-main' });
    // Built once per opening (renderInfo redraws only the facts above): what the user types survives updates.
    this.editor = null;
    this.settings = h('details', { class: 'ap-section ap-settings' }, h('summary', { text: 'Settings' }));
    this.runList = h('div', { class: 'ap-runs' });
    this.agentRuns = [];
    this.runsComplete = false;
    this.claudeMd = h('div', { class: 'ap-claude-md-body' });
    const claudeMd = h('details', { class: 'ap-section ap-claude-md' }, h('summary', { text: 'CLAUDE.md' }), this.claudeMd);
    claudeMd.addEventListener('toggle', () => { if (claudeMd.open) this.loadClaudeMd(agentId); });
    replace(this.root,
      h('div', { class: 'ap-head' }, this.head, closeBtn),
      h('div', { class: 'ap-scroll' }, this.info, this.settings,
        h('section', { class: 'ap-section', 'aria-labelledby': 'ap-runs-title' },
          h('h3', { class: 'sub', id: 'ap-runs-title', text: 'Runs' }), this.runList),
        claudeMd,
        h('h3', { class: 'sub ap-activity-title', text: 'Activity' }),
        h('div', { class: 'ap-trace-wrap' }, scroller)));
    this.trace = new TraceView(scroller, this.store, { showAgent: false, max: 600, emptyText: 'No activity yet.' });
    this.renderInfo();
    const initial = this.eventsFor(agentId);
    this.trace.add(initial);
    this.loadHistory(agentId);
    replace(this.runList, h('p', { class: 'muted small', text: 'Loading runs…' }));
    this.loadRuns();
    if (this.unEscape) this.unEscape();
    this.unEscape = onEscape(() => { if (this.agentId) { this.close(); return true; } return false; });
    requestAnimationFrame(() => {
      this.root.classList.add('open');
      const title = this.root.querySelector('.ap-title');
      if (title) title.focus();
    });
    // Fresh agent details (session id, workspace) from the server.
    api.getAgent(agentId).then((agent) => this.store.setAgent(agent)).catch(() => {});
  }

  async loadHistory(agentId) {
    const head = this.headCursor();
    try {
      const events = await api.listEvents(this.store.teamId, { agent_id: agentId, after: head ? Math.max(0, head - 3000) : 0, limit: 3000 });
      if (this.agentId === agentId && this.trace) this.trace.add(events.slice(-200));
    } catch {
      // the page's own events are shown already
    }
  }

  close() {
    if (!this.agentId) return;
    const id = this.agentId;
    this.agentId = null;
    this.root.classList.remove('open');
    this.root.hidden = true;
    replace(this.root);
    this.trace = null;
    this.editor = null;
    this.reloadRuns.cancel();
    if (this.unEscape) { this.unEscape(); this.unEscape = null; }
    this.onClose(id);
  }

  /** Live events for the open agent. */
  add(events) {
    if (!this.agentId || !this.trace) return;
    const mine = events.filter((e) => e.agent_id === this.agentId);
    if (mine.length) this.trace.add(mine);
  }

  renderInfo() {
    if (!this.agentId || !this.info) return;
    const agent = this.store.agent(this.agentId);
    if (!agent) {
      replaceKeepingFocus(this.head, h('h2', { class: 'ap-title', tabindex: '-1', dataset: { focusKey: 'title' }, text: 'Agent not found' }));
      replace(this.info, h('p', { class: 'muted', text: 'This agent is no longer part of the team.' }));
      this.settings.hidden = true;
      return;
    }
    this.settings.hidden = false;
    if (this.editor) this.editor.sync(agent);
    else {
      this.editor = new AgentEditForm(agent, { onSaved: (saved) => this.store.setAgent(saved) });
      this.settings.append(this.editor.el);
    }
    const run = this.store.runFor(agent.id);
    const status = effectiveStatus(agent, run);
    const usage = this.store.agentUsage(agent.id);
    // Redrawn on every update of the agent: whatever had the focus here keeps it (the title has it on opening).
    replaceKeepingFocus(this.head,
      h('span', { class: 'ap-emoji', 'aria-hidden': 'true', text: agentEmoji(agent) }),
      h('div', {},
        h('h2', { class: 'ap-title', tabindex: '-1', dataset: { focusKey: 'title' } }, agent.name, agent.is_lead ? h('span', { class: 'tag tag-lead', text: 'lead' }) : null,
          agent.backend === 'demo' ? demoTag() : null),
        h('div', { class: 'muted small', text: agentRole(agent) }),
        h('div', { class: 'ap-status' }, statusDot(status), h('span', { text: STATUS_TEXT[status] || status }))));

    const cmd = resumeCommand(agent);
    const session = agent.session_id
      ? h('div', { class: 'ap-session' },
        h('code', { class: 'mono', title: agent.session_id, text: `${agent.session_id.slice(0, 12)}…` }),
        copyButton(() => resumeCommand(this.store.agent(this.agentId)), 'Copy resume command'))
      : h('span', { class: 'muted small', text: 'none yet: the first run starts one' });
    const wasOpen = this.info.querySelector('.ap-more') ? this.info.querySelector('.ap-more').open : false;

    const reset = h('button', { type: 'button', class: 'btn btn-sm', text: 'Reset session', dataset: { focusKey: 'reset' }, disabled: !agent.session_id || status === 'running' });
    reset.title = status === 'running' ? 'Stop the agent first' : 'Start the next run in a fresh session';
    reset.addEventListener('click', () => this.resetSession(agent));
    const stop = h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', text: 'Stop agent', dataset: { focusKey: 'stop' }, disabled: !['running', 'queued'].includes(status) && !this.store.runs.some((r) => r.agent_id === agent.id) });
    stop.addEventListener('click', () => this.stopAgent(agent));
    const archive = h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', text: agent.is_lead ? 'Archive lead' : 'Archive agent', dataset: { focusKey: 'archive' } });
    archive.addEventListener('click', () => this.archive(agent));

    replaceKeepingFocus(this.info,
      agent.specialization ? h('p', { class: 'ap-spec', text: agent.specialization }) : null,
      h('dl', { class: 'facts' },
        h('dt', { text: 'Now' }), h('dd', {}, statusLine(agent, run, status)),
        h('dt', { text: 'Context' }), h('dd', {}, contextBar(agent)),
        h('dt', { text: 'Spent' }), h('dd', {}, costText(agentCost(agent, usage)), h('span', { class: 'muted', text: ` · ${agentTurns(agent, usage) ?? '—'} turns` })),
        h('dt', { text: 'Session' }), h('dd', {}, session)),
      h('details', { class: 'ap-more', open: wasOpen },
        h('summary', { dataset: { focusKey: 'more' }, text: 'More: workspace, resume command, backend' }),
        h('dl', { class: 'facts' },
          h('dt', { text: 'Backend' }), h('dd', {}, agent.backend || 'claude', agent.model ? h('span', { class: 'muted', text: ` · ${agent.model}` }) : null),
          h('dt', { text: 'Last active' }), h('dd', { title: dateTime(agent.last_active_at), text: agent.last_active_at ? timeAgo(agent.last_active_at) : 'never' }),
          agent.workspace_path ? [h('dt', { text: 'Workspace' }), h('dd', { class: 'mono small wrap', text: agent.workspace_path })] : null,
          cmd ? [h('dt', { text: 'Resume' }), h('dd', { class: 'mono small wrap', text: cmd })] : null,
          h('dt', { text: 'Id' }), h('dd', { class: 'mono small', text: agent.id }))),
      h('div', { class: 'ap-actions' }, reset, stop, archive));
  }

  /** The agent's newest runs (`more`: the page after those shown). */
  async loadRuns({ more = false } = {}) {
    const agentId = this.agentId;
    if (!agentId) return;
    const before = more && this.agentRuns.length ? this.agentRuns[this.agentRuns.length - 1].id : undefined;
    // Refreshing, the list keeps as many runs as it shows (at least a page) so "older runs" stay put.
    const limit = more ? RUNS_PAGE : Math.max(RUNS_PAGE, this.agentRuns.length);
    try {
      const runs = await api.listAgentRuns(this.store.teamId, agentId, { before, limit });
      if (this.agentId !== agentId) return;
      this.agentRuns = more ? [...this.agentRuns, ...runs] : runs;
      this.runsComplete = runs.length < limit;
      this.renderRuns();
    } catch (err) {
      if (this.agentId === agentId) replace(this.runList, h('p', { class: 'field-error', role: 'alert', text: `Could not load the runs: ${err.message}` }));
    }
  }

  renderRuns() {
    if (!this.agentId || !this.runList) return;
    if (!this.agentRuns.length) {
      replace(this.runList, h('p', { class: 'muted small', text: 'No runs yet: it runs when it is given a task or a message.' }));
      return;
    }
    const older = this.runsComplete ? null
      : h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: 'Show older runs', onClick: () => this.loadRuns({ more: true }) });
    replace(this.runList, h('ul', { class: 'ap-run-list' }, this.agentRuns.map((run) => this.runRow(run))), older);
  }

  runRow(run) {
    const task = run.task_id ? this.store.tasks.get(run.task_id) : null;
    const what = task ? truncate(task.title, 80) : `${RUN_REASON[run.reason] || run.reason || 'run'} run`;
    const when = run.started_at
      ? h('span', { title: dateTime(run.started_at), dataset: { ago: run.started_at }, text: timeAgo(run.started_at) })
      : h('span', { title: dateTime(run.created_at) }, 'queued ', h('span', { dataset: { ago: run.created_at }, text: timeAgo(run.created_at) }));
    let took = null;
    if (run.state === 'running' && run.started_at) took = h('span', { class: 'mono', title: 'Elapsed', dataset: { since: run.started_at }, text: elapsedSince(run.started_at) });
    else if (run.duration_ms != null) took = duration(run.duration_ms);
    else if (run.started_at && run.ended_at) took = duration(new Date(run.ended_at) - new Date(run.started_at));
    const bits = [when, took, run.cost_usd != null ? money(run.cost_usd) : null].filter(Boolean);
    return h('li', {},
      h('a', { class: 'ap-run', href: `/runs/${encodeURIComponent(run.id)}`, dataset: { runId: run.id, state: run.state } },
        h('span', { class: 'ap-run-top' },
          h('span', { class: `badge ${RUN_BADGE[run.state] || 'stage-failed'}`, text: run.state }),
          h('span', { class: 'ap-run-what', text: what })),
        h('span', { class: 'ap-run-meta muted small' }, bits.flatMap((b, i) => (i ? [' · ', b] : [b])))));
  }

  /** The CLAUDE.md its next run gets, fetched each time the section opens (it is generated for every run). */
  async loadClaudeMd(agentId) {
    replace(this.claudeMd, h('p', { class: 'muted small', text: 'Loading…' }));
    try {
      const content = await api.agentClaudeMd(agentId);
      if (this.agentId !== agentId) return;
      replace(this.claudeMd,
        h('div', { class: 'ap-claude-md-bar' },
          h('span', { class: 'hint', text: 'Generated by Gamma before each run, from the team and its role.' }),
          copyButton(content, 'Copy')),
        h('pre', { class: 'ap-claude-md-text mono', tabindex: '0', 'aria-label': 'CLAUDE.md', text: content }));
    } catch (err) {
      if (this.agentId === agentId) replace(this.claudeMd, h('p', { class: 'field-error', role: 'alert', text: `Could not load its CLAUDE.md: ${err.message}` }));
    }
  }

  async resetSession(agent) {
    const ok = await confirmDialog({
      title: `Reset ${agent.name}'s session?`,
      message: 'The next run starts a fresh Claude session.',
      consequences: ['The agent forgets this conversation (its files and notes in the workspace stay).', 'The old session can still be resumed by hand with the copied command.'],
      confirmLabel: 'Reset session',
    });
    if (!ok) return;
    try {
      this.store.setAgent(await api.resetSession(agent.id));
      toast(`${agent.name} will start a fresh session`, 'success');
    } catch (err) {
      toastError(err, 'Reset failed');
    }
  }

  async stopAgent(agent) {
    try {
      await api.stopAgent(agent.id);
      toast(`Stopping ${agent.name}: its runs are cancelled, and it waits until you give it work`, 'success');
      this.onChanged();
    } catch (err) {
      toastError(err, 'Stop failed');
    }
  }

  async archive(agent) {
    const consequences = [
      'Its running run is stopped and its queued runs are cancelled.',
      'Its unfinished tasks are cancelled (retry them to hand them to someone else).',
      'It leaves the team map for good; its history stays in the log.',
    ];
    if (agent.is_lead) consequences.push('The team has no lead until you add one: chat messages cannot be answered.');
    const ok = await confirmDialog({
      title: `Archive ${agent.name}?`, consequences, confirmLabel: 'Archive', danger: true,
    });
    if (!ok) return;
    try {
      await api.archiveAgent(agent.id);
      this.store.patchAgent(agent.id, { status: 'archived' });
      toast(`${agent.name} archived`, 'success');
      this.close();
      this.onChanged();
    } catch (err) {
      toastError(err, 'Archive failed');
    }
  }
}
