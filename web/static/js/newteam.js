// The "New team" dialog: name, description, and either a blueprint (a ready-made team) or a lead role.

import { api } from './api.js';
import { openDialog } from './dialog.js';
import { h, replace } from './dom.js';
import { busy, field, textArea, textInput } from './forms.js';
import { rolePicker } from './rolepicker.js';

function blueprintCard(bp, onPick) {
  const input = h('input', { type: 'radio', name: 'blueprint', value: bp.id, class: 'sr-only' });
  input.addEventListener('change', () => onPick(bp, input));
  const lead = bp.lead || {};
  const members = Array.isArray(bp.members) ? bp.members : [];
  const faces = [lead, ...members].map((m) => (m.emoji || '🤖').repeat(Math.min(m.count || 1, 3))).join(' ');
  return h('label', { class: 'bp-card', dataset: { blueprintId: bp.id } },
    input,
    h('span', { class: 'bp-head' },
      h('span', { class: 'bp-name', text: bp.name }),
      h('span', { class: 'badge', text: `${bp.size || 1 + members.reduce((n, m) => n + (m.count || 1), 0)} agents` })),
    h('span', { class: 'bp-desc', text: bp.description || '' }),
    h('span', { class: 'bp-faces', 'aria-hidden': 'true', text: faces }),
    h('span', { class: 'bp-lead', text: `Lead: ${lead.role_name || lead.name || lead.role || '—'}` }));
}

/** Open the dialog. `onCreated(team)` runs after the server created the team. */
export function openNewTeamDialog({ onCreated } = {}) {
  openDialog({
    title: 'New team',
    description: 'Start from a blueprint (a ready-made team) or pick a lead and add members later.',
    wide: true,
    initialFocus: '#nt-name',
    build: (close) => {
      const name = field('Team name', textInput({ id: 'nt-name', name: 'name', maxlength: 200, placeholder: 'e.g. Checkout revamp' }), { required: true });
      const desc = field('Description', textArea({ id: 'nt-desc', name: 'description', maxlength: 10000, rows: 2, placeholder: 'What is this team for? (optional)' }));

      let mode = 'blueprint';
      let chosenBlueprint = null;
      const modeBlueprint = h('input', { type: 'radio', name: 'nt-mode', value: 'blueprint', checked: true, id: 'nt-mode-bp' });
      const modeRole = h('input', { type: 'radio', name: 'nt-mode', value: 'role', id: 'nt-mode-role' });
      const modes = h('fieldset', { class: 'segmented' },
        h('legend', { class: 'sr-only', text: 'Start from' }),
        h('label', { for: 'nt-mode-bp' }, modeBlueprint, h('span', { text: 'Blueprint' })),
        h('label', { for: 'nt-mode-role' }, modeRole, h('span', { text: 'Lead role' })));

      const bpGrid = h('div', { class: 'bp-grid', role: 'radiogroup', 'aria-label': 'Blueprints' }, h('p', { class: 'muted', text: 'Loading blueprints…' }));
      const bpError = h('p', { class: 'field-error', hidden: true, role: 'alert' });
      const bpPane = h('div', { class: 'nt-pane', id: 'nt-pane-bp' }, bpGrid, bpError);

      const leadName = field('Lead name', textInput({ id: 'nt-lead-name', maxlength: 100, placeholder: 'Filled in from the role' }), { hint: 'Optional.' });
      const roleError = h('p', { class: 'field-error', hidden: true, role: 'alert' });
      const picker = rolePicker({
        name: 'nt-lead-role',
        defaultCategory: 'leadership',
        label: 'Lead role',
        onSelect: (role) => {
          roleError.hidden = true;
          if (!leadName.control.value.trim() || leadName.control.dataset.auto === '1') {
            leadName.control.value = role.name;
            leadName.control.dataset.auto = '1';
          }
        },
      });
      leadName.control.addEventListener('input', () => { leadName.control.dataset.auto = '0'; });
      const rolePane = h('div', { class: 'nt-pane', id: 'nt-pane-role', hidden: true }, picker.el, roleError, leadName.el);

      const setMode = (next) => {
        mode = next;
        bpPane.hidden = mode !== 'blueprint';
        rolePane.hidden = mode !== 'role';
      };
      modeBlueprint.addEventListener('change', () => setMode('blueprint'));
      modeRole.addEventListener('change', () => setMode('role'));

      api.listBlueprints().then((blueprints) => {
        if (!blueprints.length) {
          replace(bpGrid, h('p', { class: 'muted', text: 'No blueprints installed. Pick a lead role instead.' }));
          modeRole.checked = true;
          setMode('role');
          return;
        }
        replace(bpGrid, blueprints.map((bp) => blueprintCard(bp, (picked) => {
          chosenBlueprint = picked;
          bpError.hidden = true;
          bpGrid.querySelectorAll('.bp-card').forEach((c) => c.classList.toggle('selected', c.dataset.blueprintId === picked.id));
        })));
      }).catch((err) => {
        replace(bpGrid, h('p', { class: 'field-error', text: `Could not load blueprints: ${err.message}` }));
      });

      const formError = h('p', { class: 'form-error', hidden: true, role: 'alert' });
      const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Create team' });
      const cancel = h('button', { type: 'button', class: 'btn', text: 'Cancel', onClick: () => close(null) });

      const form = h('form', { class: 'form', novalidate: true },
        name.el, desc.el,
        h('div', { class: 'field' }, h('span', { class: 'field-label', text: 'Start from' }), modes),
        bpPane, rolePane, formError,
        h('div', { class: 'dialog-actions' }, cancel, submit));

      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        formError.hidden = true;
        const teamName = name.control.value.trim();
        name.setError(teamName ? '' : 'Give the team a name.');
        let body = { name: teamName };
        const description = desc.control.value.trim();
        if (description) body.description = description;
        let ok = Boolean(teamName);
        if (mode === 'blueprint') {
          if (!chosenBlueprint) { bpError.textContent = 'Choose a blueprint (or switch to “Lead role”).'; bpError.hidden = false; ok = false; }
          else body.blueprint_id = chosenBlueprint.id;
        } else {
          const role = picker.value();
          if (!role) { roleError.textContent = 'Choose a role for the lead.'; roleError.hidden = false; ok = false; }
          else {
            body.lead = { role_id: role.id };
            const ln = leadName.control.value.trim();
            if (ln) body.lead.name = ln;
          }
        }
        if (!ok) {
          const bad = form.querySelector('[aria-invalid="true"]');
          if (bad) bad.focus();
          return;
        }
        busy(submit, true, 'Creating…');
        try {
          const team = await api.createTeam(body);
          close(team);
          if (onCreated) onCreated(team);
        } catch (err) {
          formError.textContent = err.message;
          formError.hidden = false;
        } finally {
          busy(submit, false);
        }
        body = null;
      });
      return form;
    },
  });
}
