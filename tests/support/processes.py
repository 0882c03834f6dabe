"""Real processes for tests: start a command in its own process group, wait until it is healthy, kill the group.

    with start_web(database_url, free_port()) as web:
        requests.get(web.url + "/api/health")
        ws = websocket.create_connection(web.ws_url + "/ws/events")

Output goes to a log file (never a pipe that could fill up); `proc.log_tail()` shows it when a start fails.
The log is deleted when the block ends cleanly, kept (and its path in the error) otherwise, or always with
GAMMA_KEEP_PROCESS_LOGS=1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from shared import process_control
from tests.support.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
# Variables from the developer's shell that would change how a started Gamma process behaves.
SCRUBBED_ENV = ("GAMMA_API_TOKEN", "GAMMA_HOST", "GAMMA_PORT", "GAMMA_API_URL")


class ProcessFailed(RuntimeError):
    pass


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (another process may still take it: retry on bind errors)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Proc:
    popen: subprocess.Popen
    log_path: Path
    args: Sequence[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        """Send `signum` to the whole process group (the command and everything it started)."""
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the command (it stops its own children), SIGKILL the group if it has not exited in time."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        return self.popen.returncode

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the whole process group and reap the leader."""
        self.signal_group(signal.SIGKILL)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextmanager
def running(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    health_url: str | None = None,
    timeout: float = 60.0,
    health_status: int = 200,
    cwd: Path = REPO,
    log_dir: Path | None = None,
    die_with_parent: bool = True,
) -> Iterator[Proc]:
    """Start `args` with `env` (added to a scrubbed copy of os.environ) in a new process group.

    If `health_url` is given, wait until it answers 200 (or fail with the process's log). The whole group is
    SIGKILLed when the block ends, whatever happened. With `die_with_parent` (Linux) the command is also
    SIGKILLed if this process dies first (a test run killed by a timeout), so nothing is left behind; it fires
    when the *thread* that started the command ends, so start long-lived commands from the main thread.
    """
    full_env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    full_env.update(env or {})
    own_dir = log_dir is None
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="gamma-proc-"))
    log_path = log_dir / f"{Path(args[0]).name}-{time.monotonic_ns()}.log"
    with open(log_path, "wb") as log_file:
        popen = subprocess.Popen(
            list(args), env=full_env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None,
        )
    proc = Proc(popen, log_path, list(args))
    clean = False
    try:
        if health_url is not None:
            wait_healthy(proc, health_url, timeout, health_status)
        yield proc
        clean = True
    finally:
        proc.kill()
        if clean and own_dir and not os.environ.get("GAMMA_KEEP_PROCESS_LOGS"):
            shutil.rmtree(log_dir, ignore_errors=True)


def _die_with_parent() -> None:
    process_control.die_with_parent(signal.SIGKILL)


def wait_healthy(proc: Proc, url: str, timeout: float = 60.0, status: int = 200) -> None:
    """Poll `url` until it answers `status` (fail early, with the log, if the process exits)."""
    last_error = "no answer yet"

    def healthy() -> bool:
        nonlocal last_error
        if not proc.alive():
            raise ProcessFailed(
                f"{proc.args[0]} exited with {proc.popen.returncode}; log {proc.log_path}:\n{proc.log_tail()}"
            )
        try:
            response = requests.get(url, timeout=5)
        except requests.RequestException as error:
            last_error = str(error)
            return False
        if response.status_code == status:
            return True
        last_error = f"HTTP {response.status_code}: {response.text[:200]}"
        return False

    try:
        wait_for(healthy, timeout=timeout, interval=0.1, what=url)
    except AssertionError:  # the poll's timeout: say so with the process's log
        raise ProcessFailed(
            f"{url} not healthy after {timeout:.0f}s ({last_error}); log {proc.log_path}:\n{proc.log_tail()}"
        ) from None


@dataclass
class Web:
    proc: Proc
    port: int
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


@contextmanager
def start_web(
    database_url: str, port: int | None = None, extra_env: Mapping[str, str] | None = None, timeout: float = 60.0,
    *, host: str = "127.0.0.1", threads: int = 32, prefix: Sequence[str] = (), gunicorn_config: bool = True,
    health_status: int = 200,
) -> Iterator[Web]:
    """A real gunicorn web (1 gthread worker, `threads` threads) on `host`:`port`, healthy before it is yielded.

    GAMMA_HOME comes from `extra_env`, else from this process's environment, else a fresh temporary directory.
    `prefix` runs it through another command (`ip netns exec NAME`); without `gunicorn_config` it is a plain
    `gunicorn -k gthread` (as someone might start it by hand); `health_status` is what /api/health must answer.
    """
    port = port or free_port()
    home = (extra_env or {}).get("GAMMA_HOME") or os.environ.get("GAMMA_HOME")
    own_home = None if home else tempfile.mkdtemp(prefix="gamma-home-")
    env = {
        "DATABASE_URL": database_url,
        "GAMMA_HOME": home or own_home,
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    config = ["--config", "python:web.gunicorn_conf"] if gunicorn_config else ["-k", "gthread"]
    args = [
        *prefix, str(VENV_BIN / "gunicorn"), *config, "-b", f"{host}:{port}",
        "-w", "1", "--threads", str(threads), "web.wsgi:app",
    ]
    try:
        with running(args, env, health_url=f"http://{host}:{port}/api/health", timeout=timeout,
                     health_status=health_status) as proc:
            yield Web(proc, port, host)
    finally:
        if own_home:
            shutil.rmtree(own_home, ignore_errors=True)
