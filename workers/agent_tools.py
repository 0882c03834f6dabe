"""The directory put first on every agent's PATH: it holds `gamma-agent`, bound to this Python and this code."""

from __future__ import annotations

import contextlib
import json
import os
import py_compile
import shlex
import sys
from functools import lru_cache
from pathlib import Path

from shared.config import get_settings
from workers.backends.launch import AGENT_ENV_FILE

# Where `workers` and `shared` are (the repository, or site-packages for an installed Gamma).
CODE_ROOT = Path(__file__).resolve().parent.parent
# What the shim imports from there.
SHIM_CODE = ("workers/agent_cli.py", "shared/agent_commands.py")


def shim_command() -> list[str]:
    """How `gamma-agent` starts (its arguments follow): this Python, isolated from the agent's environment (-I: no
    PYTHON* variables, no current directory on the path) and without `site` (-S: no site-packages, no .pth
    import hooks, which would cost each call tens of milliseconds), importing workers.agent_cli from this code.
    The code root goes last on the path: nothing in it can shadow the standard library."""
    code = (f"import sys; sys.path.append({json.dumps(str(CODE_ROOT))}); "
            "from workers.agent_cli import main; sys.exit(main())")
    return [sys.executable, "-I", "-S", "-c", code]


@lru_cache(maxsize=1)
def tools_bin_dir() -> Path:
    directory = get_settings().home / "bin"
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "gamma-agent"
    _write_if_changed(shim, f'#!/bin/sh\nexec {shlex.join(shim_command())} "$@"\n', 0o755)
    _write_if_changed(directory / AGENT_ENV_FILE, f'export PATH="{directory}:$PATH"\n', 0o644)
    compile_shim_code()
    return directory


def compile_shim_code() -> None:
    """Write the bytecode of what the shim imports: agents run it where the code is read-only (the sandbox), and
    would compile it again on every call if nothing outside had (nothing else imports workers.agent_cli)."""
    for name in SHIM_CODE:
        with contextlib.suppress(OSError, py_compile.PyCompileError):  # an installation this user cannot write
            py_compile.compile(str(CODE_ROOT / name), doraise=True)


def _write_if_changed(path: Path, content: str, mode: int) -> None:
    if path.exists() and path.read_text() == content:
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(content)
    temporary.chmod(mode)
    temporary.replace(path)
