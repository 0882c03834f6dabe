"""Launch: `gamma up` with the embedded PostgreSQL, Ctrl-C leaves nothing behind, config errors, doctor."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import psycopg
import pytest
import requests

from shared import migrate
from tests.support.polling import wait_for
from tests.support.processes import VENV_BIN, free_port, running, wait_healthy

GAMMA = str(VENV_BIN / "gamma")
pytestmark = pytest.mark.slow  # every test runs the `gamma` command


def _gamma(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([GAMMA, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without Gamma's settings (an empty DATABASE_URL counts as unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMMA_")}
    env["DATABASE_URL"] = ""
    env.update(extra)
    return env


def _processes_using(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            environ = proc.info["environ"] or {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if marker in cmdline or environ.get("GAMMA_HOME") == marker:
            found.append(proc)
    return [p for p in found if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow
def test_gamma_up_runs_everything_on_the_embedded_database_and_ctrl_c_stops_it_all(tmp_path: Path):
    home = tmp_path / "home"
    port = free_port()
    env = _clean_env(GAMMA_HOME=str(home), GAMMA_PORT=str(port), GAMMA_WORKER_THREADS="2",
                     GAMMA_WEB_WORKERS="1", GAMMA_WEB_THREADS="8")
    with running([GAMMA, "up"], env, cwd=tmp_path) as proc:
        wait_healthy(proc, f"http://127.0.0.1:{port}/api/health", timeout=120)
        health = wait_for(lambda: (h := requests.get(f"http://127.0.0.1:{port}/api/health", timeout=5).json())[
            "workers"]["alive"] >= 1 and h, timeout=60, interval=0.5, what="a live worker")
        assert health["database"]["ok"] and health["migrations"]["ok"] and health["broker"]["ok"]
        assert health["workers"]["alive"] >= 1, health
        assert (home / "pg" / "PG_VERSION").exists(), "the embedded server keeps its data under $GAMMA_HOME/pg"
        announced = f"Gamma is running at http://127.0.0.1:{port}/"
        # a hang guard: it is printed within half a second of the first answer
        wait_for(lambda: announced in proc.log_tail(20000), timeout=60, interval=0.2, what="the announcement")
        assert _processes_using(str(home)), "sanity: the stack's processes are visible"

        started = time.monotonic()
        proc.signal_group(signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
        proc.popen.wait(timeout=60)  # a hang guard; how long it took is printed, not judged
        print(f"Ctrl-C stopped everything in {time.monotonic() - started:.1f} s")
    leftovers = _processes_using(str(home))
    assert not leftovers, [(p.pid, p.name()) for p in leftovers]


def test_invalid_configuration_is_refused_naming_the_variable(tmp_path: Path):
    result = _gamma("db", "url", env=_clean_env(GAMMA_HOME=str(tmp_path), GAMMA_PORT="eighty"))
    assert result.returncode == 2
    assert "GAMMA_PORT" in result.stderr and "integer" in result.stderr

    result = _gamma("db", "url", env=_clean_env(GAMMA_HOME=str(tmp_path), DATABASE_URL="mysql://x"))
    assert result.returncode == 2 and "DATABASE_URL" in result.stderr


def test_dotenv_file_is_read(tmp_path: Path):
    (tmp_path / ".env").write_text("GAMMA_REAPER_INTERVAL=-3\n")
    result = subprocess.run([GAMMA, "db", "url"], env=_clean_env(GAMMA_HOME=str(tmp_path)), cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "GAMMA_REAPER_INTERVAL" in result.stderr


def test_web_refuses_a_public_address_without_a_token(database_url: str, tmp_path: Path):
    env = _clean_env(DATABASE_URL=database_url, GAMMA_HOME=str(tmp_path), GAMMA_HOST="0.0.0.0",
                     GAMMA_PORT=str(free_port()))
    result = _gamma("web", env=env, timeout=60)
    assert result.returncode != 0
    assert "GAMMA_API_TOKEN" in result.stderr + result.stdout


def test_web_refuses_a_short_token_naming_the_variable(database_url: str, tmp_path: Path):
    env = _clean_env(DATABASE_URL=database_url, GAMMA_HOME=str(tmp_path), GAMMA_API_TOKEN="tooshort",
                     GAMMA_PORT=str(free_port()))
    result = _gamma("web", env=env, timeout=60)
    assert result.returncode == 2
    assert "GAMMA_API_TOKEN" in result.stderr and "secrets.token_urlsafe(32)" in result.stderr, result.stderr
    assert "tooshort" not in result.stderr, "the secret is not echoed"


def test_doctor_reports_each_check(database_url: str, tmp_path: Path):
    env = _clean_env(DATABASE_URL=database_url, GAMMA_HOME=str(tmp_path), GAMMA_CLAUDE_BIN="no-such-claude")
    result = _gamma("doctor", env=env)
    out = result.stdout
    assert "ok    database reachable" in out
    assert "ok    migrations current" in out
    assert "ok    broker schema present" in out
    assert "claude CLI found" in out and "no-such-claude" in out
    assert "ok    agent sandbox  (bubblewrap: " in out, out
    assert result.returncode == 1, "a missing CLI is a failed check"
    unsandboxed = _gamma("doctor", env={**env, "PATH": str(tmp_path / "no-bwrap-here"), "GAMMA_SANDBOX": "auto"})
    assert "FAIL  agent sandbox  (bubblewrap (bwrap) is not installed" in unsandboxed.stdout, unsandboxed.stdout
    assert "agents run WITHOUT a boundary" in unsandboxed.stdout
    assert "ok    git  (" in out and "git version" not in out, out
    assert "FAIL  git  (git is not installed" in unsandboxed.stdout, "no git on its PATH"


def test_migrations_are_idempotent_and_safe_in_parallel(database_url: str, conn, tmp_path: Path):
    fresh = f"{conn.info.dbname}_migr"
    conn.execute(f'CREATE DATABASE "{fresh}"')
    try:
        url = psycopg.conninfo.make_conninfo(database_url, dbname=fresh)
        env = _clean_env(DATABASE_URL=url, GAMMA_HOME=str(tmp_path))
        procs = [subprocess.Popen([GAMMA, "db", "migrate"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs), outputs
        assert sum("applied: 001_core" in out for out in outputs) == 1, outputs
        assert sum("migrations are current" in out for out in outputs) == 3, outputs
        again = _gamma("db", "migrate", env=env)
        assert again.returncode == 0 and "migrations are current" in again.stdout
        with psycopg.connect(url) as fresh_conn:
            versions = [r[0] for r in fresh_conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
            assert versions == [m.version for m in migrate.available()]
            assert fresh_conn.execute("SELECT to_regclass('dramatiq.queue')").fetchone()[0] is not None
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
