"""Errors gunicorn answers itself, before the app sees the request, are JSON like every other error (real gunicorn)."""

from __future__ import annotations

import json
import socket

import pytest

from tests.support.processes import start_web

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web(database_url):
    with start_web(database_url, threads=4) as server:
        yield server


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes after an error): status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(("raw", "status", "words"), [
    (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "request line"),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 10_000 + b"\r\n\r\n", 431, "header"),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n", 431,
     "header"),
    (b"NOT A REQUEST LINE AT ALL\r\n\r\n", 400, "request"),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n", 400, "header"),
    (b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", 400, "HTTP version"),
])
def test_protocol_errors_are_json_with_a_message(web, raw, status, words):
    got, headers, body = exchange(web.port, raw)
    assert got == status, body[:300]
    assert headers["content-type"] == "application/json", headers
    assert int(headers["content-length"]) == len(body)
    answer = json.loads(body)
    assert answer["error"] and words.lower() in answer["message"].lower(), answer
    assert len(answer["message"]) < 500, "the message does not echo a huge request line back"
