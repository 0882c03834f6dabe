"""Write stream-json lines exactly as `claude -p --output-format stream-json --verbose` 2.1.x does.

Same line types, same key order, compact separators, raw UTF-8 (see the captures in
tests/fixtures/claude-stream-json/). Used by the demo agent, so that everything downstream — the parser,
the outcome rules, the UI — treats a demo run exactly like a real one.
"""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

DEMO_MODEL = "gamma-demo"
DEMO_VERSION = "demo"
CONTEXT_WINDOW = 200_000


def dumps(line: dict[str, Any]) -> str:
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False)


def _uuid() -> str:
    return str(uuid.uuid4())


def _usage(input_tokens: int = 0, output_tokens: int = 0) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "output_tokens": output_tokens, "service_tier": "standard"}


class StreamWriter:
    """One session's lines. Assistant blocks of one message share its id, as the CLI prints them."""

    def __init__(self, session_id: str, out: TextIO | None = None, model: str = DEMO_MODEL) -> None:
        self.session_id = session_id
        self.model = model
        self.out = out or sys.stdout
        self._message_id = ""
        self._request_id = ""
        self.new_message()

    def emit(self, line: dict[str, Any]) -> None:
        self.out.write(dumps(line) + "\n")
        self.out.flush()

    def new_message(self) -> None:
        self._message_id = "msg_01" + secrets.token_hex(11)
        self._request_id = "req_demo_" + secrets.token_hex(6)

    # ------------------------------------------------------------------------------------------ lines

    def init(self, cwd: str, tools: list[str], permission_mode: str = "default") -> None:
        self.emit({
            "type": "system", "subtype": "init", "cwd": cwd, "session_id": self.session_id, "tools": tools,
            "mcp_servers": [], "model": self.model, "permissionMode": permission_mode, "slash_commands": [],
            "apiKeySource": "none", "claude_code_version": DEMO_VERSION, "output_style": "default", "agents": [],
            "skills": [], "plugins": [], "analytics_disabled": True, "product_feedback_disabled": True,
            "uuid": _uuid(), "memory_paths": {}, "fast_mode_state": "off",
        })

    def _assistant(self, block: dict[str, Any]) -> None:
        self.emit({
            "type": "assistant",
            "message": {"id": self._message_id, "type": "message", "role": "assistant", "model": self.model,
                        "content": [block], "stop_reason": None, "stop_sequence": None, "usage": _usage(),
                        "context_management": None},
            "parent_tool_use_id": None, "session_id": self.session_id, "uuid": _uuid(),
            "request_id": self._request_id,
        })

    def thinking(self, text: str) -> None:
        self._assistant({"type": "thinking", "thinking": text, "signature": "demo"})

    def text(self, text: str) -> None:
        self._assistant({"type": "text", "text": text})

    def tool_use(self, name: str, tool_input: dict[str, Any]) -> str:
        tool_use_id = "toolu_01" + secrets.token_hex(11)
        self._assistant({"type": "tool_use", "id": tool_use_id, "name": name, "input": tool_input})
        return tool_use_id

    def tool_result(self, tool_use_id: str, content: str, *, is_error: bool = False,
                    structured: Any = None) -> None:
        self.emit({
            "type": "user",
            "message": {"role": "user", "content": [
                {"tool_use_id": tool_use_id, "type": "tool_result", "content": content, "is_error": is_error}]},
            "parent_tool_use_id": None, "session_id": self.session_id, "uuid": _uuid(),
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "tool_use_result": structured if structured is not None else content,
        })
        self.new_message()

    def result(self, text: str, *, num_turns: int, duration_ms: int, errors: list[str] | None = None) -> None:
        usage = {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                 "output_tokens": 0, "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                 "service_tier": "standard",
                 "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                 "inference_geo": "", "iterations": [], "speed": "standard"}
        model_usage = {self.model: {"inputTokens": 0, "outputTokens": 0, "cacheReadInputTokens": 0,
                                    "cacheCreationInputTokens": 0, "webSearchRequests": 0, "costUSD": 0,
                                    "contextWindow": CONTEXT_WINDOW, "maxOutputTokens": 32000}}
        if errors:
            self.emit({
                "type": "result", "subtype": "error_during_execution", "duration_ms": duration_ms,
                "duration_api_ms": 0, "is_error": True, "num_turns": num_turns, "stop_reason": None,
                "session_id": self.session_id, "total_cost_usd": 0, "usage": usage, "modelUsage": model_usage,
                "permission_denials": [], "fast_mode_state": "off", "uuid": _uuid(), "errors": errors,
            })
            return
        self.emit({
            "type": "result", "subtype": "success", "is_error": False, "api_error_status": None,
            "duration_ms": duration_ms, "duration_api_ms": 0, "ttft_ms": 0, "ttft_stream_ms": 0,
            "time_to_request_ms": 0, "num_turns": num_turns, "result": text,
            "stop_reason": "end_turn", "session_id": self.session_id, "total_cost_usd": 0, "usage": usage,
            "modelUsage": model_usage, "permission_denials": [], "terminal_reason": "completed",
            "fast_mode_state": "off", "uuid": _uuid(),
        })
