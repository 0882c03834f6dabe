"""The event log: append/read, cursors, append-only enforcement."""

from __future__ import annotations

import psycopg
import pytest

from shared import db, events
from shared.events import NewEvent


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


def test_payloads_may_carry_database_values(team):
    from datetime import UTC, datetime
    from decimal import Decimal

    when = datetime(2026, 11, 24, tzinfo=UTC)
    events.emit([NewEvent("test.values", team["id"], {"budget": Decimal("0.5000"), "at": when})])
    with db.transaction() as conn:
        (event,) = events.read(conn, team["id"])
    assert event["payload"] == {"budget": 0.5, "at": when.isoformat()}
