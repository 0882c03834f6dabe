"""shared.run_queue writes dramatiq-pg's ENQUEUE itself (so the web never loads psycopg2): the rows and the
notifications it makes must be the ones dramatiq-pg's own broker makes, or the workers would not see its runs the
same way. Real PostgreSQL; dramatiq-pg's broker is the reference."""

from __future__ import annotations

import json

import psycopg
import pytest
from dramatiq import Message
from dramatiq_pg import PostgresBroker

from shared import db
from shared.run_queue import _send
from workers.broker import broker_connection_params

ACTOR = "execute_run"


def _without_ids(message: dict) -> dict:
    return {key: value for key, value in message.items() if key not in ("message_id", "message_timestamp")}


def _enqueued(conn: psycopg.Connection, message_id: str) -> dict:
    row = conn.execute("SELECT queue_name, state, message FROM dramatiq.queue WHERE message_id = %s",
                       (message_id,)).fetchone()
    assert row is not None, f"no row for message {message_id}"
    return row


def _notification(listener: psycopg.Connection, channel: str) -> dict:
    for notify in listener.notifies(timeout=30, stop_after=1):
        assert notify.channel == channel
        return json.loads(notify.payload)
    raise AssertionError(f"no notification on {channel}")


@pytest.mark.parametrize("argument_size", [26, 9000], ids=["whole message notified", "only the id notified"])
def test_our_enqueue_writes_the_row_and_notification_dramatiq_pg_writes(database_url: str,
                                                                          argument_size: int) -> None:
    argument = "r" * argument_size
    theirs_queue, ours_queue = "contract_theirs", "contract_ours"
    broker = PostgresBroker(url=broker_connection_params(database_url, maxconn=1), results=False, middleware=[])
    with db.connect(autocommit=True) as listener, db.connect(autocommit=True) as conn:
        listener.execute(f'LISTEN "dramatiq.{theirs_queue}.enqueue"')
        listener.execute(f'LISTEN "dramatiq.{ours_queue}.enqueue"')
        try:
            theirs = Message(queue_name=theirs_queue, actor_name=ACTOR, args=(argument,), kwargs={}, options={})
            broker.enqueue(theirs)
            theirs_notified = _notification(listener, f"dramatiq.{theirs_queue}.enqueue")
        finally:
            broker.close()
        with conn.transaction():
            ours_id = _send(conn, ours_queue, ACTOR, argument)
        ours_notified = _notification(listener, f"dramatiq.{ours_queue}.enqueue")

        theirs_row, ours_row = _enqueued(conn, theirs.message_id), _enqueued(conn, ours_id)
        assert (theirs_row["state"], ours_row["state"]) == ("queued", "queued")
        assert ours_row["queue_name"] == ours_queue
        assert _without_ids(ours_row["message"]) == _without_ids(theirs_row["message"]) | {"queue_name": ours_queue}
        if argument_size < 8000:
            assert _without_ids(ours_notified) == _without_ids(theirs_notified) | {"queue_name": ours_queue}
            assert ours_notified["message_id"] == ours_id
        else:  # too long for a notification: dramatiq-pg's consumer fetches the message by its id
            assert theirs_notified == {"message_id": theirs.message_id}
            assert ours_notified == {"message_id": ours_id}
