"""Outcome classification for every captured scenario, and for the situations only the worker knows about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workers.outcome import (
    RESET_PASSED_RETRY,
    STDERR_IN_ERROR,
    USAGE_LIMIT_FALLBACK,
    classify,
    parse_reset_time,
)
from workers.runtime_types import Outcome, RunSummary
from workers.stream_parser import ClaudeStreamParser

SAMPLES = Path(__file__).parent / "fixtures" / "claude-stream-json"
NOW = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)

# prefix: (exit code, resumed, outcome, state, words in the error)
CASES = {
    "01": (0, False, "success", "succeeded", None),
    "02": (0, False, "success", "succeeded", None),
    "03": (0, False, "success", "succeeded", None),
    "04": (0, True, "success", "succeeded", None),
    "05": (1, True, "unknown_session", "queued", "No conversation found"),
    "06": (1, True, "unknown_session", "queued", "requires a valid session ID"),
    "07": (1, False, "max_turns", "failed", "Reached maximum number of turns (1)"),
    "08": (1, False, "api_error", "failed", "API error 401: Invalid API key"),
    "09": (1, False, "api_error", "failed", "API error 429: API Error: Request rejected (429)"),
    "10": (1, False, "api_error", "failed", "API error 529: API Error: 529 Overloaded"),
    "11": (1, False, "usage_limit", "queued", "You've hit your session limit"),
    "12": (1, False, "config_error", "failed", "Not logged in · Please run /login"),
    "13": (0, False, "success", "succeeded", None),
    "14": (0, False, "success", "succeeded", None),
    "15": (0, False, "success", "succeeded", None),
    "16": (1, False, "cli_error", "failed", "aborted_streaming"),
    "17": (0, False, "success", "succeeded", None),
    "18": (0, False, "success", "succeeded", None),
    "19": (0, False, "success", "succeeded", None),
    "20": (1, False, "budget_exceeded", "queued", "Reached maximum budget ($0.0001)"),  # waits for more budget
    "21": (0, False, "success", "succeeded", None),
    "22": (1, False, "cli_error", "failed", "requires --verbose"),
    "23": (1, False, "cli_error", "failed", "is already in use"),
    "24": (1, False, "cli_error", "failed", "Must be a valid UUID"),
    "25": (1, False, "config_error", "failed", "GAMMA_ALLOW_ROOT_BYPASS"),
    "26": (1, False, "cli_error", "failed", "Error parsing streaming input line"),
}


def run_sample(prefix: str, *, exit_code: int, resumed: bool) -> Outcome:
    parser = ClaudeStreamParser()
    stderr = ""
    for path in SAMPLES.glob(f"{prefix}-*"):
        if path.name.endswith(".stderr.txt"):
            stderr = path.read_text()
        else:
            for line in path.read_text().splitlines():
                parser.feed(line)
    return classify(parser.summary, exit_code=exit_code, stderr_tail=stderr, timed_out=False, cancelled=False,
                    lease_lost=False, resumed=resumed, now=NOW)


@pytest.mark.parametrize("prefix", sorted(CASES))
def test_each_sample(prefix: str) -> None:
    exit_code, resumed, expected, state, words = CASES[prefix]
    outcome = run_sample(prefix, exit_code=exit_code, resumed=resumed)
    assert (outcome.outcome, outcome.state) == (expected, state), outcome
    if words is None:
        assert outcome.error is None
    else:
        assert words in (outcome.error or ""), outcome.error


def test_usage_limit_waits_for_the_reset_from_the_event() -> None:
    outcome = run_sample("11", exit_code=1, resumed=False)
    assert outcome.not_before == datetime.fromtimestamp(1795486217, UTC)
    assert "2026-11-23" in (outcome.error or "") or "2026-11-24" in (outcome.error or "")


def test_unknown_session_asks_for_a_fresh_session() -> None:
    outcome = run_sample("05", exit_code=1, resumed=True)
    assert outcome.fresh_session and "00000000-0000-4000-8000-000000000000" in (outcome.error or "")


def test_interrupt_is_cancelled_when_the_worker_cancelled() -> None:
    parser = ClaudeStreamParser()
    for line in (SAMPLES / "16-interrupt-control-request.stdout.jsonl").read_text().splitlines():
        parser.feed(line)
    outcome = classify(parser.summary, exit_code=1, stderr_tail="", timed_out=False, cancelled=True,
                       lease_lost=False, resumed=False)
    assert (outcome.outcome, outcome.state) == ("cancelled", "cancelled")


def _summary(**fields: object) -> RunSummary:
    summary = RunSummary(result_seen=True, subtype="success", is_error=True)
    for key, value in fields.items():
        setattr(summary, key, value)
    return summary


def _classify(summary: RunSummary, **flags: object) -> Outcome:
    options: dict = {"exit_code": 1, "stderr_tail": "", "timed_out": False, "cancelled": False, "lease_lost": False,
                     "resumed": False, "now": NOW}
    options.update(flags)
    return classify(summary, **options)


def test_usage_limit_from_the_result_text_alone() -> None:
    outcome = _classify(_summary(result_text="You've hit your session limit · resets 2:10am (UTC)",
                                 api_error_status=429))
    assert (outcome.outcome, outcome.state) == ("usage_limit", "queued")
    assert outcome.not_before == datetime(2026, 11, 24, 2, 10, tzinfo=UTC)


def test_legacy_usage_limit_even_without_is_error() -> None:
    outcome = _classify(_summary(is_error=False, result_text="Claude AI usage limit reached|1795486217"),
                        exit_code=0)
    assert outcome.outcome == "usage_limit"
    assert outcome.not_before == datetime.fromtimestamp(1795486217, UTC)


def test_a_usage_limit_whose_reset_has_passed_retries_shortly_not_an_hour_later() -> None:
    """A slow run can end after the reset its rate-limit event named (seen in CI under load: the run then waited
    an hour instead of seconds)."""
    passed = NOW - timedelta(seconds=2)
    outcome = _classify(_summary(result_text="You've hit your 5-hour limit · resets 11:30pm (UTC)",
                                 rate_limit_status="rejected", rate_limit_resets_at=passed))
    assert (outcome.outcome, outcome.state) == ("usage_limit", "queued")
    assert outcome.not_before == NOW + RESET_PASSED_RETRY
    assert "has reset already" in (outcome.error or "")


def test_a_reset_named_for_the_current_minute_is_within_it_not_tomorrow() -> None:
    now = datetime(2026, 11, 23, 7, 18, 37, tzinfo=UTC)
    assert parse_reset_time("resets 7:18am (UTC)", now) == datetime(2026, 11, 23, 7, 19, tzinfo=UTC)
    assert parse_reset_time("resets 7:17am (UTC)", now) == datetime(2026, 11, 24, 7, 17, tzinfo=UTC)


def test_usage_limit_without_a_reset_time_retries_later() -> None:
    outcome = _classify(_summary(result_text="You're out of extra usage"))
    assert outcome.outcome == "usage_limit" and outcome.not_before == NOW + USAGE_LIMIT_FALLBACK
    assert "unknown" in (outcome.error or "")


@pytest.mark.parametrize(("text", "expected"), [
    ("resets 2am (UTC)", datetime(2026, 11, 24, 2, 0, tzinfo=UTC)),
    ("resets 11:45pm (UTC)", datetime(2026, 11, 23, 23, 45, tzinfo=UTC)),
    ("resets 12pm (UTC)", datetime(2026, 11, 24, 12, 0, tzinfo=UTC)),
    ("resets 9am (Europe/Berlin)", datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),
    ("You've hit your weekly limit · resets Nov 28, 5pm (UTC)", datetime(2026, 11, 28, 17, 0, tzinfo=UTC)),
    ("resets Jan 2, 2027, 3:30am (UTC)", datetime(2027, 1, 2, 3, 30, tzinfo=UTC)),
    ("resets Jan 2, 3:30am (UTC)", datetime(2027, 1, 2, 3, 30, tzinfo=UTC)),
    ("resets 4pm (Not/AZone)", datetime(2026, 11, 24, 16, 0, tzinfo=UTC)),
    ("resets 1am", datetime(2026, 11, 24, 1, 0, tzinfo=UTC)),
    ("no time here", None),
])
def test_parse_reset_time(text: str, expected: datetime | None) -> None:
    assert parse_reset_time(text, NOW) == expected


def test_timeout_cancel_and_lease_lost() -> None:
    nothing = RunSummary()
    assert _classify(nothing, timed_out=True, exit_code=-15).outcome == "timeout"
    assert _classify(nothing, timed_out=True).state == "timed_out"
    assert _classify(nothing, cancelled=True, timed_out=True).outcome == "cancelled"
    lost = _classify(nothing, lease_lost=True, exit_code=-9)
    assert (lost.outcome, lost.state) == ("lease_lost", "interrupted") and lost.error


def test_a_timeout_that_hit_before_the_result_wins_over_a_result_squeezed_out_while_stopping() -> None:
    # The executor passes timed_out only when the limit hit before any result line (a late one is not a timeout).
    outcome = _classify(_summary(is_error=False), timed_out=True, exit_code=0)
    assert (outcome.outcome, outcome.state) == ("timeout", "timed_out")
    assert _classify(_summary(is_error=False), timed_out=False, exit_code=0).outcome == "success"


def test_exit_without_result() -> None:
    assert _classify(RunSummary(), exit_code=0).outcome == "no_result"
    killed = _classify(RunSummary(), exit_code=-9)
    assert killed.outcome == "cli_error" and "signal 9" in (killed.error or "")
    crashed = _classify(RunSummary(), exit_code=3, stderr_tail="boom\n" + "x" * 10_000)
    assert crashed.outcome == "cli_error" and "code 3" in (crashed.error or "")
    assert len(crashed.error or "") < STDERR_IN_ERROR + 200  # stderr quoted, bounded


def test_unknown_session_from_stderr_only() -> None:
    outcome = _classify(RunSummary(), resumed=True,
                        stderr_tail="No conversation found with session ID: 11111111-2222-4333-8444-555555555555")
    assert (outcome.outcome, outcome.state, outcome.fresh_session) == ("unknown_session", "queued", True)


def test_other_errors_during_execution() -> None:
    outcome = _classify(_summary(subtype="error_during_execution", errors=["boom"], num_turns=3, model="m"),
                        resumed=True)
    assert outcome.outcome == "cli_error" and "boom" in (outcome.error or "")


def test_budget_error_mentions_the_cost() -> None:
    outcome = _classify(_summary(subtype="error_max_budget_usd", errors=["Reached maximum budget ($1)"],
                                 cost_usd=1.2345))
    assert outcome.outcome == "budget_exceeded" and "$1.2345" in (outcome.error or "")


def test_rate_limit_warning_is_not_a_limit() -> None:
    outcome = _classify(_summary(is_error=False, rate_limit_status="allowed_warning",
                                 rate_limit_resets_at=NOW + timedelta(hours=1)), exit_code=0)
    assert outcome.outcome == "success"
