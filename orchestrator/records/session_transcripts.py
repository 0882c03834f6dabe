"""The `session_transcripts` table: the last stored transcript of each agent's CLI session (compressed).

Written at the end of each attempt by the worker that ran it, read before a resume by whichever worker runs the
agent next (`workers/session_transfer.py`). A store is fenced like every write of an attempt: it happens only
while the run is running the attempt that stores, so a superseded attempt cannot put back an older copy.
"""

from __future__ import annotations

from typing import Any

import psycopg

_FINGERPRINT = "agent_id, session_id, backend, name, size, sha256, host, run_id, attempt, updated_at"


def fingerprint(conn: psycopg.Connection, agent_id: str, session_id: str) -> dict[str, Any] | None:
    """What is stored for the session, without its content (size, sha256, name, who stored it), or None."""
    return conn.execute(f"SELECT {_FINGERPRINT} FROM session_transcripts WHERE agent_id = %s AND session_id = %s",
                        (agent_id, session_id)).fetchone()


def get(conn: psycopg.Connection, agent_id: str, session_id: str) -> dict[str, Any] | None:
    """The stored row with its (compressed) content, or None."""
    return conn.execute(f"SELECT {_FINGERPRINT}, content FROM session_transcripts"
                        " WHERE agent_id = %s AND session_id = %s", (agent_id, session_id)).fetchone()


def store(conn: psycopg.Connection, *, run_id: str, attempt: int, agent_id: str, session_id: str, backend: str,
          name: str, content: bytes, size: int, sha256: str, host: str) -> bool:
    """Insert or replace the session's transcript, and drop the agent's other sessions (a session the agent left
    is not resumed again). False (nothing written) when the run is not running `attempt` (any more)."""
    stored = conn.execute(
        """
        INSERT INTO session_transcripts
            (agent_id, session_id, backend, name, content, size, sha256, host, run_id, attempt, updated_at)
        SELECT %(agent_id)s, %(session_id)s, %(backend)s, %(name)s, %(content)s, %(size)s, %(sha256)s, %(host)s,
               r.id, r.attempt, now()
        FROM runs r WHERE r.id = %(run_id)s AND r.attempt = %(attempt)s AND r.state = 'running'
          AND r.agent_id = %(agent_id)s
        ON CONFLICT (agent_id, session_id) DO UPDATE SET
            backend = EXCLUDED.backend, name = EXCLUDED.name, content = EXCLUDED.content, size = EXCLUDED.size,
            sha256 = EXCLUDED.sha256, host = EXCLUDED.host, run_id = EXCLUDED.run_id, attempt = EXCLUDED.attempt,
            updated_at = EXCLUDED.updated_at
        RETURNING agent_id
        """,
        {"agent_id": agent_id, "session_id": session_id, "backend": backend, "name": name, "content": content,
         "size": size, "sha256": sha256, "host": host, "run_id": run_id, "attempt": attempt},
    ).fetchone()
    if stored is None:
        return False
    conn.execute("DELETE FROM session_transcripts WHERE agent_id = %s AND session_id <> %s", (agent_id, session_id))
    return True

