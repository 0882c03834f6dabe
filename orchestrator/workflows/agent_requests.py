"""What an agent asks of Gamma while it runs, beyond delegation and messages: who it is (from its run's token),
its team, its context, and status reports (a blocker also goes to the lead's inbox)."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import Actor, DomainError, Forbidden, Outbox, preview
from orchestrator.records import agents, inbox, runs, tasks, teams, workspaces
from orchestrator.workflows import conversation, delegation
from orchestrator.workflows.views import find_role


class Unauthenticated(DomainError):
    """No token, a malformed one, or one that belongs to no running run."""


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header (Unauthenticated when there is none)."""
    header = authorization.strip()
    if not header:
        raise Unauthenticated("missing agent token: send 'Authorization: Bearer $GAMMA_AGENT_TOKEN' (every agent "
                              "run has GAMMA_AGENT_TOKEN in its environment)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("malformed Authorization header: expected 'Bearer <GAMMA_AGENT_TOKEN>'")
    return token.strip()


def caller(conn: psycopg.Connection, authorization: str) -> Actor:
    """The agent behind an `Authorization: Bearer <token>` header: the run's agent, in an active team."""
    found = runs.authenticate(conn, bearer_token(authorization))
    if found is None:
        raise Unauthenticated("invalid or expired agent token: it belongs to no running run (a token is valid "
                              "only while its run is running)")
    if found["agent_status"] == "archived":
        raise Forbidden(f"agent {found['agent_name']} is archived")
    team = teams.get(conn, found["team_id"])
    if team["status"] != "active":
        raise Forbidden(f"team {team['name']} is archived")
    return Actor(team_id=found["team_id"], agent_id=found["agent_id"], name=found["agent_name"],
                 is_lead=found["is_lead"], run_id=found["run_id"], task_id=found["task_id"])


def whoami(conn: psycopg.Connection, actor: Actor) -> dict[str, Any]:
    team = teams.get(conn, actor.team_id or "")
    task = delegation.view(conn, actor.task_id, actor) if actor.task_id else None
    return {"agent": {"id": actor.agent_id, "name": actor.name, "is_lead": actor.is_lead},
            "team": {"id": team["id"], "name": team["name"]}, "run_id": actor.run_id, "task": task,
            "workspace": workspaces.paths(team["id"], actor.agent_id)}


def tasks_for(conn: psycopg.Connection, actor: Actor, *, stages: list[str] | None, mine: bool,
              assignee: str | None) -> list[dict[str, Any]]:
    """The team's tasks; `mine` or a teammate's name narrows them to one assignee."""
    assignee_id = actor.agent_id if mine else None
    if assignee:
        assignee_id = agents.resolve(conn, actor.team_id or "", assignee)["id"]
    return delegation.list_tasks(conn, actor.team_id or "", stages=stages, assignee=assignee_id)


def roster(conn: psycopg.Connection, actor: Actor) -> list[dict[str, Any]]:
    """Teammates with live status, their role's name, what each works on, and which one is the caller."""
    members = agents.roster(conn, actor.team_id or "")
    for member in members:
        role = find_role(member["role_id"])
        member["role_name"] = role.name if role is not None else member["role_id"]
        member["you"] = member["id"] == actor.agent_id
    return members


def context(conn: psycopg.Connection, actor: Actor) -> dict[str, Any]:
    team = teams.get(conn, actor.team_id or "")
    return {"team": {"id": team["id"], "name": team["name"], "description": team["description"]},
            "you": {"id": actor.agent_id, "name": actor.name, "is_lead": actor.is_lead, "run_id": actor.run_id,
                    "task_id": actor.task_id},
            "workspace": workspaces.paths(team["id"], actor.agent_id),
            "roster": roster(conn, actor),
            "task_summary": tasks.stage_summary(conn, team["id"]),
            "finished_tasks": tasks.finished_of_team(conn, team["id"]),
            "unread_messages": inbox.unread_count(conn, actor.agent_id or "")}


def report_status(conn: psycopg.Connection, actor: Actor, status: str, *, blocker: str | None = None,
                  task_id: str | None = None) -> dict[str, Any]:
    """A progress note in the log; a blocker also goes to the lead's inbox."""
    if task_id:
        delegation.view(conn, task_id, actor)  # exists and is in the caller's team
    box = Outbox()
    lead = agents.lead_of(conn, actor.team_id or "")
    notified = False
    if blocker and lead is not None and lead["id"] != actor.agent_id:
        note = f"Status report from {actor.name}: {status}. Blocker: {blocker}"
        if task_id:
            note += f" (task {task_id})"
        conversation.notify(conn, actor, lead, note, box)
        notified = True
    box.add("agent.status_report", actor.team_id or "", {
        "agent_name": actor.name, "status": preview(status, 2000), "blocker": blocker,
        "lead_notified": notified}, agent_id=actor.agent_id, task_id=task_id, run_id=actor.run_id)
    box.flush(conn)
    return {"ok": True, "lead_notified": notified}
