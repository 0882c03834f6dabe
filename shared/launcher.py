"""`gamma up`: the Procfile's processes under honcho, run inside this process so that their lifetimes are ours.

- Every process dies with `gamma up`, even when it is killed outright: honcho's per-process wrapper gets SIGKILL
  when we die, and the command under it gets SIGTERM when its wrapper dies (PR_SET_PDEATHSIG).
- Ctrl-C or SIGTERM stops them all with SIGTERM at once; each stops in its own order: the workers hand their runs
  back, and `gamma db serve` stops the embedded PostgreSQL only once the others have disconnected. honcho's
  SIGKILL comes only after `stop_timeout` seconds (its default of 5 s is shorter than a hand-back may take).
- A crashed worker is started again by `gamma worker` itself, so the web stays up for the user.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import honcho.manager
import honcho.process
from honcho.environ import parse_procfile
from honcho.printer import Printer

from shared.process_control import die_with_parent


class _DiesWithUs(honcho.process.Process):
    """honcho's wrapper process, tied to `gamma up` (it runs in a process honcho forks for it)."""

    def run(self, events=None, ignore_signals=False):  # noqa: ANN001 - honcho's signature
        die_with_parent(signal.SIGKILL)
        # honcho runs the command with `sh -c`; `exec` makes the command the child (dash would otherwise stay in
        # between, and the death signal would reach only the shell).
        self.cmd = f"exec {self.cmd}"
        self._child_ctor = functools.partial(honcho.process.Popen, preexec_fn=die_with_parent)
        super().run(events, ignore_signals)


def run_procfile(procfile: Path, names: Sequence[str], *, env: Mapping[str, str], cwd: Path,
                 stop_timeout: float, extra_env: Mapping[str, Mapping[str, str]] | None = None) -> int:
    """Run the named Procfile processes until one stops or we are told to stop; returns honcho's exit code."""
    commands = parse_procfile(procfile.read_text()).processes
    honcho.manager.KILL_WAIT = stop_timeout  # honcho 2.0 reads this module constant
    manager = honcho.manager.Manager(Printer(sys.stdout))
    manager._process_ctor = _DiesWithUs  # honcho 2.0's hook for the wrapper class (its own tests use it)
    for name in names:
        manager.add_process(name, commands[name], env={**env, **(extra_env or {}).get(name, {})}, cwd=str(cwd))
    manager.loop()
    return manager.returncode or 0
