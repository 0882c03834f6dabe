"""pytest fixtures for end-to-end stacks: `pytest_plugins = ("tests.support.stack_fixtures",)` in a test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import Stack, orphans_of_ended_runs, running_stack


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Model double + real gunicorn web, shared by a module; tests start the workers they need."""
    with running_stack(database_url, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture(autouse=True)
def no_orphans(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test did, no agent process of an ended run may outlive it."""
    yield
    if "stack" in request.fixturenames:
        orphans = orphans_of_ended_runs(request.getfixturevalue("stack"))
        assert not orphans, f"agent processes outlived their runs: {orphans}"
