"""Dramatiq actors. `gamma worker` runs them in its worker processes (workers/main.py)."""

from __future__ import annotations

import dramatiq

from shared.logging import configure_logging
from shared.run_queue import ACTOR_NAME, CHECK_ACTOR_NAME, QUEUE_NAME
from workers.broker import make_broker

configure_logging()
broker = make_broker()
dramatiq.set_broker(broker)  # before any actor is declared


@dramatiq.actor(actor_name=ACTOR_NAME, queue_name=QUEUE_NAME)
def execute_run(run_id: str) -> None:
    from workers.executor import execute_run as execute  # noqa: PLC0415
    from workers.runtime import get_runtime  # noqa: PLC0415

    execute(run_id, get_runtime())


@dramatiq.actor(actor_name=CHECK_ACTOR_NAME, queue_name=QUEUE_NAME)
def verify_merge(check_id: str) -> None:
    from workers.merge_check import run_check  # noqa: PLC0415
    from workers.runtime import get_runtime  # noqa: PLC0415

    run_check(check_id, get_runtime())
