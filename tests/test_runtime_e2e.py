"""Agent runs end to end: real gunicorn, real Dramatiq workers, the real pinned `claude` CLI and the model double.

These prove issue 3's claims with nothing mocked inside Gamma: events in order with tool calls paired, files on
disk, usage and cost stored, resume, recovery from an unknown session, API errors, max turns and cancel.
Recovery (usage limit, timeout, killed/stopped workers, lost connections): test_runtime_recovery.py.
"""

from __future__ import annotations

import json
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
    return stack.create_team()


def lead_of(team: dict) -> dict:
    return next(m for m in team["members"] if m["is_lead"])


def test_a_run_streams_its_work_runs_gamma_agent_and_writes_a_file(stack: Stack, team: dict):
    run_id = stack.say(team["id"], "[[brain:write_file path=notes/hello.txt cmd='gamma-agent team']] Say hello.")
    run = stack.wait_run(run_id)
    assert (run["state"], run["outcome"]) == ("succeeded", "success"), run["error"]
    assert run["cli_version"].startswith(stack.run(run_id)["cli_version"].split()[0])
    assert run["session_id"] and run["num_turns"] >= 2
    assert run["input_tokens"] > 0 and run["output_tokens"] > 0 and float(run["cost_usd"]) > 0
    assert run["context_tokens"] > 0 and run["context_window"] > 0

    events = stack.events(team["id"], run_id=run_id)
    kinds = [e["kind"] for e in events]
    assert [e["cursor"] for e in events] == sorted(e["cursor"] for e in events)
    assert kinds[0] == "run.queued" and kinds[-1] == "run.finished"
    assert kinds.index("run.started") < kinds.index("agent.init") < kinds.index("agent.result")
    uses = {e["payload"]["tool_use_id"]: e for e in events if e["kind"] == "agent.tool_use"}
    results = {e["payload"]["tool_use_id"]: e for e in events if e["kind"] == "agent.tool_result"}
    assert {u["payload"]["name"] for u in uses.values()} >= {"Bash", "Write"}
    assert set(uses) == set(results), "every tool call is paired with its result"
    for tool_use_id, use in uses.items():
        assert results[tool_use_id]["cursor"] > use["cursor"]
        assert results[tool_use_id]["payload"]["is_error"] is False, results[tool_use_id]["payload"]
    bash = next(results[i]["payload"] for i, u in uses.items() if u["payload"]["name"] == "Bash")
    assert "Lead" in str(bash["content"]), "gamma-agent reached the agent API with the run's token"

    written = stack.home / "workspaces" / team["id"] / "agents" / lead_of(team)["id"] / "notes" / "hello.txt"
    assert written.exists()
    lines = stack.api("GET", f"/api/runs/{run_id}/lines").json()
    raw = lines["lines"]  # the endpoint answers {"run_id", "attempt", "stream", "lines", ...}, never a bare list
    assert any(json.loads(r["line"]).get("subtype") == "init" for r in raw)
    assert any(json.loads(r["line"]).get("type") == "result" for r in raw)


def test_the_next_run_resumes_the_agent_session(stack: Stack, team: dict):
    first = stack.wait_run(stack.say(team["id"], "[[brain:echo]] one"))
    second_id = stack.say(team["id"], "[[brain:echo]] two")
    second = stack.wait_run(second_id)
    assert first["state"] == second["state"] == "succeeded"
    started = stack.wait_event(team["id"], "run.started", run_id=second_id)
    assert started["payload"]["resume_session"] == first["session_id"]
    assert second["session_id"] == first["session_id"]


def test_an_unknown_session_starts_fresh_and_says_so(stack: Stack, team: dict):
    lost = str(uuid.uuid4())
    stack.set_agent(lead_of(team)["id"], session_id=lost)
    run = stack.wait_run(stack.say(team["id"], "[[brain:echo]] after a lost session"))
    assert (run["state"], run["attempt"]) == ("succeeded", 2), run
    assert lost in run["session_note"]
    assert run["session_id"] and run["session_id"] != lost
    requeued = stack.wait_event(team["id"], "run.requeued", run_id=run["id"])
    assert requeued["payload"]["outcome"] == "unknown_session"


@pytest.mark.parametrize("brain,status", [("error_401", 401), ("error_429", 429), ("error_529", 529)])
def test_api_errors_fail_the_run_with_their_status(stack: Stack, team: dict, brain: str, status: int):
    run = stack.wait_run(stack.say(team["id"], f"[[brain:{brain}]] fail please"))
    assert (run["state"], run["outcome"], run["api_error_status"]) == ("failed", "api_error", status)
    assert str(status) in run["error"]


def test_max_turns_is_recorded(stack: Stack, team: dict):
    stack.set_agent(lead_of(team)["id"], max_turns=2)
    run = stack.wait_run(stack.say(team["id"], "[[brain:many_turns]] keep going"))
    assert (run["state"], run["outcome"]) == ("failed", "max_turns")
    assert "turns" in run["error"].lower()


def test_cancel_mid_run_kills_the_process_group_quickly(stack: Stack, team: dict):
    run_id = stack.say(team["id"], "[[brain:slow seconds=600]] take your time")
    stack.wait_event(team["id"], "agent.tool_use", run_id=run_id)
    stack.wait_run(run_id, lambda r: r["state"] == "running" and r["pid"])
    # the CLI and its Bash tool (`sleep 600`) are running
    wait_for(lambda: len(agent_processes(run_id)) >= 2, what=lambda: f"the CLI and its tool: {agent_processes(run_id)}")
    response = stack.api("POST", f"/api/runs/{run_id}/cancel")
    assert response.status_code in (200, 202), response.text
    gone_after = wait_gone(run_id)
    run = stack.wait_run(run_id)
    assert (run["state"], run["outcome"]) == ("cancelled", "cancelled")
    print(f"process group gone {gone_after:.2f} s after the cancel")



def test_a_spent_team_budget_pauses_the_team_and_raising_it_resumes_the_queued_run(stack: Stack, worker):
    team = stack.create_team()
    patched = stack.api("PATCH", f"/api/teams/{team['id']}", json={"budget_usd": 0.0001})
    assert patched.status_code == 200 and float(patched.json()["budget_usd"]) == 0.0001, patched.text
    first = stack.wait_run(stack.say(team["id"], "[[brain:echo]] spend a little"))
    assert float(first["cost_usd"]) > 0.0001, "sanity: one run of the double costs more than this budget"
    shown = stack.api("GET", f"/api/teams/{team['id']}").json()
    assert shown["budget_state"] == "paused" and shown["cost_usd"] > float(shown["budget_usd"]), shown
    second_id = stack.say(team["id"], "[[brain:echo]] and more")
    waiting = wait_for(lambda: (r := stack.api("GET", f"/api/runs/{second_id}").json())["wait_reason"] and r,
                       timeout=60, what="the second run's wait reason")
    assert waiting["state"] == "queued" and "budget is spent" in waiting["wait_reason"], waiting
    assert waiting["pid"] is None, "nothing was launched"
    chat = stack.api("GET", f"/api/teams/{team['id']}/messages").json()["messages"]
    assert any(m["kind"] == "notice" and "budget of $0.00 is spent" in m["content"] for m in chat), chat
    raised = stack.api("PATCH", f"/api/teams/{team['id']}", json={"budget_usd": 10})
    assert raised.status_code == 200 and raised.json()["budget_state"] == "ok", raised.text
    second = stack.wait_run(second_id)
    assert (second["state"], second["outcome"]) == ("succeeded", "success"), second["error"]


def test_a_binary_file_streamed_through_a_real_run_loses_nothing(stack: Stack, team: dict):
    """`cat` of a binary (NUL bytes, invalid UTF-8) through the CLI's Bash tool: every event and line is kept."""
    binary = "printf 'head\\000nul \\377\\376 tail'; head -c 2048 /bin/true"
    run_id = stack.say(team["id"], f'[[brain:write_file cmd="{binary}" path=after-binary.txt]] cat a binary')
    run = stack.wait_run(run_id)
    assert (run["state"], run["outcome"]) == ("succeeded", "success"), run["error"]
    events = stack.events(team["id"], run_id=run_id)
    kinds = [e["kind"] for e in events]
    assert kinds[-1] == "run.finished" and "agent.result" in kinds, "events after the binary output were kept"
    bash = next(e["payload"]["content"] for e in events if e["kind"] == "agent.tool_result" and "head" in
                e["payload"]["content"])
    assert "head\\u0000nul" in bash, "the NUL is kept, escaped"
    assert [e for e in events if e["kind"] == "run.warning" and e["payload"].get("topic") != "sandbox"] == []
    lines = stack.api("GET", f"/api/runs/{run_id}/lines", params={"limit": 5000}).json()["lines"]
    assert any("head\\\\u0000nul" in line["line"] or "head\\u0000nul" in line["line"] for line in lines)
    assert json.loads(lines[-1]["line"])["type"] == "result", "the last raw line is the CLI's result"

