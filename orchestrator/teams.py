"""Teams: create (with a lead, or from a blueprint), rename, stop, archive, list and show with members."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator import agents, messages, rounds, runs, tasks, workspace
from orchestrator.agents import AgentSpec
from orchestrator.common import USER, Actor, Conflict, Forbidden, Invalid, NotFound, Outbox, handled_by_caller
from shared.ids import is_id, new_id

DEFAULT_LEAD = AgentSpec(name="Lead", role_id="engineering/tech-lead", is_lead=True)
EDITABLE = ("name", "description", "budget_usd")


def get(conn: psycopg.Connection, team_id: str) -> dict[str, Any]:
    if not is_id(team_id, "team"):
        raise NotFound(f"team {team_id!r} not found (not a valid team id)")
    row = conn.execute("SELECT * FROM teams WHERE id = %s", (team_id,)).fetchone()
    if row is None:
        raise NotFound(f"team {team_id} not found")
    return row


def require_active(team: dict[str, Any]) -> None:
    if team["status"] != "active":
        raise Conflict(f"team {team['name']} ({team['id']}) is archived")


def view(conn: psycopg.Connection, team_id: str, *, include_archived_members: bool = False) -> dict[str, Any]:
    team = get(conn, team_id)
    members = agents.list_for_team(conn, team_id, include_archived=include_archived_members)
    return {**team, "members": members, **_progress(conn, [team_id])[team_id]}


def list_teams(conn: psycopg.Connection, *, include_archived: bool = False) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT * FROM teams" + ("" if include_archived else " WHERE status = 'active'")
        + " ORDER BY created_at DESC, id DESC"
    ).fetchall()
    ids = [r["id"] for r in rows]
    members = agents.list_for_teams(conn, ids)
    progress = _progress(conn, ids)
    return [{**row, "members": members.get(row["id"], []), **progress[row["id"]]} for row in rows]


def _progress(conn: psycopg.Connection, team_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Task counts by stage and money spent, per team, in two queries whatever the number of teams."""
    progress: dict[str, dict[str, Any]] = {i: {"task_counts": {}, "cost_usd": 0.0} for i in team_ids}
    for row in conn.execute(
        "SELECT team_id, stage, count(*) AS n FROM tasks WHERE team_id = ANY(%s) GROUP BY team_id, stage",
        (team_ids,),
    ):
        progress[row["team_id"]]["task_counts"][row["stage"]] = row["n"]
    for row in conn.execute(
        "SELECT team_id, sum(cost_usd)::float8 AS cost FROM runs WHERE team_id = ANY(%s) AND cost_usd IS NOT NULL"
        " GROUP BY team_id",
        (team_ids,),
    ):
        progress[row["team_id"]]["cost_usd"] = row["cost"]
    return progress


def create(conn: psycopg.Connection, *, name: str, description: str = "", members: list[AgentSpec] | None = None,
           blueprint_id: str | None = None, budget_usd: float | None = None) -> dict[str, Any]:
    """A team and its agents in one transaction. Exactly one of `members` must be the lead (default: a lead)."""
    specs = list(members) if members else [DEFAULT_LEAD]
    leads = [s for s in specs if s.is_lead]
    if len(leads) != 1:
        raise Invalid(f"a team needs exactly one lead (got {len(leads)})")
    team_id = new_id("team")
    team = conn.execute(
        "INSERT INTO teams (id, name, description, blueprint_id, budget_usd) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING *",
        (team_id, name.strip(), description, blueprint_id, budget_usd),
    ).fetchone()
    workspace.ensure_team_workspace(team_id)
    box = Outbox()
    box.add("team.created", team_id, {"name": team["name"], "description": description,
                                      "blueprint_id": blueprint_id})
    for spec in sorted(specs, key=lambda s: not s.is_lead):
        agents.create(conn, team_id, spec, box)
    box.flush(conn)
    return view(conn, team_id)


def update(conn: psycopg.Connection, team_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    team = get(conn, team_id)
    require_active(team)
    changed = {k: v for k, v in changes.items() if k in EDITABLE and team[k] != v}
    if changed:
        assignments = ", ".join(f"{k} = %({k})s" for k in changed)
        team = conn.execute(f"UPDATE teams SET {assignments}, updated_at = now() WHERE id = %(team_id)s RETURNING *",
                            {**changed, "team_id": team_id}).fetchone()
        box = Outbox()
        box.add("team.updated", team_id, {"changes": {k: team[k] for k in changed}})
        box.flush(conn)
    return view(conn, team_id)


def _member_ids(conn: psycopg.Connection, team_id: str) -> list[str]:
    rows = conn.execute("SELECT id FROM agents WHERE team_id = %s AND status <> 'archived' ORDER BY id",
                        (team_id,)).fetchall()
    return [r["id"] for r in rows]


def stop(conn: psycopg.Connection, team_id: str, actor: Actor = USER) -> dict[str, Any]:
    """Cancel all the team's runs; its agents stay stopped (no wake, no queued work) until the user speaks."""
    team = get(conn, team_id)
    require_active(team)
    members = _member_ids(conn, team_id)
    # Runs are cancelled first (lock order); their end hooks must neither restart agents nor wake the lead.
    with handled_by_caller(team_id, *members):
        cancelled = runs.cancel_team(conn, team_id)
    box = Outbox()
    for agent_id in members:
        agents.set_status(conn, agent_id, "stopped", box)
    rounds.cancel_open(conn, team_id, "the team was stopped", box)
    box.add("team.stopped", team_id, {"cancelled_runs": cancelled, **actor.stamp()})
    box.flush(conn)
    return {"team": view(conn, team_id), "cancelled_runs": cancelled}


def archive(conn: psycopg.Connection, team_id: str, actor: Actor = USER) -> dict[str, Any]:
    """Archive for good: cancel runs and open tasks, archive every agent. Nothing brings them back."""
    team = get(conn, team_id)
    if team["status"] == "archived":
        return {"team": view(conn, team_id), "cancelled_runs": [], "cancelled_tasks": []}
    members = _member_ids(conn, team_id)
    open_tasks = tasks.open_task_ids(conn, team_id=team_id)
    with handled_by_caller(team_id, *members, *open_tasks):
        cancelled = runs.cancel_team(conn, team_id)
    box = Outbox()
    for agent_id in members:
        agents.set_status(conn, agent_id, "archived", box)
    cancelled_tasks = tasks.cancel_many(conn, open_tasks, actor, "the team was archived", box)
    rounds.cancel_open(conn, team_id, "the team was archived", box)
    conn.execute("UPDATE teams SET status = 'archived', updated_at = now() WHERE id = %s", (team_id,))
    box.add("team.archived", team_id, {"cancelled_runs": cancelled, "cancelled_tasks": cancelled_tasks,
                                       **actor.stamp()})
    box.flush(conn)
    return {"team": view(conn, team_id, include_archived_members=True), "cancelled_runs": cancelled,
            "cancelled_tasks": cancelled_tasks}


def goal_done(conn: psycopg.Connection, actor: Actor, summary: str) -> dict[str, Any]:
    """The lead declares the user's goal met. Tasks still open are listed, never force-completed."""
    if not actor.is_lead:
        raise Forbidden("only the team lead can mark the goal done")
    assert actor.team_id is not None
    open_tasks = conn.execute(
        "SELECT t.id, t.title, t.stage, a.name AS assignee FROM tasks t LEFT JOIN agents a ON a.id = t.assigned_to"
        " WHERE t.team_id = %s AND t.stage IN ('backlog', 'planning', 'in_progress') ORDER BY t.created_at, t.id",
        (actor.team_id,),
    ).fetchall()
    box = Outbox()
    message = messages.add_chat(conn, actor.team_id, "system", f"✅ Goal marked done by {actor.name}: {summary}",
                                box, agent_id=actor.agent_id, run_id=actor.run_id)
    box.add("team.goal_done", actor.team_id, {"summary": summary, "open_tasks": [dict(t) for t in open_tasks],
                                              **actor.stamp()}, agent_id=actor.agent_id, run_id=actor.run_id)
    box.flush(conn)
    note = (f"{len(open_tasks)} task(s) are still open and were left as they are" if open_tasks
            else "no task is left open")
    return {"summary": summary, "message_id": message["id"], "open_tasks": open_tasks, "note": note}
