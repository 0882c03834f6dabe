"""Chat and inboxes: the user's message queues a lead run at once; inbox reads never lose a message."""

from __future__ import annotations

import threading

import pytest

from orchestrator.domain import Actor, Forbidden, NotFound
from orchestrator.workflows import conversation as messages
from shared import db
from tests.support.crew import event_kinds, make_crew, queued, row

pytest_plugins = ("tests.support.orchestrator",)


def as_agent(agent, run_id=None) -> Actor:
    return Actor(team_id=agent["team_id"], agent_id=agent["id"], name=agent["name"], is_lead=agent["is_lead"],
                 run_id=run_id)


def send(crew, frm, to, text):
    with db.transaction() as conn:
        return messages.send(conn, as_agent(frm), to, text)


def read(agent, limit=50):
    with db.transaction() as conn:
        return messages.read_inbox(conn, agent["id"], limit=limit)


def test_a_user_message_is_stored_and_queues_a_lead_run(crew):
    with db.transaction() as conn:
        posted = messages.post_user_message(conn, crew.team_id, "Make me a website")
    (run,) = queued(crew.lead["id"])
    assert posted["run_id"] == run["id"] and run["reason"] == "chat" and run["prompt"] == "Make me a website"
    assert posted["message"]["role"] == "user" and posted["message"]["run_id"] == run["id"]
    assert row("agents", crew.lead["id"])["status"] == "queued"
    assert {"run.queued", "agent.status", "chat.message"} <= set(event_kinds(crew.team_id))
    with db.transaction() as conn:  # a second message does not get a 409: it waits its turn
        messages.post_user_message(conn, crew.team_id, "And a logo")
    assert len(queued(crew.lead["id"])) == 2


def test_chat_pages_by_id_without_skipping_rows(crew):
    with db.transaction() as conn:
        for i in range(7):
            messages.post_user_message(conn, crew.team_id, f"m{i}")
        first = messages.chat_page(conn, crew.team_id, limit=3)
        second = messages.chat_page(conn, crew.team_id, before=first["before"], limit=3)
        third = messages.chat_page(conn, crew.team_id, before=second["before"], limit=3)
    assert [m["content"] for m in first["messages"]] == ["m4", "m5", "m6"] and first["has_more"]
    assert [m["content"] for m in second["messages"]] == ["m1", "m2", "m3"] and second["has_more"]
    assert [m["content"] for m in third["messages"]] == ["m0"] and not third["has_more"]


def test_inbox_reads_return_each_message_once_and_lose_none(crew):
    for i in range(5):
        send(crew, crew.lead, "alice", f"note {i}")
    page = read(crew.alice, limit=2)
    assert [m["content"] for m in page["messages"]] == ["note 0", "note 1"]
    assert page["remaining"] == 3 and page["messages"][0]["from"] == "Lead"
    assert [m["content"] for m in read(crew.alice, limit=2)["messages"]] == ["note 2", "note 3"]
    rest = read(crew.alice)
    assert [m["content"] for m in rest["messages"]] == ["note 4"] and rest["remaining"] == 0
    assert read(crew.alice)["messages"] == []


def test_concurrent_readers_split_the_inbox_without_duplicates(crew):
    for i in range(40):
        send(crew, crew.bob, "Alice", f"n{i}")
    seen: list[str] = []
    lock = threading.Lock()

    def reader():
        while True:
            got = read(crew.alice, limit=3)["messages"]
            if not got:
                return
            with lock:
                seen.extend(m["content"] for m in got)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(seen) == sorted(f"n{i}" for i in range(40))


def test_messages_stay_inside_the_team(crew):
    other = make_crew("Other")
    with pytest.raises(NotFound, match="no teammate named 'Mallory'"):
        send(crew, crew.alice, "Mallory", "hi")
    with pytest.raises(Forbidden, match="not in this team"):
        send(crew, crew.alice, other.bob["id"], "hi")
    sent = send(crew, crew.alice, "BOB", "case does not matter, exactness does")
    assert sent["to_agent"] == crew.bob["id"]
    assert "message.sent" in event_kinds(crew.team_id)


def test_only_the_lead_broadcasts_and_not_to_itself(crew):
    with pytest.raises(Forbidden, match="only the team lead"), db.transaction() as conn:
        messages.broadcast(conn, as_agent(crew.alice), "hello all")
    with db.transaction() as conn:
        result = messages.broadcast(conn, as_agent(crew.lead), "standup in 5")
    assert result["recipients"] == ["Alice", "Bob"]
    assert [m["content"] for m in read(crew.bob)["messages"]] == ["standup in 5"]
    assert read(crew.lead)["messages"] == []
