"""`gamma up`: the Procfile's processes under honcho, run inside this process so that their lifetimes are ours.

- Every process dies with `gamma up`, even when it is killed outright: each command gets SIGTERM when we die
  (PR_SET_PDEATHSIG), and stops as it would on Ctrl-C. honcho's manager watches them from threads of this
  process, not from a forked wrapper process each.
- Ctrl-C or SIGTERM stops them all with SIGTERM at once; each stops in its own order: the workers hand their runs
  back, and `gamma db serve` stops the embedded PostgreSQL only once the others have disconnected. honcho's
  SIGKILL comes only after `stop_timeout` seconds (its default of 5 s is shorter than a hand-back may take).
- A crashed worker is started again (`--restart worker`: by this process, so no supervisor of its own sits in
  between; with several worker processes, by `gamma worker`'s), so the web stays up for the user.

`gamma up` and `gamma worker` do their preparation (settings, database, migrations) in the `gamma` command, then
replace themselves (`exec`, same pid) with this module's lean entry point, which only runs and watches processes:
what they imported to prepare (pydantic, psycopg: some 35 MB) would otherwise stay resident for the stack's
whole life.

    python -P -m shared.launcher up --stop-timeout S --host H --port P [--clear NAME=VAR …] [--restart NAME …] NAME…
    python -P -m shared.launcher supervise --name WHAT --copies N --log-level LEVEL -- COMMAND…

It imports nothing of Gamma but `shared.process_control` (psutil), `shared.logging`, `shared.lean_http` and
`shared.process_env`.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from shared.lean_http import http_client
from shared.logging import configure_logging
from shared.process_control import RestartBackoff, describe_exit, die_with_parent, supervise
from shared.process_env import RESTARTED_BY_UP

# The exit code of a gamma command that will fail the same way every time (bad settings, bad usage): a process
# that exits with it is not started again, and the stack stops with the message it printed.
EXIT_USAGE = 2


def _manager(printer: Any, restart: Collection[str]) -> Any:
    """honcho's manager, its processes watched by threads of this process instead of a forked wrapper each (a
    wrapper is a copy of this interpreter: some 15 MB resident apiece, for reading a pipe), and the processes
    named in `restart` started again when they exit before the stack stops. honcho (and the multiprocessing it
    brings) is imported here: `supervise` has no use for it."""
    import honcho.manager  # noqa: PLC0415
    import honcho.process  # noqa: PLC0415

    stopping = threading.Event()
    # Held while a process is started again, and while the stop signals go out: a process restarted just as the
    # stack stops is either not started or signalled, never left running.
    starting = threading.Lock()

    class DiesWithUs(honcho.process.Process):
        def start_child(self, events: Any) -> None:
            """Start the command. The death signal fires when the thread that started it ends: the main thread,
            which outlives every command, or the relay thread of a restarted one, which outlives its command.
            honcho runs it with `sh -c`; `exec` makes the command the child (dash would otherwise stay in between,
            and the signal would reach only the shell)."""
            self._events = events
            self._child = honcho.process.Popen(f"exec {self.cmd}", env=self.env, cwd=self.cwd,
                                               preexec_fn=die_with_parent)
            self._send_message({"pid": self._child.pid}, type="start")

        def relay(self) -> None:
            """honcho 2.0's `run` after the start: its output as lines, then its exit — unless it is one to start
            again and the stack is not stopping."""
            backoff = RestartBackoff()
            while True:
                started = time.monotonic()
                for line in iter(self._child.stdout.readline, b""):
                    if not self.quiet:
                        self._send_message(line)
                self._child.stdout.close()
                code = self._child.wait()
                if self.name not in restart or code == EXIT_USAGE or stopping.is_set():
                    break
                delay = backoff.after_exit(time.monotonic() - started)
                self._send_message(f"exited unexpectedly ({describe_exit(code)}); starting it again in"
                                   f" {delay:.0f} s\n".encode())
                if stopping.wait(delay):
                    break
                with starting:
                    if stopping.is_set():
                        break
                    self.start_child(self._events)
            self._send_message({"returncode": code}, type="stop")

    class ThreadedManager(honcho.manager.Manager):
        def __init__(self, printer: Any) -> None:
            super().__init__(printer)
            self.events = queue.Queue()
            self._process_ctor = DiesWithUs  # honcho 2.0's hook for the process class (its own tests use it)

        def _start(self) -> None:
            for name, p in self._processes.items():  # honcho 2.0's _start, with a thread for each process
                p["obj"].start_child(self.events)
                p["process"] = threading.Thread(name=f"honcho-{name}", target=p["obj"].relay, daemon=True)
                p["process"].start()

        def _killall(self, force: bool = False) -> None:
            """honcho 2.0's, signalling each process's current child: honcho's own record of the pid is the one
            it was last told, which a restart may have replaced an instant ago."""
            with starting:
                stopping.set()
                for name, p in self._processes.items():
                    if "returncode" in p:
                        continue
                    pid = p["obj"]._child.pid
                    self._system_print(f"sending {'SIGKILL' if force else 'SIGTERM'} to {name} (pid {pid})\n")
                    (self._procmgr.kill if force else self._procmgr.terminate)(pid)

    return ThreadedManager(printer)


def run_procfile(procfile: Path, names: Sequence[str], *, env: Mapping[str, str], cwd: Path,
                 stop_timeout: float, cleared: Mapping[str, Sequence[str]] | None = None,
                 restart: Collection[str] = ()) -> int:
    """Run the named Procfile processes until one stops or we are told to stop; returns honcho's exit code.
    `cleared` names, per process, variables of `env` it must not get; those named in `restart` are started again
    when they exit (but for EXIT_USAGE), and see RESTARTED_BY_UP in their environment."""
    import honcho.manager  # noqa: PLC0415
    from honcho.environ import parse_procfile  # noqa: PLC0415
    from honcho.printer import Printer  # noqa: PLC0415

    commands = parse_procfile(procfile.read_text()).processes
    honcho.manager.KILL_WAIT = stop_timeout  # honcho 2.0 reads this module constant
    manager = _manager(Printer(sys.stdout), restart)
    for name in names:
        own = {key: value for key, value in env.items() if key not in (cleared or {}).get(name, ())}
        if name in restart:
            own[RESTARTED_BY_UP] = "1"
        manager.add_process(name, commands[name], env=own, cwd=str(cwd))
    manager.loop()
    return manager.returncode or 0


def web_url(host: str, port: int) -> str:
    """The URL `gamma up` announces: the bound address, or loopback for a wildcard."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"


def web_answers(host: str, port: int) -> bool:
    """Whether the web gives any HTTP answer to its health check (a token-protected one says 401). http.client
    without ssl (shared.lean_http): this process lives as long as the stack."""
    client = http_client("http")
    connection = client.HTTPConnection("127.0.0.1" if host in ("0.0.0.0", "::") else host.strip("[]"), port,
                                       timeout=2)
    try:
        connection.request("GET", "/api/health")
        connection.getresponse().read()
        return True
    except (OSError, client.HTTPException):
        return False
    finally:
        connection.close()


def announce_when_ready(host: str, port: int) -> None:
    """Print the URL once the web answers. It waits as long as the stack runs — a loaded machine may take
    minutes — and says once that it is still starting."""
    url = web_url(host, port)
    started, told = time.monotonic(), False
    while not web_answers(host, port):
        if not told and time.monotonic() - started > 60:
            print(f"  Gamma is still starting (waiting for {url}) …", flush=True)
            told = True
        time.sleep(0.5)
    print(f"\n  Gamma is running at {url}\n  Press Ctrl-C to stop.\n", flush=True)


def exec_lean(arguments: Sequence[str], env: Mapping[str, str]) -> NoReturn:
    """Replace this process (same pid, so what waits on it or signals it still does) with this module's entry
    point. `-P`: the working directory is not put on the module path, so a `shared/` there cannot stand in."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-P", "-m", "shared.launcher", *arguments], dict(env))


def up_arguments(names: Sequence[str], *, stop_timeout: float, host: str, port: int,
                 cleared: Mapping[str, Sequence[str]], restart: Sequence[str] = ()) -> list[str]:
    """The command line of `up` (the inverse of its parser below)."""
    clear = [f"--clear={name}={var}" for name, variables in cleared.items() for var in variables]
    again = [f"--restart={name}" for name in restart]
    return ["up", f"--stop-timeout={stop_timeout}", f"--host={host}", f"--port={port}", *clear, *again, *names]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.launcher")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--stop-timeout", type=float, required=True)
    up.add_argument("--host", required=True, help="the web's address and port: its URL is printed once it answers")
    up.add_argument("--port", type=int, required=True)
    up.add_argument("--clear", action="append", default=[], metavar="NAME=VAR")
    up.add_argument("--restart", action="append", default=[], metavar="NAME", help="start it again when it exits")
    up.add_argument("names", nargs="+")
    watch = sub.add_parser("supervise")
    watch.add_argument("--name", required=True)
    watch.add_argument("--copies", type=int, default=1, help="how many processes of the command to keep running")
    watch.add_argument("--log-level", required=True)
    watch.add_argument("argv", nargs="+")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "supervise":
        configure_logging(args.log_level)
        return supervise(args.argv, dict(os.environ), name=args.name, copies=args.copies)
    cleared: dict[str, list[str]] = {}
    for item in args.clear:
        name, _, var = item.partition("=")
        cleared.setdefault(name, []).append(var)
    threading.Thread(target=announce_when_ready, args=(args.host, args.port), daemon=True).start()
    procfile = Path(__file__).resolve().parent.parent / "Procfile"
    code = run_procfile(procfile, args.names, env=os.environ, cwd=procfile.parent, stop_timeout=args.stop_timeout,
                        cleared=cleared, restart=args.restart)
    return 0 if code in (0, 130, 143) else code


if __name__ == "__main__":
    sys.exit(main())
