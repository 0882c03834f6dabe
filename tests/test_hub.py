"""The event hub in-process against the real database (no web server): fan-out rules and bounds."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from shared import events
from shared.events import NewEvent
from tests.support import factories
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
    seqs: list[int] = []
    deadline = time.monotonic() + timeout
    while (not seqs or seqs[-1] < until) and time.monotonic() < deadline:
        items, _ = sub.take(0.2)
        seqs += [seq for _, seq, _ in items]
    return seqs


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
    deadline = time.monotonic() + 30
    while sub.pending() < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sub.close_code is None and sub.pending() == 60
    emit(team["id"], 1)  # arrives while 60 ≥ 50 are still undelivered
    deadline = time.monotonic() + 30
    while sub.close_code is None and time.monotonic() < deadline:
        time.sleep(0.05)
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
