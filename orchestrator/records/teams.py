"""The `teams` table."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import Conflict, NotFound
from shared.ids import is_id


def get(conn: psycopg.Connection, team_id: str) -> dict[str, Any]:
    if not is_id(team_id, "team"):
        raise NotFound(f"team {team_id!r} not found (not a valid team id)")
    row = conn.execute("SELECT * FROM teams WHERE id = %s", (team_id,)).fetchone()
    if row is None:
        raise NotFound(f"team {team_id} not found")
    return row


def require_active(team: dict[str, Any]) -> None:
    if team["status"] != "active":
        raise Conflict(f"team {team['name']} ({team['id']}) is archived")


def get_active(conn: psycopg.Connection, team_id: str) -> dict[str, Any]:
    team = get(conn, team_id)
    require_active(team)
    return team


def listed(conn: psycopg.Connection, *, include_archived: bool = False) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM teams" + ("" if include_archived else " WHERE status = 'active'")
        + " ORDER BY created_at DESC, id DESC"
    ).fetchall()


def active_ids(conn: psycopg.Connection) -> list[str]:
    return [r["id"] for r in conn.execute("SELECT id FROM teams WHERE status = 'active' ORDER BY id").fetchall()]


def insert(conn: psycopg.Connection, team_id: str, *, name: str, description: str, blueprint_id: str | None,
           budget_usd: float | None, check_command: str | None = None,
           worker_labels: list[str] | None = None) -> dict[str, Any]:
    return conn.execute(
        "INSERT INTO teams (id, name, description, blueprint_id, budget_usd, check_command, worker_labels)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (team_id, name.strip(), description, blueprint_id, budget_usd, check_command, worker_labels or []),
    ).fetchone()


def update(conn: psycopg.Connection, team_id: str, changed: dict[str, Any]) -> dict[str, Any]:
    assignments = ", ".join(f"{k} = %({k})s" for k in changed)
    return conn.execute(f"UPDATE teams SET {assignments}, updated_at = now() WHERE id = %(team_id)s RETURNING *",
                        {**changed, "team_id": team_id}).fetchone()


def mark_archived(conn: psycopg.Connection, team_id: str) -> None:
    conn.execute("UPDATE teams SET status = 'archived', updated_at = now() WHERE id = %s", (team_id,))


def set_budget_state(conn: psycopg.Connection, team_id: str, state: str) -> None:
    conn.execute("UPDATE teams SET budget_state = %s, updated_at = now() WHERE id = %s", (state, team_id))


def budget(conn: psycopg.Connection, team_id: str) -> tuple[float | None, float]:
    """(the team's budget or None, what its runs have cost so far)."""
    row = conn.execute(
        "SELECT t.budget_usd::float8 AS budget,"
        " (SELECT COALESCE(sum(cost_usd), 0)::float8 FROM runs WHERE team_id = t.id) AS spent"
        " FROM teams t WHERE t.id = %s",
        (team_id,),
    ).fetchone()
    return (None, 0.0) if row is None else (row["budget"], row["spent"])


def set_repo_storage(conn: psycopg.Connection, team_id: str, storage: str) -> None:
    """Record which storage holds the team's repository (see workspaces.storage_id)."""
    conn.execute("UPDATE teams SET repo_storage = %s WHERE id = %s", (storage, team_id))
