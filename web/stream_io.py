"""Writing to a flask-sock WebSocket safely: one lock around the socket, a send deadline, and JSON frames.

simple-websocket's background thread writes too (pings, pongs, close replies) and its `send` is one
`sock.send` that may write part of a frame. Wrapping the raw socket makes every write whole and serialized,
and a deadline keeps a client that stopped reading from holding a thread forever.

The hub writes a page of events to many sockets itself (`try_send`, never blocking): what the kernel does not
take at once stays as the socket's *tail*, and every later write sends the tail first, so frames stay whole and
in order whoever writes next.
"""

from __future__ import annotations

import enum
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from wsproto.frame_protocol import FrameProtocol

MAX_FRAME_EVENTS = 500
MAX_FRAME_CHARS = 256 * 1024

# (team_id, seq, envelope serialized as JSON)
Item = tuple[str, int, str]


class Sent(enum.Enum):
    """What `LockedSocket.try_send` did with the bytes."""

    ALL = "all"  # written whole
    PART = "part"  # accepted: the rest is the socket's tail, sent before anything else
    NOTHING = "nothing"  # not accepted (busy, a tail pending, TLS or a broken socket): the caller keeps them


class LockedSocket:
    """Proxy for the connection's socket: writes are serialized and complete, or fail after `timeout`."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._tail = b""  # the unsent end of a frame `try_send` began: always written first

    def send(self, data: bytes) -> int:
        with self._lock:
            self._write(self._take_tail() + data)
        return len(data)

    sendall = send

    def flush(self) -> None:
        """Finish the frame `try_send` began, if any (blocking, within the send deadline)."""
        if self._tail:
            with self._lock:
                self._write(self._take_tail())

    def try_send(self, data: bytes) -> Sent:
        """Write without waiting: for the hub, which must never block on one slow client."""
        if isinstance(self._sock, ssl.SSLSocket) or not self._lock.acquire(blocking=False):
            return Sent.NOTHING
        try:
            if self._tail:
                return Sent.NOTHING
            try:
                sent = self._sock.send(data, socket.MSG_DONTWAIT)
            except OSError:  # full (BlockingIOError) or broken: the stream's writer finds out which
                return Sent.NOTHING
            if sent == len(data):
                return Sent.ALL
            self._tail = bytes(data[sent:])
            return Sent.PART
        finally:
            self._lock.release()

    def _take_tail(self) -> bytes:
        tail, self._tail = self._tail, b""
        return tail

    def _write(self, data: bytes) -> None:
        if not data:
            return
        if isinstance(self._sock, ssl.SSLSocket):
            self._sock.sendall(data)
        else:
            _sendall_before(self._sock, data, time.monotonic() + self._timeout)

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


def websocket_frames(texts: Iterable[str]) -> bytes:
    """Text messages as the bytes of unmasked, uncompressed server frames (wsproto's framing), back to back."""
    framing = FrameProtocol(client=False, extensions=[])
    return b"".join(bytes(framing.send_data(text, fin=True)) for text in texts)


def _events_frame(chunk: list[str], last: int, with_cursor: bool) -> str:
    head = f'{{"type":"events","cursor":{last},"events":[' if with_cursor else '{"type":"events","events":['
    return head + ",".join(chunk) + "]}"
