"""Stopping: one run, an agent, a team, or everything; and archiving an agent or a team for good.

A stop cancels the runs first (lock order) and settles their follow-ups itself: its agents stay stopped (no
status bookkeeping restarts them), nobody is woken, and an archive cancels the open tasks in one go. It says so
to the run lifecycle explicitly (`leave=`).
"""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import USER, Actor, Conflict, Outbox
from orchestrator.records import agents, runs, tasks, teams
from orchestrator.workflows import conversation, delegation, run_lifecycle, views, wake


def cancel_run(conn: psycopg.Connection, run_id: str) -> dict[str, Any]:
    """Cancel one run; the agent stays available for its other work."""
    run = views.run(conn, run_id)
    if run["state"] not in runs.ACTIVE_STATES:
        raise Conflict(f"run {run_id} already ended ({run['state']})")
    cancelled = run_lifecycle.cancel(conn, "run", run_id)
    return {"run": views.run(conn, run_id), "cancelled_runs": cancelled}


def stop_agent(conn: psycopg.Connection, agent_id: str, actor: Actor = USER) -> dict[str, Any]:
    """Cancel the agent's runs and keep it stopped: nothing starts it again until the user gives it work."""
    agent = agents.get(conn, agent_id)
    views.require_usable(agent)
    cancelled = run_lifecycle.cancel(conn, "agent", agent_id, leave={agent_id})
    box = Outbox()
    row = agents.set_status(conn, agent_id, "stopped", box)
    box.add("agent.stopped", agent["team_id"], {"cancelled_runs": cancelled, **actor.stamp()}, agent_id=agent_id)
    box.flush(conn)
    return {"agent": views.agent(row), "cancelled_runs": cancelled}


def archive_agent(conn: psycopg.Connection, agent_id: str, actor: Actor = USER) -> dict[str, Any]:
    """Archive for good: cancel its runs, cancel its open tasks, never bring it back."""
    agent = agents.get(conn, agent_id)
    if agent["status"] == "archived":
        return {"agent": views.agent(agent), "cancelled_runs": [], "cancelled_tasks": []}
    open_tasks = tasks.open_ids(conn, assignee=agent_id)
    cancelled = run_lifecycle.cancel(conn, "agent", agent_id, leave={agent_id, *open_tasks})
    box = Outbox()
    row = agents.set_status(conn, agent_id, "archived", box)
    cancelled_tasks = delegation.cancel_many(conn, open_tasks, actor, f"its assignee {agent['name']} was archived",
                                             box)
    box.add("agent.archived", agent["team_id"], {"name": agent["name"], "cancelled_runs": cancelled,
                                                 "cancelled_tasks": cancelled_tasks, **actor.stamp()},
            agent_id=agent_id)
    box.flush(conn)
    return {"agent": views.agent(row), "cancelled_runs": cancelled, "cancelled_tasks": cancelled_tasks}


def stop_team(conn: psycopg.Connection, team_id: str, actor: Actor = USER) -> dict[str, Any]:
    """Cancel all the team's runs; its agents stay stopped (no wake, no queued work) until the user speaks."""
    teams.get_active(conn, team_id)
    members = agents.member_ids(conn, team_id)
    cancelled = run_lifecycle.cancel(conn, "team", team_id, leave={team_id, *members})
    box = Outbox()
    for agent_id in members:
        agents.set_status(conn, agent_id, "stopped", box)
    wake.cancel_open(conn, team_id, "the team was stopped", box)
    box.add("team.stopped", team_id, {"cancelled_runs": cancelled, **actor.stamp()})
    count = len(cancelled)
    what = (f"{'1 run was' if count == 1 else f'{count} runs were'} cancelled and nothing was left queued"
            if cancelled else "nothing was running")
    # last: a chat message takes the team's lock (domain.py)
    conversation.add_chat(conn, team_id, "notice", f"⏹️ The team was stopped: {what}. Its agents stay stopped "
                          "until you send a message, which starts the lead again.", box)
    box.flush(conn)
    return {"team": views.team(conn, team_id), "cancelled_runs": cancelled}


def archive_team(conn: psycopg.Connection, team_id: str, actor: Actor = USER) -> dict[str, Any]:
    """Archive for good: cancel runs and open tasks, archive every agent. Nothing brings them back."""
    team = teams.get(conn, team_id)
    if team["status"] == "archived":
        return {"team": views.team(conn, team_id), "cancelled_runs": [], "cancelled_tasks": []}
    members = agents.member_ids(conn, team_id)
    open_tasks = tasks.open_ids(conn, team_id=team_id)
    cancelled = run_lifecycle.cancel(conn, "team", team_id, leave={team_id, *members, *open_tasks})
    box = Outbox()
    for agent_id in members:
        agents.set_status(conn, agent_id, "archived", box)
    cancelled_tasks = delegation.cancel_many(conn, open_tasks, actor, "the team was archived", box, wake_lead=False)
    wake.cancel_open(conn, team_id, "the team was archived", box)
    teams.mark_archived(conn, team_id)
    box.add("team.archived", team_id, {"cancelled_runs": cancelled, "cancelled_tasks": cancelled_tasks,
                                       **actor.stamp()})
    box.flush(conn)
    return {"team": views.team(conn, team_id, include_archived_members=True), "cancelled_runs": cancelled,
            "cancelled_tasks": cancelled_tasks}


def stop_all(conn: psycopg.Connection, actor: Actor = USER) -> dict[str, Any]:
    """Stop every active team that has work queued or running (each gets its own `team.stopped` event and a
    line in its chat); a team with nothing going on is left as it is. Then anything left anywhere."""
    active = set(teams.active_ids(conn))
    team_ids = [t for t in runs.teams_with_active_runs(conn, besides=[]) if t in active]
    cancelled: list[str] = []
    for team_id in team_ids:
        cancelled += stop_team(conn, team_id, actor)["cancelled_runs"]
    for leftover in runs.teams_with_active_runs(conn, besides=team_ids):  # runs of archived teams, if any
        cancelled += run_lifecycle.cancel(conn, "team", leftover)
    return {"stopped_teams": team_ids, "cancelled_runs": sorted(set(cancelled))}
