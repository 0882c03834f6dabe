"""The OpenAI Responses API side of the double (`POST /v1/responses`, streamed SSE), for the `codex` CLI.

The same brains answer: a Responses request is translated into the Messages shape the brains read (see
`ResponsesConversation`), and their Turn is rendered as Responses stream events (`stream_events`).

What codex 0.171.0 sends (observed): `input` holds `message` items (role `developer` for its instructions, role
`user` for `<environment_context><cwd>…</cwd>…` — the working directory —, for the AGENTS.md/CLAUDE.md text that
starts with `# AGENTS.md instructions`, and for the prompt), then the history as `reasoning`, `message` (role
`assistant`, `output_text`), `function_call` {name, arguments (a JSON string), call_id} and
`function_call_output` {call_id, output} items. Its shell tool is the function `exec_command` {cmd, yield_time_ms,
…}: a command still running after `yield_time_ms` comes back as "Process running with session ID N", and
`write_stdin` {session_id, chars, yield_time_ms} waits on it. A file is written with an `apply_patch` heredoc
through `exec_command`, which codex intercepts and reports as a `file_change`.

Brains speak claude's tool names: `Bash` {command} becomes `exec_command` {cmd}, `Write` {file_path, content}
becomes an `apply_patch` command; the history is translated back, so a brain sees its own calls.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from tests.model_double.conversation import Conversation
from tests.model_double.replies import CHUNK, ApiError, Text, Thinking, ToolUse, Turn, Usage, output_tokens

_CWD = re.compile(r"<cwd>([^<]+)</cwd>")
_CONTEXT_PREFIXES = ("<environment_context>", "# AGENTS.md instructions", "<user_instructions>", "<INSTRUCTIONS>")
_REMINDER = "<system-reminder>\n"
_RUNNING = re.compile(r"Process running with session ID (\d+)")
_PATCH_ADD = re.compile(r"\*\*\* Add File: (.+)\n((?:\+.*\n?)*)")
_OUTPUT = "\nOutput:\n"
SHELL_TOOL = "exec_command"
POLL_TOOL = "write_stdin"
YIELD_MS = 30_000  # codex's cap for exec_command; longer commands are waited on with write_stdin
POLL_MS = 300_000
DELTAS = frozenset({"response.output_text.delta", "response.reasoning_summary_text.delta"})


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _texts(item: dict[str, Any]) -> list[str]:
    content = item.get("content")
    if isinstance(content, str):
        return [content]
    return [str(part.get("text", "")) for part in content or [] if isinstance(part, dict)]


def patch_command(path: str, content: str) -> str:
    """An `apply_patch` invocation that creates (or replaces) `path` with `content`."""
    lines = content.splitlines() or [""]
    body = "\n".join(f"+{line}" for line in lines)
    return (f"apply_patch <<'PATCH'\n*** Begin Patch\n*** Add File: {path}\n{body}\n*** End Patch\nPATCH")


def _written(command: str) -> tuple[str, str] | None:
    if not command.startswith("apply_patch"):
        return None
    match = _PATCH_ADD.search(command)
    if not match:
        return None
    content = "\n".join(line[1:] for line in match.group(2).splitlines())
    return match.group(1).strip(), content


def command_output(output: str) -> str:
    """The command's own output inside codex's exec_command result ("Chunk ID: …\\nOutput:\\n<output>")."""
    head, found, rest = output.partition(_OUTPUT)
    return rest if found else head


class ResponsesConversation(Conversation):
    """A Responses API request seen through the Messages-shaped `Conversation` the brains know."""

    def __init__(self, request: dict[str, Any], body_size: int = 0) -> None:
        messages = list(_as_messages(request.get("input")))
        super().__init__({"model": request.get("model"), "stream": request.get("stream", True),
                          "system": request.get("instructions") or "", "messages": messages,
                          "tools": request.get("tools")}, body_size)
        self.responses_request = request

    @cached_property
    def cwd(self) -> str | None:
        for message in self.all_messages:
            for text in _texts(message):
                match = _CWD.search(text)
                if match:
                    return match.group(1).strip()
        return None

    @property
    def is_side_request(self) -> bool:
        return not self.request.get("tools")

    def running_command(self) -> ToolUse | None:
        outputs = [str(block.get("raw_output", "")) for message in self.messages[self.prompt_index:]
                   for block in message["content"] if block.get("type") == "tool_result"]
        match = _RUNNING.search(outputs[-1]) if outputs else None
        if not match:
            return None
        return ToolUse(POLL_TOOL, {"session_id": int(match.group(1)), "chars": "", "yield_time_ms": POLL_MS})


def _as_messages(items: Any) -> Iterator[dict[str, Any]]:
    """Responses `input` items → Messages-style messages (consecutive assistant items and tool outputs merged)."""
    pending: dict[str, Any] | None = None
    for item in items or []:
        if not isinstance(item, dict):
            continue
        role, block = _as_block(item)
        if block is None:
            continue
        if pending is not None and pending["role"] == role and role != "system" and _mergeable(pending, block):
            pending["content"].append(block)
            continue
        if pending is not None:
            yield pending
        pending = {"role": role, "content": [block]}
    if pending is not None:
        yield pending


def _mergeable(message: dict[str, Any], block: dict[str, Any]) -> bool:
    if message["role"] == "assistant":
        return True
    return block["type"] == "tool_result" and all(b["type"] == "tool_result" for b in message["content"])


def _as_block(item: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    kind = item.get("type", "message")
    if kind == "message":
        role = str(item.get("role"))
        text = "\n".join(_texts(item))
        if role == "developer" or role == "system":
            return "system", {"type": "text", "text": text}
        if role == "user" and text.lstrip().startswith(_CONTEXT_PREFIXES):
            text = _REMINDER + text  # context, not the prompt (as claude's CLAUDE.md reminder)
        return role, {"type": "text", "text": text}
    if kind == "function_call":
        try:
            arguments = json.loads(item.get("arguments") or "{}")
        except ValueError:
            arguments = {}
        name, tool_input = _as_tool(str(item.get("name")), arguments)
        return "assistant", {"type": "tool_use", "id": str(item.get("call_id")), "name": name, "input": tool_input}
    if kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else json.dumps(output)
        return "user", {"type": "tool_result", "tool_use_id": str(item.get("call_id")),
                        "content": command_output(text), "raw_output": text}
    return "assistant", None  # reasoning and others: not part of what a brain reads


def _as_tool(name: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if name == SHELL_TOOL:
        command = str(arguments.get("cmd", ""))
        written = _written(command)
        if written:
            return "Write", {"file_path": written[0], "content": written[1]}
        return "Bash", {"command": command}
    return name, arguments


# ---------------------------------------------------------------------------------------------- the answer


def _as_call(block: ToolUse) -> tuple[str, dict[str, Any]]:
    if block.name == "Bash":
        return SHELL_TOOL, {"cmd": block.input["command"], "yield_time_ms": YIELD_MS}
    if block.name == "Write":
        return SHELL_TOOL, {"cmd": patch_command(block.input["file_path"], block.input["content"]),
                            "yield_time_ms": YIELD_MS}
    return block.name, block.input


def _item(block: Text | Thinking | ToolUse) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "message", "id": _id("msg"), "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": block.text, "annotations": []}]}
    if isinstance(block, Thinking):
        return {"type": "reasoning", "id": _id("rs"), "summary": [{"type": "summary_text", "text": block.thinking}]}
    name, arguments = _as_call(block)
    return {"type": "function_call", "id": _id("fc"), "call_id": block.id, "name": name,
            "arguments": json.dumps(arguments), "status": "completed"}


def _chunks(text: str) -> Iterator[str]:
    for start in range(0, len(text), CHUNK):
        yield text[start:start + CHUNK]


def _item_events(index: int, block: Text | Thinking | ToolUse) -> Iterator[dict[str, Any]]:
    done = _item(block)
    added = {**done, "status": "in_progress"}
    if isinstance(block, Text):
        added["content"] = []
    elif isinstance(block, Thinking):
        added["summary"] = []
    yield {"type": "response.output_item.added", "output_index": index, "item": added}
    if isinstance(block, Text):
        for piece in _chunks(block.text):
            yield {"type": "response.output_text.delta", "item_id": done["id"], "output_index": index,
                   "content_index": 0, "delta": piece}
    elif isinstance(block, Thinking):
        yield {"type": "response.reasoning_summary_part.added", "item_id": done["id"], "output_index": index,
               "summary_index": 0}
        for piece in _chunks(block.thinking):
            yield {"type": "response.reasoning_summary_text.delta", "item_id": done["id"], "output_index": index,
                   "summary_index": 0, "delta": piece}
    yield {"type": "response.output_item.done", "output_index": index, "item": done}


def stream_events(turn: Turn, model: str, usage: Usage) -> Iterator[dict[str, Any]]:
    """The SSE events of one streamed response, in the API's order."""
    response_id = _id("resp")
    base = {"id": response_id, "object": "response", "model": model}
    yield {"type": "response.created", "response": {**base, "status": "in_progress", "output": []}}
    for index, block in enumerate(turn.blocks):
        yield from _item_events(index, block)
    out = output_tokens(turn)
    cached = usage.cache_read_input_tokens
    total_in = usage.input_tokens + usage.cache_creation_input_tokens + cached
    yield {"type": "response.completed", "response": {
        **base, "status": "completed",
        "usage": {"input_tokens": total_in, "input_tokens_details": {"cached_tokens": cached},
                  "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": total_in + out}}}


def sse_frame(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def error_body(error: ApiError) -> bytes:
    """The OpenAI form of a brain's (Anthropic-shaped) API error: the same status, OpenAI's type and code.

    The subscription limit (the `anthropic-ratelimit-unified-*` headers) becomes ChatGPT's
    `usage_limit_reached` with `resets_at` (epoch seconds), which codex turns into its usage-limit message."""
    reset = error.headers.get("anthropic-ratelimit-unified-reset")
    if reset is not None:
        body: dict[str, Any] = {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                                "plan_type": "plus", "resets_at": int(reset)}
    else:
        code = {"authentication_error": "invalid_api_key", "rate_limit_error": "rate_limit_exceeded",
                "overloaded_error": "server_is_overloaded"}.get(error.error_type, error.error_type)
        kind = "invalid_request_error" if code == "invalid_api_key" else error.error_type
        message = "Incorrect API key provided: double-***." if code == "invalid_api_key" else error.message
        body = {"message": message, "type": kind, "param": None, "code": code}
    return json.dumps({"error": body}).encode()
