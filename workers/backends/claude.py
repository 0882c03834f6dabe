"""The `claude` backend: the real Claude Code CLI, headless, streaming JSON.

    claude -p --output-format stream-json --verbose [--resume=<session>] [--model M] [--max-turns N]
           [--permission-mode P] [--allowedTools a,b] [--disallowedTools c,d] [--max-budget-usd X]

The prompt goes through stdin (written, then closed), never argv: no argv size limit, nothing in `ps`.
Verified with 2.1.197: `claude -p` reads the prompt from stdin until EOF and sends it as the first user text.

Environment: see `workers/backends/launch.py`; in addition DISABLE_AUTOUPDATER=1 unless set (a fleet must
not change its CLI under running work).

Root: the CLI refuses bypassPermissions as root unless IS_SANDBOX=1. With GAMMA_ALLOW_ROOT_BYPASS=1 (or
IS_SANDBOX=1 already in the environment) it is set; otherwise the launch fails with a config_error that says
how to fix it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
from decimal import Decimal
from pathlib import Path

from shared.config import Settings, get_settings
from workers.backends.launch import agent_env, check_launchable
from workers.runtime_types import LaunchError, LaunchSpec, RunContext
from workers.stream_parser import ClaudeStreamParser

log = logging.getLogger(__name__)

BYPASS = "bypassPermissions"
_VERSION = re.compile(r"\d+\.\d+\.\d+[\w.+-]*")


class ClaudeBackend:
    name = "claude"

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._versions: dict[str, str | None] = {}
        self._lock = threading.Lock()

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
        """`claude --version` ("2.1.197 (Claude Code)" → "2.1.197"), asked once per binary."""
        try:
            binary = self._binary(os.environ.get("PATH"))
        except LaunchError:
            return None
        with self._lock:
            if binary not in self._versions:
                self._versions[binary] = _ask_version(binary)
            return self._versions[binary]

    # ------------------------------------------------------------------------------------------ helpers

    def _binary(self, search_path: str | None) -> str:
        configured = self.settings.claude_bin
        found = shutil.which(configured, path=search_path)
        if found is None:
            raise LaunchError(
                "cli_not_found",
                f"the Claude Code CLI was not found: {configured!r} (GAMMA_CLAUDE_BIN) is not an executable on "
                "PATH. Install it (npm install -g @anthropic-ai/claude-code) or set GAMMA_CLAUDE_BIN to its path.",
            )
        return os.path.abspath(found)

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


def _ask_version(binary: str) -> str | None:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        log.warning("could not ask %s for its version: %s", binary, error)
        return None
    match = _VERSION.search(done.stdout or "")
    return match.group(0) if match else None
