"""Agents: create (with a workspace), update, archive, reset session, stop; status bookkeeping; name lookup."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.errors import UniqueViolation

from orchestrator import runs, workspace
from orchestrator.common import USER, Actor, Conflict, Forbidden, Invalid, NotFound, Outbox, handled_by_caller
from shared.config import get_settings
from shared.ids import is_id, new_id

log = logging.getLogger(__name__)

STATUSES = ("idle", "queued", "running", "error", "stopped", "archived")
# Settings a user may change on an existing agent (applied from its next run on).
EDITABLE = ("name", "role_id", "specialization", "emoji", "backend", "model", "max_turns", "permission_mode",
            "allowed_tools", "disallowed_tools", "budget_usd")
# Gamma agents report through `gamma-agent`, which runs in Bash; a role's tool list must not take that away.
REQUIRED_TOOL = "Bash"


@dataclass
class AgentSpec:
    name: str
    role_id: str
    specialization: str = ""
    is_lead: bool = False
    emoji: str | None = None
    backend: str | None = None
    model: str | None = None
    max_turns: int | None = None
    permission_mode: str | None = None
    allowed_tools: list[str] | None = None
    disallowed_tools: list[str] | None = None
    budget_usd: float | None = None


def _library() -> Any | None:
    try:
        from orchestrator.roles import get_library  # noqa: PLC0415 - optional at import time
    except ImportError:
        return None
    try:
        return get_library()
    except Exception:  # the library parses user files; a broken one must never break a run
        log.exception("the role library failed to load")
        return None


def find_role(role_id: str) -> Any | None:
    """The role from the role library, or None (unknown role, or no library)."""
    library = _library()
    return library.get(role_id) if library is not None else None


def _role_known(role_id: str) -> bool | None:
    """True/False when the library can tell; None when no library (or an empty one) is available."""
    library = _library()
    if library is None or len(library) == 0:
        return None
    return library.get(role_id) is not None


# ------------------------------------------------------------------------------------------------------ reads


def get(conn: psycopg.Connection, agent_id: str, *, lock: bool = False) -> dict[str, Any]:
    if not is_id(agent_id, "agent"):
        raise NotFound(f"agent {agent_id!r} not found (not a valid agent id)")
    row = conn.execute(
        "SELECT * FROM agents WHERE id = %s" + (" FOR NO KEY UPDATE" if lock else ""), (agent_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"agent {agent_id} not found")
    return row


def require_usable(agent: dict[str, Any]) -> None:
    if agent["status"] == "archived":
        raise Conflict(f"agent {agent['name']} ({agent['id']}) is archived")


def list_for_team(conn: psycopg.Connection, team_id: str, *, include_archived: bool = False) -> list[dict[str, Any]]:
    return list_for_teams(conn, [team_id], include_archived=include_archived).get(team_id, [])


def list_for_teams(conn: psycopg.Connection, team_ids: list[str], *,
                   include_archived: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Members per team, lead first, then by creation."""
    rows = conn.execute(
        "SELECT * FROM agents WHERE team_id = ANY(%s)" + ("" if include_archived else " AND status <> 'archived'")
        + " ORDER BY is_lead DESC, created_at, id",
        (team_ids,),
    ).fetchall()
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["team_id"], []).append(present(row))
    return grouped


def lead_of(conn: psycopg.Connection, team_id: str) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT * FROM agents WHERE team_id = %s AND is_lead AND status <> 'archived'", (team_id,)
    ).fetchone()


def resolve(conn: psycopg.Connection, team_id: str, who: str) -> dict[str, Any]:
    """A teammate by exact id or exact (case-insensitive) name, never by substring or role."""
    who = who.strip()
    if is_id(who, "agent"):
        row = conn.execute("SELECT * FROM agents WHERE id = %s AND team_id = %s AND status <> 'archived'",
                           (who, team_id)).fetchone()
    else:
        row = conn.execute(
            "SELECT * FROM agents WHERE team_id = %s AND lower(name) = lower(%s) AND status <> 'archived'",
            (team_id, who),
        ).fetchone()
    if row is None and is_id(who, "agent"):
        elsewhere = conn.execute("SELECT team_id FROM agents WHERE id = %s", (who,)).fetchone()
        if elsewhere is not None and elsewhere["team_id"] != team_id:
            raise Forbidden(f"agent {who} is not in this team")
    if row is None:
        names = [r["name"] for r in conn.execute(
            "SELECT name FROM agents WHERE team_id = %s AND status <> 'archived' ORDER BY is_lead DESC, created_at",
            (team_id,),
        ).fetchall()]
        raise NotFound(f"no teammate named {who!r} in this team; teammates: {', '.join(names) or 'none'}")
    return row


def present(row: dict[str, Any]) -> dict[str, Any]:
    """An agent as the APIs show it."""
    role = find_role(row["role_id"])
    shown = {k: v for k, v in row.items() if k != "claude_md_hash"}
    shown["role_name"] = role.name if role is not None else row["role_id"]
    return shown


# --------------------------------------------------------------------------------------------------- create


def create(conn: psycopg.Connection, team_id: str, spec: AgentSpec, outbox: Outbox | None = None) -> dict[str, Any]:
    from orchestrator import teams  # noqa: PLC0415 - teams creates its lead through this module

    own = outbox is None
    box = outbox or Outbox()
    team = teams.get(conn, team_id)
    teams.require_active(team)
    if _role_known(spec.role_id) is False:
        raise Invalid(f"unknown role {spec.role_id!r} (see GET /api/roles)")
    if spec.is_lead and lead_of(conn, team_id) is not None:
        raise Conflict("the team already has a lead; archive it first to appoint another")
    values = _with_role_defaults(spec)
    agent_id = new_id("agent")
    path = workspace.ensure_agent_workspace(team_id, agent_id)
    try:
        with conn.transaction():
            row = conn.execute(
                """
                INSERT INTO agents (id, team_id, name, role_id, specialization, is_lead, emoji, backend, model,
                                    max_turns, permission_mode, allowed_tools, disallowed_tools, budget_usd,
                                    workspace_path)
                VALUES (%(id)s, %(team_id)s, %(name)s, %(role_id)s, %(specialization)s, %(is_lead)s, %(emoji)s,
                        %(backend)s, %(model)s, %(max_turns)s, %(permission_mode)s, %(allowed_tools)s,
                        %(disallowed_tools)s, %(budget_usd)s, %(workspace_path)s)
                RETURNING *
                """,
                {**values, "id": agent_id, "team_id": team_id, "workspace_path": str(path)},
            ).fetchone()
    except UniqueViolation:
        raise Conflict(f"the team already has an agent named {spec.name!r}") from None
    box.add("agent.created", team_id, {"name": row["name"], "role_id": row["role_id"], "is_lead": row["is_lead"],
                                       "emoji": row["emoji"]}, agent_id=agent_id)
    if own:
        box.flush(conn)
    return present(row)


def _with_role_defaults(spec: AgentSpec) -> dict[str, Any]:
    """The row values: explicit settings first, then the role's (emoji, tools, model, backend), then Gamma's
    defaults."""
    role = find_role(spec.role_id)
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
    }


def _keep_required_tool(tools: list[str] | None) -> list[str] | None:
    if tools is None:
        return None
    return tools if any(t == REQUIRED_TOOL or t.startswith(f"{REQUIRED_TOOL}(") for t in tools) else [
        *tools, REQUIRED_TOOL]


# --------------------------------------------------------------------------------------------------- update


def update(conn: psycopg.Connection, agent_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    agent = get(conn, agent_id, lock=True)
    require_usable(agent)
    changes = {k: v for k, v in changes.items() if k in EDITABLE}
    if "role_id" in changes and _role_known(changes["role_id"]) is False:
        raise Invalid(f"unknown role {changes['role_id']!r} (see GET /api/roles)")
    if "allowed_tools" in changes:
        changes["allowed_tools"] = _keep_required_tool(changes["allowed_tools"])
    if changes.get("disallowed_tools"):
        changes["disallowed_tools"] = [t for t in changes["disallowed_tools"] if t != REQUIRED_TOOL]
    changed = {k: v for k, v in changes.items() if agent[k] != v}
    if not changed:
        return present(agent)
    assignments = ", ".join(f"{k} = %({k})s" for k in changed)
    try:
        with conn.transaction():
            row = conn.execute(
                f"UPDATE agents SET {assignments}, updated_at = now() WHERE id = %(agent_id)s RETURNING *",
                {**changed, "agent_id": agent_id},
            ).fetchone()
    except UniqueViolation:
        raise Conflict(f"the team already has an agent named {changes.get('name')!r}") from None
    box = Outbox()
    box.add("agent.updated", row["team_id"], {"changes": {k: row[k] for k in changed}}, agent_id=agent_id)
    box.flush(conn)
    return present(row)


def reset_session(conn: psycopg.Connection, agent_id: str) -> dict[str, Any]:
    agent = get(conn, agent_id)
    require_usable(agent)
    running = conn.execute("SELECT id FROM runs WHERE agent_id = %s AND state = 'running'", (agent_id,)).fetchone()
    if running is not None:
        raise Conflict(f"agent {agent['name']} is running ({running['id']}); stop it first, then reset its session")
    row = conn.execute(
        "UPDATE agents SET session_id = NULL, context_tokens = 0, updated_at = now() WHERE id = %s RETURNING *",
        (agent_id,),
    ).fetchone()
    box = Outbox()
    box.add("agent.session_reset", row["team_id"], {"previous_session_id": agent["session_id"]}, agent_id=agent_id)
    box.flush(conn)
    return present(row)


# ------------------------------------------------------------------------------------------------ stop/archive


def stop(conn: psycopg.Connection, agent_id: str, actor: Actor = USER) -> dict[str, Any]:
    """Cancel the agent's runs and keep it stopped: nothing starts it again until the user gives it work."""
    agent = get(conn, agent_id)
    require_usable(agent)
    with handled_by_caller(agent_id):
        cancelled = runs.cancel_agent(conn, agent_id)
    box = Outbox()
    row = set_status(conn, agent_id, "stopped", box)
    box.add("agent.stopped", agent["team_id"], {"cancelled_runs": cancelled, **actor.stamp()}, agent_id=agent_id)
    box.flush(conn)
    return {"agent": present(row), "cancelled_runs": cancelled}


def archive(conn: psycopg.Connection, agent_id: str, actor: Actor = USER) -> dict[str, Any]:
    """Archive for good: cancel its runs, cancel its open tasks, never bring it back."""
    from orchestrator import tasks  # noqa: PLC0415

    agent = get(conn, agent_id)
    if agent["status"] == "archived":
        return {"agent": present(agent), "cancelled_runs": [], "cancelled_tasks": []}
    open_tasks = tasks.open_task_ids(conn, assignee=agent_id)
    with handled_by_caller(agent_id, *open_tasks):
        cancelled = runs.cancel_agent(conn, agent_id)
    box = Outbox()
    row = set_status(conn, agent_id, "archived", box)
    cancelled_tasks = tasks.cancel_many(conn, open_tasks, actor, f"its assignee {agent['name']} was archived", box)
    box.add("agent.archived", agent["team_id"], {"name": agent["name"], "cancelled_runs": cancelled,
                                                 "cancelled_tasks": cancelled_tasks, **actor.stamp()},
            agent_id=agent_id)
    box.flush(conn)
    return {"agent": present(row), "cancelled_runs": cancelled, "cancelled_tasks": cancelled_tasks}


# ---------------------------------------------------------------------------------------------------- status


def set_status(conn: psycopg.Connection, agent_id: str, status: str, outbox: Outbox) -> dict[str, Any]:
    """Write a status (an `agent.status` event when it changes). An archived agent is never brought back."""
    current = get(conn, agent_id, lock=True)
    if current["status"] == status or current["status"] == "archived":
        return current
    row = conn.execute(
        "UPDATE agents SET status = %s, updated_at = now() WHERE id = %s RETURNING *", (status, agent_id)
    ).fetchone()
    outbox.add("agent.status", row["team_id"], {"from": current["status"], "to": status}, agent_id=agent_id)
    return row


def mark_queued(conn: psycopg.Connection, agent: dict[str, Any], outbox: Outbox, *, revive: bool) -> None:
    """Before queueing work for an agent. A stopped agent only takes work the user gave it (`revive`)."""
    status = agent["status"]
    if status == "archived":
        raise Conflict(f"agent {agent['name']} is archived")
    if status == "stopped" and not revive:
        raise Conflict(f"agent {agent['name']} was stopped by the user and takes no new work until the user "
                       "resumes it; assign the task to someone else or tell the user")
    if status in ("idle", "error", "stopped"):
        set_status(conn, agent["id"], "queued", outbox)


def sync_status(conn: psycopg.Connection, agent_id: str, outbox: Outbox, *, failed: bool = False) -> None:
    """After a run ended: running/queued from its runs, else idle (error if the run failed); stopped stays."""
    agent = get(conn, agent_id, lock=True)
    if agent["status"] in ("archived", "stopped"):
        return
    active = conn.execute(
        "SELECT bool_or(state = 'running') AS running, bool_or(state = 'queued') AS queued FROM runs"
        " WHERE agent_id = %s AND state IN ('queued', 'running')",
        (agent_id,),
    ).fetchone()
    if active["running"]:
        status = "running"
    elif active["queued"]:
        status = "queued"
    else:
        status = "error" if failed else "idle"
    set_status(conn, agent_id, status, outbox)


def revive_team(conn: psycopg.Connection, team_id: str, outbox: Outbox) -> None:
    """The user spoke to the team again: agents stopped earlier may work again."""
    for row in conn.execute("SELECT id FROM agents WHERE team_id = %s AND status = 'stopped' ORDER BY id",
                            (team_id,)).fetchall():
        set_status(conn, row["id"], "idle", outbox)
