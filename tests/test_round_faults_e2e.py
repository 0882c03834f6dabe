"""Rounds under faults, with the real CLI and the model double (issue 10, point 11): stopping everything during a
round whose runs are spread over two worker processes, and killing the web and the workers mid-round.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import git
from tests.support import polling
from tests.support.round_checks import overlapping_runs, wakes_per_round
from tests.support.stack import Stack, agent_processes, orphans_of_ended_runs, running_stack
from tests.support.workers import FAST_RECOVERY

pytestmark = [pytest.mark.slow, pytest.mark.cli]

FRONTEND = "engineering/frontend-engineer"


@pytest.fixture
def own_stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A stack per test (these tests stop everything or kill the web); no agent process may outlive its run."""
    with running_stack(database_url, tmp_path) as running:
        yield running
        orphans = orphans_of_ended_runs(running)
        assert not orphans, f"agent processes outlived their runs: {orphans}"


def wait_for(check, what: str, timeout: float = 240, interval: float = 0.2):
    return polling.wait_for(check, timeout=timeout, interval=interval, what=what)


def team_runs(stack: Stack, team_id: str) -> list[dict]:
    with stack.connect() as conn:
        return conn.execute("SELECT * FROM runs WHERE team_id = %s ORDER BY created_at, id", (team_id,)).fetchall()


def db_now(stack: Stack):
    with stack.connect() as conn:
        return conn.execute("SELECT now() AS t").fetchone()["t"]


def test_stop_everything_during_a_round_on_two_workers_leaves_no_cli_and_starts_nothing(own_stack: Stack):
    stack = own_stack
    team = stack.create_team(members=[{"name": "Ann", "role_id": FRONTEND}, {"name": "Ben", "role_id": FRONTEND}])
    team_id = team["id"]
    # One run at a time per worker process: the members' two runs can only be live on two different processes.
    with stack.worker(threads=1), stack.worker(threads=1):
        stack.wait_run(stack.say(team_id, "[[brain:lead members=Ann,Ben member_brain='slow seconds=600']] Go"))
        extra = stack.api("POST", f"/api/teams/{team_id}/tasks",
                          json={"title": "Later", "assignee": "Ann", "description": "[[brain:member]]"})
        assert extra.status_code == 201, extra.text

        def both_working():
            running = [r for r in team_runs(stack, team_id) if r["reason"] == "task" and r["state"] == "running"]
            return running if len(running) == 2 and all(len(agent_processes(r["id"])) >= 2 for r in running) else None

        working = wait_for(both_working, "both members' CLIs and their commands to run")
        started = [e for e in stack.events(team_id) if e["kind"] == "run.started"
                   and e["run_id"] in {r["id"] for r in working}]
        assert len({e["payload"]["worker"] for e in started}) == 2, "the two runs are on two worker processes"
        queued = [r for r in team_runs(stack, team_id) if r["state"] == "queued"]
        assert [r["task_id"] for r in queued] == [extra.json()["id"]], "Ann's next task waits behind her first"

        mark = len(stack.events(team_id))
        stopping = time.monotonic()
        response = stack.api("POST", "/api/stop")
        assert response.status_code == 200, response.text
        wait_for(lambda: not any(agent_processes(r["id"]) for r in working),
                 "no process of the stopped runs to be left", timeout=30, interval=0.02)
        gone_in = time.monotonic() - stopping
        print(f"stop everything: no CLI (nor its commands) left {gone_in:.2f} s after the request")

        for run in working:  # a running run ends when its worker has stopped the CLI and says so
            stack.wait_run(run["id"], timeout=60)
        runs = team_runs(stack, team_id)
        assert {r["state"] for r in runs if r["reason"] != "chat"} == {"cancelled"}, [
            (r["reason"], r["state"]) for r in runs]
        tasks = stack.api("GET", f"/api/teams/{team_id}/tasks").json()["tasks"]
        assert {t["stage"] for t in tasks} == {"cancelled"}, "queued work is cancelled with its runs"
        members = stack.api("GET", f"/api/teams/{team_id}").json()["members"]
        assert {m["status"] for m in members} == {"stopped"}

        # Nothing starts again: wait, by the database's clock, past a whole lease and reaper cycles (what would
        # take back and restart a run that escaped the stop), while both workers keep beating.
        stopped_at = db_now(stack)
        settle = float(FAST_RECOVERY["GAMMA_LEASE_SECONDS"]) + 3 * float(FAST_RECOVERY["GAMMA_REAPER_INTERVAL"])

        def workers_beat_past_a_lease():
            with stack.connect() as conn:
                return conn.execute(
                    "SELECT count(*) AS n FROM workers WHERE stopped_at IS NULL"
                    " AND heartbeat_at > %s + make_interval(secs => %s)", (stopped_at, settle)).fetchone()["n"] >= 2

        wait_for(workers_beat_past_a_lease, "both workers to beat a lease past the stop", timeout=120)
        later = [e for e in stack.events(team_id)[mark:] if e["kind"] in ("run.started", "run.queued", "round.waking")]
        assert later == [], f"something started after the stop: {later}"
        assert not any(agent_processes(r["id"]) for r in team_runs(stack, team_id))


def test_web_and_workers_sigkilled_mid_round_recover_every_task_once_with_one_wake(own_stack: Stack):
    stack = own_stack
    team = stack.create_team(members=[{"name": "Ann", "role_id": FRONTEND}, {"name": "Ben", "role_id": FRONTEND}])
    team_id = team["id"]
    goal = "[[brain:lead members=Ann,Ben member_brain='member hold=8']] Build two parts"
    with stack.worker() as doomed:
        stack.wait_run(stack.say(team_id, goal))

        def both_mid_run():
            running = [r for r in team_runs(stack, team_id) if r["reason"] == "task" and r["state"] == "running"]
            written = [stack.home / "workspaces" / team_id / "worktrees" / r["task_id"] / f"{r['task_id']}.md"
                       for r in running]
            return running if len(running) == 2 and all(r["session_id"] for r in running) and all(
                path.exists() for path in written) else None

        interrupted = wait_for(both_mid_run, "both members to be mid-run, their files written, not committed")
        doomed.kill()
        stack.web.proc.kill()
    with stack.restart_web(), stack.worker():
        for run in interrupted:
            again = stack.wait_run(run["id"], timeout=240)
            assert again["state"] == "succeeded" and again["attempt"] >= 2, again
        wake = wait_for(lambda: [r for r in team_runs(stack, team_id) if r["reason"] == "wake"
                                 and r["state"] not in ("queued", "running")], "the lead's wake to end")
        assert [w["state"] for w in wake] == ["succeeded"]
        wait_for(lambda: not [r for r in team_runs(stack, team_id) if r["state"] in ("queued", "running")],
                 "the team to be quiet")

        tasks = stack.api("GET", f"/api/teams/{team_id}/tasks").json()["tasks"]
        assert sorted(t["assignee"]["name"] for t in tasks) == ["Ann", "Ben"], "no task duplicated"
        assert {t["stage"] for t in tasks} == {"done"}
        repo = stack.home / "workspaces" / team_id / "project"
        for t in tasks:
            assert t["result"]["summary"].startswith("Wrote "), "reported by the member on its resumed attempt"
            # what the killed attempt wrote was committed on the same branch before the resumed attempt began
            entries = git.text(repo, "log", "--format=%H%x00%an%x00%B%x1e", t["branch"]).split("\x1e")
            kept = [e.strip().split("\x00") for e in entries if "interrupted attempt" in e]
            assert len(kept) == 1, entries
            sha, author, _message = kept[0]
            assert author == t["assignee"]["name"]
            assert f"{t['id']}.md" in git.text(repo, "ls-tree", "--name-only", sha).split()
            assert f"{t['id']}.md" in git.text(repo, "ls-tree", "--name-only", "main").split(), "merged"
        members = stack.api("GET", f"/api/teams/{team_id}").json()["members"]
        assert {m["name"]: m["status"] for m in members} == {"Lead": "idle", "Ann": "idle", "Ben": "idle"}

        log = stack.events(team_id)
        assert [e["kind"] for e in log].count("task.created") == 2
        assert list(wakes_per_round(log).values()) == [1], "one wake for the round"
        messages = stack.api("GET", f"/api/teams/{team_id}/messages").json()["messages"]
        repeated = [k for k, n in Counter((m["kind"], m["content"]) for m in messages).items() if n > 1]
        assert repeated == [], "no chat message duplicated"
        with stack.connect() as conn:
            notes = conn.execute("SELECT content, count(*) AS n FROM agent_messages WHERE team_id = %s"
                                 " GROUP BY content HAVING count(*) > 1", (team_id,)).fetchall()
        assert notes == [], "no agent message duplicated"
        assert overlapping_runs(log) == []
