"""The `claude` backend: the real Claude Code CLI, headless, streaming JSON.

    claude -p --output-format stream-json --verbose [--resume=<session>] [--model M] [--max-turns N]
           [--permission-mode P] [--allowedTools a,b] [--disallowedTools c,d] [--max-budget-usd X]

The prompt goes through stdin (written, then closed), never argv: no argv size limit, nothing in `ps`.
Verified with 2.1.197, 2.1.332 and 2.1.337: `claude -p` reads the prompt from stdin until EOF and sends it as the first
user text.

Environment: see `workers/backends/launch.py`; in addition DISABLE_AUTOUPDATER=1 unless set (a fleet must
not change its CLI under running work).

Sessions: the CLI keeps a session's transcript in `<config>/projects/<project dir name>/<session>.jsonl` and
`--resume` looks only there (`transcript_place`, `project_dir_name`); nothing else is needed to resume (seen with
2.1.332: a transcript copied there from another host and cwd resumes with its whole context).

Root: the CLI refuses bypassPermissions as root unless IS_SANDBOX=1. With GAMMA_ALLOW_ROOT_BYPASS=1 (or
IS_SANDBOX=1 already in the environment) it is set; otherwise the launch fails with a config_error that says
how to fix it.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from shared.config import Settings, get_settings
from workers.backends.cli_binary import LoginStatus, VersionCache, ask, find_binary, parse_json
from workers.backends.launch import TRANSCRIPT_SESSION_ID, agent_env, check_launchable
from workers.outcome import CLAUDE_RULES
from workers.runtime_types import LaunchError, LaunchSpec, RunContext, TranscriptPlace
from workers.stream_parser import ClaudeStreamParser

log = logging.getLogger(__name__)

BYPASS = "bypassPermissions"
# The CLI's project directory names (2.1.332: `J$`/`LO` in its bundle, as the Python SDK's `_sanitize_path`, which
# counts code points where the CLI counts UTF-16 units): every UTF-16 unit but [a-zA-Z0-9] becomes "-"; a name over
# 200 characters is cut there and gets "-" + base36(|32-bit string hash of the whole path|).
PROJECT_NAME_LIMIT = 200
_NOT_ALPHANUMERIC = re.compile(r"[^a-zA-Z0-9]")
# CLAUDE_CODE_PROJECT_DIR_NAME replaces the name when CLAUDE_CONFIG_DIR is set and it is a plain, safe name.
_PROJECT_NAME_OVERRIDE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WINDOWS_DEVICE = re.compile(r"^(?:con|prn|aux|nul|com[0-9]|lpt[0-9])$", re.IGNORECASE)


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

    def transcript_place(self, session_id: str, spec: LaunchSpec) -> TranscriptPlace | None:
        """`<config>/projects/<project dir name of the cwd>/<session>.jsonl`."""
        if not TRANSCRIPT_SESSION_ID.match(session_id):
            return None
        return TranscriptPlace(projects_dir(spec.env) / project_dir_name(spec.cwd, spec.env),
                               glob.escape(f"{session_id}.jsonl"))

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


def projects_dir(env: Mapping[str, str]) -> Path:
    """`$CLAUDE_CONFIG_DIR/projects`, else `~/.claude/projects` of the CLI's HOME."""
    return Path(env.get("CLAUDE_CONFIG_DIR") or Path(env.get("HOME") or Path.home()) / ".claude") / "projects"


def project_dir_name(cwd: Path | str, env: Mapping[str, str] | None = None) -> str:
    """The directory the CLI files a cwd's sessions under. The CLI names it after `process.cwd()`, the real path
    (symlinks resolved, as the kernel reports it), so this does too."""
    env = env or {}
    override = env.get("CLAUDE_CODE_PROJECT_DIR_NAME") or ""
    if env.get("CLAUDE_CONFIG_DIR") and _PROJECT_NAME_OVERRIDE.match(override) and not _WINDOWS_DEVICE.match(override):
        return override
    return sanitized_path(os.path.realpath(cwd))


def sanitized_path(path: str) -> str:
    # JavaScript's regex (no `u` flag) replaces UTF-16 code units: a character beyond the BMP becomes "--".
    name = _NOT_ALPHANUMERIC.sub(lambda found: "--" if ord(found.group()) > 0xFFFF else "-", path)
    if len(name) <= PROJECT_NAME_LIMIT:
        return name
    return f"{name[:PROJECT_NAME_LIMIT]}-{_base36(abs(_js_string_hash(path)))}"


def _js_string_hash(text: str) -> int:
    """The CLI's `h = (h << 5) - h + s.charCodeAt(i) | 0` over UTF-16 code units: a 32-bit signed int."""
    value = 0
    units = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(units), 2):
        value = (value * 31 + int.from_bytes(units[i:i + 2], "little")) & 0xFFFFFFFF
    return value - 0x100000000 if value >= 0x80000000 else value


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = digits[digit] + out
        if number == 0:
            return out


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


BACKEND = ClaudeBackend
