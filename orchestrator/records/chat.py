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
           run_id: str | None = None, final: bool = True) -> dict[str, Any]:
    """A message with the next number of the team's chat (taken under the team row's lock: the order is the
    order of the writes, whichever process makes them)."""
    return conn.execute(
        """
        WITH numbered AS (UPDATE teams SET chat_seq = chat_seq + 1 WHERE id = %(team)s RETURNING chat_seq)
        INSERT INTO chat_messages (id, team_id, seq, kind, role, agent_id, run_id, content, final)
        SELECT %(id)s, %(team)s, numbered.chat_seq, %(kind)s, %(role)s, %(agent)s, %(run)s, %(content)s, %(final)s
        FROM numbered
        RETURNING *
        """,
        {"id": new_id("msg"), "team": team_id, "kind": kind, "role": ROLE_OF_KIND[kind], "agent": agent_id,
         "run": run_id, "content": content[:MAX_CHARS], "final": final},
    ).fetchone()


def page(conn: psycopg.Connection, team_id: str, *, before: str | None,
         limit: int) -> tuple[list[dict[str, Any]], bool]:
    """The newest `limit` messages written before message `before`, oldest first, and whether there are more."""
    limit = max(1, min(limit, PAGE_MAX))
    rows = conn.execute(
        "SELECT * FROM chat_messages WHERE team_id = %(team)s AND (%(before)s::text IS NULL"
        " OR seq < (SELECT seq FROM chat_messages WHERE id = %(before)s AND team_id = %(team)s))"
        " ORDER BY seq DESC LIMIT %(limit)s",
        {"team": team_id, "before": before, "limit": limit + 1},
    ).fetchall()
    return list(reversed(rows[:limit])), len(rows) > limit


def streaming_answer_of(conn: psycopg.Connection, run_id: str) -> dict[str, Any] | None:
    """The run's answer while it is still being written (locked), if it has one."""
    return conn.execute("SELECT * FROM chat_messages WHERE run_id = %s AND NOT final ORDER BY seq LIMIT 1"
                        " FOR NO KEY UPDATE", (run_id,)).fetchone()


def rewrite(conn: psycopg.Connection, message_id: str, content: str, *, final: bool) -> dict[str, Any]:
    return conn.execute("UPDATE chat_messages SET content = %s, final = %s WHERE id = %s RETURNING *",
                        (content[:MAX_CHARS], final, message_id)).fetchone()
