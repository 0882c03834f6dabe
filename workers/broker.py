"""The Dramatiq broker on PostgreSQL (dramatiq-pg), with deliberate settings for hour-long agent runs.

- No Retries middleware: the `runs` table decides what is re-run, never the queue.
- No TimeLimit: it cannot interrupt a thread blocked on a pipe and does nothing to the child; the executor
  enforces the run timeout itself and kills the process group.
- No Prometheus: it would open an unauthenticated port on 0.0.0.0:9191.
- No results backend: outcomes live in our own table (dramatiq-pg's results break above 8000 bytes).
- A consumer that forgives acks it does not know (see `_Consumer`).
- No delay queues: nothing of Gamma sends a delayed message (no Retries, no `send_with_options(delay=…)`), and
  each delay queue would cost its consumer thread and two idle database connections per worker process.
- The run queues of this worker's labels (GAMMA_WORKER_LABELS, see `make_broker`).
"""

from __future__ import annotations

import psycopg2
from dramatiq.errors import ConnectionError as BrokerConnectionError
from dramatiq.middleware import AgeLimit, Callbacks, CurrentMessage, Pipelines
from dramatiq_pg import PostgresBroker
from dramatiq_pg.broker import PostgresConsumer
from psycopg.conninfo import conninfo_to_dict

from shared import db
from shared.config import get_settings
from shared.migrate import migrate
from shared.run_queue import queues_of_worker


def broker_connection_params(url: str, maxconn: int) -> dict[str, str]:
    """dramatiq-pg takes a URL or a mapping. A URL without a host part (`postgresql:///db?host=/socket`) loses
    its database name in dramatiq-pg's urlparse round trip, so it gets the parsed parameters instead."""
    params = {key: str(value) for key, value in conninfo_to_dict(url).items()}
    params.update(maxconn=str(maxconn), minconn="0")
    return params


class _Consumer(PostgresConsumer):
    """dramatiq-pg 0.12's consumer, tolerant of acks for messages it did not consume itself, on one connection.

    After a connection error (a PostgreSQL restart) dramatiq replaces the queue's consumer with a new one, and
    the messages still being processed are acked through the new one, whose `in_processing` set never held
    them: dramatiq-pg's `ack` then raises KeyError after its SQL committed, and dramatiq logs "You've found a bug
    in Dramatiq". The ack itself is right (the message is done), so the id is registered before acking.

    One connection per queue, not two: the LISTEN connection (autocommit) also claims messages, unlocks them
    and requeues them — dramatiq-pg itself already reads the pending messages on it, its claims are single
    statements, and its advisory locks are taken and released on this one session. A NOTIFY that arrives while
    it claims waits in `conn.notifies`, and is taken at once (`poll_for_notify`), not after a second's select.

    It waits for a notification as long as Dramatiq asks (`timeout`, in milliseconds), fractions of a second too.

    A connection lost under it is a connection error, whichever way psycopg2 says so: dramatiq-pg turns only
    OperationalError into one, and "connection already closed" (InterfaceError, when the server went away in the
    middle of its transaction) would otherwise be logged by dramatiq as an unexpected error, with a traceback.
    """

    def __init__(self, *, timeout: int, **kwargs: object) -> None:
        super().__init__(timeout=timeout, **kwargs)
        # dramatiq-pg keeps whole seconds (`timeout // 1000`): Dramatiq's timeout below one second would make it
        # wait 0 s for a notification, and the idle consumer spin at a full core.
        self.timeout = timeout / 1000

    def __next__(self):  # noqa: ANN204 - dramatiq's signature
        try:
            return super().__next__()
        except psycopg2.InterfaceError as error:
            raise BrokerConnectionError(str(error)) from error

    def get_consume_conn(self):  # noqa: ANN201 - dramatiq-pg's signature
        return self.get_listen_conn()

    def poll_for_notify(self) -> None:
        conn = self.get_listen_conn()
        if conn.notifies:
            self.notifies += conn.notifies[:]
            conn.notifies[:] = []
            return
        super().poll_for_notify()

    def auto_purge(self) -> None:
        """Nothing: the workers' maintenance purges finished messages (`run_queue.purge_finished`). dramatiq-pg's
        random purge would run on the consume connection, which this consumer never opens."""

    def ack(self, message):  # noqa: ANN001 - dramatiq's signature
        self.in_processing.add(message.message_id)
        super().ack(message)

    def nack(self, message):  # noqa: ANN001
        self.in_processing.add(message.message_id)
        super().nack(message)


class GammaBroker(PostgresBroker):
    def consume(self, queue_name, prefetch=1, timeout=30000):  # noqa: ANN001 - dramatiq's signature
        return _Consumer(pool=self.pool, queue_name=queue_name, prefetch=prefetch, timeout=timeout)

    def declare_queue(self, queue_name):  # noqa: ANN001 - dramatiq's signature
        """The queue only, without its delay queue (see the module's docstring)."""
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues[queue_name] = True
            self.emit_after("declare_queue", queue_name)

    def enqueue(self, message, *, delay=None):  # noqa: ANN001 - dramatiq's signature
        if delay:
            raise ValueError("Gamma's queues have no delay queue: a delayed message would never be consumed")
        return super().enqueue(message)


def make_broker() -> PostgresBroker:
    """The broker, with the run queues this worker consumes declared: `gamma_runs` and, for a worker with labels,
    the queue of every non-empty subset of them (shared/run_queue.py). The actors name `gamma_runs`; dramatiq
    hands a message of any declared queue to the actor it names."""
    settings = get_settings()
    url = db.database_url()
    migrate(url)
    queues = queues_of_worker(settings.worker_label_list)  # 1 without labels: as cheap as a worker can be
    # 1 connection per declared queue (listen and consume) + one per thread (acks), + 4 to spare.
    maxconn = len(queues) + settings.worker_threads + 4
    from workers.middleware import GammaWorkerMiddleware  # noqa: PLC0415

    middleware = [AgeLimit(), Callbacks(), Pipelines(), CurrentMessage(), GammaWorkerMiddleware()]
    broker = GammaBroker(url=broker_connection_params(url, maxconn), results=False, middleware=middleware)
    for queue_name in queues:
        broker.declare_queue(queue_name)
    return broker

