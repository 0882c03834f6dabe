"""Tasks: creation (one or a whole plan), assignment, the enforced state machine, reads.

    backlog ─┬─▶ in_progress ─┬─▶ review ─┬─▶ done        (done, failed, cancelled are final: a task
    planning ┘                ├─▶ done    ├─▶ failed       never leaves them; retry creates a new task)
                              ├─▶ failed  ├─▶ in_progress  (the lead asks for changes: the assignee reworks)
                              └─▶ cancelled └▶ cancelled

Every task is assigned when it is created (to the named teammate, else to its creator, else — from the public
API — to the lead) and gets a queued run at once; a busy agent's run simply waits its turn. Assignees are found
by exact id or exact name within the team only. Members change only their own tasks; the lead any in its team.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from orchestrator import agents, messages, rounds, runs
from orchestrator.common import (
    USER,
    Actor,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Outbox,
    handled_by_caller,
    preview,
)
from shared import agent_commands as cmd
from shared.ids import is_id, new_id

STAGES = ("backlog", "planning", "in_progress", "review", "done", "failed", "cancelled")
OPEN = ("backlog", "planning", "in_progress")
TERMINAL = ("done", "failed", "cancelled")
SETTLED = rounds.SETTLED
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "backlog": ("planning", "in_progress", "review", "done", "failed", "cancelled"),
    "planning": ("backlog", "in_progress", "review", "done", "failed", "cancelled"),
    "in_progress": ("review", "done", "failed", "cancelled"),
    "review": ("in_progress", "done", "failed", "cancelled"),
}
MEMBER_TARGETS = ("in_progress", "review", "done", "failed")
_SELECT = """
    SELECT t.*, a.name AS assignee_name, a.status AS assignee_status, c.name AS created_by_name
    FROM tasks t LEFT JOIN agents a ON a.id = t.assigned_to LEFT JOIN agents c ON c.id = t.created_by
"""


@dataclass
class TaskSpec:
    title: str
    description: str = ""
    assignee: str | None = None  # teammate name or agent id
    kind: str = "generic"
    priority: int = 0


# ------------------------------------------------------------------------------------------------------ reads


def get(conn: psycopg.Connection, task_id: str, *, lock: bool = False) -> dict[str, Any]:
    if not is_id(task_id, "task"):
        raise NotFound(f"task {task_id!r} not found (not a valid task id)")
    row = conn.execute("SELECT * FROM tasks WHERE id = %s" + (" FOR NO KEY UPDATE" if lock else ""),
                       (task_id,)).fetchone()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row


def view(conn: psycopg.Connection, task_id: str, actor: Actor = USER) -> dict[str, Any]:
    row = conn.execute(_SELECT + " WHERE t.id = %s", (task_id,)).fetchone()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    _check_access(row, actor, write=False)
    task = present(row)
    task["runs"] = conn.execute(
        "SELECT id, agent_id, reason, state, outcome, error, attempt, created_at, started_at, ended_at"
        " FROM runs WHERE task_id = %s ORDER BY created_at, id",
        (task_id,),
    ).fetchall()
    return task


def list_tasks(conn: psycopg.Connection, team_id: str, *, stages: list[str] | None = None,
               assignee: str | None = None, round_id: str | None = None, kind: str | None = None,
               limit: int = 500) -> list[dict[str, Any]]:
    """Highest priority first, then oldest first."""
    clauses, params = ["t.team_id = %s"], [team_id]
    for clause, value in (("t.stage = ANY(%s)", stages), ("t.assigned_to = %s", assignee),
                          ("t.round_id = %s", round_id), ("t.kind = %s", kind)):
        if value:
            clauses.append(clause)
            params.append(value)
    rows = conn.execute(
        _SELECT + f" WHERE {' AND '.join(clauses)} ORDER BY t.priority DESC, t.created_at, t.id LIMIT %s",
        (*params, max(1, min(limit, 1000))),
    ).fetchall()
    return [present(r) for r in rows]


def present(row: dict[str, Any]) -> dict[str, Any]:
    task = dict(row)
    task["assignee"] = ({"id": row["assigned_to"], "name": row.get("assignee_name"),
                         "status": row.get("assignee_status")} if row["assigned_to"] else None)
    return task


def open_task_ids(conn: psycopg.Connection, *, team_id: str | None = None, assignee: str | None = None) -> list[str]:
    column, value = ("assigned_to", assignee) if assignee else ("team_id", team_id)
    rows = conn.execute(f"SELECT id FROM tasks WHERE {column} = %s AND stage = ANY(%s) ORDER BY id",
                        (value, list(OPEN + ("review",)))).fetchall()
    return [r["id"] for r in rows]


# ----------------------------------------------------------------------------------------------------- create


def create(conn: psycopg.Connection, team_id: str, specs: list[TaskSpec], actor: Actor = USER, *,
           retry_of: str | None = None, plan: bool = False) -> list[dict[str, Any]]:
    """Create tasks (a plan is several) in the team's open round, each with a queued run for its assignee."""
    from orchestrator import teams  # noqa: PLC0415

    if plan and not actor.is_user and not actor.is_lead:
        raise Forbidden("only the team lead plans; create a task for yourself with `gamma-agent task create`, "
                        "or ask the lead with `gamma-agent msg send <lead> ...`")
    if not specs:
        raise Invalid("no tasks given")
    if not actor.is_user and actor.team_id != team_id:
        raise Forbidden("agents can only create tasks in their own team")
    team = teams.get(conn, team_id)
    teams.require_active(team)
    targets = [_assignee_for(conn, team_id, spec, actor) for spec in specs]
    box = Outbox()
    for agent in sorted({a["id"]: a for a in targets}.values(), key=lambda a: a["id"]):
        agents.mark_queued(conn, agent, box, revive=actor.is_user)
    round_id = rounds.open_round(conn, team_id, box)
    rows = []
    for spec, agent in zip(specs, targets, strict=True):
        row = conn.execute(
            "INSERT INTO tasks (id, team_id, round_id, title, description, kind, priority, assigned_to, created_by,"
            " retry_of) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
            (new_id("task"), team_id, round_id, spec.title.strip(), spec.description, spec.kind, spec.priority,
             agent["id"], actor.agent_id, retry_of),
        ).fetchone()
        box.add("task.created", team_id, {
            "title": row["title"], "kind": row["kind"], "priority": row["priority"], "assignee": agent["name"],
            "assigned_to": agent["id"], "round_id": round_id, "retry_of": retry_of,
            "description": preview(row["description"], 500), **actor.stamp()},
            agent_id=agent["id"], task_id=row["id"], run_id=actor.run_id)
        rows.append(row)
    box.flush(conn)
    for row in rows:
        runs.enqueue_run(conn, team_id=team_id, agent_id=row["assigned_to"], prompt=task_prompt(row, actor),
                         reason="retry" if retry_of else "task", task_id=row["id"], round_id=round_id)
    return [view(conn, row["id"]) for row in rows]


def _assignee_for(conn: psycopg.Connection, team_id: str, spec: TaskSpec, actor: Actor) -> dict[str, Any]:
    if spec.assignee:
        agent = agents.resolve(conn, team_id, spec.assignee)
    elif not actor.is_user:
        agent = agents.get(conn, actor.agent_id or "")
    else:
        agent = agents.lead_of(conn, team_id)
        if agent is None:
            raise Invalid("the team has no lead; name an assignee")
    if not actor.is_user and not actor.is_lead and agent["id"] != actor.agent_id:
        raise Forbidden("only the team lead can assign tasks to others; create tasks for yourself, or ask the "
                        "lead with `gamma-agent msg send <lead> ...`")
    return agent


def retry(conn: psycopg.Connection, team_id: str, source_id: str, actor: Actor = USER,
          **overrides: Any) -> dict[str, Any]:
    """A new task that redoes a failed or cancelled one (final states never reopen). Overrides: TaskSpec fields."""
    source = get(conn, source_id)
    if source["team_id"] != team_id:
        raise NotFound(f"task {source_id} not found in this team")
    if source["stage"] not in ("failed", "cancelled"):
        raise Conflict(f"task {source_id} is {source['stage']}; only a failed or cancelled task can be retried")
    defaults = {"title": source["title"], "description": source["description"], "assignee": source["assigned_to"],
                "kind": source["kind"], "priority": source["priority"]}
    chosen = {k: overrides[k] if overrides.get(k) is not None else v for k, v in defaults.items()}
    return create(conn, team_id, [TaskSpec(**chosen)], actor, retry_of=source_id)[0]


ELLIPSIS = '"..."'  # the placeholder text in the prompt's command hints


def task_prompt(task: dict[str, Any], actor: Actor, *, rework: str | None = None) -> str:
    by = "the user" if actor.is_user else actor.name
    lines = [f"[TASK] {task['id']}: {task['title']}",
             f"Assigned to you by {by}. Kind: {task['kind']}. Priority: {task['priority']}.", ""]
    if rework is not None:
        lines += ["[REWORK] Your result was reviewed and changes were requested:", rework or "(no details)", ""]
    lines += [task["description"] or "(no further description)", "",
              "When you finish, report the real content of your work (what you did, findings, file paths):",
              "  " + cmd.example("task done", task["id"], summary=ELLIPSIS, files="path1,path2", optional=["files"]),
              f"Cannot finish: {cmd.example('task fail', task['id'], reason=ELLIPSIS)}   "
              f"Blocked: {cmd.example('task block', task['id'], reason=ELLIPSIS)}"]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ transitions


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


def _move(conn: psycopg.Connection, task: dict[str, Any], to: str, actor: Actor, box: Outbox, *,
          patch: dict[str, Any] | None = None, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write one checked transition (the row must be locked) and its `task.updated` event."""
    check_transition(task, to)
    patch = {k: v for k, v in (patch or {}).items() if v is not None}
    row = conn.execute(
        """
        UPDATE tasks SET stage = %(to)s, updated_at = now(),
               result = CASE WHEN %(patch)s::jsonb = '{}'::jsonb THEN result
                             ELSE COALESCE(result, '{}'::jsonb) || %(patch)s::jsonb END,
               started_at = CASE WHEN %(to)s = 'in_progress' THEN COALESCE(started_at, now()) ELSE started_at END,
               completed_at = CASE WHEN %(to)s IN ('done', 'failed', 'cancelled') THEN now() ELSE NULL END
        WHERE id = %(id)s RETURNING *
        """,
        {"to": to, "patch": Jsonb(patch), "id": task["id"]},
    ).fetchone()
    if to in OPEN and row["round_id"]:
        state = conn.execute("SELECT state FROM rounds WHERE id = %s", (row["round_id"],)).fetchone()["state"]
        if state != "open":  # reopened work belongs to the next round, so the lead is woken for it again
            round_id = rounds.open_round(conn, row["team_id"], box)
            row = conn.execute("UPDATE tasks SET round_id = %s WHERE id = %s RETURNING *",
                               (round_id, row["id"])).fetchone()
    payload = {"from": task["stage"], "to": to, "title": row["title"], **actor.stamp(), **(event or {})}
    for key in ("summary", "reason", "blocker", "message"):
        if patch.get(key):
            payload[key] = preview(patch[key], 500)
    box.add("task.updated", row["team_id"], payload, agent_id=row["assigned_to"], task_id=row["id"],
            run_id=actor.run_id)
    return row


def _check_access(task: dict[str, Any], actor: Actor, *, write: bool) -> None:
    if actor.is_user:
        return
    if task["team_id"] != actor.team_id:
        raise Forbidden(f"task {task['id']} belongs to another team")
    if write and not actor.is_lead and task["assigned_to"] != actor.agent_id:
        raise Forbidden(f"task {task['id']} is not yours; only its assignee or the lead can change it")


def update_status(conn: psycopg.Connection, actor: Actor, task_id: str, status: str, *, summary: str | None = None,
                  files: list[str] | None = None, reason: str | None = None,
                  message: str | None = None) -> dict[str, Any]:
    """Move a task (agent API and lead reviews). `in_progress` from review by the lead sends it back for rework."""
    if status == "cancelled":
        return cancel(conn, actor, task_id, reason or message or "cancelled")
    if status == "review":
        return request_review(conn, actor, task_id, message, summary=summary, files=files)
    task = get(conn, task_id)
    _check_access(task, actor, write=True)
    member = not actor.is_user and not actor.is_lead
    if member and status not in MEMBER_TARGETS:
        raise Forbidden(f"members can set their task to {', '.join(MEMBER_TARGETS)}; {status!r} is for the lead")
    approving = task["stage"] == "review"
    if member and status == "done" and approving:
        raise Forbidden(f"task {task_id} is waiting for the lead's review; only the lead approves work")
    if status == "done" and not summary and not approving and not (task["result"] or {}).get("summary"):
        raise Invalid("a summary is required to mark a task done: say what was done, the findings and file paths")
    if member and status == "done":  # a member's "done" submits the work; the lead approves it (or not)
        return request_review(conn, actor, task_id, message, summary=summary, files=files)
    if status == "failed" and not (reason or summary):
        raise Invalid("a reason is required to fail a task")
    rework = status == "in_progress" and task["stage"] == "review" and task["assigned_to"] not in (
        None, actor.agent_id)
    box = Outbox()
    assignee = agents.get(conn, task["assigned_to"]) if rework else None
    if assignee is not None:
        agents.mark_queued(conn, assignee, box, revive=actor.is_user)
    note_key = "review_message" if status == "in_progress" else "message"
    patch = {"summary": summary, "files": files, "reason": reason, note_key: message}
    rework_note = (message or "") if assignee is not None else None
    return _settle_flow(conn, actor, task_id, status, box, patch=patch, rework=rework_note)


def request_review(conn: psycopg.Connection, actor: Actor, task_id: str, message: str | None, *,
                   summary: str | None = None, files: list[str] | None = None) -> dict[str, Any]:
    """The assignee asks the lead to review (the round counts it as settled; the lead is told in its inbox)."""
    return _to_review(conn, actor, task_id, {"review_message": message, "summary": summary, "files": files},
                      {"review_requested": True},
                      f"Review requested for task {task_id}" + (f": {message}" if message else ""))


def block(conn: psycopg.Connection, actor: Actor, task_id: str, reason: str) -> dict[str, Any]:
    """The assignee cannot go on: the task goes to review (settling the round) with the blocker for the lead."""
    return _to_review(conn, actor, task_id, {"blocker": reason}, {"blocked": True},
                      f"Blocked on task {task_id}: {reason}")


def _to_review(conn: psycopg.Connection, actor: Actor, task_id: str, patch: dict[str, Any],
               event: dict[str, Any], note: str) -> dict[str, Any]:
    task = get(conn, task_id)
    _check_access(task, actor, write=True)
    box = Outbox()
    lead = agents.lead_of(conn, task["team_id"])
    if lead is not None and lead["id"] != actor.agent_id:
        messages.notify(conn, actor, lead, f'{note} ("{task["title"]}")', box)
    return _settle_flow(conn, actor, task_id, "review", box, patch=patch, event=event)


def _settle_flow(conn: psycopg.Connection, actor: Actor, task_id: str, to: str, box: Outbox, *,
                 patch: dict[str, Any], event: dict[str, Any] | None = None,
                 rework: str | None = None) -> dict[str, Any]:
    row = _move(conn, get(conn, task_id, lock=True), to, actor, box, patch=patch, event=event)
    if to in SETTLED:
        rounds.maybe_wake(conn, row["round_id"], box)
    box.flush(conn)
    if rework is not None:
        runs.enqueue_run(conn, team_id=row["team_id"], agent_id=row["assigned_to"],
                         prompt=task_prompt(row, actor, rework=rework), reason="task", task_id=row["id"],
                         round_id=row["round_id"])
    if to in SETTLED:
        _drop_queued_runs(conn, task_id)
    return view(conn, task_id)


def _drop_queued_runs(conn: psycopg.Connection, task_id: str) -> None:
    """A settled task needs no more runs: cancel the ones still waiting (never the caller's running one)."""
    queued = conn.execute("SELECT id FROM runs WHERE task_id = %s AND state = 'queued' ORDER BY id",
                          (task_id,)).fetchall()
    with handled_by_caller(task_id):
        for run in queued:
            runs.cancel_run(conn, run["id"])


def cancel(conn: psycopg.Connection, actor: Actor, task_id: str, reason: str) -> dict[str, Any]:
    """Cancel a task and its runs (lead or user)."""
    task = get(conn, task_id)
    _check_access(task, actor, write=True)
    if not actor.is_user and not actor.is_lead:
        raise Forbidden("only the lead can cancel a task; fail it with a reason instead")
    check_transition(task, "cancelled")
    active = conn.execute("SELECT id FROM runs WHERE task_id = %s AND state IN ('queued', 'running') ORDER BY id",
                          (task_id,)).fetchall()
    with handled_by_caller(task_id):  # runs first (lock order); their end hooks leave the task to us
        for run in active:
            if run["id"] != actor.run_id:
                runs.cancel_run(conn, run["id"])
    box = Outbox()
    row = _move(conn, get(conn, task_id, lock=True), "cancelled", actor, box, patch={"reason": reason})
    rounds.maybe_wake(conn, row["round_id"], box)
    box.flush(conn)
    return view(conn, task_id)


def cancel_many(conn: psycopg.Connection, task_ids: list[str], actor: Actor, reason: str, box: Outbox) -> list[str]:
    """Cancel open tasks whose runs the caller already cancelled (agent or team archive)."""
    done = []
    for task_id in task_ids:
        task = get(conn, task_id, lock=True)
        if task["stage"] in TERMINAL:
            continue
        row = _move(conn, task, "cancelled", actor, box, patch={"reason": reason})
        rounds.maybe_wake(conn, row["round_id"], box)
        done.append(task_id)
    return done


def assign(conn: psycopg.Connection, actor: Actor, task_id: str, who: str) -> dict[str, Any]:
    """Give a task that has not started to another teammate (lead or user)."""
    task = get(conn, task_id)
    _check_access(task, actor, write=True)
    if not actor.is_user and not actor.is_lead:
        raise Forbidden("only the team lead can reassign tasks")
    if task["stage"] not in ("backlog", "planning"):
        raise Conflict(f"task {task_id} is {task['stage']}; only a task that has not started can be reassigned")
    agent = agents.resolve(conn, task["team_id"], who)
    if agent["id"] == task["assigned_to"]:
        return view(conn, task_id)
    active = conn.execute("SELECT id, state FROM runs WHERE task_id = %s AND state IN ('queued', 'running')",
                          (task_id,)).fetchall()
    if any(r["state"] == "running" for r in active):
        raise Conflict(f"task {task_id} is being worked on; cancel it instead")
    with handled_by_caller(task_id):
        for run in active:
            runs.cancel_run(conn, run["id"])
    box = Outbox()
    agents.mark_queued(conn, agent, box, revive=actor.is_user)
    get(conn, task_id, lock=True)
    row = conn.execute("UPDATE tasks SET assigned_to = %s, updated_at = now() WHERE id = %s RETURNING *",
                       (agent["id"], task_id)).fetchone()
    previous = agents.get(conn, task["assigned_to"])["name"] if task["assigned_to"] else None
    box.add("task.assigned", row["team_id"], {"from": previous, "to": agent["name"], "assigned_to": agent["id"],
                                              **actor.stamp()}, agent_id=agent["id"], task_id=task_id,
            run_id=actor.run_id)
    box.flush(conn)
    runs.enqueue_run(conn, team_id=row["team_id"], agent_id=agent["id"], prompt=task_prompt(row, actor),
                     reason="task", task_id=task_id, round_id=row["round_id"])
    return view(conn, task_id)


# ------------------------------------------------------------------------------------------- run-end settling


def settle_after_run(conn: psycopg.Connection, run: dict[str, Any], box: Outbox) -> dict[str, Any] | None:
    """The run of a task ended and the assignee did not settle the task itself: decide for it.

    Success → review with the run's final text (never silently done); failure → failed with the reason;
    cancelled → cancelled. Returns the task row when it changed.
    """
    task = get(conn, run["task_id"], lock=True)
    if task["stage"] not in OPEN or task["assigned_to"] != run["agent_id"]:
        return None
    actor = Actor(team_id=run["team_id"], agent_id=None, name="gamma", run_id=run["id"])
    state = run["state"]
    if state == "succeeded":
        text = (run.get("result_text") or "").strip() or "(the run ended without a final message)"
        return _move(conn, task, "review", actor, box, patch={"summary": text, "auto": True, "run_id": run["id"]},
                     event={"auto": True})
    if state == "cancelled":
        return _move(conn, task, "cancelled", actor, box,
                     patch={"reason": f"its run was cancelled ({run.get('error') or 'stopped'})", "run_id": run["id"]},
                     event={"auto": True})
    why = run.get("error") or run.get("outcome") or state
    return _move(conn, task, "failed", actor, box, patch={"reason": f"run {state}: {why}", "run_id": run["id"]},
                 event={"auto": True})


def start_for_run(conn: psycopg.Connection, run: dict[str, Any], box: Outbox) -> dict[str, Any] | None:
    """The run of a task started: a task that was waiting is now in progress."""
    task = get(conn, run["task_id"], lock=True)
    if task["stage"] not in ("backlog", "planning") or task["assigned_to"] != run["agent_id"]:
        return None
    actor = Actor(team_id=run["team_id"], name="gamma", run_id=run["id"])
    return _move(conn, task, "in_progress", actor, box, event={"auto": True})
