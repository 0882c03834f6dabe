"""Real Dramatiq worker processes for tests (`gamma worker`), configured for a test stack."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import psycopg

from tests.support.polling import wait_for
from tests.support.processes import VENV_BIN, Proc, ProcessFailed, running

# As if on another host: a PID namespace of its own (root only, as CI and this project's machines run), so the
# worker can neither see nor signal the processes of the others.
OTHER_HOST = ("unshare", "--pid", "--fork", "--mount-proc", "--kill-child")

# Short leases and a fast reaper so crash-recovery tests finish in seconds, not minutes.
FAST_RECOVERY = {
    "GAMMA_LEASE_SECONDS": "6",
    "GAMMA_REAPER_INTERVAL": "1",
    "GAMMA_KILL_GRACE": "3",
    "GAMMA_RESULT_GRACE": "3",
}


@contextmanager
def start_worker(
    database_url: str, extra_env: Mapping[str, str] | None = None, *, threads: int = 4, processes: int = 1,
    wrap: Sequence[str] = (),
) -> Iterator[Proc]:
    """`gamma worker` in its own process group; returns once its heartbeat row exists. `wrap` is a command
    prefix (e.g. OTHER_HOST: a PID namespace of its own, so it sees no other worker's processes)."""
    env = {
        "DATABASE_URL": database_url,
        "GAMMA_HOME": os.environ.get("GAMMA_HOME") or tempfile.mkdtemp(prefix="gamma-home-"),
        "GAMMA_WORKER_THREADS": str(threads),
        "GAMMA_ALLOW_ROOT_BYPASS": "1",
        "PYTHONUNBUFFERED": "1",
        **FAST_RECOVERY,
        **(extra_env or {}),
    }
    args = [*wrap, str(VENV_BIN / "gamma"), "worker", "--processes", str(processes)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        started = conn.execute("SELECT now()").fetchone()[0]
        with running(args, env) as proc:
            _wait_for_heartbeats(conn, proc, started, processes)
            yield proc


def _wait_for_heartbeats(conn: psycopg.Connection, proc: Proc, since: object, count: int, timeout: float = 60) -> None:
    def registered() -> bool:
        if not proc.alive():
            raise ProcessFailed(f"gamma worker exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        alive = conn.execute(
            "SELECT count(*) FROM workers WHERE started_at >= %s AND stopped_at IS NULL", (since,)
        ).fetchone()[0]
        return alive >= count

    try:
        wait_for(registered, timeout=timeout, interval=0.1, what="the worker's heartbeats")
    except AssertionError:  # the poll's timeout: say so with the worker's log
        raise ProcessFailed(f"gamma worker did not register within {timeout}s:\n{proc.log_tail()}") from None
