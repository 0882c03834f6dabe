"""Test fixtures: a real PostgreSQL database per test session (never mocked).

Server: $GAMMA_TEST_DATABASE_URL (an admin URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres) when set,
otherwise the embedded server (pgserver) under .gamma-test/pg. Each session creates its own database and drops
it at the end, so several sessions can run side by side.

Marker `slow`: tests that start real processes (gunicorn, Dramatiq workers, agent CLIs, a browser, any
subprocess). `make test-fast` leaves them out (`-m "not slow"`); `make test` runs everything. A test is slow when
it carries the mark (a test that starts processes itself must), is marked `cli` or `browser`, or uses one of
PROCESS_FIXTURES (`pytest_collection_modifyitems` below).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

# The helpers' asserts explain their failures too; test modules import some of them before pytest would.
pytest.register_assert_rewrite("tests.support", "tests.model_double")

from shared import db  # noqa: E402
from tests.model_double import ModelDouble  # noqa: E402
from tests.support import factories  # noqa: E402
from tests.support.databases import scratch_database  # noqa: E402

# Fixtures that start real processes: a model double and gunicorn (`stack`), the claude/codex CLIs' setups.
PROCESS_FIXTURES = frozenset({"stack", "claude_setup", "codex_setup"})
# Markers that mean real processes: an agent CLI, chromium.
PROCESS_MARKERS = ("cli", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        uses = PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if uses or any(item.get_closest_marker(name) for name in PROCESS_MARKERS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    os.environ["GAMMA_HOME"] = str(tmp_path_factory.mktemp("gamma-home"))
    with scratch_database("gamma_t", os.environ.get("GAMMA_TEST_DATABASE_URL")) as url:
        yield url


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection with dict rows."""
    with db.connect(autocommit=True) as connection:
        yield connection


@pytest.fixture
def team(database_url: str) -> dict:
    return factories.create_team()


@pytest.fixture
def model_double() -> Iterator[ModelDouble]:
    """The model double (Messages and Responses APIs) in a thread of the test process."""
    with ModelDouble() as double:
        yield double
