"""`gamma-agent` as agents run it (the shim workers/agent_tools.py puts on their PATH): a separate process talking
real HTTP to a real server on this database, or to a scripted one (redirections, chunks, TLS)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import shutil
import socketserver
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from orchestrator.records import repos
from orchestrator.workflows import conversation as messages
from shared import agent_commands as definition
from shared import db
from shared.config import get_settings
from tests.support.crew import row, start
from workers import agent_cli, agent_commands, agent_tools

# Every test runs `gamma-agent` as a process; its shim is written into the session's Gamma home.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("database_url")]


def shim() -> Path:
    return agent_tools.tools_bin_dir() / "gamma-agent"

pytest_plugins = ("tests.support.orchestrator",)


@pytest.fixture(scope="module")
def api_url(database_url: str) -> Iterator[str]:
    from web.app import create_app

    server = make_server("127.0.0.1", 0, create_app(get_settings()), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def gamma_agent(*args: str, url: str | None = None, token: str | None = None,
                stdin: str | None = None, retry_seconds: float = 1,
                run_id: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMMA_")}
    env["GAMMA_AGENT_RETRY_SECONDS"] = str(retry_seconds)
    if run_id:
        env["GAMMA_RUN_ID"] = run_id
    if url:
        env["GAMMA_API_URL"] = url
    if token:
        env["GAMMA_AGENT_TOKEN"] = token
    return subprocess.run([str(shim()), *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=30)


@pytest.fixture
def lead_token(crew) -> str:
    with db.transaction() as conn:
        messages.post_user_message(conn, crew.team_id, "Go")
    return start(crew.lead["id"])[1]


def as_json(result: subprocess.CompletedProcess[str]):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(("args", "expected"), [
    ((), "a command is required"),
    (("fly",), "invalid choice: 'fly'"),
    (("task",), "needs an action"),
    (("task", "done", "task_X"), "the following arguments are required: --summary"),
    (("task", "create"), "--title"),
    (("task", "create", "--title", "t", "--kind", "cooking"), "invalid choice: 'cooking'"),
    (("task", "create", "--title", "t", "--priority", "high"), "invalid int value"),
    (("task", "update", "task_X", "--status", "finished"), "invalid choice"),
    (("msg", "send", "Bob"), "TEXT"),
    (("plan", "/no/such/plan.json"), "cannot read plan file"),
])
def test_usage_errors_exit_2_and_explain(api_url, args, expected):
    result = gamma_agent(*args, url=api_url, token="t")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert expected in result.stderr and result.stdout == ""


def test_a_missing_environment_is_a_usage_error():
    result = gamma_agent("team")
    assert result.returncode == 2 and "GAMMA_API_URL is not set" in result.stderr


def test_an_api_url_that_is_not_http_is_a_usage_error():
    for url in ("localhost:8000", "ftp://127.0.0.1/", "http://127.0.0.1:port"):
        result = gamma_agent("team", url=url, token="t")
        assert result.returncode == 2, result.stderr
        assert f"GAMMA_API_URL must be an http:// or https:// URL (got '{url.rstrip('/')}')" in result.stderr


def test_a_bad_plan_is_a_usage_error(api_url):
    for plan, expected in (("{not json", "not valid JSON"), ("[]", "non-empty JSON list"), ('{"x": 1}', "list")):
        result = gamma_agent("plan", "-", url=api_url, token="t", stdin=plan)
        assert result.returncode == 2 and expected in result.stderr


def test_api_errors_exit_1_with_the_servers_message(api_url, crew, lead_token):
    forged = gamma_agent("whoami", url=api_url, token="forged")
    assert forged.returncode == 1 and "401: invalid or expired agent token" in forged.stderr
    unknown = gamma_agent("msg", "send", "Nobody", "hi", url=api_url, token=lead_token)
    assert unknown.returncode == 1 and "404: no teammate named 'Nobody'" in unknown.stderr
    unreachable = gamma_agent("team", url="http://127.0.0.1:9", token=lead_token)
    assert unreachable.returncode == 1 and "cannot reach Gamma" in unreachable.stderr
    assert "retrying in" in unreachable.stderr, "it tried again before giving up, and said so"


def test_a_lead_and_a_member_work_through_gamma_agent(api_url, crew, lead_token):
    lead = {"url": api_url, "token": lead_token}
    me = as_json(gamma_agent("whoami", **lead))
    assert me["agent"]["name"] == "Lead"
    plan = [{"title": "API", "assignee": "Alice", "kind": "backend"}, {"title": "UI", "assignee": "Bob"}]
    created = as_json(gamma_agent("plan", "-", stdin=json.dumps(plan), **lead))["tasks"]
    extra = as_json(gamma_agent("task", "create", "--title", "Docs", "--assignee", "alice", "--description",
                                "README", "--priority", "3", **lead))
    assert [t["assignee"]["name"] for t in created] == ["Alice", "Bob"] and extra["priority"] == 3

    run, alice_token = start(crew.alice["id"])
    alice = {"url": api_url, "token": alice_token}
    assert run["task_id"] == created[0]["id"]
    mine = as_json(gamma_agent("tasks", "--mine", "--status", "in_progress", **alice))["tasks"]
    assert [t["id"] for t in mine] == [created[0]["id"]]
    refused = gamma_agent("msg", "broadcast", "hello", **alice)
    assert refused.returncode == 1 and "403: only the team lead can broadcast" in refused.stderr
    sent = as_json(gamma_agent("msg", "send", "Lead", "API", "is", "half", "done", **alice))
    assert sent["content"] == "API is half done"
    summary = "Endpoints in project/api.py\nAll 12 tests pass"
    (repos.worktree_dir(crew.team_id, created[0]["id"]) / "api.py").write_text("def get():\n    return 1\n")
    done = as_json(gamma_agent("task", "review", created[0]["id"], "--summary", "-", "--files",
                               "project/api.py,project/test_api.py", stdin=summary, **alice))
    assert done["stage"] == "review" and done["result"]["summary"] == summary, "submitted for the lead to approve"
    assert done["result"]["reported_files"] == ["project/api.py", "project/test_api.py"]
    assert as_json(gamma_agent("status", "moving", "on", "--blocker", "none", **alice))["lead_notified"]

    diff = as_json(gamma_agent("task", "diff", created[0]["id"], **lead))
    assert diff["files"] == [{"path": "api.py", "status": "added", "added": 2, "deleted": 0, "binary": False}]
    assert "+def get():" in diff["diff"], "the lead reviews what git says the task changed"
    stat = as_json(gamma_agent("task", "diff", created[0]["id"], "--stat", **lead))
    assert "diff" not in stat and stat["files"] == diff["files"]
    inbox = as_json(gamma_agent("msg", "read", **lead))
    assert [m["content"] for m in inbox["messages"]][0] == "API is half done"
    team = as_json(gamma_agent("team", **lead))["members"]
    assert [m["name"] for m in team] == ["Lead", "Alice", "Bob"]
    # The scripted agents (demo backend, model double) read these outputs with workers.agent_commands.
    teammates = gamma_agent(*agent_commands.list_teammates()[1:], **lead)
    assert agent_commands.teammate_names(teammates.stdout) == ["Alice", "Bob"]
    listed = gamma_agent(*agent_commands.list_tasks()[1:], **lead)
    assert agent_commands.open_task_ids(listed.stdout) == [extra["id"], created[1]["id"]]
    approved = as_json(gamma_agent(*agent_commands.approve(created[0]["id"])[1:], **lead))
    assert approved["stage"] == "done", "the lead approves the work in review"
    context = as_json(gamma_agent("context", **lead))
    assert context["task_summary"]["done"] == 1
    got = as_json(gamma_agent("task", "get", created[0]["id"], **lead))
    assert got["result"]["summary"] == summary
    cancelled = as_json(gamma_agent("task", "cancel", created[1]["id"], "--reason", "descoped", **lead))
    assert cancelled["stage"] == "cancelled"
    goal = as_json(gamma_agent("done", "--summary", "API shipped", **lead))
    assert goal["summary"] == "API shipped"
    assert row("tasks", extra["id"])["stage"] == "backlog"  # goal done never force-completes


def test_the_same_command_twice_in_a_run_acts_once(api_url, crew, lead_token):
    run_id = as_json(gamma_agent("whoami", url=api_url, token=lead_token))["run_id"]
    lead = {"url": api_url, "token": lead_token, "run_id": run_id}
    create = ("task", "create", "--title", "Once", "--assignee", "Alice", "--description", "-")
    first = gamma_agent(*create, stdin="the API", **lead)
    again = gamma_agent(*create, stdin="the API", **lead)
    assert as_json(again) == as_json(first) and "already ran in this run" in again.stderr
    assert "already ran" not in first.stderr
    other = as_json(gamma_agent(*create, stdin="the UI", **lead))  # a value from stdin is part of the request
    assert other["id"] != as_json(first)["id"]
    no_run = as_json(gamma_agent(*create, stdin="the API", url=api_url, token=lead_token))  # no GAMMA_RUN_ID: no key
    assert no_run["id"] != as_json(first)["id"]
    with db.transaction() as conn:
        titled = conn.execute("SELECT count(*) AS n FROM tasks WHERE team_id = %s AND title = 'Once'",
                              (crew.team_id,)).fetchone()["n"]
    assert titled == 3
    for _ in range(2):
        as_json(gamma_agent("msg", "send", "Bob", "hello", "Bob", **lead))
    assert _inbox_of(crew.bob["id"]) == ["hello Bob"], "sent once"


def _inbox_of(agent_id: str) -> list[str]:
    with db.transaction() as conn:
        return [r["content"] for r in conn.execute(
            "SELECT content FROM agent_messages WHERE to_agent = %s ORDER BY id", (agent_id,)).fetchall()]


def test_gamma_agent_imports_only_the_standard_library():
    probe = ("import sys, workers.agent_cli; heavy = [m for m in sys.modules if m.split('.')[0] in "
             "('psycopg', 'flask', 'pydantic', 'orchestrator', 'shared', 'web') "
             "and m not in ('shared', 'shared.agent_commands', 'shared.lean_http')]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "[]", result.stderr
    assert (Path(__file__).resolve().parent.parent / "shared" / "__init__.py").read_text().strip() == "", (
        "gamma-agent imports shared.agent_commands: the `shared` package must stay empty")


# What a call imports, as the shim starts it: the standard library's modules it needs, and no more.
OWN_MODULES = {"workers", "workers.agent_cli", "shared", "shared.agent_commands", "shared.lean_http"}
# Costly, and not needed by a call over plain HTTP (each cost a call milliseconds to tens of milliseconds).
# (http.client brings the email package, urllib.parse and ipaddress: the price of not speaking HTTP by hand.)
NEVER_IMPORTED = {"site", "urllib.request", "ssl", "dataclasses", "typing", "inspect", "importlib.util", "pathlib",
                  "encodings.idna", "shutil"}


def imported_by(*args: str, url: str, token: str, run_id: str | None = None) -> set[str]:
    """Every module a `gamma-agent` call loads, with the shim's own Python command (-v says each; -X importtime
    would list an import that failed too, as http.client's of ssl is made to for an http:// API)."""
    python, *options = agent_tools.shim_command()
    env = {"PATH": os.environ["PATH"], "GAMMA_API_URL": url, "GAMMA_AGENT_TOKEN": token,
           **({"GAMMA_RUN_ID": run_id} if run_id else {})}
    done = subprocess.run([python, "-v", *options, *args], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)
    return set(re.findall(r"^import '([\w.]+)' # ", done.stderr, re.MULTILINE))


def test_the_shim_is_the_python_command_checked_here():
    assert shim().read_text() == f'#!/bin/sh\nexec {shlex.join(agent_tools.shim_command())} "$@"\n'
    python, *options = agent_tools.shim_command()
    assert python == sys.executable and options[:2] == ["-I", "-S"], "isolated, without site"


@pytest.mark.parametrize("columns", ["50", "132", None])
def test_the_help_is_argparse_s_at_the_terminal_s_width(monkeypatch, capsys, columns):
    """As argparse lays it out: at $COLUMNS, else (stdout is not a terminal here) at 80 columns."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    calls = (["--help"], ["task", "done", "--help"])
    shown = [gamma_agent(*argv) for argv in calls]
    monkeypatch.setenv("COLUMNS", columns or "80")
    plain = definition.build_parser(argparse.ArgumentParser, **agent_cli.HELP)
    for argv, result in zip(calls, shown, strict=True):
        with pytest.raises(SystemExit):
            plain.parse_args(argv)
        assert result.returncode == 0 and result.stdout == capsys.readouterr().out


def test_the_shim_s_code_is_compiled_where_the_agents_cannot_write():
    cached = [Path(importlib.util.cache_from_source(str(agent_tools.CODE_ROOT / name)))
              for name in agent_tools.SHIM_CODE]
    for path in cached:
        path.unlink(missing_ok=True)
    agent_tools.tools_bin_dir.__wrapped__()  # as a worker does when it starts
    assert all(path.is_file() for path in cached)
    python, *options = agent_tools.shim_command()
    loaded = subprocess.run([python, "-B", "-v", *options, "--help"], capture_output=True, text=True, timeout=30)
    for path in cached:  # -B: a call in the sandbox, which could not write them
        assert f"# code object from '{path}'" in loaded.stderr


def test_a_call_imports_only_what_it_needs(api_url, crew, lead_token):
    read = imported_by("whoami", url=api_url, token=lead_token)
    assert {m for m in read if m.split(".")[0] not in sys.stdlib_module_names} == OWN_MODULES
    assert read & NEVER_IMPORTED == set()
    assert "hashlib" not in read, "only an action hashes its request"
    run_id = as_json(gamma_agent("whoami", url=api_url, token=lead_token))["run_id"]
    action = imported_by("status", "importing", url=api_url, token=lead_token, run_id=run_id)
    assert action - read == {"hashlib", "_hashlib", "_blake2"} - read
    assert action & NEVER_IMPORTED == set()


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://host/", "http://host:port/", "http://:80/", "http:///x",
                                 "http://host:0/", "http://host:70000/", "http://host:-1/", "http://[::1/"])
def test_a_url_that_is_not_http_is_refused(url):
    with pytest.raises(ValueError):
        agent_cli._where(url)


# ------------------------------------------------------------------------------------- a scripted HTTP server


class Scripted(socketserver.ThreadingTCPServer):
    """Answers each request path with bytes written here, and keeps what each request said."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answers: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.answers = answers
        self.requests: list[tuple[str, dict[str, str], bytes]] = []


class ScriptedHandler(socketserver.StreamRequestHandler):
    server: Scripted

    def handle(self) -> None:
        request_line = self.rfile.readline().decode("latin-1").rstrip("\r\n")
        headers = {}
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.rfile.read(int(headers.get("content-length", 0)))
        self.server.requests.append((request_line, headers, body))
        self.wfile.write(self.server.answers.get(request_line.split(" ")[1], b"HTTP/1.1 404 Not Found\r\n\r\n"))


@contextmanager
def served(server: Scripted) -> Iterator[Scripted]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    with served(Scripted({})) as server:
        yield server


def _url(server: Scripted, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.server_address[1]}"


ME = "/agent/v1/me"


def test_the_request_says_what_curl_would(scripted):
    scripted.answers["/agent/v1/status"] = b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"ok": true}'
    done = gamma_agent("status", "working", url=_url(scripted), token="tok", run_id="run_1")
    assert json.loads(done.stdout) == {"ok": True}, done.stderr
    (line, headers, body), = scripted.requests
    assert line == "POST /agent/v1/status HTTP/1.1" and json.loads(body) == {"status": "working"}
    assert headers["host"] == f"127.0.0.1:{scripted.server_address[1]}"
    assert headers["authorization"] == "Bearer tok" and headers["accept"] == "application/json"
    assert headers["content-type"] == "application/json" and headers["content-length"] == str(len(body))
    assert headers["idempotency-key"].startswith("run_1.") and headers["connection"] == "close"


def test_answers_in_chunks_without_a_length_or_after_100_continue_are_read_whole(scripted):
    scripted.answers.update({
        "/agent/v1/me": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b'5;x=y\r\n{"a":\r\n4\r\n "b"\r\n1\r\n}\r\n0\r\nX-Trailer: 1\r\n\r\n',
        "/agent/v1/team": b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"members": []}',
        "/agent/v1/context": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    })
    url = _url(scripted)
    assert as_json(gamma_agent("whoami", url=url, token="t")) == {"a": "b"}
    assert as_json(gamma_agent("team", url=url, token="t")) == {"members": []}
    assert as_json(gamma_agent("context", url=url, token="t")) == {}


def test_a_read_follows_a_redirection_an_action_does_not(scripted):
    scripted.answers.update({
        ME: b"HTTP/1.1 302 Found\r\nLocation: /elsewhere/me\r\nContent-Length: 0\r\n\r\n",
        "/elsewhere/me": b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"me": 1}',
        "/agent/v1/status": b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /elsewhere/status\r\n"
                            b"Content-Length: 0\r\n\r\n",
    })
    url = _url(scripted)
    assert as_json(gamma_agent("whoami", url=url, token="t")) == {"me": 1}
    assert [r[1]["authorization"] for r in scripted.requests] == ["Bearer t"] * 2
    moved = gamma_agent("status", "hi", url=url, token="t")
    assert moved.returncode == 1 and "error 307: Temporary Redirect" in moved.stderr
    assert [r[0].split(" ")[1] for r in scripted.requests][-1] == "/agent/v1/status", "not sent elsewhere"


def test_a_redirection_to_https_is_not_followed_and_says_which_url_to_set(scripted):
    """The http.client of an http:// API is imported without ssl (agent_cli._http_client)."""
    https = f"https://127.0.0.1:{scripted.server_address[1]}/agent/v1/me"
    scripted.answers[ME] = f"HTTP/1.1 301 Moved Permanently\r\nLocation: {https}\r\n\r\n".encode()
    moved = gamma_agent("whoami", url=_url(scripted), token="t")
    assert moved.returncode == 1 and moved.stdout == ""
    assert (f"error 301: Gamma redirects {_url(scripted)}{ME} to {https}, which is not followed: set GAMMA_API_URL "
            "to Gamma's https:// URL") in moved.stderr
    assert len(scripted.requests) == 1


def test_a_broken_answer_is_retried_then_reported(scripted):
    scripted.answers.update({ME: b"SSH-2.0-OpenSSH\r\n", "/agent/v1/team": b"HTTP/1.1 200 OK\r\nContent-Length: 10"
                                                                            b"\r\n\r\n{}"})
    for command, expected in (("whoami", r"a broken answer: BadStatusLine('SSH-2.0-OpenSSH\r\n')"),
                              ("team", "a broken answer: IncompleteRead(2 bytes read, 8 more expected)")):
        done = gamma_agent(command, url=_url(scripted), token="t", retry_seconds=0.3)
        assert done.returncode == 1 and "retrying in" in done.stderr
        assert f"error cannot reach Gamma at {_url(scripted)}: {expected}" in done.stderr


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Scripted, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True, timeout=60)
    server = Scripted({ME: b'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{"tls": true}'})
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with served(server):
        yield server, cert


def test_an_https_api_is_reached_over_tls_and_its_certificate_checked(tls_server, monkeypatch):
    server, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the certificates trusted: this one (OpenSSL reads it)
    assert as_json(gamma_agent("whoami", url=_url(server, "https"), token="t")) == {"tls": True}
    monkeypatch.delenv("SSL_CERT_FILE")
    untrusted = gamma_agent("whoami", url=_url(server, "https"), token="t", retry_seconds=0)
    assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
