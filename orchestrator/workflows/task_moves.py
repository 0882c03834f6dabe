"""The task state machine: every stage change goes through `move`, which checks it against the transitions,
writes it, keeps reopened work in an open round and records `task.updated`. Also the moves a run makes
on its task when it starts and ends.

    backlog ─┬─▶ in_progress ─┬─▶ review ─┬─▶ done        (done, failed, cancelled are final: a task
    planning ┘                ├─▶ done    ├─▶ failed       never leaves them; retry creates a new task)
                              ├─▶ failed  ├─▶ in_progress  (the lead asks for changes: the assignee reworks)
                              └─▶ cancelled └▶ cancelled
"""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import Actor, Conflict, Invalid, Outbox, preview
from orchestrator.records import rounds, tasks
from shared.vocabulary import OPEN_TASK_STAGES, TASK_STAGES, TASK_TRANSITIONS, TERMINAL_TASK_STAGES

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
    return row


def settle_after_run(conn: psycopg.Connection, run: dict[str, Any], box: Outbox) -> dict[str, Any] | None:
    """The run of a task ended and the assignee did not settle the task itself: decide for it.

    Success → review with the run's final text (never silently done); failure → failed with the reason;
    cancelled → cancelled. Returns the task row when it changed.
    """
    task = tasks.get(conn, run["task_id"], lock=True)
    if task["stage"] not in OPEN or task["assigned_to"] != run["agent_id"]:
        return None
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
    if task["stage"] not in ("backlog", "planning") or task["assigned_to"] != run["agent_id"]:
        return None
    actor = Actor(team_id=run["team_id"], name="gamma", run_id=run["id"])
    return move(conn, task, "in_progress", actor, box, event={"auto": True})
