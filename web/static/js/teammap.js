// The team map: the lead on top, members below a guide line. Each node opens the agent panel.

import {
  agentCost, agentEmoji, agentRole, agentTurns, contextBar, costText, demoTag, effectiveStatus, statusDot, statusLine,
} from './agentview.js';
import { h, replace, replaceKeepingFocus } from './dom.js';
import { agentColor } from './format.js';

export class TeamMap {
  constructor(root, store, { onOpen }) {
    this.root = root;
    this.store = store;
    this.onOpen = onOpen;
    this.openId = null;
    store.on('agents', () => this.render());
    store.on('runs', () => this.render());
    store.on('usage', () => this.render());
  }

  setOpen(agentId) {
    this.openId = agentId;
    for (const node of this.root.querySelectorAll('.agent-node')) {
      node.setAttribute('aria-expanded', node.dataset.agentId === agentId ? 'true' : 'false');
    }
  }

  node(agent) {
    const run = this.store.runFor(agent.id);
    const status = effectiveStatus(agent, run);
    const usage = this.store.agentUsage(agent.id);
    const cost = agentCost(agent, usage);
    const turns = agentTurns(agent, usage);
    const btn = h('button', {
      type: 'button',
      class: ['agent-node', `is-${status}`, agent.is_lead && 'is-lead'],
      dataset: { agentId: agent.id, status, focusKey: agent.id },
      'aria-expanded': this.openId === agent.id ? 'true' : 'false',
      'aria-controls': 'agent-panel',
      // Its name is what it shows (name, role, status, cost, turns: a label of its own would hide what a
      // speech-input user sees and says); the description says what pressing it does.
      'aria-describedby': 'agent-node-hint',
      style: { '--agent': agentColor(agent.id) },
    },
    h('span', { class: 'node-top' },
      h('span', { class: 'node-emoji', 'aria-hidden': 'true', text: agentEmoji(agent) }),
      h('span', { class: 'node-id' },
        h('span', { class: 'node-name', text: agent.name }),
        h('span', { class: 'node-role' }, h('span', { class: 'node-role-text', text: agentRole(agent) }),
          agent.is_lead ? h('span', { class: 'tag tag-lead', text: 'lead' }) : null,
          agent.backend === 'demo' ? demoTag() : null)),
      statusDot(status)),
    h('span', { class: 'node-line' },
      h('span', { class: 'node-status' }, statusLine(agent, run, status)),
      h('span', { class: 'node-stats' },
        h('span', { title: 'Cost so far' }, h('span', { class: 'sr-only', text: 'Cost ' }), costText(cost)),
        h('span', { title: 'Turns' }, turns === null ? '— turns' : `${turns} turn${turns === 1 ? '' : 's'}`))),
    contextBar(agent));
    btn.addEventListener('click', () => this.onOpen(agent.id));
    return btn;
  }

  render() {
    const members = this.store.members();
    if (!this.store.team) return;
    if (!members.length) {
      replace(this.root, h('p', { class: 'empty', text: 'No agents yet. Add one to get started.' }));
      return;
    }
    const lead = members.find((a) => a.is_lead);
    const others = members.filter((a) => a !== lead);
    replaceKeepingFocus(this.root,
      lead ? h('div', { class: 'map-lead' }, this.node(lead)) : h('p', { class: 'muted small', text: 'This team has no lead.' }),
      others.length ? h('ul', { class: 'map-members', 'aria-label': 'Members' }, others.map((a) => h('li', {}, this.node(a)))) : null);
  }
}
