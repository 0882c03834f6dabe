"""Runs: the durable record of one agent invocation, and the rules that move it.

The `runs` row is the truth, not the queue message. A worker may only execute a run it has claimed with a
conditional update (attempt + 1, owner, lease); every later write names the attempt (fencing). The database
allows one `running` run per agent (a partial unique index); an agent's queued runs start in order.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from shared import events
from shared.events import NewEvent
from shared.ids import new_id
from shared.run_queue import has_pending_message, send_run

ACTIVE_STATES = ("queued", "running")
TERMINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted", "timed_out")
REASONS = ("chat", "task", "wake", "message", "retry")
CONTROL_CHANNEL = "gamma_control"
STRANDED_AFTER_SECONDS = 15  # a queued run's message not taken in this long is sent again

_FIRST_IN_LINE = """
    NOT EXISTS (
        SELECT 1 FROM runs earlier
        WHERE earlier.agent_id = runs.agent_id AND earlier.state = 'queued'
          AND (earlier.created_at, earlier.id) < (runs.created_at, runs.id))
"""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------- enqueue


def enqueue_run(
    conn: psycopg.Connection,
    *,
    team_id: str,
    agent_id: str,
    prompt: str,
    reason: str,
    task_id: str | None = None,
    round_id: str | None = None,
) -> dict[str, Any]:
    """Insert a queued run and hand it to the queue in the caller's transaction."""
    if reason not in REASONS:
        raise ValueError(f"unknown run reason {reason!r}")
    run = conn.execute(
        """
        INSERT INTO runs (id, team_id, agent_id, task_id, round_id, reason, prompt, backend)
        SELECT %s, %s, a.id, %s, %s, %s, %s, a.backend FROM agents a WHERE a.id = %s AND a.team_id = %s
        RETURNING *
        """,
        (new_id("run"), team_id, task_id, round_id, reason, prompt, agent_id, team_id),
    ).fetchone()
    if run is None:
        raise LookupError(f"agent {agent_id} is not in team {team_id}")
    _dispatch(conn, run["id"])
    events.append(
        conn,
        [NewEvent("run.queued", team_id, {"reason": reason, "backend": run["backend"]}, agent_id=agent_id,
                  task_id=task_id, run_id=run["id"])],
    )
    return run


def _dispatch(conn: psycopg.Connection, run_id: str) -> None:
    conn.execute("UPDATE runs SET dispatched_at = now() WHERE id = %s", (run_id,))
    send_run(conn, run_id)


# ------------------------------------------------------------------------------------------------------ claim


def claim(conn: psycopg.Connection, run_id: str, *, owner: str, host: str, lease_seconds: float) -> tuple[
    dict[str, Any] | None, str | None
]:
    """Claim a queued run for one attempt. Returns (run, agent_token) or (None, reason it was not claimed)."""
    token = secrets.token_urlsafe(32)
    try:
        with conn.transaction():
            run = conn.execute(
                f"""
                UPDATE runs SET state = 'running', attempt = attempt + 1, owner = %(owner)s, host = %(host)s,
                       lease_until = now() + make_interval(secs => %(lease)s), token_hash = %(token_hash)s,
                       started_at = now(), ended_at = NULL, dispatched_at = NULL, wait_reason = NULL,
                       pid = NULL, exit_code = NULL, updated_at = now()
                WHERE id = %(run)s AND state = 'queued' AND cancel_requested_at IS NULL
                  AND (not_before IS NULL OR not_before <= now())
                  AND {_FIRST_IN_LINE}
                RETURNING *
                """,
                {"owner": owner, "host": host, "lease": lease_seconds, "token_hash": hash_token(token),
                 "run": run_id},
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        reason = _explain_wait(conn, run_id)
        return None, reason
    if run is None:
        return None, _explain_wait(conn, run_id)
    return run, token


def _explain_wait(conn: psycopg.Connection, run_id: str) -> str:
    """Why a run is not starting; recorded on queued runs so nothing waits unnoticed."""
    row = conn.execute(
        """
        SELECT r.state, r.not_before, r.agent_id,
               (SELECT a.id FROM runs a WHERE a.agent_id = r.agent_id AND a.state = 'running') AS busy_with,
               (SELECT count(*) FROM runs e WHERE e.agent_id = r.agent_id AND e.state = 'queued'
                  AND (e.created_at, e.id) < (r.created_at, r.id)) AS ahead
        FROM runs r WHERE r.id = %s
        """,
        (run_id,),
    ).fetchone()
    if row is None:
        return "run does not exist"
    if row["state"] != "queued":
        return f"run is {row['state']}"
    if row["busy_with"]:
        reason = f"agent is busy with {row['busy_with']}"
    elif row["ahead"]:
        reason = f"{row['ahead']} earlier run(s) of this agent go first"
    elif row["not_before"] is not None:
        reason = f"waiting until {row['not_before'].isoformat()}"
    else:
        reason = "waiting for a free worker"
    conn.execute("UPDATE runs SET wait_reason = %s WHERE id = %s AND state = 'queued'", (reason, run_id))
    return reason


def renew(conn: psycopg.Connection, run_id: str, attempt: int, lease_seconds: float) -> tuple[bool, bool]:
    """Extend the lease. Returns (still_owner, cancel_requested)."""
    row = conn.execute(
        "UPDATE runs SET lease_until = now() + make_interval(secs => %s)"
        " WHERE id = %s AND attempt = %s AND state = 'running' RETURNING cancel_requested_at",
        (lease_seconds, run_id, attempt),
    ).fetchone()
    if row is None:
        return False, False
    return True, row["cancel_requested_at"] is not None


def current_attempt(conn: psycopg.Connection, run_id: str) -> int | None:
    """The attempt that owns the run right now (running, lease not expired), or None."""
    row = conn.execute("SELECT attempt FROM runs WHERE id = %s AND state = 'running' AND lease_until >= now()",
                       (run_id,)).fetchone()
    return row["attempt"] if row else None


def cancel_requested(conn: psycopg.Connection, run_id: str) -> bool:
    row = conn.execute("SELECT cancel_requested_at FROM runs WHERE id = %s", (run_id,)).fetchone()
    return row is not None and row["cancel_requested_at"] is not None


def record_process(conn: psycopg.Connection, run_id: str, attempt: int, *, pid: int | None,
                   cli_version: str | None) -> bool:
    row = conn.execute(
        "UPDATE runs SET pid = %s, cli_version = %s, updated_at = now()"
        " WHERE id = %s AND attempt = %s AND state = 'running' RETURNING id",
        (pid, cli_version, run_id, attempt),
    ).fetchone()
    return row is not None


def record_session(conn: psycopg.Connection, run_id: str, attempt: int, session_id: str) -> bool:
    """As soon as the CLI names its session: if this attempt dies, the next one resumes it."""
    row = conn.execute(
        "UPDATE runs SET session_id = %s, updated_at = now()"
        " WHERE id = %s AND attempt = %s AND state = 'running' RETURNING agent_id",
        (session_id, run_id, attempt),
    ).fetchone()
    if row is None:
        return False
    conn.execute("UPDATE agents SET session_id = %s, updated_at = now() WHERE id = %s", (session_id, row["agent_id"]))
    return True


def run_budget(conn: psycopg.Connection, run: dict[str, Any], agent_budget: float | None) -> float | None:
    """The `--max-budget-usd` for this run: the agent's per-run budget, capped by what is left of the team's.

    Raises BudgetSpent when the team's budget is used up (the run must not start).
    """
    row = conn.execute(
        "SELECT t.budget_usd::float8 AS budget,"
        " (SELECT COALESCE(sum(cost_usd), 0)::float8 FROM runs WHERE team_id = t.id) AS spent"
        " FROM teams t WHERE t.id = %s",
        (run["team_id"],),
    ).fetchone()
    if row is None or row["budget"] is None:
        return agent_budget
    left = row["budget"] - row["spent"]
    if left <= 0:
        raise BudgetSpent(f"the team's budget of ${row['budget']:.2f} is spent (${row['spent']:.4f} used); "
                          "raise it (PATCH /api/teams/<id> {budget_usd}) to continue")
    return left if agent_budget is None else min(agent_budget, left)


class BudgetSpent(Exception):
    pass


# ----------------------------------------------------------------------------------------------------- finish


def finish(
    conn: psycopg.Connection,
    run_id: str,
    attempt: int,
    *,
    state: str,
    outcome: str,
    error: str | None = None,
    not_before: datetime | None = None,
    fresh_session: bool = False,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Record the end of an attempt, fenced by attempt number. Returns the run, or None for a stale attempt.

    `state` 'queued' re-queues the run (usage limit, unknown session, hand-back on shutdown); any terminal
    state ends it and runs the orchestrator's hook. Either way the agent's next queued run is dispatched.
    """
    values = dict(fields or {})
    for key in ("usage", "model_usage"):
        if values.get(key) is not None:
            values[key] = Jsonb(values[key])
    allowed = {
        "session_id", "cli_version", "model", "exit_code", "stderr_tail", "result_text", "api_error_status",
        "usage", "model_usage", "cost_usd", "num_turns", "duration_ms", "duration_api_ms", "input_tokens",
        "output_tokens", "cache_read_tokens", "cache_creation_tokens", "context_tokens", "context_window",
        "session_note",
    }
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown run fields {sorted(unknown)}")
    assignments = "".join(f", {k} = %({k})s" for k in values)
    terminal = state in TERMINAL_STATES
    run = conn.execute(
        f"""
        UPDATE runs SET state = %(state)s, outcome = %(outcome)s, error = %(error)s, not_before = %(not_before)s,
               lease_until = NULL, token_hash = NULL, updated_at = now(),
               owner = CASE WHEN %(terminal)s THEN owner ELSE NULL END,
               ended_at = CASE WHEN %(terminal)s THEN now() ELSE NULL END{assignments}
        WHERE id = %(run)s AND attempt = %(attempt)s AND state = 'running'
        RETURNING *
        """,
        {**values, "state": state, "outcome": outcome, "error": error, "not_before": not_before,
         "terminal": terminal, "run": run_id, "attempt": attempt},
    ).fetchone()
    if run is None:
        return None
    _update_agent_after_attempt(conn, run, fresh_session=fresh_session)
    _after_state_change(conn, run)
    return run


def _update_agent_after_attempt(conn: psycopg.Connection, run: dict[str, Any], *, fresh_session: bool) -> None:
    if fresh_session:
        conn.execute("UPDATE agents SET session_id = NULL, updated_at = now() WHERE id = %s", (run["agent_id"],))
        return
    conn.execute(
        """
        UPDATE agents SET session_id = COALESCE(%(session)s, session_id),
               context_tokens = COALESCE(%(ctx)s, context_tokens),
               context_window = COALESCE(%(window)s, context_window),
               last_active_at = now(), updated_at = now()
        WHERE id = %(agent)s
        """,
        {"session": run["session_id"], "ctx": run["context_tokens"], "window": run["context_window"],
         "agent": run["agent_id"]},
    )


def _after_state_change(conn: psycopg.Connection, run: dict[str, Any]) -> None:
    """Shared tail of finish/cancel/reap: hook, event, and dispatch of whatever can start next."""
    from orchestrator import lifecycle  # noqa: PLC0415 - lifecycle imports this module

    if run["state"] in TERMINAL_STATES:
        lifecycle.on_run_finished(conn, run)
    dispatch_next(conn, run["agent_id"])
    events.append(conn, [NewEvent(
        "run.finished" if run["state"] in TERMINAL_STATES else "run.requeued",
        run["team_id"],
        {"state": run["state"], "outcome": run["outcome"], "error": run["error"], "attempt": run["attempt"],
         "cost_usd": _num(run["cost_usd"]), "num_turns": run["num_turns"], "duration_ms": run["duration_ms"],
         "not_before": run["not_before"].isoformat() if run["not_before"] else None},
        agent_id=run["agent_id"], task_id=run["task_id"], run_id=run["id"],
    )])


def dispatch_next(conn: psycopg.Connection, agent_id: str) -> str | None:
    """Send the agent's first queued run (if it can start now) to the queue."""
    row = conn.execute(
        f"""
        SELECT id FROM runs
        WHERE agent_id = %s AND state = 'queued' AND cancel_requested_at IS NULL
          AND (not_before IS NULL OR not_before <= now()) AND {_FIRST_IN_LINE}
          AND NOT EXISTS (SELECT 1 FROM runs busy WHERE busy.agent_id = runs.agent_id AND busy.state = 'running')
        """,
        (agent_id,),
    ).fetchone()
    if row is None:
        return None
    _dispatch(conn, row["id"])
    return row["id"]


# ----------------------------------------------------------------------------------------------------- cancel


def cancel_run(conn: psycopg.Connection, run_id: str) -> list[str]:
    return _cancel(conn, "r.id = %(key)s", run_id)


def cancel_agent(conn: psycopg.Connection, agent_id: str) -> list[str]:
    return _cancel(conn, "r.agent_id = %(key)s", agent_id)


def cancel_team(conn: psycopg.Connection, team_id: str) -> list[str]:
    return _cancel(conn, "r.team_id = %(key)s", team_id)


def cancel_all(conn: psycopg.Connection) -> list[str]:
    return _cancel(conn, "%(key)s::text IS NULL", None)


def _cancel(conn: psycopg.Connection, where: str, key: str | None) -> list[str]:
    """Queued runs end `cancelled` at once; running ones get a cancel request their worker acts on (NOTIFY)."""
    queued = conn.execute(
        f"""
        UPDATE runs r SET state = 'cancelled', outcome = 'cancelled', error = 'cancelled before it started',
               cancel_requested_at = now(), ended_at = now(), updated_at = now(), token_hash = NULL
        WHERE {where} AND r.state = 'queued'
        RETURNING r.*
        """,
        {"key": key},
    ).fetchall()
    running = conn.execute(
        f"""
        UPDATE runs r SET cancel_requested_at = COALESCE(r.cancel_requested_at, now()), updated_at = now()
        WHERE {where} AND r.state = 'running'
        RETURNING r.*
        """,
        {"key": key},
    ).fetchall()
    for run in queued:
        _after_state_change(conn, run)
    for run in running:
        conn.execute("SELECT pg_notify(%s, %s)", (CONTROL_CHANNEL, f"cancel:{run['id']}"))
        events.append(conn, [NewEvent("run.cancel_requested", run["team_id"], {"attempt": run["attempt"]},
                                      agent_id=run["agent_id"], task_id=run["task_id"], run_id=run["id"])])
    return [r["id"] for r in queued] + [r["id"] for r in running]


# -------------------------------------------------------------------------------------------------- the reaper


def reap_expired(conn: psycopg.Connection, *, margin: float = 0.0, limit: int = 100) -> list[dict[str, Any]]:
    """Runs whose lease expired `margin` seconds ago (their worker died or froze): re-queue them (resuming the
    session) or end them. The margin is the time the old attempt's supervisor needs to end it for certain.

    A run that asked to be cancelled ends `cancelled`; one that used up its attempts ends `interrupted`.
    """
    return _take_back(conn, "state = 'running' AND lease_until < now() - make_interval(secs => %(margin)s)",
                      {"margin": margin, "limit": limit},
                      "stopped renewing its lease")


def reap_owned_by(conn: psycopg.Connection, worker_ids: list[str]) -> list[dict[str, Any]]:
    """Runs of worker processes known to be dead (checked on their own machine): taken back at once."""
    if not worker_ids:
        return []
    return _take_back(conn, "state = 'running' AND owner = ANY(%(owners)s)",
                      {"owners": worker_ids, "limit": 1000}, "died")


def _take_back(conn: psycopg.Connection, where: str, params: dict[str, Any], what: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"""
        WITH lost AS (
            SELECT id FROM runs WHERE {where}
            ORDER BY lease_until LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
        UPDATE runs r SET
            state = CASE WHEN r.cancel_requested_at IS NOT NULL THEN 'cancelled'
                         WHEN r.lost_attempts + 1 >= r.max_attempts THEN 'interrupted' ELSE 'queued' END,
            outcome = CASE WHEN r.cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'lease_lost' END,
            error = 'the worker running attempt ' || r.attempt || ' (' || COALESCE(r.owner, '?')
                    || ') ' || %(what)s,
            owner = NULL, lease_until = NULL, token_hash = NULL, updated_at = now(),
            lost_attempts = r.lost_attempts + 1,
            ended_at = CASE WHEN r.cancel_requested_at IS NOT NULL OR r.lost_attempts + 1 >= r.max_attempts
                            THEN now() ELSE NULL END
        FROM lost WHERE r.id = lost.id
        RETURNING r.*
        """,
        {**params, "what": what},
    ).fetchall()
    for run in rows:
        _after_state_change(conn, run)
    return rows


def redispatch_stale(conn: psycopg.Connection) -> list[str]:
    """Re-send queued runs that can start now but whose message will not start them: none is waiting (a worker
    that was shutting down took it, or a not_before had not passed when it would have been sent), or the one
    waiting was sent long ago and nobody took it (stranded without its NOTIFY)."""
    rows = conn.execute(
        f"""
        SELECT id FROM runs
        WHERE state = 'queued' AND cancel_requested_at IS NULL
          AND (not_before IS NULL OR not_before <= now())
          AND {_FIRST_IN_LINE}
          AND NOT EXISTS (SELECT 1 FROM runs busy WHERE busy.agent_id = runs.agent_id AND busy.state = 'running')
          AND (NOT {has_pending_message("runs.id")}
               OR dispatched_at IS NULL OR dispatched_at < now() - make_interval(secs => %s))
        ORDER BY created_at LIMIT 100 FOR UPDATE SKIP LOCKED
        """,
        (STRANDED_AFTER_SECONDS,),
    ).fetchall()
    for row in rows:
        _dispatch(conn, row["id"])
    return [r["id"] for r in rows]


# ------------------------------------------------------------------------------------------------------ reads


def authenticate(conn: psycopg.Connection, token: str) -> dict[str, Any] | None:
    """The running run a per-run agent token belongs to, with its agent; None if unknown or no longer active."""
    if not token:
        return None
    return conn.execute(
        """
        SELECT r.id AS run_id, r.attempt, r.task_id, r.round_id, r.reason, a.id AS agent_id, a.team_id,
               a.is_lead, a.name AS agent_name, a.status AS agent_status
        FROM runs r JOIN agents a ON a.id = r.agent_id
        WHERE r.token_hash = %s AND r.state = 'running'
        """,
        (hash_token(token),),
    ).fetchone()


def queue_view(conn: psycopg.Connection, team_id: str) -> list[dict[str, Any]]:
    """A team's queued and running runs; queued ones with their position in the agent's line and why they wait."""
    return conn.execute(
        """
        SELECT r.id, r.agent_id, a.name AS agent_name, r.task_id, r.reason, r.state, r.attempt, r.created_at,
               r.started_at, r.not_before, r.wait_reason, r.cancel_requested_at,
               CASE WHEN r.state = 'queued' THEN
                   row_number() OVER (PARTITION BY r.agent_id, r.state ORDER BY r.created_at, r.id) END AS position
        FROM runs r JOIN agents a ON a.id = r.agent_id
        WHERE r.team_id = %s AND r.state IN ('queued', 'running')
        ORDER BY r.created_at, r.id
        """,
        (team_id,),
    ).fetchall()


def _num(value: Any) -> float | None:
    return float(value) if value is not None else None
