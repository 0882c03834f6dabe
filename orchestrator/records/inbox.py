"""The `agent_messages` table: each agent's inbox.

Reads never lose a message: a read returns the oldest unread messages (up to a limit) and marks exactly those as
read, in the same statement; what was not returned stays unread.
"""

from __future__ import annotations

from typing import Any

import psycopg

from shared.ids import new_id

PAGE_MAX = 200


def deliver(conn: psycopg.Connection, team_id: str, from_agent: str | None, to_agent: str,
            content: str, *, wants_reply: bool = False) -> dict[str, Any]:
    return conn.execute(
        "INSERT INTO agent_messages (id, team_id, from_agent, to_agent, content, wants_reply)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
        (new_id("amsg"), team_id, from_agent, to_agent, content, wants_reply),
    ).fetchone()


def take_for_run(conn: psycopg.Connection, agent_id: str, run_id: str,
                 limit: int = PAGE_MAX) -> tuple[list[dict[str, Any]], list[str]]:
    """The messages for this run's prompt: the unread ones (now marked read and delivered to the run) and any the
    run was given before (a resumed attempt sees them again), oldest first; and the ids delivered just now."""
    fresh = conn.execute(
        """
        WITH picked AS (
            SELECT id FROM agent_messages WHERE to_agent = %s AND read_at IS NULL
            ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
        UPDATE agent_messages m SET read_at = now(), delivered_run_id = %s FROM picked WHERE m.id = picked.id
        RETURNING m.id
        """,
        (agent_id, limit, run_id),
    ).fetchall()
    rows = conn.execute("SELECT * FROM agent_messages WHERE delivered_run_id = %s ORDER BY id", (run_id,)).fetchall()
    return rows, sorted(r["id"] for r in fresh)


def take_unread(conn: psycopg.Connection, agent_id: str, limit: int) -> list[dict[str, Any]]:
    """The oldest unread messages, marked read — only those returned — in id order."""
    rows = conn.execute(
        """
        WITH picked AS (
            SELECT id FROM agent_messages WHERE to_agent = %s AND read_at IS NULL
            ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
        UPDATE agent_messages m SET read_at = now() FROM picked WHERE m.id = picked.id
        RETURNING m.*
        """,
        (agent_id, max(1, min(limit, PAGE_MAX))),
    ).fetchall()
    return sorted(rows, key=lambda r: r["id"])


def unread_count(conn: psycopg.Connection, agent_id: str) -> int:
    return conn.execute("SELECT count(*) AS n FROM agent_messages WHERE to_agent = %s AND read_at IS NULL",
                        (agent_id,)).fetchone()["n"]
