"""The `merge_checks` table: the team's check command run on a task's merged result before the main line moves."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import NotFound
from shared.ids import is_id, new_id

OUTPUT_LIMIT = 64_000  # the end of the output is kept: that is where a test runner says what failed


def insert(conn: psycopg.Connection, *, team_id: str, task_id: str, command: str, base_commit: str,
           merge_commit: str, approved_by: str) -> dict[str, Any]:
    return conn.execute(
        "INSERT INTO merge_checks (id, team_id, task_id, command, base_commit, merge_commit, approved_by)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (new_id("chk"), team_id, task_id, command, base_commit, merge_commit, approved_by[:200]),
    ).fetchone()


def get(conn: psycopg.Connection, check_id: str, *, lock: bool = False) -> dict[str, Any]:
    if not is_id(check_id, "chk"):
        raise NotFound(f"merge check {check_id!r} not found (not a valid id)")
    row = conn.execute("SELECT * FROM merge_checks WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                       (check_id,)).fetchone()
    if row is None:
        raise NotFound(f"merge check {check_id} not found")
    return row


def claim(conn: psycopg.Connection, check_id: str, worker: str) -> dict[str, Any] | None:
    """queued → running, once: a second delivery of the same message finds it taken."""
    return conn.execute(
        "UPDATE merge_checks SET state = 'running', worker = %s, started_at = now() WHERE id = %s"
        " AND state = 'queued' RETURNING *", (worker, check_id)).fetchone()


def finish(conn: psycopg.Connection, check_id: str, state: str, exit_code: int | None,
           output: str) -> dict[str, Any] | None:
    return conn.execute(
        "UPDATE merge_checks SET state = %s, exit_code = %s, output = %s, finished_at = now() WHERE id = %s"
        " AND state IN ('queued', 'running') RETURNING *",
        (state, exit_code, output[-OUTPUT_LIMIT:], check_id)).fetchone()


def of_task(conn: psycopg.Connection, task_id: str) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM merge_checks WHERE task_id = %s ORDER BY created_at, id",
                        (task_id,)).fetchall()


def stale(conn: psycopg.Connection, older_than_seconds: float) -> list[dict[str, Any]]:
    """Checks queued or running for longer than this: their message or their worker was lost."""
    return conn.execute(
        "SELECT * FROM merge_checks WHERE state IN ('queued', 'running')"
        " AND COALESCE(started_at, created_at) < now() - make_interval(secs => %s) ORDER BY created_at",
        (older_than_seconds,)).fetchall()
