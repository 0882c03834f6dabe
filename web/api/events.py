"""The event log as a trace: one team's events, the whole log as JSON Lines, and every team's at once.

GET /api/teams/<id>/events?after=&limit=&since=&until=&kind=&agent_id=&task_id=&run_id=
        a page of the team's events, oldest first by cursor → {events, next_after, head}
GET /api/teams/<id>/events.jsonl?after=&since=&until=&kind=&agent_id=&task_id=&run_id=
        the team's whole log (with the same filters) as JSON Lines, streamed in flat memory
GET /api/events?after=&order=oldest|newest&limit=&team_id=&since=&until=&kind=&agent_id=&task_id=&run_id=&q=
        the global trace, ordered by (created_at, team_id, seq) → {events, next_after, order}
GET /api/events.jsonl?after=&order=&team_id=&since=&until=&kind=&agent_id=&task_id=&run_id=&q=
        the same trace, every page of it, as JSON Lines streamed in flat memory

Filters: `since` ≤ created_at < `until` (ISO 8601; without an offset, UTC); `kind` a comma-separated list in
which a value ending with "." is a prefix (`kind=task.,run.finished`); agent, task and run ids exact; `q` text
the payload contains (case-insensitive, literally: % and _ are no wildcards).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from flask import Blueprint, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from shared import events
from web.api._helpers import csv_list, for_team, id_of, in_transaction, reply
from web.errors import ApiError
from web.validation import path_id, query

bp = Blueprint("events", __name__)

CURSOR_MAX = 2**63 - 1  # a bigint
# An event kind as the database's CHECK has it, or a prefix of one ending with ".".
_KIND = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+|[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.")
# An offset whose "+" a query string turned into a space ("…T10:00:00 02:00").
_SPACED_OFFSET = re.compile(r" (\d\d(:?\d\d)?)$")
JSONL_CHUNK_BYTES = 64 * 1024


def _timestamp(value: Any) -> Any:
    if isinstance(value, str):
        return _SPACED_OFFSET.sub(r"+\1", value.strip())
    return value


def _utc(value: datetime | None) -> datetime | None:
    """A timestamp without an offset is UTC (never the database session's zone)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


Timestamp = Annotated[datetime, BeforeValidator(_timestamp),
                      Field(description="ISO 8601 (an offset is best; without one, UTC)")]


class EventFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: Timestamp | None = Field(default=None, description="events created at or after this instant")
    until: Timestamp | None = Field(default=None, description="events created before this instant")
    kind: str | None = Field(default=None, max_length=1000, description=(
        "comma-separated event kinds; one ending with '.' is a prefix (task.,run.finished)"))
    agent_id: id_of("agent") | None = None
    task_id: id_of("task") | None = None
    run_id: id_of("run") | None = None
    q: str | None = Field(default=None, min_length=1, max_length=200, description=(
        "text the event's payload contains (case-insensitive; taken literally, no wildcards)"))

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @field_validator("kind")
    @classmethod
    def _kinds(cls, value: str | None) -> str | None:
        for kind in csv_list(value) or []:
            if not _KIND.fullmatch(kind):
                raise ValueError(f"{kind[:100]!r} is not an event kind or a prefix of one (like task. or "
                                 f"run.finished); known kinds: GET /api/vocabulary")
        return value

    @model_validator(mode="after")
    def _a_window(self) -> EventFilters:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until (the window is since <= created_at < until)")
        return self

    def filters(self) -> events.Filters:
        return events.Filters(kinds=csv_list(self.kind), agent_id=self.agent_id, task_id=self.task_id,
                              run_id=self.run_id, since=self.since, until=self.until, text=self.q)


class TeamEventQuery(EventFilters):
    after: int = Field(default=0, ge=0, le=CURSOR_MAX, description="the team cursor to read after")
    limit: int = Field(default=500, ge=1, le=events.READ_LIMIT_MAX)


class TeamStreamQuery(EventFilters):
    after: int = Field(default=0, ge=0, le=CURSOR_MAX, description="the team cursor to read after")


class GlobalStreamQuery(EventFilters):
    after: str | None = Field(default=None, max_length=200, description=(
        "a next_after (or an event's global_cursor) from an earlier page, in the same order"))
    order: Literal["oldest", "newest"] = Field(default="oldest", description=(
        "oldest: ascending (created_at, team_id, seq); newest: the reverse"))
    team_id: id_of("team") | None = None

    def cursor(self) -> events.GlobalCursor | None:
        """`after` parsed (None without one); a cursor this API did not make is a 400 naming `after`."""
        if not self.after:
            return None
        try:
            return events.GlobalCursor.parse(_timestamp_in_cursor(self.after))
        except ValueError as error:
            raise ApiError(400, f"after: {error}") from None

    def team_ids(self) -> list[str] | None:
        return [self.team_id] if self.team_id else None


class GlobalEventQuery(GlobalStreamQuery):
    limit: int = Field(default=500, ge=1, le=events.READ_LIMIT_MAX)


# -------------------------------------------------------------------------------------------------- one team


@bp.get("/api/teams/<team_id>/events")
def team_events(team_id: str):
    path_id(team_id, "team")
    p = query(TeamEventQuery)

    def read(conn):
        found = events.read(conn, team_id, after=p.after, limit=p.limit, filters=p.filters())
        return {"events": found, "next_after": found[-1]["cursor"] if found else p.after,
                "head": events.head(conn, team_id)}

    return reply(for_team(team_id, read))


@bp.get("/api/teams/<team_id>/events.jsonl")
def team_events_jsonl(team_id: str):
    """The whole log, one event a line. The generator holds one batch of rows and one chunk of text at a time
    (events.stream reads through a server-side cursor), so memory stays flat whatever the log's length."""
    path_id(team_id, "team")
    p = query(TeamStreamQuery)
    for_team(team_id, lambda conn: None)  # an unknown team is a 404 before the stream starts
    return _jsonl(events.stream(team_id, p.filters(), after=p.after))


def _jsonl(found: Iterator[dict[str, Any]]) -> Response:
    return Response(_chunks(found), mimetype="application/jsonl",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _chunks(found: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    buffer: list[bytes] = []
    size = 0
    try:
        for event in found:
            line = (json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
            buffer.append(line)
            size += len(line)
            if size >= JSONL_CHUNK_BYTES:
                yield b"".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield b"".join(buffer)
    finally:
        close = getattr(found, "close", None)
        if close is not None:
            close()  # a client that went away: end the read and give the connection back now


# -------------------------------------------------------------------------------------------------- all teams


@bp.get("/api/events")
def global_events():
    p = query(GlobalEventQuery)
    after = p.cursor()
    found = in_transaction(lambda conn: events.read_global(
        conn, p.filters(), after=after, newest_first=p.order == "newest", team_ids=p.team_ids(), limit=p.limit))
    next_after = found[-1]["global_cursor"] if found else p.after
    return reply({"events": found, "next_after": next_after, "order": p.order})


@bp.get("/api/events.jsonl")
def global_events_jsonl():
    """Every page GET /api/events would give for these filters, one event a line, streamed as the team log is."""
    p = query(GlobalStreamQuery)
    after = p.cursor()  # a bad cursor is a 400 before the stream starts
    return _jsonl(events.stream_global(p.filters(), after=after, newest_first=p.order == "newest",
                                       team_ids=p.team_ids()))


def _timestamp_in_cursor(text: str) -> str:
    when, sep, rest = text.partition("|")
    return _timestamp(when) + sep + rest

