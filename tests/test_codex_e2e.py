"""codex agents end to end: real gunicorn, real Dramatiq workers, the real pinned `codex` CLI and the model double's
Responses API. The same claims as test_runtime_e2e.py makes for claude: events in order with tool calls paired,
files on disk, usage stored, work reported through `gamma-agent`, resume, cancel, errors classified.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.support.polling import wait_for
from tests.support.stack import Stack, agent_processes, wait_gone

pytestmark = [pytest.mark.slow, pytest.mark.cli]
pytest_plugins = ("tests.support.stack_fixtures",)


@pytest.fixture(scope="module")
def worker(stack: Stack):
    with stack.worker() as proc:
        yield proc


@pytest.fixture
def team(stack: Stack, worker) -> dict:
    return stack.create_team(backend="codex", members=[{"name": "Cy", "role_id": "engineering/backend-architect"}])


def lead_of(team: dict) -> dict:
    return next(m for m in team["members"] if m["is_lead"])


def test_a_codex_run_streams_its_work_runs_gamma_agent_and_writes_a_file(stack: Stack, team: dict):
    assert {m["backend"] for m in team["members"]} == {"codex"}
    run_id = stack.say(team["id"], "[[brain:write_file path=notes/hello.txt cmd='gamma-agent team']] Say hello.")
    run = stack.wait_run(run_id)
    assert (run["state"], run["outcome"], run["backend"]) == ("succeeded", "success", "codex"), run["error"]
    assert run["cli_version"] and run["cli_version"].count(".") >= 2 and run["session_id"]
    assert run["input_tokens"] > 0 and run["output_tokens"] > 0 and run["cache_read_tokens"] > 0

    events = stack.events(team["id"], run_id=run_id)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run.queued" and kinds[-1] == "run.finished"
    assert kinds.index("run.started") < kinds.index("agent.init") < kinds.index("agent.result")
    assert "agent.thinking" in kinds and "agent.text" in kinds
    uses = {e["payload"]["tool_use_id"]: e for e in events if e["kind"] == "agent.tool_use"}
    results = {e["payload"]["tool_use_id"]: e for e in events if e["kind"] == "agent.tool_result"}
    assert {u["payload"]["name"] for u in uses.values()} == {"shell", "apply_patch"}
    assert set(uses) == set(results), "every tool call is paired with its result"
    for tool_use_id, use in uses.items():
        assert results[tool_use_id]["cursor"] > use["cursor"]
        assert results[tool_use_id]["payload"]["is_error"] is False, results[tool_use_id]["payload"]
    shell = next(results[i]["payload"] for i, u in uses.items() if u["payload"]["name"] == "shell")
    assert "Lead" in shell["content"], "gamma-agent reached the agent API with the run's token"
    written = stack.home / "workspaces" / team["id"] / "agents" / lead_of(team)["id"] / "notes" / "hello.txt"
    assert written.read_text().strip() == "Written by the model double."


@pytest.mark.parametrize("mode", ["bypassPermissions", "acceptEdits"])
def test_a_codex_member_does_its_task_and_reports_it_through_gamma_agent(stack: Stack, team: dict, mode: str):
    """With acceptEdits, codex's own sandbox (workspace-write) runs the commands: the team's project folder is
    writable and the agent API reachable, and the run's command line says so."""
    member = next(m for m in team["members"] if not m["is_lead"])
    stack.set_agent(member["id"], permission_mode=mode)
    created = stack.api("POST", f"/api/teams/{team['id']}/tasks",
                        json={"title": "Write the notes", "assignee": "Cy", "description": "[[brain:member]]"})
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    task = wait_for(lambda: (t := stack.api("GET", f"/api/tasks/{task_id}").json())["stage"] in (
        "review", "done", "failed", "cancelled") and t, timeout=90, interval=0.2, what="the task to settle")
    with stack.connect() as conn:
        run_id = conn.execute("SELECT id FROM runs WHERE task_id = %s", (task_id,)).fetchone()["id"]
    run = stack.wait_run(run_id)
    results = [e["payload"] for e in stack.events(team["id"], run_id=run_id) if e["kind"] == "agent.tool_result"]
    assert task["stage"] == "done", (task["stage"], run["error"], results)  # reported done by the member itself
    assert task["result"]["summary"].startswith("Wrote "), results
    assert (stack.home / "workspaces" / team["id"] / "project" / f"{task_id}.md").exists()
    assert run["state"] == "succeeded" and all(not r["is_error"] for r in results), results
    lines = stack.api("GET", f"/api/runs/{run_id}/lines").json()
    raw = "\n".join(r["line"] for r in lines["lines"])  # {"run_id", "attempt", "stream", "lines", ...}
    assert '"type":"turn.completed"' in raw


def test_the_next_codex_run_resumes_the_thread(stack: Stack, team: dict):
    first = stack.wait_run(stack.say(team["id"], "[[brain:echo]] remember pelican"))
    second_id = stack.say(team["id"], "[[brain:echo]] what was it?")
    second = stack.wait_run(second_id)
    assert first["state"] == second["state"] == "succeeded", second["error"]
    started = stack.wait_event(team["id"], "run.started", run_id=second_id)
    assert started["payload"]["resume_session"] == first["session_id"]
    assert second["session_id"] == first["session_id"]
    assert "pelican" in str(stack.double.responses_requests()[-1].body["input"])


def test_an_unknown_codex_thread_starts_fresh(stack: Stack, team: dict):
    lost = str(uuid.uuid4())
    stack.set_agent(lead_of(team)["id"], session_id=lost)
    run = stack.wait_run(stack.say(team["id"], "[[brain:echo]] after a lost thread"))
    assert (run["state"], run["attempt"]) == ("succeeded", 2), run
    assert lost in run["session_note"] and run["session_id"] != lost


def test_cancel_mid_run_stops_codex_and_its_command(stack: Stack, team: dict):
    run_id = stack.say(team["id"], "[[brain:slow seconds=600]] take your time")
    stack.wait_event(team["id"], "agent.tool_use", run_id=run_id)
    stack.wait_run(run_id, lambda r: r["state"] == "running" and r["pid"])
    wait_for(lambda: len(agent_processes(run_id)) >= 3, interval=0.1,  # node, codex, the command
             what=lambda: f"codex and the command it runs: {agent_processes(run_id)}")
    response = stack.api("POST", f"/api/runs/{run_id}/cancel")
    assert response.status_code in (200, 202), response.text
    gone_after = wait_gone(run_id)
    run = stack.wait_run(run_id)
    assert (run["state"], run["outcome"]) == ("cancelled", "cancelled")
    print(f"codex run cancelled: every process gone after {gone_after:.2f} s")


@pytest.mark.parametrize("brain,status", [("error_401", 401), ("error_429", 429)])
def test_api_errors_fail_the_codex_run_with_their_status(stack: Stack, team: dict, brain: str, status: int):
    run = stack.wait_run(stack.say(team["id"], f"[[brain:{brain}]] fail please"))
    assert (run["state"], run["outcome"], run["api_error_status"]) == ("failed", "api_error", status)
    assert str(status) in run["error"]


def test_a_codex_usage_limit_requeues_the_run_until_the_reset(stack: Stack, team: dict):
    resets_at = int(time.time()) + 3 * 3600
    run_id = stack.say(team["id"], f"[[brain:usage_limit resets_at={resets_at}]] do work")
    run = stack.wait_run(run_id, lambda r: r["outcome"] == "usage_limit")
    assert run["state"] == "queued" and abs(run["not_before"].timestamp() - resets_at) <= 60
    stack.api("POST", f"/api/runs/{run_id}/cancel")
    stack.wait_run(run_id)

