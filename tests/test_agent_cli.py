"""`gamma-agent` as agents run it: a separate process talking real HTTP to a real server on this database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from orchestrator.records import repos
from orchestrator.workflows import conversation as messages
from shared import db
from shared.config import get_settings
from tests.support.crew import row, start
from workers import agent_commands

GAMMA_AGENT = Path(sys.executable).parent / "gamma-agent"

pytestmark = pytest.mark.slow  # every test runs `gamma-agent` as a process

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
    return subprocess.run([str(GAMMA_AGENT), *args], env=env, input=stdin, capture_output=True, text=True,
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
             "('psycopg', 'flask', 'pydantic', 'orchestrator', 'shared', 'web')]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "[]", result.stderr
