// The agent panel's settings form: name, specialization, backend, model, max turns, permission mode, tools and
// budget (PATCH /api/agents/:id, applied from the agent's next run).
//
// It sends only the settings that changed. Each refusal is shown next to the field it concerns: the form's own
// checks first (a name is required, max turns is a whole number, a budget is an amount), then the server's,
// whose messages start with the field they name ("max_turns: Input should be …"; several are joined by "; ").
// An empty optional field means "the default" and is sent as null, which the server takes as "clear".

import { agentNameField, backendField, specializationField } from './addagent.js';
import { api } from './api.js';
import { h } from './dom.js';
import { busy, field, textArea, textInput } from './forms.js';
import { toast } from './toast.js';
import { words } from './vocabulary.js';

/** A value the form itself refuses, with what to say next to the field. */
class Refusal extends Error {}

const text = (value) => (value === null || value === undefined ? '' : String(value));
const lines = (list) => (Array.isArray(list) ? list.join('\n') : '');
/** One tool per line (a tool pattern such as `Bash(git log:*)` may hold commas); none → null (no list). */
const toolList = (value) => {
  const items = value.split('\n').map((s) => s.trim()).filter(Boolean);
  return items.length ? items : null;
};
const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

function wholeTurns(value) {
  const t = value.trim();
  if (!t) return null;
  if (!/^\d+$/.test(t) || Number(t) < 1) throw new Refusal('A whole number of turns, 1 or more (empty: the default).');
  return Number(t);
}

function dollars(value) {
  const t = value.trim().replace(/^\$\s*/, '');
  if (!t) return null;
  const n = Number(t);
  if (!/^[\d.eE+-]+$/.test(t) || !Number.isFinite(n) || n < 0) throw new Refusal('An amount in USD, 0 or more (empty: no budget).');
  return n;
}

function permissionSelect(id) {
  return h('select', { class: 'input', id },
    h('option', { value: '', text: 'Default (GAMMA_PERMISSION_MODE)' }),
    // The server's list (GET /api/vocabulary), in its order.
    ...words().permission_modes.map((mode) => h('option', { value: mode, text: mode })));
}

/**
 * Where a server refusal belongs: `{fields: {key: message}, rest: [message]}`. Pydantic's messages name the
 * field (`allowed_tools.2: …` for a list's third item); a domain refusal names it in the body's `field` (a
 * duplicate name: `field: "name"`).
 */
export function placeRefusal(message, keys, field = null) {
  const placed = { fields: {}, rest: [] };
  for (const part of String(message || '').split('; ').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)((?:\.\d+)*): ([\s\S]+)$/.exec(part);
    let key = null;
    let said = part;
    if (m && keys.includes(m[1])) {
      key = m[1];
      const index = m[2] ? Number(m[2].split('.')[1]) : null;
      said = index === null ? m[3] : `Line ${index + 1}: ${m[3]}`;
    } else if (field && keys.includes(field)) {
      key = field;
    }
    if (key) placed.fields[key] = placed.fields[key] ? `${placed.fields[key]}; ${said}` : said;
    else placed.rest.push(part);
  }
  return placed;
}

export class AgentEditForm {
  /** `onSaved(agent)` gets the server's answer (the store keeps it). */
  constructor(agent, { onSaved } = {}) {
    this.agent = agent;
    this.onSaved = onSaved || (() => {});
    // Each setting: its field, how the agent's value shows in the control, and how the control's text becomes
    // the value sent (a Refusal for what the form refuses itself).
    this.settings = [
      { key: 'name', f: agentNameField('ae-name'), show: text, read: (v) => {
        const t = v.trim();
        if (!t) throw new Refusal('Give the agent a name.');
        return t;
      } },
      { key: 'specialization', f: specializationField('ae-spec'), show: text, read: (v) => v.trim() },
      // A backend this page does not list shows as no choice: left as it is (undefined: not sent).
      { key: 'backend', f: backendField('ae-backend', { withDefault: false }), show: text, read: (v) => v || undefined },
      { key: 'model', f: field('Model', textInput({ id: 'ae-model', maxlength: 100, placeholder: 'Default model', spellcheck: 'false' }),
        { hint: 'As the CLI names it, e.g. sonnet. Empty: the default (GAMMA_MODEL, else the CLI’s).' }),
      show: text, read: (v) => v.trim() || null },
      { key: 'max_turns', f: field('Max turns', textInput({ id: 'ae-max-turns', inputmode: 'numeric', placeholder: 'Default' }), { hint: 'How many turns one run may take. Empty: the default (GAMMA_MAX_TURNS).' }),
        show: text, read: wholeTurns },
      { key: 'permission_mode', f: field('Permission mode', permissionSelect('ae-permission'), { hint: 'What the CLI may do without asking.' }),
        show: text, read: (v) => v || null },
      { key: 'allowed_tools', f: field('Allowed tools', textArea({ id: 'ae-allowed-tools', rows: 3, spellcheck: 'false', placeholder: 'e.g. Read' }),
        { hint: 'One per line, e.g. Edit or Bash(git log:*). Bash is always kept: agents report through it. Empty: no list.' }),
      show: lines, read: toolList },
      { key: 'disallowed_tools', f: field('Disallowed tools', textArea({ id: 'ae-disallowed-tools', rows: 2, spellcheck: 'false', placeholder: 'e.g. WebFetch' }),
        { hint: 'One per line. Empty: none.' }),
      show: lines, read: toolList },
      { key: 'budget_usd', f: field('Budget (USD)', textInput({ id: 'ae-budget', inputmode: 'decimal', placeholder: 'No budget' }),
        { hint: 'Its own spending limit: at the limit its work pauses. Empty: no budget of its own.' }),
      show: text, read: dollars },
    ];
    this.error = h('p', { class: 'form-error', id: 'ae-error', hidden: true, role: 'alert' });
    this.status = h('span', { class: 'ap-edit-status muted small', id: 'ae-status', role: 'status' });
    this.save = h('button', { type: 'submit', class: 'btn btn-primary btn-sm', id: 'ae-save', text: 'Save changes' });
    const undo = h('button', { type: 'button', class: 'btn btn-sm', id: 'ae-undo', text: 'Undo changes' });
    undo.addEventListener('click', () => { this.load(this.agent); this.status.textContent = 'Changes undone.'; });
    this.el = h('form', { class: 'form ap-edit-form', novalidate: true, 'aria-label': 'Agent settings' },
      h('p', { class: 'hint', text: 'Changes apply from its next run.' }),
      this.settings.map((s) => s.f.el),
      this.error,
      h('div', { class: 'ap-edit-actions' }, this.save, undo, this.status));
    this.el.addEventListener('submit', (ev) => { ev.preventDefault(); void this.submit(); });
    this.el.addEventListener('input', () => { this.status.textContent = ''; });
    this.load(agent);
  }

  /** Show `agent`'s settings in every field (what the user typed is dropped). */
  load(agent) {
    this.agent = agent;
    for (const s of this.settings) {
      s.f.control.value = s.show(agent[s.key]);
      s.f.setError('');
    }
    this.error.hidden = true;
  }

  /** The agent changed elsewhere (an `agent.updated` refresh): fields the user has not touched follow it. */
  sync(agent) {
    if (!agent || agent === this.agent) return;
    for (const s of this.settings) {
      if (s.f.control.value === s.show(this.agent[s.key])) s.f.control.value = s.show(agent[s.key]);
    }
    this.agent = agent;
  }

  /** The settings that differ from the agent's, or null when the form refused one (shown next to it). */
  changes() {
    const body = {};
    let refused = null;
    for (const s of this.settings) {
      try {
        const value = s.read(s.f.control.value);
        s.f.setError('');
        if (value !== undefined && !same(value, this.agent[s.key])) body[s.key] = value;
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        s.f.setError(err.message);
        refused = refused || s;
      }
    }
    if (refused) { refused.f.control.focus(); return null; }
    return body;
  }

  async submit() {
    this.error.hidden = true;
    this.status.textContent = '';
    const body = this.changes();
    if (!body) return;
    if (!Object.keys(body).length) { this.status.textContent = 'Nothing to save: no setting changed.'; return; }
    busy(this.save, true, 'Saving…');
    try {
      const agent = await api.updateAgent(this.agent.id, body);
      this.load(agent); // the server's values: trimmed, with Bash kept in the tools
      this.status.textContent = 'Saved.';
      this.onSaved(agent);
      toast(`${agent.name}: settings saved`, 'success');
    } catch (err) {
      this.showRefusal(err);
    } finally {
      busy(this.save, false);
    }
  }

  showRefusal(err) {
    const placed = err.status >= 400 && err.status < 500
      ? placeRefusal(err.message, this.settings.map((s) => s.key), err.body && err.body.field) : { fields: {}, rest: [err.message] };
    let first = null;
    for (const s of this.settings) {
      const message = placed.fields[s.key];
      if (message) { s.f.setError(message); first = first || s; }
    }
    if (placed.rest.length) {
      this.error.textContent = placed.rest.join('; ');
      this.error.hidden = false;
    }
    if (first) first.f.control.focus();
  }
}
