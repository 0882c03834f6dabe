"""What every domain module shares: domain errors, the event outbox, and lock-order rules.

Lock order inside one transaction (keeps concurrent writers free of deadlocks): runs → agents → tasks →
rounds → inserts (chat, inbox) → teams (event append, always last). Rows are locked FOR NO KEY UPDATE, never
FOR UPDATE, so foreign-key checks (KEY SHARE) of other writers never wait on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psycopg

from shared import events
from shared.events import NewEvent


class DomainError(Exception):
    """A refused operation; `status` is the HTTP status the web layer answers with."""

    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409


class Invalid(DomainError):
    status = 422


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

# Ids (tasks, agents, teams) whose follow-up the current operation settles itself: run-end hooks fired by
# cancellations inside that operation leave them alone (e.g. a team stop must not wake its lead).
_handled: ContextVar[frozenset[str]] = ContextVar("gamma_handled_by_caller", default=frozenset())


@contextmanager
def handled_by_caller(*ids: str) -> Iterator[None]:
    token = _handled.set(_handled.get() | frozenset(ids))
    try:
        yield
    finally:
        _handled.reset(token)


def is_handled_by_caller(ident: str | None) -> bool:
    return ident is not None and ident in _handled.get()
