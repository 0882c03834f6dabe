"""ClaudeBackend: the command line, the environment, root handling, a missing CLI, the cached version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.config import Settings
from workers.backends import claude as claude_module
from workers.backends.claude import ClaudeBackend
from workers.runtime_types import LaunchError, RunContext


@pytest.fixture
def fake_claude(tmp_path: Path) -> Path:
    """A stand-in binary that counts how often it was asked for its version."""
    binary = tmp_path / "fake-claude"
    binary.write_text(f'#!/bin/sh\necho x >> "{tmp_path}/calls"\necho "9.8.7 (Claude Code)"\n')
    binary.chmod(0o755)
    return binary


def make_ctx(tmp_path: Path, **fields: object) -> RunContext:
    values: dict = {
        "run_id": "run_X", "attempt": 1, "team_id": "team_X", "agent_id": "agent_X", "agent_name": "Ada",
        "prompt": "Build it.", "workspace": tmp_path, "api_url": "http://127.0.0.1:8700", "agent_token": "tok",
        "session_id": None,
    }
    values.update(fields)
    return RunContext(**values)


def backend(binary: Path, **settings: object) -> ClaudeBackend:
    return ClaudeBackend(Settings(claude_bin=str(binary), **settings))


def test_minimal_command_line(tmp_path: Path, fake_claude: Path) -> None:
    spec = backend(fake_claude, model=None, permission_mode="default").launch_spec(make_ctx(tmp_path))
    assert spec.argv == [str(fake_claude), "-p", "--output-format", "stream-json", "--verbose",
                         "--permission-mode", "default"]
    assert spec.stdin_text == "Build it." and spec.cwd == tmp_path


def test_full_command_line(tmp_path: Path, fake_claude: Path) -> None:
    ctx = make_ctx(tmp_path, session_id="-weird-id", model="opus", max_turns=7, permission_mode="acceptEdits",
                   allowed_tools=("Bash(git log:*)", "Edit"), disallowed_tools=("WebFetch",), budget_usd=0.0000001)
    spec = backend(fake_claude).launch_spec(ctx)
    assert spec.argv[1:] == [
        "-p", "--output-format", "stream-json", "--verbose", "--resume=-weird-id", "--model", "opus",
        "--max-turns", "7", "--permission-mode", "acceptEdits", "--allowedTools", "Bash(git log:*),Edit",
        "--disallowedTools", "WebFetch", "--max-budget-usd", "0.0000001",
    ]
    assert "Build it." not in spec.argv


def test_model_defaults_to_the_setting(tmp_path: Path, fake_claude: Path) -> None:
    spec = backend(fake_claude, model="sonnet").launch_spec(make_ctx(tmp_path, permission_mode="default"))
    assert spec.argv[spec.argv.index("--model") + 1] == "sonnet"


def test_environment(tmp_path: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "CLAUDECODE": "1", "CLAUDE_CODE_SESSION_ID": "s", "CLAUDE_CODE_ENTRYPOINT": "cli",
        "CLAUDE_CODE_EXECPATH": "/x", "CLAUDE_CODE_CHILD_SESSION": "1", "AI_AGENT": "claude", "CLAUDE_EFFORT": "high",
        "CLAUDE_CODE_MAX_RETRIES": "3", "CLAUDE_CODE_OAUTH_TOKEN": "oauth", "ANTHROPIC_BASE_URL": "http://x",
        "DATABASE_URL": "postgresql://secret", "GAMMA_API_TOKEN": "admin-token-long-enough-for-the-minimum",
        "KEEP_ME": "yes", "PATH": "/usr/bin",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DISABLE_AUTOUPDATER", raising=False)
    tools = tmp_path / "bin"
    spec = backend(fake_claude).launch_spec(make_ctx(tmp_path, permission_mode="default", tools_bin_dir=tools))
    env = spec.env
    for gone in ("CLAUDECODE", "CLAUDE_CODE_SESSION_ID", "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_EXECPATH",
                 "CLAUDE_CODE_CHILD_SESSION", "AI_AGENT", "CLAUDE_EFFORT", "DATABASE_URL", "GAMMA_API_TOKEN"):
        assert gone not in env, gone
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "3" and env["CLAUDE_CODE_OAUTH_TOKEN"] == "oauth"
    assert env["ANTHROPIC_BASE_URL"] == "http://x" and env["KEEP_ME"] == "yes"
    assert (env["GAMMA_API_URL"], env["GAMMA_AGENT_TOKEN"], env["GAMMA_RUN_ID"]) == (
        "http://127.0.0.1:8700", "tok", "run_X")
    assert env["PATH"] == f"{tools}{os.pathsep}/usr/bin"
    assert env["DISABLE_AUTOUPDATER"] == "1"


def test_effort_set_on_purpose_is_kept(tmp_path: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLAUDECODE", raising=False)
    monkeypatch.setenv("CLAUDE_EFFORT", "low")
    spec = backend(fake_claude).launch_spec(make_ctx(tmp_path, permission_mode="default"))
    assert spec.env["CLAUDE_EFFORT"] == "low"


@pytest.mark.parametrize("allow", [False, True])
def test_root_with_bypass(tmp_path: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch, allow: bool) -> None:
    monkeypatch.setattr(claude_module, "_is_root", lambda: True)
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    ctx = make_ctx(tmp_path, permission_mode="bypassPermissions")
    if not allow:
        with pytest.raises(LaunchError) as raised:
            backend(fake_claude, allow_root_bypass=False).launch_spec(ctx)
        assert raised.value.outcome == "config_error"
        assert "GAMMA_ALLOW_ROOT_BYPASS=1" in raised.value.message and "root" in raised.value.message
    else:
        spec = backend(fake_claude, allow_root_bypass=True).launch_spec(ctx)
        assert spec.env["IS_SANDBOX"] == "1"


def test_root_with_sandbox_already_set(tmp_path: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(claude_module, "_is_root", lambda: True)
    monkeypatch.setenv("IS_SANDBOX", "1")
    ctx = make_ctx(tmp_path, permission_mode="bypassPermissions")
    assert backend(fake_claude, allow_root_bypass=False).launch_spec(ctx).env["IS_SANDBOX"] == "1"


def test_not_root_needs_nothing(tmp_path: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(claude_module, "_is_root", lambda: False)
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    spec = backend(fake_claude).launch_spec(make_ctx(tmp_path, permission_mode="bypassPermissions"))
    assert "IS_SANDBOX" not in spec.env


def test_cli_not_found(tmp_path: Path) -> None:
    missing = backend(tmp_path / "nope")
    with pytest.raises(LaunchError) as raised:
        missing.launch_spec(make_ctx(tmp_path, permission_mode="default"))
    assert raised.value.outcome == "cli_not_found" and "GAMMA_CLAUDE_BIN" in raised.value.message
    assert missing.version() is None


def test_bad_context(tmp_path: Path, fake_claude: Path) -> None:
    with pytest.raises(LaunchError, match="empty prompt"):
        backend(fake_claude).launch_spec(make_ctx(tmp_path, prompt="  "))
    with pytest.raises(LaunchError, match="does not exist"):
        backend(fake_claude).launch_spec(make_ctx(tmp_path / "gone"))


def test_version_is_asked_once(tmp_path: Path, fake_claude: Path) -> None:
    claude = backend(fake_claude)
    assert claude.version() == "9.8.7"
    assert claude.version() == "9.8.7"
    assert (tmp_path / "calls").read_text().count("x") == 1


def test_binary_found_on_path(tmp_path: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{fake_claude.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    spec = backend(Path(fake_claude.name)).launch_spec(make_ctx(tmp_path, permission_mode="default"))
    assert spec.argv[0] == str(fake_claude)
