"""`gamma doctor` and `GET /api/health` about the agent CLIs: found, logged in (asked locally, no model request),
version inside the tested range — with the real pinned CLIs, and with stand-ins for the cases they cannot show."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from shared.config import Settings
from tests.model_double import ModelDouble
from tests.support.claude import claude_bin
from tests.support.codex import codex_bin, codex_home
from tests.support.polling import wait_for
from tests.support.processes import VENV_BIN
from tests.support.workers import start_worker
from web.app import create_app
from workers import cli_status
from workers.backends.cli_binary import version_of

pytestmark = pytest.mark.cli


def doctor(env: dict[str, str]) -> tuple[int, dict[str, dict]]:
    done = subprocess.run([str(VENV_BIN / "gamma"), "doctor", "--json"], env=env, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)
    return done.returncode, {check["check"]: check for check in json.loads(done.stdout)}


def base_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GAMMA_", "ANTHROPIC_", "CLAUDE_CODE_", "CODEX_", "OPENAI_"))}
    config = tmp_path / "claude-config"
    config.mkdir(exist_ok=True)
    env.update(DATABASE_URL=database_url, GAMMA_HOME=str(tmp_path / "home"), HOME=str(config),
               CLAUDE_CONFIG_DIR=str(config), CODEX_HOME=str(tmp_path / "codex-home"),
               GAMMA_CLAUDE_BIN=claude_bin(), GAMMA_CODEX_BIN=codex_bin(), DISABLE_AUTOUPDATER="1")
    (tmp_path / "codex-home").mkdir(exist_ok=True)
    env.update(extra)
    return env


def inside_tested_range(cli: str, binary: str) -> bool:
    """True for the pinned binary; for the newest release (make test-cli-latest) it depends on the range."""
    version = version_of(subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout)
    oldest, newest = cli_status.tested_range(cli)
    return cli_status.version_key(oldest) <= cli_status.version_key(version or "") <= cli_status.version_key(newest)


def test_logged_in_clis_are_reported_ok(database_url: str, tmp_path: Path):
    with ModelDouble() as double:
        env = base_env(database_url, tmp_path, ANTHROPIC_API_KEY="double-api-key",
                       **codex_home(double.url, tmp_path / "codex-home"))
        env["HOME"] = env["CLAUDE_CONFIG_DIR"]
        code, checks = doctor(env)
        assert double.requests == [], "asking the CLIs spends no model request"
    for cli in ("claude", "codex"):
        assert checks[f"{cli} CLI found"]["ok"] and not checks[f"{cli} CLI found"]["warning"]
        assert checks[f"{cli} CLI logged in"] == {"check": f"{cli} CLI logged in", "ok": True, "warning": False,
                                                 "detail": checks[f"{cli} CLI logged in"]["detail"]}
        tested = checks[f"{cli} CLI version tested"]
        binary = claude_bin() if cli == "claude" else codex_bin()
        assert tested["warning"] is (not inside_tested_range(cli, binary)), tested
    assert "api_key" in checks["claude CLI logged in"]["detail"]
    # no worker (nor web) runs in this test: whatever else fails, the exit status follows the failures
    assert code == (1 if any(not check["ok"] for check in checks.values()) else 0)


def test_a_cli_without_credentials_is_not_logged_in(database_url: str, tmp_path: Path):
    code, checks = doctor(base_env(database_url, tmp_path))
    claude, codex = checks["claude CLI logged in"], checks["codex CLI logged in"]
    assert (claude["ok"], claude["warning"]) == (False, False), "the default backend's CLI must be logged in"
    assert "not logged in" in claude["detail"]
    assert (codex["ok"], codex["warning"]) == (True, True), "an optional CLI's missing login is a warning"
    assert code == 1


def test_a_cli_outside_the_tested_range_is_a_warning(database_url: str, tmp_path: Path):
    old = tmp_path / "old-codex"
    old.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo "codex-cli 0.1.0"; exit 0; }\nexit 1\n')
    old.chmod(0o755)
    _, checks = doctor(base_env(database_url, tmp_path, GAMMA_CODEX_BIN=str(old), GAMMA_BACKEND="codex"))
    tested = checks["codex CLI version tested"]
    assert (tested["ok"], tested["warning"]) == (True, True)
    oldest, newest = cli_status.tested_range("codex")
    assert "0.1.0 is outside" in tested["detail"] and oldest in tested["detail"] and newest in tested["detail"]
    assert checks["codex CLI logged in"]["ok"] is False, "codex is the default backend here: a failure"


def test_health_api_carries_the_cli_facts_each_worker_found_on_its_host(database_url: str, tmp_path: Path):
    """The CLIs matter where the agents run: a worker records what it found on its host, the health report shows
    it per host (the web's own host may have no CLI at all)."""
    env = {k: v for k, v in base_env(database_url, tmp_path).items() if k not in ("DATABASE_URL", "GAMMA_HOME")}
    env.update(GAMMA_CODEX_BIN=str(tmp_path / "no-such-codex"), ANTHROPIC_API_KEY="double-api-key")
    with psycopg.connect(database_url, autocommit=True) as conn:
        since = conn.execute("SELECT now()").fetchone()[0]
    with start_worker(database_url, env):
        with psycopg.connect(database_url, autocommit=True) as conn:
            mine = {r[0] for r in conn.execute("SELECT id FROM workers WHERE started_at >= %s", (since,))}

        def reported() -> list[dict] | None:
            """The facts once this worker recorded them (other tests' workers may still be alive here)."""
            body = create_app(Settings()).test_client().get("/api/health").get_json()
            ours = [entry for entry in body["clis"] if entry["worker_id"] in mine]
            return ours or None

        clis = {entry["backend"]: entry for entry in wait_for(reported, timeout=120, what="the worker's CLI facts")}
    assert set(clis) == {"claude", "codex"}
    assert clis["claude"]["host"] and clis["claude"]["host"] == clis["codex"]["host"]
    assert clis["claude"]["found"] and clis["claude"]["logged_in"] is True and clis["claude"]["version"]
    assert clis["claude"]["tested_range"] == list(cli_status.tested_range("claude"))
    assert clis["codex"]["found"] is False and "no-such-codex" in clis["codex"]["path_or_error"]
