"""Rows for tests, written with plain SQL (the orchestrator has its own tests)."""

from __future__ import annotations

from typing import Any

from shared import db
from shared.ids import new_id


def create_team(name: str = "Test team") -> dict[str, Any]:
    with db.transaction() as conn:
        return conn.execute(
            "INSERT INTO teams (id, name) VALUES (%s, %s) RETURNING *", (new_id("team"), name)
        ).fetchone()


def create_agent(team_id: str, name: str = "Lead", *, is_lead: bool = True, backend: str = "demo",
                 role_id: str = "engineering/software-architect") -> dict[str, Any]:
    with db.transaction() as conn:
        return conn.execute(
            "INSERT INTO agents (id, team_id, name, role_id, is_lead, backend) VALUES (%s, %s, %s, %s, %s, %s)"
            " RETURNING *",
            (new_id("agent"), team_id, name, role_id, is_lead, backend),
        ).fetchone()
