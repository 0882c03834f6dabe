"""The per-process event hub: ONE `LISTEN gamma_events` connection fanning events out to WebSocket subscribers.

How a subscriber gets every event exactly once, in cursor order:

- The hub keeps, per team, the last cursor it has distributed (`heads`). On a NOTIFY "<team>:<seq>" it reads
  that team's rows after its head once, serializes each event once, and offers them to the team's *live*
  subscribers and to every live global subscriber. Teams nobody watches are not read; their head just moves.
- A team subscriber registers (not live), replays `seq > after` from the table, then goes live: under the
  hub lock it is added to the fan-out and learns the hub's head `h` for its team. Everything up to `h` was
  distributed before it went live, so it replays up to `h` from the table once more; everything after `h`
  reaches its queue. Its writer drops anything at or below what it has already sent.
- A global subscriber (the dashboard's `/ws/events`) promises: every envelope carries its `team_id` and
  `cursor`; a client joining "now" sees nothing committed before it joined (the join completes before its
  hello is sent), and every event committed after that, of every team, exactly once, in cursor order per
  team. There is no replay: the dashboard refetches state over REST. It registers first, then reads each
  team's committed `event_seq` (its *floors*) and drops whatever the hub offers at or below them. The order
  matters: the hub may still hold NOTIFYs of events that committed before the join (it reads them after the
  subscriber registered) — those are at or below the floors; anything committing after the floors were read
  is above them and, the subscriber being registered already, reaches its queue. (Taking the hub's
  distributed heads as the start instead would let exactly those pending events through.)
- NOTIFY is not stored for a disconnected listener, so after every (re)connect the hub compares each team's
  `event_seq` with its heads and distributes what it missed before it listens again.
- A subscriber's queue is bounded: when it overflows the subscriber is closed (1013) and its client reconnects
  with its cursor, which replays from the table instead of buffering without bound here.
- Fan-out without a thread switch per viewer: each page is framed once (a `Page`), and while a live subscriber's
  writer waits with nothing queued, the hub writes the page's frame to that socket itself, without blocking
  (`attach`, web.stream_io.LockedSocket.try_send). A socket that does not take it at once — or a writer that is
  busy — gets the page queued as before, and everything after it too until its writer has caught up, so the
  order holds. At 300 viewers this is one frame encoding and 300 non-blocking sends per page, instead of 300
  thread wake-ups and 300 encodings.

Tuning (settings, shared.config): GAMMA_WS_MAX_PENDING (undelivered events a subscriber may hold before it is
closed, default 10000).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from shared import db, events
from shared.config import get_settings
from web.stream_io import Item, Sent, event_frames, websocket_frames

log = logging.getLogger(__name__)

APPLICATION_NAME = "gamma-hub"
FETCH_PAGE = 1000
IDLE_CHECK_SECONDS = 10.0
CLOSE_OVERFLOW = (1013, "too slow: reconnect with your cursor")
CLOSE_RESTART = (1012, "server restarting: reconnect with your cursor")

Sink = Callable[[bytes], Sent]


class Page:
    """One read of a team's events, offered to every subscriber; framed for the wire at most once per kind."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.last = items[-1][1]
        self._wire: dict[bool, bytes] = {}

    def wire(self, with_cursor: bool) -> bytes:
        """The page as WebSocket frames: team streams carry the cursor, the global stream does not."""
        data = self._wire.get(with_cursor)
        if data is None:
            data = self._wire[with_cursor] = websocket_frames(
                text for text, _ in event_frames(self.items, with_cursor=with_cursor))
        return data


class HubClosed(RuntimeError):
    """The hub is shutting down; new subscribers are refused."""


class Subscriber:
    """One WebSocket's view of the hub: a team (or all teams), its cursor and a bounded queue."""

    def __init__(self, team_id: str | None, cursor: int, max_pending: int) -> None:
        self.team_id = team_id
        self.cursor = cursor  # last seq sent to the client (team subscribers only); written by its writer
        self.max_pending = max_pending
        self.live = False
        # Global subscribers: per team, the last seq committed before the join (nothing at or below is sent);
        # None until read. Teams missing from it started after the join.
        self.floors: dict[str, int] | None = None
        self.close_code: tuple[int, str] | None = None
        self._items: list[Item] = []
        self._cond = threading.Condition()
        self._sink: Sink | None = None  # the socket, once the writer has sent what precedes the live events
        self._parked = False  # the writer waits in take() with nothing to send: the hub may write for it
        self._flush = False  # the hub left part of a frame on the socket: the writer must finish it
        self.wrote_at = 0.0  # time.monotonic() of the hub's last write to the socket (the heartbeat counts it)

    @property
    def is_global(self) -> bool:
        return self.team_id is None

    def attach(self, sink: Sink) -> None:
        """Let the hub write pages straight to the socket while this subscriber's writer is idle."""
        with self._cond:
            self._sink = sink

    def offer(self, page: Page) -> bool:
        """Queue the page for the writer, or write it to the socket now; True when written here."""
        with self._cond:
            if self.close_code is not None:
                return False
            items = page.items
            if self.floors is not None:
                items = self._above_floors(items)
                if not items:
                    return False
            if len(items) == len(page.items) and self._write_now(page):
                return True
            # Judged before adding, so one large page never closes a client that keeps up; the queue stays
            # below max_pending + FETCH_PAGE.
            if len(self._items) >= self.max_pending:
                self._items = []
                self.close_code = CLOSE_OVERFLOW
            else:
                self._items.extend(items)
            self._cond.notify_all()
            return False

    def _write_now(self, page: Page) -> bool:
        # Only while the writer waits and nothing is queued: then nothing it sent or will send can come between.
        if self._sink is None or not self._parked or self._items:
            return False
        if not self.is_global and page.items[0][1] <= self.cursor:
            return False  # its replay read ahead of the hub: the writer drops what it has sent already
        sent = self._sink(page.wire(with_cursor=not self.is_global))
        if sent is Sent.NOTHING:
            return False
        self.wrote_at = time.monotonic()
        if not self.is_global:
            self.cursor = page.last
        if sent is Sent.PART:
            self._flush = True
            self._cond.notify_all()
        return True

    def start_after(self, floors: dict[str, int]) -> None:
        """Global subscribers: from now on drop events at or below `floors` (and those queued already)."""
        with self._cond:
            self.floors = floors
            self._items = self._above_floors(self._items)
            self.live = True

    def _above_floors(self, items: list[Item]) -> list[Item]:
        assert self.floors is not None
        return [item for item in items if item[1] > self.floors.get(item[0], 0)]

    def close(self, code: tuple[int, str]) -> None:
        with self._cond:
            if self.close_code is None:
                self.close_code = code
            self._cond.notify_all()

    def take(self, timeout: float) -> tuple[list[Item], tuple[int, str] | None]:
        """Everything queued so far (waiting up to `timeout` for something), and the close code if closing."""
        with self._cond:
            if not self._items and self.close_code is None and not self._flush:
                self._parked = True
                try:
                    self._cond.wait(timeout)
                finally:
                    self._parked = False
            items, self._items = self._items, []
            self._flush = False  # the writer flushes the socket's tail before it returns here
            return items, self.close_code

    def pending(self) -> int:
        with self._cond:
            return len(self._items)


class Hub:
    def __init__(
        self,
        connect: Callable[[], psycopg.Connection] | None = None,
        max_pending: int | None = None,
    ) -> None:
        self._connect = connect or _listen_connection
        self.max_pending = max_pending or get_settings().ws_max_pending
        self._lock = threading.RLock()
        self._heads: dict[str, int] = {}
        self._team_subs: dict[str, set[Subscriber]] = {}
        self._global_subs: set[Subscriber] = set()
        self._all: set[Subscriber] = set()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.connected = False
        self.backend_pid: int | None = None
        self.connects = 0
        self.notifications = 0
        self.fetched = 0
        self.caught_up = 0  # events found by the catch-up after a (re)connect rather than by a NOTIFY
        self.overflows = 0
        self.written = 0  # pages the hub wrote to a socket itself
        self.queued = 0  # pages it queued for a subscriber's writer

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gamma-hub", daemon=True)
                self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """True once the hub has listened and taken its first snapshot of the teams' heads."""
        self.start()
        return self._ready.wait(timeout)

    def shutdown(self, code: tuple[int, str] = CLOSE_RESTART) -> None:
        """Close every subscriber (their writers send `code`) and stop listening."""
        with self._lock:
            self._closing = True
            subscribers = list(self._all)
        for sub in subscribers:
            sub.close(code)
        self._stopping.set()

    # -- subscribers -----------------------------------------------------------------------------------------

    def subscribe(self, team_id: str, after: int) -> Subscriber:
        """Register a team subscriber; it receives nothing until `go_live` (replay from the table first)."""
        sub = Subscriber(team_id, after, self.max_pending)
        with self._lock:
            if self._closing:
                raise HubClosed("the server is shutting down")
            self._all.add(sub)
        return sub

    def go_live(self, sub: Subscriber) -> int:
        """Start queuing live events for `sub`; returns the head already distributed (replay up to it)."""
        assert sub.team_id is not None
        with self._lock:
            sub.live = True
            self._team_subs.setdefault(sub.team_id, set()).add(sub)
            return self._heads.get(sub.team_id, 0)

    def subscribe_global(self, committed: Callable[[], dict[str, int]] | None = None) -> Subscriber:
        """A live subscriber to every team's events committed from now on (no replay: see the module docstring).

        `committed` reads each team's committed `event_seq` (default: from the pool); it is called after the
        subscriber is registered, so nothing committed after it read is missed.
        """
        sub = Subscriber(None, 0, self.max_pending)
        with self._lock:
            if self._closing:
                raise HubClosed("the server is shutting down")
            self._all.add(sub)
            self._global_subs.add(sub)
        try:
            sub.start_after((committed or committed_heads)())
        except BaseException:
            self.unsubscribe(sub)
            raise
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._all.discard(sub)
            self._global_subs.discard(sub)
            if sub.team_id is not None:
                subs = self._team_subs.get(sub.team_id)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._team_subs[sub.team_id]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "ready": self._ready.is_set(),
                "connected": self.connected,
                "backend_pid": self.backend_pid,
                "connects": self.connects,
                "notifications": self.notifications,
                "fetched_events": self.fetched,
                "caught_up_events": self.caught_up,
                "overflows": self.overflows,
                "pages_written_by_hub": self.written,
                "pages_queued_for_writers": self.queued,
                "subscribers": len(self._all),
                "global_subscribers": len(self._global_subs),
                "watched_teams": len(self._team_subs),
                "known_teams": len(self._heads),
            }

    # -- the listener thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {events.CHANNEL}")
                    self.backend_pid = conn.info.backend_pid
                    self.connects += 1
                    self._catch_up(conn)
                    self.connected = True
                    self._ready.set()
                    delay = 0.1
                    self._listen(conn)
            except psycopg.OperationalError as error:
                if not self._stopping.is_set():
                    log.warning("event hub lost its connection (%s); reconnecting in %.1fs", error, delay)
            except Exception:  # a bug must not end streaming: start over and catch up from the table
                log.exception("event hub failed; restarting in %.1fs", delay)
            finally:
                self.connected = False
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, 5.0)

    def _listen(self, conn: psycopg.Connection) -> None:
        last_activity = time.monotonic()
        while not self._stopping.is_set():
            latest: dict[str, int] = {}
            for note in conn.notifies(timeout=0.5, stop_after=1):
                self._note(latest, note.payload)
            if latest:
                for note in conn.notifies(timeout=0):  # drain what else arrived: one read per team
                    self._note(latest, note.payload)
                for team_id, seq in latest.items():
                    self._advance(conn, team_id, seq)
                last_activity = time.monotonic()
            elif time.monotonic() - last_activity > IDLE_CHECK_SECONDS:
                conn.execute("SELECT 1")  # notices a silently dead connection
                last_activity = time.monotonic()

    def _note(self, latest: dict[str, int], payload: str) -> None:
        self.notifications += 1
        parsed = events.parse_notification(payload)
        if parsed is not None:
            team_id, seq = parsed
            latest[team_id] = max(seq, latest.get(team_id, 0))

    def _catch_up(self, conn: psycopg.Connection) -> None:
        """After (re)listening: whatever committed while nobody listened, as if it had been notified."""
        for team_id, last in events.heads(conn).items():
            self.caught_up += self._advance(conn, team_id, last)

    def _advance(self, conn: psycopg.Connection, team_id: str, last: int) -> int:
        """Distribute the team's events after the hub's head (at least up to `last`); returns how many."""
        with self._lock:
            head = self._heads.get(team_id, 0)
            if head >= last:
                return 0
            if not self._team_subs.get(team_id) and not self._global_subs:
                # Nobody live watches this team: later joiners replay from the table up to this head.
                self._heads[team_id] = last
                return 0
        distributed = 0
        while True:
            rows = events.read(conn, team_id, after=head, limit=FETCH_PAGE)
            if not rows:
                return distributed
            distributed += len(rows)
            page = Page([(team_id, row["cursor"], events.dumps(row)) for row in rows])
            head = page.last
            self.fetched += len(rows)
            with self._lock:
                targets = [*self._team_subs.get(team_id, ()), *self._global_subs]
                for sub in targets:
                    if sub.offer(page):
                        self.written += 1
                    else:
                        self.queued += 1
                    if sub.close_code == CLOSE_OVERFLOW and sub in self._all:
                        self._evict(sub)
                self._heads[team_id] = max(head, self._heads.get(team_id, 0))
            if len(rows) < FETCH_PAGE:
                return distributed

    def _evict(self, sub: Subscriber) -> None:
        self.overflows += 1
        log.info("closing a %s subscriber that fell %d events behind", sub.team_id or "global", sub.max_pending)
        self.unsubscribe(sub)


def committed_heads() -> dict[str, int]:
    """Every team's last committed cursor."""
    with db.pool().connection() as conn:
        return {row["id"]: row["event_seq"] for row in conn.execute("SELECT id, event_seq FROM teams")}


def _listen_connection() -> psycopg.Connection:
    return db.connect(
        autocommit=True,
        application_name=APPLICATION_NAME,
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )


_hub: Hub | None = None
_hub_pid: int | None = None
_hub_lock = threading.Lock()


def get_hub() -> Hub:
    """This process's hub, created (and its thread started) on first use, after any fork."""
    global _hub, _hub_pid
    if _hub is None or _hub_pid != os.getpid():
        with _hub_lock:
            if _hub is None or _hub_pid != os.getpid():
                _hub, _hub_pid = Hub(), os.getpid()
    _hub.start()
    return _hub


def shutdown_current() -> None:
    """Close this process's streams with 1012 (if it has a hub)."""
    hub = peek_hub()
    if hub is not None:
        hub.shutdown()


def install_shutdown_signals(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)) -> None:
    """Chain the current handlers so a stopping gunicorn worker first closes its WebSockets with 1012.

    Without this a gthread worker waits its whole graceful timeout for handlers that never finish. Call from
    the main thread (gunicorn's `post_worker_init` hook).
    """
    requested = threading.Event()

    def watch() -> None:
        requested.wait()
        shutdown_current()

    # The handler only sets an Event: taking the hub's locks (or starting a thread) inside a signal handler
    # could deadlock with the code it interrupted.
    threading.Thread(target=watch, name="gamma-hub-shutdown", daemon=True).start()
    for signum in signals:
        previous = signal.getsignal(signum)

        def handler(sig: int, frame: Any, previous: Any = previous) -> None:
            requested.set()
            if callable(previous):
                previous(sig, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)

        signal.signal(signum, handler)
        if signum == signal.SIGTERM:
            signal.siginterrupt(signum, False)  # as gunicorn sets it: let SIGTERM not disturb requests


def peek_hub() -> Hub | None:
    """This process's hub if one was started (for diagnostics; never starts one)."""
    return _hub if _hub_pid == os.getpid() else None
