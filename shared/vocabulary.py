"""Gamma's vocabulary: every state, kind and mode the domain knows, defined once.

The database's CHECK constraints (shared/migrations/*.sql), the orchestrator, the workers, the web API and
the browser (through `GET /api/vocabulary`) all speak these words; tests/test_vocabulary.py proves that the
constraints of a migrated database allow exactly these values and that every event kind the code emits is
listed here. Plain tuples of str, in display order, so callers can compare, `in`-test and pass them to SQL
(`= ANY(%s)` takes `list(...)`) without conversions.

Tasks (`tasks.stage`):
    backlog      created, not yet worked on (it has a queued run; a busy agent's run waits its turn)
    blocked      waits for tasks it depends on (no run yet; queued the moment the last one is done), or one of
                 them failed or was cancelled (`tasks.blocked_reason` says which)
    in_progress  the assignee is working on it (also: the lead asked for changes after review)
    review       the assignee says it is finished; the lead reviews it
    done         accepted — final
    failed       given up — final (a retry creates a new task)
    cancelled    withdrawn by the lead or the user, or by archiving the team — final

    blocked ──▶ backlog ──▶ in_progress ─┬─▶ review ─┬─▶ done
    (failed, cancelled from any open stage) ├─▶ done    ├─▶ failed
                                            └─▶ failed  ├─▶ in_progress (rework)
                                                        └─▶ cancelled

Runs (`runs.state`): one invocation of an agent's CLI, with its attempts.
    queued       waiting for its agent to be free and for a worker to take it
    running      a worker holds its lease and the CLI is running
    succeeded    the CLI ended with a result
    failed       the CLI or the run failed (see `runs.outcome` and `runs.error`)
    cancelled    stopped on request (agent or team stopped, task cancelled)
    interrupted  its attempts were lost (worker died or froze) more often than `max_attempts` allows
    timed_out    it ran longer than the run time limit

Why a run exists (`runs.reason`):
    chat     the user wrote to the team (a lead run)
    task     a task was assigned to the agent
    wake     a round's tasks are all settled: the lead is woken once to review them
    message  a teammate sent the agent a message
    retry    the first run of a task created as a retry of an earlier one (`tasks.retry_of`)

How a run's CLI ended (`runs.outcome`, NULL while it has not): see workers/outcome.py for the classification.

Agents (`agents.status`):
    idle      nothing queued or running
    queued    has a queued run, none running
    running   has a running run
    error     its last run failed
    stopped   stopped by the user; new work does not start until it is revived
    archived  removed from the team (kept for history)

Teams (`teams.status`): active, or archived (read-only, its runs cancelled).

Rounds (`rounds.state`): one cycle of delegated work started by a lead run.
    open       takes new delegated tasks (at most one open round per team)
    waking     all its tasks settled; the lead's wake run reviews them (takes no new tasks)
    closed     the wake run ended
    cancelled  the round could not wake its lead (team archived, no lead, lead stopped) or the wake run was cancelled

Chat (`chat_messages.kind`; `chat_messages.role` is the model-facing role user/assistant/system):
    user    the user's message to the team (role user)
    answer  the lead's reply, the result text of its run (role assistant)
    wake    the prompt that woke the lead for a settled round (role system, on the wake run)
    notice  any other system line: a lead run that failed or was cancelled, a goal marked done (role system)
"""

from __future__ import annotations

# ----------------------------------------------------------------------------------------------------- tasks

TASK_STAGES: tuple[str, ...] = ("backlog", "blocked", "in_progress", "review", "done", "failed", "cancelled")
# Not yet handed in: the assignee still has work to do (a blocked task waits for the tasks it depends on).
OPEN_TASK_STAGES: tuple[str, ...] = ("backlog", "blocked", "in_progress")
# Work that is going on or will go on by itself: a round with such a task is not settled.
LIVE_TASK_STAGES: tuple[str, ...] = ("backlog", "in_progress")
# Final: a task never leaves these.
TERMINAL_TASK_STAGES: tuple[str, ...] = ("done", "failed", "cancelled")
# Nothing more is expected from the assignee: once every task of a round is settled, the lead is woken.
SETTLED_TASK_STAGES: tuple[str, ...] = ("review", "done", "failed", "cancelled")
# The enforced state machine: from → the stages it may move to (terminal stages have no entry). A task reaches
# review or done only through in_progress, i.e. through a run.
TASK_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "backlog": ("in_progress", "blocked", "failed", "cancelled"),
    "blocked": ("backlog", "failed", "cancelled"),
    "in_progress": ("review", "done", "failed", "cancelled"),
    "review": ("in_progress", "done", "failed", "cancelled"),
}
# What a user may do by hand (PATCH /api/tasks/<id>): a run starts a task and the last dependency done unblocks
# it, never a click.
MANUAL_TASK_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "backlog": ("failed", "cancelled"),
    "blocked": ("failed", "cancelled"),
    "in_progress": ("failed", "cancelled"),
    "review": ("in_progress", "done", "failed", "cancelled"),
}
# The steps of a review (`task_reviews.step`).
REVIEW_STEPS: tuple[str, ...] = ("requested", "approved", "changes_requested", "rejected", "merged", "merge_conflict",
                                 "check_failed")
# A task's merge into the main line (`tasks.merge->>'state'`, orchestrator/workflows/work_product.py):
#   checking  approved; the team's check command runs on the merged result (a merge check) before main moves
#   merged    the branch is in the main line (the task is done)
#   conflict  the branch conflicts with the main line: the task went back to its assignee
#   check_failed  the check command failed on the merged result: the task went back to its assignee
MERGE_STATES: tuple[str, ...] = ("checking", "merged", "conflict", "check_failed")
# A merge check (`merge_checks.state`): the team's check command on a merged result, on a worker.
MERGE_CHECK_STATES: tuple[str, ...] = ("queued", "running", "passed", "failed", "cancelled")
# What a task is about (`tasks.kind`); roles list the kinds they take.
TASK_KINDS: tuple[str, ...] = (
    "generic", "backend", "frontend", "mobile", "qa", "design", "devops", "security", "data", "ml",
    "research", "writing", "marketing", "sales", "support", "product", "planning", "review", "docs",
)

# ------------------------------------------------------------------------------------------------------ runs

RUN_STATES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted", "timed_out")
ACTIVE_RUN_STATES: tuple[str, ...] = ("queued", "running")
TERMINAL_RUN_STATES: tuple[str, ...] = ("succeeded", "failed", "cancelled", "interrupted", "timed_out")
RUN_REASONS: tuple[str, ...] = ("chat", "task", "wake", "message", "retry")
RUN_OUTCOMES: tuple[str, ...] = (
    "success", "max_turns", "budget_exceeded", "api_error", "usage_limit", "unknown_session", "timeout",
    "cli_not_found", "cli_error", "cancelled", "lease_lost", "interrupted", "config_error", "no_result",
)

# -------------------------------------------------------------------------------------- agents, teams, rounds

AGENT_STATUSES: tuple[str, ...] = ("idle", "queued", "running", "error", "stopped", "archived")
TEAM_STATUSES: tuple[str, ...] = ("active", "archived")
# A team's or an agent's budget (`budget_state`): ok; warned once 80 % is spent; paused once it is all spent (no
# new run starts; queued runs wait until the budget is raised or removed).
BUDGET_STATES: tuple[str, ...] = ("ok", "warned", "paused")
BUDGET_WARNING_SHARE = 0.8
ROUND_STATES: tuple[str, ...] = ("open", "waking", "closed", "cancelled")
# The claude CLI's `--permission-mode` values (codex maps them onto its sandbox flags). Not constrained in SQL:
# `agents.permission_mode` is NULL (the setting GAMMA_PERMISSION_MODE applies) or one of these.
PERMISSION_MODES: tuple[str, ...] = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto")

# ------------------------------------------------------------------------------------------------------ chat

CHAT_KINDS: tuple[str, ...] = ("user", "answer", "wake", "notice")
CHAT_ROLES: tuple[str, ...] = ("user", "assistant", "system")

# ---------------------------------------------------------------------------------------------------- events

# Every kind appended to the event log, grouped by prefix (the part before the dot names what it is about).
TEAM_EVENTS: tuple[str, ...] = ("team.created", "team.updated", "team.stopped", "team.archived", "team.goal_done",
                                "team.budget_warning", "team.budget_paused", "team.budget_resumed")
AGENT_EVENTS: tuple[str, ...] = (
    "agent.created", "agent.updated", "agent.status", "agent.status_report", "agent.session_reset",
    "agent.stopped", "agent.archived", "agent.budget_warning", "agent.budget_paused", "agent.budget_resumed",
)
# Parsed from the agent CLI's output stream (workers/stream_parser.py, workers/backends/codex/parser.py).
AGENT_STREAM_EVENTS: tuple[str, ...] = (
    "agent.init", "agent.system", "agent.text", "agent.thinking", "agent.tool_use", "agent.tool_result",
    "agent.result", "agent.rate_limit", "agent.raw",
)
TASK_EVENTS: tuple[str, ...] = ("task.created", "task.assigned", "task.updated", "task.edited")
# The work product: a run's changes committed on its task's branch, a merge (or its conflict), a merge check.
WORK_EVENTS: tuple[str, ...] = ("task.committed", "task.merged", "task.merge_conflict", "task.check_started",
                                "task.check_finished")
RUN_EVENTS: tuple[str, ...] = (
    "run.queued", "run.started", "run.warning", "run.cancel_requested", "run.requeued", "run.finished",
    "run.session_restored",  # the CLI's session transcript was brought to this host before a resume
)
ROUND_EVENTS: tuple[str, ...] = ("round.opened", "round.waking", "round.closed", "round.cancelled")
CHAT_EVENTS: tuple[str, ...] = ("chat.message", "chat.updated")
MESSAGE_EVENTS: tuple[str, ...] = ("message.sent", "message.broadcast", "message.delivered")
EVENT_KINDS: tuple[str, ...] = (
    *TEAM_EVENTS, *AGENT_EVENTS, *AGENT_STREAM_EVENTS, *TASK_EVENTS, *WORK_EVENTS, *RUN_EVENTS, *ROUND_EVENTS,
    *CHAT_EVENTS,
    *MESSAGE_EVENTS,
)


def as_json() -> dict[str, list[str] | dict[str, list[str]]]:
    """The vocabulary for the browser (`GET /api/vocabulary`): lists in display order, transitions as an object."""
    return {
        "task_stages": list(TASK_STAGES),
        "open_task_stages": list(OPEN_TASK_STAGES),
        "terminal_task_stages": list(TERMINAL_TASK_STAGES),
        "settled_task_stages": list(SETTLED_TASK_STAGES),
        "task_transitions": {stage: list(targets) for stage, targets in TASK_TRANSITIONS.items()},
        "manual_task_transitions": {stage: list(targets) for stage, targets in MANUAL_TASK_TRANSITIONS.items()},
        "review_steps": list(REVIEW_STEPS),
        "merge_states": list(MERGE_STATES),
        "merge_check_states": list(MERGE_CHECK_STATES),
        "task_kinds": list(TASK_KINDS),
        "run_states": list(RUN_STATES),
        "active_run_states": list(ACTIVE_RUN_STATES),
        "terminal_run_states": list(TERMINAL_RUN_STATES),
        "run_reasons": list(RUN_REASONS),
        "run_outcomes": list(RUN_OUTCOMES),
        "agent_states": list(AGENT_STATUSES),
        "team_statuses": list(TEAM_STATUSES),
        "budget_states": list(BUDGET_STATES),
        "round_states": list(ROUND_STATES),
        "permission_modes": list(PERMISSION_MODES),
        "chat_kinds": list(CHAT_KINDS),
        "chat_roles": list(CHAT_ROLES),
        "event_kinds": list(EVENT_KINDS),
    }
