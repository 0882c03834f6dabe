"""What the web is really bound to decides its safety rules, not GAMMA_HOST/GAMMA_PORT (real gunicorn).

- Host names: the loopback names are allowed with the port gunicorn really bound, a foreign Host is refused
  (421) on REST and on the WebSocket handshake.
- A non-loopback bind without GAMMA_API_TOKEN: our gunicorn config refuses to start, and a plain
  `gunicorn -k gthread … web.wsgi:app` started by hand refuses every request (403). The non-loopback address is
  a test host of our own (a network namespace behind a veth pair, tests/support/netns.py).
"""

from __future__ import annotations

import subprocess

import pytest
import requests
import websocket

from tests.support.netns import NetnsHost, netns_host
from tests.support.processes import REPO, VENV_BIN, free_port, start_web

pytestmark = pytest.mark.slow

TOKEN = "a-long-enough-token-for-the-bind-tests-0123456789"


def handshake(url: str, **options) -> int:
    """The HTTP status of a WebSocket handshake (101 when it is accepted)."""
    try:
        ws = websocket.create_connection(url, timeout=10, **options)
    except websocket.WebSocketBadStatusException as error:
        return error.status_code
    ws.close()
    return 101


@pytest.fixture(scope="module")
def web(database_url):
    with start_web(database_url, threads=8) as server:
        yield server


@pytest.fixture
def own_host() -> NetnsHost:
    with netns_host() as host:
        yield host


def test_a_foreign_host_is_refused_on_rest_and_websockets(web):
    evil = f"evil.example:{web.port}"
    created = requests.post(f"{web.url}/api/teams", json={"name": "rebound"}, timeout=10,
                            headers={"Host": evil, "Origin": f"http://{evil}"})
    assert created.status_code == 421 and created.json()["error"] == "misdirected_request", created.text
    assert requests.get(f"{web.url}/", headers={"Host": evil}, timeout=10).status_code == 421
    assert handshake(f"{web.ws_url}/ws/events", host=evil, origin=f"http://{evil}") == 421
    assert handshake(f"{web.ws_url}/ws/events") == 101


def test_the_loopback_names_are_allowed_with_the_port_really_bound(web):
    assert web.port != 8700
    for host in (f"127.0.0.1:{web.port}", f"localhost:{web.port}", f"[::1]:{web.port}"):
        assert requests.get(f"{web.url}/api/teams", headers={"Host": host}, timeout=10).status_code == 200, host
    # GAMMA_PORT (default 8700) is not what this server is bound to.
    assert requests.get(f"{web.url}/api/teams", headers={"Host": "127.0.0.1:8700"}, timeout=10).status_code == 421


def test_our_gunicorn_config_refuses_a_public_bind_without_a_token(database_url, own_host):
    port = free_port()
    result = subprocess.run(
        [*own_host.exec_prefix, str(VENV_BIN / "gunicorn"), "--config", "python:web.gunicorn_conf",
         "-b", f"{own_host.address}:{port}", "-w", "1", "web.wsgi:app"],
        env={"PATH": "/usr/sbin:/usr/bin:/bin", "DATABASE_URL": database_url}, capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "GAMMA_API_TOKEN" in result.stderr and own_host.address in result.stderr, result.stderr[-2000:]


def test_our_gunicorn_config_stops_gunicorn_on_a_bad_setting(database_url, tmp_path):
    # Found in the worker (the master loads nothing of the app): it must stop gunicorn, not be restarted forever.
    result = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "--config", "python:web.gunicorn_conf", "-b", f"127.0.0.1:{free_port()}",
         "-w", "1", "web.wsgi:app"],
        env={"PATH": "/usr/sbin:/usr/bin:/bin", "DATABASE_URL": database_url, "GAMMA_PORT": "not-a-port",
             "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 3, result.stderr[-2000:]
    assert "GAMMA_PORT" in result.stderr and "Worker failed to boot" in result.stderr, result.stderr[-2000:]


def test_a_plain_gunicorn_on_a_public_address_without_a_token_refuses_every_request(database_url, own_host):
    with start_web(database_url, host=own_host.address, prefix=own_host.exec_prefix, gunicorn_config=False,
                   health_status=403) as server:
        for path in ("/api/teams", "/api/health", "/", "/agent/v1/me"):
            response = requests.get(server.url + path, timeout=10)
            assert response.status_code == 403, (path, response.text[:300])
            body = response.json()
            assert body["error"] == "forbidden" and "GAMMA_API_TOKEN" in body["message"], body
        assert handshake(f"{server.ws_url}/ws/events") == 403


def test_with_a_token_a_public_bind_serves_and_allows_its_own_address(database_url, own_host):
    with start_web(database_url, host=own_host.address, prefix=own_host.exec_prefix,
                   extra_env={"GAMMA_API_TOKEN": TOKEN}) as server:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.get(server.url + "/api/teams", headers=auth, timeout=10).status_code == 200
        assert requests.get(server.url + "/api/teams", timeout=10).status_code == 401
        foreign = {"Host": f"evil.example:{server.port}", **auth}
        assert requests.get(server.url + "/api/teams", headers=foreign, timeout=10).status_code == 421
