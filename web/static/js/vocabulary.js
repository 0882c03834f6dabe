// The server's vocabulary: which task stages, run and agent states, task/event/chat kinds and permission
// modes exist, each list in display order. GET /api/vocabulary, fetched once per page.
//
// `await vocabulary()` resolves to the lists; `words()` gives them synchronously once loaded. Labels for
// display stay in small maps keyed by these values where they are used (tasks.js, agentview.js).
//
// If the server does not answer (an older server without the endpoint, or a network error), the page keeps
// working with FALLBACK — the lists as this UI was written against — and says so once in the console.

import { api } from './api.js';

/** @typedef {{task_stages: string[], run_states: string[], terminal_run_states: string[], agent_states: string[],
 *   task_kinds: string[], event_kinds: string[], chat_kinds: string[], permission_modes: string[],
 *   manual_task_transitions: Object<string, string[]>}} Vocabulary */

// The seven lists of the contract, and `terminal_run_states` (finished runs), which the server also sends.
const KEYS = ['task_stages', 'run_states', 'terminal_run_states', 'agent_states', 'task_kinds', 'event_kinds',
  'chat_kinds', 'permission_modes'];

/** @type {Vocabulary} */
export const FALLBACK = Object.freeze({
  task_stages: ['backlog', 'blocked', 'in_progress', 'review', 'done', 'failed', 'cancelled'],
  run_states: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted', 'timed_out'],
  terminal_run_states: ['succeeded', 'failed', 'cancelled', 'interrupted', 'timed_out'],
  agent_states: ['idle', 'queued', 'running', 'error', 'stopped', 'archived'],
  task_kinds: ['generic', 'backend', 'frontend', 'mobile', 'qa', 'design', 'devops', 'security', 'data', 'ml',
    'research', 'writing', 'marketing', 'sales', 'support', 'product', 'planning', 'review', 'docs'],
  event_kinds: [],
  chat_kinds: ['user', 'answer', 'wake', 'notice'],
  permission_modes: ['default', 'acceptEdits', 'plan', 'bypassPermissions', 'dontAsk', 'auto'],
  // Where a user may move a task by hand (shared/vocabulary.py MANUAL_TASK_TRANSITIONS).
  manual_task_transitions: {
    backlog: ['failed', 'cancelled'], blocked: ['failed', 'cancelled'], in_progress: ['failed', 'cancelled'],
    review: ['in_progress', 'done', 'failed', 'cancelled'],
  },
});

let loaded = null;
let loading = null;

/** Each key the server sent as a list of strings; anything missing or malformed falls back. */
function normalise(body) {
  const out = {};
  for (const key of KEYS) {
    const list = body && body[key];
    out[key] = Array.isArray(list) && list.every((v) => typeof v === 'string') ? list : FALLBACK[key];
  }
  const moves = body && body.manual_task_transitions;
  const wellFormed = moves && typeof moves === 'object' && Object.values(moves).every(
    (targets) => Array.isArray(targets) && targets.every((v) => typeof v === 'string'));
  out.manual_task_transitions = wellFormed ? moves : FALLBACK.manual_task_transitions;
  return Object.freeze(out);
}

/** @returns {Promise<Vocabulary>} the server's vocabulary (loaded once), or FALLBACK when it is unavailable. */
export function vocabulary() {
  if (!loading) {
    loading = api.vocabulary()
      .then((body) => normalise(body))
      .catch((err) => {
        console.warn(`GET /api/vocabulary unavailable (${err.status || err.message}); using the built-in lists`);
        return FALLBACK;
      })
      .then((v) => { loaded = v; return v; });
  }
  return loading;
}

/** @returns {Vocabulary} the vocabulary if it has loaded, else FALLBACK (for synchronous renderers). */
export function words() {
  return loaded || FALLBACK;
}
