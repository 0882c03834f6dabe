"""The event hub in-process against the real database (no web server): fan-out rules and bounds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from shared import db, events
from shared.events import NewEvent
from tests.support import factories
from tests.support.polling import wait_for
from web.hub import CLOSE_OVERFLOW, CLOSE_RESTART, Hub, HubClosed, Subscriber


@pytest.fixture
def hub(database_url: str) -> Iterator[Hub]:
    hub = Hub(max_pending=50)
    assert hub.wait_ready(30)
    yield hub
    hub.shutdown()


def emit(team_id: str, n: int) -> None:
    events.emit([NewEvent("test.line", team_id, {"n": i}) for i in range(n)])


def drain(sub: Subscriber, until: int, timeout: float = 30.0) -> list[int]:
    """The seqs `sub` receives until one reaches `until`."""
    seqs: list[int] = []

    def reached() -> bool:
        items, _ = sub.take(0.2)  # waits for something: no sleep needed between polls
        seqs.extend(seq for _, seq, _ in items)
        return bool(seqs) and seqs[-1] >= until

    wait_for(reached, timeout=timeout, interval=0, what=lambda: f"cursor {until} (got {seqs})")
    return seqs


class GatedConnection:
    """The hub's LISTEN connection with a gate in front of its notifications.

    While the gate is shut the hub thread parks before it reads the next NOTIFY, so a test can commit events
    (their NOTIFYs queue on the connection, unread) and subscribe before the hub sees them.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._open = threading.Event()
        self._open.set()
        self._parked = threading.Event()

    def __enter__(self) -> GatedConnection:
        self._conn.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._conn.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def notifies(self, **kwargs: Any) -> Any:
        if not self._open.is_set():
            self._parked.set()
            self._open.wait()
        return self._conn.notifies(**kwargs)

    def pause(self) -> None:
        """Shut the gate and wait until the hub thread is parked at it."""
        self._parked.clear()
        self._open.clear()
        assert self._parked.wait(30), "the hub thread never came back for notifications"

    def resume(self) -> None:
        self._open.set()


@pytest.fixture
def gated_hub(database_url: str) -> Iterator[tuple[Hub, list[GatedConnection]]]:
    connections: list[GatedConnection] = []

    def connect() -> GatedConnection:
        connections.append(GatedConnection(db.connect(autocommit=True)))
        return connections[-1]

    hub = Hub(connect=connect)  # type: ignore[arg-type]  # duck-typed: the hub uses execute/info/notifies
    assert hub.wait_ready(30)
    yield hub, connections
    for gate in connections:
        gate.resume()
    hub.shutdown()


def test_a_live_subscriber_gets_what_follows_its_head_and_unwatched_teams_are_not_read(hub, team):
    other = factories.create_team("unwatched")
    emit(team["id"], 3)
    sub = hub.subscribe(team["id"], after=0)
    head = hub.go_live(sub)
    assert head in (0, 3)  # 3 once the hub has seen the NOTIFY; the stream replays up to it either way
    emit(other["id"], 10)
    emit(team["id"], 2)
    assert [s for s in drain(sub, 5) if s > head] == list(range(head + 1, 6))
    assert hub.stats()["fetched_events"] <= 5  # the other team's 10 events were never read


def test_a_subscriber_that_falls_max_pending_behind_is_closed_with_1013(hub, team):
    sub = hub.subscribe(team["id"], after=0)
    hub.go_live(sub)
    emit(team["id"], 60)  # one page larger than the bound is still accepted: the bound is checked before adding
    wait_for(lambda: sub.pending() >= 60 or sub.close_code, what="60 events queued")
    assert sub.close_code is None and sub.pending() == 60
    emit(team["id"], 1)  # arrives while 60 ≥ 50 are still undelivered
    wait_for(lambda: sub.close_code, what="the subscriber closed")
    assert sub.close_code == CLOSE_OVERFLOW
    assert sub.take(0) == ([], CLOSE_OVERFLOW)  # nothing kept for it
    assert hub.stats()["subscribers"] == 0 and hub.stats()["overflows"] == 1


def test_shutdown_closes_subscribers_with_1012_and_refuses_new_ones(hub, team):
    team_sub = hub.subscribe(team["id"], after=0)
    global_sub = hub.subscribe_global()
    hub.shutdown()
    assert team_sub.take(0)[1] == CLOSE_RESTART and global_sub.take(0)[1] == CLOSE_RESTART
    with pytest.raises(HubClosed):
        hub.subscribe(team["id"], after=0)
    with pytest.raises(HubClosed):
        hub.subscribe_global()


def test_a_global_subscriber_gets_what_commits_after_it_joined_once_in_order_and_nothing_from_before(gated_hub, team):
    """The global stream's promise (web.hub): nothing committed before the join, everything after, in order, once.

    The hub is held before it reads the NOTIFYs of two events that committed before the join, the very race
    that made test_streams' global-stream test flaky: once released it must not hand those two over.
    """
    hub, connections = gated_hub
    other = factories.create_team("other")
    emit(other["id"], 1)
    gate = connections[-1]
    gate.pause()
    emit(team["id"], 2)
    emit(other["id"], 2)
    sub = hub.subscribe_global()
    gate.resume()
    emit(team["id"], 3)
    emit(other["id"], 1)
    late = factories.create_team("created after the join")
    emit(late["id"], 2)
    last = {team["id"]: 5, other["id"]: 4, late["id"]: 2}
    seen: dict[str, list[int]] = {team_id: [] for team_id in last}

    def all_arrived() -> bool:
        items, _ = sub.take(0.2)
        for team_id, seq, _ in items:
            if team_id in seen:
                seen[team_id].append(seq)
        return all(seqs and seqs[-1] >= last[team_id] for team_id, seqs in seen.items())

    wait_for(all_arrived, interval=0, what=lambda: f"each team's last cursor (seen {seen})")
    assert seen == {team["id"]: [3, 4, 5], other["id"]: [4], late["id"]: [1, 2]}
