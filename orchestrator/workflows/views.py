"""What the APIs show: teams with members and progress, agents with their role's name, runs with their place in
the queue, a run's raw lines, usage sums. Reads only."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from orchestrator.domain import Conflict, NotFound, preview
from orchestrator.library.roles import get_library
from orchestrator.records import agents, runs, tasks, teams
from shared.ids import is_id

log = logging.getLogger(__name__)
_HIDDEN_RUN_FIELDS = ("token_hash",)
LINES_MAX = runs.LINES_MAX


# ------------------------------------------------------------------------------------------------------ roles


def find_role(role_id: str) -> Any | None:
    """The role from the role library, or None (unknown role, or the library failed to load)."""
    try:
        return get_library().get(role_id)
    except Exception:  # the library parses user files; a broken one must never break a run
        log.exception("the role library failed to load")
        return None


# ----------------------------------------------------------------------------------------------------- agents


def agent(row: dict[str, Any]) -> dict[str, Any]:
    """An agent as the APIs show it."""
    role = find_role(row["role_id"])
    shown = {k: v for k, v in row.items() if k != "claude_md_hash"}
    shown["role_name"] = role.name if role is not None else row["role_id"]
    return shown


def agent_by_id(conn: psycopg.Connection, agent_id: str) -> dict[str, Any]:
    return agent(agents.get(conn, agent_id))


def require_usable(row: dict[str, Any]) -> None:
    if row["status"] == "archived":
        raise Conflict(f"agent {row['name']} ({row['id']}) is archived")


# ------------------------------------------------------------------------------------------------------ teams


def require_team(conn: psycopg.Connection, team_id: str) -> None:
    """A read under a team: an unknown team is a NotFound, not an empty answer."""
    teams.get(conn, team_id)


def team(conn: psycopg.Connection, team_id: str, *, include_archived_members: bool = False) -> dict[str, Any]:
    row = teams.get(conn, team_id)
    members = agents.of_teams(conn, [team_id], include_archived=include_archived_members).get(team_id, [])
    doing = runs.current_by_agent(conn, [team_id])
    return {**row, "members": [_member(m, doing) for m in members], **_progress(conn, [team_id])[team_id]}


def team_list(conn: psycopg.Connection, *, include_archived: bool = False) -> list[dict[str, Any]]:
    rows = teams.listed(conn, include_archived=include_archived)
    ids = [r["id"] for r in rows]
    members = agents.of_teams(conn, ids)
    doing = runs.current_by_agent(conn, ids)
    progress = _progress(conn, ids)
    return [{**row, "members": [_member(m, doing) for m in members.get(row["id"], [])], **progress[row["id"]]}
            for row in rows]


def _member(row: dict[str, Any], doing: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A team's member with what it does now (`doing`: {run_id, state, reason, task_id, task_title, started_at,
    created_at, cancel_requested_at} of its running run, else its first queued one; null when it has neither),
    so that a team card can say "Ann — running: Build the page" without a request per agent."""
    return {**agent(row), "doing": doing.get(row["id"])}


def members(conn: psycopg.Connection, team_id: str) -> list[dict[str, Any]]:
    return [agent(m) for m in agents.of_teams(conn, [team_id]).get(team_id, [])]


def _progress(conn: psycopg.Connection, team_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Task counts by stage and money spent, per team, in two queries whatever the number of teams."""
    counts = tasks.stage_counts(conn, team_ids)
    cost = runs.cost_by_team(conn, team_ids)
    return {i: {"task_counts": counts[i], "cost_usd": cost.get(i, 0.0)} for i in team_ids}


# ------------------------------------------------------------------------------------------------------- runs


def run(conn: psycopg.Connection, run_id: str) -> dict[str, Any]:
    if not is_id(run_id, "run"):
        raise NotFound(f"run {run_id!r} not found (not a valid run id)")
    row = runs.get_with_agent(conn, run_id)
    if row is None:
        raise NotFound(f"run {run_id} not found")
    shown = _shown(row)
    if shown["state"] in runs.ACTIVE_STATES:
        shown.update(_queue_info(conn, row["team_id"]).get(run_id, {}))
    return shown


def run_list(conn: psycopg.Connection, team_id: str, **filters: Any) -> list[dict[str, Any]]:
    """Newest first; queued runs carry their position in the agent's line and the reason they wait."""
    queue = _queue_info(conn, team_id)
    listed = []
    for row in runs.list_for_team(conn, team_id, **filters):
        shown = _shown(row)
        shown["prompt"] = preview(row["prompt"], 300)
        shown.update(queue.get(row["id"], {}))
        listed.append(shown)
    return listed


def _queue_info(conn: psycopg.Connection, team_id: str) -> dict[str, dict[str, Any]]:
    return {q["id"]: {"position": q["position"], "wait_reason": q["wait_reason"]}
            for q in runs.queue_view(conn, team_id)}


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in row.items() if k not in _HIDDEN_RUN_FIELDS}
    shown["position"] = None
    return shown


def run_lines(conn: psycopg.Connection, run_id: str, *, attempt: int | None = None, stream: str = "stdout",
              after: int = 0, limit: int = 1000) -> dict[str, Any]:
    """Raw CLI output of one attempt (default: the latest), one stream, after line number `after`."""
    found = run(conn, run_id)
    attempt = attempt if attempt is not None else found["attempt"]
    rows = runs.lines(conn, run_id, attempt, stream, after, limit)
    return {"run_id": run_id, "attempt": attempt, "stream": stream, "lines": rows,
            "next_after": rows[-1]["line_no"] if rows else after}


def usage(conn: psycopg.Connection, team_id: str) -> dict[str, Any]:
    return runs.usage(conn, team_id)
