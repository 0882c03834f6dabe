"""The dramatiq-pg broker schema. Its own `init` is not idempotent, so it is created here, once."""

import psycopg
from dramatiq_pg.schema import generate_init_sql


def apply(conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT to_regclass('dramatiq.queue') AS queue").fetchone()
    exists = row["queue"] if isinstance(row, dict) else row[0]
    if exists is None:
        conn.execute(generate_init_sql())
