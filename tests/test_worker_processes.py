"""`gamma worker --processes N`: N worker processes (workers.main) under one lean supervisor; each is started again
on its own when it dies, and one signal stops them all (real processes, real PostgreSQL)."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import psutil
import pytest

from tests.support.polling import wait_for
from tests.support.workers import start_worker

pytestmark = pytest.mark.slow


def _worker_processes(supervisor: psutil.Process) -> set[int]:
    found = set()
    for child in supervisor.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "workers.main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def test_each_worker_process_is_restarted_alone_and_one_signal_stops_them_all(database_url: str) -> None:
    with start_worker(database_url, processes=2) as proc:
        supervisor = psutil.Process(proc.pid)
        first = _worker_processes(supervisor)
        assert len(first) == 2, first
        victim, survivor = sorted(first)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(_worker_processes(supervisor) - first) == 1, timeout=60,
                 what=lambda: f"a new worker process in place of {victim} ({_worker_processes(supervisor)})")
        now = _worker_processes(supervisor)
        assert survivor in now and victim not in now and len(now) == 2
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(timeout=60) == 0
        assert not [pid for pid in now if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_a_burst_of_stop_signals_stops_a_worker_process_cleanly(database_url: str) -> None:
    # A stop to the process group reaches the worker process twice (directly, and forwarded by its supervisor);
    # a handler that took a lock deadlocked when the second signal interrupted the first (seen in .ci/run). A burst
    # makes such an interleaving all but certain.
    with start_worker(database_url) as proc:
        (worker,) = _worker_processes(psutil.Process(proc.pid))
        for _ in range(3000):  # spread over its whole stop: each lands in a handler run of its own
            try:
                os.kill(worker, signal.SIGTERM)
            except ProcessLookupError:
                break
            time.sleep(0.0005)
        with contextlib.suppress(psutil.NoSuchProcess):  # a hang guard: a deadlocked process never ends
            psutil.Process(worker).wait(timeout=60)
        # It handed back and shut Dramatiq down (a signal still arriving as it exits may end it after that).
        wait_for(lambda: "Worker has been shut down." in proc.log_tail(), timeout=30, what=lambda: proc.log_tail())
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(timeout=60) == 0
