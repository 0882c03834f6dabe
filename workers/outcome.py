"""Decide how a finished CLI attempt is recorded: outcome, next run state and a readable reason.

Facts this relies on (see `../shared/reference/agent-cli-protocols.md` and `tests/fixtures/claude-stream-json/`):

- an API failure is a `result` with `subtype:"success"`, `is_error:true`, `api_error_status` and exit 1;
- a subscription usage limit is a `rate_limit_event` with status `rejected` (reset in `resetsAt`) and the result
  text "You've hit your session limit · resets 2:10am (UTC)"; 1.0.x CLIs said "Claude AI usage limit
  reached|<epoch>" instead (sometimes with `is_error:false`), so the text is checked before success;
- an unknown `--resume` id is a zeroed `error_during_execution` result "No conversation found with session ID";
- as root, bypass-permissions is refused on stderr only, with exit 1.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workers.attempt_supervisor import CANNOT_START
from workers.runtime_types import Outcome, OutcomeRules, RunSummary

STDERR_IN_ERROR = 1500  # characters of stderr quoted in an error message
USAGE_LIMIT_FALLBACK = timedelta(hours=1)  # when the CLI does not say when the limit resets
# When the reset it named has passed already (a slow run ended after it): try again shortly, not an hour later.
RESET_PASSED_RETRY = timedelta(seconds=5)

_USAGE_LIMIT_TEXT = re.compile(
    r"Claude AI usage limit reached|You've hit your [^·\n]*limit|You've reached your [^·\n]*limit"
    r"|You're out of (?:extra )?usage",
    re.IGNORECASE,
)
_LEGACY_RESET = re.compile(r"usage limit reached\|(\d{9,11})", re.IGNORECASE)
_RESETS_AT = re.compile(
    r"resets\s+(?:(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2}),\s+(?:(?P<year>\d{4}),\s+)?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>[ap]m)(?:\s*\((?P<tz>[^)]+)\))?",
    re.IGNORECASE,
)
MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_UNKNOWN_SESSION = re.compile(
    r"No conversation found with session ID|--resume requires a valid session ID", re.IGNORECASE
)
_ROOT_BYPASS = "cannot be used with root/sudo privileges"
_NOT_LOGGED_IN = re.compile(r"Not logged in|Please run /login", re.IGNORECASE)


def classify(
    summary: RunSummary,
    *,
    exit_code: int | None,
    stderr_tail: str,
    timed_out: bool,
    cancelled: bool,
    lease_lost: bool,
    resumed: bool,
    now: datetime | None = None,
    rules: OutcomeRules | None = None,
) -> Outcome:
    """What every CLI has in common (cancel, lost lease, timeout) first, then the CLI's own `rules` (claude's by
    default) for an attempt that printed its result line and for one that did not."""
    now = now or datetime.now(UTC)
    rules = rules or CLAUDE_RULES
    if cancelled:
        return Outcome("cancelled", "cancelled", "Cancelled: the CLI's process group was stopped.")
    if lease_lost:
        return Outcome("lease_lost", "interrupted",
                       "This worker lost its lease on the run (database unreachable or the worker stalled); "
                       "the CLI was stopped so that another attempt can take over.")
    if timed_out:  # the caller passes it only when the limit hit before any result line
        return Outcome("timeout", "timed_out",
                       "Timed out: the run exceeded its time limit and was stopped (SIGTERM, then SIGKILL)."
                       + stderr_note(stderr_tail))
    if summary.result_seen:
        return rules.from_result(summary, resumed=resumed, now=now)
    if CANNOT_START in stderr_tail:  # the supervisor could not start the agent's command
        return Outcome("cli_not_found", "failed",
                       "The agent's command could not be started." + stderr_note(stderr_tail))
    return rules.without_result(exit_code, stderr_tail, resumed=resumed)


class ClaudeRules:
    """How the claude CLI says what happened (see the module's docstring)."""

    def from_result(self, summary: RunSummary, *, resumed: bool, now: datetime) -> Outcome:
        return _from_result(summary, resumed=resumed, now=now)

    def without_result(self, exit_code: int | None, stderr_tail: str, *, resumed: bool) -> Outcome:
        return _without_result(exit_code, stderr_tail, resumed=resumed)


CLAUDE_RULES = ClaudeRules()


def _from_result(summary: RunSummary, *, resumed: bool, now: datetime) -> Outcome:
    text = _result_words(summary)
    if _is_unknown_session(summary, text, resumed=resumed):
        return unknown_session(summary.session_id, text)
    if summary.rate_limit_status == "rejected" or _USAGE_LIMIT_TEXT.search(text):
        return usage_limit(text, summary.rate_limit_resets_at or parse_reset_time(text, now), now)
    if not summary.is_error:
        return Outcome("success", "succeeded")
    if summary.subtype == "error_max_turns":
        return Outcome("max_turns", "failed",
                       f"Stopped at the turn limit: {text or 'maximum number of turns reached'}. "
                       "Raise the agent's max turns or split the task.")
    if summary.subtype == "error_max_budget_usd":
        # The run reached what was left of its budget: it goes back to the queue with its session and waits
        # (the team or agent is paused now) until the budget is raised — no failure, for it or its task.
        return Outcome("budget_exceeded", "queued",
                       f"Stopped at the budget limit: {text or 'maximum budget reached'}"
                       f" (spent ${summary.cost_usd or 0:.4f}); it goes on once the budget is raised.")
    if summary.api_error_status is None and _NOT_LOGGED_IN.search(text):
        return Outcome("config_error", "failed",
                       f"The claude CLI has no credentials ({text}). Log in once as the user the worker runs as "
                       "(`claude /login`), or give the worker ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN.")
    if summary.subtype == "success" or summary.api_error_status is not None:
        status = f" {summary.api_error_status}" if summary.api_error_status is not None else ""
        return Outcome("api_error", "failed", f"API error{status}: {text or 'no details'}")
    detail = text or f"result {summary.subtype}"
    reason = f" (terminal reason: {summary.terminal_reason})" if summary.terminal_reason else ""
    return Outcome("cli_error", "failed", f"The CLI ended the run with an error: {detail}{reason}")


def _without_result(exit_code: int | None, stderr_tail: str, *, resumed: bool) -> Outcome:
    if _ROOT_BYPASS in stderr_tail:
        return Outcome("config_error", "failed",
                       "claude refuses bypassPermissions when running as root. Run Gamma as a normal user, choose "
                       "another permission mode (GAMMA_PERMISSION_MODE=acceptEdits), or — only inside a container "
                       "or sandbox — set GAMMA_ALLOW_ROOT_BYPASS=1." + stderr_note(stderr_tail))
    if resumed and _UNKNOWN_SESSION.search(stderr_tail):
        return unknown_session(None, stderr_tail.strip())
    return exited_without_result(exit_code, stderr_tail)


def exited_without_result(exit_code: int | None, stderr_tail: str) -> Outcome:
    """A CLI that ended before its result line, for no reason a CLI's own rules recognised."""
    if exit_code == 0:
        return Outcome("no_result", "failed",
                       "The CLI exited normally but printed no result line." + stderr_note(stderr_tail))
    if exit_code is None:
        how = "ended without an exit status"
    elif exit_code < 0:
        how = f"was killed by signal {-exit_code}"
    else:
        how = f"exited with code {exit_code}"
    return Outcome("cli_error", "failed", f"The CLI {how} before its result line." + stderr_note(stderr_tail))


# ---------------------------------------------------------------------------------------------------- pieces


def _result_words(summary: RunSummary) -> str:
    parts = [summary.result_text or "", *summary.errors]
    return " · ".join(part.strip() for part in parts if part and part.strip())


def _is_unknown_session(summary: RunSummary, text: str, *, resumed: bool) -> bool:
    if _UNKNOWN_SESSION.search(text):
        return True
    zeroed = summary.subtype == "error_during_execution" and not summary.num_turns and not summary.model
    return resumed and zeroed


def unknown_session(session_id: str | None, detail: str) -> Outcome:
    which = f"session {session_id}" if session_id else "the agent's session"
    return Outcome("unknown_session", "queued",
                   f"Could not resume {which} ({detail or 'not found'}); the run is re-queued to start a fresh "
                   "session.", fresh_session=True)


def usage_limit(text: str, reset: datetime | None, now: datetime) -> Outcome:
    """Re-queue until `reset`: an hour from now when it is unknown, in a few seconds when it has passed."""
    if reset is None:
        reset = now + USAGE_LIMIT_FALLBACK
        when = f"the reset time is unknown; retrying at {reset:%Y-%m-%d %H:%M} UTC"
    elif reset <= now:
        reset = now + RESET_PASSED_RETRY
        when = f"the limit has reset already; retrying at {reset:%Y-%m-%d %H:%M:%S} UTC"
    else:
        when = f"the run waits until {reset.astimezone(UTC):%Y-%m-%d %H:%M} UTC, then resumes"
    return Outcome("usage_limit", "queued", f"Usage limit reached ({text or 'rate limit rejected'}); {when}.",
                   not_before=reset)


def parse_reset_time(text: str, now: datetime) -> datetime | None:
    """The reset time in a usage-limit message ("…|1795486217", "resets 2:10am (UTC)", "resets Nov 24, 2pm (…)")."""
    legacy = _LEGACY_RESET.search(text)
    if legacy:
        return datetime.fromtimestamp(int(legacy.group(1)), UTC)
    match = _RESETS_AT.search(text)
    if not match:
        return None
    zone = _zone(match.group("tz"))
    local_now = now.astimezone(zone)
    hour = int(match.group("hour")) % 12 + (12 if match.group("ampm").lower() == "pm" else 0)
    minute = int(match.group("minute") or 0)
    if match.group("month"):
        month = MONTHS.get(match.group("month").lower())
        if month is None:
            return None
        year = int(match.group("year") or local_now.year)
        reset = datetime(year, month, int(match.group("day")), hour, minute, tzinfo=zone)
        if not match.group("year") and reset < local_now - timedelta(days=1):
            reset = reset.replace(year=year + 1)
        return reset.astimezone(UTC)
    # The CLI names the reset to the minute: the current minute means "within this minute" (its end, to be safe),
    # an earlier one the same time tomorrow.
    reset = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if reset + timedelta(minutes=1) <= local_now:
        reset += timedelta(days=1)
    elif reset <= local_now:
        reset += timedelta(minutes=1)
    return reset.astimezone(UTC)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo((name or "UTC").strip())
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def stderr_note(stderr_tail: str) -> str:
    tail = stderr_tail.strip()
    if not tail:
        return ""
    if len(tail) > STDERR_IN_ERROR:
        tail = "…" + tail[-STDERR_IN_ERROR:]
    return f" stderr: {tail}"
