"""The real, pinned `codex` CLI launched through CodexBackend's LaunchSpec against the model double's Responses API.

Nothing is mocked between the backend, the CLI and the parser: the double plays the model, codex runs the
commands and applies the patches for real. A missing binary fails these tests with "run `make codex`".
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest

from tests.support.codex import CodexSetup
from workers import agent_commands as cmd

pytestmark = pytest.mark.cli
pytest_plugins = ("tests.support.codex_fixtures",)

FAKE_GAMMA_AGENT = """#!/bin/sh
echo "gamma-agent $* run=$GAMMA_RUN_ID url=$GAMMA_API_URL token=$GAMMA_AGENT_TOKEN"
"""


def _install_fake_gamma_agent(directory: Path) -> None:
    script = directory / cmd.PROGRAM
    script.write_text(FAKE_GAMMA_AGENT)
    script.chmod(0o755)


def _input_text(body: dict) -> str:
    return "\n".join(str(part.get("text", "")) for item in body["input"] if item.get("type") == "message"
                     for part in item.get("content") or [])


def test_commands_and_patches_run_for_real_and_every_event_is_parsed(codex_setup: CodexSetup,
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_gamma_agent(codex_setup.tools_bin_dir)
    elsewhere = tmp_path / "elsewhere"  # the test process's cwd: nothing may land here
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    command = cmd.shell(cmd.list_tasks())
    run = codex_setup.run(f'[[brain:write_file path=notes.txt content=hello-file cmd="{command}"]] Please work.')

    assert run.exit_code == 0, run.stderr
    assert (run.outcome.outcome, run.outcome.state) == ("success", "succeeded")
    assert (codex_setup.workspace / "notes.txt").read_text().strip() == "hello-file"
    assert list(elsewhere.iterdir()) == []
    kinds = [kind for kind in run.kinds() if kind != "agent.system"]
    assert kinds == ["agent.init", "agent.thinking", "agent.text", "agent.tool_use", "agent.tool_result",
                     "agent.tool_use", "agent.tool_result", "agent.text", "agent.result"], run.kinds()
    uses = {use["tool_use_id"]: use["name"] for use in run.of_kind("agent.tool_use")}
    results = run.of_kind("agent.tool_result")
    assert {result["tool_use_id"]: result["name"] for result in results} == uses
    assert sorted(uses.values()) == ["apply_patch", "shell"]
    patch = next(use for use in run.of_kind("agent.tool_use") if use["name"] == "apply_patch")
    assert patch["input"]["changes"][0]["path"].endswith("notes.txt")
    shell = next(result for result in results if result["name"] == "shell")
    assert shell["exit_code"] == 0 and shell["is_error"] is False
    # gamma-agent came from the tools dir on PATH and saw the run's variables (token included).
    assert f"gamma-agent tasks run={run.spec.env['GAMMA_RUN_ID']}" in shell["content"]
    assert "token=agent-token-for-tests" in shell["content"]

    summary = run.summary
    assert uuid.UUID(summary.session_id or "") and run.of_kind("agent.init")[0]["session_id"] == summary.session_id
    assert summary.result_seen and summary.is_error is False and summary.result_text.startswith("Done.")
    assert summary.usage and summary.usage["input_tokens"] > 0 and summary.usage["output_tokens"] > 0
    assert summary.usage["cache_read_input_tokens"] > 0
    assert (codex_setup.backend.version() or "").count(".") >= 2  # `codex --version`, as recorded on every run

    # The prompt travelled through stdin, not argv.
    assert "Please work." not in " ".join(run.spec.argv) and run.spec.argv[-1] == "-"
    first = codex_setup.double.responses_requests()[0].body
    assert "Please work." in _input_text(first)


def test_the_agents_instructions_reach_codex_from_claude_md(codex_setup: CodexSetup) -> None:
    (codex_setup.workspace / "CLAUDE.md").write_text("You are Ada. [[brain:echo text=from-claude-md]]\n")
    run = codex_setup.run("hello")
    assert run.outcome.outcome == "success", run.outcome
    assert run.summary.result_text == "from-claude-md"


def test_large_prompt_goes_through_stdin(codex_setup: CodexSetup) -> None:
    prompt = "[[brain:echo text=received]] " + "x" * 300_000
    run = codex_setup.run(prompt)
    assert run.outcome.outcome == "success", run.outcome
    assert run.summary.result_text == "received"
    assert "x" * 300_000 in _input_text(codex_setup.double.responses_requests()[0].body)


def test_resume_keeps_the_thread(codex_setup: CodexSetup) -> None:
    first = codex_setup.run("[[brain:echo text=one]] remember the word pelican")
    thread = first.summary.session_id
    assert first.outcome.outcome == "success" and thread

    second = codex_setup.run("[[brain:echo text=two]] what was the word?", session_id=thread)
    assert second.spec.argv[-3:] == ["resume", thread, "-"]
    assert second.outcome.outcome == "success", second.outcome
    assert second.summary.session_id == thread
    assert "pelican" in _input_text(codex_setup.double.responses_requests()[-1].body)  # the history came back


def test_unknown_thread_is_recognised(codex_setup: CodexSetup) -> None:
    missing = str(uuid.uuid4())
    run = codex_setup.run("[[brain:echo]] hello", session_id=missing)
    assert run.exit_code != 0
    assert (run.outcome.outcome, run.outcome.state) == ("unknown_session", "queued") and run.outcome.fresh_session
    assert codex_setup.double.responses_requests() == []


@pytest.mark.parametrize(("brain", "status"), [("error_401", 401), ("error_429", 429), ("error_529", 529)])
def test_api_errors_carry_their_status(codex_setup: CodexSetup, brain: str, status: int) -> None:
    run = codex_setup.run(f"[[brain:{brain}]] hello")
    assert run.exit_code == 1
    assert run.summary.api_error_status == status
    assert (run.outcome.outcome, run.outcome.state) == ("api_error", "failed")
    assert str(status) in (run.outcome.error or "")


def test_usage_limit_requeues_after_the_reset(codex_setup: CodexSetup) -> None:
    resets_at = int(time.time()) + 7200
    run = codex_setup.run(f"[[brain:usage_limit resets_at={resets_at}]] hello")
    assert run.exit_code == 1
    assert (run.outcome.outcome, run.outcome.state) == ("usage_limit", "queued")
    assert run.outcome.not_before is not None
    assert abs(run.outcome.not_before.timestamp() - resets_at) <= 60  # codex names the minute


def test_missing_credentials_are_a_configuration_error(codex_setup: CodexSetup) -> None:
    codex_setup.monkeypatch.delenv("CODEX_API_KEY")
    run = codex_setup.run("[[brain:echo]] hello")
    assert (run.outcome.outcome, run.outcome.state) == ("config_error", "failed"), run.outcome
    assert "codex login" in (run.outcome.error or "")


def test_samples_match_what_the_parser_expects(codex_setup: CodexSetup) -> None:
    """The shapes the captured samples rely on still hold for this binary (so the samples stay honest)."""
    run = codex_setup.run("[[brain:echo text=sample]] hi")
    types = [json.loads(line)["type"] for line in run.lines]
    assert types[0] == "thread.started" and types[-1] == "turn.completed" and "turn.started" in types


def test_with_accept_edits_codex_sandboxes_commands_to_the_workspace_and_the_team_dirs(codex_setup: CodexSetup,
                                                                                      tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    outside = codex_setup.home.parent / f"outside-{uuid.uuid4().hex[:8]}"  # not under /tmp: codex lets /tmp be
    outside.mkdir()  # written by default (sandbox_workspace_write.exclude_slash_tmp = false)
    command = f"touch {project}/shared.txt; touch {outside}/escaped.txt; echo finished"
    run = codex_setup.run(f'[[brain:write_file path=notes.txt content=boxed cmd="{command}"]] go',
                          permission_mode="acceptEdits", team_dirs=(project,))
    assert "--sandbox" in run.spec.argv and "--dangerously-bypass-approvals-and-sandbox" not in run.spec.argv
    assert run.outcome.outcome == "success", run.outcome
    assert (codex_setup.workspace / "notes.txt").read_text().strip() == "boxed"
    assert (project / "shared.txt").exists(), "the team's folders are writable (--add-dir)"
    escaped = (outside / "escaped.txt").exists()
    shutil.rmtree(outside)
    assert not escaped, "anything else is not"
    shell = next(result for result in run.of_kind("agent.tool_result") if result["name"] == "shell")
    assert "finished" in shell["content"]
