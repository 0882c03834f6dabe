"""Spare attempt supervisors (workers/spare_supervisors.py): started ahead, given their command later; real
processes (sh, cat, sleep) and real pipes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support.polling import wait_for
from workers.process import AgentProcess
from workers.runtime_types import LaunchSpec
from workers.spare_supervisors import SpareSupervisors, start_spare

pytestmark = pytest.mark.slow  # real processes


def _spec(script: str, cwd: Path, *, env: dict[str, str] | None = None, stdin_text: str | None = None) -> LaunchSpec:
    return LaunchSpec(argv=["sh", "-c", script], env={"PATH": os.environ["PATH"], **(env or {})}, cwd=cwd,
                      stdin_text=stdin_text)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _run(process: AgentProcess) -> tuple[int, bytes, bytes]:
    assert process.popen.stdout is not None and process.popen.stderr is not None
    out = process.popen.stdout.read()  # as the executor reads it (stdin, if any, is fed by AgentProcess)
    err = process.popen.stderr.read()
    code = process.popen.wait(timeout=60)
    process.close()
    return code, out, err


def test_a_spare_runs_the_command_it_is_given_where_and_as_it_is_told(tmp_path: Path) -> None:
    spare = start_spare(heartbeat_timeout=10, grace=1)
    assert "--spare" in psutil.Process(spare.popen.pid).cmdline()
    process = AgentProcess(_spec('echo "$GREETING from $(pwd)"; readlink /proc/$$/fd/0; echo err >&2; exit 3',
                                 tmp_path, env={"GREETING": "hello"}), heartbeat_timeout=10, grace=1, spare=spare)
    assert process.pid == spare.popen.pid  # the spare itself supervises it
    code, out, err = _run(process)
    # stdin is /dev/null when the spec has no stdin text, as for a supervisor started with the command
    assert (code, out, err) == (3, f"hello from {tmp_path}\n/dev/null\n".encode(), b"err\n")


def test_a_spare_passes_the_stdin_text_on(tmp_path: Path) -> None:
    process = AgentProcess(_spec("cat", tmp_path, stdin_text="the prompt\n"), heartbeat_timeout=10, grace=1,
                           spare=start_spare(heartbeat_timeout=10, grace=1))
    assert _run(process) == (0, b"the prompt\n", b"")


def test_a_spare_relays_a_death_by_signal(tmp_path: Path) -> None:
    process = AgentProcess(_spec("kill -TERM $$", tmp_path), heartbeat_timeout=10, grace=1,
                           spare=start_spare(heartbeat_timeout=10, grace=1))
    assert _run(process)[0] == -signal.SIGTERM


def test_a_spare_that_is_gone_leaves_the_command_to_a_supervisor_started_now(tmp_path: Path) -> None:
    spare = start_spare(heartbeat_timeout=10, grace=1)
    spare.popen.kill()
    spare.popen.wait(timeout=30)
    process = AgentProcess(_spec("echo still runs", tmp_path), heartbeat_timeout=10, grace=1, spare=spare)
    assert process.pid != spare.popen.pid
    assert _run(process) == (0, b"still runs\n", b"")


def test_a_spare_whose_directory_is_gone_says_so(tmp_path: Path) -> None:
    process = AgentProcess(_spec("echo never", tmp_path / "missing"), heartbeat_timeout=10, grace=1,
                           spare=start_spare(heartbeat_timeout=10, grace=1))
    code, out, err = _run(process)
    assert (code, out) == (126, b"")
    assert b"gamma-supervisor: cannot start" in err and b"missing" in err


def test_a_launched_spare_ends_its_command_when_the_heartbeat_stops(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    process = AgentProcess(_spec(f"touch {marker}; exec sleep 600", tmp_path), heartbeat_timeout=1, grace=1,
                           spare=start_spare(heartbeat_timeout=1, grace=1))
    wait_for(marker.exists, timeout=30, what="the command to start")
    (sleeper,) = psutil.Process(process.pid).children()
    code, _, err = _run(process)  # nobody beats: it stops the attempt by itself
    assert code == 75 and b"no heartbeat from the worker" in err
    assert _gone(sleeper.pid)


def test_a_spare_let_go_or_orphaned_exits_and_runs_nothing(tmp_path: Path) -> None:
    spare = start_spare(heartbeat_timeout=10, grace=1)
    pid = spare.popen.pid
    spare.discard()
    assert spare.popen.returncode == 0 and _gone(pid)
    # A worker that dies (SIGKILL: no clean-up) closes every spare's order pipe with it.
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from workers.spare_supervisors import start_spare; "
              "spare = start_spare(heartbeat_timeout=10, grace=1); print(spare.popen.pid, flush=True); "
              "sys.stdin.read()")
    worker = subprocess.Popen([sys.executable, "-c", script, str(Path(__file__).resolve().parent.parent)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert worker.stdout is not None
    orphan = int(worker.stdout.readline())
    assert not _gone(orphan)
    worker.kill()
    worker.wait(timeout=30)
    wait_for(lambda: _gone(orphan), timeout=30, what="the orphaned spare to exit")


def test_the_pool_starts_spares_once_runs_come_and_lets_them_go_when_idle() -> None:
    spares = SpareSupervisors(heartbeat_timeout=10, grace=1, keep=2, idle_seconds=3600)
    try:
        assert spares.take() is None and spares.ready() == 0  # nothing started ahead of the first run
        spares.replenish()
        wait_for(lambda: spares.ready() == 2, timeout=30, what="two spares")
        taken = spares.take()
        assert taken is not None and spares.ready() == 1
        spares.replenish()
        wait_for(lambda: spares.ready() == 2, timeout=30, what="a replacement")
        waiting = [spare.popen.pid for spare in spares._ready]
        spares.expire()  # taken a moment ago: kept
        assert spares.ready() == 2
        spares.idle_seconds = 0
        spares.expire()  # returns at once; they are reaped in the background
        assert spares.ready() == 0
        wait_for(lambda: all(_gone(pid) for pid in waiting), timeout=30, what="the idle spares to exit")
        taken.discard()
    finally:
        spares.close()
    assert spares.take() is None
    spares.replenish()
    assert spares.ready() == 0


def test_closing_the_pool_lets_every_spare_go() -> None:
    spares = SpareSupervisors(heartbeat_timeout=10, grace=1, keep=3)
    spares.replenish()
    wait_for(lambda: spares.ready() == 3, timeout=30, what="three spares")
    waiting = [spare.popen.pid for spare in spares._ready]
    spares.close()
    assert spares.ready() == 0 and all(_gone(pid) for pid in waiting)
