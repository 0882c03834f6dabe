"""workers.broker's consumer: a lost connection is a connection error to Dramatiq, however psycopg2 reports it."""

from __future__ import annotations

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
