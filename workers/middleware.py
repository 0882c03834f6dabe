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
        _warm_up()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        """Messages this worker had prefetched went back to the queue silently: tell the other workers."""
        from shared import db, run_queue  # noqa: PLC0415

        try:
            with db.transaction() as conn:
                run_queue.renotify_waiting(conn)
        except Exception as error:  # the database may be gone already; the reaper re-sends them later
            log.warning("could not announce the messages handed back to the queue: %s", error)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        from workers.runtime import current_runtime  # noqa: PLC0415

        runtime = current_runtime()
        if runtime is not None:
            log.info("worker shutting down: handing back %d run(s)", runtime.busy())
            runtime.shutdown()


def _warm_up() -> None:
    """Pay one-time costs at boot, not on the first run: imports, the role library, the CLI's version."""
    from orchestrator.library.roles import get_library  # noqa: PLC0415
    from workers import executor  # noqa: F401, PLC0415
    from workers.agent_tools import tools_bin_dir  # noqa: PLC0415
    from workers.backend_registry import NAMES, get_backend  # noqa: PLC0415

    get_library()
    tools_bin_dir()
    for name in NAMES:
        get_backend(name).version()
