"""`gamma up`'s launcher starts a `--restart` process again when it exits, as `gamma worker`'s supervisor would
(so under `gamma up` the worker process needs none of its own): with back-off, never while the stack stops, and
not after an exit that would only repeat (bad settings: exit 2). Real processes under shared.launcher's honcho
manager, from a scratch Procfile."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from shared.process_env import RESTARTED_BY_UP
from tests.support.polling import wait_for
from tests.support.processes import REPO

pytestmark = pytest.mark.slow


class Launched:
    """`run_procfile` in a process of its own, its output collected as it comes."""

    def __init__(self, procfile: Path, names: list[str], restart: list[str]) -> None:
        code = ("import os, sys; from pathlib import Path; from shared.launcher import run_procfile;"
                "procfile = Path(sys.argv[1]);"
                f" sys.exit(run_procfile(procfile, {names!r}, env=os.environ, cwd=procfile.parent, stop_timeout=10,"
                f" restart={restart!r}))")
        self.popen = subprocess.Popen([sys.executable, "-c", code, str(procfile)], cwd=REPO, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def finish(self, timeout: float = 60) -> int:
        code = self.popen.wait(timeout=timeout)
        self._reader.join(10)
        return code


def _procfile(tmp_path: Path, **commands: str) -> Path:
    path = tmp_path / "Procfile"
    path.write_text("".join(f"{name}: {command}\n" for name, command in commands.items()))
    return path


def test_a_restart_process_is_started_again_and_a_stop_ends_it_for_good(tmp_path: Path) -> None:
    procfile = _procfile(tmp_path, flaky=f"sh -c 'echo up marker=${RESTARTED_BY_UP}; exit 1'", steady="sleep 300")
    launched = Launched(procfile, ["flaky", "steady"], restart=["flaky"])
    try:
        # 1 s, 2 s, then 4 s between starts, and the steady process kept running throughout. Stopped during the
        # 8 s back-off that follows the fourth start, the flaky process must not start again.
        wait_for(lambda: launched.count("starting it again in 8 s") == 1, timeout=60, what=lambda: launched.lines)
        for delay in (1, 2, 4):
            assert launched.count(f"exited unexpectedly (exit code 1); starting it again in {delay} s") == 1
        assert launched.count("steady stopped") == 0 and launched.popen.poll() is None
        launched.popen.send_signal(signal.SIGTERM)
        assert launched.finish() == 143
    finally:
        if launched.popen.poll() is None:
            launched.popen.kill()
    assert launched.count("up marker=1") == 4, launched.lines
    assert launched.count("flaky started") == 4, "each start announced once, none after the stop"
    assert launched.count("flaky stopped") == 1 and launched.count("steady stopped") == 1, launched.lines


def test_an_exit_that_would_only_repeat_stops_the_stack(tmp_path: Path) -> None:
    procfile = _procfile(tmp_path, misconfigured="sh -c 'echo bad setting; exit 2'", steady="sleep 300")
    launched = Launched(procfile, ["misconfigured", "steady"], restart=["misconfigured"])
    try:
        assert launched.finish() == 2
    finally:
        if launched.popen.poll() is None:
            launched.popen.kill()
    assert launched.count("bad setting") == 1 and launched.count("starting it again") == 0, launched.lines
