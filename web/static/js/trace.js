// A live trace of events: one row per event, tool calls paired with their results (collapsible), thinking
// collapsed, everything as text. Used by the team's event log and by the agent panel; the trace page
// (tracepage.js) draws its rows with eventRow.

import { agentChip, demoTag } from './agentview.js';
import { h, replace } from './dom.js';
import {
  contentText, dateTime, duration, money, preview, pretty, timeOfDay, truncate,
} from './format.js';
import { formatTool, toolInputSummary } from './tools.js';

const KIND_CLASS = {
  agent: 'k-agent', run: 'k-run', task: 'k-task', chat: 'k-chat', message: 'k-msg', team: 'k-team',
};

function kindBadge(kind) {
  const family = String(kind).split('.')[0];
  return h('span', { class: `kind ${KIND_CLASS[family] || ''}`, text: kind });
}

function pre(text, cls = '') {
  return h('pre', { class: `ev-pre ${cls}`.trim(), tabindex: '0', text });
}

function details(summary, body, { open = false, cls = '' } = {}) {
  return h('details', { class: `ev-details ${cls}`.trim(), open }, h('summary', {}, summary), body);
}

/** The body of one event row (without time and agent), by kind. */
function eventBody(ev, store) {
  const p = ev.payload || {};
  switch (ev.kind) {
    case 'agent.thinking':
      return details([h('span', { class: 'ev-icon', 'aria-hidden': 'true', text: '💭' }), 'Thinking ', h('span', { class: 'muted', text: preview(p.text, 90) })],
        pre(String(p.text || '')), { cls: 'ev-thinking' });
    case 'agent.text':
      return h('div', { class: 'ev-text' }, String(p.text || ''));
    case 'agent.tool_use': {
      const t = formatTool(p.name, p.input);
      const slot = h('div', { class: 'ev-result-slot' }, h('p', { class: 'muted small', text: 'Waiting for the result…' }));
      const summary = h('span', { class: 'ev-tool-sum' },
        h('span', { class: 'ev-icon', 'aria-hidden': 'true', text: t.icon }),
        h('strong', { text: p.name || 'tool' }), ' ',
        h('span', { class: 'mono muted', text: truncate(toolInputSummary(p.name, p.input), 110) }),
        h('span', { class: 'ev-tool-state', 'aria-label': 'running', title: 'waiting for result', text: '…' }));
      const node = details(summary, h('div', { class: 'ev-tool-body' },
        h('div', { class: 'ev-sub', text: 'Input' }), pre(pretty(p.input ?? {}), 'mono'),
        h('div', { class: 'ev-sub', text: 'Result' }), slot), { cls: 'ev-tool' });
      node.gammaSlot = slot;
      return node;
    }
    case 'agent.tool_result':
      return details([h('span', { class: 'ev-icon', 'aria-hidden': 'true', text: p.is_error ? '⛔' : '↩️' }),
        `Result of ${p.name || 'a tool call'} `, h('span', { class: 'muted mono', text: preview(contentText(p.content), 90) })],
      pre(contentText(p.content), p.is_error ? 'ev-err' : ''), { cls: 'ev-tool' });
    case 'agent.init':
      return h('span', {}, '🟢 Session ', h('span', { class: 'mono', text: p.session_id ? truncate(p.session_id, 14) : 'started' }),
        p.model ? h('span', { class: 'muted', text: ` · ${p.model}` }) : null,
        Array.isArray(p.tools) ? h('span', { class: 'muted', text: ` · ${p.tools.length} tools` }) : null);
    case 'agent.result':
      // workers/stream_parser.py: {is_error, result, num_turns, duration_ms, total_cost_usd (null when the
      // backend reports no price, as codex), …}; run.finished below carries the run's own `cost_usd`.
      return h('span', {}, p.is_error ? '⚠️ Result (error)' : '🏁 Result',
        h('span', { class: 'muted ev-result-facts', text: [p.num_turns != null ? ` · ${p.num_turns} turns` : '', p.total_cost_usd != null ? ` · ${money(p.total_cost_usd)}` : '', p.duration_ms != null ? ` · ${duration(p.duration_ms)}` : ''].join('') }),
        p.result ? details(h('span', { class: 'muted', text: preview(p.result, 90) }), pre(String(p.result))) : null);
    case 'agent.rate_limit':
      return h('span', { class: 'warn' }, '⏸ Rate limited', h('span', { class: 'muted', text: ` ${preview(p, 100)}` }));
    case 'run.queued':
      return h('span', {}, '🕓 Run queued', h('span', { class: 'muted', text: p.reason ? ` · ${p.reason}` : '' }), p.backend === 'demo' ? demoTag() : null);
    case 'run.started':
      return h('span', {}, '▶️ Run started', h('span', { class: 'muted', text: `${p.attempt > 1 ? ` · attempt ${p.attempt}` : ''}${p.resume_session ? ' · resuming session' : ''}${p.host ? ` · ${p.host}` : ''}` }),
        p.backend === 'demo' ? demoTag() : null);
    case 'run.finished': {
      const ok = p.state === 'succeeded';
      const bits = [p.outcome && p.outcome !== 'success' ? p.outcome : '', p.num_turns != null ? `${p.num_turns} turns` : '',
        p.cost_usd != null ? money(p.cost_usd) : '', p.duration_ms != null ? duration(p.duration_ms) : ''].filter(Boolean);
      return h('span', { class: ok ? '' : 'warn' }, ok ? '✅ Run finished' : `⛔ Run ${p.state || 'ended'}`,
        h('span', { class: 'muted', text: bits.length ? ` · ${bits.join(' · ')}` : '' }),
        p.error ? details(h('span', { class: 'err', text: truncate(p.error, 90) }), pre(String(p.error), 'ev-err')) : null);
    }
    case 'run.requeued':
      return h('span', {}, '🔁 Run re-queued', h('span', { class: 'muted', text: ` · ${p.outcome || ''}${p.error ? ` · ${truncate(p.error, 80)}` : ''}` }));
    case 'run.cancel_requested':
      return h('span', {}, '✋ Cancel requested');
    case 'run.session_restored': // {session_id, bytes, host, stored_by_host, replaced, ...}
      return h('span', {}, '📦 Session brought to this host', h('span', { class: 'muted', text: ` · ${p.host || ''}${p.stored_by_host ? ` (stored by ${p.stored_by_host})` : ''}${p.replaced ? ' · replaced an older copy' : ''}` }));
    case 'task.created': {
      const title = p.title || (store.tasks.get(ev.task_id) || {}).title || ev.task_id;
      return h('span', {}, '📋 Task created: ', h('strong', { text: title || '' }));
    }
    case 'task.updated': {
      const title = p.title || (store.tasks.get(ev.task_id) || {}).title || ev.task_id || '';
      return h('span', {}, '🔄 ', h('strong', { text: truncate(title, 60) }), ' ',
        p.from || p.to ? h('span', { class: 'muted', text: `${p.from || '?'} → ${p.to || '?'}` }) : h('span', { class: 'muted', text: preview(p, 80) }));
    }
    case 'chat.message':
      return h('span', {}, '💬 ', h('span', { class: 'muted', text: `${p.kind || p.role || ''}: ` }), preview(p.content, 110));
    case 'chat.updated': // the lead's answer grew (final: false) or was finished
      return h('span', {}, '💬 ', h('span', { class: 'muted', text: p.final ? 'answer, final: ' : 'answer, writing: ' }), preview(p.content, 110));
    case 'message.sent': {
      // {id, from, from_agent_id, to (name), to_agent_id, content, preview}
      const to = store.agent(p.to_agent_id);
      return h('span', {}, '✉️ to ', h('strong', { text: to ? to.name : p.to }), ': ', h('span', { class: 'muted', text: preview(p.content, 100) }));
    }
    case 'message.broadcast':
      return h('span', {}, '📢 Broadcast: ', h('span', { class: 'muted', text: preview(p.content, 100) }));
    case 'agent.status':
      return h('span', {}, 'Status ', h('span', { class: 'muted', text: `${p.from} → ${p.to}` }));
    case 'task.assigned':
      return h('span', {}, '👉 Task handed to ', h('strong', { text: p.to || '?' }), p.from ? h('span', { class: 'muted', text: ` (was ${p.from})` }) : null);
    case 'round.opened':
      return h('span', { class: 'muted' }, '🔵 Round opened');
    case 'round.waking': {
      const n = Array.isArray(p.tasks) ? p.tasks.length : 0;
      return h('span', {}, '⏰ Waking the lead', h('span', { class: 'muted', text: ` · ${n} task${n === 1 ? '' : 's'} settled` }));
    }
    case 'round.closed':
    case 'round.cancelled':
      return h('span', { class: 'muted' }, ev.kind === 'round.closed' ? '⚪ Round closed' : '⚪ Round cancelled', p.reason ? ` · ${p.reason}` : '');
    case 'agent.created':
      return h('span', {}, '➕ ', h('strong', { text: p.name || 'Agent' }), ' joined', h('span', { class: 'muted', text: `${p.role_id ? ` · ${p.role_id}` : ''}${p.is_lead ? ' · lead' : ''}` }));
    case 'agent.archived':
      return h('span', {}, '🗄️ ', h('strong', { text: p.name || 'Agent' }), ' archived');
    case 'agent.stopped':
      return h('span', {}, '✋ Agent stopped', h('span', { class: 'muted', text: Array.isArray(p.cancelled_runs) ? ` · ${p.cancelled_runs.length} run(s) cancelled` : '' }));
    case 'agent.session_reset':
      return h('span', {}, '♻️ Session reset');
    case 'agent.updated':
    case 'team.updated':
      return h('span', {}, '✎ Changed ', h('span', { class: 'muted', text: Object.keys(p.changes || {}).join(', ') || preview(p, 80) }));
    case 'team.created':
      return h('span', {}, '✨ Team created: ', h('strong', { text: p.name || '' }));
    case 'team.stopped':
      return h('span', { class: 'warn' }, '✋ Team stopped', h('span', { class: 'muted', text: Array.isArray(p.cancelled_runs) ? ` · ${p.cancelled_runs.length} run(s) cancelled` : '' }));
    case 'team.archived':
      return h('span', { class: 'warn' }, '🗄️ Team archived');
    case 'team.goal_done':
      return h('span', { class: 'ok' }, '🎯 Goal done', p.summary ? h('span', { class: 'muted', text: ` · ${preview(p.summary, 100)}` }) : null);
    default:
      return details(h('span', { class: 'muted', text: preview(p, 110) || '(no payload)' }), pre(pretty(p)));
  }
}

export class TraceView {
  /**
   * @param {HTMLElement} container  the scrolling element
   * @param {TeamStore} store
   * @param {object} opts  showAgent: include the agent chip; max: rows kept
   */
  constructor(container, store, { showAgent = true, max = 2000, emptyText = 'No events yet.' } = {}) {
    this.container = container;
    this.store = store;
    this.showAgent = showAgent;
    this.max = max;
    this.events = []; // sorted by cursor
    this.seen = new Set();
    this.toolSlots = new Map(); // tool_use_id → {slot, state, row}
    this.filter = () => true;
    this.list = h('ol', { class: 'trace', 'aria-label': 'Events' });
    this.empty = h('p', { class: 'empty', text: emptyText });
    this.more = h('button', { type: 'button', class: 'btn btn-sm trace-new', hidden: true });
    this.more.addEventListener('click', () => this.scrollToEnd());
    this.unread = 0;
    container.append(this.empty, this.list);
    container.after(this.more);
    container.addEventListener('scroll', () => { if (this.atEnd()) this.clearUnread(); });
  }

  atEnd() {
    const c = this.container;
    return c.scrollHeight - c.scrollTop - c.clientHeight < 60;
  }

  scrollToEnd() {
    this.container.scrollTop = this.container.scrollHeight;
    this.clearUnread();
  }

  clearUnread() {
    this.unread = 0;
    this.more.hidden = true;
  }

  setFilter(fn) {
    this.filter = fn || (() => true);
    for (const row of this.list.children) row.hidden = !this.filter(row.gammaEvent);
    this.updateEmpty();
    this.scrollToEnd();
  }

  updateEmpty() {
    const visible = Array.from(this.list.children).some((r) => !r.hidden);
    this.empty.hidden = visible;
  }

  /** Add events (any order); older ones than what is shown trigger a full re-render. */
  add(events) {
    const fresh = events.filter((e) => e && typeof e.cursor === 'number' && !this.seen.has(e.cursor));
    if (!fresh.length) return [];
    fresh.sort((a, b) => a.cursor - b.cursor);
    for (const e of fresh) this.seen.add(e.cursor);
    const last = this.events.length ? this.events[this.events.length - 1].cursor : -Infinity;
    const follow = this.atEnd();
    if (fresh[0].cursor < last) {
      this.events = [...this.events, ...fresh].sort((a, b) => a.cursor - b.cursor);
      this.trim();
      this.rerender();
    } else {
      this.events.push(...fresh);
      let added = 0;
      for (const e of fresh) if (this.appendRow(e)) added += 1;
      if (this.trim()) this.rerender();
      if (follow) this.scrollToEnd();
      else if (added) {
        this.unread += added;
        this.more.textContent = `${this.unread} new ↓`;
        this.more.hidden = false;
      }
    }
    this.updateEmpty();
    return fresh;
  }

  trim() {
    if (this.events.length <= this.max) return false;
    const drop = this.events.splice(0, this.events.length - this.max);
    for (const e of drop) this.seen.delete(e.cursor);
    return true;
  }

  rerender() {
    this.toolSlots.clear();
    this.list.replaceChildren();
    for (const e of this.events) this.appendRow(e);
    this.scrollToEnd();
  }

  firstCursor() {
    return this.events.length ? this.events[0].cursor : null;
  }

  /** Append one row; a tool result fills its call's row instead. Returns true when a visible row was added. */
  appendRow(ev) {
    const p = ev.payload || {};
    if (ev.kind === 'agent.tool_result' && p.tool_use_id && this.toolSlots.has(p.tool_use_id)) {
      fillToolResult(this.toolSlots.get(p.tool_use_id), p);
      return false;
    }
    const row = eventRow(ev, this.store, { showAgent: this.showAgent });
    row.hidden = !this.filter(ev);
    if (row.gammaToolSlot) this.toolSlots.set(p.tool_use_id, { ...row.gammaToolSlot, row });
    this.list.append(row);
    return !row.hidden;
  }
}

/**
 * One event's row (`li.ev`), as the trace lists draw it. `lead`: nodes put after the time (the trace page's
 * team). A tool call's row carries `gammaToolSlot` {slot, state}: where its result goes (fillToolResult).
 */
export function eventRow(ev, store, { showAgent = true, lead = null } = {}) {
  const body = eventBody(ev, store);
  const agent = ev.agent_id ? store.agent(ev.agent_id) : null;
  const row = h('li', { class: ['ev', `ev-${String(ev.kind).replace(/\./g, '-')}`], dataset: { kind: ev.kind, cursor: ev.cursor, agentId: ev.agent_id || '' } },
    h('time', { class: 'ev-time', datetime: ev.created_at, title: `${dateTime(ev.created_at)} · #${ev.cursor}`, text: timeOfDay(ev.created_at) }),
    lead,
    showAgent ? h('span', { class: 'ev-agent' }, ev.agent_id ? agentChip(agent, ev.agent_id) : h('span', { class: 'muted', text: 'Gamma' })) : null,
    kindBadge(ev.kind),
    h('div', { class: 'ev-body' }, body));
  row.gammaEvent = ev;
  const p = ev.payload || {};
  if (ev.kind === 'agent.tool_use' && p.tool_use_id && body.gammaSlot) {
    row.gammaToolSlot = { slot: body.gammaSlot, state: body.querySelector('.ev-tool-state') };
  }
  return row;
}

/** Show a tool result (an agent.tool_result event's payload) in its call's row. */
export function fillToolResult({ slot, state, row }, p) {
  replace(slot, pre(contentText(p.content) || '(empty)', p.is_error ? 'ev-err' : ''));
  state.textContent = p.is_error ? '✗' : '✓';
  state.className = `ev-tool-state ${p.is_error ? 'err' : 'ok'}`;
  state.setAttribute('aria-label', p.is_error ? 'failed' : 'done');
  state.title = p.is_error ? 'the tool reported an error' : 'done';
  row.classList.toggle('is-error', Boolean(p.is_error));
}
