"""ClaudeStreamParser against every captured sample of the real CLI's output (tests/fixtures/claude-stream-json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workers.runtime_types import ParsedEvent
from workers.stream_parser import CONTENT_LIMIT, ClaudeStreamParser

SAMPLES = Path(__file__).parent / "fixtures" / "claude-stream-json"
ALL_FILES = sorted(SAMPLES.iterdir())
KNOWN_KINDS = {"agent.init", "agent.thinking", "agent.text", "agent.tool_use", "agent.tool_result", "agent.result",
               "agent.rate_limit", "agent.system", "agent.raw"}


def sample(prefix: str) -> Path:
    return next(path for path in ALL_FILES if path.name.startswith(prefix) and ".stdout." in path.name)


def parse(path: Path) -> tuple[ClaudeStreamParser, list[ParsedEvent]]:
    parser = ClaudeStreamParser()
    events = [event for line in path.read_text().splitlines() for event in parser.feed(line)]
    return parser, events


def kinds(events: list[ParsedEvent]) -> list[str]:
    return [event.kind for event in events]


def payloads(events: list[ParsedEvent], kind: str) -> list[dict]:
    return [event.payload for event in events if event.kind == kind]


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: path.name)
def test_every_sample_line_parses_into_known_events(path: Path) -> None:
    parser = ClaudeStreamParser()
    for line in path.read_text().splitlines():
        events = parser.feed(line)
        assert {event.kind for event in events} <= KNOWN_KINDS
        for event in events:
            json.dumps(event.payload)  # storable as JSON
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        if data["type"] == "assistant":  # one event per content block, not only the first
            assert len(events) == len(data["message"]["content"])
        if data["type"] in ("system", "assistant", "result", "rate_limit_event"):
            assert all(event.kind != "agent.raw" for event in events), line[:200]


def test_init_and_success_result() -> None:
    parser, events = parse(sample("01"))
    assert kinds(events) == ["agent.init", "agent.text", "agent.result"]
    init = events[0].payload
    assert init["session_id"] == "f38a28bb-fa38-43e1-9851-07f0ad9aa0b2"
    assert init["model"] == "claude-sonnet-4-5-20250929" and init["cli_version"] == "2.1.197"
    assert "Bash" in init["tools"] and init["permission_mode"] == "default"
    assert events[1].payload == {"text": "pong"}
    summary = parser.summary
    assert summary.session_id == init["session_id"] and summary.cli_version == "2.1.197"
    assert summary.result_seen and summary.subtype == "success" and summary.is_error is False
    assert summary.result_text == "pong" and summary.num_turns == 1
    assert summary.cost_usd == pytest.approx(0.000381)
    assert summary.usage and summary.usage["output_tokens"] == 17
    assert summary.model_usage and "claude-sonnet-4-5-20250929" in summary.model_usage
    assert (summary.duration_ms, summary.duration_api_ms) == (221, 31)
    assert summary.context_tokens == 42 and summary.context_window == 200_000
    assert events[-1].payload["total_cost_usd"] == summary.cost_usd


def test_thinking_text_and_paired_tool_call() -> None:
    parser, events = parse(sample("02"))
    assert kinds(events) == ["agent.init", "agent.system", "agent.thinking", "agent.text", "agent.tool_use",
                             "agent.tool_result", "agent.text", "agent.result"]
    assert events[1].payload["subtype"] == "thinking_tokens"
    assert events[2].payload == {"text": "I should run echo."}
    use, result = events[4].payload, events[5].payload
    assert use == {"tool_use_id": "toolu_010f706037f26740b68811", "name": "Bash",
                   "input": {"command": "echo hello", "description": "Print hello"}}
    assert result == {"tool_use_id": use["tool_use_id"], "name": "Bash", "content": "hello", "is_error": False}
    assert parser.summary.context_window == 1_000_000  # modelUsage of the init model "claude-opus-4-8[1m]"


def test_partial_messages_do_not_duplicate_text() -> None:
    _, events = parse(sample("03"))
    assert kinds(events) == ["agent.init", "agent.system", "agent.text", "agent.result"]


def test_unknown_session_has_no_init_but_a_session_id() -> None:
    parser, events = parse(sample("05"))
    assert kinds(events) == ["agent.result"]
    assert parser.summary.session_id == "00000000-0000-4000-8000-000000000000"
    assert parser.summary.subtype == "error_during_execution"
    assert parser.summary.errors == ["No conversation found with session ID: 00000000-0000-4000-8000-000000000000"]


def test_max_turns_result() -> None:
    parser, _ = parse(sample("07"))
    assert parser.summary.subtype == "error_max_turns" and parser.summary.is_error
    assert parser.summary.terminal_reason == "max_turns"
    assert parser.summary.errors == ["Reached maximum number of turns (1)"]
    assert parser.summary.result_text is None


@pytest.mark.parametrize(("prefix", "status", "error"), [
    ("08", 401, "authentication_failed"), ("09", 429, "rate_limit"), ("10", 529, "server_error"),
])
def test_api_errors(prefix: str, status: int, error: str) -> None:
    parser, events = parse(sample(prefix))
    assert kinds(events) == ["agent.init", "agent.system", "agent.text", "agent.result"]
    retry = events[1].payload
    assert retry["subtype"] == "api_retry" and retry["error_status"] == status
    assert events[2].payload["error"] == error  # the CLI's synthetic message
    assert parser.summary.api_error_status == status and parser.summary.is_error
    assert parser.summary.context_tokens is None  # synthetic messages are not the model's context


def test_usage_limit_rate_limit_event() -> None:
    parser, events = parse(sample("11"))
    event = payloads(events, "agent.rate_limit")[0]
    assert event["status"] == "rejected" and event["rate_limit_type"] == "five_hour"
    assert event["resets_at_epoch"] == 1795486217
    assert parser.summary.rate_limit_status == "rejected"
    assert parser.summary.rate_limit_resets_at == datetime.fromtimestamp(1795486217, UTC)
    assert event["resets_at"] == parser.summary.rate_limit_resets_at.isoformat()


def test_denied_tool_result_is_an_error() -> None:
    _, events = parse(sample("13"))
    result = payloads(events, "agent.tool_result")[0]
    assert result["is_error"] and result["name"] == "Bash" and "was blocked" in result["content"]
    assert payloads(events, "agent.result")[0]["permission_denials"][0]["tool_name"] == "Bash"


def test_json_output_format_single_object() -> None:
    parser, events = parse(next(path for path in ALL_FILES if path.name.startswith("14")))
    assert kinds(events) == ["agent.result"] and parser.summary.result_text == "pong"


def test_two_turns_keep_the_last_result() -> None:
    parser, events = parse(sample("15"))
    assert kinds(events).count("agent.init") == 2 and kinds(events).count("agent.result") == 2
    assert parser.summary.cost_usd == pytest.approx(0.00127)  # cumulative in the last result


def test_interrupt_control_messages_are_kept_raw() -> None:
    parser, events = parse(sample("16"))
    raw = payloads(events, "agent.raw")
    assert raw[0]["line_type"] == "control_response"
    assert raw[1] == {"line_type": "user", "data": {
        "block": {"type": "text", "text": "[Request interrupted by user]"}, "parent_tool_use_id": None}}
    assert parser.summary.terminal_reason == "aborted_streaming"


def test_compaction_lines_are_system_events() -> None:
    _, events = parse(sample("17"))
    subtypes = [payload["subtype"] for payload in payloads(events, "agent.system")]
    assert "compact_boundary" in subtypes and subtypes.count("status") == 2


def test_hook_events_before_init() -> None:
    parser, events = parse(sample("18"))
    assert kinds(events)[:3] == ["agent.system", "agent.system", "agent.init"]
    assert events[0].payload["subtype"] == "hook_started"
    assert parser.summary.session_id == "84244b42-0681-41e2-af1c-37751103609f"


def test_subagent_lines() -> None:
    _, events = parse(sample("19"))
    use = payloads(events, "agent.tool_use")[0]
    assert use["name"] == "Task"
    subtypes = [payload["subtype"] for payload in payloads(events, "agent.system")]
    assert {"task_started", "task_updated", "task_notification"} <= set(subtypes)
    prompt = [p for p in payloads(events, "agent.raw") if p["line_type"] == "user"][0]
    assert prompt["data"]["parent_tool_use_id"] == use["tool_use_id"]
    result = payloads(events, "agent.tool_result")[0]
    assert result["name"] == "Task" and result["content"].startswith("pong\nagentId: ab00c6187410973fc")


def test_budget_result() -> None:
    parser, _ = parse(sample("20"))
    assert parser.summary.subtype == "error_max_budget_usd"
    assert parser.summary.errors == ["Reached maximum budget ($0.0001)"]


def test_permission_prompt_request_is_raw() -> None:
    _, events = parse(sample("21"))
    assert [p["line_type"] for p in payloads(events, "agent.raw")] == ["control_response", "control_request"]


@pytest.mark.parametrize("line", [
    "", "   ", "[SandboxDebug] something", "{not json", '{"type":"assistant","message":', "42", '"text"', "null",
    '{"no_type": true}', '{"type":"brand_new_thing","x":1}', '{"type":"assistant","message":{"content":"plain"}}',
    '{"type":"assistant","message":{"content":[{"type":"image"}, 7]}}', '{"type":"user","message":null}',
    '{"type":"result","usage":"weird","num_turns":"3","total_cost_usd":"free"}',
    '{"type":"rate_limit_event","rate_limit_info":{"status":"allowed"}}',
])
def test_odd_lines_never_raise(line: str) -> None:
    events = ClaudeStreamParser().feed(line)
    assert {event.kind for event in events} <= KNOWN_KINDS
    if line.strip() and not line.strip().startswith(("{", "[", '"', "4", "n")):
        assert events[0].kind == "agent.raw" and events[0].payload["line_type"] is None


def test_unknown_type_is_raw_and_keeps_its_data() -> None:
    events = ClaudeStreamParser().feed('{"type":"brand_new_thing","x":1}')
    assert events == [ParsedEvent("agent.raw", {"line_type": "brand_new_thing",
                                                "data": {"type": "brand_new_thing", "x": 1}})]


def test_json_array_output_is_split_into_messages() -> None:
    lines = sample("01").read_text().splitlines()
    parser = ClaudeStreamParser()
    events = parser.feed("[" + ",".join(lines) + "]")
    assert kinds(events) == ["agent.init", "agent.text", "agent.result"] and parser.summary.result_seen


def test_huge_tool_results_and_inputs_are_truncated() -> None:
    parser = ClaudeStreamParser()
    big = "y" * (CONTENT_LIMIT + 5000)
    use = {"type": "assistant", "message": {"content": [
        {"type": "tool_use", "id": "t1", "name": "Write", "input": {"file_path": "/x", "content": big}}]}}
    result = {"type": "user", "message": {"content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": big}]}]}}
    [use_event] = parser.feed(json.dumps(use))
    [result_event] = parser.feed(json.dumps(result))
    assert len(use_event.payload["input"]["content"]) < CONTENT_LIMIT + 100
    assert result_event.payload["name"] == "Write" and result_event.payload["truncated"] is True
    assert result_event.payload["original_length"] == len(big)
    assert result_event.payload["content"].endswith("[truncated: 5000 more characters]")


def test_legacy_cost_field() -> None:
    parser = ClaudeStreamParser()
    parser.feed('{"type":"result","subtype":"success","is_error":false,"cost_usd":0.5,"result":"ok"}')
    assert parser.summary.cost_usd == 0.5
