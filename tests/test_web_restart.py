"""Agent calls survive a web restart: members whose `gamma-agent task done` runs while the web is down keep
retrying (and say so), and no task fails. Real gunicorn (stopped and started on the same port), a real worker,
the real CLI and the model double.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
import requests

from orchestrator.workflows import delegation as tasks
from orchestrator.workflows.delegation import TaskSpec
from shared import db, process_control
from tests.model_double import ModelDouble
from tests.support.claude import claude_bin, cli_env
from tests.support.polling import wait_for
from tests.support.processes import free_port, start_web
from tests.support.stack import Stack, end_leftover_runs

pytestmark = pytest.mark.slow


def test_members_reporting_while_the_web_restarts_fail_no_task(database_url: str, tmp_path: Path):
    home, config, port = tmp_path / "home", tmp_path / "claude-config", free_port()
    config.mkdir()
    end_leftover_runs(database_url)  # its worker would run them first (tests/support/stack.py)
    with ModelDouble() as double, contextlib.ExitStack() as cleanup:
        web = cleanup.enter_context(start_web(database_url, port, {"GAMMA_HOME": str(home)}))
        worker_env = {**cli_env(double.url, config), "GAMMA_HOME": str(home), "GAMMA_CLAUDE_BIN": claude_bin(),
                      "GAMMA_API_URL": web.url}
        stack = Stack(database_url, double, web, home, worker_env)
        team = stack.create_team(members=[{"name": "Alice", "role_id": "engineering/backend-architect"},
                                          {"name": "Bob", "role_id": "engineering/frontend-engineer"}])
        web.proc.kill()  # the web goes down before the members get to report
        with stack.worker():
            with db.transaction() as conn:  # created directly, as the lead's call would (the web is down)
                created = tasks.create(conn, team["id"], [
                    TaskSpec(f"Part for {name}", assignee=name, description="[[brain:member]]")
                    for name in ("Alice", "Bob")])
            reporting = _wait(lambda: _tool_calls(stack, team["id"], "task done") >= 2, "both to try to report")
            assert reporting
            # The tool call is logged when the model asks for it; wait until both gamma-agent processes really run
            # (they find the web down at once and start retrying) — on a loaded machine the web could otherwise be
            # back before either had tried.
            _wait(lambda: len(_reporting_processes()) >= 2, "both gamma-agent processes to run")
            time.sleep(2)  # not a wait for something: the web stays down a while, they keep retrying
            restarted = cleanup.enter_context(start_web(database_url, port, {"GAMMA_HOME": str(home)}))
            assert restarted.url == web.url
            for task in created:
                settled = _wait(lambda t=task: (r := requests.get(f"{web.url}/api/tasks/{t['id']}",
                                                                   timeout=10).json())["stage"] != "in_progress"
                                and r, "the task to settle")
                assert settled["stage"] == "done", settled
                assert settled["result"]["summary"].startswith("Wrote "), "reported by the member, not auto-settled"
            # The task is done when gamma-agent's call lands; the CLI's tool result line, which carries what
            # gamma-agent printed, is streamed after gamma-agent exits: wait for it rather than read once.
            _wait(lambda: any("retrying in" in str(e["payload"]["content"]) for e in stack.events(team["id"])
                              if e["kind"] == "agent.tool_result"), "gamma-agent's output saying it was retrying")


def _reporting_processes() -> list:
    found = []
    for process in process_control.live_processes():
        with contextlib.suppress(Exception):
            line = " ".join(process.cmdline())
            if "gamma-agent" in line and " done " in f"{line} " and "task" in line:
                found.append(process)
    return found


def _tool_calls(stack: Stack, team_id: str, words: str) -> int:
    with stack.connect() as conn:
        return conn.execute(
            "SELECT count(*) AS n FROM events WHERE team_id = %s AND kind = 'agent.tool_use'"
            " AND payload->'input'->>'command' LIKE %s", (team_id, f"%{words}%")).fetchone()["n"]


def _wait(check, what: str, timeout: float = 120):
    def answered():
        try:
            return check()
        except requests.RequestException:  # the web is still coming back
            return None

    return wait_for(answered, timeout=timeout, interval=0.2, what=what)
