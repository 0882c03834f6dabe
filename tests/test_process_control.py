"""shared.process_control on real processes: trees, signals, subreaping, the parent-death signal, environments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from shared import process_control

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, **popen: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, **popen)  # type: ignore[call-overload]


@contextmanager
def _tree() -> Iterator[tuple[subprocess.Popen, list[int]]]:
    """sh → (sleep, sh → sleep): a shell with two children and a grandchild; the inner shell's and its sleep's pids."""
    root = subprocess.Popen(["sh", "-c", "sleep 300 & sh -c 'sleep 300 & echo $!; wait' & echo $!; wait"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert root.stdout is not None
        # Two lines: the inner shell's pid (printed by the outer one) and its sleep's (printed by the inner one).
        printed = {int(root.stdout.readline()), int(root.stdout.readline())}
        yield root, sorted(printed)
    finally:
        for process in process_control.descendants(root.pid):
            process.kill()
        root.kill()
        root.wait()


def test_descendants_are_the_whole_tree_parents_first() -> None:
    with _tree() as (root, printed):
        found = process_control.descendants(root.pid)
        pids = [process.pid for process in found]
        assert len(pids) == 3 and set(printed) <= set(pids)  # a sleep, the inner shell and its sleep
        for index, process in enumerate(found):
            parent = process.ppid()
            assert parent == root.pid or parent in pids[:index]


def test_descendants_leave_out_zombies_and_a_gone_root() -> None:
    parent = _python("""
        import os, signal, sys, time
        child = os.fork()
        if child == 0:
            os._exit(0)
        print(child, flush=True)
        time.sleep(300)   # never reaps it: a zombie
    """, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        zombie = psutil.Process(int(parent.stdout.readline()))
        while zombie.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)
        assert process_control.descendants(parent.pid) == []
    finally:
        parent.kill()
        parent.wait()
    assert process_control.descendants(parent.pid) == []


def test_signal_all_skips_processes_that_are_gone() -> None:
    gone = subprocess.Popen(["sleep", "300"])
    vanished = psutil.Process(gone.pid)
    gone.kill()
    gone.wait()  # reaped: its process object now names nothing
    alive = subprocess.Popen(["sleep", "300"])
    try:
        signalled = process_control.signal_all([vanished, psutil.Process(alive.pid)], signal.SIGTERM)
        assert [process.pid for process in signalled] == [alive.pid]
        assert alive.wait() == -signal.SIGTERM
    finally:
        alive.kill()
        alive.wait()


def test_a_subreaper_keeps_orphans_in_its_tree() -> None:
    reaper = _python("""
        import subprocess, sys
        from shared import process_control
        process_control.become_subreaper()
        # The pid is told only once the shell has exited and been reaped: read while the shell was still
        # exiting, the orphan could be missed (psutil walks the tree through the shell, gone by then).
        shell = subprocess.run(["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 & echo $!"], check=True,
                               stdout=subprocess.PIPE, text=True)
        print(shell.stdout.strip(), flush=True)
        sys.stdin.read()
    """, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reaper.stdout is not None
        orphan = int(reaper.stdout.readline())
        assert [process.pid for process in process_control.descendants(reaper.pid)] == [orphan]
        assert psutil.Process(orphan).ppid() == reaper.pid
    finally:
        for process in process_control.descendants(reaper.pid):
            process.kill()
        reaper.kill()
        reaper.wait()


def test_a_child_dies_with_its_parent() -> None:
    """A subreaper starts a parent whose child asked for SIGKILL at its parent's death, kills the parent, and
    reaps the orphaned child (now its own) to see how it ended. Without the death signal it sleeps 30 s, exits
    normally, and this fails."""
    parent_code = textwrap.dedent("""
        import signal, subprocess, sys
        from shared import process_control
        child = subprocess.Popen(["sleep", "30"],
                                 preexec_fn=lambda: process_control.die_with_parent(signal.SIGKILL))
        print(child.pid, flush=True)
        sys.stdin.read()
    """)
    reaper = _python(f"""
        import os, subprocess, sys
        from shared import process_control
        process_control.become_subreaper()
        parent = subprocess.Popen([sys.executable, "-c", {parent_code!r}], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait()
        _, status = os.waitpid(child, 0)
        print(os.WTERMSIG(status) if os.WIFSIGNALED(status) else f"exit {{os.waitstatus_to_exitcode(status)}}")
    """, stdout=subprocess.PIPE, text=True)
    out, _ = reaper.communicate()
    assert reaper.returncode == 0 and out.strip() == str(int(signal.SIGKILL))


def test_live_processes_and_their_environment() -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    sleeper = subprocess.Popen(["sleep", "300"], env={**os.environ, "GAMMA_TEST_MARK": marker})
    try:
        found = [process for process in process_control.live_processes()
                 if (process_control.environment(process) or {}).get("GAMMA_TEST_MARK") == marker]
        assert [process.pid for process in found] == [sleeper.pid]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not any(process.pid == sleeper.pid for process in process_control.live_processes())
    assert process_control.environment(psutil.Process(os.getpid()))["PATH"] == os.environ["PATH"]
