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
            content: str) -> dict[str, Any]:
    return conn.execute(
        "INSERT INTO agent_messages (id, team_id, from_agent, to_agent, content) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING *",
        (new_id("amsg"), team_id, from_agent, to_agent, content),
    ).fetchone()


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
