"""Agent processes: each attempt runs under its own supervisor (workers/attempt_supervisor.py).

    process = AgentProcess(spec, heartbeat_timeout=10, grace=5)
    for raw in process.popen.stdout: …        # bytes: the agent's output, verbatim
    process.beat()                            # the worker's heartbeat (WorkerRuntime calls it every 0.5 s)
    process.stop("cancelled", grace=5)        # SIGTERM everything of the attempt, SIGKILL after the grace

The supervisor holds every process of the attempt in its subtree (it is a child subreaper) and ends them all
when the worker stops it, when the agent's command exits, or when the worker's heartbeat stops — also when the
worker died or froze. The marker sweep (`sweep_orphans`) remains a second line of defence for processes whose
supervisor was itself killed outright when no sandbox holds them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import psutil

from shared import process_control
from workers.runtime_types import LaunchSpec

SUPERVISOR = Path(__file__).resolve().parent / "attempt_supervisor.py"
SUPERVISOR_LIB = str(Path(psutil.__file__).resolve().parents[1])  # the supervisor runs without site (python -S)
SUPERVISOR_EXIT_MARGIN = 3.0  # seconds past the grace before the supervisor itself is killed
MARKERS = ("GAMMA_RUN_ID", "GAMMA_RUN_ATTEMPT", "GAMMA_WORKER_ID")


def supervisor_command(command: list[str], *, heartbeat_fd: int, heartbeat_timeout: float, grace: float
                       ) -> list[str]:
    """The attempt supervisor running `command` (see workers/attempt_supervisor.py for why it starts this way)."""
    return _supervisor_argv(heartbeat_fd, heartbeat_timeout, grace, "--", *command)


def _supervisor_argv(heartbeat_fd: int, heartbeat_timeout: float, grace: float, *rest: str) -> list[str]:
    return [sys.executable, "-I", "-S", str(SUPERVISOR), SUPERVISOR_LIB, str(heartbeat_fd), f"{heartbeat_timeout:g}",
            f"{grace:g}", *rest]


def start_supervisor(rest: Sequence[str], *, heartbeat_timeout: float, grace: float, cwd: Path | str,
                     env: Mapping[str, str], stdin: int, pass_fds: tuple[int, ...] = ()
                     ) -> tuple[subprocess.Popen[bytes], int]:
    """Start an attempt supervisor (`rest`: `--` and the command, or `--spare` and its order pipe) with its stdout
    and stderr piped to us and a heartbeat pipe of its own; returns it and the heartbeat pipe's write end."""
    beat_read, beat_write = os.pipe()
    os.set_blocking(beat_write, False)
    try:
        popen = subprocess.Popen(
            _supervisor_argv(beat_read, heartbeat_timeout, grace, *rest),
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a signal to the worker's process group (a terminal's) is not for it
            pass_fds=(beat_read, *pass_fds),
            bufsize=0,
        )
    except BaseException:
        os.close(beat_write)
        raise
    finally:
        os.close(beat_read)
    return popen, beat_write


class SpareSupervisor(Protocol):
    """A supervisor already started, waiting for its command (workers/spare_supervisors.py)."""

    def launch(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, stdin_is_pipe: bool
               ) -> tuple[subprocess.Popen[bytes], int] | None: ...


class AgentProcess:
    def __init__(self, spec: LaunchSpec, *, heartbeat_timeout: float, grace: float,
                 spare: SpareSupervisor | None = None) -> None:
        """`spare`: a supervisor started ahead (workers/spare_supervisors.py) to run it in; started now if None
        or if the spare is gone."""
        self.spec = spec
        self._stop_lock = threading.Lock()
        self.stop_reason: str | None = None
        launched = spare.launch(spec.argv, env=spec.env, cwd=str(spec.cwd), stdin_is_pipe=spec.stdin_text is not None
                                ) if spare is not None else None
        if launched is not None:
            self.popen, self._beat_write = launched
        else:
            self.popen, self._beat_write = start_supervisor(
                ["--", *spec.argv], heartbeat_timeout=heartbeat_timeout, grace=grace, cwd=spec.cwd, env=spec.env,
                stdin=subprocess.PIPE if spec.stdin_text is not None else subprocess.DEVNULL)
        self.marker = (spec.env.get("GAMMA_RUN_ID"), spec.env.get("GAMMA_RUN_ATTEMPT"))
        if spec.stdin_text is not None:
            threading.Thread(target=self._feed_stdin, args=(spec.stdin_text.encode(),), daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def beat(self) -> None:
        """Tell the supervisor the worker is alive (it ends the attempt when these stop)."""
        with contextlib.suppress(OSError):  # full pipe (it reads soon), or closed (the attempt is over)
            os.write(self._beat_write, b".")

    def close(self) -> None:
        """After the attempt ended: release the heartbeat pipe."""
        with contextlib.suppress(OSError):
            os.close(self._beat_write)

    def _feed_stdin(self, data: bytes) -> None:
        assert self.popen.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self.popen.stdin.write(data)
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self.popen.stdin.close()

    def stop(self, reason: str, grace: float) -> None:
        """SIGTERM everything of this attempt, SIGKILL what is left after `grace` s. Idempotent; first reason wins."""
        with self._stop_lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)  # the supervisor passes it on, and kills after the grace
            try:
                self.popen.wait(grace + SUPERVISOR_EXIT_MARGIN)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
        self.kill_leftovers()

    def stop_async(self, reason: str, grace: float) -> None:
        threading.Thread(target=self.stop, args=(reason, grace), daemon=True, name="agent-stop").start()

    def alive(self) -> bool:
        return self.popen.poll() is None or bool(self._marked())

    def kill_leftovers(self) -> None:
        """After the supervisor exited: nothing of the attempt may remain (it only could if the supervisor was
        killed outright, without a sandbox around its processes)."""
        process_control.signal_all(self._marked(), signal.SIGKILL)

    def _marked(self) -> list[psutil.Process]:
        run_id, attempt = self.marker
        if run_id is None or attempt is None:
            return []
        return [process for process, found in marked_processes()
                if (found[0], str(found[1])) == (run_id, attempt)]


def marked_processes() -> list[tuple[psutil.Process, tuple[str, int, str]]]:
    """Live processes of agent attempts on this host, with their (run id, attempt, worker id) markers."""
    found = []
    for process in process_control.live_processes():
        marker = run_marker(process)
        if marker is not None:
            found.append((process, marker))
    return found


def run_marker(process: psutil.Process) -> tuple[str, int, str] | None:
    environ = process_control.environment(process)
    if environ is None:
        return None
    run_id, attempt, worker_id = (environ.get(name) for name in MARKERS)
    if run_id is None or worker_id is None or attempt is None or not attempt.isdigit():
        return None
    return run_id, int(attempt), worker_id


def sweep_orphans(is_current: Callable[[str, int, str], bool | None]) -> list[int]:
    """Kill agent processes on this host whose attempt no longer owns its run.

    Every agent process (and everything it spawns) carries GAMMA_RUN_ID, GAMMA_RUN_ATTEMPT and GAMMA_WORKER_ID
    in its environment; `is_current(run_id, attempt, worker_id)` says whether that attempt still owns its run
    (None: not ours to judge — another Gamma installation's process — so it is left alone).
    """
    killed = []
    verdicts: dict[tuple[str, int, str], bool | None] = {}
    for process, marker in marked_processes():
        if marker not in verdicts:
            verdicts[marker] = is_current(*marker)
        if verdicts[marker] is False and process_control.signal_all([process], signal.SIGKILL):
            killed.append(process.pid)
    return killed

