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

/** The list inside a response, whether the server sent a bare array or `{<key>: [...]}`. */
export function listOf(body, ...keys) {
  if (Array.isArray(body)) return body;
  if (!body || typeof body !== 'object') return [];
  for (const key of [...keys, 'items', 'data', 'results']) {
    if (Array.isArray(body[key])) return body[key];
  }
  return [];
}

/** The object inside a response, whether bare or wrapped as `{<key>: {...}}`. */
export function objectOf(body, key) {
  if (body && typeof body === 'object' && body[key] && typeof body[key] === 'object' && !Array.isArray(body[key])) {
    return body[key];
  }
  return body;
}

export const api = {
  get: (path, opts) => request('GET', path, undefined, opts),
  post: (path, body = {}, opts) => request('POST', path, body, opts),
  patch: (path, body, opts) => request('PATCH', path, body, opts),
  del: (path, opts) => request('DELETE', path, undefined, opts),

  health: () => request('GET', '/api/health').catch((err) => (err.body ? err.body : Promise.reject(err))),

  listTeams: async ({ includeArchived = false } = {}) => listOf(
    await request('GET', `/api/teams${includeArchived ? '?include_archived=true' : ''}`), 'teams'),
  getTeam: async (id) => objectOf(await request('GET', `/api/teams/${enc(id)}`), 'team'),
  createTeam: async (body) => objectOf(await request('POST', '/api/teams', body), 'team'),
  updateTeam: async (id, body) => objectOf(await request('PATCH', `/api/teams/${enc(id)}`, body), 'team'),
  deleteTeam: (id) => request('DELETE', `/api/teams/${enc(id)}`),
  stopTeam: (id) => request('POST', `/api/teams/${enc(id)}/stop`),
  stopAll: () => request('POST', '/api/stop'),
  usage: (id) => request('GET', `/api/teams/${enc(id)}/usage`),

  addAgent: async (teamId, body) => objectOf(await request('POST', `/api/teams/${enc(teamId)}/agents`, body), 'agent'),
  getAgent: async (id) => objectOf(await request('GET', `/api/agents/${enc(id)}`), 'agent'),
  updateAgent: async (id, body) => objectOf(await request('PATCH', `/api/agents/${enc(id)}`, body), 'agent'),
  archiveAgent: (id) => request('DELETE', `/api/agents/${enc(id)}`),
  resetSession: (id) => request('POST', `/api/agents/${enc(id)}/reset-session`),
  stopAgent: (id) => request('POST', `/api/agents/${enc(id)}/stop`),

  sendMessage: (teamId, message) => request('POST', `/api/teams/${enc(teamId)}/messages`, { message }),
  listMessages: (teamId, { before, limit } = {}) => request('GET', `/api/teams/${enc(teamId)}/messages${qs({ before, limit })}`),

  listTasks: async (teamId) => listOf(await request('GET', `/api/teams/${enc(teamId)}/tasks`), 'tasks'),
  getTask: async (id) => objectOf(await request('GET', `/api/tasks/${enc(id)}`), 'task'),
  createTask: async (teamId, body) => objectOf(await request('POST', `/api/teams/${enc(teamId)}/tasks`, body), 'task'),

  listRuns: async (teamId, state = 'queued,running', limit = undefined) => listOf(
    await request('GET', `/api/teams/${enc(teamId)}/runs${qs({ state, limit })}`), 'runs'),
  getRun: async (id) => objectOf(await request('GET', `/api/runs/${enc(id)}`), 'run'),
  cancelRun: (id) => request('POST', `/api/runs/${enc(id)}/cancel`),

  listEvents: async (teamId, params = {}) => listOf(
    await request('GET', `/api/teams/${enc(teamId)}/events${qs(params)}`), 'events'),

  listRoles: (q) => request('GET', `/api/roles${qs({ q })}`),
  getRole: (id) => request('GET', `/api/roles/${String(id).split('/').map(enc).join('/')}`),
  listBlueprints: async () => listOf(await request('GET', '/api/blueprints'), 'blueprints'),
};
