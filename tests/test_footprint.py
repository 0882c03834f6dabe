"""What an idle Gamma holds (bench/footprint.py measures it): pools that start empty, one broker connection per
queue and no delay queues, and `gamma up` / `gamma worker` that watch their processes from a lean interpreter
(no settings library, no database drivers) without a forked wrapper per process."""

from __future__ import annotations

import secrets
import signal
from pathlib import Path

import psutil
import pytest
import requests

from orchestrator.records import runs
from shared import db
from shared.run_queue import QUEUE_NAME
from tests.support import factories
from tests.support.processes import VENV_BIN, free_port, running, start_web, wait_healthy
from tests.support.workers import start_worker

# Loaded by the settings (pydantic) and the database drivers; a watcher process has no use for them.
HEAVY_LIBRARIES = ("pydantic_core", "psycopg_binary", "psycopg2")


def _heavy_libraries_mapped(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in HEAVY_LIBRARIES if name in maps]


def test_a_pool_starts_empty_and_grows_with_demand(database_url: str) -> None:
    db.set_database_url(database_url)  # a fresh pool for this process
    pool = db.pool()
    assert pool.get_stats()["pool_size"] == 0
    with pool.connection() as conn:
        conn.execute("SELECT 1")
    assert pool.get_stats()["pool_size"] == 1


def test_the_broker_has_no_delay_queue_and_one_connection_per_queue(database_url: str, conn) -> None:
    from dramatiq import Message

    from workers.broker import GammaBroker, broker_connection_params

    team = factories.create_team()
    agent = factories.create_agent(team["id"], "Lead")
    with db.transaction() as tx:
        runs.enqueue_run(tx, team_id=team["id"], agent_id=agent["id"], prompt="do it", reason="chat")
    name = f"footprint-{secrets.token_hex(4)}"
    params = {**broker_connection_params(database_url, maxconn=4), "application_name": name}
    broker = GammaBroker(url=params, results=False, middleware=[])
    broker.declare_queue(QUEUE_NAME)
    consumer = broker.consume(QUEUE_NAME, prefetch=1, timeout=100)
    try:
        assert broker.get_declared_delay_queues() == set()
        message = next(m for m in iter(lambda: next(consumer), "never") if m is not None)
        held = conn.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = %s",
                            (name,)).fetchone()["n"]
        assert held == 1, "listening and consuming share one connection"
        consumer.ack(message)
        with pytest.raises(ValueError, match="no delay queue"):
            broker.enqueue(Message(queue_name=QUEUE_NAME, actor_name="execute_run", args=("x",), kwargs={},
                                   options={}), delay=1000)
    finally:
        consumer.close()
        broker.close()


@pytest.mark.slow
def test_gamma_worker_supervises_from_a_lean_process(database_url: str) -> None:
    with start_worker(database_url) as proc:
        watcher = psutil.Process(proc.pid)
        assert "shared.launcher" in " ".join(watcher.cmdline())
        assert _heavy_libraries_mapped(proc.pid) == []
        workers = [child for child in watcher.children() if "workers.main" in " ".join(child.cmdline())]
        assert len(workers) == 1, "the worker process is the supervisor's own child: no master in between"


@pytest.mark.slow
def test_gunicorns_master_loads_nothing_of_the_app(database_url: str) -> None:
    with start_web(database_url, threads=4) as web:
        master = psutil.Process(web.proc.pid)
        assert "gunicorn" in " ".join(master.cmdline()) and master.children(), "the master, with its worker"
        assert _heavy_libraries_mapped(master.pid) == []  # its hooks import the app's modules in the worker
        # the app's worker loads its own: its database driver, not the broker's (psycopg2, dramatiq-pg's)
        web_workers = master.children()
        assert all(_heavy_libraries_mapped(child.pid) == ["pydantic_core", "psycopg_binary"] for child in web_workers)


@pytest.mark.slow
def test_gamma_up_runs_its_processes_as_its_own_children_from_a_lean_process(database_url: str,
                                                                           tmp_path: Path) -> None:
    port = free_port()
    env = {"DATABASE_URL": database_url, "GAMMA_HOME": str(tmp_path / "home"), "GAMMA_PORT": str(port),
           "GAMMA_WORKER_THREADS": "2"}
    with running([str(VENV_BIN / "gamma"), "up"], env, cwd=tmp_path) as proc:
        wait_healthy(proc, f"http://127.0.0.1:{port}/api/health", timeout=120)
        assert requests.get(f"http://127.0.0.1:{port}/api/health", timeout=10).status_code == 200
        up = psutil.Process(proc.pid)
        children = [" ".join(child.cmdline()) for child in up.children()]
        assert len(children) == 2, children  # the web and the worker: no wrapper process in between
        # the worker process itself: `gamma up` starts it again when it dies, so no supervisor sits in between
        assert any("gunicorn" in child for child in children) and any("workers.main" in child for child in children)
        assert _heavy_libraries_mapped(proc.pid) == []
        proc.popen.send_signal(signal.SIGINT)
        assert proc.popen.wait(timeout=60) == 0
