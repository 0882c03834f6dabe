"""The task state machine: every stage change goes through `move`, which checks it against the transitions
(shared/vocabulary.py), writes it, keeps reopened work in an open round, records `task.updated`, and sets off
what the change means for the tasks that depend on this one: the last dependency done queues a blocked task's
run; a dependency failed or cancelled leaves its dependents blocked with that reason and tells the lead once.
Also the moves a run makes on its task when it starts and ends, and a task's prompt.
"""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import Actor, Conflict, DomainError, Invalid, Outbox, preview
from orchestrator.records import agents, rounds, runs, tasks, workspaces
from orchestrator.workflows import agent_status, conversation, task_graph, wake
from shared import agent_commands as cmd
from shared.vocabulary import OPEN_TASK_STAGES, TASK_STAGES, TASK_TRANSITIONS, TERMINAL_TASK_STAGES

GAMMA = Actor(name="gamma")
ELLIPSIS = '"..."'  # the placeholder text in the prompt's command hints

STAGES = TASK_STAGES
OPEN = OPEN_TASK_STAGES
TERMINAL = TERMINAL_TASK_STAGES
TRANSITIONS = TASK_TRANSITIONS


def check_transition(task: dict[str, Any], to: str) -> None:
    if to not in STAGES:
        raise Invalid(f"unknown status {to!r}; one of: {', '.join(STAGES)}")
    frm = task["stage"]
    if frm in TERMINAL:
        raise Conflict(f"task {task['id']} is {frm}, a final state; it cannot change (retry creates a new task)")
    if frm == to:
        raise Conflict(f"task {task['id']} is already {to}")
    if to not in TRANSITIONS[frm]:
        raise Conflict(f"task {task['id']} cannot go from {frm} to {to}; from {frm} it can go to: "
                       + ", ".join(TRANSITIONS[frm]))


def move(conn: psycopg.Connection, task: dict[str, Any], to: str, actor: Actor, box: Outbox, *,
         patch: dict[str, Any] | None = None, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write one checked transition (the row must be locked) and its `task.updated` event."""
    check_transition(task, to)
    patch = {k: v for k, v in (patch or {}).items() if v is not None}
    row = tasks.move(conn, task["id"], to, patch)
    if to in OPEN and row["round_id"] and rounds.state_of(conn, row["round_id"]) != "open":
        # reopened work belongs to the next round, so the lead is woken for it again
        row = tasks.set_round(conn, row["id"], rounds.open_round(conn, row["team_id"], box))
    payload = {"from": task["stage"], "to": to, "title": row["title"], **actor.stamp(), **(event or {})}
    for key in ("summary", "reason", "blocker", "message"):
        if patch.get(key):
            payload[key] = preview(patch[key], 500)
    box.add("task.updated", row["team_id"], payload, agent_id=row["assigned_to"], task_id=row["id"],
            run_id=actor.run_id)
    if to == "done":
        _release_dependents(conn, row, box)
    elif to in ("failed", "cancelled"):
        _hold_dependents(conn, row, box)
    return row


def _release_dependents(conn: psycopg.Connection, done: dict[str, Any], box: Outbox) -> None:
    """A task is done: each blocked task waiting on it starts once all of its dependencies are done."""
    for dependent in tasks.dependents_of(conn, done["id"], lock=True):
        if dependent["stage"] != "blocked":
            continue
        upstream = tasks.dependencies_of(conn, dependent["id"])
        reason = task_graph.waiting_reason(upstream)
        if reason is not None:
            tasks.set_blocked_reason(conn, dependent["id"], reason)
            continue
        assignee = agents.get(conn, dependent["assigned_to"])
        try:
            agent_status.mark_queued(conn, assignee, box, revive=False)
        except DomainError as refused:  # stopped or archived: it waits for the user (or a reassignment)
            tasks.set_blocked_reason(conn, dependent["id"], f"ready, but {refused.message}")
            continue
        row = move(conn, dependent, "backlog", GAMMA, box, event={"unblocked_by": done["id"]})
        box.flush(conn)  # the task events come before the run's in the log
        runs.enqueue_run(conn, team_id=row["team_id"], agent_id=row["assigned_to"],
                         prompt=task_prompt(row, None, upstream=upstream), reason="task", task_id=row["id"],
                         round_id=row["round_id"])


def _hold_dependents(conn: psycopg.Connection, broken: dict[str, Any], box: Outbox) -> None:
    """A task failed or was cancelled: its blocked dependents stay blocked, saying why; the lead is told once."""
    held = []
    for dependent in tasks.dependents_of(conn, broken["id"], lock=True):
        if dependent["stage"] == "blocked":
            reason = task_graph.waiting_reason(tasks.dependencies_of(conn, dependent["id"]))
            tasks.set_blocked_reason(conn, dependent["id"], reason or "blocked")
            held.append(dependent)
    for round_id in sorted({t["round_id"] for t in held if t["round_id"] and t["round_id"] != broken["round_id"]}):
        wake.maybe_wake(conn, round_id, box)  # a round waiting only on them is settled now
    lead = agents.lead_of(conn, broken["team_id"])
    if held and lead is not None and lead["id"] != broken["assigned_to"]:
        names = ", ".join(f'{t["id"]} ("{preview(t["title"], 60)}")' for t in held)
        conversation.notify(conn, GAMMA, lead, f'Task {broken["id"]} ("{broken["title"]}") {broken["stage"]}: '
                            f"{len(held)} task(s) that depend on it stay blocked: {names}. Retry it (the retry "
                            "takes its place) or cancel them.", box)


def task_prompt(task: dict[str, Any], actor: Actor | None, *, rework: str | None = None,
                upstream: list[dict[str, Any]] | None = None) -> str:
    """What the assignee's run is asked: the task, the results it builds on, and how to report."""
    by = "Gamma, once the tasks it depends on were done" if actor is None else (
        "the user" if actor.is_user else actor.name)
    lines = [f"[TASK] {task['id']}: {task['title']}",
             f"Assigned to you by {by}. Kind: {task['kind']}. Priority: {task['priority']}.", ""]
    if rework is not None:
        lines += ["[REWORK] Your result was reviewed and changes were requested:", rework or "(no details)", ""]
    lines += task_graph.results_for_prompt(upstream or [])
    if task.get("branch"):
        # relative to the agent's own directory (its cwd), and in $GAMMA_PROJECT_DIR: the prompt is written before
        # a worker takes the run, and every host keeps the team's folder at a place of its own
        lines += [f"Worktree: `{workspaces.TEAM_FROM_AGENT_DIR}/worktrees/{task['id']}` from your directory, also in "
                  f"$GAMMA_PROJECT_DIR (branch `{task['branch']}`, made from the main line when the task starts): do "
                  "the task's work there. Gamma commits it when your run ends, and the lead reviews its diff.", ""]
    lines += [task["description"] or "(no further description)", "",
              "When you finish, report the real content of your work (what you did, findings, file paths):",
              "  " + cmd.example("task done", task["id"], summary=ELLIPSIS, files="path1,path2", optional=["files"]),
              "Want the lead to check it before it counts as done: "
              + cmd.example("task review", task["id"], summary=ELLIPSIS),
              f"Cannot finish: {cmd.example('task fail', task['id'], reason=ELLIPSIS)}   "
              f"Blocked: {cmd.example('task block', task['id'], reason=ELLIPSIS)}"]
    return "\n".join(lines)


def settle_after_run(conn: psycopg.Connection, run: dict[str, Any], box: Outbox) -> dict[str, Any] | None:
    """The run of a task ended and the assignee did not settle the task itself: decide for it.

    Success → review with the run's final text (never silently done); failure → failed with the reason;
    cancelled → cancelled. Returns the task row when it changed.
    """
    task = tasks.get(conn, run["task_id"], lock=True)
    if task["stage"] not in OPEN or task["assigned_to"] != run["agent_id"]:
        return None
    if runs.active_of_task(conn, task["id"], states=("queued",)):
        return None  # more work on it is queued (a merge conflict sent it back): that run settles it
    actor = Actor(team_id=run["team_id"], agent_id=None, name="gamma", run_id=run["id"])
    state = run["state"]
    if state == "succeeded":
        text = (run.get("result_text") or "").strip() or "(the run ended without a final message)"
        return move(conn, task, "review", actor, box, patch={"summary": text, "auto": True, "run_id": run["id"]},
                    event={"auto": True})
    if state == "cancelled":
        return move(conn, task, "cancelled", actor, box,
                    patch={"reason": f"its run was cancelled ({run.get('error') or 'stopped'})", "run_id": run["id"]},
                    event={"auto": True})
    why = run.get("error") or run.get("outcome") or state
    return move(conn, task, "failed", actor, box, patch={"reason": f"run {state}: {why}", "run_id": run["id"]},
                event={"auto": True})


def start_for_run(conn: psycopg.Connection, run: dict[str, Any], box: Outbox) -> dict[str, Any] | None:
    """The run of a task started: a task that was waiting is now in progress."""
    task = tasks.get(conn, run["task_id"], lock=True)
    if task["stage"] != "backlog" or task["assigned_to"] != run["agent_id"]:
        return None
    actor = Actor(team_id=run["team_id"], name="gamma", run_id=run["id"])
    return move(conn, task, "in_progress", actor, box, event={"auto": True})
