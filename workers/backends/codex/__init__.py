"""The `codex` backend: OpenAI's codex CLI, headless, JSON events.

    codex exec --json --skip-git-repo-check <sandbox flags> -c allow_login_shell=false
               -c shell_environment_policy.inherit=all -c project_doc_fallback_filenames=["CLAUDE.md"]
               [-m MODEL] [resume <thread_id>] -

The prompt goes through stdin (`-`: written, then closed), never argv. `resume <thread_id>` continues the
agent's thread (the id of `thread.started`); the flags are passed again, as codex wants.

- `allow_login_shell=false`: codex runs commands with `bash -lc` by default, and a login shell resets PATH
  (Debian's /etc/profile does, for root), which would lose `gamma-agent`.
- `shell_environment_policy.inherit=all`: commands see the whole agent environment, including
  GAMMA_AGENT_TOKEN and the run markers Gamma uses to find (and stop) every process of a run.
- `project_doc_fallback_filenames=["CLAUDE.md"]`: codex reads AGENTS.md; Gamma writes each agent's instructions
  to CLAUDE.md, which codex then reads the same way.
- Sandbox: the agent's permission mode (claude's names) maps onto codex's: `bypassPermissions` →
  `--dangerously-bypass-approvals-and-sandbox` (exec never asks for approval anyway); `plan` → `--sandbox
  read-only`; anything else → `--sandbox workspace-write` with network access (the agent API is reached over
  HTTP) and the team's folders (`--add-dir`) writable besides the agent's own. See docs/backends.md.
- The model: the agent's model unless it is a Claude alias or id (roles are written for claude); otherwise
  codex's configured default. Max turns, budgets and tool lists have no codex flag and are not applied.

Environment: `workers/backends/launch.py`; state (config, login, sessions) lives in CODEX_HOME (default
~/.codex) — give each worker its own, as the tests do.

Sessions: a thread's rollout is `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`, and
`codex exec resume <id>` finds it by its name anywhere below `sessions/` (seen with 0.171.0: a rollout copied
into another CODEX_HOME, at its own or another date's path, resumes with its context; the state databases beside
it are rebuilt and not needed) — so the rollout is all that moves between hosts (`transcript_place`).
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from shared.config import Settings, get_settings
from workers.backends.cli_binary import LoginStatus, VersionCache, ask, find_binary
from workers.backends.codex.outcome import CODEX_RULES
from workers.backends.codex.parser import CodexStreamParser
from workers.backends.launch import TRANSCRIPT_SESSION_ID, agent_env, check_launchable
from workers.runtime_types import LaunchError, LaunchSpec, RunContext, TranscriptPlace

BYPASS = "bypassPermissions"
SETTINGS = ("allow_login_shell=false", "shell_environment_policy.inherit=all",
            'project_doc_fallback_filenames=["CLAUDE.md"]')
_CLAUDE_MODEL = re.compile(r"^(?:sonnet|opus|haiku|default|inherit|claude-)", re.IGNORECASE)


class CodexBackend:
    name = "codex"
    label = "Codex"
    outcome_rules = CODEX_RULES

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._versions = VersionCache()

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def launch_spec(self, ctx: RunContext) -> LaunchSpec:
        check_launchable(ctx)
        env = agent_env(dict(os.environ), ctx)
        binary = self._binary(env.get("PATH"))
        return LaunchSpec(argv=[binary, *self.arguments(ctx)], env=env, cwd=Path(ctx.workspace),
                          stdin_text=ctx.prompt)

    def arguments(self, ctx: RunContext) -> list[str]:
        args = ["exec", "--json", "--skip-git-repo-check", *sandbox_flags(ctx.permission_mode, ctx.team_dirs)]
        for setting in SETTINGS:
            args += ["-c", setting]
        if ctx.model and not _CLAUDE_MODEL.match(ctx.model):
            args += ["-m", ctx.model]
        if ctx.session_id:
            args += ["resume", ctx.session_id]
        return [*args, "-"]

    def new_parser(self) -> CodexStreamParser:
        return CodexStreamParser()

    def transcript_place(self, session_id: str, spec: LaunchSpec) -> TranscriptPlace | None:
        """`$CODEX_HOME/sessions/**/rollout-*-<thread id>.jsonl`."""
        if not TRANSCRIPT_SESSION_ID.match(session_id):
            return None
        home = spec.env.get("CODEX_HOME") or str(Path(spec.env.get("HOME") or Path.home()) / ".codex")
        return TranscriptPlace(Path(home) / "sessions", f"**/rollout-*-{glob.escape(session_id)}.jsonl")

    def version(self) -> str | None:
        """`codex --version` ("codex-cli 0.171.0" → "0.171.0"), asked once per binary."""
        return self._versions.get(self.binary)

    def binary(self) -> str:
        """The CLI's absolute path on the worker's PATH (LaunchError `cli_not_found` when it is not there)."""
        return self._binary(os.environ.get("PATH"))

    def login_status(self) -> LoginStatus:
        """`codex login status` (local: exit 0 when logged in), else CODEX_API_KEY, which `codex exec` reads."""
        try:
            binary = self.binary()
        except LaunchError as error:
            return LoginStatus(None, None, error.message)
        done = ask([binary, "login", "status"])
        words = ((done.stdout or "") + (done.stderr or "")).strip().splitlines() if done else []
        said = next((line for line in reversed(words) if "log" in line.lower()), "")
        if done is not None and done.returncode == 0:
            return LoginStatus(True, "api_key" if "API key" in said else "chatgpt", said)
        if os.environ.get("CODEX_API_KEY"):
            return LoginStatus(True, "api_key", "CODEX_API_KEY is set")
        if done is None:
            return LoginStatus(None, None, "`codex login status` could not be run")
        return LoginStatus(False, None, "not logged in: run `codex login` as the worker's user, or set CODEX_API_KEY")

    def _binary(self, search_path: str | None) -> str:
        return find_binary(self.settings.codex_bin, "GAMMA_CODEX_BIN", "npm install -g @openai/codex", search_path)


def sandbox_flags(permission_mode: str | None, team_dirs: tuple[Path, ...] = ()) -> list[str]:
    if permission_mode == BYPASS:
        return ["--dangerously-bypass-approvals-and-sandbox"]
    if permission_mode == "plan":
        return ["--sandbox", "read-only"]
    flags = ["--sandbox", "workspace-write", "-c", "sandbox_workspace_write.network_access=true"]
    for directory in team_dirs:  # the team's project folder is where members deliver their work
        flags += ["--add-dir", str(directory)]
    return flags


BACKEND = CodexBackend
