"""The event log: append/read, cursors, append-only enforcement."""

from __future__ import annotations

import psycopg
import pytest

from shared import db, events
from shared.events import NewEvent
from shared.safe_text import decode_output
from tests.support import polling


def test_append_assigns_consecutive_cursors_and_read_returns_them(team):
    first = events.emit([NewEvent("test.one", team["id"], {"n": 1}), NewEvent("test.two", team["id"], {"n": 2})])
    second = events.emit([NewEvent("test.three", team["id"], {"n": 3})])
    assert [e["cursor"] for e in first + second] == [1, 2, 3]
    with db.transaction() as conn:
        got = events.read(conn, team["id"], after=1)
        assert [e["kind"] for e in got] == ["test.two", "test.three"]
        assert got[0]["payload"] == {"n": 2}
        assert set(got[0]) == {"cursor", "id", "kind", "team_id", "agent_id", "task_id", "run_id",
                               "payload", "created_at"}
        assert events.head(conn, team["id"]) == 3


def test_database_refuses_update_delete_and_truncate(team, conn):
    events.emit([NewEvent("test.fixed", team["id"])])
    for statement in (
        "UPDATE events SET kind = 'test.changed' WHERE team_id = %s",
        "DELETE FROM events WHERE team_id = %s",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement, (team["id"],))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("TRUNCATE events CASCADE")
    assert conn.execute("SELECT count(*) AS n FROM events WHERE team_id = %s", (team["id"],)).fetchone()["n"] == 1


def test_rolled_back_batch_leaves_no_gap(team):
    with pytest.raises(RuntimeError), db.transaction() as conn:
        events.append(conn, [NewEvent("test.lost", team["id"])])
        raise RuntimeError("rollback")
    kept = events.emit([NewEvent("test.kept", team["id"])])
    assert kept[0]["cursor"] == 1


def test_batch_writer_flushes_in_order(team):
    writer = events.BatchWriter(interval=0.01)
    for i in range(1200):
        writer.add(NewEvent("test.line", team["id"], {"i": i}))
    writer.close()
    with db.transaction() as conn:
        got = events.read(conn, team["id"], limit=5000)
    assert [e["payload"]["i"] for e in got] == list(range(1200))
    assert [e["cursor"] for e in got] == list(range(1, 1201))


def test_an_idle_writer_writes_an_event_at_once_not_after_its_batch_window(team):
    """After a quiet spell nothing waits for a batch to fill: with a window of an hour, the event is written."""
    writer = events.BatchWriter(interval=3600)
    try:
        writer.add(NewEvent("test.alone", team["id"]))

        def stored() -> list[dict]:
            with db.transaction() as conn:
                return events.read(conn, team["id"])
        # a bound on waiting, far below the window it must not wait for
        (event,) = polling.wait_for(lambda: stored() or None, timeout=60, interval=0.01, what="the event written")
        assert event["kind"] == "test.alone"
    finally:
        writer.close()


def test_payloads_may_carry_database_values(team):
    from datetime import UTC, datetime
    from decimal import Decimal

    when = datetime(2026, 11, 24, tzinfo=UTC)
    events.emit([NewEvent("test.values", team["id"], {"budget": Decimal("0.5000"), "at": when})])
    with db.transaction() as conn:
        (event,) = events.read(conn, team["id"])
    assert event["payload"] == {"budget": 0.5, "at": when.isoformat()}


def test_nul_and_undecodable_bytes_are_stored_escaped_in_events(team):
    text = decode_output(b"before\x00after \xff\xfe caf\xc3\xa9")
    events.emit([NewEvent("test.binary", team["id"], {"text": text, "nested": [{"k\x00": text}]})])
    with db.transaction() as conn:
        (event,) = events.read(conn, team["id"])
    expected = "before\\u0000after \\xff\\xfe café"
    assert event["payload"] == {"text": expected, "nested": [{"k\\u0000": expected}]}


def test_a_refused_event_is_stored_as_a_warning_and_the_others_are_kept(team):
    """A permanent error on one batch (here a kind the CHECK constraint refuses) loses nothing else."""
    writer = events.BatchWriter(interval=0.2)
    writer.add(NewEvent("test.before", team["id"], {"i": 1}))
    writer.add(NewEvent("Not A Kind!", team["id"], {"i": 2}))
    writer.add(NewEvent("test.after", team["id"], {"i": 3}))
    writer.flush()
    writer.add(NewEvent("test.later", team["id"], {"i": 4}))  # the writer is still alive
    writer.close()
    with db.transaction() as conn:
        got = events.read(conn, team["id"])
    assert [e["kind"] for e in got] == ["test.before", "run.warning", "test.after", "test.later"]
    warning = got[1]["payload"]
    assert warning["original_kind"] == "Not A Kind!" and "'i': 2" in warning["payload_preview"]
    assert "could not be stored" in warning["message"] and warning["error"]
    assert writer.dropped == 0
