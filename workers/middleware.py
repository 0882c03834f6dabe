"""Ties a Dramatiq worker process to Gamma's worker runtime (heartbeat, reaper, control, clean shutdown)."""

from __future__ import annotations

import logging
import signal
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

log = logging.getLogger(__name__)


class GammaWorkerMiddleware(Middleware):
    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        from workers.runtime import get_runtime  # noqa: PLC0415

        runtime = get_runtime()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _first_stop_wins(signal.getsignal(signum), runtime.handed_back))
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


def _first_stop_wins(original: Any, handed_back: Any) -> Any:
    """dramatiq exits at once on a second SIGTERM, and a SIGTERM to the whole process group (systemd, honcho, a
    terminal) arrives twice: once directly, once forwarded by the dramatiq master. Exiting then would skip
    handing back the runs and leave their tool processes behind, so repeats wait until the runs are handed back.
    """
    seen = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal seen
        if seen and not handed_back.is_set():
            log.warning("already stopping: handing back the runs first")
            return
        seen = True
        if callable(original):
            original(signum, frame)

    return handler


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
