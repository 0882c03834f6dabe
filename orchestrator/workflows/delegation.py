"""Delegation: creating tasks (one or a whole plan), assigning, reviewing, cancelling and retrying them, and the
lead declaring the goal met.

Every task is assigned when it is created (to the named teammate, else to its creator, else — from the public
API — to the lead) and gets a queued run at once; a busy agent's run simply waits its turn. Assignees are found
by exact id or exact name within the team only. Members change only their own tasks; the lead any in its team.
A task that settles (review, done, failed, cancelled) may settle its round, which wakes the lead (wake.py).
A resumed attempt (attempt > 1) asking for a task to be where it already is gets the task back unchanged, with
`unchanged: true` and a note, instead of a 409/403 (`_unchanged`); a first attempt is refused as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from orchestrator.domain import USER, Actor, Conflict, Forbidden, Invalid, NotFound, Outbox, preview
from orchestrator.records import agents, reviews, rounds, runs, tasks, teams
from orchestrator.workflows import (
    agent_status,
    conversation,
    run_lifecycle,
    task_graph,
    task_moves,
    wake,
    work_product,
)
from orchestrator.workflows.task_moves import GAMMA, OPEN, STAGES, TERMINAL, check_transition
from shared.vocabulary import MANUAL_TASK_TRANSITIONS, SETTLED_TASK_STAGES

SETTLED = SETTLED_TASK_STAGES
MEMBER_TARGETS = ("in_progress", "review", "done", "failed")
REVIEWED = ("review", "done")  # where a member's report (done, review, block) has already been taken
__all__ = ["OPEN", "STAGES", "TERMINAL", "TaskSpec", "check_transition"]


@dataclass
class TaskSpec:
    title: str
    description: str = ""
    assignee: str | None = None  # teammate name or agent id
    kind: str = "generic"
    priority: int = 0
    key: str | None = None  # a name other tasks of the same plan use in `depends_on`
    depends_on: list[str] = field(default_factory=list)  # keys of this plan, or ids of the team's tasks


# ------------------------------------------------------------------------------------------------------ reads


def get(conn: psycopg.Connection, task_id: str) -> dict[str, Any]:
    return tasks.get(conn, task_id)


def view(conn: psycopg.Connection, task_id: str, actor: Actor = USER) -> dict[str, Any]:
    task = tasks.get_shown(conn, task_id)
    _check_access(task, actor, write=False)
    task["runs"] = runs.of_task(conn, task_id)
    task["checks"] = work_product.checks_of(conn, task_id)
    task["depends_on"] = [_brief(t) for t in tasks.dependencies_of(conn, task_id)]
    task["dependents"] = [_brief(t) for t in tasks.dependents_of(conn, task_id)]
    task["reviews"] = reviews.of_task(conn, task_id)
    return task


def _brief(task: dict[str, Any]) -> dict[str, Any]:
    return {"id": task["id"], "title": task["title"], "stage": task["stage"]}


def list_tasks(conn: psycopg.Connection, team_id: str, **filters: Any) -> list[dict[str, Any]]:
    listed = tasks.listed(conn, team_id, **filters)
    depends = tasks.dependency_ids(conn, [t["id"] for t in listed])
    return [{**t, "depends_on": depends[t["id"]]} for t in listed]


# ----------------------------------------------------------------------------------------------------- create


def create(conn: psycopg.Connection, team_id: str, specs: list[TaskSpec], actor: Actor = USER, *,
           retry_of: str | None = None, plan: bool = False) -> list[dict[str, Any]]:
    """Create tasks (a plan is several) in the team's open round, each with a queued run for its assignee."""
    if plan and not actor.is_user and not actor.is_lead:
        raise Forbidden("only the team lead plans; create a task for yourself with `gamma-agent task create`, "
                        "or ask the lead with `gamma-agent msg send <lead> ...`")
    if not specs:
        raise Invalid("no tasks given")
    if not actor.is_user and actor.team_id != team_id:
        raise Forbidden("agents can only create tasks in their own team")
    teams.get_active(conn, team_id)
    resolved = task_graph.check_plan(conn, team_id, [s.key for s in specs], [s.depends_on for s in specs])
    targets = [_assignee_for(conn, team_id, spec, actor) for spec in specs]
    box = Outbox()
    for agent in sorted({a["id"]: a for a in targets}.values(), key=lambda a: a["id"]):
        agent_status.mark_queued(conn, agent, box, revive=actor.is_user)
    round_id = rounds.open_round(conn, team_id, box)
    rows: dict[int, dict[str, Any]] = {}
    ready: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for i in task_graph.order(resolved):  # a task after the plan tasks it depends on
        spec, agent = specs[i], targets[i]
        upstream_ids = [rows[d]["id"] if isinstance(d, int) else d for d in resolved[i]]
        waiting = task_graph.waiting_reason([tasks.get(conn, u) for u in upstream_ids])
        row = tasks.insert(conn, team_id=team_id, round_id=round_id, title=spec.title, description=spec.description,
                           kind=spec.kind, priority=spec.priority, assigned_to=agent["id"],
                           created_by=actor.agent_id, retry_of=retry_of,
                           stage="backlog" if waiting is None else "blocked", blocked_reason=waiting)
        tasks.add_dependencies(conn, row["id"], upstream_ids)
        box.add("task.created", team_id, {
            "title": row["title"], "kind": row["kind"], "priority": row["priority"], "assignee": agent["name"],
            "assigned_to": agent["id"], "round_id": round_id, "retry_of": retry_of, "stage": row["stage"],
            "depends_on": upstream_ids, "blocked_reason": waiting,
            "description": preview(row["description"], 500), **actor.stamp()},
            agent_id=agent["id"], task_id=row["id"], run_id=actor.run_id)
        rows[i] = row
        if waiting is None:
            ready.append((row, tasks.dependencies_of(conn, row["id"])))
    box.flush(conn)
    for row, upstream in sorted(ready, key=lambda r: r[0]["id"]):
        runs.enqueue_run(conn, team_id=team_id, agent_id=row["assigned_to"],
                         prompt=task_prompt(row, actor, upstream=upstream),
                         reason="retry" if retry_of else "task", task_id=row["id"], round_id=round_id)
    for agent_id in sorted({a["id"] for a in targets}):  # an agent given only blocked tasks is not queued
        agent_status.sync(conn, agent_id, box)
    box.flush(conn)
    return [view(conn, rows[i]["id"]) for i in range(len(specs))]


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
    source = tasks.get(conn, source_id)
    if source["team_id"] != team_id:
        raise NotFound(f"task {source_id} not found in this team")
    if source["stage"] not in ("failed", "cancelled"):
        raise Conflict(f"task {source_id} is {source['stage']}; only a failed or cancelled task can be retried")
    defaults = {"title": source["title"], "description": source["description"], "assignee": source["assigned_to"],
                "kind": source["kind"], "priority": source["priority"]}
    chosen = {k: overrides[k] if overrides.get(k) is not None else v for k, v in defaults.items()}
    upstream = [t["id"] for t in tasks.dependencies_of(conn, source_id)]
    retried = create(conn, team_id, [TaskSpec(**chosen, depends_on=upstream)], actor, retry_of=source_id)[0]
    # The tasks that waited for the failed one wait for its retry instead.
    for dependent_id in tasks.repoint_dependencies(conn, source_id, retried["id"]):
        dependent = tasks.get(conn, dependent_id, lock=True)
        if dependent["stage"] == "blocked":
            tasks.set_blocked_reason(conn, dependent_id, task_graph.waiting_reason(
                tasks.dependencies_of(conn, dependent_id)) or "blocked")
    return view(conn, retried["id"])


task_prompt = task_moves.task_prompt


# ------------------------------------------------------------------------------------------------ transitions


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
    task = tasks.get(conn, task_id)
    _check_access(task, actor, write=True)
    member = not actor.is_user and not actor.is_lead
    if member and status not in MEMBER_TARGETS:
        raise Forbidden(f"members can set their task to {', '.join(MEMBER_TARGETS)}; {status!r} is for the lead")
    # a member's "done" on work already in review or done (a resumed attempt repeating itself) changes nothing
    unchanged = _unchanged(conn, actor, task, REVIEWED if member and status == "done" else (status,))
    if unchanged is not None:
        return unchanged
    if status == "done" and (task.get("merge") or {}).get("state") == "checking" and task["stage"] == "review":
        return {**view(conn, task_id, actor), "note": f"task {task_id} is being merged: its merge check is running"}
    approving = task["stage"] == "review"
    if member and status == "done" and approving:
        raise Forbidden(f"task {task_id} is waiting for the lead's review; only the lead approves work")
    if status == "done" and not summary and not approving and not (task["result"] or {}).get("summary"):
        raise Invalid("a summary is required to mark a task done: say what was done, the findings and file paths")
    if status == "failed" and not (reason or summary):
        raise Invalid("a reason is required to fail a task")
    rework = status == "in_progress" and task["stage"] == "review" and task["assigned_to"] not in (
        None, actor.agent_id)
    box = Outbox()
    assignee = agents.get(conn, task["assigned_to"]) if rework else None
    if assignee is not None:
        agent_status.mark_queued(conn, assignee, box, revive=actor.is_user)
    note_key = "review_message" if status == "in_progress" else "message"
    patch = {"summary": summary, "reported_files": files, "reason": reason, note_key: message}
    rework_note = (message or "") if assignee is not None else None
    if approving:
        step = {"done": "approved", "in_progress": "changes_requested", "failed": "rejected"}[status]
        _review_step(conn, task_id, step, actor, message or reason)
    if status == "done":
        return _accept(conn, actor, task_id, box, patch)
    return _settle_flow(conn, actor, task_id, status, box, patch=patch, rework=rework_note)


# ---------------------------------------------------------------------------------------- merging (done)


def _accept(conn: psycopg.Connection, actor: Actor, task_id: str, box: Outbox, patch: dict[str, Any]) -> dict[str, Any]:
    """Done means merged: the task's branch goes into the main line first (work_product.accept). A conflict
    sends the task back to its assignee; with a check command the task waits in review for its merge check."""
    task = tasks.get(conn, task_id, lock=True)
    accepted = work_product.accept(conn, task, actor)
    if accepted.state == "conflict":
        files = ", ".join(accepted.conflicts)
        _conflict_event(box, task, accepted, actor)
        return _send_back(conn, actor, task_id, box, step="merge_conflict", note=(
                              f"[MERGE CONFLICT] files: {files}\nMerging branch `{task['branch']}` into main "
                              f"conflicts in: {files}. In your worktree run `git merge main`, resolve the "
                              "conflicts keeping what both sides meant, commit, and report the task again."))
    if accepted.state == "checking":
        if task["stage"] != "review":
            task_moves.move(conn, task, "review", actor, box, patch=patch, event={"merge": "checking"})
        box.add("task.check_started", task["team_id"], {"check_id": accepted.merge["check_id"],
                                                        "command": accepted.merge["command"], **actor.stamp()},
                agent_id=task["assigned_to"], task_id=task_id, run_id=actor.run_id)
        box.flush(conn)
        return {**view(conn, task_id, actor), "note": f"accepted: the check `{accepted.merge['command']}` runs on "
                                                      "the merged result; the main line moves if it passes"}
    return _merged(conn, actor, task_id, box, accepted, patch)


def _merged(conn: psycopg.Connection, actor: Actor, task_id: str, box: Outbox,
            accepted: work_product.Acceptance, patch: dict[str, Any]) -> dict[str, Any]:
    commit = accepted.merge.get("commit")
    if commit is not None:  # a task that changed nothing has nothing merged to show in its review history
        _review_step(conn, task_id, "merged", actor, commit)
    task = tasks.get(conn, task_id)
    box.add("task.merged", task["team_id"], {"commit": commit, "branch": task["branch"],
                                             "note": accepted.merge.get("note"), **actor.stamp()},
            agent_id=task["assigned_to"], task_id=task_id, run_id=actor.run_id)
    shown = _settle_flow(conn, actor, task_id, "done", box, patch=patch)
    work_product.tidy(conn, task["team_id"])
    return shown


def _send_back(conn: psycopg.Connection, actor: Actor, task_id: str, box: Outbox, *, step: str,
               note: str) -> dict[str, Any]:
    """The merge did not happen (a conflict, a failed check): the task goes back to its assignee with `note` in
    its rework prompt; its branch keeps everything; the lead is told when someone else accepted it."""
    _review_step(conn, task_id, step, actor, note)
    task = tasks.get(conn, task_id, lock=True)
    assignee = agents.get(conn, task["assigned_to"])
    agent_status.mark_queued(conn, assignee, box, revive=True)
    if task["stage"] == "review":
        row = task_moves.move(conn, task, "in_progress", actor, box, patch={"review_message": note},
                              event={"merge": step})
    else:
        row = task
    lead = agents.lead_of(conn, row["team_id"])
    if lead is not None and lead["id"] not in (actor.agent_id, row["assigned_to"]):
        conversation.notify(conn, GAMMA, lead, f'Task {task_id} ("{row["title"]}") went back to '
                            f'{assignee["name"]}: {note.splitlines()[0]}', box)
    box.flush(conn)
    runs.enqueue_run(conn, team_id=row["team_id"], agent_id=row["assigned_to"],
                     prompt=task_prompt(row, actor, rework=note), reason="task", task_id=task_id,
                     round_id=row["round_id"])
    return {**view(conn, task_id, actor), "note": f"not merged: {note.splitlines()[0]}; the task went back to "
                                                  f"{assignee['name']}"}


def _conflict_event(box: Outbox, task: dict[str, Any], accepted: work_product.Acceptance, actor: Actor) -> None:
    box.add("task.merge_conflict", task["team_id"], {"files": list(accepted.conflicts), "branch": task["branch"],
                                                     "main": accepted.merge.get("main"), **actor.stamp()},
            agent_id=task["assigned_to"], task_id=task["id"], run_id=actor.run_id)


def check_finished(conn: psycopg.Connection, check_id: str, *, passed: bool, exit_code: int | None,
                   output: str) -> dict[str, Any]:
    """A merge check ended (on a worker): the task is merged and done, or goes back with the check's output."""
    check, accepted = work_product.finish_check(conn, check_id, passed=passed, exit_code=exit_code, output=output)
    task = tasks.get(conn, check["task_id"])
    actor = Actor(team_id=task["team_id"], name=check["approved_by"])
    box = Outbox()
    box.add("task.check_finished", task["team_id"], {"check_id": check_id, "passed": passed,
                                                     "exit_code": exit_code, "command": check["command"]},
            agent_id=task["assigned_to"], task_id=task["id"])
    if task["stage"] in TERMINAL:
        box.flush(conn)
        return check
    if accepted is None and check["state"] == "failed":
        tail = (output or "").strip()[-3000:] or "(no output)"
        _send_back(conn, actor, task["id"], box, step="check_failed", note=(
            f"[CHECK FAILED] `{check['command']}` exited {exit_code} on your branch merged into main, so the main "
            "line did not move. Fix it in your worktree, commit, and report the task again. The end of its "
            f"output:\n{tail}"))
    elif accepted is not None and accepted.state == "merged":
        _merged(conn, actor, task["id"], box, accepted, {})
    elif accepted is not None and accepted.state == "conflict":
        files = ", ".join(accepted.conflicts)
        _conflict_event(box, task, accepted, actor)
        _send_back(conn, actor, task["id"], box, step="merge_conflict", note=(
                       f"[MERGE CONFLICT] files: {files}\nThe main line moved while your merge was checked, and "
                       f"your branch now conflicts with it in: {files}. In your worktree run `git merge main`, "
                       "resolve the conflicts, commit, and report the task again."))
    box.flush(conn)
    return work_product.check_of(conn, check_id)


def _review_step(conn: psycopg.Connection, task_id: str, step: str, actor: Actor, feedback: str | None) -> None:
    reviews.add(conn, task_id, step, by_agent=actor.agent_id, by_name=actor.name, run_id=actor.run_id,
                feedback=feedback)


def _unchanged(conn: psycopg.Connection, actor: Actor, task: dict[str, Any],
               wanted: tuple[str, ...]) -> dict[str, Any] | None:
    """A resumed attempt re-reporting a task that is already where it asks for: a no-op, not an error.

    An attempt after the first (its worker was lost, it was handed back, an API error was retried) resumes the
    session and may repeat a report it made before the interruption, with other words (so another idempotency
    key). Refusing it would end the run on an error for work that is done. The answer is the task as it is,
    with `unchanged: true` and a note; nothing is written. A first attempt is refused as before (409/403): an
    agent that means to change something must learn that it did not happen.
    """
    if actor.is_user or actor.run_id is None or task["stage"] not in wanted:
        return None
    run = runs.get_with_agent(conn, actor.run_id)
    if run is None or run["attempt"] <= 1:
        return None
    return {**view(conn, task["id"], actor), "unchanged": True,
            "note": f"task {task['id']} is already {task['stage']}; nothing was changed (this run was resumed "
                    "after an interruption: the report was most likely made before it)"}


def request_review(conn: psycopg.Connection, actor: Actor, task_id: str, message: str | None, *,
                   summary: str | None = None, files: list[str] | None = None) -> dict[str, Any]:
    """The assignee asks the lead to review (the round counts it as settled; the lead is told in its inbox)."""
    return _to_review(conn, actor, task_id, {"review_message": message, "summary": summary, "reported_files": files},
                      {"review_requested": True},
                      f"Review requested for task {task_id}" + (f": {message}" if message else ""), message)


def block(conn: psycopg.Connection, actor: Actor, task_id: str, reason: str) -> dict[str, Any]:
    """The assignee cannot go on: the task goes to review (settling the round) with the blocker for the lead."""
    return _to_review(conn, actor, task_id, {"blocker": reason}, {"blocked": True},
                      f"Blocked on task {task_id}: {reason}", f"blocked: {reason}")


def _to_review(conn: psycopg.Connection, actor: Actor, task_id: str, patch: dict[str, Any],
               event: dict[str, Any], note: str, feedback: str | None) -> dict[str, Any]:
    task = tasks.get(conn, task_id)
    _check_access(task, actor, write=True)
    unchanged = _unchanged(conn, actor, task, REVIEWED)
    if unchanged is not None:
        return unchanged
    work_product.commit_for_report(conn, tasks.get(conn, task_id, lock=True), actor)  # the lead reviews the diff
    box = Outbox()
    lead = agents.lead_of(conn, task["team_id"])
    if lead is not None and lead["id"] != actor.agent_id:
        conversation.notify(conn, actor, lead, f'{note} ("{task["title"]}")', box)
    _review_step(conn, task_id, "requested", actor, feedback)
    return _settle_flow(conn, actor, task_id, "review", box, patch=patch, event=event)


def _settle_flow(conn: psycopg.Connection, actor: Actor, task_id: str, to: str, box: Outbox, *,
                 patch: dict[str, Any], event: dict[str, Any] | None = None,
                 rework: str | None = None) -> dict[str, Any]:
    row = task_moves.move(conn, tasks.get(conn, task_id, lock=True), to, actor, box, patch=patch, event=event)
    if to in SETTLED:
        wake.maybe_wake(conn, row["round_id"], box)
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
    for run in runs.active_of_task(conn, task_id, states=("queued",)):
        run_lifecycle.cancel(conn, "run", run["id"], leave={task_id})


def cancel(conn: psycopg.Connection, actor: Actor, task_id: str, reason: str) -> dict[str, Any]:
    """Cancel a task and its runs (lead or user)."""
    task = tasks.get(conn, task_id)
    _check_access(task, actor, write=True)
    if not actor.is_user and not actor.is_lead:
        raise Forbidden("only the lead can cancel a task; fail it with a reason instead")
    unchanged = _unchanged(conn, actor, task, ("cancelled",))
    if unchanged is not None:
        return unchanged
    check_transition(task, "cancelled")
    if task["stage"] == "review":
        _review_step(conn, task_id, "rejected", actor, reason)
    for run in runs.active_of_task(conn, task_id):  # runs first (lock order); the task is ours to settle
        if run["id"] != actor.run_id:
            run_lifecycle.cancel(conn, "run", run["id"], leave={task_id})
    box = Outbox()
    row = task_moves.move(conn, tasks.get(conn, task_id, lock=True), "cancelled", actor, box,
                          patch={"reason": reason})
    wake.maybe_wake(conn, row["round_id"], box)
    box.flush(conn)
    work_product.cancel_checks(conn, task_id)
    work_product.tidy(conn, row["team_id"])  # its worktree goes once its runs have ended (their end commits)
    return view(conn, task_id)


def cancel_many(conn: psycopg.Connection, task_ids: list[str], actor: Actor, reason: str, box: Outbox, *,
                wake_lead: bool = True) -> list[str]:
    """Cancel open tasks whose runs the caller already cancelled (agent or team archive). A team archive ends its
    rounds itself (`wake_lead=False`)."""
    done = []
    for task_id in task_ids:
        task = tasks.get(conn, task_id, lock=True)
        if task["stage"] in TERMINAL:
            continue
        row = task_moves.move(conn, task, "cancelled", actor, box, patch={"reason": reason})
        if wake_lead:
            wake.maybe_wake(conn, row["round_id"], box)
        done.append(task_id)
    return done


def assign(conn: psycopg.Connection, actor: Actor, task_id: str, who: str) -> dict[str, Any]:
    """Give a task that has not started to another teammate (lead or user)."""
    task = tasks.get(conn, task_id)
    _check_access(task, actor, write=True)
    if not actor.is_user and not actor.is_lead:
        raise Forbidden("only the team lead can reassign tasks")
    if task["stage"] not in ("backlog", "blocked"):
        raise Conflict(f"task {task_id} is {task['stage']}; only a task that has not started can be reassigned")
    agent = agents.resolve(conn, task["team_id"], who)
    if agent["id"] == task["assigned_to"]:
        return view(conn, task_id)
    active = runs.active_of_task(conn, task_id)
    if any(r["state"] == "running" for r in active):
        raise Conflict(f"task {task_id} is being worked on; cancel it instead")
    for run in active:
        run_lifecycle.cancel(conn, "run", run["id"], leave={task_id})
    box = Outbox()
    agent_status.mark_queued(conn, agent, box, revive=actor.is_user)
    tasks.get(conn, task_id, lock=True)
    row = tasks.reassign(conn, task_id, agent["id"])
    previous = agents.get(conn, task["assigned_to"])["name"] if task["assigned_to"] else None
    box.add("task.assigned", row["team_id"], {"from": previous, "to": agent["name"], "assigned_to": agent["id"],
                                              **actor.stamp()}, agent_id=agent["id"], task_id=task_id,
            run_id=actor.run_id)
    box.flush(conn)
    if row["stage"] == "backlog":  # a blocked task gets its run once its dependencies are done
        runs.enqueue_run(conn, team_id=row["team_id"], agent_id=agent["id"],
                         prompt=task_prompt(row, actor, upstream=tasks.dependencies_of(conn, task_id)),
                         reason="task", task_id=task_id, round_id=row["round_id"])
    else:
        agent_status.sync(conn, agent["id"], box)
        box.flush(conn)
    return view(conn, task_id)


def change(conn: psycopg.Connection, task_id: str, changes: dict[str, Any], actor: Actor = USER) -> dict[str, Any]:
    """The user's edit of a task (PATCH /api/tasks/<id>): title, description, priority (one `task.edited`), a
    move along the transitions a user may make by hand, a new assignee — each change its own event."""
    task = tasks.get(conn, task_id)
    _check_access(task, actor, write=True)
    stage = changes.get("stage")
    if stage is not None and stage != task["stage"]:
        allowed = MANUAL_TASK_TRANSITIONS.get(task["stage"], ())
        if stage not in allowed:
            check_transition(task, stage)  # names a transition that does not exist at all
            raise Conflict(f"task {task_id} cannot be moved from {task['stage']} to {stage} by hand; "
                           + (f"from {task['stage']} you can move it to: {', '.join(allowed)}" if allowed else
                              f"a {task['stage']} task moves by itself"))
    edits = {k: v for k, v in changes.items() if k in tasks.EDITABLE and v is not None and task[k] != v}
    if edits:
        box = Outbox()
        row = tasks.edit(conn, task_id, edits)
        box.add("task.edited", row["team_id"], {"changes": {k: row[k] for k in edits}, **actor.stamp()},
                agent_id=row["assigned_to"], task_id=task_id, run_id=actor.run_id)
        box.flush(conn)
    if changes.get("assignee"):
        assign(conn, actor, task_id, changes["assignee"])
    if stage is not None and stage != task["stage"]:
        note = changes.get("message") or changes.get("reason")
        if stage == "cancelled":
            cancel(conn, actor, task_id, note or "cancelled by the user")
        else:
            moved = update_status(conn, actor, task_id, stage, reason=note or (
                "failed by the user" if stage == "failed" else None), message=note)
            if moved.get("note"):  # what the move did besides (a merge conflict, a merge check started)
                return {**view(conn, task_id, actor), "note": moved["note"]}
    return view(conn, task_id, actor)


def goal_done(conn: psycopg.Connection, actor: Actor, summary: str) -> dict[str, Any]:
    """The lead declares the user's goal met. Tasks still open are listed, never force-completed."""
    if not actor.is_lead:
        raise Forbidden("only the team lead can mark the goal done")
    assert actor.team_id is not None
    open_tasks = tasks.unfinished_of_team(conn, actor.team_id)
    box = Outbox()
    message = conversation.add_chat(conn, actor.team_id, "notice", f"✅ Goal marked done by {actor.name}: {summary}",
                                    box, agent_id=actor.agent_id, run_id=actor.run_id)
    box.add("team.goal_done", actor.team_id, {"summary": summary, "open_tasks": [dict(t) for t in open_tasks],
                                              **actor.stamp()}, agent_id=actor.agent_id, run_id=actor.run_id)
    box.flush(conn)
    note = (f"{len(open_tasks)} task(s) are still open and were left as they are" if open_tasks
            else "no task is left open")
    return {"summary": summary, "message_id": message["id"], "open_tasks": open_tasks, "note": note}
