"""Recovery end to end (real workers, real CLI, model double): usage limit, timeout, a SIGKILLed worker, a worker
stopped with SIGTERM, and dropped database connections. No long-lived worker here: each test starts its own, so
it knows which worker holds the run.
"""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path

import psutil
import pytest

from tests.support.polling import eventually, wait_for
from tests.support.stack import Stack, agent_processes, wait_gone

pytestmark = [pytest.mark.slow, pytest.mark.cli]
pytest_plugins = ("tests.support.stack_fixtures",)
REPO = Path(__file__).resolve().parent.parent


def cancel(stack: Stack, run_id: str) -> None:
    stack.api("POST", f"/api/runs/{run_id}/cancel")
    stack.wait_run(run_id)


def test_usage_limit_requeues_the_run_after_the_reset(stack: Stack):
    with stack.worker({"ANTHROPIC_API_KEY": "", "CLAUDE_CODE_OAUTH_TOKEN": "double-oauth-token"}):
        team = stack.create_team()
        run_id = stack.say(team["id"], "[[brain:usage_limit reset_in=4]] do work")
        run = stack.wait_run(run_id, lambda r: r["outcome"] == "usage_limit")
        assert run["state"] == "queued" and run["not_before"] is not None
        # It waits for the reset: a time after it was re-queued (the reset may pass before this test looks: a slow
        # run can even end after it, and then waits a few seconds, not the hour of an unknown reset).
        assert run["updated_at"] < run["not_before"] < run["updated_at"] + timedelta(minutes=2)
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


def test_timeout_stops_a_codex_run_and_its_command(stack: Stack):
    with stack.worker({"GAMMA_RUN_TIMEOUT": "6"}):
        team = stack.create_team(backend="codex")
        run_id = stack.say(team["id"], "[[brain:slow seconds=600]] too slow")
        run = stack.wait_run(run_id, timeout=60)
        assert (run["state"], run["outcome"], run["backend"]) == ("timed_out", "timeout", "codex")
        wait_gone(run_id, timeout=10)


def test_a_sigkilled_worker_run_is_resumed_on_another_attempt(stack: Stack):
    team = stack.create_team()
    with stack.worker() as doomed:
        run_id = stack.say(team["id"], "[[brain:slow seconds=600]] survive a crash")
        first = stack.wait_run(run_id, lambda r: r["state"] == "running" and r["session_id"] is not None)
        wait_for(lambda: agent_processes(run_id), what="the run's CLI")
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
            print(f"a SIGKILLed worker's run resumed on attempt {second['attempt']} after {resumed_in:.1f} s")

            def only_the_new_attempt() -> None:
                assert set(agent_processes(run_id).values()) == {second["attempt"]}, "no process of the dead attempt"

            eventually(only_the_new_attempt, what="only the new attempt's processes")
            cancel(stack, run_id)


def _spares_of(worker_pid: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["ppid", "cmdline"]):
        if process.info["ppid"] == worker_pid and "--spare" in (process.info["cmdline"] or []):
            found.append(process)
    return found


def _worker_process(launcher_pid: int) -> int:
    (worker,) = [child.pid for child in psutil.Process(launcher_pid).children()
                 if "workers.main" in " ".join(child.cmdline())]
    return worker


def test_a_busy_worker_starts_runs_in_spare_supervisors_and_its_death_takes_them_along(stack: Stack):
    first_team, second_team = stack.create_team(), stack.create_team()
    with stack.worker() as doomed:
        worker = _worker_process(doomed.pid)
        assert _spares_of(worker) == []  # an idle worker holds none
        first = stack.say(first_team["id"], "[[brain:slow seconds=600]] the first run starts as before")
        stack.wait_run(first, lambda r: r["state"] == "running" and r["pid"])
        wait_for(lambda: len(_spares_of(worker)) == 2, what="two spares, once runs come")
        waiting = {spare.pid for spare in _spares_of(worker)}
        second = stack.say(second_team["id"], "[[brain:slow seconds=600]] the second one takes a spare")
        run = stack.wait_run(second, lambda r: r["state"] == "running" and r["pid"])
        assert run["pid"] in waiting and "--spare" in psutil.Process(run["pid"]).cmdline()
        wait_for(lambda: agent_processes(second), what="its CLI")
        # (its supervisor keeps the command line it started with)
        wait_for(lambda: len({spare.pid for spare in _spares_of(worker)} - {run["pid"]}) == 2,
                 what="a replacement spare")
        left = {spare.pid for spare in _spares_of(worker)} - {run["pid"]}
        doomed.signal_group(signal.SIGKILL)
        # The spares see their order pipes close and exit; the runs' supervisors end their CLIs (no heartbeat).
        wait_for(lambda: not [pid for pid in left if psutil.pid_exists(pid)
                              and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE],
                 timeout=60, what="the dead worker's spares to exit")
        wait_gone(first, timeout=60)
        wait_gone(second, timeout=60)


def test_a_worker_stopped_with_sigterm_hands_its_run_back_and_leaves_no_process(stack: Stack):
    team = stack.create_team()
    with stack.worker() as leaving:
        run_id = stack.say(team["id"], "[[brain:slow seconds=600]] hand me back")
        first = stack.wait_run(run_id, lambda r: r["state"] == "running" and r["pid"])
        wait_for(lambda: agent_processes(run_id), what="the run's CLI")
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
        wait_for(lambda: agent_processes(run_id), what="the run's CLI")
        with stack.connect() as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND (application_name LIKE 'gamma:%%' OR application_name LIKE 'gamma-%%'"
                "      OR application_name = 'dramatiq-pg')"
            ).fetchone()["n"]
        assert killed > 0
        watch_until = time.monotonic() + 20  # an observation window, not a wait: it must hold all along
        while time.monotonic() < watch_until:
            attempts = set(agent_processes(run_id).values())
            assert len(attempts) <= 1, f"two attempts alive at once: {attempts}"
            time.sleep(0.1)
        after = stack.run(run_id)
        assert after["state"] == "running" and after["attempt"] == run["attempt"], "the lease survived"
        cancel(stack, run_id)


def _fake_cli(tmp_path, body: str) -> str:
    script = tmp_path / "fake-claude"
    script.write_text(f'#!/bin/sh\n[ "$1" = --version ] && {{ echo "2.1.197 (Claude Code)"; exit 0; }}\n{body}\n')
    script.chmod(0o755)
    return str(script)


def test_a_cli_that_lingers_after_its_result_is_reaped(stack: Stack, tmp_path):
    sample = REPO / "tests" / "fixtures" / "claude-stream-json" / "01-simple-success.stdout.jsonl"
    lingering = _fake_cli(tmp_path, f'cat > /dev/null; cat "{sample}"; exec sleep 600')
    with stack.worker({"GAMMA_CLAUDE_BIN": lingering, "GAMMA_RESULT_GRACE": "1"}):
        team = stack.create_team()
        run = stack.wait_run(stack.say(team["id"], "print a result, then hang"), timeout=60)
        assert (run["state"], run["outcome"]) == ("succeeded", "success")
        assert agent_processes(run["id"]) == {}


def test_raw_nul_and_invalid_utf8_on_the_clis_stdout_and_stderr_are_stored_escaped(stack: Stack, tmp_path):
    sample = REPO / "tests" / "fixtures" / "claude-stream-json" / "01-simple-success.stdout.jsonl"
    cli = _fake_cli(tmp_path, "cat > /dev/null\nprintf 'raw\\000nul \\377 end\\n'\n"
                              f"printf 'err\\000 \\376\\n' >&2\ncat \"{sample}\"")
    with stack.worker({"GAMMA_CLAUDE_BIN": cli}):
        team = stack.create_team()
        run = stack.wait_run(stack.say(team["id"], "print binary, then a result"))
        assert (run["state"], run["outcome"]) == ("succeeded", "success"), run["error"]
        stdout = stack.api("GET", f"/api/runs/{run['id']}/lines").json()["lines"]
        stderr = stack.api("GET", f"/api/runs/{run['id']}/lines", params={"stream": "stderr"}).json()["lines"]
        assert stdout[0]["line"] == "raw\\u0000nul \\xff end"
        assert stderr[0]["line"] == "err\\u0000 \\xfe"
        raw = next(e for e in stack.events(team["id"], run_id=run["id"]) if e["kind"] == "agent.raw")
        assert raw["payload"]["data"]["text"] == "raw\\u0000nul \\xff end"
        assert stack.events(team["id"], run_id=run["id"])[-1]["kind"] == "run.finished"


def test_a_missing_cli_fails_the_run_saying_so(stack: Stack):
    with stack.worker({"GAMMA_CLAUDE_BIN": "/nonexistent/claude"}):
        team = stack.create_team()
        run = stack.wait_run(stack.say(team["id"], "anyone there?"), timeout=60)
        assert (run["state"], run["outcome"]) == ("failed", "cli_not_found")
        assert "/nonexistent/claude" in run["error"]


def test_a_worker_that_loses_its_lease_kills_its_own_cli(stack: Stack):
    team = stack.create_team()
    with stack.worker():
        run_id = stack.say(team["id"], "[[brain:slow seconds=600]] about to be taken over")
        run = stack.wait_run(run_id, lambda r: r["state"] == "running" and r["pid"])
        wait_for(lambda: agent_processes(run_id), what="the run's CLI")
        with stack.connect() as conn:  # as if another worker had taken the run over with a newer attempt
            conn.execute("UPDATE runs SET attempt = attempt + 1 WHERE id = %s", (run_id,))
        gone_after = wait_gone(run_id, timeout=60)  # by design within a renewal period (lease/3) plus the grace
        print(f"the stale attempt's CLI was gone after {gone_after:.1f} s")
        after = stack.run(run_id)
        assert after["state"] == "running" and after["attempt"] == run["attempt"] + 1, \
            "the stale attempt wrote nothing: the run belongs to the newer attempt"
        with stack.connect() as conn:
            conn.execute("UPDATE runs SET state = 'cancelled', outcome = 'cancelled', owner = NULL, lease_until = NULL"
                         " WHERE id = %s", (run_id,))


def test_a_slow_launch_keeps_its_lease(stack: Stack, tmp_path):
    sample = REPO / "tests" / "fixtures" / "claude-stream-json" / "01-simple-success.stdout.jsonl"
    slow_to_answer = tmp_path / "slow-claude"
    slow_to_answer.write_text(  # its --version takes longer than the 6 s lease the test workers use
        f'#!/bin/sh\n[ "$1" = --version ] && {{ sleep 9; echo "2.1.197 (Claude Code)"; exit 0; }}\n'
        f'cat > /dev/null; cat "{sample}"\n')
    slow_to_answer.chmod(0o755)
    with stack.worker({"GAMMA_CLAUDE_BIN": str(slow_to_answer)}):
        team = stack.create_team()
        run = stack.wait_run(stack.say(team["id"], "take your time starting"), timeout=90)
        assert (run["state"], run["outcome"], run["attempt"]) == ("succeeded", "success", 1)


def test_a_cancel_at_claim_time_is_never_lost(stack: Stack, tmp_path):
    """Cancels sent right around the moment a worker claims the run (many times, at varied delays). The lease is
    long, so a cancel the worker missed would only be noticed at a renewal minutes later: each must stop its run
    at once instead."""
    sleeper = _fake_cli(tmp_path, "cat > /dev/null\nexec sleep 600")
    with stack.worker({"GAMMA_CLAUDE_BIN": sleeper, "GAMMA_LEASE_SECONDS": "900"}, threads=2):
        team = stack.create_team()
        took = []
        for index in range(20):
            run_id = stack.say(team["id"], f"cancel me {index}")
            time.sleep((index % 10) * 0.03)  # 0 … 270 ms: before, during and after the claim
            sent = time.monotonic()
            response = stack.api("POST", f"/api/runs/{run_id}/cancel")
            assert response.status_code in (200, 409), response.text  # 409: it had not even been queued long
            run = stack.wait_run(run_id, timeout=30)
            took.append(time.monotonic() - sent)
            assert run["state"] == "cancelled", run
            wait_gone(run_id, timeout=30)
        print(f"cancel → run ended: median {sorted(took)[len(took) // 2]:.2f} s, max {max(took):.2f} s")
