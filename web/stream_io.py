"""Writing to a flask-sock WebSocket safely: one lock around the socket, a send deadline, and JSON frames.

simple-websocket's background thread writes too (pings, pongs, close replies) and its `send` is one
`sock.send` that may write part of a frame. Wrapping the raw socket makes every write whole and serialized,
and a deadline keeps a client that stopped reading from holding a thread forever.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from web.hub import Item

MAX_FRAME_EVENTS = 500
MAX_FRAME_CHARS = 256 * 1024


class LockedSocket:
    """Proxy for the connection's socket: writes are serialized and complete, or fail after `timeout`."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout
        self._lock = threading.Lock()

    def send(self, data: bytes) -> int:
        with self._lock:
            if isinstance(self._sock, ssl.SSLSocket):
                self._sock.sendall(data)
            else:
                _sendall_before(self._sock, data, time.monotonic() + self._timeout)
        return len(data)

    sendall = send

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _sendall_before(sock: socket.socket, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    poller: select.poll | None = None
    while view:
        try:
            sent = sock.send(view, socket.MSG_DONTWAIT)  # per call, so the socket's own mode is untouched
            view = view[sent:]
            continue
        except BlockingIOError:
            pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("client stopped reading")
        if poller is None:
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLOUT)
        poller.poll(min(remaining, 0.5) * 1000)


def wrap(ws: Any, send_timeout: float) -> None:
    if not isinstance(ws.sock, LockedSocket):
        ws.sock = LockedSocket(ws.sock, send_timeout)


def release(ws: Any, grace: float = 1.0) -> None:
    """Let the reader thread finish the closing handshake; cut the connection if the client does not."""
    thread = getattr(ws, "thread", None)
    if thread is not None:
        thread.join(grace)
        if not thread.is_alive():
            return
    try:
        ws.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def frame(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


def event_frames(items: Iterable[Item], with_cursor: bool) -> Iterator[tuple[str, int]]:
    """`{"type":"events",…}` frames of at most MAX_FRAME_EVENTS events / ~MAX_FRAME_CHARS; yields (frame, last seq)."""
    chunk: list[str] = []
    size = 0
    last = 0
    for _, seq, text in items:
        if chunk and (len(chunk) >= MAX_FRAME_EVENTS or size + len(text) > MAX_FRAME_CHARS):
            yield _events_frame(chunk, last, with_cursor), last
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
        last = seq
    if chunk:
        yield _events_frame(chunk, last, with_cursor), last


def _events_frame(chunk: list[str], last: int, with_cursor: bool) -> str:
    head = f'{{"type":"events","cursor":{last},"events":[' if with_cursor else '{"type":"events","events":['
    return head + ",".join(chunk) + "]}"
