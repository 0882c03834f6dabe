"""The model double at the HTTP level: the Messages API wire format, brain selection, errors, unknown routes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.model_double import BRAINS, Conversation, ModelDouble, start
from tests.model_double.replies import Text, Turn
from workers import agent_commands as cmd

SYSTEM = [{"type": "text", "text": "You are an agent.\n - Primary working directory: /work/team/agents/ada\n"}]
CLAUDE_MD = ("<system-reminder>\nContents of /work/team/agents/ada/CLAUDE.md (project instructions):\n"
             "You are Ada. [[brain:echo text=from-claude-md]]\n</system-reminder>\n")


def request(prompt: str, *, stream: bool = False, messages: list | None = None) -> dict[str, Any]:
    first = {"role": "user", "content": [{"type": "text", "text": CLAUDE_MD}, {"type": "text", "text": prompt}]}
    return {"model": "claude-test", "max_tokens": 100, "stream": stream, "system": SYSTEM,
            "messages": [first, *(messages or [])]}


def post(url: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def sse(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in body.decode().split("\n\n"):
        if not frame.strip():
            continue
        name = frame.split("\n")[0].removeprefix("event: ")
        data = json.loads(frame.split("\n")[1].removeprefix("data: "))
        assert data["type"] == name
        events.append((name, data))
    return events


@pytest.fixture
def double() -> ModelDouble:
    with ModelDouble() as server:
        yield server


def test_streamed_turn_has_the_apis_event_sequence(double: ModelDouble) -> None:
    status, headers, body = post(double.url, "/v1/messages?beta=true",
                                 request('[[brain:write_file cmd="echo hi"]] go', stream=True))
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = sse(body)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"] and names[-2:] == ["message_delta", "message_stop"]
    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert [block["type"] for block in starts] == ["thinking", "text", "tool_use", "tool_use"]
    assert [block.get("name") for block in starts[2:]] == ["Bash", "Write"]
    deltas = "".join(data["delta"].get("partial_json", "") for name, data in events
                     if name == "content_block_delta" and data["index"] == 2)
    assert json.loads(deltas) == {"command": "echo hi", "description": "Run the requested command"}
    write = json.loads("".join(data["delta"].get("partial_json", "") for name, data in events
                               if name == "content_block_delta" and data["index"] == 3))
    assert write["file_path"] == "/work/team/agents/ada/hello.txt"  # relative to the CLI's cwd
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    usage = events[0][1]["message"]["usage"]
    assert usage["input_tokens"] > 0 and usage["cache_read_input_tokens"] > 0
    assert double.requests[-1].brain == "write_file"


def test_plain_json_reply_and_marker_precedence(double: ModelDouble) -> None:
    status, _, body = post(double.url, "/v1/messages", request("hello"))
    message = json.loads(body)
    assert status == 200 and message["content"] == [{"type": "text", "text": "from-claude-md"}]
    assert message["stop_reason"] == "end_turn" and message["model"] == "claude-test"
    _, _, body = post(double.url, "/v1/messages", request("[[brain:echo text=from-prompt]] hi"))
    assert json.loads(body)["content"][0]["text"] == "from-prompt"


def test_select_callback_overrides_markers() -> None:
    with ModelDouble(select=lambda conv: "echo text=selected" if conv.cwd.endswith("/ada") else None) as server:
        _, _, body = post(server.url, "/v1/messages", request("[[brain:error_401]] hi"))
    assert json.loads(body)["content"][0]["text"] == "selected"


@pytest.mark.parametrize(("brain", "status", "error_type"), [
    ("error_401", 401, "authentication_error"), ("error_429", 429, "rate_limit_error"),
    ("error_529", 529, "overloaded_error"), ("usage_limit", 429, "rate_limit_error"),
])
def test_error_brains(double: ModelDouble, brain: str, status: int, error_type: str) -> None:
    code, headers, body = post(double.url, "/v1/messages", request(f"[[brain:{brain}]] hi", stream=True))
    assert code == status and json.loads(body)["error"]["type"] == error_type
    if brain == "usage_limit":
        assert headers["anthropic-ratelimit-unified-status"] == "rejected"
        assert abs(int(headers["anthropic-ratelimit-unified-reset"]) - (time.time() + 3600)) < 60
        assert headers["anthropic-ratelimit-unified-representative-claim"] == "five_hour"


def test_unknown_brain_and_routes_are_reported(double: ModelDouble) -> None:
    code, _, body = post(double.url, "/v1/messages", request("[[brain:nope]] hi"))
    assert code == 400 and "known brains" in json.loads(body)["error"]["message"]
    code, _, _ = post(double.url, "/v1/something/new", {"x": 1})
    assert code == 404 and [entry.path for entry in double.unknown] == ["/v1/something/new"]
    code, _, body = post(double.url, "/v1/messages/count_tokens", request("hi"))
    assert code == 200 and json.loads(body)["input_tokens"] > 0
    with urllib.request.urlopen(double.url + "/", timeout=5) as response:
        assert response.status == 200


def test_conversation_tracks_steps_and_tool_results() -> None:
    history = [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash",
                                           "input": {"command": cmd.shell(cmd.list_tasks())}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "[]"},
                                     {"type": "text", "text": "<system-reminder>todo</system-reminder>"}]},
        {"role": "system", "content": "mid-conversation system text"},
    ]
    conv = Conversation(request("[[brain:member]] work", messages=history))
    assert conv.prompt == "[[brain:member]] work" and conv.step == 1 and conv.cwd == "/work/team/agents/ada"
    assert [(r.call.name if r.call else None, r.content) for r in conv.results] == [("Bash", "[]")]
    assert conv.brain_name == "member" and "CLAUDE.md" in conv.claude_md
    later = [*history, {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
             {"role": "user", "content": [{"type": "text", "text": "next prompt"}]}]
    resumed = Conversation(request("[[brain:member]] work", messages=later))
    assert resumed.prompt == "next prompt" and resumed.step == 0 and resumed.results == []
    assert [call.id for call in resumed.earlier_calls] == ["t1"]
    assert resumed.brain_name == "member"  # no marker in the new prompt: the newest one before it


def test_registering_a_brain(double: ModelDouble) -> None:
    BRAINS["test_custom"] = lambda conv: Turn([Text(f"custom step {conv.step}")])
    try:
        _, _, body = post(double.url, "/v1/messages", request("[[brain:test_custom]] hi"))
        assert json.loads(body)["content"][0]["text"] == "custom step 0"
    finally:
        del BRAINS["test_custom"]


def test_slow_stream_stops_with_the_server() -> None:
    url, stop = start()
    started = time.monotonic()
    req = urllib.request.Request(url + "/v1/messages", method="POST", headers={"content-type": "application/json"},
                                 data=json.dumps(request("[[brain:slow_stream seconds=60 interval=0.2]] hi",
                                                         stream=True)).encode())
    with urllib.request.urlopen(req, timeout=10) as response:
        first = response.read(200)
        assert b"message_start" in first
        stop()
        response.read()
    assert time.monotonic() - started < 5


def test_runs_as_a_process() -> None:
    process = subprocess.Popen([sys.executable, "-m", "tests.model_double"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("MODEL_DOUBLE_URL=http://127.0.0.1:")
        _, _, body = post(line.split("=", 1)[1], "/v1/messages", request("[[brain:echo text=proc]] hi"))
        assert json.loads(body)["content"][0]["text"] == "proc"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_side_requests_get_a_neutral_answer(double: ModelDouble) -> None:
    title = {"model": "m", "max_tokens": 10, "system": [{"type": "text", "text": "Generate a concise title"}],
             "messages": [{"role": "user", "content": "<session>[[brain:error_401]]</session>"}], "tools": [],
             "output_config": {"format": {"type": "json_schema", "schema": {
                 "type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}}}}
    code, _, body = post(double.url, "/v1/messages", title)
    assert code == 200 and json.loads(json.loads(body)["content"][0]["text"]) == {"title": "Model double session"}
    assert double.messages_requests() == [] and double.requests[-1].brain == "(side request)"
