// The team header: inline rename, status, cost, Stop team, Delete (archive) with a confirmation that lists
// the consequences.

import { demoTag } from './agentview.js';
import { api } from './api.js';
import { confirmDialog } from './dialog.js';
import { h, replace } from './dom.js';
import { money, plural } from './format.js';
import { toast, toastError } from './toast.js';

export class TeamHeader {
  constructor(root, store, { onChanged } = {}) {
    this.root = root;
    this.store = store;
    this.onChanged = onChanged || (() => {});
    this.editing = false;
    store.on('team', () => this.render());
    store.on('agents', () => this.render());
    store.on('runs', () => this.render());
    store.on('usage', () => this.render());
    store.on('tasks', () => this.render());
  }

  render() {
    const team = this.store.team;
    if (!team || this.editing) return;
    const crumb = document.getElementById('crumb-team');
    if (crumb) crumb.textContent = team.name;
    document.title = `${team.name} · Gamma`;
    const members = this.store.members();
    // The agents' own states, as the team map shows them: the header and the cards read one state.
    const running = members.filter((a) => a.status === 'running').length;
    const queued = members.filter((a) => a.status === 'queued').length;
    const activeRuns = this.store.runs.length;
    const cost = this.store.totalCost();
    const archived = team.status === 'archived';

    const nameBtn = h('button', { type: 'button', class: 'team-name', title: 'Rename (click or press Enter)', 'aria-label': `Team name: ${team.name}. Activate to rename.` },
      h('span', { text: team.name }), h('span', { class: 'edit-hint', 'aria-hidden': 'true', text: '✎' }));
    nameBtn.addEventListener('click', () => this.startRename(nameBtn));

    const stop = h('button', { type: 'button', class: 'btn btn-danger-ghost', text: 'Stop team', disabled: !running && !queued && !activeRuns, title: 'Cancel every running and queued run of this team' });
    stop.addEventListener('click', () => this.stop());
    const del = h('button', { type: 'button', class: 'btn btn-ghost', text: archived ? 'Archived' : 'Delete…', disabled: archived });
    del.addEventListener('click', () => this.remove());

    replace(this.root,
      h('div', { class: 'team-title' },
        h('h1', {}, nameBtn),
        h('span', { class: `badge status-${team.status || 'active'}`, text: team.status || 'active' }),
        this.store.isDemo() ? demoTag() : null),
      h('div', { class: 'team-facts' },
        team.description ? h('p', { class: 'team-desc', title: team.description, text: team.description }) : null,
        h('span', { class: 'fact' }, plural(members.length, 'agent')),
        h('span', { class: 'fact' }, running ? h('strong', { class: 'ok', text: `${running} running` }) : 'idle', queued ? ` · ${queued} queued` : ''),
        cost !== null ? h('span', { class: 'fact', title: 'Total cost of this team\'s runs' }, money(cost)) : null),
      h('div', { class: 'team-actions' }, stop, del));
  }

  startRename(nameBtn) {
    const team = this.store.team;
    this.editing = true;
    const input = h('input', { class: 'input team-name-input', value: team.name, maxlength: 200, 'aria-label': 'Team name' });
    const finish = async (save) => {
      if (!this.editing) return;
      this.editing = false;
      const value = input.value.trim();
      if (save && value && value !== team.name) {
        try {
          const updated = await api.updateTeam(team.id, { name: value });
          this.store.setTeam(updated);
          toast('Team renamed', 'success');
        } catch (err) {
          toastError(err, 'Rename failed');
          this.render();
        }
      } else {
        this.render();
      }
      const again = this.root.querySelector('.team-name');
      if (again) again.focus();
    };
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') { ev.preventDefault(); finish(true); }
      if (ev.key === 'Escape') { ev.preventDefault(); ev.stopPropagation(); finish(false); }
    });
    input.addEventListener('blur', () => finish(true));
    nameBtn.replaceWith(input);
    input.focus();
    input.select();
  }

  async stop() {
    try {
      const res = await api.stopTeam(this.store.teamId);
      toast(`Stopping the team: ${plural(res.cancelled_runs.length, 'run')} cancelled`, 'success');
      this.onChanged();
    } catch (err) {
      toastError(err, 'Stop failed');
    }
  }

  async remove() {
    const team = this.store.team;
    const members = this.store.members();
    const open = [...this.store.tasks.values()].filter((t) => !['done', 'failed', 'cancelled'].includes(t.stage)).length;
    const ok = await confirmDialog({
      title: `Delete “${team.name}”?`,
      message: 'Deleting archives the team: it leaves the dashboard, and its history stays in the database.',
      consequences: [
        `Running agents are stopped and queued runs cancelled (${plural(this.store.runs.length, 'run')} now).`,
        `All ${plural(members.length, 'agent')} are archived.`,
        `${plural(open, 'unfinished task')} (including tasks in review) ${open === 1 ? 'is' : 'are'} cancelled.`,
        'This cannot be undone. Workspaces on disk and the event log are kept.',
      ],
      confirmLabel: 'Delete team',
      danger: true,
    });
    if (!ok) return;
    try {
      await api.deleteTeam(team.id);
      toast('Team deleted', 'success');
      window.location.assign('/');
    } catch (err) {
      toastError(err, 'Delete failed');
    }
  }
}
