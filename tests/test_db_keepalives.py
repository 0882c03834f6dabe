"""Every database connection Gamma opens sends TCP keepalives (shared/db.py), so one that a NAT or firewall between
hosts dropped in silence is noticed in about a minute, not hours; what DATABASE_URL sets itself wins."""

from __future__ import annotations

from psycopg.conninfo import make_conninfo

from shared import db


def test_dedicated_and_pooled_connections_send_keepalives(database_url: str) -> None:
    with db.connect() as conn:
        given = conn.info.get_parameters()
    assert {key: given.get(key) for key in db.KEEPALIVES} == db.KEEPALIVES
    with db.pool().connection() as conn:
        pooled = conn.info.get_parameters()
    assert {key: pooled.get(key) for key in db.KEEPALIVES} == db.KEEPALIVES


def test_what_the_url_sets_wins(database_url: str) -> None:
    db.set_database_url(make_conninfo(database_url, keepalives_idle="7"))
    try:
        with db.connect() as conn:
            given = conn.info.get_parameters()
        assert given["keepalives_idle"] == "7" and given["keepalives_count"] == db.KEEPALIVES["keepalives_count"]
    finally:
        db.set_database_url(database_url)
