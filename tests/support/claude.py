"""Running the real, pinned `claude` CLI against the model double.

- `claude_bin()`: $GAMMA_TEST_CLAUDE_BIN, else the project copy that `make claude` installs. Missing: the test
  fails (never skips) and says to run `make claude`.
- `cli_env(url, config_dir)`: the variables that point the CLI at the double, isolated and quick to fail
  (no retries). `oauth=True` logs in "with a subscription" (needed for the usage-limit answer).
- fixtures `model_double` and `claude_setup` live in `tests/support/claude_fixtures.py`; use them with
  `pytest_plugins = ("tests.support.claude_fixtures",)` in a test module.
- `run_spec(spec, backend)` (tests/support/cli_run.py): run a LaunchSpec to the end, parse its stdout with the
  backend's parser, classify the outcome with its rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.model_double import ModelDouble
from tests.support.cli_run import CliRun, pinned_bin, pinned_version, run_context, run_spec
from workers.backends.claude import ClaudeBackend
from workers.runtime_types import RunContext

PINNED_VERSION = pinned_version("claude")


def claude_bin() -> str:
    """$GAMMA_TEST_CLAUDE_BIN, else the pinned copy `make claude` installs under .tools/."""
    return pinned_bin("claude")


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
        return run_context(prompt, self.workspace, self.tools_bin_dir, **fields)

    def use_oauth(self) -> None:
        self.monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        for key, value in cli_env(self.double.url, self.config_dir, oauth=True).items():
            self.monkeypatch.setenv(key, value)

    def run(self, prompt: str, *, timeout: float = 60, **fields: object) -> CliRun:
        ctx = self.context(prompt, **fields)
        return run_spec(self.backend.launch_spec(ctx), self.backend, timeout=timeout,
                        resumed=ctx.session_id is not None)


