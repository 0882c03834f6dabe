"""Ties a Dramatiq worker process to Gamma's worker runtime (heartbeat, reaper, control, clean shutdown)."""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.middleware import Middleware

log = logging.getLogger(__name__)


class GammaWorkerMiddleware(Middleware):
    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        from workers.runtime import get_runtime  # noqa: PLC0415

        get_runtime()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        from workers.runtime import current_runtime  # noqa: PLC0415

        runtime = current_runtime()
        if runtime is not None:
            log.info("worker shutting down: handing back %d run(s)", runtime.busy())
            runtime.shutdown()
