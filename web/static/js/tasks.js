// The task board: one section per stage with counts — a list beside the chat, columns when widened ("Board");
// a card shows its owner, what it waits for, its diff stats and result, and opens the task's detail. Cards move
// by drag and drop or from their actions dialog (taskactions.js); failed and cancelled tasks can be retried (a
// new task with the same brief); tasks can be added by hand.

import { agentChip } from './agentview.js';
import { api } from './api.js';
import { diffView } from './code.js';
import { openDialog } from './dialog.js';
import { h, replace, replaceKeepingFocus } from './dom.js';
import { busy, field, submitShowingErrors, textArea, textInput } from './forms.js';
import { dateTime, firstLine, pretty, timeAgo, truncate } from './format.js';
import { loadError } from './loaderror.js';
import { inline, renderMarkdown } from './markdown.js';
import { enableDragAndDrop, moveTask, openEditTask, openTaskActions, stageLabel } from './taskactions.js';
import { toast, toastError } from './toast.js';
import { words } from './vocabulary.js';

// Sections are the server's task stages, in its display order (vocabulary.js); these start closed.
const CLOSED_BY_DEFAULT = new Set(['done', 'cancelled']);
// On the wide board these columns can be folded to a narrow strip (the others always show).
const FOLDABLE = new Set(['done', 'failed', 'cancelled']);

/** One section per stage the server knows. */
const REVIEW_LABEL = { requested: 'Review requested', approved: 'Approved', changes_requested: 'Changes requested', rejected: 'Rejected' };

function sections() {
  return words().task_stages.map((stage) => ({
    id: stage, label: stageLabel(stage), stages: [stage], open: !CLOSED_BY_DEFAULT.has(stage),
  }));
}

const RUN_BADGE = {
  running: 'stage-in_progress', queued: 'stage-backlog', succeeded: 'stage-done', failed: 'stage-failed',
  timed_out: 'stage-failed', interrupted: 'stage-failed', cancelled: 'stage-cancelled',
};

function stageBadge(stage) {
  return h('span', { class: `badge stage-${stage}`, text: stageLabel(stage) });
}

function kindBadge(kind) {
  return h('span', { class: `badge kind-${kind || 'generic'}`, text: kind || 'generic' });
}

/** A task's result: the JSON object orchestrator/tasks.py merges into as the task moves — `summary` from the
 *  assignee, `reason` (failed/cancelled) or `blocker` (blocked), plus notes such as `message`, `review_message`,
 *  `auto`, `run_id`, `reported_files` (what the agent said it changed), shown as "details". null before any. */
function resultParts(result) {
  if (!result) return { summary: '', rest: null };
  const summary = result.summary || result.reason || result.blocker || '';
  const rest = { ...result };
  delete rest.summary;
  for (const k of ['reason', 'blocker']) if (rest[k] === summary) delete rest[k];
  return { summary, rest: Object.keys(rest).length ? rest : null };
}

/** What git measured of the task's branch (`task.changes`, orchestrator/workflows/work_product.py): one line per
 *  file with its status and line counts, the branch and its merge into the main line. */
function changesBlock(task) {
  const files = (task.changes && Array.isArray(task.changes.files)) ? task.changes.files : [];
  const merge = task.merge && task.merge.state ? ` · ${task.merge.state.replace('_', ' ')}` : '';
  if (!files.length && !task.base_commit) return null;
  return [
    h('h3', { class: 'sub', text: `Files changed (${files.length}) — branch ${task.branch}${merge}` }),
    files.length ? h('ul', { class: 'files' }, files.map((f) => h('li', { class: 'mono', text:
      `${f.path} (${f.status}${f.binary ? ', binary' : `, +${f.added}/−${f.deleted}`})` }))) :
      h('p', { class: 'muted', text: 'No file changed on its branch.' }),
    h('p', {}, h('a', { href: `/api/tasks/${encodeURIComponent(task.id)}/diff`, target: '_blank', rel: 'noopener', text: 'Diff' }),
      ' · ', previewLink(task)),
  ];
}

/** The task's merge checks (the team's check command on its merged result): state, exit code, the output's end. */
function checksBlock(task) {
  if (!Array.isArray(task.checks) || !task.checks.length) return null;
  return [h('h3', { class: 'sub', text: `Merge checks (${task.checks.length})` }),
    h('ol', { class: 'task-checks' }, task.checks.map((c) => h('li', { dataset: { state: c.state } },
      h('strong', { text: c.state }), h('span', { class: 'muted small', text: ` \`${c.command}\`${c.exit_code !== null && c.exit_code !== undefined ? ` · exit ${c.exit_code}` : ''}` }),
      c.output ? h('details', {}, h('summary', { text: 'Output' }), h('pre', { class: 'ev-pre mono', tabindex: '0', text: c.output.slice(-4000) })) : null)))];
}

/** "Preview its branch": the URL comes from the API (with GAMMA_API_TOKEN set it carries a preview key). */
function previewLink(task) {
  const link = h('a', { target: '_blank', rel: 'noopener', text: 'Preview its branch', 'aria-disabled': 'true' });
  api.taskDiffStat(task.id).then((diff) => {
    if (diff && diff.started && diff.preview_url) { link.href = diff.preview_url; link.removeAttribute('aria-disabled'); }
  }).catch(() => { link.textContent = 'Preview unavailable'; });
  return link;
}

/** "3 files · +20 −4" from what git measured on the task's branch; nothing before its first change. */
function diffStats(task) {
  const c = task.changes;
  const files = c && Array.isArray(c.files) ? c.files.length : 0;
  if (!files) return null;
  return h('p', { class: 'task-diffstat small mono', title: `On ${task.branch || 'its branch'}` },
    `${files} file${files === 1 ? '' : 's'} · `, h('span', { class: 'ok', text: `+${c.added || 0}` }), ' ',
    h('span', { class: 'err', text: `−${c.deleted || 0}` }));
}

export class TaskBoard {
  constructor(root, store, { onCount, onOpenAgent, onRetry, onWide } = {}) {
    this.root = root;
    this.store = store;
    this.onCount = onCount || (() => {});
    this.onOpenAgent = onOpenAgent || (() => {});
    this.onRetry = onRetry || (() => {});
    this.onWide = onWide || (() => {});
    this.openedByUser = new Set();
    this.closedByUser = new Set();
    this.wide = false;
    this.addBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: '+ Task', 'aria-haspopup': 'dialog' });
    this.addBtn.addEventListener('click', () => this.openNewTask());
    this.wideBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', id: 'board-toggle', 'aria-pressed': 'false',
      title: 'Show the board in columns, across the page (b)', text: '⤢ Board' });
    this.wideBtn.addEventListener('click', () => this.setWide(!this.wide));
    this.progress = h('div', { class: 'task-progress' });
    this.sections = h('div', { class: 'task-sections' });
    replace(root, h('div', { class: 'task-bar' }, this.progress, this.wideBtn, this.addBtn), this.sections);
    // A re-render while a card is dragged would take the card (and the drop marks) away: wait for its end.
    this.isDragging = enableDragAndDrop(this.sections, store, { onEnd: () => { if (this.pending) this.render(); } });
    store.on('tasks', () => this.render());
    store.on('agents', () => this.render());
  }

  /** Columns across the page (true) or a list beside the chat (false). */
  setWide(wide) {
    this.wide = Boolean(wide);
    this.wideBtn.setAttribute('aria-pressed', String(this.wide));
    this.wideBtn.textContent = this.wide ? '⤡ Back to the chat' : '⤢ Board';
    this.sections.classList.toggle('board-columns', this.wide);
    this.onWide(this.wide);
    this.render();
  }

  render() {
    this.pending = this.isDragging();
    if (this.pending) return;
    const tasks = [...this.store.tasks.values()];
    this.onCount(tasks.filter((t) => !['done', 'cancelled'].includes(t.stage)).length);
    // Every task counts in the total; only done ones are done (cancelled and failed ones are said apart).
    const done = tasks.filter((t) => t.stage === 'done').length;
    const total = tasks.length;
    const ended = ['cancelled', 'failed'].map((s) => [s, tasks.filter((t) => t.stage === s).length]).filter(([, n]) => n);
    replace(this.progress, total
      ? [h('span', { class: 'small muted', id: 'task-progress-text', text: `${done} of ${total} done${ended.map(([s, n]) => ` · ${n} ${s}`).join('')}` }),
        h('span', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(total), 'aria-valuenow': String(done), 'aria-label': 'Tasks done' },
          h('span', { class: 'progress-fill', style: { width: `${(done / total) * 100}%` } }))]
      : h('span', { class: 'small muted', text: 'No tasks yet' }));
    if (this.store.tasksError && !tasks.length) {
      replace(this.progress, h('span', { class: 'small muted', text: '' }));
      replace(this.sections, loadError('The tasks', this.store.tasksError, () => this.onRetry(), { id: 'tasks-retry' }));
      return;
    }
    if (!this.store.tasksLoaded) {
      replace(this.sections, h('p', { class: 'muted', text: 'Loading tasks…' }));
      return;
    }
    if (!tasks.length) {
      replace(this.sections, h('div', { class: 'empty' },
        h('p', { text: 'No tasks yet.' }),
        h('p', { class: 'muted small', text: 'The lead creates tasks when you give it a goal in the chat.' })));
      return;
    }
    // With nothing open left, show what was done (unless the user closed that section).
    const allSettled = tasks.every((t) => ['done', 'cancelled'].includes(t.stage));
    replaceKeepingFocus(this.sections, sections().map((section) => {
      const items = tasks.filter((t) => section.stages.includes(t.stage))
        .sort((a, b) => String(b.updated_at || '').localeCompare(String(a.updated_at || '')));
      const autoOpen = section.id === 'done' && allSettled && !this.closedByUser.has('done');
      // On the wide board only the last columns fold; the others are always open, empty or not.
      const open = this.wide && !FOLDABLE.has(section.id) ? true
        : (this.openedByUser.has(section.id) || (section.open && !this.closedByUser.has(section.id)) || autoOpen) && (items.length > 0 || this.wide);
      const det = h('details', { class: `task-section sec-${section.id}`, open, dataset: { section: section.id } },
        h('summary', {}, h('span', { class: 'sec-label', text: section.label }), h('span', { class: 'count', text: String(items.length) })),
        items.length ? h('ul', { class: 'task-list' }, items.map((t) => h('li', {}, this.card(t)))) : h('p', { class: 'muted small sec-empty', text: 'Nothing here.' }));
      det.querySelector('summary').addEventListener('click', (ev) => {
        if (this.wide && !FOLDABLE.has(section.id)) { ev.preventDefault(); return; }
        // The user's choice (the toggle event also fires for sections opened by the code).
        if (det.open) { this.openedByUser.delete(section.id); this.closedByUser.add(section.id); } else { this.openedByUser.add(section.id); this.closedByUser.delete(section.id); }
      });
      return det;
    }));
  }

  card(task) {
    const assignee = task.assigned_to ? this.store.agent(task.assigned_to) : null;
    const failed = task.stage === 'failed' || task.stage === 'cancelled';
    const { summary } = resultParts(task.result);
    const open = h('button', { type: 'button', class: 'task-open', dataset: { taskId: task.id, focusKey: task.id }, 'aria-haspopup': 'dialog' },
      h('span', { class: 'task-title' }, inline(task.title)));
    open.addEventListener('click', () => this.openDetail(task.id));
    const actions = h('button', { type: 'button', class: 'btn btn-ghost btn-xs task-more', text: '⋯', 'aria-haspopup': 'dialog',
      'aria-label': `Actions for “${task.title}”`, title: 'Move, edit, reassign, cancel' });
    actions.addEventListener('click', (ev) => {
      ev.stopPropagation();
      openTaskActions(this.store, task, { onOpen: (id) => this.openDetail(id), onRetry: (t) => this.retry(t) });
    });
    const retry = failed ? h('button', { type: 'button', class: 'btn btn-xs', text: 'Retry', 'aria-label': `Retry “${task.title}”` }) : null;
    if (retry) retry.addEventListener('click', (ev) => { ev.stopPropagation(); this.retry(task, retry); });
    return h('article', { class: ['task-card', `stage-${task.stage}`], draggable: 'true', dataset: { cardTask: task.id } },
      open,
      h('div', { class: 'task-meta' },
        kindBadge(task.kind),
        assignee ? agentChip(assignee) : task.assignee && task.assignee.name ? agentChip({ id: task.assigned_to, name: task.assignee.name }) : h('span', { class: 'muted small', text: 'unassigned' }),
        h('span', { class: 'muted small task-time', dataset: { ago: task.updated_at || task.created_at }, text: timeAgo(task.updated_at || task.created_at) })),
      this.dependencyLine(task),
      diffStats(task),
      summary ? h('p', { class: failed ? 'task-fail' : 'task-summary small', text: truncate(firstLine(summary), 140) }) : null,
      h('div', { class: 'task-actions' }, retry, actions));
  }

  /** What the task depends on, and which of those it still waits for (by their titles when the board has them). */
  dependencyLine(task) {
    const ids = Array.isArray(task.depends_on) ? task.depends_on.map((d) => (typeof d === 'string' ? d : d.id)) : [];
    if (!ids.length) return null;
    const upstream = ids.map((id) => this.store.tasks.get(id) || { id, title: id, stage: null });
    const waiting = upstream.filter((t) => t.stage !== 'done');
    const names = (list) => list.map((t) => `“${truncate(t.title, 40)}”`).join(', ');
    return h('p', { class: 'task-deps small muted', dataset: { waiting: String(waiting.length) } },
      waiting.length ? `Waits for ${names(waiting)}` : `After ${names(upstream)} (done)`);
  }

  async retry(task, button) {
    if (button) busy(button, true, 'Retrying…');
    try {
      const body = { retry_of: task.id };
      const owner = task.assigned_to ? this.store.agent(task.assigned_to) : null;
      // The original owner left the team: give the retry to the lead instead.
      if (task.assigned_to && (!owner || owner.status === 'archived')) {
        const lead = this.store.lead();
        if (lead) body.assignee = lead.id;
      }
      const created = await api.createTask(this.store.teamId, body);
      this.store.tasks.set(created.id, created);
      this.store.emit('tasks');
      toast(`Retrying “${truncate(task.title, 60)}” as a new task`, 'success');
      return created;
    } catch (err) {
      toastError(err, 'Retry failed');
      return null;
    } finally {
      if (button && document.contains(button)) busy(button, false);
    }
  }

  async openDetail(taskId) {
    let task = this.store.tasks.get(taskId);
    const { close } = openDialog({
      title: task ? task.title : 'Task',
      wide: true,
      build: () => h('div', { class: 'task-detail', id: 'task-detail-body' }, this.detailBody(task)),
    });
    try {
      const fresh = await api.getTask(taskId);
      task = { ...task, ...fresh };
      const body = document.getElementById('task-detail-body');
      if (body) replace(body, this.detailBody(task, close));
    } catch (err) {
      if (!task) toastError(err, 'Could not load the task');
    }
  }

  detailBody(task, close) {
    if (!task) return h('p', { class: 'muted', text: 'Loading…' });
    const assignee = task.assigned_to ? this.store.agent(task.assigned_to) : null;
    const creator = task.created_by ? this.store.agent(task.created_by) : null;
    const { summary, rest } = resultParts(task.result);
    const failed = task.stage === 'failed' || task.stage === 'cancelled';
    const retry = failed ? h('button', { type: 'button', class: 'btn btn-primary', text: 'Retry as a new task' }) : null;
    if (retry) {
      retry.addEventListener('click', async () => {
        const created = await this.retry(task, retry);
        if (created && close) close();
      });
    }
    const openAgent = (agent) => {
      const b = h('button', { type: 'button', class: 'linkish' }, agentChip(agent));
      b.addEventListener('click', () => { if (close) close(); this.onOpenAgent(agent.id); });
      return b;
    };
    return [
      h('dl', { class: 'facts' },
        h('dt', { text: 'Stage' }), h('dd', {}, stageBadge(task.stage)),
        h('dt', { text: 'Kind' }), h('dd', {}, kindBadge(task.kind)),
        h('dt', { text: 'Assignee' }), h('dd', {}, assignee ? openAgent(assignee) : h('span', { class: 'muted', text: task.assigned_to ? task.assigned_to : 'unassigned' })),
        creator ? [h('dt', { text: 'Created by' }), h('dd', {}, agentChip(creator))] : null,
        h('dt', { text: 'Created' }), h('dd', { text: dateTime(task.created_at) }),
        h('dt', { text: 'Updated' }), h('dd', { text: dateTime(task.updated_at) }),
        task.completed_at ? [h('dt', { text: 'Completed' }), h('dd', { text: dateTime(task.completed_at) })] : null,
        task.retry_of ? [h('dt', { text: 'Retry of' }), h('dd', { class: 'mono small', text: task.retry_of })] : null,
        h('dt', { text: 'Id' }), h('dd', { class: 'mono small', text: task.id })),
      task.stage === 'blocked' && task.blocked_reason ? h('p', { class: 'task-blocked', role: 'note', text: `Blocked: ${task.blocked_reason}` }) : null,
      h('h3', { class: 'sub', text: 'Description' }),
      task.description ? renderMarkdown(task.description) : h('p', { class: 'muted', text: 'No description.' }),
      this.taskLinks('Depends on', task.depends_on, close),
      this.taskLinks('Needed by', task.dependents, close),
      h('h3', { class: 'sub', text: 'Result' }),
      summary ? renderMarkdown(summary) : h('p', { class: 'muted', text: task.result ? 'No summary.' : 'No result yet.' }),
      changesBlock(task),
      task.base_commit ? this.diffSection(task) : null,
      checksBlock(task),
      this.reviewActions(task, close),
      rest ? h('details', { class: 'ev-details' }, h('summary', { text: 'Full result' }), h('pre', { class: 'ev-pre mono', tabindex: '0', text: pretty(rest) })) : null,
      Array.isArray(task.runs) && task.runs.length ? [
        h('h3', { class: 'sub', text: `Runs (${task.runs.length})` }),
        h('ul', { class: 'task-runs' }, task.runs.map((r) => h('li', {},
          h('a', { href: `/runs/${encodeURIComponent(r.id)}`, class: 'run-link', title: 'Open the run: its whole stream' },
            h('span', { class: `badge ${RUN_BADGE[r.state] || 'stage-backlog'}`, text: r.state })), ' ',
          h('span', { class: 'muted small', text: [r.reason, r.attempt > 1 ? `attempt ${r.attempt}` : '', r.outcome && r.outcome !== 'success' ? r.outcome : '', dateTime(r.started_at || r.created_at)].filter(Boolean).join(' · ') }),
          r.error ? h('div', { class: 'small err', text: truncate(r.error, 300) }) : null)))] : null,
      Array.isArray(task.reviews) && task.reviews.length ? [
        h('h3', { class: 'sub', text: `Review (${task.reviews.length})` }),
        h('ol', { class: 'task-reviews' }, task.reviews.map((r) => h('li', { dataset: { step: r.step } },
          h('strong', { text: REVIEW_LABEL[r.step] || r.step }), ' ',
          h('span', { class: 'muted small', text: `${r.by_name} · ${dateTime(r.created_at)}` }),
          r.feedback ? h('div', { class: 'small', text: truncate(r.feedback, 600) }) : null)))] : null,
      h('div', { class: 'dialog-actions' }, this.detailActions(task, close), retry),
    ];
  }

  /** Edit, reassign or cancel an open task from its detail (the board's actions dialog does the same). */
  detailActions(task, close) {
    if (['done', 'failed', 'cancelled'].includes(task.stage)) return null;
    const edit = h('button', { type: 'button', class: 'btn', id: 'td-edit', text: 'Edit or reassign…' });
    edit.addEventListener('click', async () => {
      if (close) close();
      const updated = await openEditTask(this.store, task);
      if (updated) this.openDetail(updated.id);
    });
    const cancel = h('button', { type: 'button', class: 'btn btn-danger-ghost', id: 'td-cancel', text: 'Cancel the task' });
    cancel.addEventListener('click', () => {
      if (close) close();
      void moveTask(this.store, task, 'cancelled');
    });
    return [cancel, edit];
  }

  /** The task's diff against the main line, per file and highlighted (loaded when the detail opens). */
  diffSection(task) {
    const box = h('div', { class: 'task-diff', id: 'task-diff' }, h('p', { class: 'muted', text: 'Loading the diff…' }));
    api.taskDiff(task.id).then((diff) => replace(box, diffView(diff)))
      .catch((err) => replace(box, h('p', { class: 'error', role: 'alert', text: `Could not load the diff: ${err.message}` })));
    return [h('h3', { class: 'sub', text: 'Diff' }), box];
  }

  /** Approve (merge into main) or request changes, for a task in review. */
  reviewActions(task, close) {
    if (task.stage !== 'review') return null;
    if (task.merge && task.merge.state === 'checking') {
      return h('p', { class: 'muted', role: 'status', text: `Approved: the check \`${task.merge.command}\` runs on the merged result; the main line moves if it passes.` });
    }
    const feedback = field('Feedback (for “Request changes”)', textArea({ id: 'td-feedback', rows: 3, maxlength: 100000 }));
    const error = h('p', { class: 'form-error', hidden: true, role: 'alert' });
    const approve = h('button', { type: 'button', class: 'btn btn-primary', id: 'td-approve', text: 'Approve and merge' });
    const changes = h('button', { type: 'button', class: 'btn', id: 'td-changes', text: 'Request changes' });
    const decide = async (button, body, done) => {
      error.hidden = true;
      busy(button, true);
      try {
        const updated = await api.changeTask(task.id, body);
        this.store.tasks.set(updated.id, { ...this.store.tasks.get(updated.id), ...updated });
        this.store.emit('tasks');
        toast(updated.note || done, updated.note ? 'info' : 'success');
        if (close) close();
      } catch (err) {
        error.hidden = false;
        error.textContent = err.message;
      } finally {
        busy(button, false);
      }
    };
    approve.addEventListener('click', () => decide(approve, { stage: 'done' }, 'Approved: its branch is merged into main.'));
    changes.addEventListener('click', () => {
      const message = feedback.control.value.trim();
      feedback.setError(message ? '' : 'Say what should change.');
      if (message) decide(changes, { stage: 'in_progress', message }, 'Sent back to its assignee with your feedback.');
      else feedback.control.focus();
    });
    return [h('h3', { class: 'sub', text: 'Your review' }), feedback.el, error, h('div', { class: 'dialog-actions' }, changes, approve)];
  }

  /** `GET /api/tasks/<id>` lists dependencies and dependents as {id, title, stage}; each opens that task. */
  taskLinks(title, linked, close) {
    if (!Array.isArray(linked) || !linked.length) return null;
    return [h('h3', { class: 'sub', text: `${title} (${linked.length})` }),
      h('ul', { class: 'task-links' }, linked.map((t) => {
        const open = h('button', { type: 'button', class: 'linkish', text: truncate(t.title, 90) });
        open.addEventListener('click', () => { if (close) close(); this.openDetail(t.id); });
        return h('li', {}, stageBadge(t.stage), ' ', open);
      }))];
  }

  openNewTask() {
    openDialog({
      title: 'New task',
      description: 'Add work to the board by hand. The assignee starts it as soon as it is free.',
      initialFocus: '#nt-title',
      build: (close) => {
        const title = field('Title', textInput({ id: 'nt-title', maxlength: 300 }), { required: true });
        const desc = field('Description', textArea({ id: 'nt-description', rows: 5, maxlength: 100000 }));
        const kind = field('Kind', h('select', { class: 'input', id: 'nt-kind' }, words().task_kinds.map((k) => h('option', { value: k, text: k }))));
        const assignee = field('Assign to', h('select', { class: 'input', id: 'nt-assignee' },
          this.store.members().map((a) => h('option', { value: a.id, text: `${a.name}${a.is_lead ? ' (lead)' : ''}` }))));
        const error = h('p', { class: 'form-error', hidden: true, role: 'alert' });
        const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Add task' });
        const form = h('form', { class: 'form', novalidate: true }, title.el, desc.el, h('div', { class: 'field-row' }, kind.el, assignee.el), error,
          h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'btn', text: 'Cancel', onClick: () => close(null) }), submit));
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          const t = title.control.value.trim();
          title.setError(t ? '' : 'A task needs a title.');
          if (!t) { title.control.focus(); return; }
          const body = { title: t, description: desc.control.value.trim(), kind: kind.control.value };
          if (assignee.control.value) body.assignee = assignee.control.value;
          await submitShowingErrors(submit, error, async () => {
            const created = await api.createTask(this.store.teamId, body);
            this.store.tasks.set(created.id, created);
            this.store.emit('tasks');
            close(created);
            toast('Task added', 'success');
          }, 'Adding…');
        });
        return form;
      },
    });
  }
}
