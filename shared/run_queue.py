"""Hand a run to the Dramatiq queue inside the caller's transaction ("the message exists iff the run does").

dramatiq-pg's own `enqueue` uses a pooled connection of its own, outside our transaction; here the same upsert
and NOTIFY run on our connection, so the message appears exactly when the `runs` row commits.
"""

from __future__ import annotations

import json

import psycopg
from dramatiq import Message
from dramatiq_pg.broker import QUERIES
from psycopg.types.json import Jsonb

QUEUE_NAME = "gamma_runs"  # ≤ 43 characters: dramatiq-pg builds channel names from it
ACTOR_NAME = "execute_run"
CHECK_ACTOR_NAME = "verify_merge"  # a merge check (workflows/work_product.py) runs on a worker, like a run


def send_run(conn: psycopg.Connection, run_id: str) -> str:
    """Queue a message asking a worker to execute `run_id`. Returns the message id."""
    return _send(conn, ACTOR_NAME, run_id)


def send_check(conn: psycopg.Connection, check_id: str) -> str:
    """Queue a message asking a worker to run merge check `check_id`. Returns the message id."""
    return _send(conn, CHECK_ACTOR_NAME, check_id)


def _send(conn: psycopg.Connection, actor_name: str, argument: str) -> str:
    message = Message(queue_name=QUEUE_NAME, actor_name=actor_name, args=(argument,), kwargs={}, options={})
    body = json.loads(message.encode())
    # Client-side binding: dramatiq-pg's SQL leaves one parameter's type to be inferred, as psycopg2 does.
    with psycopg.ClientCursor(conn) as cur:
        cur.execute(QUERIES.ENQUEUE, (QUEUE_NAME, message.message_id, Jsonb(body), message.message_id))
    return message.message_id


def has_pending_message(run_column: str) -> str:
    """SQL: the run whose id is in `run_column` has a message waiting in the queue or being consumed."""
    return (f"EXISTS (SELECT 1 FROM dramatiq.queue q WHERE q.queue_name = '{QUEUE_NAME}'"
            f" AND q.state IN ('queued', 'consumed') AND q.message->'args'->>0 = {run_column})")


def purge_finished(conn: psycopg.Connection, older_than_seconds: float) -> int:
    """Delete messages that were acked (or rejected) long ago; the `runs` table keeps what matters."""
    return conn.execute(
        "DELETE FROM dramatiq.queue WHERE state IN ('done', 'rejected')"
        " AND mtime < (now() AT TIME ZONE 'UTC') - make_interval(secs => %s)",
        (older_than_seconds,),
    ).rowcount


def renotify_waiting(conn: psycopg.Connection) -> int:
    """NOTIFY every message waiting in the queue again. dramatiq-pg puts the messages a stopping worker had
    prefetched back to `queued` without a NOTIFY, so the workers still running would not see them."""
    return len(conn.execute(
        "SELECT pg_notify('dramatiq.' || queue_name || '.enqueue',"
        " jsonb_build_object('message_id', message_id::text)::text)"
        " FROM dramatiq.queue WHERE queue_name = %s AND state = 'queued'", (QUEUE_NAME,)).fetchall())
