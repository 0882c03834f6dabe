// The team header: inline rename, status, spend against the budget (a warning from 80 %, a banner while the
// spent budget pauses the team, with the way to raise or remove it), Stop team, Delete (archive) with a
// confirmation that lists the consequences.

import { demoTag } from './agentview.js';
import { api } from './api.js';
import { budgetView, dollars, openBudgetDialog } from './budget.js';
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
    // The paused banner sits under the header row, across the page, where it cannot be missed.
    this.banner = h('div', { class: 'budget-banner', id: 'budget-banner', role: 'status', hidden: true });
    root.after(this.banner);
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
        this.budgetFact(team, cost, archived)),
      h('div', { class: 'team-actions' }, stop, del));
    this.renderBanner(team, archived);
  }

  /** What the team has spent: spend only grows, so the fresher of the usage total and the team's own figure. */
  spent(team = this.store.team) {
    return Math.max(Number(team && team.cost_usd) || 0, Number(this.store.totalCost()) || 0);
  }

  /** "$3.20 of $5.00" (warned from 80 %, paused when spent) with the button that changes it; the bare cost and
   *  "Set budget" when the team has none. */
  budgetFact(team, cost, archived) {
    const view = budgetView(team, this.spent(team));
    const edit = archived ? null : h('button', {
      type: 'button', class: 'btn btn-ghost btn-sm budget-edit', 'aria-haspopup': 'dialog',
      text: view.budget === null ? 'Set budget' : 'Budget…',
      title: view.budget === null ? 'Give the team a total budget' : 'Raise, lower or remove the team\'s budget',
    });
    if (edit) edit.addEventListener('click', () => this.editBudget());
    if (view.budget === null) {
      return h('span', { class: 'fact budget-fact', dataset: { budget: 'none' } },
        cost !== null ? h('span', { title: 'Total cost of this team\'s runs', text: money(cost) }) : null, edit);
    }
    const said = { ok: 'within the budget', warned: `${Math.round(view.share * 100)} % of the budget spent`, paused: 'the budget is spent' }[view.state];
    return h('span', { class: ['fact', 'budget-fact', `budget-${view.state}`], dataset: { budget: view.state }, title: `Spent ${dollars(view.spent)} of a ${dollars(view.budget)} budget: ${said}` },
      view.state === 'warned' ? h('span', { class: 'budget-icon', 'aria-hidden': 'true', text: '⚠' }) : null,
      h('span', { class: 'budget-figure', text: `${dollars(view.spent)} of ${dollars(view.budget)}` }),
      view.state === 'warned' ? h('span', { class: 'sr-only', text: ` (${said})` }) : null,
      edit);
  }

  renderBanner(team, archived) {
    const view = budgetView(team, this.spent(team));
    const paused = !archived && view.state === 'paused';
    this.banner.hidden = !paused;
    if (!paused) { replace(this.banner); return; }
    const raise = h('button', { type: 'button', class: 'btn btn-primary btn-sm', 'aria-haspopup': 'dialog', text: 'Raise the budget…' });
    raise.addEventListener('click', () => this.editBudget());
    const remove = h('button', { type: 'button', class: 'btn btn-sm', text: 'Remove the budget' });
    remove.addEventListener('click', () => this.removeBudget(remove));
    replace(this.banner,
      h('span', { class: 'budget-banner-icon', 'aria-hidden': 'true', text: '⏸' }),
      h('span', { class: 'budget-banner-text' },
        h('strong', { text: 'Paused: the budget is spent' }),
        ` (${dollars(view.spent)} of ${dollars(view.budget)}). Running work finishes; queued work waits until you raise or remove the budget.`),
      h('span', { class: 'budget-banner-actions' }, raise, remove));
  }

  editBudget() {
    openBudgetDialog(this.store.team, {
      spent: this.spent(),
      onSaved: (updated) => this.budgetSaved(updated),
    });
  }

  async removeBudget(button) {
    button.disabled = true;
    try {
      this.budgetSaved(await api.updateTeam(this.store.teamId, { budget_usd: null }));
    } catch (err) {
      toastError(err, 'Could not remove the budget');
      button.disabled = false;
    }
  }

  budgetSaved(updated) {
    const was = budgetView(this.store.team, this.spent()).state;
    this.store.setTeam(updated);
    const now = budgetView(updated, this.spent(updated)).state;
    if (updated.budget_usd === null || updated.budget_usd === undefined) toast('Budget removed', 'success');
    else toast(`Budget set to ${dollars(updated.budget_usd)}`, 'success');
    if (was === 'paused' && now !== 'paused') toast('The team goes on: its queued work starts again', 'success');
    this.onChanged(); // runs and usage: resumed work leaves the queue
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
