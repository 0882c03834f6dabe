"""Agent processes: spawned in their own process group, stopped as a group (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time

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
            bufsize=1,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.pgid = self.popen.pid
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
        """SIGTERM the whole group, SIGKILL it after `grace` seconds. Idempotent; the first reason wins."""
        with self._stop_lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        kill_group(self.pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not group_alive(self.pgid):
                return
            time.sleep(0.05)
        kill_group(self.pgid, signal.SIGKILL)

    def stop_async(self, reason: str, grace: float) -> None:
        threading.Thread(target=self.stop, args=(reason, grace), daemon=True, name="agent-stop").start()

    def reap_group(self, grace: float) -> None:
        """After the leader exited: make sure nothing it spawned lingers."""
        if group_alive(self.pgid):
            self.stop(self.stop_reason or "leftover", grace)


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


def _is_live_member(pid: int, pgid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[2]) == pgid and fields[0] != "Z"
