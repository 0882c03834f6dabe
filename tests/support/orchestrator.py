"""Fixtures for the domain and API tests (helpers live in `tests.support.crew`).

Use them from a test module with `pytest_plugins = ("tests.support.orchestrator",)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from shared.config import get_settings
from tests.support.crew import Crew, make_crew


@pytest.fixture
def crew(database_url: str) -> Crew:
    """A team "Crew": Lead (tech lead), Alice (backend architect), Bob (frontend engineer), demo backend."""
    return make_crew()


@pytest.fixture
def client(database_url: str) -> Iterator[FlaskClient]:
    yield app_client()


def app_client() -> FlaskClient:
    """A test client of the whole app. A module that also sees another plugin's `client` fixture (plugins are
    global: tests.support.roles_api has one too) should define its own `client` fixture returning this."""
    from web.app import create_app  # noqa: PLC0415 - after database_url configured the environment

    app = create_app(get_settings())
    app.config.update(TESTING=True)
    return app.test_client()
