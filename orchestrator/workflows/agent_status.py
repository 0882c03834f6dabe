"""An agent's status as work comes and goes: queued before work is given, running/queued/idle/error after a run,
stopped until the user gives work again, archived for good."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import Conflict, Outbox
from orchestrator.records import agents, runs


def mark_queued(conn: psycopg.Connection, agent: dict[str, Any], outbox: Outbox, *, revive: bool) -> None:
    """Before queueing work for an agent. A stopped agent only takes work the user gave it (`revive`)."""
    status = agent["status"]
    if status == "archived":
        raise Conflict(f"agent {agent['name']} is archived")
    if status == "stopped" and not revive:
        raise Conflict(f"agent {agent['name']} was stopped by the user and takes no new work until the user "
                       "resumes it; assign the task to someone else or tell the user")
    if status in ("idle", "error", "stopped"):
        agents.set_status(conn, agent["id"], "queued", outbox)


def sync(conn: psycopg.Connection, agent_id: str, outbox: Outbox, *, failed: bool = False) -> None:
    """After a run ended: running/queued from its runs, else idle (error if the run failed); stopped stays."""
    agent = agents.get(conn, agent_id, lock=True)
    if agent["status"] in ("archived", "stopped"):
        return
    running, queued = runs.activity_of_agent(conn, agent_id)
    if running:
        status = "running"
    elif queued:
        status = "queued"
    else:
        status = "error" if failed else "idle"
    agents.set_status(conn, agent_id, status, outbox)


def revive_team(conn: psycopg.Connection, team_id: str, outbox: Outbox) -> None:
    """The user spoke to the team again: agents stopped earlier may work again."""
    for agent_id in agents.stopped_ids(conn, team_id):
        agents.set_status(conn, agent_id, "idle", outbox)
