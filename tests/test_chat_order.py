"""Chat order is total: the order messages were written in, whichever process wrote them — not the order of their
ULIDs, which two processes writing in the same millisecond need not agree on."""

from __future__ import annotations

import threading

from orchestrator.domain import Outbox
from orchestrator.records import chat
from orchestrator.workflows import conversation
from shared import db
from shared.ids import new_id
from tests.support.crew import make_crew


def test_a_message_written_later_with_an_earlier_ulid_still_comes_later(database_url, monkeypatch):
    crew = make_crew("Order")
    later_id, earlier_id = new_id("msg"), new_id("msg")
    assert earlier_id > later_id
    # Process B's id sorts before process A's although B writes second (clocks and random parts differ).
    ids = iter([earlier_id, later_id])
    monkeypatch.setattr(chat, "new_id", lambda prefix: next(ids))
    with db.transaction() as conn:
        conversation.add_chat(conn, crew.team_id, "user", "first", Outbox())
    with db.transaction() as conn:
        conversation.add_chat(conn, crew.team_id, "user", "second", Outbox())
    with db.transaction() as conn:
        page = conversation.chat_page(conn, crew.team_id, limit=10)
        assert [m["content"] for m in page["messages"]] == ["first", "second"]
        assert [m["id"] for m in page["messages"]] == [earlier_id, later_id]
        older = conversation.chat_page(conn, crew.team_id, before=later_id, limit=10)
        assert [m["content"] for m in older["messages"]] == ["first"]


def test_concurrent_writers_get_distinct_consecutive_numbers_in_commit_order(database_url):
    crew = make_crew("Busy")
    committed: list[int] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        for i in range(25):
            with db.transaction() as conn:
                row = conversation.add_chat(conn, crew.team_id, "notice", f"{n}-{i}", Outbox())
                seq = row["seq"]
            with lock:
                committed.append(seq)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(committed) == list(range(1, 101))
    with db.transaction() as conn:
        page = conversation.chat_page(conn, crew.team_id, limit=200)
    assert [m["seq"] for m in page["messages"]] == list(range(1, 101))
    for n in range(4):  # each writer's own messages stay in its order
        own = [m["content"] for m in page["messages"] if m["content"].startswith(f"{n}-")]
        assert own == [f"{n}-{i}" for i in range(25)]
