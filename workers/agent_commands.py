"""The `gamma-agent` command lines that scripted agents run, and how they read the output.

Both scripted agents use these: the demo backend (`workers/demo_agent.py`, which runs them as processes) and
the model double's brains in `tests/model_double/` (which send them to the real CLI as `Bash` tool calls).
Each line is built by `shared.agent_commands.argv`, which checks it against the one definition of the commands
(the CLI's parser is generated from the same), so a change there that breaks a line fails here at once.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from typing import Any

from shared.agent_commands import PROG
from shared.agent_commands import argv as _argv

PROGRAM = PROG  # the command's name (tests put stand-ins of that name on PATH)

TASK_ID_RE = re.compile(r"\btask_[0-9A-HJKMNP-TV-Z]{26}\b")


def task_create(title: str, assignee: str, description: str) -> list[str]:
    return _argv("task create", title=title, assignee=assignee, description=description)


def task_done(task_id: str, summary: str, files: list[str] | None = None) -> list[str]:
    return _argv("task done", task_id, summary=summary, **({"files": ",".join(files)} if files else {}))


def task_fail(task_id: str, reason: str) -> list[str]:
    return _argv("task fail", task_id, reason=reason)


def plan(source: str = "-") -> list[str]:
    """The lead plans from a JSON file (`-`: stdin)."""
    return _argv("plan", source)


def request_changes(task_id: str, message: str) -> list[str]:
    """The lead sends a task in review back to its assignee with what to fix."""
    return _argv("task update", task_id, status="in_progress", message=message)


def task_review(task_id: str, summary: str, files: list[str] | None = None) -> list[str]:
    """The member finishes but asks the lead to review before the task counts as done."""
    return _argv("task review", task_id, summary=summary, **({"files": ",".join(files)} if files else {}))


def approve(task_id: str) -> list[str]:
    """The lead accepts a task that waits in review."""
    return _argv("task update", task_id, status="done")


def list_tasks() -> list[str]:
    return _argv("tasks")


def list_teammates() -> list[str]:
    return _argv("teammates")  # the alias of `team`


def msg_send(name: str, text: str) -> list[str]:
    return _argv("msg send", name, text)


def shell(argv: list[str]) -> str:
    """The command as one shell line (what a model writes into a Bash tool call)."""
    return shlex.join(argv)


def is_command(command: str, argv_prefix: list[str]) -> bool:
    """Whether shell line `command` runs `gamma-agent` with `argv_prefix` (e.g. `task_create`'s first words)."""
    return shlex.join(argv_prefix) in command


# ---------------------------------------------------------------------------------------------- reading output


def task_ids(text: str) -> list[str]:
    """Task ids mentioned in any text (a prompt, a command's output), in order, without repeats."""
    return list(dict.fromkeys(TASK_ID_RE.findall(text or "")))


def teammate_names(output: str) -> list[str]:
    """Names of the non-lead teammates in `gamma-agent teammates` output (JSON list or {"teammates": [...]})."""
    return [
        str(item["name"]) for item in records(output)
        if item.get("name") and not (item.get("is_lead") or item.get("lead") or item.get("role") == "lead")
    ]


def task_ids_in_stage(output: str, stage: str) -> list[str]:
    """Ids of the tasks in `gamma-agent tasks` output that are in `stage` (e.g. the ones to review)."""
    return [str(item["id"]) for item in records(output) if TASK_ID_RE.fullmatch(str(item.get("id", "")))
            and str(item.get("stage") or item.get("status") or "").lower() == stage]


def open_task_ids(output: str) -> list[str]:
    """Ids of the tasks in `gamma-agent tasks` output that still need work — not in review or finished (any task
    id, if it is not JSON)."""
    finished = {"review", "done", "failed", "cancelled", "completed"}
    tasks = [item for item in records(output) if TASK_ID_RE.fullmatch(str(item.get("id", "")))]
    if not tasks:
        return task_ids(output)
    return [
        str(item["id"]) for item in tasks
        if str(item.get("status") or item.get("stage") or "").lower() not in finished
    ]


def records(output: str) -> Iterator[dict[str, Any]]:
    """Every JSON object with an `id` or a `name` in a command's JSON output, outer ones first."""
    try:
        data = json.loads(output)
    except (TypeError, ValueError):
        return
    yield from _walk(data)


def _walk(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _walk(item)
    elif isinstance(data, dict):
        if "id" in data or "name" in data:
            yield data
        for value in data.values():
            if isinstance(value, list | dict):
                yield from _walk(value)
