"""Hand a run to the Dramatiq queue inside the caller's transaction ("the message exists iff the run does").

dramatiq-pg's own `enqueue` uses a pooled connection of its own, outside our transaction; here the same upsert
and NOTIFY run on our connection, so the message appears exactly when the `runs` row commits.

The statement is dramatiq-pg's ENQUEUE written out (tests/test_run_queue.py holds the two to the same rows and
the same notification) rather than imported: dramatiq_pg.broker loads psycopg2 and its own libpq, libssl and
libcrypto, some 6 MB in the web, which otherwise never needs them. An import-linter contract keeps them out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import psycopg
from dramatiq import Message
from psycopg.types.json import Jsonb

from shared.worker_labels import normalized

QUEUE_NAME = "gamma_runs"  # the runs that need no worker labels
ACTOR_NAME = "execute_run"
CHECK_ACTOR_NAME = "verify_merge"  # a merge check (workflows/work_product.py) runs on a worker, like a run
# dramatiq-pg LISTENs on `dramatiq.<queue>.enqueue` and a delay queue is `<queue>.DQ`: PostgreSQL's 63-byte
# identifiers leave 43 characters for a queue name.
MAX_QUEUE_NAME = 43
LABELLED_PREFIX = f"{QUEUE_NAME}@"  # gamma_runs@gpu+licence: the runs that need exactly these labels
# SQL: a dramatiq.queue row (alias q) is on one of Gamma's run queues.
ON_RUN_QUEUES = f"(q.queue_name = '{QUEUE_NAME}' OR starts_with(q.queue_name, '{LABELLED_PREFIX}'))"
# dramatiq-pg's ENQUEUE: queue the message (again, if its id is known) and wake the consumers of its queue; a
# notification carries the whole message, or only its id when that would not fit in one (8,000 bytes).
ENQUEUE = """
    WITH enqueued AS (
        INSERT INTO dramatiq.queue (queue_name, message_id, "state", message)
        VALUES (%(queue)s, %(id)s, 'queued', %(message)s)
        ON CONFLICT (message_id)
            DO UPDATE SET "state" = 'queued', message = EXCLUDED.message, queue_name = EXCLUDED.queue_name
        RETURNING queue_name, message
    )
    SELECT pg_notify('dramatiq.' || queue_name || '.enqueue',
                     CASE WHEN octet_length(message::text) >= 8000
                          THEN jsonb_build_object('message_id', %(id)s::text)::text
                          ELSE message::text
                     END)
    FROM enqueued"""


def queue_for(labels: Iterable[str]) -> str:
    """The queue of runs that need exactly `labels`: `gamma_runs` for none, else `gamma_runs@` and the sorted
    labels joined by `+`. A set too long for a channel name (up to 4 labels of 16 characters) is named by a
    digest instead; `~` is no label character, so the two forms never meet."""
    needed = normalized(labels)
    if not needed:
        return QUEUE_NAME
    name = LABELLED_PREFIX + "+".join(needed)
    if len(name) <= MAX_QUEUE_NAME:
        return name
    return f"{LABELLED_PREFIX}~{hashlib.sha256('+'.join(needed).encode()).hexdigest()[:24]}"


def queues_of_worker(labels: Iterable[str]) -> list[str]:
    """The queues a worker with `labels` consumes: `gamma_runs` and the queue of every non-empty subset of its
    labels (a run needing gpu goes to a gpu+licence worker too). With MAX_LABELS = 4, at most 16 queues."""
    offered = normalized(labels)
    subsets = (combo for size in range(1, len(offered) + 1) for combo in combinations(offered, size))
    return [QUEUE_NAME, *(queue_for(subset) for subset in subsets)]


def send_run(conn: psycopg.Connection, run_id: str, labels: Sequence[str] = ()) -> str:
    """Queue a message asking a worker with `labels` (the run's, see records/runs.py) to execute `run_id`.
    Returns the message id."""
    return _send(conn, queue_for(labels), ACTOR_NAME, run_id)


def send_check(conn: psycopg.Connection, check_id: str) -> str:
    """Queue a message asking a worker to run merge check `check_id`, on a worker with its team's labels (read
    here, as they are now: a pinned team's checks need its host too). Returns the message id."""
    row = conn.execute("SELECT t.worker_labels FROM merge_checks c JOIN teams t ON t.id = c.team_id"
                       " WHERE c.id = %s", (check_id,)).fetchone()
    labels = _first(row) if row is not None else []
    return _send(conn, queue_for(labels), CHECK_ACTOR_NAME, check_id)


def _send(conn: psycopg.Connection, queue_name: str, actor_name: str, argument: str) -> str:
    message = Message(queue_name=queue_name, actor_name=actor_name, args=(argument,), kwargs={}, options={})
    body = json.loads(message.encode())
    conn.execute(ENQUEUE, {"queue": queue_name, "id": message.message_id, "message": Jsonb(body)})
    return message.message_id


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def has_pending_message(run_column: str) -> str:
    """SQL: the run whose id is in `run_column` has a message waiting in a run queue or being consumed."""
    return (f"EXISTS (SELECT 1 FROM dramatiq.queue q WHERE {ON_RUN_QUEUES}"
            f" AND q.state IN ('queued', 'consumed') AND q.message->'args'->>0 = {run_column})")


def purge_finished(conn: psycopg.Connection, older_than_seconds: float) -> int:
    """Delete messages that were acked (or rejected) long ago; the `runs` table keeps what matters."""
    return conn.execute(
        "DELETE FROM dramatiq.queue WHERE state IN ('done', 'rejected')"
        " AND mtime < (now() AT TIME ZONE 'UTC') - make_interval(secs => %s)",
        (older_than_seconds,),
    ).rowcount


def renotify_waiting(conn: psycopg.Connection) -> int:
    """NOTIFY every message waiting in a run queue again. dramatiq-pg puts the messages a stopping worker had
    prefetched back to `queued` without a NOTIFY, so the workers still running would not see them."""
    return len(conn.execute(
        "SELECT pg_notify('dramatiq.' || queue_name || '.enqueue',"
        " jsonb_build_object('message_id', message_id::text)::text)"
        f" FROM dramatiq.queue q WHERE {ON_RUN_QUEUES} AND state = 'queued'").fetchall())
