// The run queue: running runs with elapsed time, queued runs with their place in the agent's line and why
// they wait; each can be cancelled.

import { agentChip, demoTag } from './agentview.js';
import { api } from './api.js';
import { h, replace } from './dom.js';
import { loadError } from './loaderror.js';
import { duration, elapsedSince, money, timeAgo, truncate } from './format.js';
import { toast, toastError } from './toast.js';

const REASON = { chat: 'chat', task: 'task', wake: 'wake-up', message: 'message', retry: 'retry' };

export class RunQueue {
  constructor(root, store, { onCount, onChanged } = {}) {
    this.root = root;
    this.store = store;
    this.onCount = onCount || (() => {});
    this.onChanged = onChanged || (() => {});
    this.list = h('div', { class: 'runs' });
    replace(root, this.list);
    store.on('runs', () => this.render());
    store.on('agents', () => this.render());
    store.on('tasks', () => this.render());
  }

  row(run) {
    const agent = this.store.agent(run.agent_id);
    const task = run.task_id ? this.store.tasks.get(run.task_id) : null;
    const running = run.state === 'running';
    const cancelling = Boolean(run.cancel_requested_at);
    const demo = run.backend === 'demo' || (agent && agent.backend === 'demo');
    const cancel = h('button', { type: 'button', class: 'btn btn-xs btn-danger-ghost', text: cancelling ? 'Cancelling…' : 'Cancel', disabled: cancelling, 'aria-label': `Cancel ${running ? 'running' : 'queued'} run of ${agent ? agent.name : run.agent_name || 'agent'}` });
    cancel.addEventListener('click', async () => {
      cancel.disabled = true;
      cancel.textContent = 'Cancelling…';
      try {
        await api.cancelRun(run.id);
        toast(running ? 'Cancel requested: the run is being stopped' : 'Queued run cancelled', 'success');
        this.onChanged();
      } catch (err) {
        toastError(err, 'Cancel failed');
        cancel.disabled = false;
        cancel.textContent = 'Cancel';
      }
    });
    return h('li', { class: ['run', running ? 'run-running' : 'run-queued', cancelling && 'run-cancelling'], dataset: { runId: run.id } },
      h('div', { class: 'run-top' },
        agent ? agentChip(agent) : h('span', { class: 'chip', text: run.agent_name || 'agent' }),
        h('span', { class: `badge ${running ? 'stage-in_progress' : 'stage-backlog'}`, text: running ? 'running' : `queued #${run.position ?? '?'}` }),
        demo ? demoTag() : null,
        h('span', { class: 'run-spacer' }),
        running && run.started_at ? h('span', { class: 'mono run-clock', title: 'Elapsed', dataset: { since: run.started_at }, text: elapsedSince(run.started_at) }) : null,
        cancel),
      h('div', { class: 'run-sub muted small' },
        `${REASON[run.reason] || run.reason || 'run'}`,
        task ? [' · ', h('span', { text: truncate(task.title, 70) })] : null,
        run.attempt > 1 ? ` · attempt ${run.attempt}` : null,
        run.worker_labels?.length ? ` · on a worker with ${run.worker_labels.join(', ')}` : null,
        !running ? [' · queued ', h('span', { dataset: { ago: run.created_at }, text: timeAgo(run.created_at) })] : null),
      !running && run.wait_reason ? h('div', { class: 'run-wait small', text: `Waiting: ${run.wait_reason}` }) : null,
      !running && !run.wait_reason && run.not_before ? h('div', { class: 'run-wait small', text: `Not before ${new Date(run.not_before).toLocaleTimeString()}` }) : null);
  }

  finishedRow(run) {
    const agent = this.store.agent(run.agent_id);
    const task = run.task_id ? this.store.tasks.get(run.task_id) : null;
    const ok = run.state === 'succeeded';
    const bits = [REASON[run.reason] || run.reason, run.outcome && run.outcome !== 'success' ? run.outcome : '',
      run.num_turns != null ? `${run.num_turns} turns` : '', run.cost_usd != null ? money(run.cost_usd) : '',
      run.duration_ms != null ? duration(run.duration_ms) : ''].filter(Boolean);
    return h('li', { class: ['run', 'run-done', ok ? 'run-ok' : 'run-bad'], dataset: { runId: run.id } },
      h('div', { class: 'run-top' },
        agent ? agentChip(agent) : h('span', { class: 'chip', text: run.agent_name || 'agent' }),
        h('span', { class: `badge ${ok ? 'stage-done' : run.state === 'cancelled' ? 'stage-cancelled' : 'stage-failed'}`, text: run.state }),
        run.backend === 'demo' ? demoTag() : null,
        h('span', { class: 'run-spacer' }),
        h('span', { class: 'muted small', dataset: { ago: run.ended_at || run.updated_at }, text: timeAgo(run.ended_at || run.updated_at) })),
      h('div', { class: 'run-sub muted small' }, bits.join(' · '), task ? [' · ', h('span', { text: truncate(task.title, 60) })] : null),
      run.error && !ok ? h('div', { class: 'run-wait small err', text: truncate(run.error, 200) }) : null);
  }

  render() {
    const runs = this.store.runs;
    this.onCount(runs.length);
    const running = runs.filter((r) => r.state === 'running');
    const queued = runs.filter((r) => r.state === 'queued')
      .sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
    const recent = this.store.recentRuns || [];
    if (this.store.runsError && !runs.length) {
      replace(this.list, loadError('The run queue', this.store.runsError, () => this.onChanged(), { id: 'runs-retry' }));
      return;
    }
    replace(this.list,
      runs.length ? null : h('div', { class: 'empty' },
        h('p', { text: 'Nothing running or queued.' }),
        h('p', { class: 'muted small', text: 'Each agent runs one thing at a time; extra work waits here in order.' })),
      runs.length ? [
        h('h3', { class: 'sub', text: `Running (${running.length})` }),
        running.length ? h('ul', { class: 'run-list' }, running.map((r) => this.row(r))) : h('p', { class: 'muted small', text: 'No run in progress.' }),
        h('h3', { class: 'sub', text: `Queued (${queued.length})` }),
        queued.length ? h('ul', { class: 'run-list' }, queued.map((r) => this.row(r))) : h('p', { class: 'muted small', text: 'Queue is empty.' })] : null,
      recent.length ? [h('h3', { class: 'sub', text: 'Recently finished' }), h('ul', { class: 'run-list' }, recent.map((r) => this.finishedRow(r)))] : null);
  }
}
