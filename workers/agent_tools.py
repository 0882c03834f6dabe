"""The directory put first on every agent's PATH: it holds `gamma-agent`, bound to this Python."""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from shared.config import get_settings


@lru_cache(maxsize=1)
def tools_bin_dir() -> Path:
    directory = get_settings().home / "bin"
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "gamma-agent"
    content = f'#!/bin/sh\nexec "{sys.executable}" -m workers.agent_cli "$@"\n'
    if not shim.exists() or shim.read_text() != content:
        temporary = shim.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(content)
        temporary.chmod(0o755)
        temporary.replace(shim)
    return directory
