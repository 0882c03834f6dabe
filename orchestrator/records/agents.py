"""The `agents` table: rows, lookups by id and exact name, status writes, the session and context a run leaves."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.errors import UniqueViolation

from orchestrator.domain import Conflict, Forbidden, NotFound, Outbox
from shared.ids import is_id

COLUMNS = ("name", "role_id", "specialization", "is_lead", "emoji", "backend", "model", "max_turns",
           "permission_mode", "allowed_tools", "disallowed_tools", "budget_usd", "worker_labels")


def get(conn: psycopg.Connection, agent_id: str, *, lock: bool = False) -> dict[str, Any]:
    if not is_id(agent_id, "agent"):
        raise NotFound(f"agent {agent_id!r} not found (not a valid agent id)")
    row = conn.execute(
        "SELECT * FROM agents WHERE id = %s" + (" FOR NO KEY UPDATE" if lock else ""), (agent_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"agent {agent_id} not found")
    return row


def is_lead(conn: psycopg.Connection, agent_id: str) -> bool:
    row = conn.execute("SELECT is_lead FROM agents WHERE id = %s", (agent_id,)).fetchone()
    return bool(row and row["is_lead"])


def of_teams(conn: psycopg.Connection, team_ids: list[str], *,
             include_archived: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Members per team, lead first, then by creation."""
    rows = conn.execute(
        "SELECT * FROM agents WHERE team_id = ANY(%s)" + ("" if include_archived else " AND status <> 'archived'")
        + " ORDER BY is_lead DESC, created_at, id",
        (team_ids,),
    ).fetchall()
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["team_id"], []).append(row)
    return grouped


def member_ids(conn: psycopg.Connection, team_id: str) -> list[str]:
    rows = conn.execute("SELECT id FROM agents WHERE team_id = %s AND status <> 'archived' ORDER BY id",
                        (team_id,)).fetchall()
    return [r["id"] for r in rows]


def teammates_of(conn: psycopg.Connection, team_id: str, agent_id: str | None) -> list[dict[str, Any]]:
    """Everyone in the team but `agent_id` (broadcast recipients), oldest first."""
    return conn.execute(
        "SELECT * FROM agents WHERE team_id = %s AND status <> 'archived' AND id IS DISTINCT FROM %s"
        " ORDER BY created_at, id",
        (team_id, agent_id),
    ).fetchall()


def stopped_ids(conn: psycopg.Connection, team_id: str) -> list[str]:
    return [r["id"] for r in conn.execute(
        "SELECT id FROM agents WHERE team_id = %s AND status = 'stopped' ORDER BY id", (team_id,)).fetchall()]


def names(conn: psycopg.Connection, agent_ids: set[str]) -> dict[str, str]:
    if not agent_ids:
        return {}
    rows = conn.execute("SELECT id, name FROM agents WHERE id = ANY(%s)", (list(agent_ids),)).fetchall()
    return {r["id"]: r["name"] for r in rows}


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
        listed = [r["name"] for r in conn.execute(
            "SELECT name FROM agents WHERE team_id = %s AND status <> 'archived' ORDER BY is_lead DESC, created_at",
            (team_id,),
        ).fetchall()]
        raise NotFound(f"no teammate named {who!r} in this team; teammates: {', '.join(listed) or 'none'}")
    return row


def roster(conn: psycopg.Connection, team_id: str) -> list[dict[str, Any]]:
    """Non-archived members, lead first, with the title of the task each is working on."""
    return conn.execute(
        """
        SELECT a.id, a.name, a.role_id, a.specialization, a.is_lead, a.status,
               (SELECT t.title FROM tasks t WHERE t.assigned_to = a.id AND t.stage = 'in_progress'
                ORDER BY t.started_at DESC NULLS LAST LIMIT 1) AS working_on
        FROM agents a WHERE a.team_id = %s AND a.status <> 'archived' ORDER BY a.is_lead DESC, a.created_at, a.id
        """,
        (team_id,),
    ).fetchall()


def insert(conn: psycopg.Connection, agent_id: str, team_id: str, values: dict[str, Any],
           workspace_path: str) -> dict[str, Any]:
    try:
        with conn.transaction():
            return conn.execute(
                f"""
                INSERT INTO agents (id, team_id, workspace_path, {', '.join(COLUMNS)})
                VALUES (%(id)s, %(team_id)s, %(workspace_path)s, {', '.join(f'%({c})s' for c in COLUMNS)})
                RETURNING *
                """,
                {**values, "id": agent_id, "team_id": team_id, "workspace_path": workspace_path},
            ).fetchone()
    except UniqueViolation:
        raise Conflict(f"the team already has an agent named {values['name']!r}", field="name") from None


def update(conn: psycopg.Connection, agent_id: str, changed: dict[str, Any]) -> dict[str, Any]:
    assignments = ", ".join(f"{k} = %({k})s" for k in changed)
    try:
        with conn.transaction():
            return conn.execute(
                f"UPDATE agents SET {assignments}, updated_at = now() WHERE id = %(agent_id)s RETURNING *",
                {**changed, "agent_id": agent_id},
            ).fetchone()
    except UniqueViolation:
        raise Conflict(f"the team already has an agent named {changed.get('name')!r}", field="name") from None


def clear_session(conn: psycopg.Connection, agent_id: str, *, context: bool) -> dict[str, Any]:
    """Forget the CLI session (the next run starts fresh); `context` also zeroes the context count."""
    return conn.execute(
        "UPDATE agents SET session_id = NULL" + (", context_tokens = 0" if context else "")
        + ", updated_at = now() WHERE id = %s RETURNING *",
        (agent_id,),
    ).fetchone()


def set_session(conn: psycopg.Connection, agent_id: str, session_id: str) -> None:
    conn.execute("UPDATE agents SET session_id = %s, updated_at = now() WHERE id = %s", (session_id, agent_id))


def after_attempt(conn: psycopg.Connection, run: dict[str, Any]) -> None:
    """What an attempt leaves on its agent: the session to resume, the context used, when it was last active."""
    conn.execute(
        """
        UPDATE agents SET session_id = COALESCE(%(session)s, session_id),
               context_tokens = COALESCE(%(ctx)s, context_tokens),
               context_window = COALESCE(%(window)s, context_window),
               last_active_at = now(), updated_at = now()
        WHERE id = %(agent)s
        """,
        {"session": run["session_id"], "ctx": run["context_tokens"], "window": run["context_window"],
         "agent": run["agent_id"]},
    )


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


def set_budget_state(conn: psycopg.Connection, agent_id: str, state: str) -> None:
    conn.execute("UPDATE agents SET budget_state = %s, updated_at = now() WHERE id = %s", (state, agent_id))


def remember_claude_md(conn: psycopg.Connection, agent_id: str, digest: str) -> None:
    conn.execute("UPDATE agents SET claude_md_hash = %s WHERE id = %s", (digest, agent_id))
