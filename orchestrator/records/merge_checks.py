"""The `merge_checks` table: the team's check command run on a task's merged result before the main line moves."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg

from orchestrator.domain import NotFound
from orchestrator.records.runs import hash_token
from shared import run_queue
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


def claim(conn: psycopg.Connection, check_id: str, worker: str) -> tuple[dict[str, Any] | None, str | None]:
    """queued → running, once: a second delivery of the same message finds it taken (None, None). Returns the
    check and a token valid while it runs (a worker on another host fetches and reports with it)."""
    token = secrets.token_urlsafe(32)
    check = conn.execute(
        "UPDATE merge_checks SET state = 'running', worker = %s, started_at = now(), token_hash = %s WHERE id = %s"
        " AND state = 'queued' RETURNING *", (worker, hash_token(token), check_id)).fetchone()
    return (check, token) if check is not None else (None, None)


def authenticate(conn: psycopg.Connection, token: str) -> dict[str, Any] | None:
    """The running check a token belongs to; None if unknown or no longer running."""
    if not token:
        return None
    return conn.execute("SELECT * FROM merge_checks WHERE token_hash = %s AND state = 'running'",
                        (hash_token(token),)).fetchone()


def finish(conn: psycopg.Connection, check_id: str, state: str, exit_code: int | None,
           output: str) -> dict[str, Any] | None:
    return conn.execute(
        "UPDATE merge_checks SET state = %s, exit_code = %s, output = %s, finished_at = now() WHERE id = %s"
        " AND state IN ('queued', 'running') RETURNING *",
        (state, exit_code, output[-OUTPUT_LIMIT:], check_id)).fetchone()


def of_task(conn: psycopg.Connection, task_id: str) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM merge_checks WHERE task_id = %s ORDER BY created_at, id",
                        (task_id,)).fetchall()


def requeue_orphaned(conn: psycopg.Connection) -> list[str]:
    """Checks whose worker stopped or vanished while running them go back to the queue; returns them with the
    queued checks whose message was lost, which the caller sends again."""
    taken = conn.execute(
        "UPDATE merge_checks c SET state = 'queued', worker = NULL, started_at = NULL WHERE c.state = 'running'"
        " AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = c.worker AND w.stopped_at IS NULL) RETURNING id"
    ).fetchall()
    lost = conn.execute(
        f"SELECT id FROM merge_checks c WHERE c.state = 'queued' AND NOT {run_queue.has_pending_message('c.id')}"
    ).fetchall()
    return sorted({r["id"] for r in taken + lost})
