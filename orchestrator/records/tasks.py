"""The `tasks` table: rows with their assignee's name, lists, the one UPDATE that moves a stage, counts."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from orchestrator.domain import NotFound
from orchestrator.records import repos
from shared.ids import is_id, new_id
from shared.vocabulary import LIVE_TASK_STAGES, OPEN_TASK_STAGES, TASK_STAGES

_SELECT = """
    SELECT t.*, a.name AS assignee_name, a.status AS assignee_status, c.name AS created_by_name
    FROM tasks t LEFT JOIN agents a ON a.id = t.assigned_to LEFT JOIN agents c ON c.id = t.created_by
"""


def get(conn: psycopg.Connection, task_id: str, *, lock: bool = False) -> dict[str, Any]:
    if not is_id(task_id, "task"):
        raise NotFound(f"task {task_id!r} not found (not a valid task id)")
    row = conn.execute("SELECT * FROM tasks WHERE id = %s" + (" FOR NO KEY UPDATE" if lock else ""),
                       (task_id,)).fetchone()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row


def get_shown(conn: psycopg.Connection, task_id: str) -> dict[str, Any]:
    """The task with its assignee and creator (`present`ed)."""
    row = conn.execute(_SELECT + " WHERE t.id = %s", (task_id,)).fetchone()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return present(row)


def listed(conn: psycopg.Connection, team_id: str, *, stages: list[str] | None = None,
           assignee: str | None = None, round_id: str | None = None, kind: str | None = None,
           limit: int = 500) -> list[dict[str, Any]]:
    """Highest priority first, then oldest first."""
    clauses, params = ["t.team_id = %s"], [team_id]
    for clause, value in (("t.stage = ANY(%s)", stages), ("t.assigned_to = %s", assignee),
                          ("t.round_id = %s", round_id), ("t.kind = %s", kind)):
        if value:
            clauses.append(clause)
            params.append(value)
    rows = conn.execute(
        _SELECT + f" WHERE {' AND '.join(clauses)} ORDER BY t.priority DESC, t.created_at, t.id LIMIT %s",
        (*params, max(1, min(limit, 1000))),
    ).fetchall()
    return [present(r) for r in rows]


def present(row: dict[str, Any]) -> dict[str, Any]:
    task = dict(row)
    task["assignee"] = ({"id": row["assigned_to"], "name": row.get("assignee_name"),
                         "status": row.get("assignee_status")} if row["assigned_to"] else None)
    return task


def open_ids(conn: psycopg.Connection, *, team_id: str | None = None, assignee: str | None = None) -> list[str]:
    """Tasks not yet final (open or in review) of a team or of one assignee."""
    column, value = ("assigned_to", assignee) if assignee else ("team_id", team_id)
    rows = conn.execute(f"SELECT id FROM tasks WHERE {column} = %s AND stage = ANY(%s) ORDER BY id",
                        (value, list(OPEN_TASK_STAGES + ("review",)))).fetchall()
    return [r["id"] for r in rows]


def open_of_agent(conn: psycopg.Connection, agent_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, title, stage, priority, kind FROM tasks WHERE assigned_to = %s"
        " AND stage IN ('backlog', 'blocked', 'in_progress', 'review') ORDER BY priority DESC, created_at, id",
        (agent_id,),
    ).fetchall()


def unfinished_of_team(conn: psycopg.Connection, team_id: str) -> list[dict[str, Any]]:
    """Tasks still open (not in review or final), with their assignee's name."""
    return conn.execute(
        "SELECT t.id, t.title, t.stage, a.name AS assignee FROM tasks t LEFT JOIN agents a ON a.id = t.assigned_to"
        " WHERE t.team_id = %s AND t.stage = ANY(%s) ORDER BY t.created_at, t.id",
        (team_id, list(OPEN_TASK_STAGES)),
    ).fetchall()


def finished_of_team(conn: psycopg.Connection, team_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The latest tasks in review or done, with their results."""
    return conn.execute(
        "SELECT t.id, t.title, t.kind, t.stage, a.name AS assignee, t.result FROM tasks t"
        " LEFT JOIN agents a ON a.id = t.assigned_to WHERE t.team_id = %s AND t.stage IN ('review', 'done')"
        " ORDER BY t.completed_at DESC NULLS LAST, t.updated_at DESC LIMIT %s",
        (team_id, limit),
    ).fetchall()


def stage_counts(conn: psycopg.Connection, team_ids: list[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {i: {} for i in team_ids}
    for row in conn.execute(
        "SELECT team_id, stage, count(*) AS n FROM tasks WHERE team_id = ANY(%s) GROUP BY team_id, stage",
        (team_ids,),
    ):
        counts[row["team_id"]][row["stage"]] = row["n"]
    return counts


def stage_summary(conn: psycopg.Connection, team_id: str) -> dict[str, int]:
    """Every stage with its count (zero included), in display order."""
    counts = stage_counts(conn, [team_id])[team_id]
    return {stage: counts.get(stage, 0) for stage in TASK_STAGES}


def unsettled_in_round(conn: psycopg.Connection, round_id: str) -> int:
    """Tasks of the round on which work goes on or will go on by itself: live ones (backlog, in progress) and
    blocked ones that wait, directly or through other blocked tasks, on a live task. A task blocked only behind
    settled work (in review, failed, cancelled) waits for the lead: it does not keep the round open."""
    return conn.execute(
        f"""
        WITH RECURSIVE waits_on_live(task_id) AS (
            SELECT d.task_id FROM task_dependencies d JOIN tasks up ON up.id = d.depends_on
            WHERE up.stage IN ({", ".join(f"'{s}'" for s in LIVE_TASK_STAGES)})
            UNION
            SELECT d.task_id FROM task_dependencies d JOIN tasks up ON up.id = d.depends_on
            JOIN waits_on_live w ON w.task_id = up.id WHERE up.stage = 'blocked'
        )
        SELECT count(*) AS n FROM tasks t WHERE t.round_id = %s
          AND (t.stage = ANY(%s) OR (t.stage = 'blocked' AND t.id IN (SELECT task_id FROM waits_on_live)))
        """,
        (round_id, list(LIVE_TASK_STAGES)),
    ).fetchone()["n"]


def of_round(conn: psycopg.Connection, round_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT t.*, a.name AS assignee_name FROM tasks t LEFT JOIN agents a ON a.id = t.assigned_to"
        " WHERE t.round_id = %s ORDER BY t.created_at, t.id",
        (round_id,),
    ).fetchall()


def insert(conn: psycopg.Connection, *, team_id: str, round_id: str, title: str, description: str, kind: str,
           priority: int, assigned_to: str, created_by: str | None, retry_of: str | None, stage: str = "backlog",
           blocked_reason: str | None = None) -> dict[str, Any]:
    task_id = new_id("task")
    return conn.execute(
        "INSERT INTO tasks (id, team_id, round_id, title, description, kind, priority, assigned_to, created_by,"
        " retry_of, stage, blocked_reason, branch) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING *",
        (task_id, team_id, round_id, title.strip(), description, kind, priority, assigned_to, created_by,
         retry_of, stage, blocked_reason, repos.branch_for(task_id, title)),
    ).fetchone()


def teams_of(conn: psycopg.Connection, task_ids: list[str]) -> dict[str, str]:
    """The team of each of these tasks that exists."""
    return {r["id"]: r["team_id"] for r in conn.execute(
        "SELECT id, team_id FROM tasks WHERE id = ANY(%s)", (task_ids,)).fetchall()}


def add_dependencies(conn: psycopg.Connection, task_id: str, depends_on: list[str]) -> None:
    for upstream in depends_on:
        conn.execute("INSERT INTO task_dependencies (task_id, depends_on) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     (task_id, upstream))


def dependencies_of(conn: psycopg.Connection, task_id: str) -> list[dict[str, Any]]:
    """The tasks this one depends on, oldest first, with their assignee's name and result."""
    return conn.execute(
        "SELECT t.*, a.name AS assignee_name FROM task_dependencies d JOIN tasks t ON t.id = d.depends_on"
        " LEFT JOIN agents a ON a.id = t.assigned_to WHERE d.task_id = %s ORDER BY t.created_at, t.id",
        (task_id,),
    ).fetchall()


def dependents_of(conn: psycopg.Connection, task_id: str, *, lock: bool = False) -> list[dict[str, Any]]:
    """The tasks that depend on this one, oldest first (`lock`: the caller moves them)."""
    return conn.execute(
        "SELECT t.* FROM task_dependencies d JOIN tasks t ON t.id = d.task_id WHERE d.depends_on = %s"
        " ORDER BY t.created_at, t.id" + (" FOR NO KEY UPDATE OF t" if lock else ""),
        (task_id,),
    ).fetchall()


def dependency_ids(conn: psycopg.Connection, task_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {i: [] for i in task_ids}
    for row in conn.execute("SELECT task_id, depends_on FROM task_dependencies WHERE task_id = ANY(%s)"
                            " ORDER BY depends_on", (task_ids,)).fetchall():
        found[row["task_id"]].append(row["depends_on"])
    return found


def repoint_dependencies(conn: psycopg.Connection, old_task: str, new_task: str) -> list[str]:
    """Tasks that waited for `old_task` wait for `new_task` instead (a retry); returns them."""
    rows = conn.execute("UPDATE task_dependencies SET depends_on = %s WHERE depends_on = %s RETURNING task_id",
                        (new_task, old_task)).fetchall()
    return [r["task_id"] for r in rows]


def set_blocked_reason(conn: psycopg.Connection, task_id: str, reason: str) -> None:
    conn.execute("UPDATE tasks SET blocked_reason = %s, updated_at = now() WHERE id = %s", (reason[:10000], task_id))


EDITABLE = ("title", "description", "priority")


def edit(conn: psycopg.Connection, task_id: str, changed: dict[str, Any]) -> dict[str, Any]:
    assignments = ", ".join(f"{k} = %({k})s" for k in changed if k in EDITABLE)
    return conn.execute(f"UPDATE tasks SET {assignments}, updated_at = now() WHERE id = %(id)s RETURNING *",
                        {**changed, "id": task_id}).fetchone()


def move(conn: psycopg.Connection, task_id: str, to: str, patch: dict[str, Any]) -> dict[str, Any]:
    """Write a stage (already checked by the caller) and merge `patch` into the result."""
    return conn.execute(
        """
        UPDATE tasks SET stage = %(to)s, updated_at = now(),
               result = CASE WHEN %(patch)s::jsonb = '{}'::jsonb THEN result
                             ELSE COALESCE(result, '{}'::jsonb) || %(patch)s::jsonb END,
               started_at = CASE WHEN %(to)s = 'in_progress' THEN COALESCE(started_at, now()) ELSE started_at END,
               completed_at = CASE WHEN %(to)s IN ('done', 'failed', 'cancelled') THEN now() ELSE NULL END,
               blocked_reason = CASE WHEN %(to)s = 'blocked' THEN blocked_reason ELSE NULL END
        WHERE id = %(id)s RETURNING *
        """,
        {"to": to, "patch": Jsonb(patch), "id": task_id},
    ).fetchone()


def set_round(conn: psycopg.Connection, task_id: str, round_id: str) -> dict[str, Any]:
    return conn.execute("UPDATE tasks SET round_id = %s WHERE id = %s RETURNING *", (round_id, task_id)).fetchone()


def reassign(conn: psycopg.Connection, task_id: str, agent_id: str) -> dict[str, Any]:
    return conn.execute("UPDATE tasks SET assigned_to = %s, updated_at = now() WHERE id = %s RETURNING *",
                        (agent_id, task_id)).fetchone()


WORK_COLUMNS = ("branch", "base_commit", "changes", "merge")


def set_work(conn: psycopg.Connection, task_id: str, **values: Any) -> dict[str, Any]:
    """The task's work product as git measured it: its branch, the commit it was made from, its changes and its
    merge into the main line (work_product.py)."""
    unknown = set(values) - set(WORK_COLUMNS)
    if unknown:
        raise ValueError(f"not work columns: {sorted(unknown)}")
    assignments = ", ".join(f"{k} = %({k})s" for k in values)
    params = {k: Jsonb(v) if isinstance(v, (dict, list)) else v for k, v in values.items()}
    return conn.execute(f"UPDATE tasks SET {assignments}, updated_at = now() WHERE id = %(id)s RETURNING *",
                        {**params, "id": task_id}).fetchone()


def with_worktrees(conn: psycopg.Connection, team_id: str) -> list[dict[str, Any]]:
    """The team's tasks whose branch was made (they had a run), with whether a run of theirs is queued or running."""
    return conn.execute(
        "SELECT t.*, EXISTS (SELECT 1 FROM runs r WHERE r.task_id = t.id AND r.state IN ('queued', 'running'))"
        " AS has_active_run FROM tasks t WHERE t.team_id = %s AND t.base_commit IS NOT NULL"
        " ORDER BY t.created_at, t.id",
        (team_id,),
    ).fetchall()


def by_branch(conn: psycopg.Connection, team_id: str, branch: str) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM tasks WHERE team_id = %s AND branch = %s", (team_id, branch)).fetchone()
