"""Process lifetimes for Gamma's launchers: a child that dies with its parent, and a supervised command that is
restarted when it crashes.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `signum` to this process when its parent dies (even by SIGKILL).

    Call it in the child: as a Popen `preexec_fn`, or first thing in a forked process. It survives `exec`, so a
    command started through a shell that execs (or a program that execs another, as `gamma web` execs gunicorn)
    keeps it. If the parent died before the call took effect, this process exits at once.
    """
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def supervise(argv: Sequence[str], env: dict[str, str], *, name: str, max_backoff: float = 30.0) -> int:
    """Run `argv` and start it again whenever it exits without being asked to stop.

    SIGTERM, SIGINT and SIGHUP are passed on to it and end the supervision once it has exited. It dies with
    this process. Restarts wait 1 s, doubling up to `max_backoff`, and start over after a minute of uptime.
    """
    stopping = False
    child: subprocess.Popen | None = None

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, forward)
    backoff = 1.0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(list(argv), env=env, preexec_fn=die_with_parent)
        code = _wait(child)
        if stopping:
            return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
        if time.monotonic() - started > 60:
            backoff = 1.0
        log.error("%s exited unexpectedly (%s); starting it again in %.0f s", name, _describe(code), backoff)
        deadline = time.monotonic() + backoff
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return 0
        backoff = min(backoff * 2, max_backoff)


def _wait(child: subprocess.Popen) -> int:
    while True:
        try:
            return child.wait()
        except InterruptedError:  # a signal arrived; the handler ran, keep waiting
            continue


def _describe(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"
