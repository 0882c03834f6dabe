// Activity pills above the chat input: one per working agent with what it is doing right now
// (Thinking / Writing / a tool label) and a ticking timer. Four or more agents fold into one summary bar.

import { agentEmoji, agentName, demoTag } from './agentview.js';
import { h, replace } from './dom.js';
import { agentColor, elapsedSince, truncate } from './format.js';
import { formatTool } from './tools.js';

const THROTTLE_MS = 300;
const FADE_MS = 600;
const ERROR_HOLD_MS = 3500;

export class ActivityBar {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.items = new Map(); // agentId → {icon, label, detail, since, tools: [], lastUpdate, leaving, demo, runId}
    this.expanded = false;
    this.root.classList.add('activity');
    this.root.setAttribute('aria-label', 'Agents at work');
    this.root.setAttribute('role', 'group'); // not a live region: its timers tick every second
    store.on('runs', () => this.syncRuns());
    store.on('agents', () => this.render());
  }

  /** Seed and prune from the active runs (so a reload shows who is working, and nothing stale lingers). */
  syncRuns() {
    const running = new Map(this.store.runs.filter((r) => r.state === 'running').map((r) => [r.agent_id, r]));
    for (const [agentId, run] of running) {
      const item = this.items.get(agentId);
      if (!item) {
        this.items.set(agentId, { icon: '⏳', label: 'Working', detail: '', since: run.started_at || new Date().toISOString(), tools: [], lastUpdate: 0, runId: run.id, demo: run.backend === 'demo' });
      } else {
        if (run.started_at) item.since = run.started_at;
        item.runId = run.id;
        item.demo = run.backend === 'demo' || item.demo;
      }
    }
    for (const [agentId, item] of this.items) {
      if (!running.has(agentId) && !item.leaving && !item.error && Date.now() - item.lastUpdate > 5000) this.items.delete(agentId);
    }
    this.render();
  }

  /** Live events only (not history). */
  handle(events) {
    let changed = false;
    for (const ev of events) {
      const agentId = ev.agent_id;
      if (!agentId) continue;
      const p = ev.payload || {};
      switch (ev.kind) {
        case 'run.started':
          this.set(agentId, { icon: '🚀', label: 'Starting', detail: '', since: ev.created_at, tools: [], runId: ev.run_id, demo: p.backend === 'demo', error: null, leaving: false }, true);
          changed = true;
          break;
        case 'agent.thinking':
          changed = this.update(agentId, ev, { icon: '💭', label: 'Thinking', detail: '' }) || changed;
          break;
        case 'agent.text':
          changed = this.update(agentId, ev, { icon: '✍️', label: 'Writing response', detail: '' }) || changed;
          break;
        case 'agent.tool_use': {
          const t = formatTool(p.name, p.input);
          const item = this.ensure(agentId, ev);
          item.tools = [...item.tools, `${t.icon} ${t.label}${t.detail ? ` ${t.detail}` : ''}`].slice(-5);
          this.set(agentId, { ...t }, true);
          changed = true;
          break;
        }
        case 'run.finished': {
          const item = this.items.get(agentId);
          if (!item) break;
          if (p.state && p.state !== 'succeeded' && p.state !== 'cancelled') {
            this.set(agentId, { icon: '⚠️', label: 'Error', detail: truncate(p.error || p.outcome || p.state, 80), error: true }, true);
            setTimeout(() => this.leave(agentId), ERROR_HOLD_MS);
          } else {
            this.leave(agentId);
          }
          changed = true;
          break;
        }
        case 'run.requeued':
          this.leave(agentId);
          changed = true;
          break;
        default:
          break;
      }
    }
    if (changed) this.render();
  }

  ensure(agentId, ev) {
    if (!this.items.has(agentId)) {
      this.items.set(agentId, { icon: '⏳', label: 'Working', detail: '', since: ev.created_at, tools: [], lastUpdate: 0, runId: ev.run_id });
    }
    return this.items.get(agentId);
  }

  update(agentId, ev, patch) {
    const item = this.ensure(agentId, ev);
    if (Date.now() - item.lastUpdate < THROTTLE_MS && item.label === patch.label) return false;
    this.set(agentId, patch, true);
    return true;
  }

  set(agentId, patch) {
    const item = this.items.get(agentId) || { tools: [], since: new Date().toISOString() };
    this.items.set(agentId, { ...item, ...patch, lastUpdate: Date.now(), leaving: patch.leaving ?? item.leaving });
  }

  leave(agentId) {
    const item = this.items.get(agentId);
    if (!item) return;
    item.leaving = true;
    this.render();
    setTimeout(() => {
      const cur = this.items.get(agentId);
      if (cur && cur.leaving) { this.items.delete(agentId); this.render(); }
    }, FADE_MS);
  }

  /** The agent's pill: made once, then updated in place — a pill rebuilt on every update would restart its
   *  entrance animation and its pulsing dot (a visible flicker). */
  pill(agentId, item, existing = null) {
    const agent = this.store.agent(agentId);
    const el = existing || h('div', { dataset: { agentId } },
      h('span', { class: 'pill-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'pill-body' }));
    el.className = ['pill', item.leaving && 'leaving', item.error && 'pill-error'].filter(Boolean).join(' ');
    el.style.setProperty('--agent', agentColor(agentId));
    el.title = item.tools.length ? `Recent: ${item.tools.slice(0, -1).slice(-4).join(' · ') || item.tools.join(' · ')}` : '';
    replace(el.querySelector('.pill-body'),
      h('span', { class: 'pill-emoji', 'aria-hidden': 'true', text: agentEmoji(agent) }),
      h('span', { class: 'pill-name', text: agentName(agent, agentId) }),
      h('span', { class: 'pill-label' }, h('span', { 'aria-hidden': 'true', text: `${item.icon} ` }), item.label,
        item.detail ? h('span', { class: 'pill-detail', text: ` ${item.detail}` }) : null),
      item.demo ? demoTag() : null,
      h('span', { class: 'pill-time', dataset: { since: item.since }, text: elapsedSince(item.since) }));
    return el;
  }

  render() {
    const entries = [...this.items.entries()];
    this.root.hidden = entries.length === 0;
    if (!entries.length) { replace(this.root); return; }
    if (entries.length < 4 || this.expanded) {
      const shown = new Map([...this.root.querySelectorAll('.pill[data-agent-id]')].map((el) => [el.dataset.agentId, el]));
      const wanted = entries.map(([id, item]) => this.pill(id, item, shown.get(id)));
      if (entries.length >= 4) wanted.push(h('button', { type: 'button', class: 'btn btn-xs', text: 'Fold', onClick: () => { this.expanded = false; this.render(); } }));
      keep(this.root, wanted);
      return;
    }
    const [firstId, first] = entries[0];
    const btn = h('button', { type: 'button', class: 'pill pill-summary', 'aria-expanded': 'false' },
      h('span', { class: 'pill-dot', 'aria-hidden': 'true' }),
      `${entries.length} agents active · ${agentName(this.store.agent(firstId), firstId)}: ${first.label}`);
    btn.addEventListener('click', () => { this.expanded = true; this.render(); });
    replace(this.root, btn);
  }
}

/** Make `root`'s children exactly `wanted`, in order, without detaching the ones already in place: an element taken
 *  out and put back restarts its CSS animations. */
function keep(root, wanted) {
  const set = new Set(wanted);
  for (const child of [...root.children]) if (!set.has(child)) child.remove();
  wanted.forEach((el, i) => { if (root.children[i] !== el) root.insertBefore(el, root.children[i] || null); });
}
