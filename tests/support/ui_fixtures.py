"""Fixtures of the browser tests: a real gunicorn (demo backend) and one Chromium per module, a fresh page per
test. Use with `pytest_plugins = ("tests.support.ui_fixtures",)`; a module that needs another server defines its
own `web`, which wins over this one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.processes import Web, start_web
from tests.support.ui import launch_browser, open_page, require_chromium

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def web(database_url: str) -> Iterator[Web]:
    require_chromium()  # fail (CI) or skip before starting anything
    with start_web(database_url, extra_env={"GAMMA_BACKEND": "demo"}) as server:
        yield server


@pytest.fixture(scope="module")
def browser(web: Web) -> Iterator[Any]:
    with launch_browser(require_chromium()) as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    from playwright.sync_api import expect  # noqa: PLC0415

    # Assertions wait as long as actions do: `expect`'s own default of 5 s failed a clean-clone run on a machine
    # busy enough that the dashboard's ~700 teams took longer to reload (these are waits, not limits).
    expect.set_options(timeout=TIMEOUT_MS)
    with open_page(browser) as (opened, errors):
        opened.set_default_timeout(TIMEOUT_MS)
        yield opened, errors


def real_errors(errors: list[str]) -> list[str]:
    """Console errors that mean a bug. A WebSocket that had to retry (a busy CI machine) is expected behaviour:
    the stream reconnects and resumes, which the assertions on live events check anyway."""
    return [e for e in errors if "WebSocket connection to" not in e]
