"""A gthread worker whose own error answers are JSON `{"error", "message"}`, like every error of the app.

gunicorn answers some requests itself, before the app sees them (a request line or headers too large, a
malformed request line or header, an unknown HTTP version), with an HTML page. This worker lets gunicorn decide
the status and log as usual, then writes JSON with that status instead of the page.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from web.error_names import error_name  # not web.errors: gunicorn's master imports this module

MAX_DETAIL = 200  # exception texts can quote the request line or a header: never echo much of it

_WHAT_WAS_WRONG: list[tuple[type[BaseException], str]] = [
    (http_errors.LimitRequestLine, "the request line (method, URL and version) is too long"),
    (http_errors.LimitRequestHeaders, "the request header fields are too large or too many"),
    (http_errors.InvalidRequestLine, "malformed request line"),
    (http_errors.InvalidRequestMethod, "malformed request method"),
    (http_errors.InvalidHTTPVersion, "unsupported HTTP version"),
    (http_errors.InvalidHeaderName, "malformed header name"),
    (http_errors.InvalidHeader, "malformed header"),
]


class _StatusCapture:
    """Stands in for the client socket while gunicorn writes its error page; only the status line is kept."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.data += data

    def status(self) -> tuple[int, str]:
        line = self.data.split(b"\r\n", 1)[0].decode("latin-1")  # "HTTP/1.1 414 URI Too Long"
        _, code, reason = (line.split(" ", 2) + ["", ""])[:3]
        return (int(code), reason) if code.isdigit() else (500, "Internal Server Error")


def json_error(status: int, reason: str, exc: BaseException) -> bytes:
    if status >= 500:
        message = "internal error; see the server log"
    else:
        what = next((text for kind, text in _WHAT_WAS_WRONG if isinstance(exc, kind)), reason.lower() or "bad request")
        detail = str(exc)
        detail = detail if len(detail) <= MAX_DETAIL else detail[:MAX_DETAIL] + "…"
        message = f"{what}: {detail}" if detail else what
    body = json.dumps({"error": error_name(status), "message": message}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class JsonErrorWorker(ThreadWorker):
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        capture = _StatusCapture()
        super().handle_error(req, capture, addr, exc)  # gunicorn's status, logging and access log
        status, reason = capture.status()
        try:
            util.write_nonblock(client, json_error(status, reason, exc))
        except Exception:
            self.log.debug("Failed to send error message.")
