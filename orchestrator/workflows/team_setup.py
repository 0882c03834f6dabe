"""Setting a team up and changing it: a team with its lead (or a blueprint's agents), agents added, changed,
their session reset. Each agent gets its workspace when it is created."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from orchestrator.domain import AgentSpec, Conflict, Invalid, Outbox
from orchestrator.library.blueprints import expand_blueprint
from orchestrator.library.roles import get_library
from orchestrator.records import agents, repos, runs, teams, workspaces
from orchestrator.workflows import budgets, views
from shared import worker_labels
from shared.config import get_settings
from shared.ids import new_id

log = logging.getLogger(__name__)

DEFAULT_LEAD = AgentSpec(name="Lead", role_id="engineering/tech-lead", is_lead=True)
TEAM_EDITABLE = ("name", "description", "budget_usd", "check_command", "worker_labels")
# Settings a user may change on an existing agent (applied from its next run on).
AGENT_EDITABLE = ("name", "role_id", "specialization", "emoji", "backend", "model", "max_turns", "permission_mode",
                  "allowed_tools", "disallowed_tools", "budget_usd", "worker_labels")
# Gamma agents report through `gamma-agent`, which runs in Bash; a role's tool list must not take that away.
REQUIRED_TOOL = "Bash"


# ------------------------------------------------------------------------------------------------------ teams


def create_team(conn: psycopg.Connection, *, name: str, description: str = "", members: list[AgentSpec] | None = None,
                blueprint_id: str | None = None, budget_usd: float | None = None,
                check_command: str | None = None, labels: list[str] | None = None) -> dict[str, Any]:
    """A team and its agents in one transaction: the blueprint's, or `members` (exactly one of them the lead),
    or a default lead. `labels`: the worker labels every run of the team needs."""
    if blueprint_id:
        specs = expand_blueprint(blueprint_id, team_name=name)
    else:
        specs = list(members) if members else [DEFAULT_LEAD]
    leads = [s for s in specs if s.is_lead]
    if len(leads) != 1:
        raise Invalid(f"a team needs exactly one lead (got {len(leads)})")
    team_labels = checked_labels(labels or [])
    for spec in specs:
        _require_placeable(team_labels, checked_labels(spec.worker_labels or []), spec.name)
    team_id = new_id("team")
    team = teams.insert(conn, team_id, name=name, description=description, blueprint_id=blueprint_id,
                        budget_usd=budget_usd, check_command=check_command, worker_labels=team_labels)
    repos.create(team_id)  # the project is a git repository from the start, with a first commit
    teams.set_repo_storage(conn, team_id, str(workspaces.storage_id(create=True)))  # its repository is here
    box = Outbox()
    box.add("team.created", team_id, {"name": team["name"], "description": description,
                                      "blueprint_id": blueprint_id})
    for spec in sorted(specs, key=lambda s: not s.is_lead):
        _create_agent(conn, team_id, spec, box)
    box.flush(conn)
    return views.team(conn, team_id)


def update_team(conn: psycopg.Connection, team_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    team = teams.get_active(conn, team_id)
    changes = {k: v for k, v in changes.items() if k in TEAM_EDITABLE}
    if "worker_labels" in changes:  # from the team's next queued run on; queued runs keep theirs
        changes["worker_labels"] = checked_labels(changes["worker_labels"])
        for member in agents.of_teams(conn, [team_id]).get(team_id, []):
            _require_placeable(changes["worker_labels"], member["worker_labels"], member["name"])
    changed = {k: v for k, v in changes.items() if team[k] != v}
    if changed:
        team = teams.update(conn, team_id, changed)
        box = Outbox()
        box.add("team.updated", team_id, {"changes": {k: team[k] for k in changed}})
        if "budget_usd" in changed:  # raised or removed: paused work may go on (or a lower one pauses it)
            budgets.review(conn, team_id, None, box)
        box.flush(conn)
    return views.team(conn, team_id)


# ----------------------------------------------------------------------------------------------------- agents


def create_agent(conn: psycopg.Connection, team_id: str, spec: AgentSpec) -> dict[str, Any]:
    box = Outbox()
    agent = _create_agent(conn, team_id, spec, box)
    box.flush(conn)
    return agent


def _create_agent(conn: psycopg.Connection, team_id: str, spec: AgentSpec, box: Outbox) -> dict[str, Any]:
    team = teams.get_active(conn, team_id)
    _require_placeable(team["worker_labels"], checked_labels(spec.worker_labels or []), spec.name)
    if _role_known(spec.role_id) is False:
        raise Invalid(f"unknown role {spec.role_id!r} (see GET /api/roles)")
    if spec.is_lead and agents.lead_of(conn, team_id) is not None:
        raise Conflict("the team already has a lead; archive it first to appoint another")
    agent_id = new_id("agent")
    path = workspaces.ensure_agent_workspace(team_id, agent_id)
    row = agents.insert(conn, agent_id, team_id, with_role_defaults(spec), str(path))
    box.add("agent.created", team_id, {"name": row["name"], "role_id": row["role_id"], "is_lead": row["is_lead"],
                                       "emoji": row["emoji"]}, agent_id=agent_id)
    return views.agent(row)


def with_role_defaults(spec: AgentSpec) -> dict[str, Any]:
    """The row values: explicit settings first, then the role's (emoji, tools, model, backend), then Gamma's
    defaults."""
    role = views.find_role(spec.role_id)
    allowed = spec.allowed_tools if spec.allowed_tools is not None else (role.tools if role else None)
    disallowed = spec.disallowed_tools if spec.disallowed_tools is not None else (
        role.disallowed_tools if role else None)
    return {
        "name": spec.name.strip(),
        "role_id": spec.role_id,
        "specialization": spec.specialization,
        "is_lead": spec.is_lead,
        "emoji": spec.emoji or (role.emoji if role else None) or "🤖",
        "backend": spec.backend or (role.backend if role else None) or get_settings().backend,
        "model": spec.model or (role.model if role else None),
        "max_turns": spec.max_turns,
        "permission_mode": spec.permission_mode,
        "allowed_tools": _keep_required_tool(allowed),
        "disallowed_tools": [t for t in disallowed if t != REQUIRED_TOOL] if disallowed else disallowed,
        "budget_usd": spec.budget_usd,
        "worker_labels": checked_labels(spec.worker_labels or []),
    }


def _keep_required_tool(tools: list[str] | None) -> list[str] | None:
    if tools is None:
        return None
    return tools if any(t == REQUIRED_TOOL or t.startswith(f"{REQUIRED_TOOL}(") for t in tools) else [
        *tools, REQUIRED_TOOL]


def _role_known(role_id: str) -> bool | None:
    """True/False when the library can tell; None when no library (or an empty one) is available."""
    try:
        library = get_library()
    except Exception:  # the library parses user files; a broken one must never break a run
        log.exception("the role library failed to load")
        return None
    if len(library) == 0:
        return None
    return library.get(role_id) is not None


def update_agent(conn: psycopg.Connection, agent_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    agent = agents.get(conn, agent_id, lock=True)
    views.require_usable(agent)
    changes = {k: v for k, v in changes.items() if k in AGENT_EDITABLE}
    if "role_id" in changes and _role_known(changes["role_id"]) is False:
        raise Invalid(f"unknown role {changes['role_id']!r} (see GET /api/roles)")
    if "allowed_tools" in changes:
        changes["allowed_tools"] = _keep_required_tool(changes["allowed_tools"])
    if changes.get("disallowed_tools"):
        changes["disallowed_tools"] = [t for t in changes["disallowed_tools"] if t != REQUIRED_TOOL]
    if "worker_labels" in changes:  # from the agent's next queued run on; queued runs keep theirs
        changes["worker_labels"] = checked_labels(changes["worker_labels"])
        team = teams.get(conn, agent["team_id"])
        _require_placeable(team["worker_labels"], changes["worker_labels"], agent["name"])
    changed = {k: v for k, v in changes.items() if agent[k] != v}
    if not changed:
        return views.agent(agent)
    row = agents.update(conn, agent_id, changed)
    box = Outbox()
    box.add("agent.updated", row["team_id"], {"changes": {k: row[k] for k in changed}}, agent_id=agent_id)
    if "budget_usd" in changed:
        budgets.review(conn, row["team_id"], agent_id, box)
    box.flush(conn)
    row = agents.get(conn, agent_id)
    return views.agent(row)


# ---------------------------------------------------------------------------------------------- worker labels


def checked_labels(labels: list[str]) -> list[str]:
    """Worker labels as stored (sorted, each once), or Invalid naming the field."""
    found = worker_labels.problem(labels)
    if found:
        raise Invalid(f"worker_labels: {found}", field="worker_labels")
    return worker_labels.normalized(labels)


def _require_placeable(team_labels: list[str], agent_labels: list[str], agent_name: str) -> None:
    """An agent's runs need its team's labels and its own: no worker has more than MAX_LABELS, so neither may
    a run."""
    needed = worker_labels.normalized([*team_labels, *agent_labels])
    if len(needed) > worker_labels.MAX_LABELS:
        raise Invalid(f"worker_labels: the runs of {agent_name} would need {len(needed)} labels with the team's "
                      f"({', '.join(needed)}); a worker has at most {worker_labels.MAX_LABELS}",
                      field="worker_labels")


def reset_session(conn: psycopg.Connection, agent_id: str) -> dict[str, Any]:
    agent = agents.get(conn, agent_id)
    views.require_usable(agent)
    running = runs.running_of_agent(conn, agent_id)
    if running is not None:
        raise Conflict(f"agent {agent['name']} is running ({running}); stop it first, then reset its session")
    row = agents.clear_session(conn, agent_id, context=True)
    box = Outbox()
    box.add("agent.session_reset", row["team_id"], {"previous_session_id": agent["session_id"]}, agent_id=agent_id)
    box.flush(conn)
    return views.agent(row)
