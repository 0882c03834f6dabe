"""Database access: one psycopg 3 connection pool per process, created lazily (after any fork)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared.config import get_settings

_pool: ConnectionPool | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()
_url: str | None = None


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


def connect(autocommit: bool = False, **kwargs: object) -> psycopg.Connection:
    """A dedicated connection (for LISTEN, long transactions, or tools), named after this process unless told."""
    kwargs.setdefault("application_name", f"gamma:{os.getpid()}")
    return psycopg.connect(database_url(), autocommit=autocommit, row_factory=dict_row, **kwargs)


def pool() -> ConnectionPool:
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        with _pool_lock:
            if _pool is None or _pool_pid != os.getpid():
                _pool = ConnectionPool(
                    database_url(),
                    min_size=1,
                    max_size=get_settings().db_pool_size,
                    kwargs={"row_factory": dict_row, "autocommit": False,
                            "application_name": f"gamma:{os.getpid()}"},
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
