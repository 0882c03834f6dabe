"""The database out of reach is an outage, not a bug: the API answers 503 with a JSON message the client can act
on, and the log gets one warning line per request instead of a traceback."""

from __future__ import annotations

import logging

import pytest

from shared import db
from tests.support.orchestrator import app_client

UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@pytest.fixture
def unreachable_database(database_url):
    # Port 1 on loopback: connection refused at once. The pool gives up after a second instead of its default 30.
    db.set_database_url("postgresql://127.0.0.1:1/gamma?connect_timeout=1")
    db.pool().timeout = 1.0
    yield
    db.set_database_url(database_url)


TEAM, RUN = "team_01J0000000000000000000000T", "run_01J0000000000000000000000R"


@pytest.mark.parametrize("path", ["/api/teams", f"/api/teams/{TEAM}/tasks", f"/api/runs/{RUN}",
                                  f"/ws/teams/{TEAM}?after=0"])
def test_a_request_while_the_database_is_away_gets_a_503_and_no_traceback(unreachable_database, caplog, path):
    client = app_client()
    with caplog.at_level(logging.WARNING):
        response = client.get(path, headers=UPGRADE if path.startswith("/ws/") else {})
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["error"] == "unavailable"
    assert "retry" in response.get_json()["message"]
    ours = [r for r in caplog.records if r.name.startswith(("web", "orchestrator", "shared"))]
    assert [r for r in ours if r.levelno >= logging.ERROR or r.exc_info] == [], "no traceback for an outage"
