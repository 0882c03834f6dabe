"""Execute one claimed attempt of a run: spawn the agent CLI, stream its output, supervise it, record the end.

Supervision (one thread per run): renew the lease every lease/3 seconds — a worker that cannot renew kills its
own CLI, because another worker may have taken the run over; enforce the run timeout; reap a CLI that lingers
after its `result` line; act on cancel requests (NOTIFY via the runtime, or seen while renewing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from orchestrator.domain import Outbox
from orchestrator.records import agents, runs, tasks, teams, workspaces
from orchestrator.workflows import conversation, run_lifecycle, work_product
from shared import db, events, git
from shared.config import get_settings
from shared.events import Fence, NewEvent
from shared.safe_text import decode_output, storable
from workers import repo_sync, sandbox, session_transfer
from workers.agent_tools import tools_bin_dir
from workers.backend_registry import get_backend
from workers.outcome import classify
from workers.process import AgentProcess
from workers.runtime import WorkerRuntime
from workers.runtime_types import Backend, LaunchError, Outcome, RunContext, RunSummary

log = logging.getLogger(__name__)
T = TypeVar("T")

# Past this share of the lease without a renewal the attempt stops itself; the reaper waits for the whole lease
# plus a margin, so the two can never overlap.
FENCE_FRACTION = 0.8
STDERR_TAIL_LINES = 200
STDERR_TAIL_CHARS = 8000


def execute_run(run_id: str, runtime: WorkerRuntime) -> None:
    if runtime.shutting_down.is_set():
        return  # the message is acked; the reaper re-sends queued runs nobody took
    settings = get_settings()
    with db.transaction() as conn:
        run, token_or_reason = runs.claim(
            conn, run_id, owner=runtime.worker_id, host=runtime.host, lease_seconds=settings.lease_seconds
        )
        # where the team's repository lives, read now: on its own host (the common case) nothing needs bringing
        home = run is not None and repo_sync.is_home(teams.get(conn, run["team_id"]))
    if run is None:
        log.debug("run %s not claimed: %s", run_id, token_or_reason)
        return
    assert token_or_reason is not None
    RunAttempt(run, token_or_reason, runtime, repository_is_here=home).execute()


@dataclass
class _Flags:
    cancelled: bool = False
    handed_back: bool = False
    timed_out: bool = False
    timed_out_before_result: bool = False
    lease_lost: bool = False
    lingered: bool = False


class RunAttempt:
    def __init__(self, run: dict[str, Any], token: str, runtime: WorkerRuntime, *,
                 repository_is_here: bool) -> None:
        self.run = run
        self._repository_is_here = repository_is_here  # known at the claim: nothing to bring
        self.run_id: str = run["id"]
        self.attempt: int = run["attempt"]
        self.token = token
        self.runtime = runtime
        self.settings = get_settings()
        self.flags = _Flags()
        self.process: AgentProcess | None = None
        self.result_seen_at: float | None = None
        self._done = threading.Event()
        self._stop_supervising = threading.Event()
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._resumed_session: str | None = None
        self._last_renewed = time.monotonic()
        self._is_lead = False
        self._answer: list[str] = []  # the lead's text blocks so far: its chat answer grows with them
        self._place: work_product.RunPlace | None = None  # where the run works on the project
        self._live_session: str | None = None  # the session the CLI announced
        self._remote: repo_sync.Remote | None = None  # on another host than the web: where its branch goes back
        self._sessions: session_transfer.SessionTransfer | None = None  # the CLI's session, to and from the database

    # -------------------------------------------------------------------- ActiveRun protocol

    def cancel(self) -> None:
        self.flags.cancelled = True
        self._stop_process("cancelled")

    def hand_back(self) -> None:
        self.flags.handed_back = True
        self._stop_process("worker shutting down")

    def wait_done(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def beat(self) -> None:
        if self.process is not None:
            self.process.beat()

    # -------------------------------------------------------------------- the attempt

    def execute(self) -> None:
        self.runtime.register(self)
        try:
            # A cancel committed before we registered found no one to tell: ask the table (one after it
            # reaches us through the runtime's NOTIFY listener).
            if self._retrying("check for a cancel", self._cancel_requested):
                self.flags.cancelled = True
            self._execute()
        except psycopg.OperationalError as error:
            # The database stayed away longer than we wait for it: nothing is recorded, and the reaper takes the
            # run back once its lease expires (the process, if any, is stopped by the lease deadline).
            log.warning("run %s attempt %s gave up on the database: %s", self.run_id, self.attempt, error)
            if self.process is not None:
                self.process.stop(f"the database is unreachable ({error})", self.settings.kill_grace)
        except Exception as error:
            log.exception("run %s attempt %s crashed", self.run_id, self.attempt)
            self._keep_session(None)
            self._finish(Outcome("cli_error", "failed", f"internal error in the worker: {error}"), RunSummary())
        finally:
            self._stop_supervising.set()
            self.runtime.unregister(self.run_id)
            self._done.set()

    def _execute(self) -> None:
        # Supervise from the claim on: preparing and launching can be slow, and the lease must not lapse meanwhile.
        supervisor = threading.Thread(target=self._supervise, name=f"supervise-{self.run_id}", daemon=True)
        supervisor.start()
        backend = get_backend(self.run["backend"])
        try:
            if self.flags.cancelled:
                raise LaunchError("cancelled", "cancelled before it started")
            self._remote = self._retrying("bring the team's repository", self._bring)
            ctx = self._retrying("prepare the run", self._prepare)
            assert self._place is not None
            spec = backend.launch_spec(ctx)
            self._sessions = sessions = session_transfer.SessionTransfer(backend, spec, self.run, self.attempt,
                                                                         self.runtime.host)
            if ctx.session_id:  # brought to this host if it lacks it; before the sandbox binds the CLI's state dirs
                self._retrying("restore the session", lambda: sessions.restore(ctx.session_id or ""))
            spec.env.update(GAMMA_RUN_ID=self.run_id, GAMMA_RUN_ATTEMPT=str(self.attempt),
                            GAMMA_WORKER_ID=self.runtime.worker_id, GAMMA_PROJECT_DIR=str(self._place.project))
            # the agent's own commits (a merge it resolves) carry its name, as Gamma's commits of its work do
            name, email = work_product.author_of({"name": ctx.agent_name, "id": ctx.agent_id})
            spec.env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name,
                            GIT_COMMITTER_EMAIL=email)
            if self._remote is not None:
                spec.env.update(repo_sync.run_environment(self._remote))
            spec, sandbox_warning = sandbox.wrap(spec, self.settings, team_dir=workspaces.team_dir(ctx.team_id),
                                                 tools_dir=ctx.tools_bin_dir, read_only=self._place.read_only,
                                                 writable=self._place.writable)
        except LaunchError as error:
            # A spent budget is no failure: the run waits in the queue until the budget is raised.
            state = {"cancelled": "cancelled", "budget_exceeded": "queued"}.get(error.outcome, "failed")
            self._finish(Outcome(error.outcome, state, error.message), RunSummary())
            return
        writer = events.BatchWriter(fence=Fence(self.run_id, self.attempt), on_stale=self._on_stale)
        try:
            self.process = AgentProcess(spec, heartbeat_timeout=self.settings.heartbeat_timeout,
                                        grace=self.settings.kill_grace, spare=self.runtime.spares.take())
            self.runtime.spares.replenish()
            if self.flags.cancelled or self.flags.handed_back or self.flags.lease_lost or self.flags.timed_out:
                self.process.stop_async("stopped while it was being launched", self.settings.kill_grace)
            self._retrying("record the start", lambda: self._started(backend.version(), ctx, sandbox_warning))
            parser = backend.new_parser()
            stderr_reader = threading.Thread(target=self._read_stderr, args=(writer,), daemon=True)
            stderr_reader.start()
            assert self.process.popen.stdout is not None
            session_recorded = False
            for line_no, raw in enumerate(self.process.popen.stdout, start=1):
                line = decode_output(raw.rstrip(b"\n"))
                writer.add_raw("stdout", line_no, line)
                for parsed in parser.feed(line):
                    writer.add(NewEvent(parsed.kind, self.run["team_id"], parsed.payload,
                                        agent_id=self.run["agent_id"], task_id=self.run["task_id"],
                                        run_id=self.run_id))
                    if self._is_lead and parsed.kind == "agent.text":
                        self._grow_answer(str(parsed.payload.get("text") or ""))
                if parser.summary.session_id and not session_recorded:
                    self._live_session = parser.summary.session_id
                    session_recorded = self._record_session(parser.summary.session_id)
                if parser.summary.result_seen and self.result_seen_at is None:
                    self.result_seen_at = time.monotonic()
            exit_code = self.process.popen.wait()
            stderr_reader.join(timeout=5)
            self.process.kill_leftovers()
            writer.flush(timeout=30)
        finally:
            self._stop_supervising.set()
            writer.close(timeout=30)
            if self.process is not None:
                self.process.close()
        if self.flags.lease_lost or writer.stale:
            log.warning("run %s attempt %s lost its lease; not recording its end", self.run_id, self.attempt)
            return
        summary = parser.summary
        self._keep_session(summary.session_id)
        outcome = self._outcome(summary, exit_code, backend)
        self._finish(outcome, summary, exit_code)

    def _bring(self) -> repo_sync.Remote | None:
        """On another host than the web's: the team's repository brought here first (None: this is its host)."""
        if self._repository_is_here:
            return None
        team_id = self.run["team_id"]
        with db.transaction() as conn:
            agent = agents.get(conn, self.run["agent_id"])
            task = tasks.get(conn, self.run["task_id"]) if self.run.get("task_id") else None
        try:
            return repo_sync.bring(team_id, self.run_id, task, is_lead=bool(agent["is_lead"]), token=self.token)
        except git.GitError as error:
            raise LaunchError("config_error", f"could not bring the team's repository from the web "
                              f"({repo_sync.url_of(team_id)}): {error}") from None

    def _prepare(self) -> RunContext:
        with db.transaction() as conn:
            workspace_dir = workspaces.ensure_agent_workspace(self.run["team_id"], self.run["agent_id"])
            launch = run_lifecycle.start(conn, self.run)  # also regenerates CLAUDE.md and hands over messages
            if launch.refused is None:  # the task's worktree on its branch (made on its first run)
                self._place = work_product.prepare(conn, self.run, launch.agent)
        if launch.refused is not None:  # the budget is spent: back to the queue (committed above), to wait
            raise LaunchError("budget_exceeded", launch.refused)
        assert self._place is not None
        agent = launch.agent
        self._resumed_session = agent["session_id"]
        self._is_lead = bool(agent["is_lead"])
        return RunContext(
            run_id=self.run_id,
            attempt=self.attempt,
            team_id=self.run["team_id"],
            agent_id=agent["id"],
            agent_name=agent["name"],
            prompt=launch.prompt,
            workspace=workspace_dir,
            api_url=self.settings.agent_api_url,
            agent_token=self.token,
            session_id=agent["session_id"],
            model=agent["model"],  # each backend applies its own default (GAMMA_MODEL is claude's)
            max_turns=agent["max_turns"] or self.settings.max_turns,
            permission_mode=agent["permission_mode"] or self.settings.permission_mode,
            allowed_tools=tuple(agent["allowed_tools"] or ()),
            disallowed_tools=tuple(agent["disallowed_tools"] or ()),
            budget_usd=None,  # budgets pause the team between runs (workflows/budgets.py); a run is never cut short
            tools_bin_dir=tools_bin_dir(),
            team_dirs=(*self._place.writable, *(Path(path) for name, path in workspaces.paths(
                self.run["team_id"]).items() if name != "project")),
        )

    def _started(self, cli_version: str | None, ctx: RunContext, sandbox_warning: str | None) -> None:
        assert self.process is not None
        with db.transaction() as conn:
            if not runs.record_process(conn, self.run_id, self.attempt, pid=self.process.pid, cli_version=cli_version):
                self.flags.lease_lost = True
                self.process.stop_async("lease lost", self.settings.kill_grace)
                return
            ids = {"agent_id": self.run["agent_id"], "task_id": self.run["task_id"], "run_id": self.run_id}
            started = [NewEvent(
                "run.started", self.run["team_id"],
                {"attempt": self.attempt, "pid": self.process.pid, "backend": self.run["backend"],
                 "cli_version": cli_version, "resume_session": ctx.session_id, "host": self.runtime.host,
                 "worker": self.runtime.worker_id, "sandboxed": sandbox_warning is None}, **ids)]
            if sandbox_warning is not None:
                started.append(NewEvent(events.UNSTORABLE_WARNING, self.run["team_id"],
                                        {"message": sandbox_warning, "topic": "sandbox"}, **ids))
            events.append(conn, started)

    def _grow_answer(self, text: str) -> None:
        """The lead's chat answer exists from its first text and grows with each one (final at the run's end)."""
        if not text.strip():
            return
        self._answer.append(text.strip())
        try:
            with db.transaction() as conn:
                conversation.stream_answer(conn, self.run, self.attempt, "\n\n".join(self._answer))
        except psycopg.Error as error:  # the final answer is written at the end in any case
            log.warning("could not stream the answer of run %s: %s", self.run_id, error)

    def _record_session(self, session_id: str) -> bool:
        try:
            with db.transaction() as conn:
                run_lifecycle.record_session(conn, self.run_id, self.attempt, session_id)
            return True
        except psycopg.Error as error:
            log.warning("could not record session %s of run %s: %s", session_id, self.run_id, error)
            return False

    def _keep_session(self, session_id: str | None) -> None:
        """Store the session's transcript before the attempt's end is recorded: that may start the agent's next
        run, on any host. A superseded attempt stores nothing (its successor owns the session)."""
        session_id = session_id or self._resumed_session
        sessions = self._sessions
        if sessions is None or session_id is None or self.flags.lease_lost:
            return
        try:
            self._retrying("store the session", lambda: sessions.store(session_id))
        except psycopg.OperationalError as error:  # the end is recorded (or not) as without it
            log.warning("could not store session %s of run %s: %s", session_id, self.run_id, error)

    def _outcome(self, summary: RunSummary, exit_code: int | None, backend: Backend) -> Outcome:
        if self.flags.handed_back and not self.flags.cancelled:
            return Outcome("interrupted", "queued", "the worker shut down; the run was handed back to the queue")
        return classify(
            summary,
            exit_code=exit_code,
            stderr_tail="\n".join(self._stderr_tail)[-STDERR_TAIL_CHARS:],
            timed_out=self.flags.timed_out_before_result,
            cancelled=self.flags.cancelled,
            lease_lost=self.flags.lease_lost,
            resumed=self._resumed_session is not None,
            rules=backend.outcome_rules,
        )

    def _finish(self, outcome: Outcome, summary: RunSummary, exit_code: int | None = None) -> None:
        # What the run wrote is committed before its end is recorded: its task settles on it, and every event of
        # the run (its commit's included) comes before `run.finished`.
        self._retrying("commit the run's changes", lambda: self._commit(outcome))
        self._record_end(outcome, summary, exit_code)
        try:
            with db.transaction() as conn:
                work_product.tidy(conn, self.run["team_id"])
        except (psycopg.Error, git.GitError) as error:  # the next run's end tidies again
            log.warning("could not tidy the worktrees of team %s: %s", self.run["team_id"], error)

    def _commit(self, outcome: Outcome) -> None:
        how = {"succeeded": "the run ended", "cancelled": "the run was cancelled",
               "queued": "the attempt was interrupted"}.get(outcome.state, f"the run ended ({outcome.outcome})")
        try:
            with db.transaction() as conn:
                box = Outbox()
                work_product.commit_run(conn, {**self.run, "attempt": self.attempt}, box, how=how)
                box.flush(conn)
        except git.GitError as error:  # the files stay in the worktree; the next attempt or the tidy commits them
            log.error("could not commit the changes of run %s: %s", self.run_id, error)
        if self._remote is None:
            return
        try:  # the web moves the branch and measures the task before the run's end is recorded
            repo_sync.send(self.run["team_id"], self._remote)
        except git.GitError as error:  # kept in this host's clone: the next attempt here sends it
            log.error("could not send the commits of run %s to the web: %s", self.run_id, error)

    def _record_end(self, outcome: Outcome, summary: RunSummary, exit_code: int | None) -> None:
        fields: dict[str, Any] = {
            "exit_code": exit_code,
            "stderr_tail": "\n".join(self._stderr_tail)[-STDERR_TAIL_CHARS:] or None,
            "session_id": summary.session_id,
            "model": summary.model,
            "result_text": summary.result_text,
            "api_error_status": summary.api_error_status,
            "usage": summary.usage,
            "model_usage": summary.model_usage,
            "cost_usd": summary.cost_usd,
            "num_turns": summary.num_turns,
            "duration_ms": summary.duration_ms,
            "duration_api_ms": summary.duration_api_ms,
            "context_tokens": summary.context_tokens,
            "context_window": summary.context_window,
            **_token_fields(summary.usage),
        }
        if summary.cli_version:
            fields["cli_version"] = summary.cli_version
        fields = {key: storable(value) if isinstance(value, str) else value for key, value in fields.items()}
        if outcome.fresh_session:
            fields["session_note"] = (
                f"session {self._resumed_session} could not be resumed; the next attempt starts a fresh session"
            )
        for attempt in range(5):
            try:
                with db.transaction() as conn:
                    recorded = run_lifecycle.finish(
                        conn, self.run_id, self.attempt, state=outcome.state, outcome=outcome.outcome,
                        error=storable(outcome.error) if outcome.error else None, not_before=outcome.not_before,
                        fresh_session=outcome.fresh_session, fields=fields,
                    )
                if recorded is None:
                    log.warning("run %s attempt %s was superseded; its end is not recorded", self.run_id,
                                self.attempt)
                return
            except psycopg.OperationalError as error:
                log.warning("recording the end of run %s failed (%s); retrying", self.run_id, error)
                time.sleep(min(2**attempt, 10))
        log.error("could not record the end of run %s; the reaper will take it over", self.run_id)

    # -------------------------------------------------------------------- helpers

    def _read_stderr(self, writer: events.BatchWriter) -> None:
        assert self.process is not None and self.process.popen.stderr is not None
        for line_no, raw in enumerate(self.process.popen.stderr, start=1):
            line = decode_output(raw.rstrip(b"\n"))
            self._stderr_tail.append(storable(line[:2000]))
            writer.add_raw("stderr", line_no, line)

    def _supervise(self) -> None:
        """Time limits and the lease's deadline. Renewals run in a thread of their own: a renewal stuck on an
        unreachable database must not keep this loop from stopping the CLI before another attempt may start."""
        lease = self.settings.lease_seconds
        started = time.monotonic()
        self._last_renewed = started
        renewer = threading.Thread(target=self._renew_loop, name=f"renew-{self.run_id}", daemon=True)
        renewer.start()
        threading.Thread(target=self._checkpoint_loop, name=f"session-{self.run_id}", daemon=True).start()
        while not self._stop_supervising.wait(0.25):
            now = time.monotonic()
            if now - started > self.settings.run_timeout and not self.flags.timed_out:
                self.flags.timed_out = True
                self.flags.timed_out_before_result = self.result_seen_at is None
                self._stop_process(f"timed out after {self.settings.run_timeout:.0f} s")
            lingering = self.result_seen_at is not None and now - self.result_seen_at > self.settings.result_grace
            if lingering and not self.flags.lingered:
                self.flags.lingered = True
                self._stop_process("lingered after its result line")
            if now - self._last_renewed > lease * FENCE_FRACTION and not self.flags.lease_lost:
                # We can no longer prove we own the run: stop before someone else may start it.
                self.flags.lease_lost = True
                self._stop_process(f"could not renew its lease for {now - self._last_renewed:.0f} s")

    def _checkpoint_loop(self) -> None:
        """While the CLI runs, its session's transcript is stored whenever it changed (every
        GAMMA_SESSION_CHECKPOINT_SECONDS, in a thread of its own so a big transcript never delays a renewal): a
        worker that dies — SIGKILL, a lost host — leaves the run resumable on another host with its context up to
        then. Not more often: each store rewrites the whole (compressed) transcript in the database."""
        every = self.settings.session_checkpoint_seconds
        stored_at: tuple[int, int] | None = None
        while not self._stop_supervising.wait(every):
            sessions, session_id = self._sessions, self._live_session or self._resumed_session
            if sessions is None or session_id is None or self.flags.lease_lost:
                continue
            stamp = sessions.stamp(session_id)
            if stamp is None or stamp == stored_at:
                continue
            try:
                sessions.store(session_id)
                stored_at = stamp
            except psycopg.Error as error:  # the next round tries again; the attempt's end stores it in any case
                log.warning("could not store session %s of run %s: %s", session_id, self.run_id, error)

    def _renew_loop(self) -> None:
        lease = self.settings.lease_seconds
        renew_every = max(1.0, lease / 3)
        while not self._stop_supervising.wait(renew_every):
            asked_at = time.monotonic()
            try:
                with db.transaction() as conn:
                    owner, cancel_requested = runs.renew(conn, self.run_id, self.attempt, lease)
            except psycopg.Error as error:
                log.warning("lease renewal of run %s failed: %s", self.run_id, error)
                continue
            if not owner:
                self.flags.lease_lost = True
                self._stop_process("lost its lease")
                return
            self._last_renewed = asked_at
            if cancel_requested and not self.flags.cancelled:
                self.cancel()

    def _retrying(self, what: str, step: Callable[[], T]) -> T:
        """Run a database step again while the database is briefly away (a restart), for up to half a lease."""
        deadline = time.monotonic() + self.settings.lease_seconds / 2
        delay = 0.2
        while True:
            try:
                return step()
            except psycopg.OperationalError as error:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("could not %s for run %s (%s); retrying in %.1f s", what, self.run_id, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _cancel_requested(self) -> bool:
        with db.transaction() as conn:
            return runs.cancel_requested(conn, self.run_id)

    def _stop_process(self, reason: str) -> None:
        if self.process is not None:
            log.info("stopping run %s attempt %s: %s", self.run_id, self.attempt, reason)
            self.process.stop_async(reason, self.settings.kill_grace)

    def _on_stale(self) -> None:
        self.flags.lease_lost = True
        self._stop_process("its attempt was superseded (fencing)")


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _token_fields(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    return {
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "cache_read_tokens": usage.get("cache_read_input_tokens"),
        "cache_creation_tokens": usage.get("cache_creation_input_tokens"),
    }
