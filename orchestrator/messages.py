"""Chat between the user and the team, and the agents' inboxes.

Inbox reads never lose a message: a read returns the oldest unread messages (up to a limit) and marks exactly
those as read, in the same transaction; what was not returned stays unread.
"""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator import agents, runs
from orchestrator.common import Actor, Forbidden, NotFound, Outbox, preview
from shared.ids import is_id, new_id

CHAT_PAGE_MAX = 200
INBOX_PAGE_MAX = 200


# ------------------------------------------------------------------------------------------------------- chat


def add_chat(conn: psycopg.Connection, team_id: str, role: str, content: str, outbox: Outbox, *,
             agent_id: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO chat_messages (id, team_id, role, agent_id, run_id, content) VALUES (%s, %s, %s, %s, %s, %s)"
        " RETURNING *",
        (new_id("msg"), team_id, role, agent_id, run_id, content[:200_000]),
    ).fetchone()
    outbox.add("chat.message", team_id, chat_payload(row), agent_id=agent_id, run_id=run_id)
    return row


def chat_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "role": row["role"], "agent_id": row["agent_id"], "run_id": row["run_id"],
            "content": row["content"], "created_at": row["created_at"].isoformat()}


def post_user_message(conn: psycopg.Connection, team_id: str, content: str) -> dict[str, Any]:
    """Store the user's message and queue a lead run for it; returns at once with both."""
    from orchestrator import teams  # noqa: PLC0415

    team = teams.get(conn, team_id)
    teams.require_active(team)
    lead = agents.lead_of(conn, team_id)
    if lead is None:
        raise Forbidden("the team has no lead to talk to; add an agent with is_lead=true")
    box = Outbox()
    agents.revive_team(conn, team_id, box)  # a new message from the user resumes a stopped team
    agents.mark_queued(conn, agents.get(conn, lead["id"]), box, revive=True)
    run = runs.enqueue_run(conn, team_id=team_id, agent_id=lead["id"], prompt=content, reason="chat")
    message = add_chat(conn, team_id, "user", content, box, run_id=run["id"])
    box.flush(conn)
    return {"message": message, "run_id": run["id"]}


def chat_page(conn: psycopg.Connection, team_id: str, *, before: str | None = None,
              limit: int = 50) -> dict[str, Any]:
    """The newest `limit` messages older than message id `before`, oldest first; ids are ULIDs (time-ordered)."""
    limit = max(1, min(limit, CHAT_PAGE_MAX))
    rows = conn.execute(
        "SELECT * FROM chat_messages WHERE team_id = %s AND (%s::text IS NULL OR id < %s)"
        " ORDER BY id DESC LIMIT %s",
        (team_id, before, before, limit + 1),
    ).fetchall()
    has_more = len(rows) > limit
    page = list(reversed(rows[:limit]))
    return {"messages": page, "has_more": has_more, "before": page[0]["id"] if page else None}


# ------------------------------------------------------------------------------------------------------ inbox


def send(conn: psycopg.Connection, actor: Actor, to: str, content: str) -> dict[str, Any]:
    assert actor.team_id is not None and actor.agent_id is not None
    recipient = agents.resolve(conn, actor.team_id, to)
    box = Outbox()
    row = _deliver(conn, actor, recipient, content)
    box.add("message.sent", actor.team_id, {
        "id": row["id"], "from": actor.name, "from_agent_id": actor.agent_id, "to": recipient["name"],
        "to_agent_id": recipient["id"], "content": content, "preview": preview(content, 100)},
        agent_id=actor.agent_id, run_id=actor.run_id)
    box.flush(conn)
    return {**row, "to_name": recipient["name"]}


def broadcast(conn: psycopg.Connection, actor: Actor, content: str) -> dict[str, Any]:
    if not actor.is_lead:
        raise Forbidden("only the team lead can broadcast; message a teammate with `gamma-agent msg send`")
    assert actor.team_id is not None
    recipients = conn.execute(
        "SELECT * FROM agents WHERE team_id = %s AND status <> 'archived' AND id <> %s ORDER BY created_at, id",
        (actor.team_id, actor.agent_id),
    ).fetchall()
    rows = [_deliver(conn, actor, r, content) for r in recipients]
    box = Outbox()
    box.add("message.broadcast", actor.team_id, {
        "from": actor.name, "from_agent_id": actor.agent_id, "recipients": [r["name"] for r in recipients],
        "message_ids": [r["id"] for r in rows], "content": content, "preview": preview(content, 100)},
        agent_id=actor.agent_id, run_id=actor.run_id)
    box.flush(conn)
    return {"recipient_count": len(rows), "recipients": [r["name"] for r in recipients],
            "message_ids": [r["id"] for r in rows]}


def notify(conn: psycopg.Connection, actor: Actor, recipient: dict[str, Any], content: str,
           outbox: Outbox) -> dict[str, Any]:
    """A system-composed inbox message (review requests, blockers) with its `message.sent` event."""
    row = _deliver(conn, actor, recipient, content)
    outbox.add("message.sent", recipient["team_id"], {
        "id": row["id"], "from": actor.name, "from_agent_id": actor.agent_id, "to": recipient["name"],
        "to_agent_id": recipient["id"], "content": content, "preview": preview(content, 100)},
        agent_id=actor.agent_id, run_id=actor.run_id)
    return row


def _deliver(conn: psycopg.Connection, actor: Actor, recipient: dict[str, Any], content: str) -> dict[str, Any]:
    return conn.execute(
        "INSERT INTO agent_messages (id, team_id, from_agent, to_agent, content) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING *",
        (new_id("amsg"), recipient["team_id"], actor.agent_id, recipient["id"], content),
    ).fetchone()


def read_inbox(conn: psycopg.Connection, agent_id: str, *, limit: int = 50) -> dict[str, Any]:
    """The oldest unread messages, marked read — only those returned. `remaining` says how many are left."""
    if not is_id(agent_id, "agent"):
        raise NotFound(f"agent {agent_id!r} not found")
    limit = max(1, min(limit, INBOX_PAGE_MAX))
    rows = conn.execute(
        """
        WITH picked AS (
            SELECT id FROM agent_messages WHERE to_agent = %s AND read_at IS NULL
            ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
        UPDATE agent_messages m SET read_at = now() FROM picked WHERE m.id = picked.id
        RETURNING m.*
        """,
        (agent_id, limit),
    ).fetchall()
    rows.sort(key=lambda r: r["id"])
    names = _names(conn, {r["from_agent"] for r in rows if r["from_agent"]})
    messages = [{"id": r["id"], "from": names.get(r["from_agent"], "system"), "from_agent_id": r["from_agent"],
                 "content": r["content"], "created_at": r["created_at"]} for r in rows]
    return {"messages": messages, "count": len(messages), "remaining": unread_count(conn, agent_id)}


def unread_count(conn: psycopg.Connection, agent_id: str) -> int:
    return conn.execute("SELECT count(*) AS n FROM agent_messages WHERE to_agent = %s AND read_at IS NULL",
                        (agent_id,)).fetchone()["n"]


def _names(conn: psycopg.Connection, agent_ids: set[str]) -> dict[str, str]:
    if not agent_ids:
        return {}
    rows = conn.execute("SELECT id, name FROM agents WHERE id = ANY(%s)", (list(agent_ids),)).fetchall()
    return {r["id"]: r["name"] for r in rows}
