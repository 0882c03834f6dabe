"""Agent processes: spawned in their own process group, stopped as a group (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from workers.runtime_types import LaunchSpec


class AgentProcess:
    def __init__(self, spec: LaunchSpec) -> None:
        self.spec = spec
        self._stop_lock = threading.Lock()
        self.stop_reason: str | None = None
        self.popen = subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=spec.env,
            stdin=subprocess.PIPE if spec.stdin_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: killpg reaches the tools it spawned too
            preexec_fn=_die_with_parent,
            bufsize=1,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.pgid = self.popen.pid
        self.marker = (spec.env.get("GAMMA_RUN_ID"), spec.env.get("GAMMA_RUN_ATTEMPT"))
        if spec.stdin_text is not None:
            threading.Thread(target=self._feed_stdin, args=(spec.stdin_text,), daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _feed_stdin(self, text: str) -> None:
        assert self.popen.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self.popen.stdin.write(text)
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self.popen.stdin.close()

    def stop(self, reason: str, grace: float) -> None:
        """SIGTERM everything of this attempt, SIGKILL what is left after `grace` s. Idempotent; first reason wins.

        "Everything" is the CLI's process group plus every process carrying this attempt's GAMMA_RUN_ID and
        GAMMA_RUN_ATTEMPT: the CLI starts each Bash tool in a session of its own, out of the group's reach.
        """
        with self._stop_lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not self.alive():
                return
            time.sleep(0.05)
        self._signal_all(signal.SIGKILL)

    def alive(self) -> bool:
        return group_alive(self.pgid) or bool(self._marked())

    def _signal_all(self, sig: int) -> None:
        kill_group(self.pgid, sig)
        for pid in self._marked():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def _marked(self) -> list[int]:
        run_id, attempt = self.marker
        if run_id is None or attempt is None:
            return []
        return [pid for pid in _pids() if (m := _run_marker(pid)) and (m[0], str(m[1])) == (run_id, attempt)
                and _is_live(pid)]

    def stop_async(self, reason: str, grace: float) -> None:
        threading.Thread(target=self.stop, args=(reason, grace), daemon=True, name="agent-stop").start()

    def reap_group(self, grace: float) -> None:
        """After the CLI exited: make sure nothing it spawned lingers."""
        if self.alive():
            self.stop(self.stop_reason or "leftover", grace)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: if the worker dies (even by SIGKILL) the kernel kills the CLI too, so a crashed worker
    never leaves a CLI running beside the run's next attempt. Its own children are swept by `sweep_orphans`."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def sweep_orphans(is_current: Callable[[str, int, str], bool | None]) -> list[int]:
    """Kill process groups left by dead attempts on this host.

    Every agent process (and everything it spawns) carries GAMMA_RUN_ID, GAMMA_RUN_ATTEMPT and GAMMA_WORKER_ID
    in its environment; `is_current(run_id, attempt, worker_id)` says whether that attempt still owns its run
    (None: not ours to judge — another Gamma installation's process — so it is left alone).
    """
    killed = []
    seen: set[int] = set()
    for pid in _pids():
        marker = _run_marker(pid)
        if marker is None:
            continue
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            continue
        if pgid in seen:
            continue
        seen.add(pgid)
        if is_current(*marker) is False:
            kill_group(pgid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.append(pgid)
    return killed


def _run_marker(pid: int) -> tuple[str, int, str] | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read().split(b"\0")
    except OSError:
        return None
    run_id = attempt = worker_id = None
    for item in environ:
        if item.startswith(b"GAMMA_RUN_ID="):
            run_id = item[13:].decode(errors="replace")
        elif item.startswith(b"GAMMA_RUN_ATTEMPT="):
            attempt = item[18:].decode(errors="replace")
        elif item.startswith(b"GAMMA_WORKER_ID="):
            worker_id = item[16:].decode(errors="replace")
    if run_id is None or worker_id is None or attempt is None or not attempt.isdigit():
        return None
    return run_id, int(attempt), worker_id


def kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies count as gone: the group exists only until they are reaped.
    return any(_is_live_member(pid, pgid) for pid in _pids())


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def _is_live_member(pid: int, pgid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and int(fields[2]) == pgid and fields[0] != "Z"


def _is_live(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"
