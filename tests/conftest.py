"""Test fixtures: a real PostgreSQL database per test session (never mocked).

Server: $GAMMA_TEST_DATABASE_URL (an admin URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres) when set,
otherwise the embedded server (pgserver) under .gamma-test/pg. Each session creates its own database and drops
it at the end, so several sessions can run side by side.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from shared import db
from shared.config import reset_settings_cache
from shared.migrate import migrate
from tests.support import factories

REPO = Path(__file__).resolve().parent.parent
TEST_HOME = REPO / ".gamma-test"


def _server_url() -> str:
    url = os.environ.get("GAMMA_TEST_DATABASE_URL")
    if url:
        return url
    from shared.embedded_pg import ensure_running

    return ensure_running(TEST_HOME / "pg")


def _with_database(url: str, name: str) -> str:
    conninfo = psycopg.conninfo.conninfo_to_dict(url)
    conninfo["dbname"] = name
    return psycopg.conninfo.make_conninfo(**conninfo)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    admin_url = _server_url()
    name = f"gamma_t_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(admin_url, name)
    home = tmp_path_factory.mktemp("gamma-home")
    os.environ["DATABASE_URL"] = url
    os.environ["GAMMA_HOME"] = str(home)
    reset_settings_cache()
    migrate(url)
    db.set_database_url(url)
    yield url
    db.set_database_url(None)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection with dict rows."""
    with db.connect(autocommit=True) as connection:
        yield connection


@pytest.fixture
def team(database_url: str) -> dict:
    return factories.create_team()
