// A team's budget: how spend compares with it (the header's figure, its warning from 80 %, the paused state the
// server decides) and the small dialog that sets, raises or removes it. Raising or removing the budget of a
// paused team resumes its queued work (orchestrator/workflows/budgets.py).

import { api } from './api.js';
import { openDialog } from './dialog.js';
import { h } from './dom.js';
import { busy, field, textInput } from './forms.js';
import { money } from './format.js';

export const WARNING_SHARE = 0.8; // shared/vocabulary.py BUDGET_WARNING_SHARE

/** Dollars with cents, always ("$3.20", "$0.00"): a budget and what was spent read alike. */
export function dollars(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return '';
  return n >= 100 ? money(n) : `$${n.toFixed(2)}`;
}

/**
 * The team's budget as the header shows it: `{budget, spent, share, state}` with state 'none' (no budget),
 * 'ok', 'warned' (80 % or more spent) or 'paused' (spent; the server holds new work). The server's
 * `budget_state` wins where it is stricter: it is what actually holds the queue.
 */
export function budgetView(team, spent) {
  const budget = team && team.budget_usd !== null && team.budget_usd !== undefined ? Number(team.budget_usd) : null;
  const used = Number(spent) || 0;
  if (budget === null) return { budget: null, spent: used, share: null, state: 'none' };
  const share = budget > 0 ? used / budget : 1;
  let state = 'ok';
  if (team.budget_state === 'paused' || share >= 1) state = 'paused';
  else if (team.budget_state === 'warned' || share >= WARNING_SHARE) state = 'warned';
  return { budget, spent: used, share, state };
}

/** Open the budget dialog. `onSaved(team)` gets the team as PATCH /api/teams/:id returned it. */
export function openBudgetDialog(team, { spent = 0, onSaved } = {}) {
  const view = budgetView(team, spent);
  const title = view.budget === null ? 'Set a budget' : (view.state === 'paused' ? 'Raise the budget' : 'Change the budget');
  openDialog({
    title,
    description: 'The team\'s total budget in US dollars. At 80 % you see a warning; when it is spent, running work finishes and nothing new starts until you raise or remove it.',
    initialFocus: '#budget-amount',
    build: (close) => {
      const suggested = view.budget === null ? '' : (view.state === 'paused' ? Math.max(view.budget * 2, view.spent + 1) : view.budget).toFixed(2);
      const amount = field('Budget (USD)', textInput({
        id: 'budget-amount', name: 'budget_usd', type: 'number', min: '0.01', step: '0.01', inputmode: 'decimal', value: suggested,
      }), { required: true, hint: `Spent so far: ${dollars(view.spent)}.${view.budget !== null ? ` The budget now: ${dollars(view.budget)}.` : ''}` });
      const formError = h('p', { class: 'form-error', hidden: true, role: 'alert' });
      const save = h('button', { type: 'submit', class: 'btn btn-primary', text: view.budget === null ? 'Set budget' : 'Save budget' });
      const remove = view.budget === null ? null
        : h('button', { type: 'button', class: 'btn btn-danger-ghost', dataset: { removeBudget: '' }, text: 'Remove the budget' });
      const cancel = h('button', { type: 'button', class: 'btn', text: 'Cancel', onClick: () => close(null) });

      const send = async (budgetUsd, button) => {
        formError.hidden = true;
        busy(button, true, 'Saving…');
        try {
          const updated = await api.updateTeam(team.id, { budget_usd: budgetUsd });
          close(updated);
          if (onSaved) onSaved(updated);
        } catch (err) {
          formError.textContent = err.message;
          formError.hidden = false;
        } finally {
          busy(button, false);
        }
      };

      const form = h('form', { class: 'form budget-form', novalidate: true }, amount.el, formError,
        h('div', { class: 'dialog-actions' }, remove, cancel, save));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const raw = amount.control.value.trim();
        const value = Number(raw);
        let problem = '';
        if (!raw || !Number.isFinite(value) || value <= 0) problem = 'Give an amount in dollars, more than $0.';
        else if (value > 1000000) problem = 'At most $1,000,000.';
        else if (value <= view.spent) problem = `The team has already spent ${dollars(view.spent)}: give more than that, or remove the budget.`;
        amount.setError(problem);
        if (problem) { amount.control.focus(); return; }
        send(Math.round(value * 100) / 100, save);
      });
      if (remove) remove.addEventListener('click', () => send(null, remove));
      return form;
    },
  });
}
