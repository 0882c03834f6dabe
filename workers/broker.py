"""The Dramatiq broker on PostgreSQL (dramatiq-pg), with deliberate settings for hour-long agent runs.

- No Retries middleware: the `runs` table decides what is re-run, never the queue.
- No TimeLimit: it cannot interrupt a thread blocked on a pipe and does nothing to the child; the executor
  enforces the run timeout itself and kills the process group.
- No Prometheus: it would open an unauthenticated port on 0.0.0.0:9191.
- No results backend: outcomes live in our own table (dramatiq-pg's results break above 8000 bytes).
"""

from __future__ import annotations

from dramatiq.middleware import AgeLimit, Callbacks, CurrentMessage, Pipelines
from dramatiq_pg import PostgresBroker
from psycopg.conninfo import conninfo_to_dict

from shared import db
from shared.config import get_settings
from shared.migrate import migrate


def broker_connection_params(url: str, maxconn: int) -> dict[str, str]:
    """dramatiq-pg takes a URL or a mapping. A URL without a host part (`postgresql:///db?host=/socket`) loses
    its database name in dramatiq-pg's urlparse round trip, so it gets the parsed parameters instead."""
    params = {key: str(value) for key, value in conninfo_to_dict(url).items()}
    params.update(maxconn=str(maxconn), minconn="0")
    return params


def make_broker() -> PostgresBroker:
    settings = get_settings()
    url = db.database_url()
    migrate(url)
    # 4 connections per declared queue (listen + consume, for the queue and its delay queue) + one per thread.
    maxconn = 4 * 1 + settings.worker_threads + 4
    from workers.middleware import GammaWorkerMiddleware  # noqa: PLC0415

    middleware = [AgeLimit(), Callbacks(), Pipelines(), CurrentMessage(), GammaWorkerMiddleware()]
    return PostgresBroker(url=broker_connection_params(url, maxconn), results=False, middleware=middleware)

