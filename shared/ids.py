"""Prefixed ULIDs: `team_01J…`, `agent_01J…`, `task_…`, `run_…`, `evt_…`, `msg_…`, `amsg_…`, `round_…`."""

from __future__ import annotations

import re

from ulid import ULID

PREFIXES = ("team", "agent", "task", "run", "evt", "msg", "amsg", "round", "rev", "chk")
# Matched with fullmatch: `$` alone would also accept a trailing newline, and ids end up in filesystem paths.
_PATTERN = re.compile(rf"({'|'.join(PREFIXES)})_[0-9A-HJKMNP-TV-Z]{{26}}")


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{ULID()}"


def is_id(value: object, prefix: str | None = None) -> bool:
    if not isinstance(value, str):
        return False
    match = _PATTERN.fullmatch(value)
    return bool(match) and (prefix is None or match.group(1) == prefix)
