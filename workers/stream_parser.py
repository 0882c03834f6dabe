"""Turn `claude -p --output-format stream-json --verbose` stdout lines into typed events and a run summary.

The protocol grows (new line types, new fields), so: unknown line types become `agent.raw` events, unknown
fields are ignored, a line that is not JSON never raises. The raw lines themselves are kept by the executor.

Event kinds (the UI and the orchestrator rely on these names):

- `agent.init` {session_id, model, cwd, tools, mcp_servers, permission_mode, cli_version, api_key_source}
- `agent.thinking` {text}, `agent.text` {text}: one per content block of an assistant line
- `agent.tool_use` {tool_use_id, name, input}
- `agent.tool_result` {tool_use_id, name, content, is_error} (+ truncated, original_length when cut)
- `agent.result` {subtype, is_error, api_error_status, result, errors, num_turns, durations, cost, usage, …}
- `agent.rate_limit` {status, resets_at, resets_at_epoch, rate_limit_type, info}
- `agent.system` {subtype, …}: every other `system` line (api_retry, status, hooks, tasks, compaction, …)
- `agent.raw` {line_type, data}: anything else (unknown types, control messages, non-JSON output)

Block events from a sub-agent carry `parent_tool_use_id`; the CLI's synthetic error messages carry `error`.
`stream_event` lines (only with --include-partial-messages) and `keep_alive` yield no events: the complete
assistant lines that follow them carry the same content.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from workers.runtime_types import ParsedEvent, RunSummary

CONTENT_LIMIT = 20_000  # characters kept of a tool result, a tool input string or a non-JSON line
SYNTHETIC_MODEL = "<synthetic>"
_SILENT_TYPES = frozenset({"stream_event", "keep_alive"})
_TOOL_USE_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def clip(text: str, limit: int = CONTENT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [truncated: {len(text) - limit} more characters]"


def clip_strings(value: Any, limit: int = CONTENT_LIMIT) -> Any:
    """`value` with every long string inside it clipped (tool inputs can hold whole files)."""
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, list):
        return [clip_strings(item, limit) for item in value]
    if isinstance(value, dict):
        return {key: clip_strings(item, limit) for key, item in value.items()}
    return value


def tool_result_text(content: Any) -> str:
    """A tool_result's content as text: a string, or the text parts of a block list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict) and block.get("type") == "image":
                parts.append("[image]")
            else:
                parts.append(json.dumps(block, ensure_ascii=False))
        return "\n".join(parts)
    return json.dumps(content, ensure_ascii=False)


def _raw(line_type: Any, data: Any) -> ParsedEvent:
    return ParsedEvent("agent.raw", {"line_type": line_type, "data": data})


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class ClaudeStreamParser:
    """One per run attempt. `feed` each stdout line; read `summary` at the end."""

    def __init__(self) -> None:
        self._summary = RunSummary()
        self._tool_names: dict[str, str] = {}  # tool_use_id -> tool name, to pair results with their calls
        self._handlers: dict[str, Callable[[dict[str, Any]], list[ParsedEvent]]] = {
            "system": self._system,
            "assistant": self._assistant,
            "user": self._user,
            "result": self._result,
            "rate_limit_event": self._rate_limit,
        }

    @property
    def summary(self) -> RunSummary:
        return self._summary

    def feed(self, line: str) -> list[ParsedEvent]:
        text = line.strip()
        if not text:
            return []
        try:
            data = json.loads(text)
        except ValueError:
            return [_raw(None, {"text": clip(text)})]
        if isinstance(data, list):  # `--output-format json --verbose` prints every message in one array
            return [event for item in data for event in self._message(item)]
        return self._message(data)

    # ------------------------------------------------------------------------------------------- line types

    def _message(self, data: Any) -> list[ParsedEvent]:
        if not isinstance(data, dict):
            return [_raw(None, data)]
        line_type = data.get("type")
        if self._summary.session_id is None and isinstance(data.get("session_id"), str):
            self._summary.session_id = data["session_id"]
        if line_type in _SILENT_TYPES:
            return []
        handler = self._handlers.get(line_type) if isinstance(line_type, str) else None
        if handler is None:
            return [_raw(line_type, data)]
        try:
            return handler(data)
        except (AttributeError, TypeError, ValueError, KeyError):  # a known type in an unexpected shape
            return [_raw(line_type, data)]

    def _system(self, data: dict[str, Any]) -> list[ParsedEvent]:
        subtype = data.get("subtype")
        if subtype == "init":
            return [self._init(data)]
        payload = {key: value for key, value in data.items() if key not in ("type", "session_id")}
        payload["subtype"] = subtype
        return [ParsedEvent("agent.system", payload)]

    def _init(self, data: dict[str, Any]) -> ParsedEvent:
        summary = self._summary
        if isinstance(data.get("session_id"), str):
            summary.session_id = data["session_id"]
        summary.model = data.get("model") or summary.model
        summary.cli_version = data.get("claude_code_version") or summary.cli_version
        summary.tools = list(data.get("tools") or [])
        return ParsedEvent("agent.init", {
            "session_id": data.get("session_id"),
            "model": data.get("model"),
            "cwd": data.get("cwd"),
            "tools": summary.tools,
            "mcp_servers": data.get("mcp_servers") or [],
            "permission_mode": data.get("permissionMode"),
            "cli_version": data.get("claude_code_version"),
            "api_key_source": data.get("apiKeySource"),
        })

    def _assistant(self, data: dict[str, Any]) -> list[ParsedEvent]:
        message = data.get("message") or {}
        parent = data.get("parent_tool_use_id")
        extra: dict[str, Any] = {}
        if parent:
            extra["parent_tool_use_id"] = parent
        if data.get("error"):
            extra["error"] = data["error"]
        if not parent and message.get("model") != SYNTHETIC_MODEL:
            self._note_context(message.get("usage"))
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        return [self._assistant_block(block, extra) for block in content or []]

    def _assistant_block(self, block: Any, extra: dict[str, Any]) -> ParsedEvent:
        block_type = block.get("type") if isinstance(block, dict) else None
        if block_type == "text":
            return ParsedEvent("agent.text", {"text": block.get("text", ""), **extra})
        if block_type == "thinking":
            return ParsedEvent("agent.thinking", {"text": block.get("thinking", ""), **extra})
        if block_type == "redacted_thinking":
            return ParsedEvent("agent.thinking", {"text": "", "redacted": True, **extra})
        if block_type in _TOOL_USE_BLOCKS:
            tool_use_id = str(block.get("id", ""))
            name = str(block.get("name", ""))
            self._tool_names[tool_use_id] = name
            return ParsedEvent("agent.tool_use", {
                "tool_use_id": tool_use_id, "name": name, "input": clip_strings(block.get("input") or {}), **extra,
            })
        return _raw("assistant", {"block": block, **extra})

    def _user(self, data: dict[str, Any]) -> list[ParsedEvent]:
        message = data.get("message") or {}
        parent = data.get("parent_tool_use_id")
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        events = []
        for block in content or []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                events.append(self._tool_result(block, parent))
            else:
                events.append(_raw("user", {"block": block, "parent_tool_use_id": parent}))
        return events

    def _tool_result(self, block: dict[str, Any], parent: str | None) -> ParsedEvent:
        tool_use_id = str(block.get("tool_use_id", ""))
        text = tool_result_text(block.get("content"))
        payload: dict[str, Any] = {
            "tool_use_id": tool_use_id,
            "name": self._tool_names.get(tool_use_id),
            "content": clip(text),
            "is_error": bool(block.get("is_error")),
        }
        if len(text) > CONTENT_LIMIT:
            payload["truncated"] = True
            payload["original_length"] = len(text)
        if parent:
            payload["parent_tool_use_id"] = parent
        return ParsedEvent("agent.tool_result", payload)

    def _result(self, data: dict[str, Any]) -> list[ParsedEvent]:
        summary = self._summary
        summary.result_seen = True
        summary.subtype = data.get("subtype")
        summary.is_error = bool(data.get("is_error"))
        summary.api_error_status = _int(data.get("api_error_status"))
        summary.result_text = data.get("result") if isinstance(data.get("result"), str) else None
        summary.errors = [str(error) for error in data.get("errors") or []]
        summary.terminal_reason = data.get("terminal_reason")
        summary.usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        summary.model_usage = data.get("modelUsage") if isinstance(data.get("modelUsage"), dict) else None
        cost = data["total_cost_usd"] if "total_cost_usd" in data else data.get("cost_usd")  # 1.0.x: cost_usd
        summary.cost_usd = _number(cost)
        summary.num_turns = _int(data.get("num_turns"))
        summary.duration_ms = _int(data.get("duration_ms"))
        summary.duration_api_ms = _int(data.get("duration_api_ms"))
        summary.context_window = self._context_window() or summary.context_window
        if summary.session_id is None and isinstance(data.get("session_id"), str):
            summary.session_id = data["session_id"]
        return [ParsedEvent("agent.result", {
            "subtype": summary.subtype,
            "is_error": summary.is_error,
            "api_error_status": summary.api_error_status,
            "result": summary.result_text,
            "errors": summary.errors,
            "num_turns": summary.num_turns,
            "duration_ms": summary.duration_ms,
            "duration_api_ms": summary.duration_api_ms,
            "total_cost_usd": summary.cost_usd,
            "usage": summary.usage,
            "model_usage": summary.model_usage,
            "terminal_reason": summary.terminal_reason,
            "stop_reason": data.get("stop_reason"),
            "permission_denials": data.get("permission_denials") or [],
            "session_id": data.get("session_id"),
            "context_tokens": summary.context_tokens,
            "context_window": summary.context_window,
        })]

    def _rate_limit(self, data: dict[str, Any]) -> list[ParsedEvent]:
        info = data.get("rate_limit_info") or {}
        status = info.get("status")
        epoch = _number(info.get("resetsAt"))
        resets_at = datetime.fromtimestamp(epoch, UTC) if epoch is not None else None
        self._summary.rate_limit_status = status
        self._summary.rate_limit_resets_at = resets_at
        return [ParsedEvent("agent.rate_limit", {
            "status": status,
            "resets_at": resets_at.isoformat() if resets_at else None,
            "resets_at_epoch": epoch,
            "rate_limit_type": info.get("rateLimitType"),
            "info": info,
        })]

    # ------------------------------------------------------------------------------------------- helpers

    def _note_context(self, usage: Any) -> None:
        """Context size = what the last main-thread request sent: input + cache read + cache creation tokens."""
        if not isinstance(usage, dict):
            return
        keys = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        self._summary.context_tokens = sum(_int(usage.get(key)) or 0 for key in keys)

    def _context_window(self) -> int | None:
        model_usage = self._summary.model_usage or {}
        entries = [entry for entry in model_usage.values() if isinstance(entry, dict)]
        main = model_usage.get(self._summary.model or "")
        if isinstance(main, dict) and _int(main.get("contextWindow")):
            return _int(main.get("contextWindow"))
        windows = [_int(entry.get("contextWindow")) for entry in entries]
        return max((window for window in windows if window), default=None)
