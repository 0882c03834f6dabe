"""The real, pinned `claude` CLI launched through ClaudeBackend's LaunchSpec against the model double.

Nothing is mocked between the backend, the CLI and the parser: the double plays the model, the CLI runs the
tools for real. A missing binary fails these tests with "run `make claude`"; they never skip.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.claude import ClaudeSetup
from workers import agent_commands as cmd

pytestmark = pytest.mark.cli
pytest_plugins = ("tests.support.claude_fixtures",)

FAKE_GAMMA_AGENT = """#!/bin/sh
echo "gamma-agent $* run=$GAMMA_RUN_ID url=$GAMMA_API_URL token=$GAMMA_AGENT_TOKEN"
"""


def _install_fake_gamma_agent(directory: Path) -> None:
    script = directory / cmd.PROGRAM
    script.write_text(FAKE_GAMMA_AGENT)
    script.chmod(0o755)


def _user_text(request_body: dict) -> str:
    parts = []
    for message in request_body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [block.get("text", "") for block in content if block.get("type") == "text"]
    return "\n".join(parts)


def test_tools_run_for_real_and_every_event_is_parsed(claude_setup: ClaudeSetup, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_gamma_agent(claude_setup.tools_bin_dir)
    elsewhere = tmp_path / "elsewhere"  # the test process's cwd: the double must never write relative to it
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    command = cmd.shell(cmd.list_tasks())
    run = claude_setup.run(f'[[brain:write_file path=notes.txt content=hello-file cmd="{command}"]] Please work.')

    assert run.exit_code == 0, run.stderr
    assert (run.outcome.outcome, run.outcome.state) == ("success", "succeeded")
    assert (claude_setup.workspace / "notes.txt").read_text() == "hello-file"
    assert list(elsewhere.iterdir()) == []
    kinds = [kind for kind in run.kinds() if kind != "agent.system"]  # thinking_tokens progress lines
    assert kinds == ["agent.init", "agent.thinking", "agent.text", "agent.tool_use", "agent.tool_use",
                     "agent.tool_result", "agent.tool_result", "agent.text", "agent.result"], run.kinds()
    uses = {use["tool_use_id"]: use["name"] for use in run.of_kind("agent.tool_use")}
    results = run.of_kind("agent.tool_result")
    assert {result["tool_use_id"]: result["name"] for result in results} == uses
    assert sorted(uses.values()) == ["Bash", "Write"]
    bash_output = next(result["content"] for result in results if result["name"] == "Bash")
    # gamma-agent came from the tools dir on PATH and saw the run's variables.
    assert f"gamma-agent tasks run={run.spec.env['GAMMA_RUN_ID']}" in bash_output
    assert "token=agent-token-for-tests" in bash_output

    summary = run.summary
    assert summary.cli_version == claude_setup.backend.version()  # the binary under test, pinned or newest
    assert uuid.UUID(summary.session_id or "")
    assert summary.num_turns and summary.num_turns >= 2 and summary.result_seen and summary.is_error is False
    assert summary.usage and summary.usage["input_tokens"] > 0 and summary.usage["output_tokens"] > 0
    assert summary.cost_usd and summary.cost_usd > 0
    assert summary.model_usage and summary.context_window and summary.context_window >= 200_000
    assert summary.context_tokens and summary.context_tokens > summary.usage["input_tokens"] // 2

    # The prompt travelled through stdin (closed after writing: no 3 s stall, no warning), not argv.
    assert "Please work." not in " ".join(run.spec.argv)
    assert "no stdin data" not in run.stderr
    first = claude_setup.double.messages_requests()[0].body
    assert "Please work." in _user_text(first)


def test_large_prompt_goes_through_stdin(claude_setup: ClaudeSetup) -> None:
    prompt = "[[brain:echo text=received]] " + "x" * 300_000
    run = claude_setup.run(prompt)
    assert run.outcome.outcome == "success", run.outcome
    assert run.summary.result_text == "received"
    assert "x" * 300_000 in _user_text(claude_setup.double.messages_requests()[0].body)


def test_resume_keeps_the_session(claude_setup: ClaudeSetup) -> None:
    first = claude_setup.run("[[brain:echo text=one]] remember the word pelican")
    session = first.summary.session_id
    assert first.outcome.outcome == "success" and session

    second = claude_setup.run("[[brain:echo text=two]] what was the word?", session_id=session)
    assert f"--resume={session}" in second.spec.argv
    assert second.outcome.outcome == "success", second.outcome
    assert second.summary.session_id == session
    assert second.of_kind("agent.init")[0]["session_id"] == session
    history = _user_text(claude_setup.double.messages_requests()[-1].body)
    assert "pelican" in history  # the CLI really loaded the earlier conversation


def test_unknown_session_is_recognised(claude_setup: ClaudeSetup) -> None:
    missing = str(uuid.uuid4())
    run = claude_setup.run("[[brain:echo]] hello", session_id=missing)
    assert run.exit_code == 1
    assert run.outcome.outcome == "unknown_session"
    assert run.outcome.state == "queued" and run.outcome.fresh_session
    assert missing in (run.outcome.error or "")
    assert claude_setup.double.messages_requests() == []


@pytest.mark.parametrize(("brain", "status"), [("error_401", 401), ("error_429", 429), ("error_529", 529)])
def test_api_errors_carry_their_status(claude_setup: ClaudeSetup, brain: str, status: int) -> None:
    run = claude_setup.run(f"[[brain:{brain}]] hello")
    assert run.exit_code == 1
    assert run.summary.api_error_status == status
    assert (run.outcome.outcome, run.outcome.state) == ("api_error", "failed")
    assert (run.outcome.error or "").startswith(f"API error {status}: ")
    assert run.of_kind("agent.text")[0]["error"]  # the CLI's synthetic message names the error


def test_usage_limit_requeues_after_the_reset(claude_setup: ClaudeSetup) -> None:
    claude_setup.use_oauth()  # the limit headers mean "usage limit" only to a subscription login
    before = time.time()
    run = claude_setup.run("[[brain:usage_limit reset_in=7200]] hello")
    assert run.exit_code == 1
    assert run.of_kind("agent.rate_limit")[0]["status"] == "rejected"
    assert (run.outcome.outcome, run.outcome.state) == ("usage_limit", "queued")
    assert run.outcome.not_before is not None
    assert before + 7100 < run.outcome.not_before.timestamp() < time.time() + 7300


def test_max_turns(claude_setup: ClaudeSetup) -> None:
    run = claude_setup.run("[[brain:many_turns]] keep going", max_turns=2)
    assert run.exit_code == 1
    assert (run.outcome.outcome, run.outcome.state) == ("max_turns", "failed")
    assert (run.outcome.error or "").startswith("Stopped at the turn limit")


def test_budget_exceeded(claude_setup: ClaudeSetup) -> None:
    run = claude_setup.run("[[brain:write_file]] go", budget_usd=0.000001)
    assert "--max-budget-usd" in run.spec.argv
    assert (run.outcome.outcome, run.outcome.state) == ("budget_exceeded", "queued"), run.outcome  # it waits


FAKE_TEAM_API = '''#!{python}
"""A stateful stand-in for gamma-agent: tasks live in a JSON file next to it."""
import json, pathlib, sys
state_file = pathlib.Path(__file__).with_name("tasks.json")
tasks = json.loads(state_file.read_text()) if state_file.exists() else []
args = sys.argv[1:]
if args[:1] == ["teammates"]:
    print(json.dumps([{{"name": "Lead", "is_lead": True}}, {{"name": "Ada"}}, {{"name": "Bob"}}]))
elif args[:2] == ["task", "create"]:
    task = dict(zip(args[2::2], args[3::2]), id="task_01J0000000000000000000000" + str(len(tasks)), status="todo")
    tasks.append(task)
    print(json.dumps(task))
elif args[:2] == ["task", "done"]:
    for task in tasks:
        if task["id"] == args[2]:
            task.update(status="done", result=args[4])
    print(json.dumps({{"ok": True}}))
elif args[:1] == ["tasks"]:
    print(json.dumps(tasks))
else:
    sys.exit("usage: gamma-agent ...")
state_file.write_text(json.dumps(tasks))
'''


def test_team_brains_plan_work_and_review(claude_setup: ClaudeSetup, tmp_path: Path) -> None:
    script = claude_setup.tools_bin_dir / cmd.PROGRAM
    script.write_text(FAKE_TEAM_API.format(python=sys.executable))
    script.chmod(0o755)
    state = claude_setup.tools_bin_dir / "tasks.json"
    team = tmp_path / "team"
    lead_dir, ada_dir = team / "agents" / "lead", team / "agents" / "ada"
    for directory in (lead_dir, ada_dir, team / "project"):
        directory.mkdir(parents=True)

    plan = claude_setup.run("[[brain:lead members=Ada,Bob]] Build a tiny site", workspace=lead_dir)
    assert plan.outcome.outcome == "success", plan.outcome
    tasks = json.loads(state.read_text())
    assert [(task["--assignee"], task["status"]) for task in tasks] == [("Ada", "todo"), ("Bob", "todo")]
    assert "[[brain:member]]" in tasks[0]["--description"]

    work = claude_setup.run(f"Task {tasks[0]['id']}: {tasks[0]['--description']}", workspace=ada_dir)
    assert work.outcome.outcome == "success", work.outcome
    assert (team / "project" / f"{tasks[0]['id']}.md").is_file()
    assert json.loads(state.read_text())[0]["status"] == "done"

    review = claude_setup.run("Your teammates reported back.", workspace=lead_dir, session_id=plan.summary.session_id)
    assert review.outcome.outcome == "success", review.outcome
    assert review.summary.session_id == plan.summary.session_id
    answer = review.summary.result_text or ""
    assert "Review done" in answer and f"- {tasks[0]['id']} [done]" in answer
