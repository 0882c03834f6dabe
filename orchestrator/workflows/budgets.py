"""Budgets pause, not fail. A team's budget and each agent's (both totals, in USD):

- at 80 % spent, one `*.budget_warning` event;
- at 100 %, the team (or agent) is `paused`: running runs finish, no new run starts, queued runs wait in the
  queue (they do not fail, nor do their tasks; the claim refuses them and says why), and the chat says so;
- raising or removing the budget resumes: `*.budget_resumed`, a line in the chat, and the queued work is
  dispatched again, in order.

`review` is called wherever spend or a budget changes: when a run's attempt ends, and when the user changes a
budget.
"""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import Outbox
from orchestrator.records import agents, runs, teams
from orchestrator.workflows import conversation
from shared.vocabulary import BUDGET_WARNING_SHARE


def state_for(budget: float | None, spent: float) -> str:
    if budget is None:
        return "ok"
    if spent >= budget:
        return "paused"
    return "warned" if spent >= BUDGET_WARNING_SHARE * budget else "ok"


def review(conn: psycopg.Connection, team_id: str, agent_id: str | None, box: Outbox) -> bool:
    """Bring the team's (and the agent's) budget state up to date; returns True when work may resume."""
    resumed = _review_team(conn, team_id, box)
    if agent_id is not None:
        resumed = _review_agent(conn, agent_id, box) or resumed
    if resumed:
        for waiting_agent in runs.queued_agents_of_team(conn, team_id):
            runs.dispatch_next(conn, waiting_agent)
    return resumed


def _review_team(conn: psycopg.Connection, team_id: str, box: Outbox) -> bool:
    team = teams.get(conn, team_id)
    budget, spent = teams.budget(conn, team_id)
    return _move(conn, box, "team", team_id, team_id, None, team["budget_state"], state_for(budget, spent),
                 budget, spent, teams.set_budget_state, "The team's")


def _review_agent(conn: psycopg.Connection, agent_id: str, box: Outbox) -> bool:
    agent = agents.get(conn, agent_id)
    budget = float(agent["budget_usd"]) if agent["budget_usd"] is not None else None
    spent = runs.spent_by_agent(conn, agent_id)
    return _move(conn, box, "agent", agent_id, agent["team_id"], agent_id, agent["budget_state"],
                 state_for(budget, spent), budget, spent, agents.set_budget_state, f"{agent['name']}'s")


def _move(conn: psycopg.Connection, box: Outbox, what: str, ident: str, team_id: str, agent_id: str | None,
          old: str, new: str, budget: float | None, spent: float, write: Any, whose: str) -> bool:
    if old == new:
        return False
    write(conn, ident, new)
    figures = {"budget_usd": budget, "spent_usd": round(spent, 6), "from": old, "to": new}
    if new == "paused":
        _announce(box, what, "paused", team_id, agent_id, figures)
        conversation.add_chat(conn, team_id, "notice", f"⏸️ {whose} budget of ${budget:.2f} is spent "
                              f"(${spent:.4f} used): running work finishes, nothing new starts and queued work "
                              "waits. Raise or remove the budget to go on.", box, agent_id=agent_id)
        return False
    if old == "paused":
        _announce(box, what, "resumed", team_id, agent_id, figures)
        limit = f"${budget:.2f}" if budget is not None else "no limit"
        conversation.add_chat(conn, team_id, "notice", f"▶️ {whose} budget is now {limit} (${spent:.4f} used): "
                              "queued work goes on.", box, agent_id=agent_id)
        return True
    if new == "warned":
        _announce(box, what, "warning", team_id, agent_id, figures)
    return False


def _announce(box: Outbox, what: str, change: str, team_id: str, agent_id: str | None,
              figures: dict[str, Any]) -> None:
    """The event for a change of budget state (each kind written out: the vocabulary test reads them)."""
    match (what, change):
        case ("team", "warning"):
            box.add("team.budget_warning", team_id, figures)
        case ("team", "paused"):
            box.add("team.budget_paused", team_id, figures)
        case ("team", "resumed"):
            box.add("team.budget_resumed", team_id, figures)
        case ("agent", "warning"):
            box.add("agent.budget_warning", team_id, figures, agent_id=agent_id)
        case ("agent", "paused"):
            box.add("agent.budget_paused", team_id, figures, agent_id=agent_id)
        case ("agent", "resumed"):
            box.add("agent.budget_resumed", team_id, figures, agent_id=agent_id)
