"""Database access: one psycopg 3 connection pool per process, created lazily (after any fork)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared.config import get_settings

_pool: ConnectionPool | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()
_url: str | None = None
# The pool starts empty and grows with demand; a connection unused for a whole period of this many seconds is
# closed (one per period, never below the minimum): an idle stack holds only what its loops keep using.
POOL_MIN_SIZE = 0
POOL_MAX_IDLE_SECONDS = 60.0


def database_url() -> str:
    """DATABASE_URL, or the embedded server's URL (starting it if needed)."""
    global _url
    if _url is None:
        settings = get_settings()
        if settings.database_url:
            _url = settings.database_url
        else:
            from shared.embedded_pg import ensure_running  # noqa: PLC0415

            _url = ensure_running(settings.pg_data_dir)
    return _url


def set_database_url(url: str | None) -> None:
    """Override the URL for this process (tests), closing any pool on the old one."""
    global _url
    close_pool()
    _url = url


# TCP keepalives on every connection (what DATABASE_URL itself sets wins): between hosts, a NAT or a firewall
# drops an idle connection without a word, and a LISTEN connection would then wait on it for hours (the operating
# system's default is 2 h before the first probe). See docs/multi-host.md.
KEEPALIVES = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3"}


def keepalives() -> dict[str, str]:
    """The keepalive settings DATABASE_URL does not set itself."""
    given = conninfo_to_dict(database_url())
    return {key: value for key, value in KEEPALIVES.items() if key not in given}


def connect(autocommit: bool = False, **kwargs: object) -> psycopg.Connection:
    """A dedicated connection (for LISTEN, long transactions, or tools), named after this process unless told."""
    kwargs.setdefault("application_name", f"gamma:{os.getpid()}")
    return psycopg.connect(database_url(), autocommit=autocommit, row_factory=dict_row, **{**keepalives(), **kwargs})


def pool() -> ConnectionPool:
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        with _pool_lock:
            if _pool is None or _pool_pid != os.getpid():
                _pool = ConnectionPool(
                    database_url(),
                    min_size=POOL_MIN_SIZE,
                    max_size=get_settings().db_pool_size,
                    max_idle=POOL_MAX_IDLE_SECONDS,
                    kwargs={"row_factory": dict_row, "autocommit": False,
                            "application_name": f"gamma:{os.getpid()}", **keepalives()},
                    open=True,
                    name="gamma",
                    check=ConnectionPool.check_connection,
                )
                _pool_pid = os.getpid()
    return _pool


def close_pool() -> None:
    global _pool
    if _pool is not None and _pool_pid == os.getpid():
        _pool.close()
    _pool = None


@contextmanager
def transaction() -> Iterator[psycopg.Connection]:
    """A pooled connection inside one transaction: commit on success, rollback on error."""
    with pool().connection() as conn, conn.transaction():
        yield conn
