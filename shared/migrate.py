"""Numbered migrations (`shared/migrations/NNN_name.sql|.py`), applied in order, once, under an advisory lock."""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x67616D6D61  # "gamma"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.(sql|py)$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def apply(self, conn: psycopg.Connection) -> None:
        if self.path.suffix == ".sql":
            conn.execute(self.path.read_text())
            return
        spec = importlib.util.spec_from_file_location(f"gamma_migration_{self.version}", self.path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.apply(conn)


def available() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.iterdir()):
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), path.stem, path))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration numbers in {MIGRATIONS_DIR}")
    return found


def applied(conn: psycopg.Connection) -> set[int]:
    exists = conn.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL AS e").fetchone()
    if not _first(exists):
        return set()
    return {_first(r) for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}


def pending(conn: psycopg.Connection) -> list[Migration]:
    done = applied(conn)
    return [m for m in available() if m.version not in done]


def migrate(url: str) -> list[str]:
    """Apply every pending migration; safe when several processes start at once. Returns names applied."""
    done_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for migration in pending(conn):
                with conn.transaction():
                    migration.apply(conn)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info("applied migration %s", migration.name)
                done_now.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done_now


def _first(row: object) -> object:
    if row is None:
        return None
    if isinstance(row, dict):
        return next(iter(row.values()))
    return row[0]  # type: ignore[index]
