"""Processes: the one module that lists, inspects and signals them (through psutil) and ties lifetimes together.

- `die_with_parent`: a child that dies with its parent (PR_SET_PDEATHSIG); `become_subreaper`: orphans below
  this process stay in its subtree (PR_SET_CHILD_SUBREAPER). Both live in shared/prctl.py.
- `descendants`, `signal_all`: a process tree, and signals to it.
- `live_processes`, `environment`: every process of this host, and what its environment says (run markers).
- `supervise`: a command that is started again when it crashes, after a `RestartBackoff`.

The attempt supervisor, which starts for every agent run, imports it only once the agent's command has started
(before, it needs only shared/prctl.py): keep its imports light all the same.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence

import psutil

from shared.prctl import become_subreaper as become_subreaper
from shared.prctl import die_with_parent

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _is_live(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def descendants(root: int) -> list[psutil.Process]:
    """Every live process below `root` (zombies excluded), parents before children; [] when `root` is gone."""
    try:
        below = psutil.Process(root).children(recursive=True)
    except psutil.Error:
        return []
    return [process for process in below if _is_live(process)]


def tree(root: int) -> list[psutil.Process]:
    """`root` and its descendants, parents first; [] when `root` is gone."""
    try:
        top = psutil.Process(root)
    except psutil.Error:
        return []
    return [top, *descendants(root)]


def wait_gone(processes: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` seconds for these processes to exit; returns those still alive."""
    _gone, alive = psutil.wait_procs(list(processes), timeout=timeout)
    return alive


def signal_all(processes: Iterable[psutil.Process], signum: int) -> list[psutil.Process]:
    """Send `signum` to each process; one that is gone (or not ours to signal) is skipped. Returns those
    signalled."""
    signalled = []
    for process in processes:
        try:
            process.send_signal(signum)
        except psutil.Error:
            continue
        signalled.append(process)
    return signalled


def live_processes() -> Iterator[psutil.Process]:
    """Every process of this host that is not a zombie."""
    for process in psutil.process_iter():
        if _is_live(process):
            yield process


def environment(process: psutil.Process) -> dict[str, str] | None:
    """The process's environment, or None when it is gone or not ours to read."""
    try:
        return process.environ()
    except psutil.Error:
        return None


class RestartBackoff:
    """How long to wait before starting a crashed process again: 1 s, doubling up to `maximum`, and 1 s again
    after a run of more than a minute."""

    def __init__(self, maximum: float = 30.0) -> None:
        self.maximum = maximum
        self._next = 1.0

    def after_exit(self, uptime: float) -> float:
        if uptime > 60:
            self._next = 1.0
        delay, self._next = self._next, min(self._next * 2, self.maximum)
        return delay


def describe_exit(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def supervise(argv: Sequence[str], env: dict[str, str], *, name: str, copies: int = 1,
              max_backoff: float = 30.0) -> int:
    """Run `copies` processes of `argv`, each started again whenever it exits without being asked to stop.

    SIGTERM, SIGINT and SIGHUP are passed on to them and end the supervision once all have exited. They die with
    this process. Each copy waits before a restart as `RestartBackoff` says. Returns 0 when every copy stopped as
    asked, else the first other exit code.
    """
    stopping = False
    children: dict[int, tuple[int, float]] = {}  # pid → (copy, when it started)
    backoffs = [RestartBackoff(max_backoff) for _ in range(copies)]
    restarts: dict[int, float] = {}  # copy → when to start it again

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def start(copy: int) -> None:
        child = subprocess.Popen(list(argv), env=env, preexec_fn=die_with_parent)
        child.returncode = 0  # reaped below with os.waitpid: the Popen object is never waited on
        children[child.pid] = (copy, time.monotonic())

    for signum in STOP_SIGNALS:
        signal.signal(signum, forward)
    for copy in range(copies):
        start(copy)
    result = 0
    while children or (restarts and not stopping):
        now = time.monotonic()
        for copy, due in list(restarts.items()):
            if due <= now and not stopping:
                del restarts[copy]
                start(copy)
        # Block until a child exits, unless a restart is due meanwhile (a signal interrupts the wait only for
        # `forward` to run: the children it signalled then exit).
        pid, status = os.waitpid(-1, os.WNOHANG if restarts else 0) if children else (0, 0)
        if pid == 0:
            time.sleep(0.1)
            continue
        if pid not in children:
            continue
        copy, started = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            if code not in (0, -signal.SIGTERM, -signal.SIGINT) and result == 0:
                result = code
            continue
        delay = backoffs[copy].after_exit(time.monotonic() - started)
        log.error("%s exited unexpectedly (%s); starting it again in %.0f s", name, describe_exit(code), delay)
        restarts[copy] = time.monotonic() + delay
    return result
