// Small views of an agent shared by the map, the panel, chat and the log.

import { h } from './dom.js';
import { agentColor, elapsedSince, money, roleLabel, timeAgo, tokens } from './format.js';

export const STATUS_TEXT = {
  running: 'Running', queued: 'Queued', idle: 'Idle', error: 'Error', stopped: 'Stopped', archived: 'Archived',
};

/** The status to show: a running run wins over a stale agent row. */
export function effectiveStatus(agent, run) {
  if (run && run.state === 'running') return 'running';
  return agent && agent.status ? agent.status : 'idle';
}

export function statusDot(status) {
  return h('span', { class: `dot dot-${status}`, role: 'img', 'aria-label': STATUS_TEXT[status] || status, title: STATUS_TEXT[status] || status });
}

export function demoTag(extraClass = '') {
  return h('span', { class: `tag tag-demo ${extraClass}`.trim(), title: 'Scripted demo backend: no model is called', text: 'demo' });
}

export function agentName(agent, fallbackId = '') {
  if (agent) return agent.name;
  return fallbackId ? `agent ${String(fallbackId).slice(-6)}` : 'Gamma';
}

/** Emoji + name with the agent's colour. */
export function agentChip(agent, agentId = agent && agent.id) {
  const emoji = (agent && agent.emoji) || (agentId ? '🤖' : '⚙️');
  return h('span', { class: 'chip', style: { '--agent': agentColor(agentId) } },
    h('span', { class: 'chip-emoji', 'aria-hidden': 'true', text: emoji }),
    h('span', { class: 'chip-name', text: agentName(agent, agentId) }));
}

export function agentEmoji(agent) {
  return (agent && agent.emoji) || '🤖';
}

export function agentRole(agent) {
  return roleLabel(agent && agent.role_id, agent && agent.role_name);
}

export function contextLevel(pct) {
  if (pct > 95) return 'crit';
  if (pct > 80) return 'high';
  if (pct > 50) return 'mid';
  return 'ok';
}

/** The context-window bar: tokens used / window, coloured by fill. */
export function contextBar(agent) {
  const used = Number(agent.context_tokens || 0);
  const windowSize = Number(agent.context_window || 0);
  const pct = windowSize ? Math.min(100, (used / windowSize) * 100) : 0;
  const label = windowSize ? `${tokens(used)} / ${tokens(windowSize)}` : used ? `${tokens(used)} tokens` : 'no context yet';
  const bar = h('span', { class: `ctx-bar ctx-${contextLevel(pct)}`, role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(pct)), 'aria-label': `Context ${label}` },
    h('span', { class: 'ctx-fill', style: { width: `${pct}%` } }));
  return h('span', { class: 'ctx', title: windowSize ? `Context: ${used.toLocaleString()} of ${windowSize.toLocaleString()} tokens (${pct.toFixed(0)}%)` : 'Context tokens' },
    bar, h('span', { class: 'ctx-label', text: label }));
}

/** The agent's spend from its row of the usage endpoint (store.agentUsage); null until usage has loaded. */
export function agentCost(agent, usage) {
  return usage ? Number(usage.cost_usd) : null;
}

/** The agent's turns, from the same usage row. */
export function agentTurns(agent, usage) {
  return usage ? Number(usage.num_turns) : null;
}

/** "Running 1:23", "Queued", "Error · 5m ago", "Idle · 2m ago" as a node (clocks tick via data-since/ago). */
export function statusLine(agent, run, status = effectiveStatus(agent, run)) {
  if (status === 'running') {
    const since = (run && run.started_at) || null;
    return h('span', { class: 'status-line' }, 'Running',
      since ? [' · ', h('span', { dataset: { since }, text: elapsedSince(since) })] : null);
  }
  const at = agent.last_active_at;
  const ago = at ? [' · ', h('span', { dataset: { ago: at }, text: timeAgo(at) })] : null;
  return h('span', { class: 'status-line' }, STATUS_TEXT[status] || status, ago);
}

export function costText(value) {
  return value === null || value === undefined ? '—' : money(value);
}
