"""Agent backends by name (`agents.backend`): every module or package in `workers/backends/` but the shared
helpers is one backend, named like the module, and exposes `BACKEND`, a class whose instances satisfy
`workers.runtime_types.Backend`. A new CLI is one new module there (plus the migration that widens the
`agents.backend`/`runs.backend` CHECKs): see docs/backends.md.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from shared.backends import BACKEND_NAMES
from workers import backends
from workers.runtime_types import Backend, LaunchError

HELPERS = frozenset({"launch", "cli_binary"})  # modules of workers/backends/ that are not backends
NAMES: tuple[str, ...] = BACKEND_NAMES
DISCOVERED: tuple[str, ...] = tuple(sorted(  # what workers/backends/ holds; must equal NAMES
    info.name for info in pkgutil.iter_modules(backends.__path__) if info.name not in HELPERS
))
AGENT_CLIS = tuple(name for name in NAMES if name != "demo")  # the real CLIs (doctor, tested versions)


@cache
def get_backend(name: str) -> Backend:
    if name not in NAMES:
        raise LaunchError("config_error", f"unknown agent backend {name!r} (expected one of {', '.join(NAMES)})")
    module = importlib.import_module(f"workers.backends.{name}")
    return module.BACKEND()
