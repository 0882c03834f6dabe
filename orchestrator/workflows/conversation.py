"""The conversation: the user's messages to the lead (each queues a lead run), the lead's answers and Gamma's
notices in the chat, and messages between agents (their inboxes)."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import Actor, Forbidden, NotFound, Outbox, preview
from orchestrator.records import agents, chat, inbox, runs, teams
from orchestrator.workflows import agent_status
from shared.ids import is_id

CHAT_PAGE_MAX = chat.PAGE_MAX
INBOX_PAGE_MAX = inbox.PAGE_MAX


# ------------------------------------------------------------------------------------------------------- chat


def add_chat(conn: psycopg.Connection, team_id: str, kind: str, content: str, outbox: Outbox, *,
             agent_id: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """A chat message of one kind (user, answer, wake, notice: its role follows) and its `chat.message` event."""
    row = chat.insert(conn, team_id, kind, content, agent_id=agent_id, run_id=run_id)
    outbox.add("chat.message", team_id, chat_payload(row), agent_id=agent_id, run_id=run_id)
    return row


def chat_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "seq": row["seq"], "kind": row["kind"], "role": row["role"], "agent_id": row["agent_id"],
            "run_id": row["run_id"], "content": row["content"], "final": row["final"],
            "created_at": row["created_at"].isoformat()}


def stream_answer(conn: psycopg.Connection, run: dict[str, Any], attempt: int, text: str) -> dict[str, Any] | None:
    """The lead's answer as attempt `attempt` of its run writes it: created at the first text (`chat.message`, not
    final), grown after (`chat.updated`). Nothing from an attempt that no longer owns the run (it was taken
    over, or the run ended and its answer is final)."""
    text = text.strip()
    if not text or runs.current_attempt(conn, run["id"]) != attempt:
        return None
    box = Outbox()
    row = chat.streaming_answer_of(conn, run["id"])
    if row is None:
        row = chat.insert(conn, run["team_id"], "answer", text, agent_id=run["agent_id"], run_id=run["id"],
                          final=False)
        box.add("chat.message", run["team_id"], chat_payload(row), agent_id=run["agent_id"], run_id=run["id"])
    elif row["content"] != text[:chat.MAX_CHARS]:
        row = chat.rewrite(conn, row["id"], text, final=False)
        box.add("chat.updated", run["team_id"], chat_payload(row), agent_id=run["agent_id"], run_id=run["id"])
    box.flush(conn)
    return row


def finish_answer(conn: psycopg.Connection, run: dict[str, Any], text: str, outbox: Outbox) -> dict[str, Any] | None:
    """The run ended: its answer is its final text — the streamed message made final, or a new one."""
    row = chat.streaming_answer_of(conn, run["id"])
    if row is None:
        return add_chat(conn, run["team_id"], "answer", text, outbox, agent_id=run["agent_id"],
                        run_id=run["id"]) if text else None
    row = chat.rewrite(conn, row["id"], text or row["content"], final=True)
    outbox.add("chat.updated", run["team_id"], chat_payload(row), agent_id=run["agent_id"], run_id=run["id"])
    return row


def post_user_message(conn: psycopg.Connection, team_id: str, content: str) -> dict[str, Any]:
    """Store the user's message and queue a lead run for it; returns at once with both."""
    teams.get_active(conn, team_id)
    lead = agents.lead_of(conn, team_id)
    if lead is None:
        raise Forbidden("the team has no lead to talk to; add an agent with is_lead=true")
    box = Outbox()
    agent_status.revive_team(conn, team_id, box)  # a new message from the user resumes a stopped team
    agent_status.mark_queued(conn, agents.get(conn, lead["id"]), box, revive=True)
    run = runs.enqueue_run(conn, team_id=team_id, agent_id=lead["id"], prompt=content, reason="chat")
    message = add_chat(conn, team_id, "user", content, box, run_id=run["id"])
    box.flush(conn)
    return {"message": message, "run_id": run["id"]}


def chat_page(conn: psycopg.Connection, team_id: str, *, before: str | None = None,
              limit: int = 50) -> dict[str, Any]:
    """The newest `limit` messages older than message id `before`, oldest first; ids are ULIDs (time-ordered)."""
    page, has_more = chat.page(conn, team_id, before=before, limit=limit)
    return {"messages": page, "has_more": has_more, "before": page[0]["id"] if page else None}


# ------------------------------------------------------------------------------------------------------ inbox


def send(conn: psycopg.Connection, actor: Actor, to: str, content: str, *, ask: bool = False) -> dict[str, Any]:
    """A message to a teammate; it reaches the recipient's next run. `ask`: it wants an answer, so an idle
    recipient is woken — one run, however many such messages arrive before it starts."""
    assert actor.team_id is not None and actor.agent_id is not None
    recipient = agents.resolve(conn, actor.team_id, to)
    box = Outbox()
    row = notify(conn, actor, recipient, content, box, wants_reply=ask)
    woken = _wake_to_answer(conn, recipient, box) if ask else None
    box.flush(conn)
    return {**row, "to_name": recipient["name"], "woke_run_id": woken}


def _wake_to_answer(conn: psycopg.Connection, recipient: dict[str, Any], box: Outbox) -> str | None:
    """A run for the recipient to read and answer its messages, unless one is queued already (it will get them)
    or the recipient was stopped by the user."""
    if recipient["status"] in ("stopped", "archived") or runs.queued_of_agent(conn, recipient["id"]):
        return None
    agent_status.mark_queued(conn, recipient, box, revive=False)
    box.flush(conn)
    run = runs.enqueue_run(conn, team_id=recipient["team_id"], agent_id=recipient["id"], reason="message",
                           prompt="[MESSAGES] A teammate asked you something: answer with `gamma-agent msg send "
                                  "NAME ...` (their messages are below), then end your turn.")
    return run["id"]


def messages_for_run(conn: psycopg.Connection, run: dict[str, Any]) -> str:
    """The prompt section that hands the run its messages (each unread one goes to exactly one run), and a
    `message.delivered` event for those delivered now."""
    rows, fresh = inbox.take_for_run(conn, run["agent_id"], run["id"])
    if not rows:
        return ""
    names = agents.names(conn, {r["from_agent"] for r in rows if r["from_agent"]})
    if fresh:
        box = Outbox()
        box.add("message.delivered", run["team_id"], {"message_ids": fresh, "count": len(fresh)},
                agent_id=run["agent_id"], task_id=run.get("task_id"), run_id=run["id"])
        box.flush(conn)
    lines = ["", "[MESSAGES] Messages for you from your teammates (each is shown to you once; "
                 "answer with `gamma-agent msg send NAME ...`):"]
    for r in rows:
        sender = names.get(r["from_agent"], "Gamma")
        asks = " (asks for an answer)" if r["wants_reply"] else ""
        lines.append(f"- from {sender}{asks} at {r['created_at']:%H:%M:%S}: {r['content']}")
    return "\n".join(lines)


def broadcast(conn: psycopg.Connection, actor: Actor, content: str) -> dict[str, Any]:
    if not actor.is_lead:
        raise Forbidden("only the team lead can broadcast; message a teammate with `gamma-agent msg send`")
    assert actor.team_id is not None
    recipients = agents.teammates_of(conn, actor.team_id, actor.agent_id)
    rows = [inbox.deliver(conn, r["team_id"], actor.agent_id, r["id"], content) for r in recipients]
    box = Outbox()
    box.add("message.broadcast", actor.team_id, {
        "from": actor.name, "from_agent_id": actor.agent_id, "recipients": [r["name"] for r in recipients],
        "message_ids": [r["id"] for r in rows], "content": content, "preview": preview(content, 100)},
        agent_id=actor.agent_id, run_id=actor.run_id)
    box.flush(conn)
    return {"recipient_count": len(rows), "recipients": [r["name"] for r in recipients],
            "message_ids": [r["id"] for r in rows]}


def notify(conn: psycopg.Connection, actor: Actor, recipient: dict[str, Any], content: str,
           outbox: Outbox, *, wants_reply: bool = False) -> dict[str, Any]:
    """An inbox message (from an agent, or composed by Gamma: review requests, blockers) with `message.sent`."""
    row = inbox.deliver(conn, recipient["team_id"], actor.agent_id, recipient["id"], content,
                        wants_reply=wants_reply)
    outbox.add("message.sent", recipient["team_id"], {
        "id": row["id"], "from": actor.name, "from_agent_id": actor.agent_id, "to": recipient["name"],
        "to_agent_id": recipient["id"], "content": content, "preview": preview(content, 100)},
        agent_id=actor.agent_id, run_id=actor.run_id)
    return row


def read_inbox(conn: psycopg.Connection, agent_id: str, *, limit: int = 50) -> dict[str, Any]:
    """The oldest unread messages, marked read — only those returned. `remaining` says how many are left."""
    if not is_id(agent_id, "agent"):
        raise NotFound(f"agent {agent_id!r} not found")
    rows = inbox.take_unread(conn, agent_id, limit)
    names = agents.names(conn, {r["from_agent"] for r in rows if r["from_agent"]})
    messages = [{"id": r["id"], "from": names.get(r["from_agent"], "system"), "from_agent_id": r["from_agent"],
                 "content": r["content"], "created_at": r["created_at"]} for r in rows]
    return {"messages": messages, "count": len(messages), "remaining": inbox.unread_count(conn, agent_id)}


def unread_count(conn: psycopg.Connection, agent_id: str) -> int:
    return inbox.unread_count(conn, agent_id)
