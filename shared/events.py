"""The event log: append events in batches (one transaction, one NOTIFY per team per batch) and read them back.

Cursor: `(team_id, seq)`. `seq` comes from `teams.event_seq`, bumped with `UPDATE … RETURNING` inside the
inserting transaction. The row lock is held until commit, so a second writer for the same team waits, and
cursors become visible in exactly the order they were handed out: a reader following `seq > cursor` never
skips an event that commits late (the `bigserial` trap).

Lock order: take row locks on runs/tasks/agents first and append events last in a transaction; the team row
lock is then always the last one taken, which keeps writers free of deadlocks.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from shared import db
from shared.ids import new_id
from shared.safe_text import needs_escaping, storable, storable_value

log = logging.getLogger(__name__)

CHANNEL = "gamma_events"
READ_LIMIT_MAX = 5000
_WRITE_ATTEMPTS = 20  # with backoff capped at 2 s: ~35 s, longer than a run lease


class StaleAttempt(RuntimeError):
    """A writer tried to append for a run attempt that no longer owns the run (fencing)."""


@dataclass(frozen=True)
class Fence:
    """Only append while run `run_id` is still `running` at `attempt`."""

    run_id: str
    attempt: int


@dataclass
class NewEvent:
    kind: str
    team_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    agent_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None


RawLine = tuple[str, int, str]  # (stream, line number, text): one verbatim output line of a run attempt
UNSTORABLE_WARNING = "run.warning"


def check_fence(conn: psycopg.Connection, fence: Fence) -> None:
    row = conn.execute(
        "SELECT 1 FROM runs WHERE id = %s AND attempt = %s AND state = 'running' FOR SHARE",
        (fence.run_id, fence.attempt),
    ).fetchone()
    if row is None:
        raise StaleAttempt(f"run {fence.run_id} attempt {fence.attempt} no longer holds the run")


def append(
    conn: psycopg.Connection, events: Sequence[NewEvent], fence: Fence | None = None
) -> list[dict[str, Any]]:
    """Append events inside the caller's transaction; NOTIFY fires when it commits. Returns envelopes."""
    if not events:
        return []
    if fence is not None:
        check_fence(conn, fence)
    by_team: dict[str, list[NewEvent]] = defaultdict(list)
    for event in events:
        by_team[event.team_id].append(event)
    envelopes: list[dict[str, Any]] = []
    for team_id in sorted(by_team):
        envelopes.extend(_append_team(conn, team_id, by_team[team_id]))
    return envelopes


def _append_team(conn: psycopg.Connection, team_id: str, events: list[NewEvent]) -> list[dict[str, Any]]:
    row = conn.execute(
        "UPDATE teams SET event_seq = event_seq + %s WHERE id = %s RETURNING event_seq",
        (len(events), team_id),
    ).fetchone()
    if row is None:
        raise LookupError(f"no team {team_id}")
    last = _value(row, "event_seq")
    first = last - len(events) + 1
    rows = [
        (team_id, first + i, new_id("evt"), e.kind, e.agent_id, e.task_id, e.run_id, Jsonb(e.payload, dumps=dumps))
        for i, e in enumerate(events)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (team_id, seq, id, kind, agent_id, task_id, run_id, payload)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        now = conn.execute("SELECT clock_timestamp() AS now").fetchone()
    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{team_id}:{last}"))
    created_at = _iso(_value(now, "now"))
    return [
        {
            "cursor": seq,
            "id": event_id,
            "kind": kind,
            "team_id": team_id,
            "agent_id": agent_id,
            "task_id": task_id,
            "run_id": run_id,
            "payload": payload.obj,
            "created_at": created_at,
        }
        for (team_id, seq, event_id, kind, agent_id, task_id, run_id, payload) in rows
    ]


def emit(events: Iterable[NewEvent], fence: Fence | None = None) -> list[dict[str, Any]]:
    """Append in a transaction of its own."""
    with db.transaction() as conn:
        return append(conn, list(events), fence)


@dataclass(frozen=True)
class Filters:
    """What a trace read keeps: events of kinds in `kinds` (a kind ending with "." is a prefix: `task.` is every
    task event), of an agent, task or run, created in [since, until), whose payload's JSON text contains `text`
    (case-insensitive, taken literally: no wildcards)."""

    kinds: Sequence[str] | None = None
    agent_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None

    def clauses(self, params: dict[str, Any]) -> list[str]:
        """SQL conditions (for `params`) on the events table; [] when nothing is filtered."""
        found = []
        if self.kinds:
            exact = [k for k in self.kinds if not k.endswith(".")]
            prefixes = [_like_prefix(k) for k in self.kinds if k.endswith(".")]
            either = []
            if exact:
                either.append("kind = ANY(%(kinds)s)")
                params["kinds"] = exact
            if prefixes:
                either.append("kind LIKE ANY(%(kind_prefixes)s)")
                params["kind_prefixes"] = prefixes
            found.append(f"({' OR '.join(either)})")
        for column, value in (("agent_id", self.agent_id), ("task_id", self.task_id), ("run_id", self.run_id)):
            if value is not None:
                found.append(f"{column} = %({column})s")
                params[column] = value
        if self.since is not None:
            found.append("created_at >= %(since)s")
            params["since"] = self.since
        if self.until is not None:
            found.append("created_at < %(until)s")
            params["until"] = self.until
        if self.text:
            # A scan of the payloads in the window the other conditions leave: fine for a person's search.
            found.append("payload::text ILIKE %(text)s")
            # The payload's text is JSON: a quote or a backslash in it is escaped, so the needle is escaped alike.
            needle = json.dumps(self.text, ensure_ascii=False)[1:-1]
            params["text"] = f"%{_like_literal(needle)}%"
        return found


def _like_literal(text: str) -> str:
    """`text` for a LIKE pattern, its own \\, % and _ taken literally (backslash is LIKE's default escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching what starts with `prefix`."""
    return _like_literal(prefix) + "%"


_COLUMNS = "team_id, seq, id, kind, agent_id, task_id, run_id, payload, created_at"


def read(
    conn: psycopg.Connection,
    team_id: str,
    after: int = 0,
    limit: int = 1000,
    *,
    kinds: Sequence[str] | None = None,
    agent_id: str | None = None,
    task_id: str | None = None,
    run_id: str | None = None,
    before: int | None = None,
    filters: Filters | None = None,
) -> list[dict[str, Any]]:
    """Events of one team with cursor > `after`, oldest first, optionally filtered (`filters`, or the older
    keyword arguments: exact kinds and ids)."""
    filters = filters or Filters(kinds=kinds, agent_id=agent_id, task_id=task_id, run_id=run_id)
    clauses = ["team_id = %(team)s", "seq > %(after)s"]
    params: dict[str, Any] = {"team": team_id, "after": after, "limit": max(1, min(limit, READ_LIMIT_MAX))}
    if before is not None:
        clauses.append("seq < %(before)s")
        params["before"] = before
    clauses += filters.clauses(params)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT %(limit)s",
        params,
    ).fetchall()
    return [envelope(r) for r in rows]


STREAM_BATCH = 2000


def stream(team_id: str, filters: Filters, after: int = 0, *, batch: int = STREAM_BATCH) -> Iterator[dict[str, Any]]:
    """Every event of a team after cursor `after` that passes `filters`, oldest first, in flat memory.

    One dedicated connection and a server-side (named) cursor in one REPEATABLE READ transaction: the rows
    come `batch` at a time and the whole read sees one snapshot (an event committed meanwhile is either in it
    or after its end, never half). The connection closes when the iterator is exhausted or closed.
    """
    params: dict[str, Any] = {"team": team_id, "after": after}
    clauses = ["team_id = %(team)s", "seq > %(after)s", *filters.clauses(params)]
    sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY seq"
    return _in_flat_memory(sql, params, batch, envelope)


def _in_flat_memory(
    sql: str, params: dict[str, Any], batch: int, shape: Callable[[Any], dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """The rows of `sql` as `shape` makes them, `batch` at a time through a server-side cursor on a connection
    of their own, in one REPEATABLE READ snapshot; the connection closes when the iterator is exhausted or
    closed."""
    with db.connect() as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        with conn.cursor(name=f"events_{new_id('evt')[4:].lower()}") as cur:
            cur.itersize = batch
            cur.execute(sql, params)
            for row in cur:
                yield shape(row)
        conn.rollback()


@dataclass(frozen=True)
class GlobalCursor:
    """A position in the global trace: events are ordered by (created_at, team_id, seq), a total order
    (seq is unique within a team). Its text form is `<created_at ISO>|<team_id>|<seq>`."""

    created_at: datetime
    team_id: str
    seq: int

    def __str__(self) -> str:
        return f"{self.created_at.isoformat()}|{self.team_id}|{self.seq}"

    @classmethod
    def parse(cls, text: str) -> GlobalCursor:
        """The cursor `str()` made; ValueError naming what is wrong otherwise."""
        parts = text.split("|")
        if len(parts) != 3:
            raise ValueError("a cursor is <created_at>|<team_id>|<seq>, as next_after gave it")
        when, team_id, seq = parts
        try:
            created_at = datetime.fromisoformat(when)
        except ValueError:
            raise ValueError(f"{when!r} is not an ISO timestamp") from None
        if created_at.tzinfo is None:
            raise ValueError("the cursor's timestamp needs its UTC offset")
        if not seq.isdigit() or len(seq) > 18:
            raise ValueError(f"{seq!r} is not an event sequence number")
        return cls(created_at, team_id, int(seq))


def read_global(
    conn: psycopg.Connection,
    filters: Filters,
    *,
    after: GlobalCursor | None = None,
    newest_first: bool = False,
    team_ids: Sequence[str] | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Events across teams in (created_at, team_id, seq) order (reversed with `newest_first`), strictly after
    `after` in that order. created_at is set when an event is inserted, so an event that commits late can land
    before a cursor already handed out: this is a trace for looking back, not a feed to follow (that is
    /ws/events, which carries each team's gap-free cursor)."""
    params: dict[str, Any] = {"limit": max(1, min(limit, READ_LIMIT_MAX))}
    sql = _global_select(filters, params, after=after, newest_first=newest_first, team_ids=team_ids)
    rows = conn.execute(f"{sql} LIMIT %(limit)s", params).fetchall()
    return [_global_envelope(r) for r in rows]


def stream_global(
    filters: Filters,
    *,
    after: GlobalCursor | None = None,
    newest_first: bool = False,
    team_ids: Sequence[str] | None = None,
    batch: int = STREAM_BATCH,
) -> Iterator[dict[str, Any]]:
    """Every event read_global would page through (same filters, order and cursor), in flat memory from one
    snapshot, as `stream` does for one team."""
    params: dict[str, Any] = {}
    sql = _global_select(filters, params, after=after, newest_first=newest_first, team_ids=team_ids)
    return _in_flat_memory(sql, params, batch, _global_envelope)


def _global_select(
    filters: Filters,
    params: dict[str, Any],
    *,
    after: GlobalCursor | None,
    newest_first: bool,
    team_ids: Sequence[str] | None,
) -> str:
    """The ordered SELECT of the global trace (for `params`), without a LIMIT."""
    clauses = filters.clauses(params)
    if team_ids:
        clauses.append("team_id = ANY(%(team_ids)s)")
        params["team_ids"] = list(team_ids)
    direction = "DESC" if newest_first else "ASC"
    if after is not None:
        clauses.append(f"(created_at, team_id, seq) {'<' if newest_first else '>'} (%(a_at)s, %(a_team)s, %(a_seq)s)")
        params.update(a_at=after.created_at, a_team=after.team_id, a_seq=after.seq)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return (f"SELECT {_COLUMNS} FROM events {where}"
            f" ORDER BY created_at {direction}, team_id {direction}, seq {direction}")


def _global_envelope(row: dict[str, Any]) -> dict[str, Any]:
    return {**envelope(row), "global_cursor": str(GlobalCursor(row["created_at"], row["team_id"], row["seq"]))}


def heads(conn: psycopg.Connection) -> dict[str, int]:
    """Every team's last cursor."""
    return {row["id"]: row["event_seq"] for row in conn.execute("SELECT id, event_seq FROM teams").fetchall()}


def head(conn: psycopg.Connection, team_id: str) -> int:
    """The team's last committed cursor (0 when it has no events)."""
    row = conn.execute("SELECT event_seq FROM teams WHERE id = %s", (team_id,)).fetchone()
    if row is None:
        raise LookupError(f"no team {team_id}")
    return _value(row, "event_seq")


def envelope(row: Any) -> dict[str, Any]:
    get = (lambda k: row[k]) if isinstance(row, dict) else None
    if get is None:
        keys = ("team_id", "seq", "id", "kind", "agent_id", "task_id", "run_id", "payload", "created_at")
        mapping = dict(zip(keys, row, strict=True))
        get = mapping.__getitem__
    return {
        "cursor": get("seq"),
        "id": get("id"),
        "kind": get("kind"),
        "team_id": get("team_id"),
        "agent_id": get("agent_id"),
        "task_id": get("task_id"),
        "run_id": get("run_id"),
        "payload": get("payload"),
        "created_at": _iso(get("created_at")),
    }


def parse_notification(payload: str) -> tuple[str, int] | None:
    team_id, _, seq = payload.rpartition(":")
    try:
        return team_id, int(seq)
    except ValueError:
        return None


def dumps(event: dict[str, Any]) -> str:
    """Compact JSON that PostgreSQL's jsonb accepts: NUL and lone surrogates in strings are escaped (safe_text)."""
    text = json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    if "\\u0000" in text or needs_escaping(text):
        text = json.dumps(storable_value(event), separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return text


def _json_default(value: Any) -> Any:
    """Database values that JSON lacks: numeric columns arrive as Decimal, timestamps as datetime."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class BatchWriter:
    """Buffers events and writes them from one thread: at once when it is idle, in batches of up to `interval`
    seconds (or `max_batch` events) while events keep arriving faster than they are written.

    One writer per run: it is the run's single writer, so with a `fence` every batch is refused once the
    run's attempt is superseded (`on_stale` is then called once and later events are dropped).
    """

    def __init__(
        self,
        interval: float = 0.05,
        max_batch: int = 500,
        fence: Fence | None = None,
        on_stale: Any = None,
        connect: Any = None,
    ) -> None:
        self.interval = interval
        self.max_batch = max_batch
        self.fence = fence
        self.on_stale = on_stale
        self._connect = connect or (lambda: db.connect(autocommit=True))
        self._buffer: list[NewEvent] = []
        self._raw: list[RawLine] = []
        self._lock = threading.Condition()
        self._closed = False
        self._stale = False
        self._conn: psycopg.Connection | None = None
        self._inflight = 0
        self._busy = False  # did events arrive while the last batch was being written?
        self.written = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._loop, name="event-writer", daemon=True)
        self._thread.start()

    @property
    def stale(self) -> bool:
        return self._stale

    def add(self, event: NewEvent) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("writer is closed")
            if self._stale:
                return
            self._buffer.append(event)
            if len(self._buffer) == 1:
                # Wake the idle loop so the batch window starts at the first event (else an event
                # could wait up to two intervals); notify_all because flush() may wait here too.
                self._lock.notify_all()
            elif len(self._buffer) >= self.max_batch:
                self._lock.notify()

    def add_raw(self, stream: str, line_no: int, line: str) -> None:
        """Keep a verbatim output line of the fenced run (stored in `run_lines` with the next batch)."""
        if self.fence is None:
            raise RuntimeError("raw lines need a fenced writer (they belong to a run attempt)")
        with self._lock:
            if not self._closed and not self._stale:
                self._raw.append((stream, line_no, storable(line)))

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything added so far is written (or the writer went stale)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._lock.notify()
            while (self._buffer or self._raw or self._inflight) and not self._stale:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("event writer did not flush in time")
                self._lock.wait(min(remaining, self.interval))

    def close(self, timeout: float = 10.0) -> None:
        try:
            self.flush(timeout)
        finally:
            with self._lock:
                self._closed = True
                self._lock.notify()
            self._thread.join(timeout)
            if self._conn is not None:
                self._conn.close()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._buffer and not self._raw and not self._closed:
                    self._lock.wait(self.interval)
                if self._closed and not self._buffer and not self._raw:
                    return
                if self._busy and len(self._buffer) < self.max_batch and not self._closed:
                    # Under load (events kept coming while the last batch was written) let a burst accumulate
                    # for up to one interval: one transaction and one NOTIFY for many events. After a quiet
                    # spell the first event goes out at once.
                    self._lock.wait(self.interval)
                batch, self._buffer = self._buffer, []
                raw, self._raw = self._raw, []
                self._inflight = len(batch) + len(raw)
            try:
                if batch or raw:
                    self._write(batch, raw)
            except Exception:  # a bug here must not end the run's stream: log it and keep writing
                log.exception("the event writer failed on a batch of %d events and %d lines", len(batch), len(raw))
                self.dropped += len(batch)
            finally:
                with self._lock:
                    self._inflight = 0
                    self._busy = bool(self._buffer or self._raw)
                    self._lock.notify_all()

    def _write(self, batch: list[NewEvent], raw: list[RawLine]) -> None:
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                self._store(batch, raw)
                return
            except StaleAttempt:
                self._mark_stale()
                return
            except psycopg.OperationalError as error:
                log.warning("event write failed (attempt %d): %s", attempt + 1, error)
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                time.sleep(min(0.1 * 2**attempt, 2.0))
            except psycopg.Error as error:  # the data, not the connection: never retried as a whole
                log.warning("a batch of %d events was refused (%s); storing its items one by one", len(batch), error)
                self._store_one_by_one(batch, raw)
                return
        log.error("dropping %d events after repeated database errors", len(batch))
        self.dropped += len(batch)

    def _store(self, batch: list[NewEvent], raw: list[RawLine]) -> None:
        """One transaction: the raw lines and the events (fenced), one NOTIFY per team."""
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        with self._conn.transaction():
            if raw:
                assert self.fence is not None
                if not batch:
                    check_fence(self._conn, self.fence)
                with self._conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO run_lines (run_id, attempt, stream, line_no, line) VALUES (%s, %s, %s, %s, %s)",
                        [(self.fence.run_id, self.fence.attempt, s, n, t) for s, n, t in raw],
                    )
            append(self._conn, batch, self.fence)
        self.written += len(batch)

    def _store_one_by_one(self, batch: list[NewEvent], raw: list[RawLine]) -> None:
        """After a permanent error: every item alone, and one that is refused again in a safe form instead."""
        for line in raw:
            error = self._try_store([], [line])
            if error is not None and self._try_store([], [_safe_line(line, error)]) is not None:
                log.error("dropping a raw line the database refused even in its safe form")
        for event in batch:
            error = self._try_store([event], [])
            if error is not None and self._try_store([_safe_event(event, error)], []) is not None:
                log.error("dropping a %s event the database refused even in its safe form", event.kind)
                self.dropped += 1

    def _mark_stale(self) -> None:
        with self._lock:
            self._stale = True
            self._buffer.clear()
            self._raw.clear()
        if self.on_stale is not None:
            self.on_stale()

    def _try_store(self, batch: list[NewEvent], raw: list[RawLine]) -> psycopg.Error | None:
        """Store; None when stored (or the attempt is stale), else the error with which the database refused it."""
        if self._stale:
            return None
        try:
            self._store(batch, raw)
        except StaleAttempt:
            self._mark_stale()
        except psycopg.OperationalError:
            raise
        except psycopg.Error as error:
            return error
        return None


def _safe_event(event: NewEvent, error: Exception) -> NewEvent:
    """What is stored instead of an event the database refused: a warning that says so and shows what it was."""
    return NewEvent(UNSTORABLE_WARNING, event.team_id, {
        "message": "an event of this run could not be stored as it was; this warning replaces it",
        "original_kind": storable(str(event.kind))[:200],
        "error": storable(str(error))[:1000],
        "payload_preview": storable(repr(event.payload))[:4000],
    }, agent_id=event.agent_id, task_id=event.task_id, run_id=event.run_id)


def _safe_line(line: RawLine, error: Exception) -> RawLine:
    stream, line_no, text = line
    return stream, line_no, f"[gamma: this line could not be stored as it was ({storable(str(error))[:300]}): " \
                            f"{storable(repr(text))[:20000]}]"


def _value(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, dict) else row[0]


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
