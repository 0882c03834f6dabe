"""The embedded PostgreSQL server (the `pgserver` package), used when DATABASE_URL is unset."""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from pathlib import Path

import psutil

from shared import process_control

log = logging.getLogger(__name__)

HOW_TO_AVOID = (
    "Start PostgreSQL another way and point Gamma at it: `docker compose up -d db` and then\n"
    "  export DATABASE_URL=postgresql://gamma:gamma@127.0.0.1:5433/gamma\n"
    "or set DATABASE_URL to any PostgreSQL 14+ server you have."
)


class EmbeddedPostgresUnavailable(RuntimeError):
    pass


def _import_pgserver():
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    warnings.filterwarnings("ignore", module="platformdirs")
    try:
        import pgserver  # noqa: PLC0415 - heavy import, only needed in embedded mode
    except Exception as error:  # ImportError, or a wheel that cannot load on this platform
        raise EmbeddedPostgresUnavailable(
            f"the embedded PostgreSQL (pgserver) cannot run here: {error}.\n{HOW_TO_AVOID}"
        ) from error
    return pgserver


def ensure_running(data_dir: Path) -> str:
    """Start the server if needed (reusing its data) and return its URL. Safe to call from many processes."""
    pgserver = _import_pgserver()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(data_dir, cleanup_mode=None)
    except Exception as error:
        raise EmbeddedPostgresUnavailable(
            f"the embedded PostgreSQL under {data_dir} failed to start: {error}.\n"
            f"Its log is in {data_dir / 'log'}.\n{HOW_TO_AVOID}"
        ) from error
    uri = server.get_uri()
    if _raise_max_connections(uri):
        _pg_ctl(data_dir, "restart")
        uri = pgserver.get_server(data_dir, cleanup_mode=None).get_uri()
    return uri


# Each worker process holds ~4 broker connections plus one per busy thread, each web process a pool and a
# LISTEN connection: PostgreSQL's default of 100 is tight once a few processes run.
MAX_CONNECTIONS = 300


def _raise_max_connections(uri: str) -> bool:
    """Set max_connections once (it needs a restart). Returns whether a restart is due."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(uri, autocommit=True) as conn:
        current = int(conn.execute("SHOW max_connections").fetchone()[0])
        if current >= MAX_CONNECTIONS:
            return False
        conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
    return True


def _pg_ctl(data_dir: Path, action: str) -> None:
    from pgserver._commands import pg_ctl  # noqa: PLC0415

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", action], pgdata=data_dir, user=user)


def wait_for_clients_to_leave(uri: str, timeout: float) -> int:
    """Wait until no other session is connected (Gamma's web and workers have exited), at most `timeout`
    seconds. Returns how many were still connected."""
    import psycopg  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    others = 0
    try:
        with psycopg.connect(uri, autocommit=True, application_name="gamma-db-serve") as conn:
            while True:
                others = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                    " AND pid <> pg_backend_pid()").fetchone()[0]
                if others == 0 or time.monotonic() >= deadline:
                    return others
                time.sleep(0.2)
    except psycopg.Error as error:
        log.warning("could not watch the database's sessions: %s", error)
        return others


def restart(data_dir: Path) -> None:
    """Restart the server (fast: sessions are cut), as an upgrade or a crash-and-recover would."""
    _pg_ctl(data_dir, "restart")


def stop(data_dir: Path) -> None:
    """Stop the embedded server (fast shutdown: open sessions are disconnected) and return once every one of its
    processes is gone. `pg_ctl stop` returns when the pid file is removed, which the postmaster does just before
    it exits, and its logger may outlive it for a moment: on a loaded machine `gamma up` could exit while a
    postgres process still ran."""
    _import_pgserver()
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return
    server = _server_processes(pid_file)
    try:
        _pg_ctl(data_dir, "stop")
    except Exception as error:  # already stopped, or pid file stale
        log.warning("stopping embedded PostgreSQL: %s", error)
    alive = process_control.wait_gone(server, timeout=STOP_WAIT_SECONDS)
    if alive:
        log.warning("embedded PostgreSQL processes %s outlived their server; killing them", [p.pid for p in alive])
        process_control.signal_all(alive, signal.SIGKILL)


STOP_WAIT_SECONDS = 30.0


def _server_processes(pid_file: Path) -> list[psutil.Process]:
    """The postmaster named in its pid file and its children (none when the file is stale)."""
    try:
        return process_control.tree(int(pid_file.read_text().split("\n", 1)[0]))
    except (OSError, ValueError):
        return []
