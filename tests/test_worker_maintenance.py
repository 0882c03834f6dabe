"""The worker's maintenance loop through database trouble: a pass cut off by the database going away (a restart,
a dropped connection) is expected and retried by the next pass, so it says so in a warning; anything else is a
bug and is logged with its traceback. The loop lives on either way."""

from __future__ import annotations

import logging

import psycopg
import pytest

from workers.runtime import WorkerRuntime


def test_a_pass_cut_off_by_the_database_is_a_warning_and_a_bug_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    runtime = WorkerRuntime()
    runtime.settings = runtime.settings.model_copy(update={"reaper_interval": 0.01})
    outcomes = [psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
                RuntimeError("a bug"), None]
    passes = []

    def maintain_once(*, purge: bool = False) -> None:
        passes.append(purge)
        outcome = outcomes.pop(0)
        if outcome is None:
            runtime._stopped.set()
            return
        raise outcome

    monkeypatch.setattr(runtime, "maintain_once", maintain_once)
    with caplog.at_level(logging.WARNING, logger="workers.runtime"):
        runtime._maintenance_loop()
    assert len(passes) == 3  # it went on after each
    records = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert records == [
        ("WARNING", "worker maintenance: the database is unreachable (terminating connection due to administrator "
                    "command); the next pass retries", False),
        ("ERROR", "worker maintenance failed", True),
    ]
