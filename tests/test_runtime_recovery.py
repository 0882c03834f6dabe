"""Recovery end to end (real workers, real CLI, model double): usage limit, timeout, a SIGKILLed worker, a worker
stopped with SIGTERM, and dropped database connections. No long-lived worker here: each test starts its own, so
it knows which worker holds the run.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.support.stack import Stack, agent_processes, orphans_of_ended_runs, running_stack, wait_gone

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def no_orphans(request):
    """Whatever a test did, no agent process of an ended run may outlive it."""
    yield
    if "stack" in request.fixturenames:
        orphans = orphans_of_ended_runs(request.getfixturevalue("stack"))
        assert not orphans, f"agent processes outlived their runs: {orphans}"


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("stack")) as running:
        yield running


def cancel(stack: Stack, run_id: str) -> None:
    stack.api("POST", f"/api/runs/{run_id}/cancel")
    stack.wait_run(run_id)


def test_usage_limit_requeues_the_run_after_the_reset(stack: Stack):
    with stack.worker({"ANTHROPIC_API_KEY": "", "CLAUDE_CODE_OAUTH_TOKEN": "double-oauth-token"}):
        team = stack.create_team()
        run_id = stack.say(team["id"], "[[brain:usage_limit reset_in=4]] do work")
        run = stack.wait_run(run_id, lambda r: r["outcome"] == "usage_limit")
        assert run["state"] == "queued" and run["not_before"] is not None
        assert run["not_before"] > datetime.now(UTC), "it waits for the reset"
        assert "limit" in run["error"].lower()
        again = stack.wait_run(run_id, lambda r: r["attempt"] >= 2, timeout=60)
        assert again["started_at"] >= run["not_before"]
        cancel(stack, run_id)


def test_timeout_stops_the_run_and_its_processes(stack: Stack):
    with stack.worker({"GAMMA_RUN_TIMEOUT": "4"}):
        team = stack.create_team()
        run_id = stack.say(team["id"], "[[brain:slow seconds=600]] too slow")
        run = stack.wait_run(run_id, timeout=60)
        assert (run["state"], run["outcome"]) == ("timed_out", "timeout")
        wait_gone(run_id, timeout=10)


def test_a_sigkilled_worker_run_is_resumed_on_another_attempt(stack: Stack):
    team = stack.create_team()
    with stack.worker() as doomed:
        run_id = stack.say(team["id"], "[[brain:slow seconds=600]] survive a crash")
        first = stack.wait_run(run_id, lambda r: r["state"] == "running" and r["session_id"] is not None)
        time.sleep(0.5)
        with stack.worker():  # idle: it must notice the dead worker's run by itself (the reaper)
            doomed.signal_group(signal.SIGKILL)
            killed_at = time.monotonic()
            second = stack.wait_run(run_id, lambda r: r["attempt"] >= 2 and r["state"] == "running" and r["pid"],
                                    timeout=90)
            resumed_in = time.monotonic() - killed_at
            history = [(e["kind"], e["payload"]) for e in stack.events(team["id"], run_id=run_id)
                       if e["kind"].startswith("run.")]
            started = [p for k, p in history if k == "run.started"]
            assert started[1]["resume_session"] == first["session_id"], history
            assert resumed_in < 60, f"resumed after {resumed_in:.1f}s"
            time.sleep(1.5)
            assert set(agent_processes(run_id).values()) == {second["attempt"]}, "no process of the dead attempt"
            cancel(stack, run_id)


def test_a_worker_stopped_with_sigterm_hands_its_run_back_and_leaves_no_process(stack: Stack):
    team = stack.create_team()
    with stack.worker() as leaving:
        run_id = stack.say(team["id"], "[[brain:slow seconds=600]] hand me back")
        first = stack.wait_run(run_id, lambda r: r["state"] == "running" and r["pid"])
        time.sleep(0.5)
        with stack.worker():
            leaving.signal_group(signal.SIGTERM)
            leaving.popen.wait(timeout=30)
            assert not [a for a in agent_processes(run_id).values() if a == first["attempt"]]
            handed = stack.wait_event(team["id"], "run.requeued", run_id=run_id)
            assert handed["payload"]["outcome"] == "interrupted"
            resumed = stack.wait_run(
                run_id, lambda r: r["attempt"] > first["attempt"] and r["state"] == "running" and r["pid"])
            assert resumed["owner"] != first["owner"]
            cancel(stack, run_id)


def test_dropped_database_connections_never_yield_two_live_cli_processes(stack: Stack):
    team = stack.create_team()
    with stack.worker(), stack.worker():
        run_id = stack.say(team["id"], "[[brain:slow seconds=600]] keep one copy")
        run = stack.wait_run(run_id, lambda r: r["state"] == "running" and r["pid"])
        time.sleep(0.5)
        with stack.connect() as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND (application_name LIKE 'gamma:%%' OR application_name LIKE 'gamma-%%'"
                "      OR application_name = 'dramatiq-pg')"
            ).fetchone()["n"]
        assert killed > 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            attempts = set(agent_processes(run_id).values())
            assert len(attempts) <= 1, f"two attempts alive at once: {attempts}"
            time.sleep(0.1)
        after = stack.run(run_id)
        assert after["state"] == "running" and after["attempt"] == run["attempt"], "the lease survived"
        cancel(stack, run_id)
