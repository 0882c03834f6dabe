"""Open WebSockets are capped per web process and per client, so they never take every thread (real gunicorn).

Each open stream holds one gthread thread. Beyond a cap the handshake is refused with a JSON 503 saying which
cap and to retry later, and the HTTP API keeps answering.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
import requests
import websocket

from tests.support.polling import wait_for
from tests.support.processes import Web, start_web

pytestmark = pytest.mark.slow


@contextmanager
def stream(web: Web, source: str = "127.0.0.1") -> Iterator[websocket.WebSocket]:
    """A /ws/events stream from `source` (any 127.x address: a different client), open once its hello arrived."""
    sock = socket.create_connection(("127.0.0.1", web.port), timeout=30, source_address=(source, 0))
    ws = websocket.create_connection(f"{web.ws_url}/ws/events", timeout=30, socket=sock)
    try:
        assert json.loads(ws.recv())["type"] == "hello"
        yield ws
    finally:
        ws.close()


def refusal(web: Web, source: str = "127.0.0.1") -> tuple[int, dict]:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused, stream(web, source):
        pass
    return refused.value.status_code, json.loads(refused.value.resp_body or b"{}")


def open_streams(web: Web) -> int:
    return requests.get(f"{web.url}/ws/stats", timeout=30).json()["streams"]


def test_streams_beyond_the_caps_are_refused_and_http_keeps_answering(database_url):
    env = {"GAMMA_WS_MAX_PER_PROCESS": "4", "GAMMA_WS_MAX_PER_CLIENT": "3"}
    with start_web(database_url, threads=8, extra_env=env) as web, ExitStack() as streams:
        for _ in range(3):
            streams.enter_context(stream(web))
        status, body = refusal(web)
        assert status == 503 and "GAMMA_WS_MAX_PER_CLIENT" in body["message"], body
        streams.enter_context(stream(web, "127.0.0.2"))  # another client still gets the process's last slot
        status, body = refusal(web, "127.0.0.3")
        assert status == 503 and "GAMMA_WS_MAX_PER_PROCESS" in body["message"], body
        assert "try again" in body["message"]
        assert requests.get(f"{web.url}/api/teams", timeout=30).status_code == 200
        assert open_streams(web) == 4
        streams.close()
        wait_for(lambda: open_streams(web) == 0, what="no stream open")
        with stream(web, "127.0.0.3"):
            pass


def test_the_process_cap_leaves_threads_for_http_whatever_it_is_set_to(database_url):
    """Before the caps, 8 idle streams took all 8 threads: the next handshake and every HTTP request hung."""
    with start_web(database_url, threads=8, extra_env={"GAMMA_WS_MAX_PER_PROCESS": "1000"}) as web, \
            ExitStack() as streams:
        opened = 0
        while opened < 8:
            try:
                streams.enter_context(stream(web, f"127.0.1.{opened + 1}"))
            except websocket.WebSocketBadStatusException as refused:
                assert refused.status_code == 503
                break
            opened += 1
        assert 1 <= opened < 8, "some threads stay free for HTTP"
        assert requests.get(f"{web.url}/api/teams", timeout=30).status_code == 200
        assert requests.get(f"{web.url}/api/health", timeout=30).status_code == 200
