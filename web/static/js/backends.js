// The agent backends an agent can run on (the server's registry: workers/backend_registry.py).

import { h } from './dom.js';

export const BACKENDS = [
  { id: 'claude', label: 'Claude Code (claude CLI)' },
  { id: 'codex', label: 'Codex (OpenAI codex CLI)' },
  { id: 'demo', label: 'Demo (scripted, calls no model)' },
];

/** A <select> of backends; its first option ('') leaves the choice to the server's default (GAMMA_BACKEND). */
export function backendSelect(attrs = {}) {
  return h('select', { class: 'input', ...attrs },
    h('option', { value: '', text: 'Default (GAMMA_BACKEND)' }),
    ...BACKENDS.map((b) => h('option', { value: b.id, text: b.label })));
}
