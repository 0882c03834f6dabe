// The "Add agent" dialog: a role (picker, Engineering first), a name (filled in from the role), an optional
// specialization and the backend (CLI) it runs on. Its fields are shared with the agent panel's settings form
// (agentedit.js), so both ask for them alike.

import { api } from './api.js';
import { backendSelect } from './backends.js';
import { openDialog } from './dialog.js';
import { h } from './dom.js';
import { busy, field, textArea, textInput } from './forms.js';
import { toast } from './toast.js';
import { rolePicker } from './rolepicker.js';

/** The agent's name: required, at most 100 characters (web/api/_helpers.py AgentName). */
export function agentNameField(id, attrs = {}) {
  return field('Name', textInput({ id, maxlength: 100, ...attrs }), { required: true });
}

/** What the agent specializes in: optional, at most 2000 characters (ShortText). */
export function specializationField(id, attrs = {}) {
  return field('Specialization', textArea({ id, rows: 2, maxlength: 2000, placeholder: 'e.g. owns the payments API (optional)', ...attrs }));
}

/** Which backend (agent CLI) runs it. `withDefault`: offer "the server's default" — a new agent may leave the
 *  choice to GAMMA_BACKEND; an existing agent always has a backend (PATCH refuses null). */
export function backendField(id, { withDefault = true } = {}) {
  const select = backendSelect({ id });
  if (!withDefault) select.querySelector('option[value=""]').remove();
  return field('Runs on', select, { hint: 'Which agent CLI runs this agent; one team can mix them.' });
}

export function openAddAgentDialog(store, { onAdded } = {}) {
  openDialog({
    title: 'Add an agent',
    description: 'A specialist joins the team; the lead can delegate to it from its next turn.',
    wide: true,
    build: (close) => {
      const name = agentNameField('aa-name', { placeholder: 'Filled in from the role' });
      const backend = backendField('aa-backend');
      const spec = specializationField('aa-spec');
      const roleError = h('p', { class: 'field-error', hidden: true, role: 'alert' });
      const picker = rolePicker({
        name: 'aa-role',
        defaultCategory: 'engineering',
        onSelect: (role) => {
          roleError.hidden = true;
          if (!name.control.value.trim() || name.control.dataset.auto === '1') {
            name.control.value = role.name;
            name.control.dataset.auto = '1';
          }
        },
      });
      name.control.addEventListener('input', () => { name.control.dataset.auto = '0'; });
      const error = h('p', { class: 'form-error', hidden: true, role: 'alert' });
      const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Add agent' });
      const form = h('form', { class: 'form', novalidate: true },
        h('div', { class: 'field' }, h('span', { class: 'field-label', text: 'Role' }), picker.el, roleError),
        name.el, spec.el, backend.el, error,
        h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'btn', text: 'Cancel', onClick: () => close(null) }), submit));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const role = picker.value();
        const agentName = name.control.value.trim();
        roleError.textContent = 'Choose a role.';
        roleError.hidden = Boolean(role);
        name.setError(agentName ? '' : 'Give the agent a name.');
        if (!role || !agentName) return;
        const body = { name: agentName, role_id: role.id };
        const s = spec.control.value.trim();
        if (s) body.specialization = s;
        if (backend.control.value) body.backend = backend.control.value;
        busy(submit, true, 'Adding…');
        error.hidden = true;
        try {
          const agent = await api.addAgent(store.teamId, body);
          store.setAgent(agent);
          close(agent);
          toast(`${agentName} joined the team`, 'success');
          if (onAdded) onAdded(agent);
        } catch (err) {
          error.textContent = err.message;
          error.hidden = false;
        } finally {
          busy(submit, false);
        }
      });
      setTimeout(() => picker.focus(), 0);
      return form;
    },
  });
}
