"""Waking the lead: delegated work is grouped in a round, and the lead is woken exactly once when the round is
settled.

A task joins the team's open round when it is created (or sent back for rework). A round is settled when each
of its tasks is in review, done, failed or cancelled — tasks still queued (backlog) or running keep it open.
The check runs under the round's row lock after each task settles, so two tasks settling at once wake the lead
once, and a task joining at the same moment either keeps the round open or lands in a new round. The wake is a
queued lead run: if the lead is busy it waits its turn, so no wake is lost.
"""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import Outbox, preview
from orchestrator.records import agents, inbox, rounds, runs, tasks, teams
from orchestrator.workflows import conversation
from shared import agent_commands as cmd
from shared.vocabulary import SETTLED_TASK_STAGES

SETTLED = SETTLED_TASK_STAGES
WAKE_PREFIX = "[SYSTEM] Round completed"
open_round = rounds.open_round


def maybe_wake(conn: psycopg.Connection, round_id: str | None, outbox: Outbox) -> dict[str, Any] | None:
    """Queue the lead's wake run if this round is open and every task in it is settled. Returns the run."""
    if round_id is None:
        return None
    round_ = rounds.get(conn, round_id, lock=True)
    if round_ is None or round_["state"] != "open":
        return None
    team_id = round_["team_id"]
    if tasks.unsettled_in_round(conn, round_id):
        return None
    settled = tasks.of_round(conn, round_id)
    if not settled:
        return None
    team = teams.get(conn, team_id)
    lead = agents.lead_of(conn, team_id)
    if team["status"] != "active" or lead is None or lead["status"] in ("stopped", "archived"):
        reason = "the team is archived" if team["status"] != "active" else (
            "the team has no lead" if lead is None else f"the lead is {lead['status']}")
        rounds.end(conn, round_id, team_id, "cancelled", outbox, reason=reason)
        return None
    rounds.mark_waking(conn, round_id)
    prompt = wake_prompt(settled, inbox.unread_count(conn, lead["id"]))
    outbox.flush(conn)  # the task events that settled the round come before the wake run in the log
    run = runs.enqueue_run(conn, team_id=team_id, agent_id=lead["id"], prompt=prompt, reason="wake",
                           round_id=round_id)
    rounds.set_wake_run(conn, round_id, run["id"])
    conversation.add_chat(conn, team_id, "wake", f"{wake_sentence(settled)}\n\n{prompt}", outbox, run_id=run["id"])
    outbox.add("round.waking", team_id, {"round_id": round_id, "tasks": [
        {"id": t["id"], "title": t["title"], "stage": t["stage"], "assignee": t["assignee_name"]} for t in settled]},
        agent_id=lead["id"], run_id=run["id"])
    return run


def finish_wake(conn: psycopg.Connection, run: dict[str, Any], outbox: Outbox) -> None:
    """The lead's wake run ended: its round is closed (or cancelled, when the run was)."""
    if run["reason"] != "wake" or not run["round_id"]:
        return
    state = "cancelled" if run["state"] == "cancelled" else "closed"
    row = rounds.get(conn, run["round_id"], lock=True)
    if row is not None and row["state"] == "waking":
        rounds.end(conn, run["round_id"], row["team_id"], state, outbox, run_id=run["id"],
                   reason=f"wake run {run['state']}")


def cancel_open(conn: psycopg.Connection, team_id: str, reason: str, outbox: Outbox) -> list[str]:
    """End the team's open and waking rounds (the team was stopped or archived): nobody is woken."""
    round_ids = rounds.unfinished_of_team(conn, team_id)
    for round_id in round_ids:
        rounds.end(conn, round_id, team_id, "cancelled", outbox, reason=reason)
    return round_ids


# Placeholders in the prompts' command hints (shared/agent_commands.py checks the commands themselves).
QUOTED_TEXT, QUOTED_FIX, QUOTED_WHY = '"..."', '"what to fix"', '"why"'


def wake_sentence(settled: list[dict[str, Any]]) -> str:
    """What the chat says when the lead is woken, for the user: how the round's tasks ended, what happens next.
    (The prompt the lead reads follows it in the message; the UI shows it folded.)"""
    if len(settled) == 1:
        return f"The round's task is {settled[0]['stage']}: the lead is reviewing it and will answer here."
    counts: dict[str, int] = {}
    for task in settled:
        counts[task["stage"]] = counts.get(task["stage"], 0) + 1
    how = ", ".join(f"{n} {stage}" for stage, n in sorted(counts.items(), key=lambda item: item[0] != "done"))
    return f"All {len(settled)} tasks of this round ended ({how}): the lead is reviewing them and will answer here."


def wake_prompt(settled: list[dict[str, Any]], unread: int) -> str:
    lines = [
        f"{WAKE_PREFIX}. All {len(settled)} task(s) of this round are settled; review them before you answer the user.",
        "",
        "Tasks (id — title — owner [stage]: result):",
    ]
    for task in settled:
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
    if task["stage"] == "blocked":
        return "BLOCKED: " + preview(task.get("blocked_reason") or "blocked", 400).replace("\n", " ")
    if result.get("blocker"):
        return "BLOCKED: " + preview(result["blocker"], 300).replace("\n", " ")
    if task["stage"] in ("failed", "cancelled"):
        why = result.get("reason") or result.get("summary") or "no reason given"
        return f"{task['stage'].upper()}: " + preview(why, 300).replace("\n", " ")
    summary = preview(result.get("summary"), 400).replace("\n", " ") or "(no summary)"
    if result.get("auto"):
        summary = "(not reported by the agent; its last message) " + summary
    return summary + change_note(task)


def change_note(task: dict[str, Any]) -> str:
    """What git measured of the task's branch (not what the agent said): files with line counts, and its merge."""
    changes = task.get("changes") or {}
    files = changes.get("files") or []
    merge = (task.get("merge") or {}).get("state")
    if not files:
        return " Changes: none in git." if task.get("base_commit") else ""
    listed = ", ".join(f"{f['path']} ({f['status']}, +{f['added'] or 0}/-{f['deleted'] or 0})" for f in files[:10])
    more = f" and {len(files) - 10} more" if len(files) > 10 else ""
    diff = f" Diff: `{cmd.example('task diff', task['id'])}`." if merge != "merged" else " Merged into main."
    return f" Changes (git, branch {changes.get('branch')}): {listed}{more}.{diff}"
