"""pytest fixtures for tests that run the real CLI: `pytest_plugins = ("tests.support.claude_fixtures",)`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.config import Settings
from tests.model_double import ModelDouble
from tests.support.claude import ClaudeSetup, claude_bin, cli_env
from workers.backends.claude import ClaudeBackend


@pytest.fixture
def claude_setup(model_double: ModelDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ClaudeSetup:
    """The real CLI, pointed at the double through the environment the backend inherits.

    As root, bypassPermissions works through the backend's opt-in (allow_root_bypass → IS_SANDBOX=1)."""
    binary = claude_bin()
    config_dir = tmp_path / "claude-config"
    workspace = tmp_path / "workspace"
    tools = tmp_path / "bin"
    for directory in (config_dir, workspace, tools):
        directory.mkdir()
    for key in list(os.environ):  # a developer's own Claude settings must not leak into the tests
        if key.startswith(("ANTHROPIC_", "CLAUDE_CODE_")) or key in ("IS_SANDBOX", "CLAUDECODE"):
            monkeypatch.delenv(key)
    for key, value in cli_env(model_double.url, config_dir).items():
        monkeypatch.setenv(key, value)
    backend = ClaudeBackend(Settings(claude_bin=binary, allow_root_bypass=True, model=None))
    return ClaudeSetup(model_double, backend, workspace, tools, config_dir, monkeypatch)
