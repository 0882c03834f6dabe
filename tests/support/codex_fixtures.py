"""pytest fixtures for tests that run the real codex CLI: `pytest_plugins = ("tests.support.codex_fixtures",)`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings
from tests.model_double import ModelDouble
from tests.support.codex import CodexSetup, codex_bin, codex_home, scratch_codex_home
from workers.backends.codex import CodexBackend


@pytest.fixture
def codex_setup(model_double: ModelDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CodexSetup]:
    """The real codex CLI, pointed at the double through a CODEX_HOME of its own (the backend inherits it)."""
    binary = codex_bin()
    with scratch_codex_home() as home:
        yield _setup(binary, home, model_double, tmp_path, monkeypatch)


def _setup(binary: str, home: Path, model_double: ModelDouble, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> CodexSetup:
    workspace, tools = tmp_path / "workspace", tmp_path / "bin"
    for directory in (workspace, tools):
        directory.mkdir()
    for key in list(os.environ):  # a developer's own codex settings must not leak into the tests
        if key.startswith(("CODEX_", "OPENAI_")):
            monkeypatch.delenv(key)
    for key, value in codex_home(model_double.url, home).items():
        monkeypatch.setenv(key, value)
    backend = CodexBackend(Settings(codex_bin=binary))
    return CodexSetup(model_double, backend, workspace, tools, home, monkeypatch)
