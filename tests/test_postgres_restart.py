"""PostgreSQL restarts with runs in flight and a browser connected: the runs finish, the browser and a stream
client miss nothing, and the web's and the worker's logs stay clean (no traceback, no "You've found a bug in
Dramatiq"). The test has a PostgreSQL server of its own, so that restarting it disturbs no other test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from shared import embedded_pg
from shared.migrate import migrate
from tests.model_double import ModelDouble
from tests.support.claude import claude_bin, cli_env
from tests.support.polling import wait_for
from tests.support.processes import start_web
from tests.support.stack import Stack
from tests.support.streams import Stream
from tests.support.ui import launch_browser, open_page, require_chromium
from tests.support.workers import start_worker

pytestmark = [pytest.mark.slow, pytest.mark.browser]
BAD_LOG_LINES = ("Traceback", "found a bug", "ERROR", "CRITICAL")


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "pg"
    server = embedded_pg.ensure_running(data)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute("CREATE DATABASE restart_test")
    url = psycopg.conninfo.make_conninfo(server, dbname="restart_test")
    migrate(url)
    try:
        yield url, data
    finally:
        embedded_pg.stop(data)


def test_a_postgres_restart_mid_run_loses_nothing_and_logs_no_error(own_database, tmp_path: Path):
    chromium = require_chromium()
    url, data = own_database
    home, config = tmp_path / "home", tmp_path / "claude-config"
    config.mkdir()
    with ModelDouble() as double, contextlib.ExitStack() as running:
        web = running.enter_context(start_web(url, extra_env={"GAMMA_HOME": str(home)}))
        env = {**cli_env(double.url, config), "GAMMA_HOME": str(home), "GAMMA_CLAUDE_BIN": claude_bin(),
               "GAMMA_API_URL": web.url, "GAMMA_LEASE_SECONDS": "30", "GAMMA_REAPER_INTERVAL": "1"}
        worker = running.enter_context(start_worker(url, env))
        stack = Stack(url, double, web, home, env)
        team = stack.create_team(members=[{"name": "Alice", "role_id": "engineering/backend-architect"}])
        browser = running.enter_context(launch_browser(chromium))
        page, page_errors = running.enter_context(open_page(browser))
        page.goto(f"{web.url}/teams/{team['id']}")
        page.wait_for_selector("#chat-input", timeout=30_000)
        stream = Stream(f"{web.ws_url}/ws/teams/{team['id']}?after=0")
        runs = [stack.say(team["id"], "[[brain:slow_stream seconds=6 interval=0.5]] talk through a restart"),
                _member_run(stack, team["id"])]
        for run_id in runs:
            stack.wait_run(run_id, lambda r: r["state"] == "running" and r["pid"])
        embedded_pg.restart(data)
        finished = [stack.wait_run(run_id, timeout=120) for run_id in runs]
        assert [(r["state"], r["attempt"]) for r in finished] == [("succeeded", 1), ("succeeded", 1)], finished

        with stack.connect() as conn:
            head = conn.execute("SELECT event_seq FROM teams WHERE id = %s", (team["id"],)).fetchone()["event_seq"]
        stream.read_until_cursor(head)
        # Events after `head` may already be streaming in (the member's task settled its round: the lead's wake run
        # starts at once), so the check covers the log up to `head`, and nothing twice anywhere.
        cursors = [e["cursor"] for e in stream.events]
        assert [c for c in cursors if c <= head] == list(range(1, head + 1)), "gap-free"
        assert len(cursors) == len(set(cursors)), "nothing twice"
        answer = next(e for e in stream.events if e["kind"] == "agent.text" and e["run_id"] == runs[0])
        page.get_by_text(answer["payload"]["text"][:40]).first.wait_for(timeout=30_000)  # the page caught up live
        stream.close()
        logs = {"web": web.proc.log_tail(10**7), "worker": worker.log_tail(10**7)}
    for name, log in logs.items():
        bad = [line for line in log.splitlines() if any(word in line for word in BAD_LOG_LINES)]
        assert bad == [], f"the {name}'s log after a PostgreSQL restart: {bad[:5]}"
    assert [e for e in page_errors if "WebSocket" not in e] == []


def _member_run(stack: Stack, team_id: str) -> str:
    """A member's task run (its result reaches the agent API and the queue acks it across the restart)."""
    response = stack.api("POST", f"/api/teams/{team_id}/tasks",
                         json={"title": "Write a note", "assignee": "Alice",
                               "description": "[[brain:slow_stream seconds=4 interval=0.5]]"})
    assert response.status_code == 201, response.text
    task_id = response.json()["id"]
    runs = wait_for(lambda: stack.api("GET", f"/api/teams/{team_id}/runs", params={"task_id": task_id}).json()["runs"],
                    interval=0.1, what="the task's run")
    return runs[0]["id"]


def test_dramatiqs_reconnect_notice_is_logged_as_a_warning():
    import logging

    from shared.logging import _TransientConnectionErrors

    record = logging.LogRecord("dramatiq.worker.ConsumerThread(gamma_runs)", logging.CRITICAL, __file__, 1,
                               "Consumer encountered a connection error: %s", ("server closed",), None)
    assert _TransientConnectionErrors().filter(record) and record.levelname == "WARNING"
    other = logging.LogRecord("dramatiq.worker", logging.CRITICAL, __file__, 1, "something else", (), None)
    assert _TransientConnectionErrors().filter(other) and other.levelname == "CRITICAL"
