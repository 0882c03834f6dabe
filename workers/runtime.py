"""Per worker process: its identity, the runs it executes, and its background duties.

- heartbeat: a `workers` row renewed every reaper interval (health, doctor);
- reaper: re-queues or ends runs whose lease expired (a killed worker), within lease + interval seconds,
  without waiting for dramatiq-pg's random rescan, and re-sends queued runs whose message was not taken;
- control: one LISTEN connection on `gamma_control`, so a cancel reaches the run's process on any host;
- pulse: every half second a heartbeat to each attempt's supervisor, which ends the attempt when they stop
  (this process died or froze), before the reaper can hand the run to another attempt;
- spares: attempt supervisors started ahead while runs come in (workers/spare_supervisors.py), let go when idle.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Protocol

import psutil
import psycopg
from psycopg.types.json import Jsonb

from orchestrator.records import runs
from orchestrator.workflows import run_lifecycle, work_product
from shared import db, host_checks, run_queue
from shared.config import get_settings
from shared.ids import new_id
from workers import cli_status, process
from workers.spare_supervisors import SpareSupervisors

log = logging.getLogger(__name__)

PULSE_SECONDS = 0.5
PURGE_EVERY_PASSES = 120  # the queue's acked messages: deleted about every ten minutes…
PURGE_AFTER_SECONDS = 3600  # …once they are an hour old


class ActiveRun(Protocol):
    run_id: str

    def cancel(self) -> None: ...

    def hand_back(self) -> None: ...

    def wait_done(self, timeout: float) -> bool: ...

    def beat(self) -> None: ...


class WorkerRuntime:
    def __init__(self) -> None:
        self.settings = get_settings()
        self.host = socket.gethostname()
        self.worker_id = f"{self.host}:{os.getpid()}:{new_id('run')[-8:]}"
        self.shutting_down = threading.Event()
        self._stopped = threading.Event()
        self._active: dict[str, ActiveRun] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.spares = SpareSupervisors(heartbeat_timeout=self.settings.heartbeat_timeout,
                                       grace=self.settings.kill_grace)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        sandboxed, sandbox_note = host_checks.sandbox_status(self.settings)
        if not sandboxed:
            log.warning("agent sandbox: %s", sandbox_note)
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO workers (id, host, pid, threads, version, sandbox, machine_id, worker_labels)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (self.worker_id, self.host, os.getpid(), self.settings.worker_threads, "gamma",
                 sandbox_note if sandboxed else f"NONE: {sandbox_note}", host_checks.machine_id(),
                 self.settings.worker_label_list),
            )
        for target, name in ((self._maintenance_loop, "gamma-reaper"), (self._control_loop, "gamma-control"),
                             (self._pulse_loop, "gamma-pulse"), (self._report_clis, "gamma-clis")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("worker %s started (worker labels: %s)", self.worker_id,
                 ", ".join(self.settings.worker_label_list) or "none")

    def shutdown(self) -> None:
        """Stop taking runs, hand back the ones in flight (their CLI killed), leave no process behind."""
        self.shutting_down.set()
        self.spares.close()
        with self._lock:
            active = list(self._active.values())
        for run in active:
            run.hand_back()
        deadline = time.monotonic() + self.settings.kill_grace + 3
        for run in active:
            run.wait_done(max(0.1, deadline - time.monotonic()))
        self._stopped.set()
        try:
            with db.transaction() as conn:
                conn.execute("UPDATE workers SET stopped_at = now(), busy = 0 WHERE id = %s", (self.worker_id,))
        except psycopg.Error as error:
            log.warning("could not mark worker stopped: %s", error)

    # ------------------------------------------------------------------ active runs

    def register(self, run: ActiveRun) -> None:
        with self._lock:
            self._active[run.run_id] = run

    def unregister(self, run_id: str) -> None:
        with self._lock:
            self._active.pop(run_id, None)

    def busy(self) -> int:
        with self._lock:
            return len(self._active)

    def _cancel_local(self, run_id: str) -> None:
        with self._lock:
            run = self._active.get(run_id)
        if run is not None:
            run.cancel()

    # ------------------------------------------------------------------ background loops

    def _report_clis(self) -> None:
        """What this host's agent CLIs are (the health report shows it). Asked after the worker registered:
        a CLI that is slow to answer `--version` must not delay taking runs."""
        try:
            found = [status.as_dict() for status in cli_status.statuses()]
            with db.transaction() as conn:
                conn.execute("UPDATE workers SET clis = %s WHERE id = %s", (Jsonb(found), self.worker_id))
        except Exception:  # informational only: never let it take the worker down
            log.exception("could not record this host's agent CLIs")

    def _maintenance_loop(self) -> None:
        """A first pass at once (a fresh worker re-sends what a stopping one left without a message), then one
        every reaper interval."""
        interval = self.settings.reaper_interval
        passes = 0
        while True:
            try:
                self.maintain_once(purge=passes % PURGE_EVERY_PASSES == 0)
            except psycopg.OperationalError as error:
                # The database went away mid-pass (a restart, a dropped connection): expected, and the next pass
                # does it all again, so it is no error with a traceback.
                log.warning("worker maintenance: the database is unreachable (%s); the next pass retries",
                            str(error).strip())
            except Exception:  # anything else is a bug; the loop stays alive
                log.exception("worker maintenance failed")
            passes += 1
            if self._stopped.wait(interval):
                return

    def _pulse_loop(self) -> None:
        while not self._stopped.wait(PULSE_SECONDS):
            with self._lock:
                active = list(self._active.values())
            for run in active:
                run.beat()
            self.spares.expire()

    def maintain_once(self, *, purge: bool = False) -> None:
        with db.transaction() as conn:
            conn.execute(
                "UPDATE workers SET heartbeat_at = now(), busy = %s WHERE id = %s", (self.busy(), self.worker_id)
            )
            conn.execute(
                "UPDATE workers SET stopped_at = now() WHERE stopped_at IS NULL"
                " AND heartbeat_at < now() - make_interval(secs => %s)",
                (max(60.0, self.settings.lease_seconds * 2),),
            )
        # Reap first: a run taken from a dead attempt is no longer current, so the sweep below ends what is left
        # of that attempt on this host (its supervisor normally has already).
        with db.transaction() as conn:
            reaped = run_lifecycle.reap(conn, dead_workers=self._dead_siblings(conn),
                                        margin=self.settings.takeover_margin)
        if reaped:
            log.warning("reaped %d run(s) with expired leases: %s", len(reaped), [r["id"] for r in reaped])
        self.sweep_orphans()
        if not self.shutting_down.is_set():
            with db.transaction() as conn:
                runs.redispatch_stale(conn)
                runs.note_placement(conn)  # a labelled worker may have gone (or come) since the runs were sent
                revived = work_product.revive_checks(conn)
            if revived:
                log.warning("queued %d merge check(s) again (their worker or message was lost): %s", len(revived),
                            revived)
        if purge:
            with db.transaction() as conn:
                run_queue.purge_finished(conn, older_than_seconds=PURGE_AFTER_SECONDS)

    def _dead_siblings(self, conn: psycopg.Connection) -> list[str]:
        """Worker processes of this machine that died (a crash, SIGKILL) and left no process of their attempts
        behind: their runs need not wait for their leases to expire. Marked stopped here."""
        rows = conn.execute(
            "SELECT id, pid, started_at FROM workers WHERE machine_id = %s AND stopped_at IS NULL AND id <> %s",
            (host_checks.machine_id(), self.worker_id),
        ).fetchall()
        dead = [row["id"] for row in rows if not _process_alive_since(row["pid"], row["started_at"].timestamp())]
        if not dead:
            return []
        left = {marker[2] for _, marker in process.marked_processes()}
        gone = [worker_id for worker_id in dead if worker_id not in left]  # else: next pass, or the lease
        if gone:
            conn.execute("UPDATE workers SET stopped_at = now(), busy = 0 WHERE id = ANY(%s)", (gone,))
            log.warning("worker process(es) %s died; taking their runs back", gone)
        return gone

    def sweep_orphans(self) -> list[int]:
        """Kill local agent processes whose attempt no longer owns its run (e.g. left by a killed worker)."""
        with self._lock:
            local = {(run.run_id, getattr(run, "attempt", -1)) for run in self._active.values()}
        cache: dict[str, int | None] = {}
        ours: dict[str, bool] = {}

        def is_current(run_id: str, attempt: int, worker_id: str) -> bool | None:
            if (run_id, attempt) in local:
                return True
            with db.transaction() as conn:
                if worker_id not in ours:
                    known = conn.execute("SELECT 1 FROM workers WHERE id = %s", (worker_id,)).fetchone()
                    ours[worker_id] = known is not None
                if not ours[worker_id]:
                    return None  # started by a worker of another database: not ours to judge
                if run_id not in cache:
                    cache[run_id] = runs.current_attempt(conn, run_id)
            # Another worker on this host may own it: only its exact attempt, while its lease holds, is left alone.
            return cache[run_id] == attempt

        killed = process.sweep_orphans(is_current)
        if killed:
            log.warning("killed %d orphaned agent process group(s): %s", len(killed), killed)
        return killed

    def _control_loop(self) -> None:
        backoff = 0.5
        while not self._stopped.is_set():
            try:
                with db.connect(autocommit=True, application_name="gamma-control") as conn:
                    conn.execute(f"LISTEN {runs.CONTROL_CHANNEL}")
                    backoff = 0.5
                    self._catch_up_cancels(conn)
                    # notifies() returns after each timeout; loop again on the same connection
                    while not self._stopped.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._on_control(note.payload)
            except psycopg.Error as error:
                log.warning("control listener lost its connection (%s); reconnecting", error)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _catch_up_cancels(self, conn: psycopg.Connection) -> None:
        """Notifications sent while we were not listening are lost; ask the table instead."""
        with self._lock:
            ids = list(self._active)
        if not ids:
            return
        for run_id in runs.cancel_requested_among(conn, ids):
            self._cancel_local(run_id)

    def _on_control(self, payload: str) -> None:
        action, _, run_id = payload.partition(":")
        if action == "cancel":
            self._cancel_local(run_id)


def _process_alive_since(pid: int, registered_at: float) -> bool:
    """Whether `pid` is still the process that registered at `registered_at` (a reused pid is younger)."""
    try:
        return psutil.Process(pid).create_time() <= registered_at + 1.0
    except psutil.Error:
        return False


_runtime: WorkerRuntime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> WorkerRuntime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = WorkerRuntime()
            _runtime.start()
        return _runtime


def current_runtime() -> WorkerRuntime | None:
    return _runtime
