"""Scratch databases on a real PostgreSQL server, for the test session and for the benchmarks.

Server: the admin URL given (e.g. $GAMMA_TEST_DATABASE_URL), otherwise the embedded server (pgserver) under
.gamma-test/pg. Each scratch database is created, migrated, made this process's database (DATABASE_URL and
`shared.db`), and dropped at the end, so several sessions can share one server.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from shared import db
from shared.config import reset_settings_cache
from shared.migrate import migrate

REPO = Path(__file__).resolve().parents[2]
TEST_HOME = REPO / ".gamma-test"


def admin_url(configured: str | None = None) -> str:
    if configured:
        return configured
    from shared.embedded_pg import ensure_running  # noqa: PLC0415

    return ensure_running(TEST_HOME / "pg")


@contextmanager
def scratch_database(prefix: str, admin: str | None = None) -> Iterator[str]:
    admin = admin_url(admin)
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(admin, dbname=name)
    os.environ["DATABASE_URL"] = url
    reset_settings_cache()
    migrate(url)
    db.set_database_url(url)
    try:
        yield url
    finally:
        db.set_database_url(None)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
