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
    req = urllib.request.Request(url + "/v1/messages", method="POST", headers={"content-type": "application/json"},
                                 data=json.dumps(request("[[brain:slow_stream seconds=60 interval=0.2]] hi",
                                                         stream=True)).encode())
    with urllib.request.urlopen(req, timeout=10) as response:
        first = response.read(200)
        assert b"message_start" in first
        stop()
        rest = response.read()  # returns when the server cuts the stream (else only after the brain's 60 s)
    assert b"message_stop" not in first + rest, "the stream ran to its end instead of stopping with the server"


@pytest.mark.slow
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


ENVIRONMENT = "# Environment\n - Primary working directory: /work/team/agents/bob\n - Platform: linux\n"


@pytest.mark.parametrize("layout", ["system prompt (2.1.197)", "system message (2.1.332)", "user message"])
def test_the_working_directory_is_found_wherever_the_cli_sends_it(layout: str) -> None:
    body = request("[[brain:echo]] hi")
    body["system"] = [{"type": "text", "text": "You are an agent."}]
    block = {"type": "text", "text": ENVIRONMENT}
    if layout.startswith("system prompt"):
        body["system"].append(block)
    elif layout.startswith("system message"):
        body["messages"].append({"role": "system", "content": [block]})
    else:
        body["messages"][0]["content"].insert(0, block)
    conv = Conversation(body)
    assert conv.cwd == "/work/team/agents/bob"
    assert conv.prompt == "[[brain:echo]] hi" and not conv.is_side_request


def test_a_request_without_a_working_directory_never_writes_relative_to_the_double(
        double: ModelDouble, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    body = request("[[brain:write_file path=notes.txt]] go", stream=True)
    body["system"] = [{"type": "text", "text": "You are an agent."}]
    body["tools"] = [{"name": "Bash"}]
    code, _, answer = post(double.url, "/v1/messages", body)
    assert code == 400 and "no working directory" in json.loads(answer)["error"]["message"]
    assert list(tmp_path.iterdir()) == []


def _responses_request(prompt: str, history: list | None = None) -> dict[str, Any]:
    context = "<environment_context>\n  <cwd>/work/team/agents/cy</cwd>\n  <shell>bash</shell>\n</environment_context>"
    return {"model": "gpt-double", "stream": True, "instructions": "", "tools": [{"type": "function",
            "name": "exec_command"}], "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are codex."}]},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "# AGENTS.md instructions for /work/team/agents/cy\n\n<INSTRUCTIONS>\n"
                                           "[[brain:echo text=from-agents-md]]\n</INSTRUCTIONS>"},
            {"type": "input_text", "text": context}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]},
        *(history or [])]}


def test_responses_api_streams_the_brains_turn_as_codex_reads_it(double: ModelDouble) -> None:
    code, headers, body = post(double.url, "/v1/responses",
                               _responses_request('[[brain:write_file path=out.txt cmd="echo hi"]] go'))
    assert code == 200 and headers["content-type"].startswith("text/event-stream")
    events = sse(body)
    names = [name for name, _ in events]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    done = [data["item"] for name, data in events if name == "response.output_item.done"]
    assert [item["type"] for item in done] == ["reasoning", "message", "function_call", "function_call"]
    shell, patch = (json.loads(item["arguments"]) for item in done[2:])
    assert done[2]["name"] == done[3]["name"] == "exec_command" and shell["cmd"] == "echo hi"
    assert patch["cmd"].startswith("apply_patch") and "*** Add File: /work/team/agents/cy/out.txt" in patch["cmd"]
    usage = events[-1][1]["response"]["usage"]
    assert usage["input_tokens"] > usage["input_tokens_details"]["cached_tokens"] > 0
    assert double.responses_requests()[-1].brain == "write_file"


def test_responses_history_is_read_back_as_the_brains_own_calls() -> None:
    from tests.model_double.responses import ResponsesConversation, patch_command

    history = [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "working"}]},
        {"type": "function_call", "name": "exec_command", "call_id": "c1",
         "arguments": json.dumps({"cmd": patch_command("/x/a.md", "one\ntwo")})},
        {"type": "function_call_output", "call_id": "c1", "output": "Exit code: 0\nOutput:\nSuccess."},
        {"type": "function_call", "name": "exec_command", "call_id": "c2", "arguments": json.dumps({"cmd": "sleep"})},
        {"type": "function_call_output", "call_id": "c2",
         "output": "Chunk ID: 1\nProcess running with session ID 7\nOutput:\n"},
    ]
    conv = ResponsesConversation(_responses_request("[[brain:member]] work", history))
    assert conv.cwd == "/work/team/agents/cy" and conv.prompt == "[[brain:member]] work" and conv.step == 2
    assert [(c.name, c.input) for c in conv.calls] == [("Write", {"file_path": "/x/a.md", "content": "one\ntwo"}),
                                                       ("Bash", {"command": "sleep"})]
    assert [r.content for r in conv.results] == ["Success.", ""]
    waiting = conv.running_command()
    assert waiting is not None and (waiting.name, waiting.input["session_id"]) == ("write_stdin", 7)
    plain = ResponsesConversation(_responses_request("hello"))
    assert plain.brain_name == "echo" and plain.args == {"text": "from-agents-md"}  # the marker in AGENTS.md


def test_responses_api_errors_are_openai_shaped(double: ModelDouble) -> None:
    code, _, body = post(double.url, "/v1/responses", _responses_request("[[brain:error_401]] hi"))
    assert code == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
    code, _, body = post(double.url, "/v1/responses", _responses_request("[[brain:usage_limit reset_in=60]] hi"))
    error = json.loads(body)["error"]
    assert code == 429 and error["type"] == "usage_limit_reached" and abs(error["resets_at"] - time.time() - 60) < 30
