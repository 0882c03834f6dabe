"""Running the real, pinned `claude` CLI against the model double.

- `claude_bin()`: $GAMMA_TEST_CLAUDE_BIN, else the project copy that `make claude` installs. Missing: the test
  fails (never skips) and says to run `make claude`.
- `cli_env(url, config_dir)`: the variables that point the CLI at the double, isolated and quick to fail
  (no retries). `oauth=True` logs in "with a subscription" (needed for the usage-limit answer).
- fixtures `model_double` and `claude_setup` live in `tests/support/claude_fixtures.py`; use them with
  `pytest_plugins = ("tests.support.claude_fixtures",)` in a test module.
- `run_spec(spec)`: run a LaunchSpec to the end, parse its stdout, classify the outcome.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.model_double import ModelDouble
from workers.backends.claude import ClaudeBackend
from workers.outcome import classify
from workers.runtime_types import LaunchSpec, Outcome, ParsedEvent, RunContext, RunSummary
from workers.stream_parser import ClaudeStreamParser

REPO = Path(__file__).resolve().parents[2]
PINNED_VERSION = (REPO / "tests" / "claude-cli-version").read_text().strip()


def claude_bin() -> str:
    configured = os.environ.get("GAMMA_TEST_CLAUDE_BIN")
    path = Path(configured) if configured else (
        REPO / ".tools" / f"claude-{PINNED_VERSION}" / "node_modules" / ".bin" / "claude")
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"the pinned claude CLI is missing at {path}: run `make claude` "
                    "(or point GAMMA_TEST_CLAUDE_BIN at a claude binary)", pytrace=False)
    return str(path)


def cli_env(url: str, config_dir: Path, *, oauth: bool = False) -> dict[str, str]:
    """`config_dir` doubles as HOME: the CLI's Bash tool sources the user's shell profile for every shell
    snapshot, and a developer's profile (pyenv init, …) must neither slow the tests nor change them."""
    env = {
        "HOME": str(config_dir),
        "ANTHROPIC_BASE_URL": url,
        "CLAUDE_CONFIG_DIR": str(config_dir),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
    if oauth:
        env["CLAUDE_CODE_OAUTH_TOKEN"] = "double-oauth-token"
    else:
        env["ANTHROPIC_API_KEY"] = "double-api-key"
    return env


@dataclass
class ClaudeSetup:
    """One test's CLI world: the double, a config dir, a workspace, a tools dir and a backend."""

    double: ModelDouble
    backend: ClaudeBackend
    workspace: Path
    tools_bin_dir: Path
    config_dir: Path
    monkeypatch: pytest.MonkeyPatch

    def context(self, prompt: str, **fields: object) -> RunContext:
        values: dict[str, object] = {
            "run_id": f"run_test_{uuid.uuid4().hex[:8]}", "attempt": 1, "team_id": "team_test",
            "agent_id": "agent_test", "agent_name": "Tester", "prompt": prompt, "workspace": self.workspace,
            "api_url": "http://127.0.0.1:9/agent-api", "agent_token": "agent-token-for-tests", "session_id": None,
            "permission_mode": "bypassPermissions", "max_turns": 10, "tools_bin_dir": self.tools_bin_dir,
        }
        values.update(fields)
        return RunContext(**values)  # type: ignore[arg-type]

    def use_oauth(self) -> None:
        self.monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        for key, value in cli_env(self.double.url, self.config_dir, oauth=True).items():
            self.monkeypatch.setenv(key, value)

    def run(self, prompt: str, *, timeout: float = 60, **fields: object) -> CliRun:
        ctx = self.context(prompt, **fields)
        return run_spec(self.backend.launch_spec(ctx), timeout=timeout, resumed=ctx.session_id is not None)


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


def run_spec(spec: LaunchSpec, *, timeout: float = 60, resumed: bool = False) -> CliRun:
    done = subprocess.run(
        spec.argv, input=spec.stdin_text, cwd=spec.cwd, env=spec.env, capture_output=True, text=True,
        timeout=timeout, start_new_session=True, stdin=None if spec.stdin_text is not None else subprocess.DEVNULL,
    )
    parser = ClaudeStreamParser()
    lines = done.stdout.splitlines()
    events = [event for line in lines for event in parser.feed(line)]
    outcome = classify(parser.summary, exit_code=done.returncode, stderr_tail=done.stderr, timed_out=False,
                       cancelled=False, lease_lost=False, resumed=resumed)
    return CliRun(spec, lines, done.stderr, done.returncode, events, parser.summary, outcome)
