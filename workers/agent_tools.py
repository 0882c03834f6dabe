"""The directory put first on every agent's PATH: it holds `gamma-agent`, bound to this Python."""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from shared.config import get_settings
from workers.backends.launch import AGENT_ENV_FILE


@lru_cache(maxsize=1)
def tools_bin_dir() -> Path:
    directory = get_settings().home / "bin"
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "gamma-agent"
    _write_if_changed(shim, f'#!/bin/sh\nexec "{sys.executable}" -m workers.agent_cli "$@"\n', 0o755)
    _write_if_changed(directory / AGENT_ENV_FILE, f'export PATH="{directory}:$PATH"\n', 0o644)
    return directory


def _write_if_changed(path: Path, content: str, mode: int) -> None:
    if path.exists() and path.read_text() == content:
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(content)
    temporary.chmod(mode)
    temporary.replace(path)
