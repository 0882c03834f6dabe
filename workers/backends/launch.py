"""What every backend's launch has in common: the agent's environment and the checks before a spawn.

Environment: the worker's, minus
- what a parent Claude Code session sets for the tools it runs (observed with 2.1.197: CLAUDECODE,
  CLAUDE_CODE_SESSION_ID, CLAUDE_CODE_ENTRYPOINT, CLAUDE_CODE_EXECPATH, CLAUDE_CODE_CHILD_SESSION, AI_AGENT,
  and CLAUDE_EFFORT, GIT_EDITOR, … ). When Gamma itself is started from inside Claude Code these would leak
  into every agent and make its CLI believe it is a child session. Deliberate user settings are kept:
  CLAUDE_CODE_MAX_RETRIES, CLAUDE_CODE_OAUTH_TOKEN, CLAUDE_CODE_USE_BEDROCK, ANTHROPIC_*, and so on;
- Gamma's own secrets (DATABASE_URL, GAMMA_API_TOKEN, PGPASSWORD): an agent acts only through the agent API,
  with its run token;
plus GAMMA_API_URL, GAMMA_AGENT_TOKEN, GAMMA_RUN_ID, and the tools directory (`gamma-agent`) first on PATH.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from shared.config import get_settings
from workers.runtime_types import LaunchError, RunContext

SESSION_ENV = frozenset({
    "CLAUDECODE", "CLAUDE_CODE_SESSION_ID", "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_EXECPATH",
    "CLAUDE_CODE_CHILD_SESSION", "CLAUDE_CODE_SSE_PORT", "CLAUDE_AGENT_SDK_VERSION", "AI_AGENT",
})
# Also set by Claude Code for its tools, but a user may set them on purpose: dropped only inside a session.
SESSION_ENV_IF_INHERITED = frozenset({
    "CLAUDE_EFFORT", "GIT_EDITOR", "COREPACK_ENABLE_AUTO_PIN", "NoDefaultCurrentDirectoryInExePath",
})
SECRET_ENV = frozenset({"DATABASE_URL", "GAMMA_API_TOKEN", "GAMMA_TEST_DATABASE_URL", "PGPASSWORD"})


AGENT_ENV_FILE = "agent-env.sh"
# What a session id must look like to be part of a transcript's file name (claude's session, codex's thread): no
# path separator, nothing that globs.
TRANSCRIPT_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def agent_env(base: dict[str, str], ctx: RunContext) -> dict[str, str]:
    inside_session = "CLAUDECODE" in base
    env = {
        key: value for key, value in base.items()
        if key not in SESSION_ENV and key not in SECRET_ENV
        and not (inside_session and key in SESSION_ENV_IF_INHERITED)
    }
    env["GAMMA_API_URL"] = ctx.api_url
    env["GAMMA_AGENT_TOKEN"] = ctx.agent_token
    env["GAMMA_RUN_ID"] = ctx.run_id
    env["GAMMA_AGENT_RETRY_SECONDS"] = f"{get_settings().agent_retry_seconds:g}"
    if ctx.tools_bin_dir is not None:
        env["PATH"] = os.pathsep.join(part for part in (str(ctx.tools_bin_dir), env.get("PATH", "")) if part)
        # The CLI's Bash tool runs commands in a login-shell snapshot, and login shells may reset PATH
        # (Debian's /etc/profile does, for root): the CLI sources this file before every command.
        env_file = Path(ctx.tools_bin_dir) / AGENT_ENV_FILE
        if env_file.exists():
            env["CLAUDE_ENV_FILE"] = str(env_file)
    return env


def check_launchable(ctx: RunContext) -> None:
    if not ctx.prompt.strip():
        raise LaunchError("config_error", "the run has an empty prompt")
    if not Path(ctx.workspace).is_dir():
        raise LaunchError("config_error", f"the agent's workspace {ctx.workspace} does not exist")
