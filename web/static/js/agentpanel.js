// The agent panel: a slide-over with the agent's state, session (with a copyable resume command), actions
// (reset session, stop, archive with confirmation) and its live activity.

import {
  agentCost, agentEmoji, agentRole, agentTurns, contextBar, costText, demoTag, effectiveStatus, statusDot, statusLine, STATUS_TEXT,
} from './agentview.js';
import { api } from './api.js';
import { confirmDialog } from './dialog.js';
import { copyButton, h, replace } from './dom.js';
import { dateTime, timeAgo } from './format.js';
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
    store.on('agents', () => this.renderInfo());
    store.on('runs', () => this.renderInfo());
    store.on('usage', () => this.renderInfo());
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
    replace(this.root,
      h('div', { class: 'ap-head' }, this.head, closeBtn),
      h('div', { class: 'ap-scroll' }, this.info,
        h('h3', { class: 'sub ap-activity-title', text: 'Activity' }),
        h('div', { class: 'ap-trace-wrap' }, scroller)));
    this.trace = new TraceView(scroller, this.store, { showAgent: false, max: 600, emptyText: 'No activity yet.' });
    this.renderInfo();
    const initial = this.eventsFor(agentId);
    this.trace.add(initial);
    this.loadHistory(agentId);
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
      replace(this.head, h('h2', { class: 'ap-title', tabindex: '-1', text: 'Agent not found' }));
      replace(this.info, h('p', { class: 'muted', text: 'This agent is no longer part of the team.' }));
      return;
    }
    const run = this.store.runFor(agent.id);
    const status = effectiveStatus(agent, run);
    const usage = this.store.agentUsage(agent.id);
    replace(this.head,
      h('span', { class: 'ap-emoji', 'aria-hidden': 'true', text: agentEmoji(agent) }),
      h('div', {},
        h('h2', { class: 'ap-title', tabindex: '-1' }, agent.name, agent.is_lead ? h('span', { class: 'tag tag-lead', text: 'lead' }) : null,
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

    const reset = h('button', { type: 'button', class: 'btn btn-sm', text: 'Reset session', disabled: !agent.session_id || status === 'running' });
    reset.title = status === 'running' ? 'Stop the agent first' : 'Start the next run in a fresh session';
    reset.addEventListener('click', () => this.resetSession(agent));
    const stop = h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', text: 'Stop agent', disabled: !['running', 'queued'].includes(status) && !this.store.runs.some((r) => r.agent_id === agent.id) });
    stop.addEventListener('click', () => this.stopAgent(agent));
    const archive = h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', text: agent.is_lead ? 'Archive lead' : 'Archive agent' });
    archive.addEventListener('click', () => this.archive(agent));

    replace(this.info,
      agent.specialization ? h('p', { class: 'ap-spec', text: agent.specialization }) : null,
      h('dl', { class: 'facts' },
        h('dt', { text: 'Now' }), h('dd', {}, statusLine(agent, run, status)),
        h('dt', { text: 'Context' }), h('dd', {}, contextBar(agent)),
        h('dt', { text: 'Spent' }), h('dd', {}, costText(agentCost(agent, usage)), h('span', { class: 'muted', text: ` · ${agentTurns(agent, usage) ?? '—'} turns` })),
        h('dt', { text: 'Session' }), h('dd', {}, session)),
      h('details', { class: 'ap-more', open: wasOpen },
        h('summary', { text: 'More: workspace, resume command, backend' }),
        h('dl', { class: 'facts' },
          h('dt', { text: 'Backend' }), h('dd', {}, agent.backend || 'claude', agent.model ? h('span', { class: 'muted', text: ` · ${agent.model}` }) : null),
          h('dt', { text: 'Last active' }), h('dd', { title: dateTime(agent.last_active_at), text: agent.last_active_at ? timeAgo(agent.last_active_at) : 'never' }),
          agent.workspace_path ? [h('dt', { text: 'Workspace' }), h('dd', { class: 'mono small wrap', text: agent.workspace_path })] : null,
          cmd ? [h('dt', { text: 'Resume' }), h('dd', { class: 'mono small wrap', text: cmd })] : null,
          h('dt', { text: 'Id' }), h('dd', { class: 'mono small', text: agent.id }))),
      h('div', { class: 'ap-actions' }, reset, stop, archive));
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
