"""Live event streams over WebSocket.

`/ws/teams/<team_id>?after=<cursor>` — one team: everything after `after` replayed from the table, then live.
`/ws/events` — the dashboard: live events of every team (no replay): nothing committed before it joined (done
before its hello), then every event once, in cursor order per team (web.hub). Each envelope carries its
`team_id` and `cursor`. On (re)connect the dashboard refetches the state it shows over REST, then follows this
stream.

Frames are JSON text:
  {"type":"hello","team_id":…,"cursor":<team head at join>,"after":<after>}   (global: "team_id":null, "scope")
  {"type":"events","cursor":<last>,"events":[<envelope>,…]}    several events per frame, in cursor order
                                                              (global frames carry no top-level cursor)
  {"type":"live","cursor":N}       team streams: replay is done, what follows is live
  {"type":"heartbeat","cursor":N}  after GAMMA_WS_HEARTBEAT seconds (default 15) without a frame
Clients send nothing (anything they send is discarded). Frames are not compressed: a client's offer of
permessage-deflate is declined, so the hub can frame a page once and write the same bytes to every viewer
(web.hub), and no CPU goes into compressing a stream that mostly crosses loopback.
Close codes: 1012 server restarting, 1013 client too slow or server not ready — reconnect with
`?after=<last cursor received>`: nothing is lost and nothing repeats.
Refused handshakes (HTTP): 404 unknown team, 400 bad `after`, 409 `after` beyond the team's last cursor, 503
when this process or this client holds its maximum of open streams (web.ws_limits: GAMMA_WS_MAX_PER_PROCESS,
GAMMA_WS_MAX_PER_CLIENT), plus 401/403/421 from web.security (token, cross-site Origin, foreign Host).

Tuning (the app's settings, shared.config, read when a stream starts): GAMMA_WS_HEARTBEAT; GAMMA_WS_SEND_TIMEOUT
(a client that accepts no bytes for this long is cut off, default 20 s); GAMMA_WS_MAX_PENDING (see web.hub).
`GET /ws/stats` reports this process's open streams, threads and hub state.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from simple_websocket import ConnectionClosed

from shared import db, events
from shared.config import Settings
from web import stream_io, ws_limits
from web.errors import ApiError, not_found
from web.extensions import sock
from web.hub import CLOSE_RESTART, Hub, HubClosed, Item, Subscriber, get_hub, peek_hub
from web.validation import path_id

log = logging.getLogger(__name__)

bp = Blueprint("streams", __name__)

POLL_SECONDS = 0.5  # how soon a handler notices its client left (it frees its thread within ~this)
READY_TIMEOUT_SECONDS = 10.0
REPLAY_PAGE = 1000
CLOSE_NOT_READY = (1013, "event stream not ready: try again")
_CURSOR = re.compile(r"[0-9]{1,18}")  # fullmatch: no trailing newline
STREAM_ENDPOINTS = frozenset({"streams.team_stream", "streams.all_events_stream"})
_SLOTS = "gamma_stream_slots"


@bp.record_once
def _create_slots(state: Any) -> None:
    state.app.extensions[_SLOTS] = ws_limits.for_settings(state.app.config["GAMMA_SETTINGS"])


def _slots() -> ws_limits.StreamSlots:
    return current_app.extensions[_SLOTS]


def _settings() -> Settings:
    return current_app.config["GAMMA_SETTINGS"]


@bp.before_request
def _admit_stream() -> None:
    """Take one of this process's stream slots before anything else (503 when full); freed at teardown."""
    if request.endpoint not in STREAM_ENDPOINTS:
        return
    client = request.remote_addr or "?"
    _slots().acquire(client)
    g.stream_client = client
    request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)  # no permessage-deflate: see the docstring


@bp.teardown_request
def _free_stream(_error: BaseException | None) -> None:
    client = g.pop("stream_client", None)
    if client is not None:
        _slots().release(client)


@bp.before_request
def _validate_team_stream() -> None:
    if request.endpoint != "streams.team_stream":
        return
    team_id = path_id((request.view_args or {}).get("team_id", ""), "team")
    raw = request.args.get("after", "0")
    if not _CURSOR.fullmatch(raw):
        raise ApiError(400, f"after: must be a non-negative integer cursor (got {raw!r})")
    after = int(raw)
    with db.pool().connection() as conn:
        try:
            head = events.head(conn, team_id)
        except LookupError:
            raise not_found("team", team_id) from None
    if after > head:
        raise ApiError(409, f"after={after} is beyond the team's last cursor {head}: reconnect with after=0")
    g.stream_after = after


@sock.route("/ws/teams/<team_id>", bp=bp)
def team_stream(ws: Any, team_id: str) -> None:
    after: int = g.stream_after
    with _session(ws) as hub:
        if hub is None:
            return
        sub = _subscribe(ws, lambda: hub.subscribe(team_id, after))
        if sub is None:
            return
        try:
            with db.pool().connection() as conn:
                head = events.head(conn, team_id)
            ws.send(stream_io.frame("hello", team_id=team_id, cursor=head, after=after))
            _replay(ws, sub, until=None)
            _replay(ws, sub, until=hub.go_live(sub))
            ws.send(stream_io.frame("live", cursor=sub.cursor))
            sub.attach(ws.sock.try_send)
            _pump(ws, sub)
        finally:
            hub.unsubscribe(sub)


@sock.route("/ws/events", bp=bp)
def all_events_stream(ws: Any) -> None:
    with _session(ws) as hub:
        if hub is None:
            return
        sub = _subscribe(ws, hub.subscribe_global)
        if sub is None:
            return
        try:
            ws.send(stream_io.frame("hello", team_id=None, scope="global"))
            sub.attach(ws.sock.try_send)
            _pump(ws, sub)
        finally:
            hub.unsubscribe(sub)


@bp.get("/ws/stats")
def stream_stats():
    """Diagnostics for this web process: open streams, threads and the hub's state."""
    hub = peek_hub()
    return jsonify(
        {"pid": os.getpid(), "streams": _slots().open(), "threads": threading.active_count(),
         "hub": hub.stats() if hub is not None else None}
    )


@contextmanager
def _session(ws: Any) -> Iterator[Hub | None]:
    """Wrap the stream's socket, wait for the hub; end quietly when the client goes away."""
    stream_io.wrap(ws, _settings().ws_send_timeout)
    try:
        hub = get_hub()
        if not hub.wait_ready(READY_TIMEOUT_SECONDS):
            _close(ws, CLOSE_NOT_READY)
            yield None
        else:
            yield hub
    except (ConnectionClosed, OSError) as error:  # the client left, or stopped reading past the deadline
        log.debug("stream ended: %r", error)
    except Exception:
        log.exception("stream failed")
        _close(ws, (1011, "internal error"))
    finally:
        stream_io.release(ws)


def _subscribe(ws: Any, subscribe: Callable[[], Subscriber]) -> Subscriber | None:
    try:
        return subscribe()
    except HubClosed:
        _close(ws, CLOSE_RESTART)
        return None


def _replay(ws: Any, sub: Subscriber, until: int | None) -> None:
    """Send the team's events after the subscriber's cursor from the table (up to `until`, or to the end)."""
    assert sub.team_id is not None
    while ws.connected and sub.close_code is None and (until is None or sub.cursor < until):
        with db.pool().connection() as conn:  # held for the read only, never while sending
            rows = events.read(conn, sub.team_id, after=sub.cursor, limit=REPLAY_PAGE)
        if not rows:
            return
        _send(ws, sub, [(sub.team_id, row["cursor"], events.dumps(row)) for row in rows])
        if until is None and len(rows) < REPLAY_PAGE:
            return


def _pump(ws: Any, sub: Subscriber) -> None:
    """The stream's writer: what the hub queued (and the rest of a frame the hub began), heartbeats in silence,
    the close code when closed. The hub writes for it only while it waits in `take` with nothing queued."""
    heartbeat = _settings().ws_heartbeat
    last_sent = time.monotonic()
    while ws.connected:
        while ws.receive(timeout=0) is not None:  # one-way stream: drop what clients send, never pile it up
            pass
        items, closing = sub.take(POLL_SECONDS)
        ws.sock.flush()
        if items:
            _send(ws, sub, items)
            last_sent = time.monotonic()
        if closing is not None:
            _close(ws, closing)
            return
        if time.monotonic() - max(last_sent, sub.wrote_at) >= heartbeat:
            fields = {} if sub.is_global else {"cursor": sub.cursor}
            ws.send(stream_io.frame("heartbeat", **fields))
            last_sent = time.monotonic()


def _send(ws: Any, sub: Subscriber, items: list[Item]) -> None:
    if not sub.is_global:
        items = [item for item in items if item[1] > sub.cursor]  # the replay/live boundary
    for text, last in stream_io.event_frames(items, with_cursor=not sub.is_global):
        ws.send(text)
        if not sub.is_global:
            sub.cursor = last


def _close(ws: Any, code: tuple[int, str]) -> None:
    try:
        ws.close(code[0], code[1])
    except (ConnectionClosed, OSError):
        pass
