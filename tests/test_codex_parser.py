"""CodexStreamParser and codex's outcome rules against every captured sample of the real CLI's output
(tests/fixtures/codex-exec-json, made by `python -m tests.support.capture_codex_samples`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from workers.backends.codex.outcome import CODEX_RULES, parse_reset_time
from workers.backends.codex.parser import CodexStreamParser, api_status
from workers.outcome import classify

SAMPLES = Path(__file__).parent / "fixtures" / "codex-exec-json"
STDOUT_FILES = sorted(SAMPLES.glob("*.stdout.jsonl"))
NOW = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)

EXPECTED = {  # sample prefix → (outcome, state, api_error_status)
    "01": ("success", "succeeded", None),
    "02": ("success", "succeeded", None),
    "03": ("success", "succeeded", None),
    "04": ("unknown_session", "queued", None),
    "05": ("api_error", "failed", 401),
    "06": ("api_error", "failed", 429),
    "07": ("api_error", "failed", 529),
    "08": ("usage_limit", "queued", None),
    "09": ("success", "succeeded", None),
    "10": ("success", "succeeded", None),
    "11": ("config_error", "failed", None),
}


def parse(path: Path) -> tuple[CodexStreamParser, list]:
    parser = CodexStreamParser()
    events = [event for line in path.read_text().splitlines() for event in parser.feed(line)]
    return parser, events


def test_every_scenario_has_a_sample() -> None:
    assert sorted(path.name[:2] for path in STDOUT_FILES) == sorted(EXPECTED)


@pytest.mark.parametrize("path", STDOUT_FILES, ids=lambda path: path.name)
def test_every_sample_parses_into_known_kinds_with_paired_tools(path: Path) -> None:
    parser, events = parse(path)
    kinds = [event.kind for event in events]
    assert "agent.raw" not in kinds, [event.payload for event in events if event.kind == "agent.raw"]
    uses = [event.payload["tool_use_id"] for event in events if event.kind == "agent.tool_use"]
    results = [event.payload["tool_use_id"] for event in events if event.kind == "agent.tool_result"]
    assert sorted(uses) == sorted(results) and len(set(uses)) == len(uses)
    position = {(event.kind, event.payload.get("tool_use_id")): index for index, event in enumerate(events)}
    for tool_use_id in uses:  # each result after its call
        assert position[("agent.tool_use", tool_use_id)] < position[("agent.tool_result", tool_use_id)]
    if kinds:
        assert kinds[0] == "agent.init" and kinds.count("agent.result") == 1 and kinds[-1] == "agent.result"
        assert parser.summary.session_id == events[0].payload["session_id"]


@pytest.mark.parametrize("path", STDOUT_FILES, ids=lambda path: path.name)
def test_every_sample_is_classified(path: Path) -> None:
    parser, _ = parse(path)
    stderr_file = path.with_name(path.name.replace(".stdout.jsonl", ".stderr.txt"))
    stderr = stderr_file.read_text() if stderr_file.exists() else ""
    outcome = classify(parser.summary, exit_code=0 if path.name[:2] in ("01", "02", "03", "09", "10") else 1,
                       stderr_tail=stderr, timed_out=False, cancelled=False, lease_lost=False,
                       resumed=path.name[:2] in ("03", "04"), now=NOW, rules=CODEX_RULES)
    expected_outcome, expected_state, status = EXPECTED[path.name[:2]]
    assert (outcome.outcome, outcome.state) == (expected_outcome, expected_state), outcome
    assert parser.summary.api_error_status == status


def test_a_command_and_a_patch_become_paired_tool_events_with_their_output() -> None:
    parser, events = parse(SAMPLES / "02-command-patch-reasoning.stdout.jsonl")
    kinds = [event.kind for event in events if event.kind != "agent.system"]
    assert kinds == ["agent.init", "agent.thinking", "agent.text", "agent.tool_use", "agent.tool_result",
                     "agent.tool_use", "agent.tool_result", "agent.text", "agent.result"]
    patch, shell = (event.payload for event in events if event.kind == "agent.tool_use")
    assert patch["name"] == "apply_patch" and patch["input"]["changes"] == [
        {"path": "/home/dev/project/notes.txt", "kind": "add"}]
    assert shell["name"] == "shell" and "gamma-agent tasks" in shell["input"]["command"]
    output = [event.payload for event in events if event.kind == "agent.tool_result"][1]
    assert output["exit_code"] == 0 and output["is_error"] is False and '"tasks": []' in output["content"]
    usage = parser.summary.usage
    assert usage is not None and usage["input_tokens"] > 0 and usage["cache_read_input_tokens"] > 0
    assert usage["output_tokens"] > 0 and parser.summary.cost_usd is None  # codex reports no cost
    assert parser.summary.result_text.startswith("Done.")


def test_a_failed_command_is_an_error_result_but_the_turn_succeeds() -> None:
    parser, events = parse(SAMPLES / "09-failed-command.stdout.jsonl")
    failed = [event.payload for event in events if event.kind == "agent.tool_result" and event.payload["is_error"]]
    assert [(result["name"], result["exit_code"]) for result in failed] == [("shell", 2)]
    assert parser.summary.is_error is False


def test_a_polled_long_command_is_one_tool_call() -> None:
    _, events = parse(SAMPLES / "10-long-command-polled.stdout.jsonl")
    uses = [event.payload for event in events if event.kind == "agent.tool_use"]
    assert len(uses) == 1 and "time.sleep" in uses[0]["input"]["command"]


def test_the_usage_limit_waits_for_the_time_codex_names() -> None:
    parser, _ = parse(SAMPLES / "08-usage-limit.stdout.jsonl")
    outcome = CODEX_RULES.from_result(parser.summary, resumed=False, now=NOW)
    assert outcome.outcome == "usage_limit" and outcome.not_before is not None
    assert outcome.not_before > NOW and (outcome.not_before - NOW) <= timedelta(days=1)


@pytest.mark.parametrize(("text", "expected"), [
    ("… or try again at 10:47 PM.", datetime(2026, 12, 1, 22, 47, tzinfo=UTC)),
    ("… or try again at 8:05 AM.", datetime(2026, 12, 2, 8, 5, tzinfo=UTC)),  # already past today: tomorrow
    ("… try again at Dec 3rd, 2026 10:47 PM.", datetime(2026, 12, 3, 22, 47, tzinfo=UTC)),
    ("… try again in 2 hours 5 minutes.", NOW + timedelta(hours=2, minutes=5)),
    ("… try again in 3 days 1 hours 0 minutes.", NOW + timedelta(days=3, hours=1)),
    ("You've hit your usage limit.", None),
])
def test_reset_times(text: str, expected: datetime | None) -> None:
    assert parse_reset_time(text, NOW, ZoneInfo("UTC")) == expected


def test_reset_time_in_the_workers_zone() -> None:
    berlin = parse_reset_time("try again at 11:30 PM", NOW, ZoneInfo("Europe/Berlin"))
    assert berlin == datetime(2026, 12, 1, 22, 30, tzinfo=UTC)


@pytest.mark.parametrize(("message", "status"), [
    ("unexpected status 401 Unauthorized: Incorrect API key", 401),
    ("exceeded retry limit, last status: 429 Too Many Requests", 429),
    ("stream disconnected before completion", None),
])
def test_api_status(message: str, status: int | None) -> None:
    assert api_status(message) == status


def test_unknown_lines_are_kept_raw_and_never_raise() -> None:
    parser = CodexStreamParser()
    assert parser.feed("not json")[0].kind == "agent.raw"
    assert parser.feed('{"type":"something.new","x":1}')[0].payload["line_type"] == "something.new"
    assert parser.feed('{"type":"item.completed","item":{"id":"i","type":"brand_new"}}')[0].kind == "agent.raw"
    assert parser.feed('{"type":"thread.started"}')[0].kind == "agent.raw"  # a known type in an unknown shape
    assert parser.feed("") == []
