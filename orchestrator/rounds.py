"""Rounds: delegated work is grouped in a round, and the lead is woken exactly once when the round is settled.

A task joins the team's open round when it is created (or sent back for rework). A round is settled when each
of its tasks is in review, done, failed or cancelled — tasks still queued (backlog) or running keep it open.
The check runs under the round's row lock after each task settles, so two tasks settling at once wake the lead
once, and a task joining at the same moment either keeps the round open or lands in a new round. The wake is a
queued lead run: if the lead is busy it waits its turn, so no wake is lost.
"""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator import agents, messages, runs
from orchestrator.common import Outbox, is_handled_by_caller, preview
from shared import agent_commands as cmd
from shared.ids import new_id

SETTLED = ("review", "done", "failed", "cancelled")
WAKE_PREFIX = "[SYSTEM] Round completed"


def open_round(conn: psycopg.Connection, team_id: str, outbox: Outbox) -> str:
    """The team's open round (locked), created when there is none."""
    for _ in range(3):
        row = conn.execute("SELECT id FROM rounds WHERE team_id = %s AND state = 'open' FOR NO KEY UPDATE",
                           (team_id,)).fetchone()
        if row is not None:
            return row["id"]
        created = conn.execute(
            "INSERT INTO rounds (id, team_id) VALUES (%s, %s) ON CONFLICT (team_id) WHERE state = 'open' DO NOTHING"
            " RETURNING id",
            (new_id("round"), team_id),
        ).fetchone()
        if created is not None:
            outbox.add("round.opened", team_id, {"round_id": created["id"]})
            return created["id"]
    raise RuntimeError(f"could not open a round for team {team_id}")


def maybe_wake(conn: psycopg.Connection, round_id: str | None, outbox: Outbox) -> dict[str, Any] | None:
    """Queue the lead's wake run if this round is open and every task in it is settled. Returns the run."""
    if round_id is None:
        return None
    round_ = conn.execute("SELECT * FROM rounds WHERE id = %s FOR NO KEY UPDATE", (round_id,)).fetchone()
    team_id = round_["team_id"] if round_ else None
    if round_ is None or round_["state"] != "open" or is_handled_by_caller(team_id):
        return None
    pending = conn.execute(
        "SELECT count(*) AS n FROM tasks WHERE round_id = %s AND stage <> ALL(%s)", (round_id, list(SETTLED))
    ).fetchone()["n"]
    if pending:
        return None
    tasks = conn.execute(
        "SELECT t.*, a.name AS assignee_name FROM tasks t LEFT JOIN agents a ON a.id = t.assigned_to"
        " WHERE t.round_id = %s ORDER BY t.created_at, t.id",
        (round_id,),
    ).fetchall()
    if not tasks:
        return None
    team = conn.execute("SELECT status FROM teams WHERE id = %s", (team_id,)).fetchone()
    lead = agents.lead_of(conn, team_id)
    if team["status"] != "active" or lead is None or lead["status"] in ("stopped", "archived"):
        reason = "the team is archived" if team["status"] != "active" else (
            "the team has no lead" if lead is None else f"the lead is {lead['status']}")
        _end(conn, round_id, team_id, "cancelled", outbox, reason=reason)
        return None
    conn.execute("UPDATE rounds SET state = 'waking' WHERE id = %s", (round_id,))
    unread = messages.unread_count(conn, lead["id"])
    prompt = wake_prompt(tasks, unread)
    outbox.flush(conn)  # the task events that settled the round come before the wake run in the log
    run = runs.enqueue_run(conn, team_id=team_id, agent_id=lead["id"], prompt=prompt, reason="wake",
                           round_id=round_id)
    conn.execute("UPDATE rounds SET wake_run_id = %s WHERE id = %s", (run["id"], round_id))
    messages.add_chat(conn, team_id, "system", prompt, outbox, run_id=run["id"])
    outbox.add("round.waking", team_id, {"round_id": round_id, "tasks": [
        {"id": t["id"], "title": t["title"], "stage": t["stage"], "assignee": t["assignee_name"]} for t in tasks]},
        agent_id=lead["id"], run_id=run["id"])
    return run


def finish_wake(conn: psycopg.Connection, run: dict[str, Any], outbox: Outbox) -> None:
    """The lead's wake run ended: its round is closed (or cancelled, when the run was)."""
    if run["reason"] != "wake" or not run["round_id"]:
        return
    state = "cancelled" if run["state"] == "cancelled" else "closed"
    row = conn.execute("SELECT team_id, state FROM rounds WHERE id = %s FOR NO KEY UPDATE",
                       (run["round_id"],)).fetchone()
    if row is not None and row["state"] == "waking":
        _end(conn, run["round_id"], row["team_id"], state, outbox, run_id=run["id"], reason=f"wake run {run['state']}")


def cancel_open(conn: psycopg.Connection, team_id: str, reason: str, outbox: Outbox) -> list[str]:
    rows = conn.execute(
        "SELECT id FROM rounds WHERE team_id = %s AND state IN ('open', 'waking') ORDER BY id FOR NO KEY UPDATE",
        (team_id,),
    ).fetchall()
    for row in rows:
        _end(conn, row["id"], team_id, "cancelled", outbox, reason=reason)
    return [r["id"] for r in rows]


def _end(conn: psycopg.Connection, round_id: str, team_id: str, state: str, outbox: Outbox, *,
         reason: str, run_id: str | None = None) -> None:
    conn.execute("UPDATE rounds SET state = %s, closed_at = now() WHERE id = %s", (state, round_id))
    kind = "round.closed" if state == "closed" else "round.cancelled"
    outbox.add(kind, team_id, {"round_id": round_id, "reason": reason}, run_id=run_id)


# Placeholders in the prompts' command hints (shared/agent_commands.py checks the commands themselves).
QUOTED_TEXT, QUOTED_FIX, QUOTED_WHY = '"..."', '"what to fix"', '"why"'


def wake_prompt(tasks: list[dict[str, Any]], unread: int) -> str:
    lines = [
        f"{WAKE_PREFIX}. All {len(tasks)} task(s) of this round are settled; review them before you answer the user.",
        "",
        "Tasks (id — title — owner [stage]: result):",
    ]
    for task in tasks:
        owner = task.get("assignee_name") or "unassigned"
        lines.append(f'- {task["id"]} — "{task["title"]}" by {owner} [{task["stage"]}]: {result_line(task)}')
    lines += [
        "",
        "Protocol:",
        f"1. Read every full result first: `{cmd.example('task get', '<task_id>')}`. Never answer from titles alone.",
        f"2. Approve good work: `{cmd.example('task update', '<task_id>', status='done')}`. Ask for changes: "
        f"`{cmd.example('task update', '<task_id>', status='in_progress', message=QUOTED_FIX)}`. "
        f"Reject: `{cmd.example('task fail', '<task_id>', reason=QUOTED_WHY)}`.",
        "3. If more work is needed, delegate it and end your turn. Otherwise write the consolidated answer for the "
        f"user; when the goal is met, run `{cmd.example('done', summary=QUOTED_TEXT)}`.",
    ]
    if unread:
        lines.append(f"You have {unread} unread message(s): `{cmd.example('msg read')}`.")
    return "\n".join(lines)


def result_line(task: dict[str, Any]) -> str:
    result = task.get("result") or {}
    if result.get("blocker"):
        return "BLOCKED: " + preview(result["blocker"], 300).replace("\n", " ")
    if task["stage"] in ("failed", "cancelled"):
        why = result.get("reason") or result.get("summary") or "no reason given"
        return f"{task['stage'].upper()}: " + preview(why, 300).replace("\n", " ")
    summary = preview(result.get("summary"), 400).replace("\n", " ") or "(no summary)"
    if result.get("auto"):
        summary = "(not reported by the agent; its last message) " + summary
    files = result.get("files") or []
    return summary + (f" Files: {', '.join(files[:10])}" if files else "")
