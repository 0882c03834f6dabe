"""The two prctl(2) settings Gamma ties process lifetimes with, on the standard library alone.

- `die_with_parent`: a child that dies with its parent (PR_SET_PDEATHSIG);
- `become_subreaper`: orphans below this process stay in its subtree (PR_SET_CHILD_SUBREAPER).

Apart from shared.process_control (which offers them with the rest) so that the attempt supervisor can become a
subreaper and start the agent's command before it loads psutil: every run's start waits for that command.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `signum` to this process when its parent dies (even by SIGKILL).

    Call it in the child: as a Popen `preexec_fn`, or first thing in a forked process. It survives `exec`, so a
    command started through a shell that execs (or a program that execs another, as `gamma web` execs gunicorn)
    keeps it. If the parent died before the call took effect, this process exits at once.
    """
    parent = os.getppid()
    _prctl(_PR_SET_PDEATHSIG, signum)
    if os.getppid() != parent:
        os._exit(1)


def become_subreaper() -> None:
    """Make this process a child subreaper: whatever its descendants orphan (a double fork, a setsid) is
    reparented to it rather than to init, so its descendants are exactly the processes it started."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _prctl(option: int, value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
