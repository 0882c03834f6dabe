// The "New team" dialog: name, description, either a blueprint (a ready-made team) or a lead role, the roster
// (the roles a blueprint brings, each of which can be left out or renamed, and members added from the role
// library), an optional budget; "Create and open" goes to the new team's page.

import { api } from './api.js';
import { openDialog } from './dialog.js';
import { h, replace } from './dom.js';
import { busy, field, textArea, textInput } from './forms.js';
import { rolePicker } from './rolepicker.js';

// ------------------------------------------------------------------------------------------------ roster
// The agents a blueprint brings (each can be left out or renamed; the lead always joins) and members added
// from the role library. `request()` gives what POST /api/teams takes.

const MAX_MEMBERS = 39; // web/api/teams.py: a team has at most 40 agents, the lead included

// The API's agent settings (web/api/teams.py AgentSettings) a blueprint's expanded agent may carry.
const SETTINGS = ['specialization', 'emoji', 'backend', 'model', 'max_turns', 'permission_mode', 'allowed_tools', 'disallowed_tools', 'budget_usd'];

let uid = 0;

function settingsOf(agent) {
  const out = {};
  for (const key of SETTINGS) {
    const value = agent[key];
    if (value !== null && value !== undefined && value !== '') out[key] = value;
  }
  return out;
}

/** A name not yet taken (case-insensitive), as the server's blueprint expansion numbers them: "Name 2". */
function freeName(wanted, taken) {
  const lower = new Set(taken.map((n) => n.toLowerCase()));
  let name = wanted;
  for (let n = 2; lower.has(name.toLowerCase()); n += 1) name = `${wanted} ${n}`;
  return name;
}

function roster() {
  let rows = []; // {key, origin: 'blueprint'|'added', isLead, roleId, roleName, emoji, original, settings, included, input}
  let blueprint = null;
  let mode = 'blueprint';
  let picker = null;

  const list = h('ul', { class: 'nt-roster-list', id: 'nt-roster-list', 'aria-label': 'Members of the new team' });
  const intro = h('p', { class: 'muted small nt-roster-intro' });
  const error = h('p', { class: 'field-error', id: 'nt-roster-error', hidden: true, role: 'alert' });

  // Adding a member: the role picker is built on first use (one picker is on the dialog until then).
  const addName = h('input', { type: 'text', class: 'input', id: 'nt-member-name', maxlength: 100, autocomplete: 'off', placeholder: 'Filled in from the role' });
  const addButton = h('button', { type: 'button', class: 'btn', id: 'nt-member-add', text: 'Add member' });
  const addError = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  const pickerHost = h('div', { class: 'nt-member-picker' });
  const adder = h('details', { class: 'nt-adder', id: 'nt-adder' },
    h('summary', { text: 'Add a member from the role library' }),
    pickerHost,
    h('div', { class: 'nt-adder-row' },
      h('label', { for: addName.id, class: 'small', text: 'Name' }), addName, addButton),
    addError);
  addName.addEventListener('input', () => { addName.dataset.auto = '0'; });
  adder.addEventListener('toggle', () => {
    if (!adder.open || picker) return;
    picker = rolePicker({
      name: 'nt-member-role',
      defaultCategory: 'engineering',
      label: 'Member role',
      onSelect: (role) => {
        addError.hidden = true;
        if (!addName.value.trim() || addName.dataset.auto === '1') {
          addName.value = freeName(role.name, names());
          addName.dataset.auto = '1';
        }
      },
    });
    pickerHost.append(picker.el);
  });
  addButton.addEventListener('click', () => {
    const role = picker && picker.value();
    const name = addName.value.trim();
    let problem = '';
    if (!role) problem = 'Choose a role for the new member.';
    else if (!name) problem = 'Give the new member a name.';
    else if (names().some((n) => n.toLowerCase() === name.toLowerCase())) problem = `There is already a member called “${name}”.`;
    addError.textContent = problem;
    addError.hidden = !problem;
    if (problem) return;
    rows.push(row({ origin: 'added', isLead: false, roleId: role.id, roleName: role.name, emoji: role.emoji, name, settings: {} }));
    addName.value = '';
    addName.dataset.auto = '1';
    render();
    const added = list.querySelector('li:last-child input[type=text]');
    if (added) added.focus();
  });

  const el = h('fieldset', { class: 'nt-roster', id: 'nt-roster' },
    h('legend', { class: 'field-label', text: 'Members' }), intro, list, error, adder);

  function row({ origin, isLead, roleId, roleName, emoji, name, settings }) {
    uid += 1;
    return { key: `m${uid}`, origin, isLead, roleId, roleName, emoji, original: name, settings, included: true, name };
  }

  /** The names of the members who join (the lead of the role mode is named by its own field). */
  function names() {
    return rows.filter((r) => r.included).map((r) => r.name.trim()).filter(Boolean);
  }

  function render() {
    const shown = rows.filter((r) => mode === 'blueprint' || r.origin === 'added');
    if (mode === 'blueprint') {
      intro.textContent = blueprint
        ? `The roles “${blueprint.name}” brings. Untick any you do not want, rename them, or add others below.`
        : 'Choose a blueprint to see the roles it brings; you can also add members below.';
    } else {
      intro.textContent = shown.length ? 'Members who join the lead:' : 'Only the lead for now; add members below, or later from the team page.';
    }
    replace(list, shown.map((r) => {
      const label = `${r.roleName}${r.isLead ? ' (lead)' : ''}`;
      const check = h('input', {
        type: 'checkbox', checked: r.included, disabled: r.isLead, id: `nt-inc-${r.key}`,
        'aria-label': r.isLead ? `${r.name}, the lead, always joins` : `Include ${r.name} (${label})`,
      });
      check.addEventListener('change', () => { r.included = check.checked; error.hidden = true; li.classList.toggle('is-left-out', !r.included); input.disabled = !r.included; });
      const input = h('input', { type: 'text', class: 'input input-sm', value: r.name, maxlength: 100, disabled: !r.included, 'aria-label': `Name of the ${label}` });
      input.addEventListener('input', () => { r.name = input.value; error.hidden = true; });
      const remove = r.origin === 'added'
        ? h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: 'Remove', 'aria-label': `Remove ${r.name}` }) : null;
      if (remove) remove.addEventListener('click', () => { rows = rows.filter((x) => x !== r); render(); addButton.focus(); });
      const li = h('li', { class: ['nt-member', !r.included && 'is-left-out', r.origin === 'added' && 'is-added'], dataset: { roleId: r.roleId, origin: r.origin, lead: r.isLead ? '1' : '0' } },
        check,
        h('span', { class: 'nt-member-emoji', 'aria-hidden': 'true', text: r.emoji || '🤖' }),
        input,
        h('span', { class: 'nt-member-role', text: r.roleName }),
        r.isLead ? h('span', { class: 'tag tag-lead', text: 'Lead' }) : null,
        remove);
      return li;
    }));
  }

  return {
    el,
    setMode(next) { mode = next; error.hidden = true; render(); },
    /** Show what a blueprint brings (from GET /api/blueprints, or GET /api/blueprints/:id when the list lacks it). */
    async setBlueprint(bp) {
      blueprint = bp;
      const detail = Array.isArray(bp.agents) ? bp : await api.getBlueprint(bp.id);
      if (blueprint !== bp) return; // another one was picked meanwhile
      const slots = [detail.lead || {}, ...(detail.members || [])];
      const roleName = (roleId) => (slots.find((s) => s.role === roleId) || {}).role_name || roleId;
      const emoji = (roleId) => (slots.find((s) => s.role === roleId) || {}).emoji;
      rows = [
        ...detail.agents.map((a) => row({ origin: 'blueprint', isLead: Boolean(a.is_lead), roleId: a.role_id, roleName: roleName(a.role_id), emoji: a.emoji || emoji(a.role_id), name: a.name, settings: settingsOf(a) })),
        ...rows.filter((r) => r.origin === 'added'),
      ];
      render();
    },
    /**
     * What to send: `{blueprint_id}` when the blueprint is taken as it is, else `{lead?, members}` (the roles it
     * brings as picked, and the added ones): the API takes a blueprint or an explicit list, not both.
     * `teamName` goes into the lead's brief as the server's own expansion puts it. Returns {body} or {error}.
     */
    request(teamName) {
      const joining = rows.filter((r) => r.included && (mode === 'blueprint' || r.origin === 'added'));
      const seen = new Set();
      for (const r of joining) {
        const name = r.name.trim();
        if (!name) return { error: `Give the ${r.roleName} a name (or untick it).` };
        if (seen.has(name.toLowerCase())) return { error: `Two members are called “${name}”: rename one.` };
        seen.add(name.toLowerCase());
      }
      if (joining.filter((r) => !r.isLead).length > MAX_MEMBERS) return { error: `A team has at most ${MAX_MEMBERS + 1} agents.` };
      const untouched = mode === 'blueprint' && rows.every((r) => r.origin === 'blueprint' && r.included && r.name.trim() === r.original);
      if (mode === 'blueprint' && untouched) return { body: { blueprint_id: blueprint.id } };
      const spec = (r) => {
        const out = { name: r.name.trim(), role_id: r.roleId, ...r.settings };
        if (r.isLead && out.specialization && teamName) {
          out.specialization = out.specialization.replace(/^You lead a team /, `You lead the team ${JSON.stringify(teamName)}, `);
        }
        return out;
      };
      const lead = joining.find((r) => r.isLead);
      const body = { members: joining.filter((r) => !r.isLead).map(spec) };
      if (lead) body.lead = spec(lead);
      return { body };
    },
    showError(message) { error.textContent = message; error.hidden = !message; if (message) el.scrollIntoView({ block: 'nearest' }); },
    hasBlueprint: () => Boolean(blueprint),
  };
}

// ------------------------------------------------------------------------------------------------ dialog

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

/** Open the dialog. `onCreated(team, {open})` runs after the server created the team; `open` is true when the
 *  user chose "Create and open" (the caller goes to the team's page). */
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

      const members = roster();
      const budget = field('Budget (USD)', textInput({ id: 'nt-budget', name: 'budget_usd', type: 'number', min: '0.01', step: '0.01', inputmode: 'decimal', placeholder: 'No limit' }),
        { hint: 'Optional. The team pauses when it has spent this much; you can raise or remove it later.' });

      const setMode = (next) => {
        mode = next;
        bpPane.hidden = mode !== 'blueprint';
        rolePane.hidden = mode !== 'role';
        members.setMode(mode);
      };
      members.setMode(mode);
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
          members.setBlueprint(picked).catch((err) => members.showError(`Could not load the blueprint's roles: ${err.message}`));
        })));
      }).catch((err) => {
        replace(bpGrid, h('p', { class: 'field-error', text: `Could not load blueprints: ${err.message}` }));
      });

      const formError = h('p', { class: 'form-error', hidden: true, role: 'alert' });
      // Enter (and "Create team") stays on the dashboard with the new card; "Create and open" goes to the team.
      const submit = h('button', { type: 'submit', class: 'btn', text: 'Create team' });
      const createOpen = h('button', { type: 'button', class: 'btn btn-primary', id: 'nt-create-open', text: 'Create and open' });
      const cancel = h('button', { type: 'button', class: 'btn', text: 'Cancel', onClick: () => close(null) });

      const form = h('form', { class: 'form', novalidate: true },
        name.el, desc.el,
        h('div', { class: 'field' }, h('span', { class: 'field-label', text: 'Start from' }), modes),
        bpPane, rolePane, members.el, budget.el, formError,
        h('div', { class: 'dialog-actions' }, cancel, submit, createOpen));
      let open = false;
      createOpen.addEventListener('click', () => { open = true; form.requestSubmit(); });

      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const button = open ? createOpen : submit;
        const opening = open;
        open = false;
        formError.hidden = true;
        members.showError('');
        const teamName = name.control.value.trim();
        name.setError(teamName ? '' : 'Give the team a name.');
        let body = { name: teamName };
        const description = desc.control.value.trim();
        if (description) body.description = description;
        let ok = Boolean(teamName);
        const budgetText = budget.control.value.trim();
        const budgetUsd = Number(budgetText);
        const budgetProblem = budgetText && (!Number.isFinite(budgetUsd) || budgetUsd <= 0 || budgetUsd > 1000000)
          ? 'A budget is an amount in dollars, more than $0 (at most $1,000,000); leave it empty for no limit.' : '';
        budget.setError(budgetProblem);
        if (budgetProblem) ok = false;
        else if (budgetText) body.budget_usd = Math.round(budgetUsd * 100) / 100;
        if (mode === 'blueprint' && !chosenBlueprint) {
          bpError.textContent = 'Choose a blueprint (or switch to “Lead role”).'; bpError.hidden = false; ok = false;
        } else if (mode === 'blueprint' && !members.hasBlueprint()) {
          ok = false; // its roles are still loading
        } else if (mode === 'blueprint') {
          const picked = members.request(teamName);
          if (picked.error) { members.showError(picked.error); ok = false; } else Object.assign(body, picked.body);
        } else {
          const role = picker.value();
          if (!role) { roleError.textContent = 'Choose a role for the lead.'; roleError.hidden = false; ok = false; }
          else {
            body.lead = { role_id: role.id };
            const ln = leadName.control.value.trim();
            if (ln) body.lead.name = ln;
            const picked = members.request(teamName);
            if (picked.error) { members.showError(picked.error); ok = false; }
            else if (picked.body.members.length) body.members = picked.body.members;
          }
        }
        if (!ok) {
          const bad = form.querySelector('[aria-invalid="true"]');
          if (bad) bad.focus();
          return;
        }
        busy(button, true, 'Creating…');
        try {
          const team = await api.createTeam(body);
          close(team);
          if (onCreated) onCreated(team, { open: opening });
        } catch (err) {
          formError.textContent = err.message;
          formError.hidden = false;
        } finally {
          busy(button, false);
        }
        body = null;
      });
      return form;
    },
  });
}
