"""The contracts between the run executor, the agent backends and the stream parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class RunContext:
    """Everything a backend needs to launch one attempt of one run."""

    run_id: str
    attempt: int
    team_id: str
    agent_id: str
    agent_name: str
    prompt: str
    workspace: Path  # the agent's cwd (holds its CLAUDE.md)
    api_url: str  # GAMMA_API_URL for the agent
    agent_token: str  # GAMMA_AGENT_TOKEN (plain; only its hash is stored)
    session_id: str | None  # resume this session when set
    model: str | None = None
    max_turns: int | None = None
    permission_mode: str | None = None
    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    budget_usd: float | None = None
    tools_bin_dir: Path | None = None  # directory holding `gamma-agent`, prepended to PATH
    team_dirs: tuple[Path, ...] = ()  # the team's shared folders (project, plans, shared): writable too


@dataclass
class LaunchSpec:
    """How to start the agent process. The executor spawns it in its own process group."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    stdin_text: str | None = None  # written then closed; None means stdin is /dev/null


@dataclass(frozen=True)
class TranscriptPlace:
    """Where a CLI keeps one session's transcript on this host: the file under `root` that `pattern` (a glob
    relative to `root`) matches. `root` depends on the host (the CLI's state directory, and for claude the cwd);
    the path below it does not, so that is what moves with the transcript (workers/session_transfer.py)."""

    root: Path
    pattern: str


@dataclass
class ParsedEvent:
    """One typed event derived from a stdout line (kind like `agent.text`, payload JSON-able)."""

    kind: str
    payload: dict[str, Any]


@dataclass
class RunSummary:
    """What the stream told us about the run, accumulated line by line."""

    session_id: str | None = None
    cli_version: str | None = None
    model: str | None = None
    tools: list[str] = field(default_factory=list)
    result_seen: bool = False
    result_text: str | None = None
    subtype: str | None = None
    is_error: bool | None = None
    api_error_status: int | None = None
    errors: list[str] = field(default_factory=list)
    terminal_reason: str | None = None
    usage: dict[str, Any] | None = None
    model_usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    num_turns: int | None = None
    duration_ms: int | None = None
    duration_api_ms: int | None = None
    context_tokens: int | None = None  # last assistant message: input + cache read + cache creation
    context_window: int | None = None
    rate_limit_status: str | None = None
    rate_limit_resets_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """How a finished attempt is recorded.

    `state` is the run's next state: succeeded | failed | timed_out | cancelled | queued (re-queue).
    """

    outcome: str  # one of the runs.outcome CHECK values
    state: str
    error: str | None = None
    not_before: datetime | None = None  # for re-queue after a usage-limit reset
    fresh_session: bool = False  # re-queue without --resume (the old session is gone)


class StreamParser(Protocol):
    def feed(self, line: str) -> list[ParsedEvent]:
        """Parse one stdout line, update `summary`, return the events it yields (may be empty)."""

    @property
    def summary(self) -> RunSummary: ...


class OutcomeRules(Protocol):
    """How one CLI says what happened; `workers.outcome.classify` applies them after the rules every CLI shares
    (cancelled, lost lease, timed out)."""

    def from_result(self, summary: RunSummary, *, resumed: bool, now: datetime) -> Outcome:
        """The attempt printed its result line (`summary.result_seen`)."""

    def without_result(self, exit_code: int | None, stderr_tail: str, *, resumed: bool) -> Outcome:
        """The CLI ended without a result line (exit code and the end of its stderr are all there is)."""


class Backend(Protocol):
    name: str
    outcome_rules: OutcomeRules

    def launch_spec(self, ctx: RunContext) -> LaunchSpec: ...

    def new_parser(self) -> StreamParser: ...

    def version(self) -> str | None:
        """The CLI's version string, or None when it cannot be found."""

    def transcript_place(self, session_id: str, spec: LaunchSpec) -> TranscriptPlace | None:
        """Where the CLI launched by `spec` (its cwd, its environment) keeps or looks for the session's transcript;
        None when the backend keeps none (demo) or the id cannot name a file."""


@dataclass(frozen=True)
class LoginStatus:
    """Whether a CLI has credentials; `logged_in` is None when that cannot be told."""

    logged_in: bool | None
    method: str | None = None
    detail: str = ""


class AgentCli(Backend, Protocol):
    """A backend that runs a real, installed CLI (every backend but `demo`)."""

    def binary(self) -> str:
        """The CLI's absolute path; raises LaunchError("cli_not_found", …) when it is not installed."""

    def login_status(self) -> LoginStatus:
        """Whether the CLI is logged in, asked locally (no tokens spent)."""


class LaunchError(Exception):
    """The run cannot be launched; `outcome` is recorded on the run with `message` as its reason."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
