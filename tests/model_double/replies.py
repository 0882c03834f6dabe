"""What a brain answers: an assistant turn (text, thinking and tool_use blocks) or an API error, and how each is
rendered as the Anthropic Messages API does (SSE stream or one JSON message; error bodies and headers)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

CHUNK = 24  # characters per text/thinking/json delta


def _tool_id() -> str:
    return "toolu_01" + secrets.token_hex(11)


def message_id() -> str:
    return "msg_01" + secrets.token_hex(11)


def request_id() -> str:
    return "req_double_" + secrets.token_hex(6)


@dataclass
class Text:
    text: str


@dataclass
class Thinking:
    thinking: str
    signature: str = "EqQBCkYIBxgCKkBmodeldoublesig"


@dataclass
class ToolUse:
    name: str
    input: dict[str, Any]
    id: str = field(default_factory=_tool_id)


Block = Text | Thinking | ToolUse


@dataclass
class Turn:
    """One assistant message. `delay` is seconds between streamed events (to look slow)."""

    blocks: list[Block]
    stop_reason: str | None = None  # default: tool_use when a ToolUse is present, else end_turn
    delay: float = 0.0

    @property
    def final_stop_reason(self) -> str:
        if self.stop_reason:
            return self.stop_reason
        return "tool_use" if any(isinstance(block, ToolUse) for block in self.blocks) else "end_turn"


@dataclass
class ApiError:
    """An HTTP error exactly as api.anthropic.com sends it."""

    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps({"type": "error", "error": {"type": self.error_type, "message": self.message},
                           "request_id": request_id()}).encode()


Reply = Turn | ApiError


class Refused(Exception):  # noqa: N818 - it is an answer, not a failure of the double
    """Raised by a brain that must not answer this request; the server sends `error` instead."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


# ---------------------------------------------------------------------------------------------- the errors


def invalid_api_key() -> ApiError:
    # The CLI recognises "x-api-key" in the message and prints "Invalid API key · Fix external API key".
    return ApiError(401, "authentication_error", "invalid x-api-key")


def rate_limited() -> ApiError:
    return ApiError(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
                    {"retry-after": "1"})


def overloaded() -> ApiError:
    return ApiError(529, "overloaded_error", "Overloaded")


def usage_limit(resets_at: int, claim: str = "five_hour") -> ApiError:
    """The subscription limit. Only a CLI logged in with a subscription (CLAUDE_CODE_OAUTH_TOKEN) turns these
    headers into a `rate_limit_event` and "You've hit your session limit · resets …"; with an API key the
    same answer is an ordinary 429."""
    return ApiError(429, "rate_limit_error", "This request would exceed your account's rate limit.", {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-reset": str(resets_at),
        "anthropic-ratelimit-unified-representative-claim": claim,
    })


# ---------------------------------------------------------------------------------------------- rendering


@dataclass
class Usage:
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int

    @classmethod
    def for_request(cls, request_bytes: int) -> Usage:
        """Deterministic, plausible counts: ~4 bytes a token, split like a warm prompt cache."""
        total = max(10, request_bytes // 4)
        return cls(input_tokens=total // 10, cache_creation_input_tokens=total // 10,
                   cache_read_input_tokens=total - 2 * (total // 10))

    def as_dict(self, output_tokens: int) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "cache_creation_input_tokens": self.cache_creation_input_tokens,
                "cache_read_input_tokens": self.cache_read_input_tokens, "output_tokens": output_tokens,
                "service_tier": "standard"}


def _block_json(block: Block) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    if isinstance(block, Thinking):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}


def output_tokens(turn: Turn) -> int:
    return 1 + sum(len(json.dumps(_block_json(block))) for block in turn.blocks) // 4


def message_json(turn: Turn, model: str, usage: Usage) -> dict[str, Any]:
    return {"id": message_id(), "type": "message", "role": "assistant", "model": model,
            "content": [_block_json(block) for block in turn.blocks], "stop_reason": turn.final_stop_reason,
            "stop_sequence": None, "usage": usage.as_dict(output_tokens(turn))}


def _chunks(text: str) -> Iterator[str]:
    for start in range(0, len(text), CHUNK):
        yield text[start:start + CHUNK]


def _block_events(index: int, block: Block) -> Iterator[dict[str, Any]]:
    if isinstance(block, Text):
        yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
        for piece in _chunks(block.text):
            yield {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
    elif isinstance(block, Thinking):
        yield {"type": "content_block_start", "index": index,
               "content_block": {"type": "thinking", "thinking": "", "signature": ""}}
        for piece in _chunks(block.thinking):
            yield {"type": "content_block_delta", "index": index,
                   "delta": {"type": "thinking_delta", "thinking": piece}}
        yield {"type": "content_block_delta", "index": index,
               "delta": {"type": "signature_delta", "signature": block.signature}}
    else:
        yield {"type": "content_block_start", "index": index,
               "content_block": {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}}
        for piece in _chunks(json.dumps(block.input)):
            yield {"type": "content_block_delta", "index": index,
                   "delta": {"type": "input_json_delta", "partial_json": piece}}
    yield {"type": "content_block_stop", "index": index}


def stream_events(turn: Turn, model: str, usage: Usage) -> Iterator[dict[str, Any]]:
    """The SSE events of one streamed message, in the API's order."""
    start = message_json(Turn([]), model, usage)
    start["stop_reason"] = None
    start["usage"] = usage.as_dict(1)
    yield {"type": "message_start", "message": start}
    yield {"type": "ping"}
    for index, block in enumerate(turn.blocks):
        yield from _block_events(index, block)
    yield {"type": "message_delta", "delta": {"stop_reason": turn.final_stop_reason, "stop_sequence": None},
           "usage": {"output_tokens": output_tokens(turn)}}
    yield {"type": "message_stop"}


def sse_frame(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def paced(events: Iterator[dict[str, Any]], delay: float, stopped: Any,
          delta_types: frozenset[str] = frozenset({"content_block_delta"})) -> Iterator[dict[str, Any]]:
    """`events`, waiting `delay` seconds before each content delta; ends early when `stopped` is set."""
    for event in events:
        if delay and event["type"] in delta_types:
            if stopped.wait(delay):
                return
        elif stopped.is_set():
            return
        yield event
