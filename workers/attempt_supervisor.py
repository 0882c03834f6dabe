"""The attempt supervisor: the one process a worker starts per run attempt. It starts the agent's command and
makes sure that nothing of the attempt outlives it.

    python -I -S attempt_supervisor.py LIB HEARTBEAT_FD HEARTBEAT_TIMEOUT GRACE -- COMMAND [ARG…]
    python -I -S attempt_supervisor.py /venv/lib/python3.11/site-packages 3 10 5 -- claude -p …
    python -I -S attempt_supervisor.py LIB HEARTBEAT_FD HEARTBEAT_TIMEOUT GRACE --spare ORDER_FD

A spare (`--spare`) is started before there is a command to run (workers/spare_supervisors.py): it loads what it
needs, then waits for its order on ORDER_FD — the command, its environment, its working directory and whether
stdin is the worker's pipe or /dev/null (a `marshal`led dict, written by workers.spare_supervisors, until the
worker closes its end) — and from there on is an attempt supervisor like any other. The end of ORDER_FD without an
order (the worker no longer needs it, or is gone) makes it exit with status 0.

- It is a child subreaper (PR_SET_CHILD_SUBREAPER): every process the command starts stays in its subtree, also
  one that double-forks or calls setsid (the CLI starts each Bash tool in a session of its own), so "every
  process of this attempt" is exactly its descendants.
- The worker writes a byte to the heartbeat pipe every half second. When the pipe closes (the worker died, even
  by SIGKILL) or stays silent for --heartbeat-timeout seconds (the worker is frozen: SIGSTOP, a stalled host),
  it kills every descendant at once and exits — before the run's lease can expire, so no second attempt ever
  runs beside this one.
- SIGTERM (the worker stops the attempt: cancel, timeout, hand-back): SIGTERM to every descendant, SIGKILL to
  whatever is left after --grace seconds.
- When the command exits, whatever it left behind gets the same treatment, and the supervisor exits with the
  command's status (a death by signal is reproduced), so the worker sees the command's exit as its own child's.

It writes only to stderr (stdout is the agent's stream) and uses only the standard library, shared.prctl and
shared.process_control (psutil). Every run's start waits for the command, so this process starts lean: run as a
file under `python -I -S` (no site: the virtualenv's path hooks cost more than the rest of its start), with LIB
naming the directory psutil is installed in, which it loads only once the command has started (a spare: before
its order comes). Its arguments are positional, written by the worker (workers.process.supervisor_command,
workers.spare_supervisors): argparse would take a third of its start.
"""

from __future__ import annotations

import errno
import marshal
import os
import select
import signal
import sys
import time
from types import ModuleType

if not __package__:  # run as a file under `python -I -S`: the repository is not on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from shared.prctl import become_subreaper  # noqa: E402

POLL_SECONDS = 0.5  # upper bound between checks; a child's exit or a signal wakes the loop at once
STOPPING_POLL_SECONDS = 0.1
PREFIX = "gamma-supervisor:"
CANNOT_START = f"{PREFIX} cannot start"


def _processes() -> ModuleType:
    """shared.process_control (psutil): loaded once the command runs (see the module docstring)."""
    from shared import process_control  # noqa: PLC0415

    return process_control


class Supervisor:
    def __init__(self, argv: list[str], heartbeat_fd: int, heartbeat_timeout: float, grace: float) -> None:
        self.argv = argv
        self.heartbeat_fd = heartbeat_fd
        self.heartbeat_timeout = heartbeat_timeout
        self.grace = grace
        self.me = os.getpid()
        self.child: int | None = None
        self.child_status: int | None = None
        self.stop_requested = False
        self.kill_at: float | None = None  # when a stop's grace ends
        self.terminated: set[int] = set()  # descendants already sent SIGTERM

    def run(self) -> int:
        become_subreaper()
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)  # a signal (SIGCHLD, SIGTERM) makes select() return at once
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the worker's to handle
        os.set_inheritable(self.heartbeat_fd, False)  # the command has no business with it
        try:
            self.child = os.posix_spawnp(self.argv[0], self.argv, os.environ,
                                         setsigdef=(signal.SIGINT, signal.SIGTERM, signal.SIGCHLD))
        except OSError as error:
            print(f"{CANNOT_START} {self.argv[0]!r}: {error.strerror}", file=sys.stderr, flush=True)
            return 127 if error.errno == errno.ENOENT else 126
        # Loaded now, while the command starts, rather than when it has to be stopped; a stop arriving meanwhile
        # waits until it is loaded (its handler uses it, and must not find it half imported).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        _processes()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        last_beat = time.monotonic()
        while self.child_status is None:
            self._reap()
            if self.child_status is not None:
                break
            now = time.monotonic()
            if self.kill_at is not None:
                if now >= self.kill_at:
                    _processes().signal_all(_processes().descendants(self.me), signal.SIGKILL)
                    self.kill_at = None
                else:  # processes started since the stop began (a sandbox still setting up, a new tool) too
                    self._terminate_new()
            if now - last_beat > self.heartbeat_timeout:
                return self._abandon(f"no heartbeat from the worker for {self.heartbeat_timeout:.0f} s")
            wait = STOPPING_POLL_SECONDS if self.kill_at is not None else POLL_SECONDS
            ready, _, _ = select.select([self.heartbeat_fd, wake_read], [], [], wait)
            if wake_read in ready:
                os.read(wake_read, 4096)
            if self.heartbeat_fd in ready:
                if not os.read(self.heartbeat_fd, 4096):
                    return self._abandon("the worker is gone")
                last_beat = time.monotonic()
        self._clear_leftovers()
        return self._exit_like_child()

    def _on_stop(self, signum: int, frame: object) -> None:
        if not self.stop_requested:
            self.stop_requested = True
            self.kill_at = time.monotonic() + self.grace
            self._terminate_new()

    def _terminate_new(self) -> None:
        """SIGTERM every descendant that has not had one yet."""
        fresh = [process for process in _processes().descendants(self.me) if process.pid not in self.terminated]
        self.terminated.update(process.pid for process in fresh)
        _processes().signal_all(fresh, signal.SIGTERM)

    def _reap(self) -> None:
        """Collect every exited child (orphans are ours to reap too), remembering the command's status."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.child:
                self.child_status = status

    def _clear_leftovers(self) -> None:
        """The command exited: SIGTERM what it left running, SIGKILL what is left once the grace is over."""
        deadline = self.kill_at if self.kill_at is not None else time.monotonic() + self.grace
        while _processes().descendants(self.me) and time.monotonic() < deadline:
            self._terminate_new()  # including any that appear meanwhile (a sandbox finishing its set-up)
            time.sleep(0.05)
            self._reap()
        self._kill_all()

    def _kill_all(self) -> None:
        while left := _processes().descendants(self.me):
            _processes().signal_all(left, signal.SIGKILL)
            time.sleep(0.01)
            self._reap()
        self._reap()

    def _abandon(self, why: str) -> int:
        """The worker cannot look after this attempt any more: end all of it now."""
        print(f"{PREFIX} {why}; stopping the attempt", file=sys.stderr, flush=True)
        self._kill_all()
        return 75  # EX_TEMPFAIL: the attempt did not end by itself

    def _exit_like_child(self) -> int:
        status = self.child_status
        assert status is not None
        if os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
            if signum not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught anyway
                signal.signal(signum, signal.SIG_DFL)
            os.kill(self.me, signum)
            return 128 + signum  # not reached for deadly signals
        return os.waitstatus_to_exitcode(status)


USAGE = ("usage: attempt_supervisor.py LIB HEARTBEAT_FD HEARTBEAT_TIMEOUT GRACE -- COMMAND [ARG…]\n"
         "       attempt_supervisor.py LIB HEARTBEAT_FD HEARTBEAT_TIMEOUT GRACE --spare ORDER_FD")


def await_order(order_fd: int) -> list[str] | None:
    """A spare's wait: read its order to the end and take it on (working directory, environment, stdin); the
    command to run, or None when the worker closed ORDER_FD without one."""
    chunks = []
    while chunk := os.read(order_fd, 65536):
        chunks.append(chunk)
    os.close(order_fd)
    if not chunks:
        return None
    order = marshal.loads(b"".join(chunks))
    os.chdir(order["cwd"])
    os.environ.clear()  # posix_spawnp looks the command up on this PATH, and passes the rest on
    os.environ.update(order["env"])
    if order["stdin"] == "devnull":
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    command: list[str] = order["argv"]
    return command


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        lib, heartbeat_fd, heartbeat_timeout, grace, mode, *command = args
        if mode == "--spare":
            if len(command) != 1:
                raise ValueError("--spare takes one file descriptor")
            order_fd = int(command[0])
        elif mode != "--" or not command:
            raise ValueError("a command is required after --")
        settings = (int(heartbeat_fd), float(heartbeat_timeout), float(grace))
    except ValueError as error:  # too few arguments, or one that is not a number
        print(f"{USAGE}\n{PREFIX} {error}", file=sys.stderr, flush=True)
        return 2
    if lib not in sys.path:
        sys.path.append(lib)
    if mode == "--spare":
        _processes()  # loaded while nothing waits for it
        try:
            ordered = await_order(order_fd)
        except (OSError, ValueError, EOFError, KeyError, TypeError) as error:  # a working directory gone, …
            print(f"{CANNOT_START}: {error}", file=sys.stderr, flush=True)
            return 126
        if ordered is None:
            return 0
        command = ordered
    return Supervisor(command, *settings).run()


if __name__ == "__main__":
    sys.exit(main())
