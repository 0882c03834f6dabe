"""Agent backends by name (`agents.backend`)."""

from __future__ import annotations

from functools import cache

from workers.runtime_types import Backend, LaunchError


@cache
def get_backend(name: str) -> Backend:
    if name == "claude":
        from workers.backends.claude import ClaudeBackend  # noqa: PLC0415

        return ClaudeBackend()
    if name == "demo":
        from workers.backends.demo import DemoBackend  # noqa: PLC0415

        return DemoBackend()
    raise LaunchError("config_error", f"unknown agent backend {name!r} (expected 'claude' or 'demo')")
