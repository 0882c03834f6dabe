"""The `rounds` table: delegated work is grouped in rounds; a round is open, waking its lead, closed or
cancelled."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import Outbox
from shared.ids import new_id


def open_round(conn: psycopg.Connection, team_id: str, outbox: Outbox) -> str:
    """The team's open round (locked), created when there is none."""
    for _ in range(3):
        row = conn.execute("SELECT id FROM rounds WHERE team_id = %s AND state = 'open' FOR NO KEY UPDATE",
                           (team_id,)).fetchone()
        if row is not None:
            return row["id"]
        created = conn.execute(
            "INSERT INTO rounds (id, team_id) VALUES (%s, %s) ON CONFLICT (team_id) WHERE state = 'open' DO NOTHING"
            " RETURNING id",
            (new_id("round"), team_id),
        ).fetchone()
        if created is not None:
            outbox.add("round.opened", team_id, {"round_id": created["id"]})
            return created["id"]
    raise RuntimeError(f"could not open a round for team {team_id}")


def get(conn: psycopg.Connection, round_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM rounds WHERE id = %s" + (" FOR NO KEY UPDATE" if lock else ""),
                        (round_id,)).fetchone()


def state_of(conn: psycopg.Connection, round_id: str) -> str:
    return conn.execute("SELECT state FROM rounds WHERE id = %s", (round_id,)).fetchone()["state"]


def unfinished_of_team(conn: psycopg.Connection, team_id: str) -> list[str]:
    """Open and waking rounds, locked."""
    rows = conn.execute(
        "SELECT id FROM rounds WHERE team_id = %s AND state IN ('open', 'waking') ORDER BY id FOR NO KEY UPDATE",
        (team_id,),
    ).fetchall()
    return [r["id"] for r in rows]


def mark_waking(conn: psycopg.Connection, round_id: str) -> None:
    conn.execute("UPDATE rounds SET state = 'waking' WHERE id = %s", (round_id,))


def set_wake_run(conn: psycopg.Connection, round_id: str, run_id: str) -> None:
    conn.execute("UPDATE rounds SET wake_run_id = %s WHERE id = %s", (run_id, round_id))


def end(conn: psycopg.Connection, round_id: str, team_id: str, state: str, outbox: Outbox, *,
        reason: str, run_id: str | None = None) -> None:
    conn.execute("UPDATE rounds SET state = %s, closed_at = now() WHERE id = %s", (state, round_id))
    kind = "round.closed" if state == "closed" else "round.cancelled"
    outbox.add(kind, team_id, {"round_id": round_id, "reason": reason}, run_id=run_id)
