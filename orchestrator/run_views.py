"""Read-only views of runs for the APIs: lists with queue position, one run, its raw lines, usage sums."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator import runs
from orchestrator.common import NotFound, preview
from shared.ids import is_id

_HIDDEN = ("token_hash",)
LINES_MAX = 5000


def get_run(conn: psycopg.Connection, run_id: str) -> dict[str, Any]:
    if not is_id(run_id, "run"):
        raise NotFound(f"run {run_id!r} not found (not a valid run id)")
    row = conn.execute("SELECT r.*, a.name AS agent_name FROM runs r JOIN agents a ON a.id = r.agent_id"
                       " WHERE r.id = %s", (run_id,)).fetchone()
    if row is None:
        raise NotFound(f"run {run_id} not found")
    run = _shown(row)
    if run["state"] in runs.ACTIVE_STATES:
        run.update(_queue_info(conn, row["team_id"]).get(run_id, {}))
    return run


def list_runs(conn: psycopg.Connection, team_id: str, *, states: list[str] | None = None,
              agent_id: str | None = None, task_id: str | None = None, before: str | None = None,
              limit: int = 100) -> list[dict[str, Any]]:
    """Newest first; queued runs carry their position in the agent's line and the reason they wait."""
    clauses, params = ["r.team_id = %s"], [team_id]
    for clause, value in (("r.state = ANY(%s)", states), ("r.agent_id = %s", agent_id),
                          ("r.task_id = %s", task_id), ("r.id < %s", before)):
        if value:
            clauses.append(clause)
            params.append(value)
    rows = conn.execute(
        "SELECT r.*, a.name AS agent_name FROM runs r JOIN agents a ON a.id = r.agent_id"
        f" WHERE {' AND '.join(clauses)} ORDER BY r.id DESC LIMIT %s",
        (*params, max(1, min(limit, 500))),
    ).fetchall()
    queue = _queue_info(conn, team_id)
    listed = []
    for row in rows:
        run = _shown(row)
        run["prompt"] = preview(row["prompt"], 300)
        run.update(queue.get(row["id"], {}))
        listed.append(run)
    return listed


def _queue_info(conn: psycopg.Connection, team_id: str) -> dict[str, dict[str, Any]]:
    return {q["id"]: {"position": q["position"], "wait_reason": q["wait_reason"]}
            for q in runs.queue_view(conn, team_id)}


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    run = {k: v for k, v in row.items() if k not in _HIDDEN}
    run["position"] = None
    return run


def run_lines(conn: psycopg.Connection, run_id: str, *, attempt: int | None = None, stream: str = "stdout",
              after: int = 0, limit: int = 1000) -> dict[str, Any]:
    """Raw CLI output of one attempt (default: the latest), one stream, after line number `after`."""
    run = get_run(conn, run_id)
    attempt = attempt if attempt is not None else run["attempt"]
    rows = conn.execute(
        "SELECT line_no, line, created_at FROM run_lines WHERE run_id = %s AND attempt = %s AND stream = %s"
        " AND line_no > %s ORDER BY line_no LIMIT %s",
        (run_id, attempt, stream, after, max(1, min(limit, LINES_MAX))),
    ).fetchall()
    return {"run_id": run_id, "attempt": attempt, "stream": stream, "lines": rows,
            "next_after": rows[-1]["line_no"] if rows else after}


_USAGE_SUMS = """
    count(r.id) AS runs,
    count(*) FILTER (WHERE r.state = 'succeeded') AS succeeded,
    count(*) FILTER (WHERE r.state IN ('failed', 'timed_out', 'interrupted')) AS failed,
    COALESCE(sum(r.cost_usd), 0) AS cost_usd,
    COALESCE(sum(r.input_tokens), 0) AS input_tokens,
    COALESCE(sum(r.output_tokens), 0) AS output_tokens,
    COALESCE(sum(r.cache_read_tokens), 0) AS cache_read_tokens,
    COALESCE(sum(r.cache_creation_tokens), 0) AS cache_creation_tokens,
    COALESCE(sum(r.num_turns), 0) AS num_turns,
    COALESCE(sum(r.duration_ms), 0) AS duration_ms
"""


def usage(conn: psycopg.Connection, team_id: str) -> dict[str, Any]:
    """Cost, tokens, turns and time summed over the team's runs, per agent and in total."""
    per_agent = conn.execute(
        f"""
        SELECT a.id AS agent_id, a.name, a.status, a.context_tokens, a.context_window, {_USAGE_SUMS}
        FROM agents a LEFT JOIN runs r ON r.agent_id = a.id
        WHERE a.team_id = %s GROUP BY a.id ORDER BY a.is_lead DESC, a.created_at, a.id
        """,
        (team_id,),
    ).fetchall()
    total = conn.execute(f"SELECT {_USAGE_SUMS} FROM runs r WHERE r.team_id = %s", (team_id,)).fetchone()
    return {"team_id": team_id, "total": total, "agents": per_agent}

