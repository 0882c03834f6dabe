"""Sessions move with their runs: an agent CLI's session transcript goes into the database after each attempt
and comes back, before a resume, to where the CLI looks for it on whichever host runs the agent next.

Why: a CLI resumes a session only from its own files — claude from `<config>/projects/<its cwd, sanitized>/`,
codex from `$CODEX_HOME/sessions/` — and each host has its own config directory and its own GAMMA_HOME (so
another cwd). Each backend says where its transcript lives for a launch (`Backend.transcript_place`); the path
below that place is the same on every host and is stored with the (zlib-compressed) content.

- `restore` (before a launch that resumes): when the database has the session and this host's copy is missing,
  or is not the stored one or a continuation of it (an older copy from an earlier visit), the stored copy is
  written there and `run.session_restored` says so. When the database has none, nothing happens: the CLI then
  reports the session unknown, and the run starts a fresh session and says so (workers/outcome.py).
- `store` (while the CLI runs, whenever the transcript changed — see the executor's `_checkpoint_loop` —, and after
  the attempt, however it ended, before its end is recorded: the agent's next run may start on another host at
  once): the transcript is stored if it changed, fenced by the attempt.

Neither ever fails a run: a transcript that cannot be moved costs the context, not the run (logged).
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg

from orchestrator.records import session_transcripts
from shared import db, events
from shared.events import Fence, NewEvent, StaleAttempt
from workers.runtime_types import Backend, LaunchSpec, TranscriptPlace

log = logging.getLogger(__name__)

# Read whole into memory to hash and compress: a transcript beyond this is not moved (a warning says so).
MAX_TRANSCRIPT_BYTES = 256 * 1024 * 1024
COMPRESSION_LEVEL = 6


@dataclass(frozen=True)
class Restored:
    path: Path
    size: int
    stored_by: str  # the host whose worker stored it
    replaced: bool  # an older copy of the session was here


class SessionTransfer:
    """One attempt's session transcript, between this host's files and the database."""

    def __init__(self, backend: Backend, spec: LaunchSpec, run: dict[str, Any], attempt: int, host: str) -> None:
        self.backend = backend
        self.spec = spec  # the CLI's own launch (before the sandbox wraps it): its cwd and environment
        self.run = run
        self.attempt = attempt
        self.host = host

    def restore(self, session_id: str) -> Restored | None:
        try:
            return self._restore(session_id)
        except psycopg.OperationalError:
            raise  # the database is away: the caller retries
        except (OSError, psycopg.Error, zlib.error, ValueError, StaleAttempt) as error:
            log.warning("could not restore session %s of run %s: %s", session_id, self.run["id"], error)
            return None

    def store(self, session_id: str) -> bool:
        try:
            return self._store(session_id)
        except psycopg.OperationalError:
            raise
        except (OSError, psycopg.Error, zlib.error, ValueError) as error:
            log.warning("could not store session %s of run %s: %s", session_id, self.run["id"], error)
            return False

    def stamp(self, session_id: str) -> tuple[int, int] | None:
        """(size, mtime) of this host's transcript of the session, None without one: changed means store again."""
        place = self._place(session_id)
        here = find(place) if place is not None else None
        if here is None:
            return None
        found = here.stat()
        return found.st_size, found.st_mtime_ns

    # ------------------------------------------------------------------------------------------------ restore

    def _restore(self, session_id: str) -> Restored | None:
        place = self._place(session_id)
        if place is None:
            return None
        with db.transaction() as conn:
            stored = session_transcripts.fingerprint(conn, self.run["agent_id"], session_id)
        if stored is None:
            return None  # never stored: the CLI says the session is unknown, and the run starts a fresh one
        here = find(place)
        if here is not None and continues(here, stored["size"], stored["sha256"]):
            return None  # this host has it (or a later state of it, if its last store failed)
        with db.transaction() as conn:
            row = session_transcripts.get(conn, self.run["agent_id"], session_id)
        if row is None:
            return None
        data = zlib.decompress(bytes(row["content"]))
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            raise ValueError("the stored transcript does not match its sha256")
        # An older copy is replaced where it is (a second file for the same session would leave the CLI choosing).
        target = here or target_of(place, row["name"])
        if target is None:
            raise ValueError(f"the stored transcript's name {row['name']!r} does not fit {place.pattern!r}")
        write_atomically(target, data)
        restored = Restored(target, len(data), row["host"], replaced=here is not None)
        with db.transaction() as conn:
            events.append(conn, [NewEvent(
                "run.session_restored", self.run["team_id"],
                {"session_id": session_id, "bytes": len(data), "path": str(target), "host": self.host,
                 "stored_by_host": row["host"], "stored_by_run": row["run_id"],
                 "stored_at": row["updated_at"].isoformat(), "replaced": restored.replaced},
                agent_id=self.run["agent_id"], task_id=self.run.get("task_id"), run_id=self.run["id"],
            )], fence=Fence(self.run["id"], self.attempt))
        log.info("run %s: restored session %s (%d bytes, stored by %s) to %s", self.run["id"], session_id,
                 len(data), row["host"], target)
        return restored

    # ------------------------------------------------------------------------------------------------ store

    def _store(self, session_id: str) -> bool:
        place = self._place(session_id)
        here = find(place) if place is not None else None
        if place is None or here is None:
            return False  # nothing to keep (a session the CLI did not know, an attempt stopped before it began)
        size = here.stat().st_size
        if size > MAX_TRANSCRIPT_BYTES:
            log.warning("session %s of run %s is %d bytes, over %d: not stored; a run on another host starts a "
                        "fresh session", session_id, self.run["id"], size, MAX_TRANSCRIPT_BYTES)
            return False
        data = here.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        with db.transaction() as conn:
            stored = session_transcripts.fingerprint(conn, self.run["agent_id"], session_id)
        if stored is not None and stored["sha256"] == digest:
            return False  # unchanged (an attempt that never reached the model, say)
        compressed = zlib.compress(data, COMPRESSION_LEVEL)
        with db.transaction() as conn:
            kept = session_transcripts.store(
                conn, run_id=self.run["id"], attempt=self.attempt, agent_id=self.run["agent_id"],
                session_id=session_id, backend=self.backend.name, name=here.relative_to(place.root).as_posix(),
                content=compressed, size=len(data), sha256=digest, host=self.host)
        if not kept:
            log.info("run %s attempt %s was superseded: its session %s is not stored", self.run["id"], self.attempt,
                     session_id)
        return kept

    def _place(self, session_id: str) -> TranscriptPlace | None:
        where = getattr(self.backend, "transcript_place", None)  # a backend stand-in may not say
        return where(session_id, self.spec) if where is not None else None


# ---------------------------------------------------------------------------------------------------- files


def find(place: TranscriptPlace) -> Path | None:
    """The session's transcript on this host (the newest, should there be several), or None."""
    if not place.root.is_dir():
        return None
    found = [path for path in place.root.glob(place.pattern) if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime_ns) if found else None


def continues(path: Path, size: int, sha256: str) -> bool:
    """Whether the file is the stored transcript or a continuation of it (transcripts grow by appended lines)."""
    if path.stat().st_size < size:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        left = size
        while left > 0:
            chunk = handle.read(min(left, 1 << 20))
            if not chunk:
                return False
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest() == sha256


def target_of(place: TranscriptPlace, name: str) -> Path | None:
    """Where a stored transcript goes below `place.root`: its stored relative path, if that is one (no escape
    upwards) and its file name fits the place's pattern."""
    relative = PurePosixPath(name)
    if relative.is_absolute() or not relative.parts or ".." in relative.parts:
        return None
    if not fnmatch.fnmatchcase(relative.name, PurePosixPath(place.pattern).name):
        return None
    return place.root.joinpath(*relative.parts)


def write_atomically(target: Path, data: bytes) -> None:
    """Write beside the target and rename: a CLI never reads half a transcript. Private, as the CLI keeps it."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.restoring")
    try:
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            handle.write(data)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
