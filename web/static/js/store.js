// The team page's state: the team, its agents, tasks, runs and usage, with topic subscriptions.
// Components read from it and re-render their part when a topic they follow changes.

export class TeamStore {
  constructor(teamId) {
    this.teamId = teamId;
    this.team = null;
    this.agents = new Map(); // id → agent (archived ones included, flagged by status)
    this.tasks = new Map();
    this.runs = []; // active (queued/running) runs
    this.recentRuns = []; // the last few finished runs
    this.usage = null;
    this.listeners = new Map(); // topic → Set(fn)
  }

  on(topic, fn) {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic).add(fn);
    return () => this.listeners.get(topic).delete(fn);
  }

  emit(topic) {
    for (const fn of this.listeners.get(topic) || []) {
      try { fn(this); } catch (err) { console.error(`listener for ${topic} failed`, err); }
    }
  }

  setTeam(team) {
    this.team = team;
    const members = Array.isArray(team.members) ? team.members : Array.isArray(team.agents) ? team.agents : null;
    if (members) {
      const next = new Map();
      for (const m of members) next.set(m.id, { ...(this.agents.get(m.id) || {}), ...m });
      this.agents = next;
      this.emit('agents');
    }
    this.emit('team');
  }

  setAgent(agent) {
    if (!agent || !agent.id) return;
    this.agents.set(agent.id, { ...(this.agents.get(agent.id) || {}), ...agent });
    this.emit('agents');
  }

  patchAgent(id, patch) {
    const agent = this.agents.get(id);
    if (!agent) return;
    this.agents.set(id, { ...agent, ...patch });
    this.emit('agents');
  }

  agent(id) {
    return id ? this.agents.get(id) || null : null;
  }

  /** Active members, lead first, then by creation. */
  members() {
    return [...this.agents.values()]
      .filter((a) => a.status !== 'archived')
      .sort((a, b) => (Number(Boolean(b.is_lead)) - Number(Boolean(a.is_lead)))
        || String(a.created_at || a.id).localeCompare(String(b.created_at || b.id)));
  }

  lead() {
    return this.members().find((a) => a.is_lead) || null;
  }

  setTasks(tasks) {
    this.tasks = new Map(tasks.map((t) => [t.id, t]));
    this.emit('tasks');
  }

  patchTask(id, patch) {
    const task = this.tasks.get(id);
    if (!task) return false;
    this.tasks.set(id, { ...task, ...patch });
    this.emit('tasks');
    return true;
  }

  setRuns(runs) {
    this.runs = runs;
    this.emit('runs');
  }

  setRecentRuns(runs) {
    this.recentRuns = runs;
    this.emit('runs');
  }

  runFor(agentId) {
    return this.runs.find((r) => r.agent_id === agentId && r.state === 'running') || null;
  }

  setUsage(usage) {
    this.usage = usage;
    this.emit('usage');
  }

  /** Per-agent usage from the usage endpoint, whatever its exact shape. */
  agentUsage(agentId) {
    const u = this.usage;
    if (!u) return null;
    const list = Array.isArray(u.agents) ? u.agents : Array.isArray(u.by_agent) ? u.by_agent : null;
    if (list) return list.find((x) => x.agent_id === agentId || x.id === agentId) || null;
    if (u.agents && typeof u.agents === 'object') return u.agents[agentId] || null;
    if (u.by_agent && typeof u.by_agent === 'object') return u.by_agent[agentId] || null;
    return null;
  }

  totalCost() {
    const u = this.usage;
    const fromUsage = u && (u.cost_usd ?? u.total_cost_usd ?? (u.total && u.total.cost_usd));
    if (fromUsage !== undefined && fromUsage !== null) return Number(fromUsage);
    const t = this.team;
    const fromTeam = t && (t.cost_usd ?? (t.usage && t.usage.cost_usd));
    return fromTeam !== undefined && fromTeam !== null ? Number(fromTeam) : null;
  }

  isDemo() {
    return this.members().some((a) => a.backend === 'demo');
  }
}
