"""The attempt supervisor on its own: real processes (sh, setsid, sleep), a real heartbeat pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest

from tests.support.polling import wait_for
from workers.process import SUPERVISOR, supervisor_command

MARK = "supervisor-test-sleep"
pytestmark = pytest.mark.slow  # real processes (sh, setsid, sleep)


def _leftovers() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE and MARK in " ".join(p.info["cmdline"] or [])]


@contextmanager
def supervised(script: str, *, heartbeat_timeout: float = 5, grace: float = 1, beat: bool = True
               ) -> Iterator[tuple[subprocess.Popen, int]]:
    """Run `sh -c script` under the supervisor; a thread beats every 0.2 s unless `beat` is False."""
    read, write = os.pipe()
    argv = supervisor_command(["sh", "-c", script], heartbeat_fd=read, heartbeat_timeout=heartbeat_timeout,
                              grace=grace)
    proc = subprocess.Popen(argv, pass_fds=(read,), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    os.close(read)
    stop = threading.Event()

    def beats() -> None:
        while not stop.wait(0.2):
            try:
                os.write(write, b".")
            except OSError:
                return

    if beat:
        threading.Thread(target=beats, daemon=True).start()
    try:
        yield proc, write
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        try:
            os.close(write)
        except OSError:
            pass
        for process in _leftovers():
            process.kill()


def _grandchild() -> str:
    """A background process in a session of its own, as the CLI starts its Bash tools."""
    return f"(setsid sh -c 'exec -a {MARK} sleep 300' &)"


def _wait_gone(timeout: float = 30) -> bool:
    wait_for(lambda: not _leftovers(), timeout=timeout, what=lambda: f"the grandchild to end: {_leftovers()}")
    return True


def _wait_started() -> None:
    """The grandchild is up (else a later `_wait_gone` could pass before it even started)."""
    wait_for(_leftovers, what="the setsid grandchild to start")


def test_it_starts_the_command_before_it_loads_psutil():
    """Every run's start waits for the supervisor to start the agent's command; psutil's import (with logging and
    subprocess, through shared.process_control) took about as long as the rest of its start, so the supervisor
    loads it only once the command runs: loading the file (all that runs before `main`) loads none of them."""
    heavy = ("psutil", "logging", "subprocess", "shared.process_control", "argparse")
    code = f"import runpy, sys; runpy.run_path(sys.argv[1]); print(sorted(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(SUPERVISOR)], capture_output=True,
                            text=True, check=True, timeout=60).stdout.strip()
    assert loaded == "[]"


def test_it_exits_with_the_commands_status_and_relays_its_output():
    with supervised("echo out; echo err >&2; exit 3") as (proc, _):
        out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out, err) == (3, b"out\n", b"err\n")


def test_a_death_by_signal_is_reproduced():
    with supervised("kill -TERM $$") as (proc, _):
        proc.wait(10)
    assert proc.returncode == -signal.SIGTERM


def test_what_the_command_leaves_behind_ends_with_it_even_in_another_session():
    with supervised(f"{_grandchild()}; sleep 0.3; exit 0") as (proc, _):
        assert proc.wait(10) == 0
        assert _wait_gone(), "the setsid grandchild was killed when the command exited"


def test_a_silent_worker_ends_the_attempt():
    with supervised(f"{_grandchild()}; sleep 300", heartbeat_timeout=1, beat=False) as (proc, _):
        proc.wait(20)
        assert b"no heartbeat" in proc.stderr.read()
        assert _wait_gone()


def test_a_dead_worker_ends_the_attempt(tmp_path):
    with supervised(f"{_grandchild()}; sleep 300") as (proc, write):
        _wait_started()
        os.close(write)  # as if the worker died: the kernel closes its end of the pipe
        proc.wait(20)
        assert b"the worker is gone" in proc.stderr.read()
        assert _wait_gone()


@pytest.mark.parametrize("script", ["sleep 300", "trap '' TERM; sleep 300"])
def test_sigterm_stops_everything_and_sigkill_follows_after_the_grace(script):
    with supervised(f"{_grandchild()}; {script}", grace=1) as (proc, _):
        _wait_started()
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        assert proc.returncode in (-signal.SIGTERM, -signal.SIGKILL)
        assert _wait_gone()


@pytest.mark.parametrize("args", [[], ["lib", "3", "10", "5"], ["lib", "3", "10", "5", "--"],
                                  ["lib", "three", "10", "5", "--", "true"], ["lib", "3", "10", "5", "true"]])
def test_arguments_it_cannot_use_exit_2_with_the_usage(args):
    result = subprocess.run([sys.executable, "-I", "-S", str(SUPERVISOR), *args], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("usage: attempt_supervisor.py LIB"), result.stderr
