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
    """A message with the next number of the team's chat (taken under the team row's lock: the order is the
    order of the writes, whichever process makes them)."""
    return conn.execute(
        """
        WITH numbered AS (UPDATE teams SET chat_seq = chat_seq + 1 WHERE id = %(team)s RETURNING chat_seq)
        INSERT INTO chat_messages (id, team_id, seq, kind, role, agent_id, run_id, content)
        SELECT %(id)s, %(team)s, numbered.chat_seq, %(kind)s, %(role)s, %(agent)s, %(run)s, %(content)s FROM numbered
        RETURNING *
        """,
        {"id": new_id("msg"), "team": team_id, "kind": kind, "role": ROLE_OF_KIND[kind], "agent": agent_id,
         "run": run_id, "content": content[:MAX_CHARS]},
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
