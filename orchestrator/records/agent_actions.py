"""The `agent_actions` table: what each run did through the agent API, and the first answer to each keyed call.

A call is claimed before it is performed (`claim`) and completed after (`complete`), in the caller's
transaction: a concurrent repeat of a keyed call waits on the unique index until the first commits (then it
finds the row) or rolls back (then it claims the key itself). Nothing else writes or reads this table.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Json


def claim(conn: psycopg.Connection, run_id: str, key: str | None, action: str,
          fingerprint: str) -> int | None:
    """A new row for this call, or None when the run already has one with this key (read it with `keyed`)."""
    row = conn.execute(
        """
        INSERT INTO agent_actions (run_id, attempt, idempotency_key, action, fingerprint)
        SELECT id, attempt, %s, %s, %s FROM runs WHERE id = %s
        ON CONFLICT (run_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id
        """,
        (key, action, fingerprint, run_id),
    ).fetchone()
    return row["id"] if row else None


def keyed(conn: psycopg.Connection, run_id: str, key: str) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM agent_actions WHERE run_id = %s AND idempotency_key = %s",
                        (run_id, key)).fetchone()


def complete(conn: psycopg.Connection, action_id: int, *, status: int, response: Any, summary: str) -> None:
    conn.execute("UPDATE agent_actions SET status = %s, response = %s, summary = %s WHERE id = %s",
                 (status, Json(response), summary, action_id))


def of_run(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]]:
    """The run's completed actions, oldest first."""
    return conn.execute(
        "SELECT id, attempt, action, summary, created_at FROM agent_actions"
        " WHERE run_id = %s AND status IS NOT NULL ORDER BY id",
        (run_id,),
    ).fetchall()
