"""Running a real agent CLI's LaunchSpec to the end in a test: the pinned binaries, a RunContext, the result.

- `pinned_version(cli)`: tests/<cli>-cli-version. `pinned_bin(cli)`: $GAMMA_TEST_<CLI>_BIN, else the copy the
  Makefile installs into .tools/<cli>-<version>/. Missing: the test fails (never skips) and says how to install.
- `run_spec(spec, backend)`: run it, parse its stdout with the backend's parser, classify with its rules.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from workers.outcome import classify
from workers.runtime_types import Backend, LaunchSpec, Outcome, ParsedEvent, RunContext, RunSummary

REPO = Path(__file__).resolve().parents[2]


def pinned_version(cli: str) -> str:
    return (REPO / "tests" / f"{cli}-cli-version").read_text().strip()


def pinned_bin(cli: str) -> str:
    configured = os.environ.get(f"GAMMA_TEST_{cli.upper()}_BIN")
    path = Path(configured) if configured else (
        REPO / ".tools" / f"{cli}-{pinned_version(cli)}" / "node_modules" / ".bin" / cli)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"the pinned {cli} CLI is missing at {path}: run `make {cli}` "
                    f"(or point GAMMA_TEST_{cli.upper()}_BIN at a {cli} binary)", pytrace=False)
    return str(path)


def run_context(prompt: str, default_workspace: Path, tools_bin_dir: Path, **fields: object) -> RunContext:
    """A RunContext for a test run; `fields` override any field (`workspace=…` included)."""
    values: dict[str, object] = {
        "run_id": f"run_test_{uuid.uuid4().hex[:8]}", "attempt": 1, "team_id": "team_test",
        "agent_id": "agent_test", "agent_name": "Tester", "prompt": prompt, "workspace": default_workspace,
        "api_url": "http://127.0.0.1:9/agent-api", "agent_token": "agent-token-for-tests", "session_id": None,
        "permission_mode": "bypassPermissions", "max_turns": 10, "tools_bin_dir": tools_bin_dir,
    }
    values.update(fields)
    return RunContext(**values)  # type: ignore[arg-type]


@dataclass
class CliRun:
    spec: LaunchSpec
    lines: list[str]
    stderr: str
    exit_code: int
    events: list[ParsedEvent]
    summary: RunSummary
    outcome: Outcome

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def of_kind(self, kind: str) -> list[dict]:
        return [event.payload for event in self.events if event.kind == kind]


def run_spec(spec: LaunchSpec, backend: Backend, *, timeout: float = 60, resumed: bool = False) -> CliRun:
    done = subprocess.run(
        spec.argv, input=spec.stdin_text, cwd=spec.cwd, env=spec.env, capture_output=True, text=True,
        timeout=timeout, start_new_session=True, stdin=None if spec.stdin_text is not None else subprocess.DEVNULL,
    )
    parser = backend.new_parser()
    lines = done.stdout.splitlines()
    events = [event for line in lines for event in parser.feed(line)]
    outcome = classify(parser.summary, exit_code=done.returncode, stderr_tail=done.stderr, timed_out=False,
                       cancelled=False, lease_lost=False, resumed=resumed, rules=backend.outcome_rules)
    return CliRun(spec, lines, done.stderr, done.returncode, events, parser.summary, outcome)
