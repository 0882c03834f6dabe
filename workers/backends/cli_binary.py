"""What every agent CLI backend needs of its binary: find it, ask its version (once), ask whether it is logged in.

None of this spends tokens: `--version` and the CLIs' own auth status commands are local.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable

from workers.runtime_types import LaunchError, LoginStatus

__all__ = ["LoginStatus", "VersionCache", "ask", "find_binary", "parse_json", "version_of"]

log = logging.getLogger(__name__)

_VERSION = re.compile(r"\d+\.\d+\.\d+[\w.+-]*")
ASK_TIMEOUT = 30


def find_binary(configured: str, setting: str, install_hint: str, search_path: str | None) -> str:
    """The absolute path of `configured` (a path or a name on `search_path`), or a `cli_not_found` LaunchError."""
    found = shutil.which(configured, path=search_path)
    if found is None:
        raise LaunchError(
            "cli_not_found",
            f"the agent CLI was not found: {configured!r} ({setting}) is not an executable on PATH. "
            f"Install it ({install_hint}) or set {setting} to its path.",
        )
    return os.path.abspath(found)


def ask(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str] | None:
    """Run a short local command of the CLI; None when it cannot be run at all."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=ASK_TIMEOUT, stdin=subprocess.DEVNULL,
                              check=False, env=env)
    except (OSError, subprocess.SubprocessError) as error:
        log.warning("could not run %s: %s", " ".join(argv), error)
        return None


def version_of(output: str) -> str | None:
    """"2.1.332 (Claude Code)" → "2.1.332", "codex-cli 0.171.0" → "0.171.0"."""
    match = _VERSION.search(output or "")
    return match.group(0) if match else None


def parse_json(text: str) -> dict | None:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class VersionCache:
    """`<binary> --version`, asked once per binary path (the worker records it on every run)."""

    def __init__(self) -> None:
        self._versions: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def get(self, binary_of: Callable[[], str]) -> str | None:
        try:
            binary = binary_of()
        except LaunchError:
            return None
        with self._lock:
            if binary not in self._versions:
                done = ask([binary, "--version"])
                self._versions[binary] = version_of(done.stdout) if done else None
            return self._versions[binary]
