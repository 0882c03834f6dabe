"""A whole Gamma stack for end-to-end tests: model double, real gunicorn web, real Dramatiq workers.

Agents use the real pinned `claude` or `codex` CLI (per agent: `backend`) pointed at the model double; the brain
is picked by a `[[brain:NAME …]]` marker in the prompt (see tests/model_double/brains.py). Each stack has its
own CLAUDE_CONFIG_DIR and CODEX_HOME, shared by its workers.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import requests
from psycopg.rows import dict_row

from shared import process_control
from tests.model_double import ModelDouble
from tests.support.claude import claude_bin, cli_env
from tests.support.codex import codex_bin, codex_home, scratch_codex_home
from tests.support.polling import wait_for
from tests.support.processes import Proc, Web, start_web
from tests.support.workers import start_worker

TERMINAL = {"succeeded", "failed", "cancelled", "interrupted", "timed_out"}


@dataclass
class Stack:
    database_url: str
    double: ModelDouble
    web: Web
    home: Path
    worker_env: dict[str, str]

    # ------------------------------------------------------------------ processes

    def worker(
        self, extra_env: Mapping[str, str] | None = None, threads: int = 4, wrap: Sequence[str] = (),
    ) -> contextlib.AbstractContextManager[Proc]:
        return start_worker(self.database_url, {**self.worker_env, **(extra_env or {})}, threads=threads, wrap=wrap)

    def restart_web(self) -> contextlib.AbstractContextManager[Web]:
        """A new web on the same port (after the first was killed); the stack's URL stays the same."""
        return start_web(self.database_url, self.web.port, extra_env={"GAMMA_HOME": str(self.home)})

    # ------------------------------------------------------------------ API

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.web.url + path, timeout=30, **kwargs)

    def create_team(self, *, backend: str = "claude", members: list[dict[str, Any]] | None = None,
                    lead: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        body = {
            **extra,
            "name": f"E2E {time.monotonic_ns()}",
            "lead": {"name": "Lead", "role_id": "engineering/tech-lead", "backend": backend, **(lead or {})},
            "members": [{"backend": backend, **m} for m in (members or [])],
        }
        response = self.api("POST", "/api/teams", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def say(self, team_id: str, message: str) -> str:
        response = self.api("POST", f"/api/teams/{team_id}/messages", json={"message": message})
        assert response.status_code == 202, response.text
        return response.json()["run_id"]

    def run(self, run_id: str) -> dict[str, Any]:
        with self.connect() as conn:
            return conn.execute("SELECT * FROM runs WHERE id = %s", (run_id,)).fetchone()

    def wait_run(self, run_id: str, predicate: Any = None, timeout: float = 90) -> dict[str, Any]:
        """Poll the runs row until `predicate(run)` (default: a terminal state)."""
        predicate = predicate or (lambda r: r["state"] in TERMINAL)
        last: dict[str, Any] = {}

        def reached() -> dict[str, Any] | None:
            last.update(run := self.run(run_id) or {})
            return run if predicate(run) else None

        return wait_for(reached, timeout=timeout, interval=0.1, what=lambda: f"run {run_id} to get there: {last}")

    def events(self, team_id: str, **filters: Any) -> list[dict[str, Any]]:
        response = self.api("GET", f"/api/teams/{team_id}/events", params={"limit": 5000, **filters})
        assert response.status_code == 200, response.text
        body = response.json()
        return body["events"]  # {"events", "next_after", "head"}: the endpoint never answers a bare list

    def wait_event(self, team_id: str, kind: str, timeout: float = 60, **filters: Any) -> dict[str, Any]:
        found = wait_for(lambda: [e for e in self.events(team_id, **filters) if e["kind"] == kind],
                         timeout=timeout, interval=0.1, what=f"a {kind} event")
        return found[0]

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.database_url, autocommit=True, row_factory=dict_row)

    def set_agent(self, agent_id: str, **columns: Any) -> None:
        assignments = ", ".join(f"{k} = %({k})s" for k in columns)
        with self.connect() as conn:
            conn.execute(f"UPDATE agents SET {assignments} WHERE id = %(id)s", {**columns, "id": agent_id})


@contextlib.contextmanager
def running_stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A web, the model double and (on demand) workers on the session's database. What earlier tests left queued
    or running there (tests without workers that queued runs, a worker stand-in's claimed runs) is ended first:
    the stack's workers would otherwise execute that backlog — and a reaper re-queue the stand-in's runs — before
    the runs of the test, which then waits behind them (seen in .ci/run once such tests came first)."""
    end_leftover_runs(database_url)
    home = Path(os.environ.get("GAMMA_HOME") or tmp_path / "home")
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    with ModelDouble() as double, scratch_codex_home() as codex_dir, \
            start_web(database_url, extra_env={"GAMMA_HOME": str(home)}) as web:
        worker_env = {
            **codex_home(double.url, codex_dir),
            **cli_env(double.url, config_dir),  # HOME: claude's config dir (codex keeps to CODEX_HOME)
            "GAMMA_HOME": str(home),
            "GAMMA_CLAUDE_BIN": claude_bin(),
            "GAMMA_CODEX_BIN": codex_bin(),
            "GAMMA_API_URL": web.url,
        }
        yield Stack(database_url, double, web, home, worker_env)


def end_leftover_runs(database_url: str) -> None:
    """End the runs earlier tests left queued or running, and their queue messages (see `running_stack`)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE runs SET state = 'cancelled', outcome = 'cancelled', ended_at = now(),"
                     " error = 'left by an earlier test; ended before a stack started'"
                     " WHERE state IN ('queued', 'running')")
        conn.execute("DELETE FROM dramatiq.queue WHERE state IN ('queued', 'consumed')")


def processes_by_run() -> dict[str, dict[int, int]]:
    """Every live agent process, by run (run id → pid → attempt), found by its GAMMA_RUN_ID environment: one scan
    of the host's processes."""
    found: dict[str, dict[int, int]] = {}
    for process in process_control.live_processes():
        environ = process_control.environment(process) or {}
        if run_id := environ.get("GAMMA_RUN_ID"):
            found.setdefault(run_id, {})[process.pid] = int(environ.get("GAMMA_RUN_ATTEMPT", "0"))
    return found


def agent_processes(run_id: str) -> dict[int, int]:
    """Live processes (pid → attempt) that belong to a run."""
    return processes_by_run().get(run_id, {})


def orphans_of_ended_runs(stack: Stack, timeout: float = 10) -> dict[int, str]:
    """Agent processes (pid → run id) still alive `timeout` s after their run ended; {} when all are gone."""
    found: dict[int, str] = {}

    def none_left() -> bool:
        # One scan of the processes, then only their runs asked about: scanning once per ended run grew with
        # the session's database, to seconds after every test late in the suite.
        found.clear()
        live = processes_by_run()
        if not live:
            return True
        with stack.connect() as conn:
            ended = {r["id"] for r in conn.execute("SELECT id FROM runs WHERE id = ANY(%s)"
                                                   " AND state NOT IN ('queued', 'running')", (list(live),))}
        for run_id in ended:
            found.update({pid: run_id for pid in live[run_id]})
        return not found

    try:
        wait_for(none_left, timeout=timeout, interval=0.2, what="the ended runs' processes to go")
    except AssertionError:  # the caller reports the survivors
        pass
    return found


def wait_gone(run_id: str, timeout: float = 30) -> float:
    """Seconds until no process of the run is left (for the log: `timeout` is a hang guard, not a claim)."""
    started = time.monotonic()
    wait_for(lambda: not agent_processes(run_id), timeout=timeout, interval=0.02,
             what=lambda: f"the processes of {run_id} to end: {agent_processes(run_id)}")
    return time.monotonic() - started
