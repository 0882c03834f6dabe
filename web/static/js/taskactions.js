// What a user can do to a task from the board: move it (drag and drop, or the keyboard through its actions
// dialog) along the transitions the server allows by hand, edit it, reassign it, cancel it.
//
// The allowed moves come from the server (GET /api/vocabulary `manual_task_transitions`); the server checks
// them again, and its refusal is shown as it was sent.

import { api } from './api.js';
import { openDialog } from './dialog.js';
import { h } from './dom.js';
import { field, submitShowingErrors, textArea, textInput } from './forms.js';
import { truncate } from './format.js';
import { toast } from './toast.js';
import { words } from './vocabulary.js';

export const STAGE_LABEL = {
  backlog: 'Backlog', blocked: 'Blocked', in_progress: 'In progress', review: 'Review', done: 'Done', failed: 'Failed', cancelled: 'Cancelled',
};

/** A stage's label; a stage this map does not know yet is shown as its name. */
export function stageLabel(stage) {
  return STAGE_LABEL[stage] || String(stage).replace(/_/g, ' ');
}

/** The stages a user may move `task` to by hand. */
export function allowedMoves(task) {
  return (words().manual_task_transitions || {})[task.stage] || [];
}

/** What a move means, said on its button. */
function moveLabel(task, target) {
  if (task.stage === 'review' && target === 'done') return 'Approve and merge';
  if (task.stage === 'review' && target === 'in_progress') return 'Request changes';
  if (target === 'failed') return 'Mark as failed';
  if (target === 'cancelled') return 'Cancel the task';
  return `Move to ${stageLabel(target)}`;
}

/** Keep the store's copy of a task the server returned. */
function keep(store, updated) {
  store.tasks.set(updated.id, { ...store.tasks.get(updated.id), ...updated });
  store.emit('tasks');
}

/**
 * A small form in a dialog for a move that needs words: feedback when sending work back (required), a reason
 * when failing or cancelling (optional). `send(text)` makes the request; its error stays in the form.
 */
function askAndSend({ title, label, required, confirmLabel, danger = false, send }) {
  return new Promise((resolve) => {
    openDialog({
      title,
      initialFocus: '#move-text',
      onClose: (result) => resolve(result || null),
      build: (close) => {
        const text = field(label, textArea({ id: 'move-text', rows: 3, maxlength: 100000 }), { required });
        const error = h('p', { class: 'form-error', hidden: true, role: 'alert' });
        const ok = h('button', { type: 'submit', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, id: 'move-confirm', text: confirmLabel });
        const form = h('form', { class: 'form', novalidate: true }, text.el, error,
          h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'btn', text: 'Back', onClick: () => close(null) }), ok));
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          const value = text.control.value.trim();
          text.setError(required && !value ? 'Say what should change.' : '');
          if (required && !value) { text.control.focus(); return; }
          await submitShowingErrors(ok, error, async () => close(await send(value)));
        });
        return form;
      },
    });
  });
}

/** Move `task` to `target` (asking for feedback or a reason where the move needs one). Resolves the updated
 *  task, or null when the user backed out or the server refused (then a toast says why). */
export async function moveTask(store, task, target) {
  if (!allowedMoves(task).includes(target)) {
    toast(`A ${stageLabel(task.stage).toLowerCase()} task cannot be moved to ${stageLabel(target).toLowerCase()} by hand.`, 'error');
    return null;
  }
  const name = `“${truncate(task.title, 60)}”`;
  let updated = null;
  if (target === 'cancelled') {
    updated = await askAndSend({ title: `Cancel ${name}?`, label: 'Reason (optional)', required: false, danger: true,
      confirmLabel: 'Cancel the task', send: (reason) => api.cancelTask(task.id, reason || 'cancelled by the user') });
  } else if (target === 'failed') {
    updated = await askAndSend({ title: `Mark ${name} as failed?`, label: 'Reason (optional)', required: false, danger: true,
      confirmLabel: 'Mark as failed', send: (reason) => api.changeTask(task.id, reason ? { stage: 'failed', message: reason } : { stage: 'failed' }) });
  } else if (task.stage === 'review' && target === 'in_progress') {
    updated = await askAndSend({ title: `Request changes to ${name}`, label: 'What should change', required: true,
      confirmLabel: 'Send back', send: (message) => api.changeTask(task.id, { stage: 'in_progress', message }) });
  } else {
    try {
      updated = await api.changeTask(task.id, { stage: target });
    } catch (err) {
      toast(err.message, 'error');
      return null;
    }
  }
  if (!updated) return null;
  keep(store, updated);
  toast(updated.note || `${name}: ${stageLabel(updated.stage).toLowerCase()}`, updated.note ? 'info' : 'success');
  return updated;
}

/** Edit a task's title, description and priority, and reassign it — one dialog, errors inline. */
export function openEditTask(store, task) {
  return new Promise((resolve) => {
    openDialog({
      title: 'Edit task',
      initialFocus: '#et-title',
      onClose: (result) => resolve(result || null),
      build: (close) => {
        const title = field('Title', textInput({ id: 'et-title', maxlength: 300, value: task.title }), { required: true });
        const desc = field('Description', textArea({ id: 'et-description', rows: 6, maxlength: 100000 }));
        desc.control.value = task.description || '';
        const priority = field('Priority', h('input', { type: 'number', class: 'input', id: 'et-priority', min: '-100', max: '100', step: '1', value: String(task.priority ?? 0) }),
          { hint: 'Higher runs first, from −100 to 100.' });
        const assignee = field('Assigned to', h('select', { class: 'input', id: 'et-assignee' },
          store.members().map((a) => h('option', { value: a.id, selected: a.id === task.assigned_to, text: `${a.name}${a.is_lead ? ' (lead)' : ''}` }))));
        const error = h('p', { class: 'form-error', hidden: true, role: 'alert', id: 'et-error' });
        const save = h('button', { type: 'submit', class: 'btn btn-primary', id: 'et-save', text: 'Save' });
        const form = h('form', { class: 'form', novalidate: true }, title.el, desc.el,
          h('div', { class: 'field-row' }, priority.el, assignee.el), error,
          h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'btn', text: 'Cancel', onClick: () => close(null) }), save));
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          const body = {};
          const t = title.control.value.trim();
          title.setError(t ? '' : 'A task needs a title.');
          if (!t) { title.control.focus(); return; }
          if (t !== task.title) body.title = t;
          const d = desc.control.value.trim();
          if (d !== (task.description || '')) body.description = d;
          const p = Number(priority.control.value);
          const validPriority = priority.control.value.trim() !== '' && Number.isInteger(p) && p >= -100 && p <= 100;
          priority.setError(validPriority ? '' : 'A whole number from −100 to 100.');
          if (!validPriority) { priority.control.focus(); return; }
          if (p !== (task.priority ?? 0)) body.priority = p;
          if (assignee.control.value && assignee.control.value !== task.assigned_to) body.assignee = assignee.control.value;
          if (!Object.keys(body).length) { close(null); return; }
          await submitShowingErrors(save, error, async () => {
            const updated = await api.changeTask(task.id, body);
            keep(store, updated);
            toast('Task saved', 'success');
            close(updated);
          }, 'Saving…');
        });
        return form;
      },
    });
  });
}

/** Everything a user can do to one task, for the keyboard (and for anyone who prefers buttons to dragging). */
export function openTaskActions(store, task, { onOpen, onRetry } = {}) {
  openDialog({
    title: truncate(task.title, 80),
    description: `${stageLabel(task.stage)}. Move it, edit it or open it.`,
    build: (close) => {
      const act = (label, run, attrs = {}) => h('button', { type: 'button', class: 'btn', ...attrs, text: label,
        onClick: () => { close(null); run(); } });
      const moves = allowedMoves(task).map((target) => act(moveLabel(task, target), () => moveTask(store, task, target),
        { dataset: { move: target }, class: `btn ${['failed', 'cancelled'].includes(target) ? 'btn-danger-ghost' : ''}` }));
      const settled = ['done', 'failed', 'cancelled'].includes(task.stage);
      return h('div', { class: 'task-action-list' },
        moves.length ? h('div', { class: 'task-moves', role: 'group', 'aria-label': 'Move' }, moves)
          : h('p', { class: 'muted small', text: task.stage === 'done' ? 'Done tasks stay done.' : `A ${stageLabel(task.stage).toLowerCase()} task moves by itself.` }),
        h('div', { class: 'dialog-actions' },
          onOpen ? act('Open', () => onOpen(task.id), { 'data-action': 'open' }) : null,
          settled ? null : act('Edit or reassign…', () => openEditTask(store, task), { 'data-action': 'edit' }),
          ['failed', 'cancelled'].includes(task.stage) && onRetry ? act('Retry as a new task', () => onRetry(task), { 'data-action': 'retry' }) : null));
    },
  });
}

/**
 * Drag and drop between the board's sections: while a card is dragged, the sections it may go to are marked
 * `data-drop="yes"` (the others "no") and only those accept the drop. Returns whether a drag is under way.
 */
export function enableDragAndDrop(root, store, { onEnd } = {}) {
  let dragged = null;
  const sectionOf = (el) => el && el.closest ? el.closest('[data-section]') : null;
  const clear = () => {
    const was = dragged;
    dragged = null;
    for (const s of root.querySelectorAll('[data-section]')) { delete s.dataset.drop; s.classList.remove('drop-over'); }
    if (was && onEnd) onEnd();
  };
  root.addEventListener('dragstart', (ev) => {
    const card = ev.target.closest ? ev.target.closest('[data-card-task]') : null;
    const task = card ? store.tasks.get(card.dataset.cardTask) : null;
    if (!task) return;
    dragged = task;
    ev.dataTransfer.effectAllowed = 'move';
    ev.dataTransfer.setData('text/plain', task.id);
    const allowed = allowedMoves(task);
    for (const s of root.querySelectorAll('[data-section]')) s.dataset.drop = allowed.includes(s.dataset.section) ? 'yes' : 'no';
  });
  root.addEventListener('dragover', (ev) => {
    const section = sectionOf(ev.target);
    if (!dragged || !section || section.dataset.drop !== 'yes') return;
    ev.preventDefault(); // this section accepts the drop
    ev.dataTransfer.dropEffect = 'move';
    for (const s of root.querySelectorAll('.drop-over')) if (s !== section) s.classList.remove('drop-over');
    section.classList.add('drop-over');
  });
  root.addEventListener('drop', (ev) => {
    const section = sectionOf(ev.target);
    const task = dragged;
    clear();
    if (!task || !section) return;
    ev.preventDefault();
    void moveTask(store, task, section.dataset.section);
  });
  root.addEventListener('dragend', clear);
  return () => dragged !== null;
}
