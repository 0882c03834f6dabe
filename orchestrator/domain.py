"""What every orchestrator module shares: domain errors, the actor, the event outbox, an agent's spec, and the
lock-order rules.

Lock order inside one transaction (keeps concurrent writers free of deadlocks): runs → agents → tasks →
rounds → inserts (inbox) → teams (event append and chat messages, which take the team's counters, always
last). Rows are locked FOR NO KEY UPDATE, never
FOR UPDATE, so foreign-key checks (KEY SHARE) of other writers never wait on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from shared import events
from shared.events import NewEvent


class DomainError(Exception):
    """A refused operation, with a message that says what was wrong (web/errors.py maps each kind to a status)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """What was named does not exist (or not where the caller may see it)."""


class Forbidden(DomainError):
    """The caller may not do this (a member acting as lead, another team's task)."""


class Conflict(DomainError):
    """Not possible in the current state (an archived team, a final task)."""


class Invalid(DomainError):
    """The request names things that cannot be combined or do not make sense."""


@dataclass
class AgentSpec:
    """An agent to create: from the API, a blueprint, or the default lead."""

    name: str
    role_id: str
    specialization: str = ""
    is_lead: bool = False
    emoji: str | None = None
    backend: str | None = None
    model: str | None = None
    max_turns: int | None = None
    permission_mode: str | None = None
    allowed_tools: list[str] | None = None
    disallowed_tools: list[str] | None = None
    budget_usd: float | None = None
    worker_labels: list[str] | None = None  # worker labels its runs need besides its team's (None: none)


class Outbox:
    """Events collected during an operation and appended together at its end (the team lock comes last)."""

    def __init__(self) -> None:
        self._events: list[NewEvent] = []

    def add(self, kind: str, team_id: str, payload: dict[str, Any] | None = None, *, agent_id: str | None = None,
            task_id: str | None = None, run_id: str | None = None) -> None:
        self._events.append(NewEvent(kind, team_id, payload or {}, agent_id=agent_id, task_id=task_id,
                                     run_id=run_id))

    def flush(self, conn: psycopg.Connection) -> list[dict[str, Any]]:
        pending, self._events = self._events, []
        return events.append(conn, pending)


def preview(text: str | None, limit: int = 200) -> str:
    """A one-paragraph excerpt for event payloads and prompts."""
    if not text:
        return ""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Actor:
    """Who performs an operation: the user (public API) or an agent identified by its run token."""

    team_id: str | None = None
    agent_id: str | None = None
    name: str = "user"
    is_lead: bool = False
    run_id: str | None = None
    task_id: str | None = None

    @property
    def is_user(self) -> bool:
        return self.agent_id is None

    def stamp(self) -> dict[str, Any]:
        """How the actor appears in event payloads."""
        return {"by": self.name, "by_agent_id": self.agent_id}


USER = Actor()
