"""The model double: an HTTP server speaking the Anthropic Messages API, answering with scripted brains.

    url, stop = start()                  # in a thread of this process (port 0: a free port)
    python -m tests.model_double         # as a process; prints MODEL_DOUBLE_URL=http://127.0.0.1:PORT

Routes: `POST /v1/messages` (SSE when `stream` is true, else one JSON message), `POST /v1/messages/count_tokens`,
`GET|HEAD /` (the CLI probes it once at start), and for codex `POST /v1/responses` (the OpenAI Responses API,
always streamed; see `responses.py`). Anything else is answered 404 and logged and recorded in
`unknown`, so a new CLI that calls something new is noticed. Point the CLI at it with ANTHROPIC_BASE_URL
(see `tests/support/claude.py` for the whole environment).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.model_double import responses
from tests.model_double.brains import DEFAULT_BRAIN, choose, side_request
from tests.model_double.conversation import Conversation
from tests.model_double.replies import (
    ApiError,
    Refused,
    Reply,
    Turn,
    Usage,
    message_json,
    paced,
    request_id,
    sse_frame,
    stream_events,
)

log = logging.getLogger("model_double")

Selector = Callable[[Conversation], str | None]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    brain: str | None = None
    status: int = 200


class ModelDouble:
    """`select(conversation)` may return a brain spec ("name key=value …") that overrides the markers."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, select: Selector | None = None,
                 default_brain: str = DEFAULT_BRAIN) -> None:
        self.select = select
        self.default_brain = default_brain
        self.requests: list[Recorded] = []
        self.unknown: list[Recorded] = []
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.double = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ModelDouble:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="model-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ModelDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, entry: Recorded, *, unknown: bool = False) -> None:
        with self._lock:
            self.requests.append(entry)
            if unknown:
                self.unknown.append(entry)

    def messages_requests(self) -> list[Recorded]:
        """The agent's requests to /v1/messages (side requests such as the session title left out)."""
        return self.agent_requests("/v1/messages")

    def responses_requests(self) -> list[Recorded]:
        """The agent's requests to /v1/responses (codex)."""
        return self.agent_requests("/v1/responses")

    def agent_requests(self, path: str) -> list[Recorded]:
        with self._lock:
            return [entry for entry in self.requests if entry.path == path and entry.brain != "(side request)"]


def start(port: int = 0, **options: Any) -> tuple[str, Callable[[], None]]:
    double = ModelDouble(port, **options).start()
    return double.url, double.stop


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "model-double/1"

    @property
    def double(self) -> ModelDouble:
        return self.server.double  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------------------------------------ routes

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self._get(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._get(with_body=False)

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._send_error(Recorded("POST", path, dict(self.headers), raw.decode(errors="replace")),
                             ApiError(400, "invalid_request_error", "request body is not valid JSON"))
            return
        entry = Recorded("POST", path, dict(self.headers), body)
        if path == "/v1/messages":
            self._messages(entry, body, len(raw))
        elif path == "/v1/responses":
            self._responses(entry, body, len(raw))
        elif path == "/v1/messages/count_tokens":
            self.double.record(entry)
            self._send_json(200, {"input_tokens": max(1, len(raw) // 4)})
        else:
            self._unknown(entry)

    def _get(self, *, with_body: bool) -> None:
        path = urlsplit(self.path).path
        entry = Recorded(self.command, path, dict(self.headers), None)
        if path == "/":
            self.double.record(entry)
            self._send_json(200, {"ok": True, "service": "model double"}, with_body=with_body)
        else:
            self._unknown(entry, with_body=with_body)

    def _unknown(self, entry: Recorded, *, with_body: bool = True) -> None:
        entry.status = 404
        log.warning("model double: unknown request %s %s", entry.method, entry.path)
        self.double.record(entry, unknown=True)
        error = ApiError(404, "not_found_error", f"model double does not implement {entry.method} {entry.path}")
        self._send_bytes(404, error.body(), "application/json", with_body=with_body)

    def _answer(self, entry: Recorded, conv: Conversation) -> Reply:
        if conv.is_side_request:
            entry.brain = "(side request)"
            return side_request(conv)
        spec = self.double.select(conv) if self.double.select else None
        if spec:
            conv.use(spec)
        entry.brain = conv.brain_name or self.double.default_brain
        found = choose(entry.brain)
        try:
            return found if isinstance(found, ApiError) else found(conv)
        except Refused as refused:
            return refused.error

    def _messages(self, entry: Recorded, request: dict[str, Any], size: int) -> None:
        conv = Conversation(request, size)
        reply = self._answer(entry, conv)
        if isinstance(reply, ApiError):
            self._send_error(entry, reply)
            return
        self.double.record(entry)
        usage = Usage.for_request(size)
        if conv.stream:
            self._send_stream(reply, conv.model, usage)
        else:
            self._send_json(200, message_json(reply, conv.model, usage))

    def _responses(self, entry: Recorded, request: dict[str, Any], size: int) -> None:
        conv = responses.ResponsesConversation(request, size)
        reply = self._answer(entry, conv)
        if isinstance(reply, ApiError):
            entry.status = reply.status
            self.double.record(entry)
            self._send_bytes(reply.status, responses.error_body(reply), "application/json")
            return
        self.double.record(entry)
        events = responses.stream_events(reply, conv.model, Usage.for_request(size))
        self._send_sse(paced(events, reply.delay, self.double.stopped, delta_types=responses.DELTAS),
                       responses.sse_frame)

    # ------------------------------------------------------------------------------------------ writing

    def _send_error(self, entry: Recorded, error: ApiError) -> None:
        entry.status = error.status
        self.double.record(entry)
        self._send_bytes(error.status, error.body(), "application/json", error.headers)

    def _send_json(self, status: int, data: Any, *, with_body: bool = True) -> None:
        self._send_bytes(status, json.dumps(data).encode(), "application/json", with_body=with_body)

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None,
                    *, with_body: bool = True) -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("request-id", request_id())
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_stream(self, turn: Turn, model: str, usage: Usage) -> None:
        self._send_sse(paced(stream_events(turn, model, usage), turn.delay, self.double.stopped), sse_frame)

    def _send_sse(self, events: Any, frame_of: Callable[[dict[str, Any]], bytes]) -> None:
        try:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("request-id", request_id())
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for event in events:
                frame = frame_of(event)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
