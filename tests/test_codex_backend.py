"""CodexBackend without running codex: the command line, the sandbox per permission mode, the environment, the
model, a missing CLI, the cached version and the login status (stand-in binaries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings
from workers.backend_registry import NAMES, get_backend
from workers.backends.codex import CodexBackend
from workers.runtime_types import LaunchError, RunContext

BASE = ["exec", "--json", "--skip-git-repo-check"]
SETTINGS = ["-c", "allow_login_shell=false", "-c", "shell_environment_policy.inherit=all",
            "-c", 'project_doc_fallback_filenames=["CLAUDE.md"]']


@pytest.fixture
def fake_codex(tmp_path: Path) -> Path:
    binary = tmp_path / "fake-codex"
    binary.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/calls"\n'
                      '[ "$1" = --version ] && { echo "codex-cli 9.8.7"; exit 0; }\n'
                      '[ "$1 $2" = "login status" ] && { echo "Logged in using an API key - sk-***"; exit 0; }\n'
                      "exit 1\n")
    binary.chmod(0o755)
    return binary


def make_ctx(tmp_path: Path, **fields: object) -> RunContext:
    values: dict = {
        "run_id": "run_X", "attempt": 1, "team_id": "team_X", "agent_id": "agent_X", "agent_name": "Ada",
        "prompt": "Build it.", "workspace": tmp_path, "api_url": "http://127.0.0.1:8700", "agent_token": "tok",
        "session_id": None, "permission_mode": "bypassPermissions", "tools_bin_dir": tmp_path / "bin",
    }
    values.update(fields)
    return RunContext(**values)


def backend(binary: Path) -> CodexBackend:
    return CodexBackend(Settings(codex_bin=str(binary)))


def test_the_registry_finds_codex_as_one_module() -> None:
    assert NAMES == ("claude", "codex", "demo")
    assert isinstance(get_backend("codex"), CodexBackend) and get_backend("codex").name == "codex"
    with pytest.raises(LaunchError, match="unknown agent backend 'gemini'"):
        get_backend("gemini")


def test_command_line_with_the_prompt_on_stdin(tmp_path: Path, fake_codex: Path) -> None:
    spec = backend(fake_codex).launch_spec(make_ctx(tmp_path))
    assert spec.argv == [str(fake_codex), *BASE, "--dangerously-bypass-approvals-and-sandbox", *SETTINGS, "-"]
    assert spec.stdin_text == "Build it." and spec.cwd == tmp_path and "Build it." not in spec.argv


def test_resume_names_the_thread_after_the_flags(tmp_path: Path, fake_codex: Path) -> None:
    spec = backend(fake_codex).launch_spec(make_ctx(tmp_path, session_id="01a2-thread", model="gpt-5.1-codex"))
    assert spec.argv[-5:] == ["-m", "gpt-5.1-codex", "resume", "01a2-thread", "-"]


@pytest.mark.parametrize("model", ["sonnet", "opus[1m]", "claude-sonnet-4-5", "haiku"])
def test_claude_models_are_left_to_codex_default(tmp_path: Path, fake_codex: Path, model: str) -> None:
    assert "-m" not in backend(fake_codex).launch_spec(make_ctx(tmp_path, model=model)).argv


@pytest.mark.parametrize(("mode", "flags"), [
    ("bypassPermissions", ["--dangerously-bypass-approvals-and-sandbox"]),
    ("plan", ["--sandbox", "read-only"]),
    ("acceptEdits", ["--sandbox", "workspace-write", "-c", "sandbox_workspace_write.network_access=true",
                     "--add-dir", "/w/team/project", "--add-dir", "/w/team/plans"]),
    ("default", ["--sandbox", "workspace-write", "-c", "sandbox_workspace_write.network_access=true",
                 "--add-dir", "/w/team/project", "--add-dir", "/w/team/plans"]),
])
def test_the_sandbox_follows_the_permission_mode(tmp_path: Path, fake_codex: Path, mode: str, flags: list) -> None:
    ctx = make_ctx(tmp_path, permission_mode=mode, team_dirs=(Path("/w/team/project"), Path("/w/team/plans")))
    argv = backend(fake_codex).launch_spec(ctx).argv
    assert argv[len(BASE) + 1:len(BASE) + 1 + len(flags)] == flags


def test_the_agent_environment(tmp_path: Path, fake_codex: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://secret")
    monkeypatch.setenv("CODEX_HOME", "/var/lib/gamma/codex-worker-1")
    env = backend(fake_codex).launch_spec(make_ctx(tmp_path)).env
    assert env["GAMMA_AGENT_TOKEN"] == "tok" and env["GAMMA_RUN_ID"] == "run_X"
    assert env["PATH"].split(":")[0] == str(tmp_path / "bin")
    assert "DATABASE_URL" not in env and env["CODEX_HOME"] == "/var/lib/gamma/codex-worker-1"


def test_a_missing_cli_says_how_to_install_it(tmp_path: Path) -> None:
    missing = backend(tmp_path / "no-codex")
    with pytest.raises(LaunchError) as raised:
        missing.launch_spec(make_ctx(tmp_path))
    assert raised.value.outcome == "cli_not_found" and "npm install -g @openai/codex" in raised.value.message
    assert missing.version() is None and missing.login_status().logged_in is None


def test_version_is_asked_once_and_login_status_is_local(tmp_path: Path, fake_codex: Path) -> None:
    codex = backend(fake_codex)
    assert codex.version() == "9.8.7" and codex.version() == "9.8.7"
    status = codex.login_status()
    assert (status.logged_in, status.method) == (True, "api_key")
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == ["--version", "login status"], "one version question, and no `exec`: no tokens spent"


def test_not_logged_in_unless_codex_api_key_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "logged-out-codex"
    binary.write_text('#!/bin/sh\necho "Not logged in"\nexit 1\n')
    binary.chmod(0o755)
    monkeypatch.delenv("CODEX_API_KEY", raising=False)
    assert backend(binary).login_status().logged_in is False
    monkeypatch.setenv("CODEX_API_KEY", "sk-test")
    assert backend(binary).login_status().logged_in is True
