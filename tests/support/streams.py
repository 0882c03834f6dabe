"""A real WebSocket client for Gamma's event streams (websocket-client), as a browser would use them."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import websocket

from tests.support.processes import Proc


class StreamClosed(Exception):
    """The server closed the stream (`code` from its close frame, None if the connection just dropped)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"stream closed: {code} {reason}")
        self.code = code
        self.reason = reason


class Stream:
    """One WebSocket. Received events are appended to `sink` (share one list across reconnects)."""

    def __init__(self, url: str, sink: list[dict[str, Any]] | None = None, timeout: float = 30.0,
                 **options: Any) -> None:
        self.url = url
        # websocket-client validates UTF-8 in pure Python unless told not to: slow for megabytes of events.
        options.setdefault("skip_utf8_validation", True)
        self.ws = websocket.create_connection(url, timeout=timeout, **options)
        self.events: list[dict[str, Any]] = sink if sink is not None else []
        self.frames: list[dict[str, Any]] = []
        self.hello: dict[str, Any] | None = None
        self.live = False
        self.closed: StreamClosed | None = None

    @property
    def cursor(self) -> int:
        if self.events:
            return self.events[-1]["cursor"]
        return (self.hello or {}).get("after", 0)

    def next_frame(self, timeout: float) -> dict[str, Any] | None:
        """The next data frame (None on timeout); raises StreamClosed once the server closes or drops it."""
        if self.closed is not None:
            raise self.closed
        self.ws.settimeout(timeout)
        try:
            opcode, data = self.ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return None
        except (websocket.WebSocketConnectionClosedException, OSError) as error:
            self.closed = StreamClosed(None, repr(error))
            raise self.closed from None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
            self.closed = StreamClosed(code, data[2:].decode(errors="replace"))
            raise self.closed
        if opcode != websocket.ABNF.OPCODE_TEXT:
            return self.next_frame(timeout)
        frame = json.loads(data)
        self.frames.append(frame)
        if frame["type"] == "hello":
            self.hello = frame
        elif frame["type"] == "live":
            self.live = True
        elif frame["type"] == "events":
            self.events.extend(frame["events"])
        return frame

    def read_until(self, done: Callable[[Stream], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not done(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"stream {self.url}: condition not met in {timeout:.0f}s; cursor={self.cursor},"
                    f" events={len(self.events)}, last frames={self.frames[-3:]}"
                )
            self.next_frame(min(remaining, 1.0))

    def read_until_cursor(self, cursor: int, timeout: float = 60.0) -> None:
        self.read_until(lambda s: s.cursor >= cursor, timeout)

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except Exception:
            self.ws.shutdown()


def payload_ids(received: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(e["payload"]["w"], e["payload"]["i"]) for e in received]


def assert_exactly_once(received: list[dict[str, Any]], first: int, last: int) -> None:
    """Cursors first..last each once, in order (the strongest statement about a stream)."""
    cursors = [e["cursor"] for e in received]
    duplicates = len(cursors) - len(set(cursors))
    assert duplicates == 0, f"{duplicates} events repeated"
    missing = sorted(set(range(first, last + 1)) - set(cursors))
    assert not missing, f"{len(missing)} events lost, e.g. cursors {missing[:10]}"
    assert cursors == list(range(first, last + 1)), "events out of cursor order"


def writer_command(team_id: str, writers: int, count: int, rate: float = 0.0, tag: str = "p", pad: int = 0,
                   start_at: float = 0.0) -> list[str]:
    """argv for one `tests.support.event_writer` process (run it with `processes.running`)."""
    return [
        sys.executable, "-m", "tests.support.event_writer", "--team", team_id, "--writers", str(writers),
        "--count", str(count), "--rate", str(rate), "--tag", tag, "--pad", str(pad), "--start-at", str(start_at),
    ]


def wait_exit(procs: list[Proc], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            code = proc.popen.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{proc.args} still running after {timeout:.0f}s:\n{proc.log_tail()}") from None
        assert code == 0, f"{proc.args} exited with {code}:\n{proc.log_tail()}"
