// Chat with the lead: history with upward paging, live messages, optimistic sends, wake-ups collapsed.

import { agentEmoji, agentName, demoTag } from './agentview.js';
import { api } from './api.js';
import { append, copyButton, h, replace } from './dom.js';
import { agentColor, dateTime, firstLine, timeOfDay, toDate, truncate } from './format.js';
import { renderMarkdown } from './markdown.js';
import { toastError } from './toast.js';

const PAGE = 30;
const GROUP_MS = 60_000;
const COLLAPSE_PX = 320;

// What a message is, as the server says in `msg.kind` (one of vocabulary().chat_kinds): `user` (the person),
// `answer` (the lead's reply), `wake` (the orchestrator's prompt waking the lead; shown collapsed) or `notice`
// (a system notice). A message from a server that does not send `kind` yet is read by its role alone.
const KIND_OF_ROLE = { user: 'user', assistant: 'answer', system: 'notice' };

export function kindOf(msg) {
  return msg.kind || KIND_OF_ROLE[msg.role] || 'notice';
}

// The server numbers each team's messages in the order they were written (`seq`); a message being sent has
// none yet and goes last.
function sortKey(msg) {
  return msg.seq != null ? String(msg.seq).padStart(15, '0') : '9'.repeat(15) + (msg.id || '');
}

export class Chat {
  constructor(root, store, { activityHost }) {
    this.root = root;
    this.store = store;
    this.messages = new Map(); // id → message (temp ids start with "temp_")
    this.waiting = new Map(); // id of a message sent from here → the lead run that will read it, until it starts
    this.started = new Set(); // runs seen starting (a fast start can beat the POST's answer)
    this.hasMore = true;
    this.loadingOlder = false;
    this.loaded = false;
    this.build(activityHost);
    store.on('agents', () => this.renderHeader());
    store.on('team', () => this.renderHeader());
  }

  build(activityHost) {
    this.title = h('div', { class: 'chat-title' });
    this.list = h('div', { class: 'chat-list', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Conversation', tabindex: '0' });
    this.top = h('div', { class: 'chat-top muted small', text: '' });
    this.scroller = h('div', { class: 'chat-scroll' }, this.top, this.list);
    this.jump = h('button', { type: 'button', class: 'btn btn-sm chat-jump', hidden: true, text: 'New messages ↓' });
    this.jump.addEventListener('click', () => this.scrollToBottom(true));
    this.input = h('textarea', {
      id: 'chat-input', class: 'input chat-input', rows: 1, maxlength: 100000,
      placeholder: 'Message the lead…  (Enter to send, Shift+Enter for a new line)', 'aria-label': 'Message to the lead',
    });
    this.send = h('button', { type: 'submit', class: 'btn btn-primary chat-send', text: 'Send', 'aria-label': 'Send message' });
    this.form = h('form', { class: 'chat-form' }, this.input, this.send);
    this.activity = activityHost;
    replace(this.root,
      h('div', { class: 'col-head chat-head' }, this.title),
      h('div', { class: 'chat-body' }, this.scroller, this.jump),
      h('div', { class: 'chat-foot' }, this.activity, this.form));

    this.input.addEventListener('input', () => this.autoGrow());
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.submit();
      }
    });
    this.form.addEventListener('submit', (ev) => { ev.preventDefault(); this.submit(); });
    // The view follows the newest message until the user scrolls up (only that unsticks it: a smooth scroll to the
    // bottom, still under way while more messages arrive, must not), and again once they are back at the bottom.
    this.stuck = true;
    this.lastTop = 0;
    this.scroller.addEventListener('scroll', () => {
      const top = this.scroller.scrollTop;
      if (top < 80) this.loadOlder();
      if (top < this.lastTop - 2) this.stuck = this.nearBottom();
      else if (this.nearBottom()) this.stuck = true;
      this.lastTop = top;
      if (this.stuck) this.jump.hidden = true;
    });
    // The chat's area shrinks when activity pills appear below it (or the input grows): keep the newest message in
    // view rather than letting it slide under them.
    new ResizeObserver(() => { if (this.stuck) this.scroller.scrollTop = this.scroller.scrollHeight; }).observe(this.scroller);
  }

  /** A lead run started: the messages it reads are no longer waiting. */
  runStarted(runId) {
    this.started.add(runId);
    let changed = false;
    for (const [id, waitingFor] of this.waiting) if (waitingFor === runId) { this.waiting.delete(id); changed = true; }
    if (changed) this.render();
  }

  leadBusy() {
    const lead = this.store.lead ? this.store.lead() : null;
    return Boolean(lead && ['running', 'queued'].includes(lead.status));
  }

  focus() {
    this.input.focus();
  }

  renderHeader() {
    const lead = this.store.lead();
    const archived = this.store.team && this.store.team.status === 'archived';
    this.input.disabled = Boolean(archived || (this.store.team && !lead));
    this.send.disabled = this.input.disabled || Boolean(this.sending);
    if (archived) this.input.placeholder = 'This team is archived: it cannot take new messages.';
    else if (this.store.team && !lead) this.input.placeholder = 'This team has no lead: add an agent as its lead to chat.';
    replace(this.title,
      h('h2', {}, 'Chat', lead ? [' with ', h('span', { class: 'chat-lead', text: `${agentEmoji(lead)} ${lead.name}` })] : null),
      lead && lead.backend === 'demo' ? demoTag() : null);
  }

  autoGrow() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 180)}px`;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 150;
  }

  scrollToBottom(smooth = false) {
    this.stuck = true;
    this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: smooth ? 'smooth' : 'auto' });
    this.jump.hidden = true;
  }

  async load() {
    try {
      const body = await api.listMessages(this.store.teamId, { limit: PAGE });
      for (const m of body.messages) this.messages.set(m.id, m);
      this.hasMore = body.has_more;
    } catch (err) {
      toastError(err, 'Could not load the chat');
      this.hasMore = false;
    }
    this.loaded = true;
    this.render();
    this.scrollToBottom();
  }

  async loadOlder() {
    if (!this.loaded || this.loadingOlder || !this.hasMore) return;
    const oldest = this.sorted().find((m) => !String(m.id).startsWith('temp_'));
    if (!oldest) return;
    this.loadingOlder = true;
    this.top.textContent = 'Loading older messages…';
    try {
      const body = await api.listMessages(this.store.teamId, { before: oldest.id, limit: PAGE });
      const before = this.scroller.scrollHeight;
      const top = this.scroller.scrollTop;
      let added = 0;
      for (const m of body.messages) if (!this.messages.has(m.id)) { this.messages.set(m.id, m); added += 1; }
      this.hasMore = body.has_more && added > 0;
      this.render();
      this.scroller.scrollTop = top + (this.scroller.scrollHeight - before);
    } catch (err) {
      toastError(err, 'Could not load older messages');
    } finally {
      this.loadingOlder = false;
    }
  }

  sorted() {
    return [...this.messages.values()].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
  }

  /** A chat.updated event: the lead's answer grew, or became final. The message is replaced in place. */
  update(msg) {
    if (!msg || !msg.id) return;
    const known = this.messages.get(msg.id);
    if (!known) { this.receive(msg); return; }
    const stick = this.stuck;
    this.messages.set(msg.id, { ...known, ...msg });
    this.render();
    if (stick) this.scrollToBottom(false);
  }

  /** A chat.message event (or the POST's echo). */
  receive(msg) {
    if (!msg || !msg.id || this.messages.has(msg.id)) return;
    // Reconcile with an optimistic copy of the same text.
    for (const [id, m] of this.messages) {
      if (id.startsWith('temp_') && kindOf(m) === kindOf(msg) && m.content === msg.content) {
        this.messages.delete(id);
        break;
      }
    }
    const stick = this.stuck;
    this.messages.set(msg.id, msg);
    this.render();
    if (stick || kindOf(msg) === 'user') this.scrollToBottom(true);
    else this.jump.hidden = false;
  }

  async submit() {
    const text = this.input.value.trim();
    if (!text || this.sending || this.input.disabled) return;
    const temp = { id: `temp_${Date.now()}`, role: 'user', kind: 'user', content: text, created_at: new Date().toISOString(), pending: true };
    this.messages.set(temp.id, temp);
    this.input.value = '';
    this.autoGrow();
    this.render();
    this.scrollToBottom(true);
    this.sending = true;
    this.send.disabled = true;
    try {
      const body = await api.sendMessage(this.store.teamId, text);
      const real = body.message;
      this.messages.delete(temp.id);
      if (!this.messages.has(real.id)) this.messages.set(real.id, real);
      if (body.run_id && !this.started.has(body.run_id)) this.waiting.set(real.id, body.run_id);
      this.render();
    } catch (err) {
      this.messages.set(temp.id, { ...temp, pending: false, failed: err.message });
      this.render();
      toastError(err, 'Message not sent');
    } finally {
      this.sending = false;
      this.send.disabled = this.input.disabled;
    }
  }

  retry(temp) {
    this.messages.delete(temp.id);
    if (!this.input.value.trim()) this.input.value = temp.content;
    this.render();
    this.submit();
  }

  render() {
    const msgs = this.sorted();
    this.top.textContent = !this.loaded ? 'Loading…' : this.hasMore ? '' : msgs.length ? 'Beginning of conversation' : '';
    if (this.loaded && !msgs.length) {
      const lead = this.store.lead();
      replace(this.list, h('div', { class: 'chat-empty' },
        h('p', { class: 'chat-empty-title', text: `Send a message to ${lead ? lead.name : 'the team lead'}` }),
        h('p', { class: 'muted', text: 'Describe a goal. The lead plans it as tasks, delegates them, reviews the results and answers here.' })));
      return;
    }
    let prev = null;
    const nodes = [];
    const cache = new Map();
    for (const m of msgs) {
      const grouped = this.isGrouped(m, prev);
      const key = `${m.id}|${grouped}|${Boolean(m.pending)}|${m.failed || ''}|${this.waiting.has(m.id)}|${m.agent_id ? Boolean(this.store.agent(m.agent_id)) : ''}|${m.final === false ? m.content.length : 'final'}`;
      const node = (this.nodeCache && this.nodeCache.get(key)) || this.renderMessage(m, grouped);
      cache.set(key, node);
      nodes.push(node);
      prev = m;
    }
    this.nodeCache = cache;
    // Append when only new messages arrived (screen readers then announce just those); else rebuild.
    const current = Array.from(this.list.children);
    if (current.length <= nodes.length && current.every((node, i) => node === nodes[i])) {
      append(this.list, nodes.slice(current.length));
    } else {
      replace(this.list, nodes);
    }
    requestAnimationFrame(() => this.collapseLong());
  }

  isGrouped(m, prev) {
    return Boolean(prev && kindOf(m) === 'answer' && kindOf(prev) === 'answer' && prev.agent_id === m.agent_id
      && (toDate(m.created_at) - toDate(prev.created_at)) < GROUP_MS);
  }

  renderMessage(m, grouped) {
    const kind = kindOf(m);
    if (kind === 'wake') {
      // The server's plain sentence first (what happened, what comes next), then the prompt the lead was given.
      const [said, ...told] = String(m.content || '').split('\n\n');
      return h('details', { class: 'msg msg-wake', dataset: { id: m.id, kind } },
        h('summary', {}, h('span', { 'aria-hidden': 'true', text: '⚙️ ' }), h('span', { class: 'wake-said', text: truncate(firstLine(said), 200) }),
          h('time', { class: 'msg-time', datetime: m.created_at, title: dateTime(m.created_at), text: timeOfDay(m.created_at) })),
        h('div', { class: 'msg-body' }, h('p', { class: 'muted small', text: 'What the lead was told:' }),
          renderMarkdown(told.length ? told.join('\n\n') : said)));
    }
    if (kind === 'notice') {
      return h('div', { class: 'msg msg-system', dataset: { id: m.id, kind } }, renderMarkdown(m.content),
        m.run_id ? h('a', { class: 'small msg-run-link', href: `/runs/${encodeURIComponent(m.run_id)}`, text: 'Open the run' }) : null);
    }
    if (kind === 'user') {
      return h('div', { class: ['msg', 'msg-user', m.pending && 'pending', m.failed && 'failed'], dataset: { id: m.id, kind } },
        h('div', { class: 'msg-bubble' }, renderMarkdown(m.content)),
        h('div', { class: 'msg-meta' },
          m.pending ? h('span', { class: 'muted', text: 'Sending…' }) : null,
          this.waiting.has(m.id) ? h('span', { class: 'msg-queued muted', title: 'It reaches the lead when its run starts', text: this.leadBusy() ? 'Queued: the lead reads it when its current work ends · ' : 'Waiting for the lead · ' }) : null,
          m.failed ? [h('span', { class: 'err', text: `Not sent: ${m.failed}` }), ' ',
            h('button', { type: 'button', class: 'btn btn-xs', text: 'Retry', onClick: () => this.retry(m) })] : null,
          !m.pending && !m.failed ? h('time', { class: 'msg-time', datetime: m.created_at, title: dateTime(m.created_at), text: timeOfDay(m.created_at) }) : null));
    }
    const agent = this.store.agent(m.agent_id);
    const writing = m.final === false;
    return h('div', { class: ['msg', 'msg-agent', grouped && 'grouped', writing && 'writing'], dataset: { id: m.id, kind, final: String(!writing) }, 'aria-busy': writing ? 'true' : null, style: { '--agent': agentColor(m.agent_id) } },
      grouped ? null : h('div', { class: 'msg-head' },
        h('span', { class: 'msg-emoji', 'aria-hidden': 'true', text: agentEmoji(agent) }),
        h('span', { class: 'msg-author', text: agentName(agent, m.agent_id) }),
        agent && agent.backend === 'demo' ? demoTag() : null,
        h('time', { class: 'msg-time', datetime: m.created_at, title: dateTime(m.created_at), text: timeOfDay(m.created_at) })),
      h('div', { class: 'msg-bubble' }, renderMarkdown(m.content)),
      writing ? h('div', { class: 'msg-writing muted small', text: 'Writing…' })
        : h('div', { class: 'msg-tools' }, copyButton(() => m.content, 'Copy', 'btn-xs')));
  }

  collapseLong() {
    for (const bubble of this.list.querySelectorAll('.msg-agent .msg-bubble:not([data-measured])')) {
      bubble.dataset.measured = '1';
      if (bubble.scrollHeight <= COLLAPSE_PX) continue;
      bubble.classList.add('collapsed');
      const toggle = h('button', { type: 'button', class: 'btn btn-xs msg-more', text: 'Show more', 'aria-expanded': 'false' });
      toggle.addEventListener('click', () => {
        const open = bubble.classList.toggle('collapsed') === false;
        toggle.textContent = open ? 'Show less' : 'Show more';
        toggle.setAttribute('aria-expanded', String(open));
      });
      bubble.after(toggle);
    }
  }
}
