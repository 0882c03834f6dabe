"""workers.broker's consumer: a lost connection is a connection error to Dramatiq, however psycopg2 reports it."""

from __future__ import annotations

import time

import psycopg2
import pytest
from dramatiq.errors import ConnectionError as BrokerConnectionError
from dramatiq_pg.broker import PostgresConsumer

from shared.run_queue import QUEUE_NAME
from workers.broker import GammaBroker, broker_connection_params


def test_connection_already_closed_is_a_connection_error(database_url: str, monkeypatch) -> None:
    # dramatiq-pg reads the pending messages in a transaction; when the server went away in the middle of it,
    # leaving the transaction raises InterfaceError, which dramatiq would log as "an unexpected error".
    def server_gone(self):  # noqa: ANN001, ANN202
        raise psycopg2.InterfaceError("connection already closed")

    monkeypatch.setattr(PostgresConsumer, "fetch_pending_notifies", server_gone)
    broker = GammaBroker(url=broker_connection_params(database_url, maxconn=2), results=False, middleware=[])
    broker.declare_queue(QUEUE_NAME)
    consumer = broker.consume(QUEUE_NAME, prefetch=1, timeout=100)
    try:
        with pytest.raises(BrokerConnectionError, match="connection already closed"):
            next(consumer)
    finally:
        consumer.close()
        broker.close()


def test_an_idle_consumer_waits_its_timeout_for_a_notification_below_a_second_too(database_url: str) -> None:
    # dramatiq-pg rounds Dramatiq's timeout down to whole seconds: 200 ms became 0 s, and an idle worker process
    # asked the server again and again at a full core. A lower bound only: a slow machine just waits longer.
    broker = GammaBroker(url=broker_connection_params(database_url, maxconn=2), results=False, middleware=[])
    broker.declare_queue("idle_consumer_test")
    consumer = broker.consume("idle_consumer_test", prefetch=1, timeout=300)
    try:
        next(consumer)  # the first call opens the connection and reads what was pending: nothing
        started = time.monotonic()
        for _ in range(3):
            assert next(consumer) is None
        assert time.monotonic() - started >= 3 * 0.3 * 0.95
    finally:
        consumer.close()
        broker.close()
