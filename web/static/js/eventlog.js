// The team's live event log: filters by agent and kind, "load earlier", and the trace itself.

import { api } from './api.js';
import { h, replace } from './dom.js';
import { loadError } from './loaderror.js';
import { TraceView } from './trace.js';
import { toastError } from './toast.js';
import { vocabulary, words } from './vocabulary.js';

const HISTORY = 300;

const KIND_GROUPS = [
  ['', 'All kinds'],
  ['group:output', 'Agent output (text, tools, thinking)'],
  ['group:tools', 'Tool calls'],
  ['group:thinking', 'Thinking'],
  ['group:runs', 'Runs'],
  ['group:tasks', 'Tasks'],
  ['group:messages', 'Chat & messages'],
  ['group:status', 'Status & team'],
];

function matchKind(kind, filter) {
  if (!filter) return true;
  if (!filter.startsWith('group:')) return kind === filter;
  switch (filter.slice(6)) {
    case 'output': return ['agent.text', 'agent.tool_use', 'agent.tool_result', 'agent.thinking', 'agent.result'].includes(kind);
    case 'tools': return kind === 'agent.tool_use' || kind === 'agent.tool_result';
    case 'thinking': return kind === 'agent.thinking';
    case 'runs': return kind.startsWith('run.');
    case 'tasks': return kind.startsWith('task.');
    case 'messages': return kind.startsWith('chat.') || kind.startsWith('message.');
    case 'status': return kind.startsWith('team.') || kind === 'agent.status' || kind === 'agent.updated' || kind === 'agent.init';
    default: return true;
  }
}

export class EventLog {
  constructor(root, store, { onCount } = {}) {
    this.root = root;
    this.store = store;
    this.onCount = onCount || (() => {});
    this.kinds = new Set();
    this.agentFilter = '';
    this.kindFilter = '';
    this.visible = false;
    this.unseen = 0;

    this.agentSelect = h('select', { class: 'input input-sm', id: 'log-agent', 'aria-label': 'Filter by agent' });
    this.kindSelect = h('select', { class: 'input input-sm', id: 'log-kind', 'aria-label': 'Filter by kind' });
    this.earlier = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: 'Load earlier' });
    this.scroller = h('div', { class: 'log-scroll', tabindex: '0', 'aria-label': 'Event log' });
    replace(root,
      h('div', { class: 'log-bar' }, this.agentSelect, this.kindSelect, this.earlier),
      h('div', { class: 'log-wrap' }, this.scroller));
    this.trace = new TraceView(this.scroller, store, { emptyText: 'No events yet. They appear here as the team works.' });

    this.agentSelect.addEventListener('change', () => { this.agentFilter = this.agentSelect.value; this.applyFilter(); });
    this.kindSelect.addEventListener('change', () => { this.kindFilter = this.kindSelect.value; this.applyFilter(); });
    this.earlier.addEventListener('click', () => this.loadEarlier());
    store.on('agents', () => this.renderAgentOptions());
    this.renderAgentOptions();
    this.renderKindOptions();
    vocabulary().then(() => this.renderKindOptions());
  }

  applyFilter() {
    const agent = this.agentFilter;
    const kind = this.kindFilter;
    this.trace.setFilter((ev) => (!agent || ev.agent_id === agent) && matchKind(ev.kind, kind));
  }

  renderAgentOptions() {
    const current = this.agentSelect.value;
    replace(this.agentSelect, h('option', { value: '', text: 'All agents' }),
      [...this.store.agents.values()].map((a) => h('option', { value: a.id, text: `${a.name}${a.status === 'archived' ? ' (archived)' : ''}` })));
    this.agentSelect.value = current;
  }

  /** The groups, then every exact kind: the server's (vocabulary.js, in its order), then any other seen. */
  renderKindOptions() {
    const current = this.kindSelect.value;
    const known = words().event_kinds;
    const exact = [...known, ...[...this.kinds].filter((k) => !known.includes(k)).sort()];
    replace(this.kindSelect,
      KIND_GROUPS.map(([value, label]) => h('option', { value, text: label })),
      exact.length ? h('optgroup', { label: 'Exact kind' }, exact.map((k) => h('option', { value: k, text: k }))) : null);
    this.kindSelect.value = current;
  }

  setVisible(visible) {
    this.visible = visible;
    if (visible) {
      this.unseen = 0;
      this.onCount(0);
      requestAnimationFrame(() => this.trace.scrollToEnd());
    }
  }

  /** Events from the stream or from history (`history`: not counted as unseen). */
  add(events, { history = false } = {}) {
    const fresh = this.trace.add(events);
    let newKind = false;
    for (const e of fresh) if (!this.kinds.has(e.kind)) { this.kinds.add(e.kind); newKind = true; }
    if (newKind) this.renderKindOptions();
    if (!this.visible && !history && fresh.length) {
      this.unseen += fresh.length;
      this.onCount(this.unseen);
    }
  }

  /** Initial history: the last HISTORY events before (and including) `head`. Returns the last cursor seen. */
  async loadHistory(head) {
    const after = head === null || head === undefined ? 0 : Math.max(0, head - HISTORY);
    try {
      const events = await api.listEvents(this.store.teamId, { after, limit: head ? HISTORY + 50 : 1000 });
      // Without a known head, keep only the tail.
      this.add(events.slice(-HISTORY), { history: true });
      this.earlier.hidden = (this.trace.firstCursor() ?? 1) <= 1;
      return events.length ? events[events.length - 1].cursor : head;
    } catch (err) {
      // Said in the log itself (not only in a toast that fades): without it the log would read "no events yet".
      this.failed = loadError('The event history', err, async () => {
        this.failed.remove();
        this.failed = null;
        await this.loadHistory(head);
      }, { id: 'log-retry' });
      this.scroller.prepend(this.failed);
      this.trace.empty.hidden = true;
      return head;
    }
  }

  async loadEarlier() {
    const first = this.trace.firstCursor();
    if (!first || first <= 1) { this.earlier.hidden = true; return; }
    const after = Math.max(0, first - 1 - HISTORY);
    this.earlier.disabled = true;
    try {
      const events = await api.listEvents(this.store.teamId, { after, limit: first - 1 - after });
      this.trace.max += events.length;
      this.add(events.filter((e) => e.cursor < first), { history: true });
      this.earlier.hidden = after === 0;
      this.scroller.scrollTop = 0;
    } catch (err) {
      toastError(err, 'Could not load earlier events');
    } finally {
      this.earlier.disabled = false;
    }
  }
}
