// The "Add agent" dialog: a role (picker, Engineering first), a name (filled in from the role), an optional
// specialization and the backend (CLI) it runs on.

import { api } from './api.js';
import { backendSelect } from './backends.js';
import { openDialog } from './dialog.js';
import { h } from './dom.js';
import { busy, field, textArea, textInput } from './forms.js';
import { toast } from './toast.js';
import { rolePicker } from './rolepicker.js';

export function openAddAgentDialog(store, { onAdded } = {}) {
  openDialog({
    title: 'Add an agent',
    description: 'A specialist joins the team; the lead can delegate to it from its next turn.',
    wide: true,
    build: (close) => {
      const name = field('Name', textInput({ id: 'aa-name', maxlength: 100, placeholder: 'Filled in from the role' }), { required: true });
      const backend = field('Runs on', backendSelect({ id: 'aa-backend' }), { hint: 'Which agent CLI runs this agent; one team can mix them.' });
      const spec = field('Specialization', textArea({ id: 'aa-spec', rows: 2, maxlength: 2000, placeholder: 'e.g. owns the payments API (optional)' }));
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
