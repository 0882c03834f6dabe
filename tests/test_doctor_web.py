"""`gamma doctor` on a worker host checks that it reaches the web at GAMMA_API_URL (issue 13, point 6), as well as
the database: run as the real command against a real web — one answering here, a closed port, a name the web does
not answer to, and a web on another host (a network namespace) bound to its own address behind a token.

The other checks (database, workers, CLIs, sandbox, git) are whatever they are on this machine; what the web check
adds is compared between two runs that differ only in GAMMA_API_URL, so the exit status is shown to follow it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import NetnsHost, netns_host
from tests.support.processes import VENV_BIN, Web, free_port, start_web
from tests.support.workers import start_worker

pytestmark = pytest.mark.slow

WEB_CHECK = "web reachable"
TOKEN = "a-long-enough-token-for-the-doctor-tests-0123456789"


def doctor(env: dict[str, str]) -> tuple[int, dict[str, dict]]:
    """`gamma doctor --json` as a user runs it; its exit status and its checks by name."""
    done = subprocess.run([str(VENV_BIN / "gamma"), "doctor", "--json"], env=env, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)
    assert done.stdout.strip().startswith("["), (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return done.returncode, {check["check"]: check for check in json.loads(done.stdout)}


def failures(checks: dict[str, dict]) -> set[str]:
    return {name for name, check in checks.items() if not check["ok"]}


@pytest.fixture(scope="module")
def web(database_url: str) -> Iterator[Web]:
    with start_web(database_url) as running:
        yield running


@pytest.fixture(scope="module")
def worker(database_url: str) -> Iterator[None]:
    """A live worker, so that "workers alive" passes and the web check is what decides the exit status."""
    with start_worker(database_url, {"GAMMA_BACKEND": "demo"}, threads=1):
        yield


@pytest.fixture
def worker_host(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of `gamma doctor` on a worker host: the shared database, a GAMMA_HOME of its own, nothing of
    the developer's Gamma settings; demo agents, so the agent CLIs (absent here) are optional."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GAMMA_", "ANTHROPIC_", "CLAUDE_CODE_", "CODEX_", "OPENAI_"))}
    env.update(DATABASE_URL=database_url, GAMMA_HOME=str(tmp_path / "worker-home"), GAMMA_BACKEND="demo",
               GAMMA_CLAUDE_BIN=str(tmp_path / "no-claude"), GAMMA_CODEX_BIN=str(tmp_path / "no-codex"))
    return env


@pytest.fixture
def other_host() -> Iterator[NetnsHost]:
    with netns_host() as host:
        yield host


def test_the_web_reachable_at_gamma_api_url_is_reported_ok_and_a_closed_port_fails_with_advice(
        web: Web, worker: None, worker_host: dict[str, str]):
    code, checks = doctor({**worker_host, "GAMMA_API_URL": web.url})
    reached = checks[WEB_CHECK]
    assert (reached["ok"], reached["warning"]) == (True, False), reached
    assert reached["detail"].startswith(f"{web.url}: the web answers in "), reached
    assert "database ok" in reached["detail"] and "worker process(es) alive" in reached["detail"], reached
    others = failures(checks)
    assert code == (1 if others else 0), (code, others)

    closed = f"http://127.0.0.1:{free_port()}"
    code, checks = doctor({**worker_host, "GAMMA_API_URL": closed})
    refused = checks[WEB_CHECK]
    assert (refused["ok"], refused["warning"]) == (False, False), refused
    assert refused["detail"].startswith(f"{closed}: connection refused"), refused
    assert "set GAMMA_API_URL to the web's URL as this host reaches it" in refused["detail"], refused
    assert failures(checks) == others | {WEB_CHECK}, "only the web check differs"
    assert code == 1, "a web this host cannot reach is a problem found"
    assert checks["database answers"]["ok"], "the database is still reached: the two are checked apart"


def test_a_name_the_web_does_not_answer_to_says_gamma_allowed_hosts(web: Web, worker_host: dict[str, str]):
    # 127.1 is 127.0.0.1 in inet_aton's short form: the connection reaches the web, but `Host: 127.1:<port>` is
    # no name the web knows, as a worker host's name for the web may not be.
    url = f"http://127.1:{web.port}"
    code, checks = doctor({**worker_host, "GAMMA_API_URL": url})
    misdirected = checks[WEB_CHECK]
    assert misdirected["ok"] is False, misdirected
    assert misdirected["detail"] == (f"{url}: the web does not answer to the name 127.1:{web.port} (421): add it "
                                     "to GAMMA_ALLOWED_HOSTS on the web's host, or use a name the web answers to")
    assert code == 1


def test_unset_gamma_api_url_says_it_looked_for_this_hosts_own_web(worker_host: dict[str, str]):
    port = free_port()  # GAMMA_PORT with nothing listening: the default URL is this host's own web
    code, checks = doctor({**worker_host, "GAMMA_PORT": str(port)})
    detail = checks[WEB_CHECK]["detail"]
    assert checks[WEB_CHECK]["ok"] is False and code == 1
    assert detail.startswith(f"http://127.0.0.1:{port} (GAMMA_API_URL is unset: this host's own web): connection "
                             "refused"), detail
    assert "set GAMMA_API_URL" in detail


def test_a_web_on_another_host_behind_a_token_is_reached_over_its_address(
        database_url: str, other_host: NetnsHost, worker_host: dict[str, str]):
    """The multi-host shape: the web bound beyond loopback (so with GAMMA_API_TOKEN), reached from this "host" over
    a real interface; /api/health is never behind the token, so the doctor needs none."""
    with start_web(database_url, host=other_host.address, prefix=other_host.exec_prefix,
                   extra_env={"GAMMA_API_TOKEN": TOKEN}) as remote:
        _, checks = doctor({**worker_host, "GAMMA_API_URL": remote.url})
    reached = checks[WEB_CHECK]
    assert reached["ok"] is True and reached["detail"].startswith(f"{remote.url}: the web answers in "), reached


def test_a_worker_host_without_database_url_refuses_to_start_a_database_of_its_own(worker_host: dict[str, str]):
    env = {k: v for k, v in worker_host.items() if k != "DATABASE_URL"}
    env["GAMMA_API_URL"] = "http://192.0.2.10:8700"  # the web on another host (TEST-NET-1: never reached)
    done = subprocess.run([str(VENV_BIN / "gamma"), "worker"], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2, (done.stdout[-2000:], done.stderr[-2000:])
    assert "DATABASE_URL is unset" in done.stderr and "docs/multi-host.md" in done.stderr
    assert not (Path(env["GAMMA_HOME"]) / "pg").exists(), "no embedded database was made"
