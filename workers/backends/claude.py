"""The `claude` backend: the real Claude Code CLI, headless, streaming JSON.

    claude -p --output-format stream-json --verbose [--resume=<session>] [--model M] [--max-turns N]
           [--permission-mode P] [--allowedTools a,b] [--disallowedTools c,d] [--max-budget-usd X]

The prompt goes through stdin (written, then closed), never argv: no argv size limit, nothing in `ps`.
Verified with 2.1.197 and 2.1.332: `claude -p` reads the prompt from stdin until EOF and sends it as the first
user text.

Environment: see `workers/backends/launch.py`; in addition DISABLE_AUTOUPDATER=1 unless set (a fleet must
not change its CLI under running work).

Root: the CLI refuses bypassPermissions as root unless IS_SANDBOX=1. With GAMMA_ALLOW_ROOT_BYPASS=1 (or
IS_SANDBOX=1 already in the environment) it is set; otherwise the launch fails with a config_error that says
how to fix it.
"""

from __future__ import annotations

import logging
import os
from decimal import Decimal
from pathlib import Path

from shared.config import Settings, get_settings
from workers.backends.cli_binary import LoginStatus, VersionCache, ask, find_binary, parse_json
from workers.backends.launch import agent_env, check_launchable
from workers.outcome import CLAUDE_RULES
from workers.runtime_types import LaunchError, LaunchSpec, RunContext
from workers.stream_parser import ClaudeStreamParser

log = logging.getLogger(__name__)

BYPASS = "bypassPermissions"


class ClaudeBackend:
    name = "claude"
    label = "Claude Code"
    outcome_rules = CLAUDE_RULES

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._versions = VersionCache()

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def launch_spec(self, ctx: RunContext) -> LaunchSpec:
        check_launchable(ctx)
        env = agent_env(dict(os.environ), ctx)
        env.setdefault("DISABLE_AUTOUPDATER", "1")
        permission_mode = ctx.permission_mode or self.settings.permission_mode
        self._allow_root(permission_mode, env)
        binary = self._binary(env.get("PATH"))
        return LaunchSpec(argv=[binary, *self.arguments(ctx, permission_mode)], env=env, cwd=Path(ctx.workspace),
                          stdin_text=ctx.prompt)

    def arguments(self, ctx: RunContext, permission_mode: str | None) -> list[str]:
        args = ["-p", "--output-format", "stream-json", "--verbose"]
        if ctx.session_id:
            args.append(f"--resume={ctx.session_id}")  # `=`: an id can never be read as a flag
        model = ctx.model or self.settings.model
        if model:
            args += ["--model", model]
        if ctx.max_turns:
            args += ["--max-turns", str(ctx.max_turns)]
        if permission_mode:
            args += ["--permission-mode", permission_mode]
        if ctx.allowed_tools:
            args += ["--allowedTools", ",".join(ctx.allowed_tools)]
        if ctx.disallowed_tools:
            args += ["--disallowedTools", ",".join(ctx.disallowed_tools)]
        if ctx.budget_usd is not None and ctx.budget_usd > 0:
            args += ["--max-budget-usd", format(Decimal(str(ctx.budget_usd)), "f")]
        return args

    def new_parser(self) -> ClaudeStreamParser:
        return ClaudeStreamParser()

    def version(self) -> str | None:
        """`claude --version` ("2.1.332 (Claude Code)" → "2.1.332"), asked once per binary."""
        return self._versions.get(self.binary)

    def binary(self) -> str:
        """The CLI's absolute path on the worker's PATH (LaunchError `cli_not_found` when it is not there)."""
        return self._binary(os.environ.get("PATH"))

    def login_status(self) -> LoginStatus:
        """`claude auth status --json` (local, no tokens spent): loggedIn and authMethod."""
        try:
            binary = self.binary()
        except LaunchError as error:
            return LoginStatus(None, None, error.message)
        done = ask([binary, "auth", "status", "--json"])
        data = parse_json(done.stdout) if done else None
        if data is None or not isinstance(data.get("loggedIn"), bool):
            return LoginStatus(None, None, "`claude auth status` gave no answer (a CLI older than 2.1?)")
        method = str(data.get("authMethod") or "none")
        source = data.get("apiKeySource")
        detail = f"{method}" + (f" ({source})" if source else "")
        if not data["loggedIn"]:
            detail = "not logged in: run `claude` once and log in, or set ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN"
        return LoginStatus(data["loggedIn"], method, detail)

    # ------------------------------------------------------------------------------------------ helpers

    def _binary(self, search_path: str | None) -> str:
        return find_binary(self.settings.claude_bin, "GAMMA_CLAUDE_BIN",
                           "npm install -g @anthropic-ai/claude-code", search_path)

    def _allow_root(self, permission_mode: str | None, env: dict[str, str]) -> None:
        if permission_mode != BYPASS or not _is_root() or env.get("IS_SANDBOX") == "1":
            return
        if not self.settings.allow_root_bypass:
            raise LaunchError(
                "config_error",
                "Gamma runs as root, and claude refuses --permission-mode bypassPermissions for root. Run Gamma as "
                "a normal user, or choose another mode (GAMMA_PERMISSION_MODE=acceptEdits, or the agent's "
                "permission mode), or — only inside a container or sandbox — set GAMMA_ALLOW_ROOT_BYPASS=1 so "
                "Gamma sets IS_SANDBOX=1 for the CLI.",
            )
        log.info("running claude as root with bypassPermissions: IS_SANDBOX=1 (GAMMA_ALLOW_ROOT_BYPASS is set)")
        env["IS_SANDBOX"] = "1"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


BACKEND = ClaudeBackend
