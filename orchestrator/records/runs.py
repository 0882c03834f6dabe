"""The `runs` table (and `run_lines` reads): the durable record of one agent invocation.

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
from shared.health import WORKER_ALIVE_SECONDS
from shared.ids import new_id
from shared.run_queue import has_pending_message, send_run
from shared.vocabulary import ACTIVE_RUN_STATES, RUN_REASONS, TERMINAL_RUN_STATES

ACTIVE_STATES = ACTIVE_RUN_STATES
TERMINAL_STATES = TERMINAL_RUN_STATES
CONTROL_CHANNEL = "gamma_control"
STRANDED_AFTER_SECONDS = 15  # a queued run's message not taken in this long is sent again

# No run of a team or an agent whose budget is spent starts (it waits in the queue until the budget is raised).
_BUDGET_LEFT = """
    NOT EXISTS (SELECT 1 FROM teams bt WHERE bt.id = runs.team_id AND bt.budget_state = 'paused')
    AND NOT EXISTS (SELECT 1 FROM agents ba WHERE ba.id = runs.agent_id AND ba.budget_state = 'paused')
"""

# The labels an agent's run needs (agent a, team t): its team's and its own, sorted, once each.
_LABELS_NEEDED = "ARRAY(SELECT DISTINCT label FROM unnest(t.worker_labels || a.worker_labels) AS l(label) ORDER BY 1)"

# A live worker has every label the run needs (a run that needs none: any worker). Live as for the health report.
_PLACEABLE = f"""
    (cardinality(runs.worker_labels) = 0 OR EXISTS (
        SELECT 1 FROM workers w
        WHERE w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => {WORKER_ALIVE_SECONDS})
          AND w.worker_labels @> runs.worker_labels))
"""
UNPLACED_PREFIX = "waits for a worker with "

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
    if reason not in RUN_REASONS:
        raise ValueError(f"unknown run reason {reason!r}")
    run = conn.execute(
        f"""
        INSERT INTO runs (id, team_id, agent_id, task_id, round_id, reason, prompt, backend, worker_labels)
        SELECT %s, %s, a.id, %s, %s, %s, %s, a.backend, {_LABELS_NEEDED}
        FROM agents a JOIN teams t ON t.id = a.team_id WHERE a.id = %s AND a.team_id = %s
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
    """Send the run to the queue of the labels it needs; if no live worker has them, it says so while it waits."""
    row = conn.execute("UPDATE runs SET dispatched_at = now() WHERE id = %s RETURNING worker_labels",
                       (run_id,)).fetchone()
    send_run(conn, run_id, row["worker_labels"])
    if row["worker_labels"]:
        note_placement(conn, run_id)


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
                  AND {_FIRST_IN_LINE} AND {_BUDGET_LEFT}
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
               (SELECT budget_state FROM teams WHERE id = r.team_id) AS team_budget,
               (SELECT budget_state FROM agents WHERE id = r.agent_id) AS agent_budget,
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
    if row["team_budget"] == "paused":
        reason = "the team's budget is spent: raise or remove it to go on"
    elif row["agent_budget"] == "paused":
        reason = "the agent's budget is spent: raise or remove it to go on"
    elif row["busy_with"]:
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


def cancel_requested_among(conn: psycopg.Connection, run_ids: list[str]) -> list[str]:
    """Which of these runs were asked to stop."""
    rows = conn.execute("SELECT id FROM runs WHERE id = ANY(%s) AND cancel_requested_at IS NOT NULL",
                        (run_ids,)).fetchall()
    return [r["id"] for r in rows]


def role_and_reason(conn: psycopg.Connection, run_id: str) -> dict[str, Any] | None:
    """Whether the run's agent is its team's lead, and why the run exists."""
    return conn.execute("SELECT a.is_lead, r.reason FROM runs r JOIN agents a ON a.id = r.agent_id WHERE r.id = %s",
                        (run_id,)).fetchone()


def record_process(conn: psycopg.Connection, run_id: str, attempt: int, *, pid: int | None,
                   cli_version: str | None) -> bool:
    row = conn.execute(
        "UPDATE runs SET pid = %s, cli_version = %s, updated_at = now()"
        " WHERE id = %s AND attempt = %s AND state = 'running' RETURNING id",
        (pid, cli_version, run_id, attempt),
    ).fetchone()
    return row is not None


def record_session(conn: psycopg.Connection, run_id: str, attempt: int, session_id: str) -> str | None:
    """The session the attempt's CLI named; returns the run's agent (None for a stale attempt)."""
    row = conn.execute(
        "UPDATE runs SET session_id = %s, updated_at = now()"
        " WHERE id = %s AND attempt = %s AND state = 'running' RETURNING agent_id",
        (session_id, run_id, attempt),
    ).fetchone()
    return row["agent_id"] if row else None


# ----------------------------------------------------------------------------------------------------- finish


def finish_attempt(
    conn: psycopg.Connection,
    run_id: str,
    attempt: int,
    *,
    state: str,
    outcome: str,
    error: str | None = None,
    not_before: datetime | None = None,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Record the end of an attempt, fenced by attempt number. Returns the run, or None for a stale attempt.

    `state` 'queued' re-queues the run (usage limit, unknown session, hand-back on shutdown); any terminal
    state ends it.
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
    return run


def append_ended_event(conn: psycopg.Connection, run: dict[str, Any]) -> None:
    """`run.finished` (terminal) or `run.requeued`, after the follow-ups' own events."""
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
          AND (not_before IS NULL OR not_before <= now()) AND {_FIRST_IN_LINE} AND {_BUDGET_LEFT}
          AND NOT EXISTS (SELECT 1 FROM runs busy WHERE busy.agent_id = runs.agent_id AND busy.state = 'running')
        """,
        (agent_id,),
    ).fetchone()
    if row is None:
        return None
    _dispatch(conn, row["id"])
    return row["id"]


# ----------------------------------------------------------------------------------------------------- cancel


# Which runs a cancel covers: one run, an agent's, a team's, or every run.
SCOPES = {"run": "r.id = %(key)s", "agent": "r.agent_id = %(key)s", "team": "r.team_id = %(key)s",
          "all": "%(key)s::text IS NULL"}


def cancel(conn: psycopg.Connection, scope: str, key: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Queued runs end `cancelled` at once; running ones get a cancel request their worker acts on (NOTIFY).
    Returns (ended queued runs, running runs asked to stop); the caller runs the ended ones' follow-ups."""
    where = SCOPES[scope]
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
    for run in running:
        conn.execute("SELECT pg_notify(%s, %s)", (CONTROL_CHANNEL, f"cancel:{run['id']}"))
        events.append(conn, [NewEvent("run.cancel_requested", run["team_id"], {"attempt": run["attempt"]},
                                      agent_id=run["agent_id"], task_id=run["task_id"], run_id=run["id"])])
    return queued, running


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
          AND {_FIRST_IN_LINE} AND {_BUDGET_LEFT} AND {_PLACEABLE}
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


def note_placement(conn: psycopg.Connection, run_id: str | None = None) -> list[str]:
    """Queued runs (this one, or all) that need labels no live worker has say so in `wait_reason`; the ones a
    worker with those labels could take now lose that reason (a worker's claim records the next one, if any).
    Called when a run is sent and on each worker's maintenance pass (a labelled worker may have gone or come).
    Returns the runs whose reason changed."""
    reason = (f"'{UNPLACED_PREFIX}the label' || CASE WHEN cardinality(runs.worker_labels) > 1 THEN 's ' ELSE ' ' END"
              " || array_to_string(runs.worker_labels, ', ') || ': none is online'")
    rows = conn.execute(
        f"""
        UPDATE runs SET wait_reason = CASE WHEN {_PLACEABLE} THEN NULL ELSE {reason} END
        WHERE state = 'queued' AND cardinality(worker_labels) > 0 AND (%(run)s::text IS NULL OR id = %(run)s)
          AND wait_reason IS DISTINCT FROM CASE WHEN {_PLACEABLE} THEN NULL ELSE {reason} END
          AND (NOT {_PLACEABLE} OR starts_with(wait_reason, %(prefix)s))
        RETURNING id
        """,
        {"run": run_id, "prefix": UNPLACED_PREFIX},
    ).fetchall()
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


def of_task(conn: psycopg.Connection, task_id: str) -> list[dict[str, Any]]:
    """A task's runs, oldest first (what a task view lists)."""
    return conn.execute(
        "SELECT id, agent_id, reason, state, outcome, error, attempt, created_at, started_at, ended_at"
        " FROM runs WHERE task_id = %s ORDER BY created_at, id",
        (task_id,),
    ).fetchall()


def active_of_task(conn: psycopg.Connection, task_id: str, *, states: tuple[str, ...] = ACTIVE_STATES
                   ) -> list[dict[str, Any]]:
    return conn.execute("SELECT id, state FROM runs WHERE task_id = %s AND state = ANY(%s) ORDER BY id",
                        (task_id, list(states))).fetchall()


def queued_of_agent(conn: psycopg.Connection, agent_id: str) -> list[str]:
    return [r["id"] for r in conn.execute("SELECT id FROM runs WHERE agent_id = %s AND state = 'queued'"
                                          " ORDER BY created_at, id", (agent_id,)).fetchall()]


def running_of_agent(conn: psycopg.Connection, agent_id: str) -> str | None:
    row = conn.execute("SELECT id FROM runs WHERE agent_id = %s AND state = 'running'", (agent_id,)).fetchone()
    return row["id"] if row else None


def activity_of_agent(conn: psycopg.Connection, agent_id: str) -> tuple[bool, bool]:
    """(has a running run, has a queued run)."""
    row = conn.execute(
        "SELECT bool_or(state = 'running') AS running, bool_or(state = 'queued') AS queued FROM runs"
        " WHERE agent_id = %s AND state IN ('queued', 'running')",
        (agent_id,),
    ).fetchone()
    return bool(row["running"]), bool(row["queued"])


def cost_by_team(conn: psycopg.Connection, team_ids: list[str]) -> dict[str, float]:
    return {row["team_id"]: row["cost"] for row in conn.execute(
        "SELECT team_id, sum(cost_usd)::float8 AS cost FROM runs WHERE team_id = ANY(%s) AND cost_usd IS NOT NULL"
        " GROUP BY team_id",
        (team_ids,),
    )}


def queued_agents_of_team(conn: psycopg.Connection, team_id: str) -> list[str]:
    return [r["agent_id"] for r in conn.execute(
        "SELECT DISTINCT agent_id FROM runs WHERE team_id = %s AND state = 'queued' ORDER BY agent_id",
        (team_id,)).fetchall()]


def spent_by_agent(conn: psycopg.Connection, agent_id: str) -> float:
    return conn.execute("SELECT COALESCE(sum(cost_usd), 0)::float8 AS spent FROM runs WHERE agent_id = %s",
                        (agent_id,)).fetchone()["spent"]


def current_by_agent(conn: psycopg.Connection, team_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What each agent of these teams is doing now: its running run, else the first queued one (with the title
    of the run's task, if it has one, and when a stop was asked of it). Agents with nothing queued or running
    are absent. One query."""
    rows = conn.execute(
        """
        SELECT DISTINCT ON (r.agent_id) r.agent_id, r.id AS run_id, r.state, r.reason, r.task_id,
               t.title AS task_title, r.started_at, r.created_at, r.cancel_requested_at
        FROM runs r LEFT JOIN tasks t ON t.id = r.task_id
        WHERE r.team_id = ANY(%s) AND r.state IN ('queued', 'running')
        ORDER BY r.agent_id, (r.state = 'running') DESC, r.created_at, r.id
        """,
        (team_ids,),
    ).fetchall()
    return {row["agent_id"]: {k: v for k, v in row.items() if k != "agent_id"} for row in rows}


def teams_with_active_runs(conn: psycopg.Connection, *, besides: list[str]) -> list[str]:
    """Teams not in `besides` that still have queued or running runs (archived teams left behind)."""
    rows = conn.execute(
        "SELECT DISTINCT team_id FROM runs WHERE state IN ('queued', 'running') AND team_id <> ALL(%s)"
        " ORDER BY team_id", (besides,)).fetchall()
    return [r["team_id"] for r in rows]


def get_with_agent(conn: psycopg.Connection, run_id: str) -> dict[str, Any] | None:
    return conn.execute("SELECT r.*, a.name AS agent_name FROM runs r JOIN agents a ON a.id = r.agent_id"
                        " WHERE r.id = %s", (run_id,)).fetchone()


def list_for_team(conn: psycopg.Connection, team_id: str, *, states: list[str] | None = None,
                  agent_id: str | None = None, task_id: str | None = None, before: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """Newest first, with the agent's name."""
    clauses, params = ["r.team_id = %s"], [team_id]
    for clause, value in (("r.state = ANY(%s)", states), ("r.agent_id = %s", agent_id),
                          ("r.task_id = %s", task_id), ("r.id < %s", before)):
        if value:
            clauses.append(clause)
            params.append(value)
    return conn.execute(
        "SELECT r.*, a.name AS agent_name FROM runs r JOIN agents a ON a.id = r.agent_id"
        f" WHERE {' AND '.join(clauses)} ORDER BY r.id DESC LIMIT %s",
        (*params, max(1, min(limit, 500))),
    ).fetchall()


LINES_MAX = 5000


def lines(conn: psycopg.Connection, run_id: str, attempt: int, stream: str, after: int,
          limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT line_no, line, created_at FROM run_lines WHERE run_id = %s AND attempt = %s AND stream = %s"
        " AND line_no > %s ORDER BY line_no LIMIT %s",
        (run_id, attempt, stream, after, max(1, min(limit, LINES_MAX))),
    ).fetchall()


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


def _num(value: Any) -> float | None:
    return float(value) if value is not None else None
