"""Dependencies between tasks: a plan's graph checked before anything is written (keys, references, teams,
cycles), why a task waits, and what the tasks it depends on produced (for its worker's prompt)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from orchestrator.domain import Invalid, preview
from orchestrator.records import tasks
from shared.ids import is_id


def check_plan(conn: psycopg.Connection, team_id: str, keys: Sequence[str | None],
               depends_on: Sequence[Sequence[str]]) -> list[list[int | str]]:
    """Resolve each task's `depends_on` (a key of another task in this plan, or the id of an existing task of the
    team) into plan indexes (int) and task ids (str); refuse unknown references, another team's tasks, a task
    depending on itself, and cycles — naming them. Returns the resolved lists, in plan order."""
    index_of: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            continue
        if key in index_of:
            raise Invalid(f"tasks[{i}].key: {key!r} is used twice in this plan (keys must be unique)")
        index_of[key] = i
    existing = [ref for refs in depends_on for ref in refs if ref not in index_of]
    malformed = [ref for ref in existing if not is_id(ref, "task")]
    if malformed:
        raise Invalid(f"depends_on: {malformed[0]!r} is neither a key of this plan nor a task id")
    found = tasks.teams_of(conn, existing)
    for ref in existing:
        if ref not in found:
            raise Invalid(f"depends_on: task {ref} does not exist")
        if found[ref] != team_id:
            raise Invalid(f"depends_on: task {ref} belongs to another team")
    resolved: list[list[int | str]] = []
    for i, refs in enumerate(depends_on):
        row: list[int | str] = []
        for ref in refs:
            target: int | str = index_of.get(ref, ref)
            if target == i:
                raise Invalid(f"tasks[{i}].depends_on: a task cannot depend on itself ({ref!r})")
            if target not in row:
                row.append(target)
        resolved.append(row)
    cycle = _cycle([[t for t in row if isinstance(t, int)] for row in resolved])
    if cycle:
        names = " → ".join(keys[i] or f"tasks[{i}]" for i in cycle)
        raise Invalid(f"depends_on: the plan has a cycle: {names}")
    return resolved


def _cycle(edges: list[list[int]]) -> list[int] | None:
    """A cycle in the plan's graph (as a path that returns to its start), or None."""
    state = [0] * len(edges)  # 0 new, 1 on the path, 2 done
    path: list[int] = []

    def visit(node: int) -> list[int] | None:
        state[node] = 1
        path.append(node)
        for nxt in edges[node]:
            if state[nxt] == 1:
                return [*path[path.index(nxt):], nxt]
            if state[nxt] == 0 and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in range(len(edges)):
        if state[start] == 0 and (found := visit(start)) is not None:
            return found
    return None


def order(resolved: list[list[int | str]]) -> list[int]:
    """Plan indexes so that every task comes after the plan tasks it depends on (the graph has no cycle)."""
    done: list[int] = []
    seen: set[int] = set()

    def visit(i: int) -> None:
        if i in seen:
            return
        seen.add(i)
        for dep in resolved[i]:
            if isinstance(dep, int):
                visit(dep)
        done.append(i)

    for i in range(len(resolved)):
        visit(i)
    return done


def waiting_reason(upstream: list[dict[str, Any]]) -> str | None:
    """Why a task with these dependencies cannot start, or None when every one is done."""
    broken = [t for t in upstream if t["stage"] in ("failed", "cancelled")]
    if broken:
        first = broken[0]
        why = (first.get("result") or {}).get("reason") or "no reason given"
        return (f"dependency {first['id']} (\"{first['title']}\") {first['stage']}: {preview(why, 300)} — "
                "retry it (the retry takes its place) or cancel this task")
    waiting = [t for t in upstream if t["stage"] != "done"]
    if not waiting:
        return None
    return "waiting for " + ", ".join(f"{t['id']} (\"{preview(t['title'], 60)}\", {t['stage']})" for t in waiting)


def results_for_prompt(upstream: list[dict[str, Any]]) -> list[str]:
    """The prompt lines that carry what the tasks this one depends on produced."""
    if not upstream:
        return []
    lines = ["[DEPENDS ON] This task builds on these finished tasks (read their files before you start):"]
    for task in upstream:
        result = task.get("result") or {}
        owner = task.get("assignee_name") or "unassigned"
        lines.append(f"- {task['id']} — \"{task['title']}\" by {owner}: "
                     + (preview(result.get("summary"), 1500).replace("\n", " ") or "(no summary)"))
        # what git measured (the agent's own list is only its claim)
        files = [f["path"] for f in (task.get("changes") or {}).get("files") or [] if f["status"] != "deleted"]
        if files:
            lines.append("  Files (in the main line): " + ", ".join(files[:50]))
    return [*lines, ""]
