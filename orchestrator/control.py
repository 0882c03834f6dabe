"""Stop: one run, or everything. (An agent's and a team's stop live with agents and teams.)"""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator import run_views, runs, teams
from orchestrator.common import USER, Actor, Conflict


def cancel_run(conn: psycopg.Connection, run_id: str) -> dict[str, Any]:
    """Cancel one run; the agent stays available for its other work."""
    run = run_views.get_run(conn, run_id)
    if run["state"] not in runs.ACTIVE_STATES:
        raise Conflict(f"run {run_id} already ended ({run['state']})")
    cancelled = runs.cancel_run(conn, run_id)
    return {"run": run_views.get_run(conn, run_id), "cancelled_runs": cancelled}


def stop_all(conn: psycopg.Connection, actor: Actor = USER) -> dict[str, Any]:
    """Stop every active team (each gets its own `team.stopped` event), then anything left anywhere."""
    team_ids = [r["id"] for r in conn.execute("SELECT id FROM teams WHERE status = 'active' ORDER BY id").fetchall()]
    cancelled: list[str] = []
    for team_id in team_ids:
        cancelled += teams.stop(conn, team_id, actor)["cancelled_runs"]
    leftovers = conn.execute(  # runs of archived teams, if any were left behind
        "SELECT DISTINCT team_id FROM runs WHERE state IN ('queued', 'running') AND team_id <> ALL(%s)"
        " ORDER BY team_id", (team_ids,)).fetchall()
    for leftover in leftovers:
        cancelled += runs.cancel_team(conn, leftover["team_id"])
    return {"stopped_teams": team_ids, "cancelled_runs": sorted(set(cancelled))}
