"""Placeholder: replaced by the vocabulary branch (same names)."""

TASK_STAGES = ("backlog", "planning", "in_progress", "review", "done", "failed", "cancelled")
OPEN_TASK_STAGES = ("backlog", "planning", "in_progress")
TERMINAL_TASK_STAGES = ("done", "failed", "cancelled")
SETTLED_TASK_STAGES = ("review", "done", "failed", "cancelled")
TASK_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "backlog": ("planning", "in_progress", "review", "done", "failed", "cancelled"),
    "planning": ("backlog", "in_progress", "review", "done", "failed", "cancelled"),
    "in_progress": ("review", "done", "failed", "cancelled"),
    "review": ("in_progress", "done", "failed", "cancelled"),
}
ACTIVE_RUN_STATES = ("queued", "running")
TERMINAL_RUN_STATES = ("succeeded", "failed", "cancelled", "interrupted", "timed_out")
RUN_REASONS = ("chat", "task", "wake", "message", "retry")
AGENT_STATUSES = ("idle", "queued", "running", "error", "stopped", "archived")
