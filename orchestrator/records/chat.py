"""The `chat_messages` table: the conversation between the user and the team, each message with its kind."""

from __future__ import annotations

from typing import Any

import psycopg

from shared.ids import new_id

PAGE_MAX = 200
MAX_CHARS = 200_000
# Who speaks for each kind of message (the `role` column predates `kind` and is kept for the API).
ROLE_OF_KIND = {"user": "user", "answer": "assistant", "wake": "system", "notice": "system"}


def insert(conn: psycopg.Connection, team_id: str, kind: str, content: str, *, agent_id: str | None = None,
           run_id: str | None = None) -> dict[str, Any]:
    return conn.execute(
        "INSERT INTO chat_messages (id, team_id, kind, role, agent_id, run_id, content)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (new_id("msg"), team_id, kind, ROLE_OF_KIND[kind], agent_id, run_id, content[:MAX_CHARS]),
    ).fetchone()


def page(conn: psycopg.Connection, team_id: str, *, before: str | None,
         limit: int) -> tuple[list[dict[str, Any]], bool]:
    """The newest `limit` messages older than `before`, oldest first, and whether there are more."""
    limit = max(1, min(limit, PAGE_MAX))
    rows = conn.execute(
        "SELECT * FROM chat_messages WHERE team_id = %s AND (%s::text IS NULL OR id < %s)"
        " ORDER BY id DESC LIMIT %s",
        (team_id, before, before, limit + 1),
    ).fetchall()
    return list(reversed(rows[:limit])), len(rows) > limit
