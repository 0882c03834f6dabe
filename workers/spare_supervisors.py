"""Attempt supervisors started ahead of need, so that a run's CLI does not wait for a Python start.

A supervisor (workers/attempt_supervisor.py) is a fresh `python -I -S` process: some 20 ms of a start on an idle
machine and several times that while other CLIs start beside it — on the critical path of every run, three times
in a round (the lead, its members, the lead woken). A spare is that process started early, waiting for its order
(`--spare`): taking one costs a write to a pipe.

    spares = SpareSupervisors(heartbeat_timeout=10, grace=5)
    spare = spares.take()             # a waiting spare, or None (none ready: start one the usual way)
    popen, beat_write = spare.launch(argv, env=…, cwd=…, stdin_is_pipe=False)
    spares.replenish()                # in the background, once the command started: back to `keep` spares
    spares.expire()                   # now and then: spares unused for a while are let go
    spares.close()                    # the worker stops

Spares exist only while the worker is busy: the first run starts the usual way and then `keep` spares in the
background, each later run takes one and starts a replacement, and once none has been taken for `idle_seconds`
they are let go, so an idle worker holds none. A spare whose worker is gone sees the end of its order pipe and
exits; it runs nothing until it has its order.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workers.process import start_supervisor

log = logging.getLogger(__name__)

KEEP = 2  # a lead's members start together: two at once is a round's common case
IDLE_SECONDS = 60.0


@dataclass
class Spare:
    popen: subprocess.Popen[bytes]
    beat_write: int  # the heartbeat pipe's end the worker writes
    order_write: int  # the order pipe's end the worker writes (closed once the order is written)

    def launch(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, stdin_is_pipe: bool
               ) -> tuple[subprocess.Popen[bytes], int] | None:
        """Give the spare its command: its Popen (stdin, stdout and stderr are the command's) and the heartbeat
        pipe's write end; None when the spare is gone (it then holds nothing: start one the usual way)."""
        order = marshal.dumps({"argv": list(argv), "env": dict(env), "cwd": cwd,
                               "stdin": "pipe" if stdin_is_pipe else "devnull"})
        try:
            if self.popen.poll() is not None:
                raise BrokenPipeError("the spare exited")
            view = memoryview(order)
            while view:  # blocking writes: the spare reads until the end
                view = view[os.write(self.order_write, view):]
        except OSError:
            self.discard()
            return None
        os.close(self.order_write)
        if not stdin_is_pipe and self.popen.stdin is not None:
            self.popen.stdin.close()
            self.popen.stdin = None
        return self.popen, self.beat_write

    def discard(self) -> None:
        """Let the spare go: the end of its order pipe makes it exit; reaped here."""
        for fd in (self.order_write, self.beat_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        for stream in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def start_spare(*, heartbeat_timeout: float, grace: float) -> Spare:
    order_read, order_write = os.pipe()
    try:
        popen, beat_write = start_supervisor(["--spare", str(order_read)], heartbeat_timeout=heartbeat_timeout,
                                             grace=grace, cwd="/", env={}, stdin=subprocess.PIPE,
                                             pass_fds=(order_read,))
    except BaseException:
        os.close(order_write)
        raise
    finally:
        os.close(order_read)
    return Spare(popen, beat_write, order_write)


class SpareSupervisors:
    def __init__(self, *, heartbeat_timeout: float, grace: float, keep: int = KEEP,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self.grace = grace
        self.keep = keep
        self.idle_seconds = idle_seconds
        self._ready: list[Spare] = []
        self._lock = threading.Lock()
        self._last_taken = 0.0
        self._refilling = False
        self._closed = False

    def take(self) -> Spare | None:
        """A waiting spare, if one is ready (call `replenish` once its command started)."""
        with self._lock:
            if self._closed:
                return None
            self._last_taken = time.monotonic()
            return self._ready.pop(0) if self._ready else None

    def replenish(self) -> None:
        """Start spares in the background up to `keep` (after a take: a new start beside the one that took it
        would slow that one down)."""
        with self._lock:
            if self._closed or self._refilling or len(self._ready) >= self.keep:
                return
            self._refilling = True
        threading.Thread(target=self._refill, name="gamma-spares", daemon=True).start()

    def ready(self) -> int:
        with self._lock:
            return len(self._ready)

    def expire(self) -> None:
        """Let every spare go once none has been taken for `idle_seconds`. It returns at once (the worker's pulse
        calls it, and a heartbeat held up would end running attempts): they are reaped in the background."""
        with self._lock:
            if not self._ready or time.monotonic() - self._last_taken < self.idle_seconds:
                return
            idle, self._ready = self._ready, []
        threading.Thread(target=_discard_all, args=(idle,), name="gamma-spares-expire", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            left, self._ready = self._ready, []
        _discard_all(left)

    def _refill(self) -> None:
        while True:
            with self._lock:
                if self._closed or len(self._ready) >= self.keep:
                    self._refilling = False  # under the lock: a take from now on starts the next refill
                    return
            try:
                spare = start_spare(heartbeat_timeout=self.heartbeat_timeout, grace=self.grace)
            except Exception as error:  # out of processes or descriptors: runs start the usual way
                log.warning("could not start a spare attempt supervisor: %s", error)
                with self._lock:
                    self._refilling = False
                return
            with self._lock:
                closed = self._closed
                if not closed:
                    self._ready.append(spare)
            if closed:
                spare.discard()


def _discard_all(spares: list[Spare]) -> None:
    for spare in spares:
        spare.discard()
