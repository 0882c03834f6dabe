"""Turn `codex exec --json` stdout lines into Gamma's event kinds and a run summary.

Lines (codex 0.171.0, see `tests/fixtures/codex-exec-json/`): `thread.started{thread_id}`, `turn.started`,
`item.started|item.updated|item.completed{item:{id,type,…}}`, `turn.completed{usage}`, `turn.failed{error}`,
`error{message}` (also transient "Reconnecting…" notes). Unknown types and fields are tolerated as in the claude
parser: unknown lines become `agent.raw`, a line that is not JSON never raises.

Mapping onto the kinds the UI and the orchestrator know (`workers/stream_parser.py`):

- `thread.started` → `agent.init` {session_id: thread_id, …}; the thread id is the session to resume.
- `agent_message` → `agent.text`; `reasoning` → `agent.thinking`.
- `command_execution` → `agent.tool_use` {name: "shell", input: {command}} when it starts, `agent.tool_result`
  {content: aggregated_output, is_error, exit_code} when it completes; `file_change` → `apply_patch` with the
  changed paths; `mcp_tool_call` → `mcp__<server>__<tool>`; `web_search` → `web_search`. An item that only
  ever completes still yields its tool_use first, so every result is paired.
- `turn.completed` → `agent.result` (success; usage in Anthropic's terms: `input_tokens` without the cached part,
  `cache_read_input_tokens`; codex reports no cost); `turn.failed` → `agent.result` with `is_error`.
- `error`, `todo_list`, error items and `turn.started` → `agent.system` {subtype, …}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from workers.runtime_types import ParsedEvent, RunSummary
from workers.stream_parser import clip, clip_strings

SHELL = "shell"
PATCH = "apply_patch"
WEB_SEARCH = "web_search"
_STATUS = re.compile(r"(?:unexpected status|last status:)\s*(\d{3})")
_TOOL_ITEMS = frozenset({"command_execution", "file_change", "mcp_tool_call", "web_search"})


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def api_status(message: str) -> int | None:
    """The HTTP status codex names in an error message ("unexpected status 401 …", "last status: 429 …")."""
    match = _STATUS.search(message or "")
    return int(match.group(1)) if match else None


class CodexStreamParser:
    """One per run attempt. `feed` each stdout line; read `summary` at the end."""

    def __init__(self) -> None:
        self._summary = RunSummary()
        self._started: dict[str, str] = {}  # item id -> tool name, for items whose tool_use was emitted
        self._last_text: str | None = None
        self._errors: list[str] = []
        self._turns = 0
        self._handlers: dict[str, Callable[[dict[str, Any]], list[ParsedEvent]]] = {
            "thread.started": self._thread_started,
            "turn.started": lambda data: [ParsedEvent("agent.system", {"subtype": "turn_started"})],
            "item.started": self._item,
            "item.updated": self._item,
            "item.completed": self._item,
            "turn.completed": self._turn_completed,
            "turn.failed": self._turn_failed,
            "error": self._error,
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
            return [ParsedEvent("agent.raw", {"line_type": None, "data": {"text": clip(text)}})]
        if not isinstance(data, dict):
            return [ParsedEvent("agent.raw", {"line_type": None, "data": data})]
        line_type = data.get("type")
        handler = self._handlers.get(line_type) if isinstance(line_type, str) else None
        if handler is None:
            return [ParsedEvent("agent.raw", {"line_type": line_type, "data": data})]
        try:
            return handler(data)
        except (AttributeError, TypeError, ValueError, KeyError):
            return [ParsedEvent("agent.raw", {"line_type": line_type, "data": data})]

    # ------------------------------------------------------------------------------------------- lines

    def _thread_started(self, data: dict[str, Any]) -> list[ParsedEvent]:
        thread_id = str(data["thread_id"])
        self._summary.session_id = thread_id
        return [ParsedEvent("agent.init", {"session_id": thread_id, "model": None, "cwd": None, "tools": [],
                                           "mcp_servers": [], "permission_mode": None, "cli_version": None,
                                           "api_key_source": None})]

    def _item(self, data: dict[str, Any]) -> list[ParsedEvent]:
        item = data["item"]
        item_type = item.get("type")
        done = data["type"] == "item.completed"
        if item_type in _TOOL_ITEMS:
            return self._tool_item(item, done=done)
        if not done:
            return []  # text and reasoning are reported whole, once completed
        if item_type == "agent_message":
            self._last_text = str(item.get("text", ""))
            return [ParsedEvent("agent.text", {"text": self._last_text})]
        if item_type == "reasoning":
            return [ParsedEvent("agent.thinking", {"text": str(item.get("text", ""))})]
        if item_type == "error":
            return [ParsedEvent("agent.system", {"subtype": "warning", "message": str(item.get("message", ""))})]
        if item_type == "todo_list":
            return [ParsedEvent("agent.system", {"subtype": "todo_list", "items": item.get("items") or []})]
        return [ParsedEvent("agent.raw", {"line_type": data["type"], "data": data})]

    def _tool_item(self, item: dict[str, Any], *, done: bool) -> list[ParsedEvent]:
        item_id = str(item.get("id", ""))
        events = []
        if item_id not in self._started:
            name, tool_input = _tool_call(item)
            self._started[item_id] = name
            events.append(ParsedEvent("agent.tool_use", {"tool_use_id": item_id, "name": name,
                                                         "input": clip_strings(tool_input)}))
        if done:
            events.append(self._tool_result(item_id, item))
        return events

    def _tool_result(self, item_id: str, item: dict[str, Any]) -> ParsedEvent:
        content, is_error = _tool_outcome(item)
        payload: dict[str, Any] = {"tool_use_id": item_id, "name": self._started.get(item_id),
                                   "content": clip(content), "is_error": is_error}
        if item.get("type") == "command_execution":
            payload["exit_code"] = _int(item.get("exit_code"))
        if len(content) > len(payload["content"]):
            payload["truncated"] = True
            payload["original_length"] = len(content)
        return ParsedEvent("agent.tool_result", payload)

    def _turn_completed(self, data: dict[str, Any]) -> list[ParsedEvent]:
        self._turns += 1
        usage = _usage(data.get("usage"))
        summary = self._summary
        summary.usage = usage
        summary.context_tokens = usage["input_tokens"] + usage["cache_read_input_tokens"] if usage else None
        return [self._result(subtype="success", is_error=False, text=self._last_text, raw_usage=data.get("usage"))]

    def _turn_failed(self, data: dict[str, Any]) -> list[ParsedEvent]:
        self._turns += 1
        message = str((data.get("error") or {}).get("message") or (self._errors[-1] if self._errors else ""))
        return [self._result(subtype="turn_failed", is_error=True, text=message, raw_usage=None)]

    def _error(self, data: dict[str, Any]) -> list[ParsedEvent]:
        message = str(data.get("message", ""))
        self._errors.append(message)
        return [ParsedEvent("agent.system", {"subtype": "error", "message": message})]

    def _result(self, *, subtype: str, is_error: bool, text: str | None, raw_usage: Any) -> ParsedEvent:
        summary = self._summary
        summary.result_seen = True
        summary.subtype = subtype
        summary.is_error = is_error
        summary.result_text = text
        summary.api_error_status = api_status(text or "") if is_error else None
        summary.errors = list(self._errors) if is_error else []
        summary.num_turns = self._turns
        return ParsedEvent("agent.result", {
            "subtype": subtype,
            "is_error": is_error,
            "api_error_status": summary.api_error_status,
            "result": text,
            "errors": summary.errors,
            "num_turns": self._turns,
            "duration_ms": None,
            "duration_api_ms": None,
            "total_cost_usd": None,
            "usage": summary.usage if not is_error else None,
            "codex_usage": raw_usage,
            "session_id": summary.session_id,
            "context_tokens": summary.context_tokens,
            "context_window": None,
        })


def _tool_call(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    item_type = item.get("type")
    if item_type == "command_execution":
        return SHELL, {"command": str(item.get("command", ""))}
    if item_type == "file_change":
        return PATCH, {"changes": item.get("changes") or []}
    if item_type == "mcp_tool_call":
        return f"mcp__{item.get('server')}__{item.get('tool')}", dict(item.get("arguments") or {})
    return WEB_SEARCH, {"query": item.get("query"), "action": item.get("action")}


def _tool_outcome(item: dict[str, Any]) -> tuple[str, bool]:
    item_type = item.get("type")
    status = item.get("status")
    if item_type == "command_execution":
        exit_code = _int(item.get("exit_code"))
        return str(item.get("aggregated_output") or ""), status != "completed" or (exit_code or 0) != 0
    if item_type == "file_change":
        changes = "\n".join(f"{change.get('kind')} {change.get('path')}" for change in item.get("changes") or [])
        return changes, status == "failed"
    if item_type == "mcp_tool_call":
        error = item.get("error")
        if error:
            return str(error.get("message", error)), True
        result = item.get("result") or {}
        texts = [str(part.get("text", "")) for part in result.get("content") or [] if isinstance(part, dict)]
        return "\n".join(texts) or json.dumps(result.get("structured_content")), status == "failed"
    return str(item.get("query") or ""), False


def _usage(raw: Any) -> dict[str, Any] | None:
    """codex's usage (input includes the cached part) in the Anthropic terms the runs table stores."""
    if not isinstance(raw, dict):
        return None
    total_in = _int(raw.get("input_tokens")) or 0
    cached = _int(raw.get("cached_input_tokens")) or 0
    return {"input_tokens": max(0, total_in - cached), "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": _int(raw.get("cache_write_input_tokens")) or 0,
            "output_tokens": _int(raw.get("output_tokens")) or 0,
            "reasoning_output_tokens": _int(raw.get("reasoning_output_tokens")) or 0}
