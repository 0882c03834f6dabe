"""How `codex exec --json` says what happened, as `OutcomeRules` (see `workers/outcome.py` for claude's).

Facts (codex 0.171.0 against the Responses double, `tests/fixtures/codex-exec-json/`):

- success: `turn.completed`, exit 0;
- API failures: `error` + `turn.failed` whose message names the status — "unexpected status 401 Unauthorized:
  Incorrect API key provided …", "exceeded retry limit, last status: 429 Too Many Requests", "unexpected status
  529 …" — exit 1;
- the ChatGPT plan's usage limit (HTTP 429 `usage_limit_reached` with `resets_at`): "You’ve hit your usage limit.
  … try again at 10:47 PM." (the time in the CLI's local zone; a later day is written "Dec 3rd, 2026 10:47 PM");
- no credentials for the provider: "Missing environment variable: `CODEX_API_KEY`." (or the provider's env_key);
- resuming an unknown thread: nothing on stdout, stderr "… thread/resume failed: no rollout found for thread id
  <id> …", exit 1.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

from workers.outcome import (
    MONTHS,
    exited_without_result,
    stderr_note,
    unknown_session,
    usage_limit,
)
from workers.runtime_types import Outcome, RunSummary

_USAGE_LIMIT = re.compile(r"You[’']ve hit your usage limit|usage_limit_reached|usage limit has been reached",
                          re.IGNORECASE)
_AT = re.compile(
    r"try again at\s+(?:(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,\s+(?P<year>\d{4})\s+)?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<ampm>[AP]M)",
    re.IGNORECASE,
)
_IN = re.compile(r"try again in\s+(?:(?P<days>\d+)\s+days?\s*)?(?:(?P<hours>\d+)\s+hours?\s*)?"
                 r"(?:(?P<minutes>\d+)\s+minutes?)?", re.IGNORECASE)
_NO_CREDENTIALS = re.compile(r"Missing environment variable|Not logged in|codex login", re.IGNORECASE)
_UNKNOWN_THREAD = re.compile(r"no rollout found for thread id|thread/resume failed", re.IGNORECASE)


def parse_reset_time(text: str, now: datetime, zone: tzinfo | None = None) -> datetime | None:
    """When codex says the limit resets: "try again at 10:47 PM" (today or tomorrow, in `zone`, the worker's local
    zone by default), "try again at Dec 3rd, 2026 10:47 PM", or "try again in 2 hours 5 minutes"."""
    relative = _IN.search(text)
    if relative and any(relative.group(part) for part in ("days", "hours", "minutes")):
        return now + timedelta(days=int(relative.group("days") or 0), hours=int(relative.group("hours") or 0),
                               minutes=int(relative.group("minutes") or 0))
    match = _AT.search(text)
    if not match:
        return None
    zone = zone or datetime.now().astimezone().tzinfo or UTC
    local_now = now.astimezone(zone)
    hour = int(match.group("hour")) % 12 + (12 if match.group("ampm").upper() == "PM" else 0)
    minute = int(match.group("minute"))
    if match.group("month"):
        month = MONTHS.get(match.group("month").lower())
        if month is None:
            return None
        reset = datetime(int(match.group("year")), month, int(match.group("day")), hour, minute, tzinfo=zone)
        return reset.astimezone(UTC)
    reset = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if reset <= local_now:
        reset += timedelta(days=1)
    return reset.astimezone(UTC)


class CodexRules:
    def from_result(self, summary: RunSummary, *, resumed: bool, now: datetime) -> Outcome:
        text = " · ".join(part for part in [summary.result_text or "", *summary.errors[-1:]] if part)
        if not summary.is_error:
            return Outcome("success", "succeeded")
        if _USAGE_LIMIT.search(text):
            return usage_limit(text, parse_reset_time(text, now), now)
        if summary.api_error_status is None and _NO_CREDENTIALS.search(text):
            return Outcome("config_error", "failed",
                           f"The codex CLI has no credentials ({text}). Log in once as the user the worker runs as "
                           "(`codex login`), or give the worker CODEX_API_KEY.")
        if summary.api_error_status == 401:
            return Outcome("api_error", "failed",
                           f"API error 401 (authentication): {text}. Check `codex login status` or CODEX_API_KEY.")
        if summary.api_error_status is not None:
            return Outcome("api_error", "failed", f"API error {summary.api_error_status}: {text}")
        return Outcome("cli_error", "failed", f"codex ended the turn with an error: {text or 'no details'}")

    def without_result(self, exit_code: int | None, stderr_tail: str, *, resumed: bool) -> Outcome:
        if resumed and _UNKNOWN_THREAD.search(stderr_tail):
            return unknown_session(None, stderr_tail.strip()[-500:])
        if _NO_CREDENTIALS.search(stderr_tail) and exit_code not in (0, None):
            return Outcome("config_error", "failed",
                           "The codex CLI has no credentials: log in (`codex login`) or set CODEX_API_KEY."
                           + stderr_note(stderr_tail))
        return exited_without_result(exit_code, stderr_tail)


CODEX_RULES = CodexRules()
