"""The demo backend and its scripted agent: CLI-format output, agent API calls through `gamma-agent`, bench mode."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from shared import db
from shared.config import reset_settings_cache
from shared.ids import new_id
from tests.support import factories
from workers import agent_commands as cmd
from workers import demo_agent
from workers.backends import demo as demo_module
from workers.backends.demo import DemoBackend, role_and_reason
from workers.outcome import classify
from workers.runtime_types import LaunchSpec, RunContext
from workers.stream_format import dumps
from workers.stream_parser import ClaudeStreamParser

SAMPLES = Path(__file__).parent / "fixtures" / "claude-stream-json"
TASK = "task_01J00000000000000000000ABC"
pytestmark = pytest.mark.slow  # the demo agent runs as a process (and runs a stand-in gamma-agent)
TEAM = "team_01J00000000000000000000T00"
LEAD, ADA, BOB = (f"agent_01J0000000000000000000000{n}" for n in "123")


def _member(agent_id: str, name: str, is_lead: bool) -> dict:
    """A member as `GET /agent/v1/team` lists it (web.api.agent_api.roster)."""
    return {"id": agent_id, "name": name, "role_id": "engineering/backend-architect", "specialization": None,
            "is_lead": is_lead, "status": "idle", "working_on": None, "role_name": "Backend Architect",
            "you": agent_id == ADA}


def _task(stage: str, result: dict | None) -> dict:
    """A task as the agent API presents it (orchestrator.records.tasks.present): `stage`, `result` an object."""
    return {"id": TASK, "team_id": TEAM, "round_id": None, "title": "Outline", "description": "", "kind": "generic",
            "stage": stage, "priority": 0, "assigned_to": ADA, "created_by": LEAD, "result": result,
            "assignee": {"id": ADA, "name": "Ada", "status": "working"}, "assignee_name": "Ada",
            "assignee_status": "working", "created_by_name": "Lead"}


def _printed(value: object) -> str:
    """As `gamma-agent` prints an answer (indented JSON); no single quotes, so it fits in '…' for sh."""
    text = json.dumps(value, indent=2)
    assert "'" not in text
    return text


# A stand-in for `gamma-agent` that answers with the shapes the real one prints (the agent API's JSON).
FAKE_GAMMA_AGENT = f"""#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
case "$1 $2" in
  "teammates ") echo '{_printed({"members": [_member(LEAD, "Lead", True), _member(ADA, "Ada", False),
                                             _member(BOB, "Bob", False)]})}';;
  "tasks ") echo '{_printed({"tasks": [_task("__STAGE__", {"summary": "outlined"})]})}' \\
              | sed "s/__STAGE__/${{FAKE_STATUS:-done}}/";;
  "task create") echo '{_printed(_task("backlog", None))}';;
  "task done") [ -n "$FAKE_FAIL_DONE" ] && {{ echo "gamma-agent: error 404: task $3 not found" >&2; exit 1; }}
               echo '{_printed(_task("review", {"summary": "done"}))}';;
esac
"""


@pytest.fixture
def team_dir(tmp_path: Path) -> Path:
    workspace = tmp_path / "team" / "agents" / "ada"
    workspace.mkdir(parents=True)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / cmd.PROGRAM).write_text(FAKE_GAMMA_AGENT)
    (tools / cmd.PROGRAM).chmod(0o755)
    return tmp_path


def make_ctx(root: Path, prompt: str, **fields: object) -> RunContext:
    values: dict = {
        "run_id": "run_demo", "attempt": 1, "team_id": "team_X", "agent_id": "agent_X", "agent_name": "Ada",
        "prompt": prompt, "workspace": root / "team" / "agents" / "ada", "api_url": "http://127.0.0.1:9",
        "agent_token": "tok", "session_id": None, "tools_bin_dir": root / "bin",
    }
    values.update(fields)
    return RunContext(**values)


def launch(monkeypatch: pytest.MonkeyPatch, ctx: RunContext, role: str, reason: str = "task",
           **env: str) -> LaunchSpec:
    monkeypatch.setattr(demo_module, "role_and_reason", lambda _ctx: (role, reason))
    monkeypatch.setenv("GAMMA_DEMO_PACE", "0")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()  # the backend passes GAMMA_DEMO_* from the settings on the agent's command line
    try:
        return DemoBackend().launch_spec(ctx)
    finally:
        reset_settings_cache()


def run(spec: LaunchSpec) -> tuple[list[str], ClaudeStreamParser, int]:
    done = subprocess.run(spec.argv, input=spec.stdin_text, cwd=spec.cwd, env=spec.env, capture_output=True,
                          text=True, timeout=60, check=False)
    parser = ClaudeStreamParser()
    lines = done.stdout.splitlines()
    for line in lines:
        parser.feed(line)
    assert done.stderr == ""
    return lines, parser, done.returncode


def calls(root: Path) -> list[str]:
    path = root / "bin" / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_lead_plans_tasks_for_its_teammates(team_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = launch(monkeypatch, make_ctx(team_dir, "Build a small website"), "lead")
    assert spec.argv[1:] == ["-m", "workers.demo_agent", "--role", "lead", "--reason", "task"]
    assert spec.env["GAMMA_RUN_ID"] == "run_demo" and spec.env["PATH"].startswith(str(team_dir / "bin"))
    lines, parser, code = run(spec)
    assert code == 0
    made = calls(team_dir)
    assert made[0] == "teammates"
    creates = [call for call in made if call.startswith("task create")]
    assert 2 <= len(creates) <= 3
    assert {"--assignee Ada", "--assignee Bob"} <= {part for c in creates for part in _assignees(c)}
    assert "Lead" not in " ".join(_assignees(c)[0] for c in creates)
    assert parser.summary.result_seen and "[demo]" in (parser.summary.result_text or "")
    assert parser.summary.cost_usd == 0 and parser.summary.cli_version == "demo"


def _assignees(call: str) -> list[str]:
    words = call.split()
    return [f"--assignee {words[i + 1]}" for i, word in enumerate(words) if word == "--assignee"]


def test_member_writes_into_the_project_and_reports_done(team_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = launch(monkeypatch, make_ctx(team_dir, f"Please do {TASK}: outline the site."), "member")
    lines, parser, code = run(spec)
    assert code == 0
    written = team_dir / "team" / "project" / f"{TASK}-demo.md"
    assert "[demo]" in written.read_text()
    assert calls(team_dir) == [f"task done {TASK} --summary [demo] Wrote {written.name} in the project folder."]
    outcome = classify(parser.summary, exit_code=code, stderr_tail="", timed_out=False, cancelled=False,
                       lease_lost=False, resumed=False)
    assert outcome.outcome == "success"


def test_member_finds_its_task_through_the_api(team_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = launch(monkeypatch, make_ctx(team_dir, "Work on your task."), "member", FAKE_STATUS="in_progress")
    _, _, code = run(spec)
    assert code == 0 and calls(team_dir)[0] == "tasks" and calls(team_dir)[1].startswith(f"task done {TASK}")


def test_member_failure_is_an_error_result(team_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = launch(monkeypatch, make_ctx(team_dir, f"Do {TASK}"), "member", FAKE_FAIL_DONE="1")
    _, parser, code = run(spec)
    assert code == 1 and parser.summary.subtype == "error_during_execution"
    outcome = classify(parser.summary, exit_code=code, stderr_tail="", timed_out=False, cancelled=False,
                       lease_lost=False, resumed=False)
    assert outcome.outcome == "cli_error" and TASK in (outcome.error or "")


def test_lead_reviews_when_woken(team_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = launch(monkeypatch, make_ctx(team_dir, "Your teammates finished.", session_id="sess-1"), "lead", "wake")
    assert "--resume=sess-1" in spec.argv
    _, parser, code = run(spec)
    assert code == 0 and calls(team_dir) == ["tasks"]
    assert "Outline: done — outlined" in (parser.summary.result_text or "")
    assert parser.summary.session_id == "sess-1"


def test_output_is_the_clis_format(team_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines, _, _ = run(launch(monkeypatch, make_ctx(team_dir, f"Do {TASK}"), "member"))
    reference = {}
    for name in ("01-simple-success.stdout.jsonl", "02-tool-use-bash-bypass.stdout.jsonl"):
        for line in (SAMPLES / name).read_text().splitlines():
            data = json.loads(line)
            reference.setdefault((data["type"], data.get("subtype")), data)
    for line in lines:
        data = json.loads(line)
        assert dumps(data) == line  # compact, raw UTF-8, as the CLI prints
        expected = reference[(data["type"], data.get("subtype"))]
        assert list(data) == list(expected), data["type"]
        if data["type"] in ("assistant", "user"):
            assert list(data["message"]) == list(expected["message"])
        if data["type"] == "result":
            assert list(data["usage"]) == list(expected["usage"])


def test_bench_mode_prints_lines_without_api_calls(team_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = launch(monkeypatch, make_ctx(team_dir, "bench"), "member", GAMMA_DEMO_BENCH_LINES="40",
                  GAMMA_DEMO_BENCH_RATE="400")
    lines, parser, code = run(spec)
    assert code == 0 and calls(team_dir) == []
    assert len(lines) == 42 and parser.summary.result_seen and parser.summary.subtype == "success"
    # Each line carries the moment it was written (bench/cli_stream.py measures stdout → browser from it).
    texts = [json.loads(line)["message"]["content"][0]["text"] for line in lines[1:-1]]
    stamps = [float(demo_agent.BENCH_STAMP.search(text).group(1)) for text in texts]
    assert len(stamps) == 40 and stamps == sorted(stamps)


def test_role_and_reason_come_from_the_run(team: dict) -> None:
    agent = factories.create_agent(team["id"], "Lead", is_lead=True)
    run_id = new_id("run")
    with db.transaction() as conn:
        conn.execute("INSERT INTO runs (id, team_id, agent_id, prompt, reason, backend)"
                     " VALUES (%s, %s, %s, 'wake up', 'wake', 'demo')", (run_id, team["id"], agent["id"]))
    ctx = RunContext(run_id=run_id, attempt=1, team_id=team["id"], agent_id=agent["id"], agent_name="Lead",
                     prompt="wake up", workspace=Path("/"), api_url="", agent_token="", session_id=None)
    assert role_and_reason(ctx) == ("lead", "wake")
