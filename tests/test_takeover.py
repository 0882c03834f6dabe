"""One live attempt per run, always — with the production lease (30 s) and reaper interval (5 s), the real CLI and
the model double. Three ways a worker can stop looking after its run, side by side:

- SIGKILL: the worker process dies;
- SIGSTOP: the worker process freezes (its agent processes do not);
- partition: the worker loses the database (its sessions are cut and it cannot log in again).

In each case the run is resumed by another worker, and a sampler watching every agent process of the three runs
never sees two attempts of one run alive at the same moment.
"""

from __future__ import annotations

import secrets
import signal
import time

import psutil
import psycopg
import pytest

from tests.support.attempts import Sampler
from tests.support.stack import Stack, agent_processes
from tests.support.workers import OTHER_HOST

pytestmark = pytest.mark.slow
pytest_plugins = ("tests.support.stack_fixtures",)

PRODUCTION = {"GAMMA_LEASE_SECONDS": "30", "GAMMA_REAPER_INTERVAL": "5", "GAMMA_KILL_GRACE": "5",
              "GAMMA_RESULT_GRACE": "5"}


def _running(stack: Stack, team_id: str, what: str) -> dict:
    run_id = stack.say(team_id, f"[[brain:slow seconds=600]] {what}")
    return stack.wait_run(run_id, lambda r: r["state"] == "running" and r["pid"] and r["session_id"], timeout=90)


def _dramatiq_child(worker_id: str) -> psutil.Process:
    """The process that registered as `worker_id` (host:pid:suffix): the one running the run's thread."""
    return psutil.Process(int(worker_id.split(":")[1]))


@pytest.fixture
def partition_role(stack: Stack):
    """A login role for one worker, so that this worker alone can be cut off from the database."""
    role = f"gamma_partition_{secrets.token_hex(3)}"
    with stack.connect() as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN SUPERUSER')
    yield role
    with stack.connect() as conn:
        conn.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_killed_frozen_and_partitioned_workers_never_leave_two_live_attempts(stack: Stack, partition_role: str):
    teams = {name: stack.create_team()["id"] for name in ("killed", "frozen", "partitioned")}
    cut_off_url = psycopg.conninfo.make_conninfo(stack.database_url, user=partition_role)
    runs: dict[str, dict] = {}
    frozen_child: psutil.Process | None = None
    # One thread each: a doomed worker takes exactly the run queued while it is the only one with a free thread.
    with stack.worker(PRODUCTION, threads=1) as killed:
        runs["killed"] = _running(stack, teams["killed"], "die with your worker")
        with stack.worker(PRODUCTION, threads=1):
            runs["frozen"] = _running(stack, teams["frozen"], "freeze with your worker")
            with stack.worker({**PRODUCTION, "DATABASE_URL": cut_off_url}, threads=1):
                runs["partitioned"] = _running(stack, teams["partitioned"], "lose your database")
                sampler = Sampler([r["id"] for r in runs.values()])
                sampler.start()
                try:
                    # The rescuer, as on another host: it cannot see (or sweep) the doomed workers' processes, so
                    # only their supervisors can end them; it stays idle until its reaper gives it the runs.
                    with stack.worker(PRODUCTION, wrap=OTHER_HOST):
                        killed_child = _dramatiq_child(runs["killed"]["owner"])
                        frozen_child = _dramatiq_child(runs["frozen"]["owner"])
                        killed.signal_group(signal.SIGKILL)
                        frozen_child.send_signal(signal.SIGSTOP)
                        with stack.connect() as conn:
                            conn.execute(f'ALTER ROLE "{partition_role}" NOLOGIN')
                            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                         " WHERE usename = %s", (partition_role,))
                        resumed = {name: stack.wait_run(run["id"], lambda r, a=run["attempt"]: (
                            r["attempt"] > a and r["state"] == "running" and r["pid"]), timeout=150)
                            for name, run in runs.items()}
                        sampled_at_resume = sampler.samples
                        time.sleep(2)  # a window, not a wait: the new attempts run on while the sampler watches
                        for name, run in resumed.items():
                            assert run["owner"] != runs[name]["owner"], name
                            assert set(agent_processes(run["id"]).values()) == {run["attempt"]}, name
                        assert not killed_child.is_running()
                        frozen_child.send_signal(signal.SIGCONT)  # it wakes up to find its attempt gone
                        time.sleep(3)  # an observation window, not a wait: nothing may restart in it
                        assert set(agent_processes(resumed["frozen"]["id"]).values()) == {
                            resumed["frozen"]["attempt"]}, "the thawed worker restarted nothing"
                        for run in resumed.values():
                            stack.api("POST", f"/api/runs/{run['id']}/cancel")
                        for run in resumed.values():
                            stack.wait_run(run["id"])
                finally:
                    if frozen_child is not None and frozen_child.is_running():
                        frozen_child.send_signal(signal.SIGCONT)
                    sampler.stop()
    # It watched throughout: from before the kill (it saw the old attempts) through the take-over (it saw the new
    # ones) and on while both windows ran — however slowly a loaded machine lets it sample.
    assert sampled_at_resume > 0 and sampler.samples > sampled_at_resume, "the sampler watched throughout"
    assert sampler.overlaps == [], f"two attempts of one run alive at once: {sampler.overlaps[:5]}"
    for name, run in runs.items():
        assert sampler.seen[run["id"]] >= {run["attempt"], run["attempt"] + 1}, (name, sampler.seen[run["id"]])
    with stack.connect() as conn:
        final = conn.execute("SELECT id, state, lost_attempts FROM runs WHERE id = ANY(%s)",
                             ([r["id"] for r in runs.values()],)).fetchall()
    assert all(r["state"] == "cancelled" and r["lost_attempts"] == 1 for r in final), final
