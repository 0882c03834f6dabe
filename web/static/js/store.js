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
    const next = new Map();
    for (const m of team.members) next.set(m.id, { ...(this.agents.get(m.id) || {}), ...m });
    this.agents = next;
    this.emit('agents');
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
    this.tasksLoaded = true;
    this.tasksError = null;
    this.emit('tasks');
  }

  /** The task list could not be loaded: the board says so (with a retry) instead of showing "no tasks". */
  setTasksError(err) {
    this.tasksError = (err && err.message) || String(err);
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
    this.runsError = null;
    this.emit('runs');
  }

  /** The run queue could not be loaded: the queue says so (with a retry) instead of "nothing running". */
  setRunsError(err) {
    this.runsError = (err && err.message) || String(err);
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

  /** One agent's row of the usage endpoint (`usage.agents[]`, see api.usage), or null before it loads. */
  agentUsage(agentId) {
    return this.usage ? this.usage.agents.find((x) => x.agent_id === agentId) || null : null;
  }

  /** The team's spend: the usage endpoint's total once loaded, else the team's own `cost_usd`. */
  totalCost() {
    if (this.usage) return Number(this.usage.total.cost_usd);
    return this.team ? Number(this.team.cost_usd) : null;
  }

  isDemo() {
    return this.members().some((a) => a.backend === 'demo');
  }
}
