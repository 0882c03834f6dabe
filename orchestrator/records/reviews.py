"""The `task_reviews` table: each step of a task's review, in order."""

from __future__ import annotations

from typing import Any

import psycopg

from shared.ids import new_id


def add(conn: psycopg.Connection, task_id: str, step: str, *, by_agent: str | None, by_name: str,
        run_id: str | None, feedback: str | None = None) -> dict[str, Any]:
    return conn.execute(
        "INSERT INTO task_reviews (id, task_id, step, by_agent, by_name, run_id, feedback)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (new_id("rev"), task_id, step, by_agent, by_name[:200], run_id, feedback),
    ).fetchone()


def of_task(conn: psycopg.Connection, task_id: str) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM task_reviews WHERE task_id = %s ORDER BY created_at, id",
                        (task_id,)).fetchall()
