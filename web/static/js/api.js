// The REST client: JSON in, JSON out, errors as ApiError(status, error, message). Same-origin only.

export class ApiError extends Error {
  constructor(status, error, message, body = null) {
    super(message || error || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.error = error;
    this.body = body;
  }
}

async function request(method, path, body, { signal } = {}) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'Cannot reach the Gamma server. Is it running?');
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const message = (data && (data.message || data.error)) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, data && data.error, message, data);
  }
  return data;
}

const enc = encodeURIComponent;

function qs(params) {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${enc(k)}=${enc(v)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

// One documented shape per call: what web/api/*.py returns (the server's orchestrator views), unwrapped
// to the part callers use. Shapes of the records themselves:
//   Team     {id, name, description, status, blueprint_id, budget_usd, event_seq, created_at, updated_at,
//             members: Agent[], task_counts: {<stage>: n}, cost_usd}
//   Agent    {id, team_id, name, role_id, role_name, emoji, specialization, is_lead, status, backend, model,
//             session_id, workspace_path, context_tokens, context_window, last_active_at, …}
//   Task     {id, team_id, title, description, stage, kind, assigned_to, result, …}
//   Run      {id, team_id, agent_id, task_id, state, reason, attempt, outcome, cost_usd, …}
//   Event    {cursor, kind, team_id, agent_id, task_id, run_id, payload, created_at}
//   Message  {id, team_id, role, kind, content, agent_id, run_id, created_at}

export const api = {
  get: (path, opts) => request('GET', path, undefined, opts),
  post: (path, body = {}, opts) => request('POST', path, body, opts),
  patch: (path, body, opts) => request('PATCH', path, body, opts),
  del: (path, opts) => request('DELETE', path, undefined, opts),

  /** GET /api/health → `{ok, database: {ok, error?}, migrations: {ok}, workers: {ok, unsandboxed: []}, …}`;
   *  a 503 (something is down) still carries the report, which is returned rather than thrown. */
  health: () => request('GET', '/api/health').catch((err) => (err.body ? err.body : Promise.reject(err))),

  /** GET /api/teams → `{teams: Team[]}`; returns the Team[]. */
  listTeams: async ({ includeArchived = false, signal } = {}) => (
    await request('GET', `/api/teams${includeArchived ? '?include_archived=true' : ''}`, undefined, { signal })).teams,
  /** GET /api/teams/:id → Team (bare). */
  getTeam: (id) => request('GET', `/api/teams/${enc(id)}`),
  /** POST /api/teams → Team (bare, 201). */
  createTeam: (body) => request('POST', '/api/teams', body),
  /** PATCH /api/teams/:id → Team (bare). */
  updateTeam: (id, body) => request('PATCH', `/api/teams/${enc(id)}`, body),
  /** DELETE /api/teams/:id (archive) → `{team: Team, cancelled_runs: string[], cancelled_tasks: string[]}`. */
  deleteTeam: (id) => request('DELETE', `/api/teams/${enc(id)}`),
  /** POST /api/teams/:id/stop → `{team: Team, cancelled_runs: string[]}`. */
  stopTeam: (id) => request('POST', `/api/teams/${enc(id)}/stop`),
  /** POST /api/stop → `{stopped_teams: string[], cancelled_runs: string[]}`. */
  stopAll: () => request('POST', '/api/stop'),
  /** GET /api/teams/:id/usage → `{team_id, total: Usage, agents: (Usage & {agent_id, name, status,
   *  context_tokens, context_window})[]}` with Usage `{runs, succeeded, failed, cost_usd, input_tokens,
   *  output_tokens, cache_read_tokens, cache_creation_tokens, num_turns, duration_ms}`. */
  usage: (id) => request('GET', `/api/teams/${enc(id)}/usage`),

  /** POST /api/teams/:id/agents → Agent (bare, 201). */
  addAgent: (teamId, body) => request('POST', `/api/teams/${enc(teamId)}/agents`, body),
  /** GET /api/agents/:id → Agent (bare). */
  getAgent: (id) => request('GET', `/api/agents/${enc(id)}`),
  /** PATCH /api/agents/:id → Agent (bare). */
  updateAgent: (id, body) => request('PATCH', `/api/agents/${enc(id)}`, body),
  /** DELETE /api/agents/:id (archive) → `{agent: Agent, cancelled_runs: string[], cancelled_tasks: string[]}`. */
  archiveAgent: (id) => request('DELETE', `/api/agents/${enc(id)}`),
  /** POST /api/agents/:id/reset-session → Agent (bare, session_id cleared). */
  resetSession: (id) => request('POST', `/api/agents/${enc(id)}/reset-session`),
  /** POST /api/agents/:id/stop → `{agent: Agent, cancelled_runs: string[]}`. */
  stopAgent: (id) => request('POST', `/api/agents/${enc(id)}/stop`),
  /** GET /api/agents/:id/claude-md → `{agent_id, content}`; returns the content (string): the CLAUDE.md its next
   *  run would get. */
  agentClaudeMd: async (id) => (await request('GET', `/api/agents/${enc(id)}/claude-md`)).content,

  /** POST /api/teams/:id/messages → `{message: Message, run_id: string}` (202: the lead's run is queued). */
  sendMessage: (teamId, message) => request('POST', `/api/teams/${enc(teamId)}/messages`, { message }),
  /** GET /api/teams/:id/messages?before&limit → `{messages: Message[] (oldest first), has_more: boolean,
   *  before: string|null}`. */
  listMessages: (teamId, { before, limit } = {}) => request('GET', `/api/teams/${enc(teamId)}/messages${qs({ before, limit })}`),

  /** GET /api/teams/:id/tasks → `{tasks: Task[]}`; returns the Task[]. */
  listTasks: async (teamId) => (await request('GET', `/api/teams/${enc(teamId)}/tasks`)).tasks,
  /** GET /api/tasks/:id → Task (bare). */
  getTask: (id) => request('GET', `/api/tasks/${enc(id)}`),
  /** GET /api/tasks/:id/diff?stat=true → `{files, commits, added, deleted, branch, merge, preview_url}`. */
  taskDiffStat: (id) => request('GET', `/api/tasks/${enc(id)}/diff?stat=true`),
  /** GET /api/tasks/:id/diff → the same with `diff`, the unified diff against main. */
  taskDiff: (id) => request('GET', `/api/tasks/${enc(id)}/diff`),
  /** PATCH /api/tasks/:id → Task (bare; `note` says what a move did, e.g. a merge conflict). */
  changeTask: (id, body) => request('PATCH', `/api/tasks/${enc(id)}`, body),
  /** POST /api/tasks/:id/cancel `{reason}` → Task (bare): the task and its runs cancelled. */
  cancelTask: (id, reason) => request('POST', `/api/tasks/${enc(id)}/cancel`, { reason }),
  /** POST /api/teams/:id/tasks (new, or `{retry_of}`) → Task (bare, 201). */
  createTask: (teamId, body) => request('POST', `/api/teams/${enc(teamId)}/tasks`, body),

  /** GET /api/teams/:id/runs?state&limit → `{runs: Run[]}`; returns the Run[]. */
  listRuns: async (teamId, state = 'queued,running', limit = undefined) => (
    await request('GET', `/api/teams/${enc(teamId)}/runs${qs({ state, limit })}`)).runs,
  /** GET /api/teams/:id/runs?agent_id&before&limit → `{runs: Run[]}`, one agent's runs of every state, newest
   *  first (`before`: a run id, for the page after it); returns the Run[]. */
  listAgentRuns: async (teamId, agentId, { before, limit } = {}) => (
    await request('GET', `/api/teams/${enc(teamId)}/runs${qs({ agent_id: agentId, before, limit })}`)).runs,
  /** GET /api/runs/:id → Run (bare). */
  getRun: (id) => request('GET', `/api/runs/${enc(id)}`),
  /** POST /api/runs/:id/cancel → `{run: Run, cancelled_runs: string[]}`. */
  cancelRun: (id) => request('POST', `/api/runs/${enc(id)}/cancel`),

  /** GET /api/teams/:id/events?after&limit&kind&agent_id&task_id&run_id → `{events: Event[], next_after,
   *  head}`; returns the Event[] (ascending cursors). */
  listEvents: async (teamId, params = {}) => (
    await request('GET', `/api/teams/${enc(teamId)}/events${qs(params)}`)).events,
  /** GET /api/events?order=oldest|newest&after&limit&team_id&since&until&kind&agent_id&task_id&run_id&q →
   *  `{events: (Event & {global_cursor})[], next_after: string|null, order}` (bare): every team's events in
   *  (created_at, team_id, seq) order (or its reverse); pass `next_after` as `after` for the next page. */
  traceEvents: (params = {}, opts) => request('GET', `/api/events${qs(params)}`, undefined, opts),
  /** The URL of GET /api/events.jsonl with the same filters (no `limit`): the whole trace as JSON Lines, one
   *  (Event & {global_cursor}) a line. A link to download, not a request. */
  traceExportUrl: (params = {}) => `/api/events.jsonl${qs(params)}`,

  /** GET /api/roles?q → `{query, count, groups: {name, count, roles: Role[]}[], errors: []}`. */
  listRoles: (q) => request('GET', `/api/roles${qs({ q })}`),
  /** GET /api/roles/:id → Role detail (bare). */
  getRole: (id) => request('GET', `/api/roles/${String(id).split('/').map(enc).join('/')}`),
  /** GET /api/blueprints → `{blueprints: Blueprint[]}`; returns the Blueprint[]. */
  listBlueprints: async () => (await request('GET', '/api/blueprints')).blueprints,
  /** GET /api/blueprints/:id → Blueprint (bare): `{id, name, description, lead: {role, role_name, emoji, focus},
   *  members: {role, role_name, emoji, count, focus}[], agents: {name, role_id, is_lead, specialization, emoji,
   *  backend, model, …}[]}` (agents: the team it would create, lead first). */
  getBlueprint: (id) => request('GET', `/api/blueprints/${enc(id)}`),
  /** GET /api/vocabulary → `{task_stages, run_states, agent_states, task_kinds, event_kinds, chat_kinds,
   *  permission_modes}`, each a string[] in display order (use vocabulary.js, which loads it once). */
  vocabulary: () => request('GET', '/api/vocabulary'),
};
