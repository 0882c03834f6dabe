"""The web's safety rules: token when required, no cross-site writes, every error is JSON with a message."""

from __future__ import annotations

import pytest

from shared.config import Settings
from web.app import create_app

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def client(database_url):
    return create_app(Settings()).test_client()


@pytest.fixture
def guarded(database_url):
    return create_app(Settings(GAMMA_API_TOKEN=TOKEN)).test_client()


def test_a_public_bind_without_a_token_refuses_to_start(database_url):
    with pytest.raises(SystemExit, match="GAMMA_API_TOKEN"):
        create_app(Settings(GAMMA_HOST="0.0.0.0"))
    create_app(Settings(GAMMA_HOST="0.0.0.0", GAMMA_API_TOKEN=TOKEN))  # with a token it starts


def test_with_a_token_every_api_request_must_carry_it(guarded):
    missing = guarded.get("/api/teams")
    assert missing.status_code == 401 and "token" in missing.get_json()["message"]
    assert guarded.get("/api/teams", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/api/teams", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert guarded.get("/api/health").status_code in (200, 503), "health stays open for probes"


def test_the_ui_can_log_in_once_with_the_token_in_the_url(guarded):
    first = guarded.get(f"/api/teams?token={TOKEN}")
    assert first.status_code == 200
    assert "gamma_token" in first.headers.get("Set-Cookie", "")
    assert guarded.get("/api/teams").status_code == 200, "the cookie carries the token afterwards"


def test_cross_site_writes_are_refused(client):
    body = {"name": "From a web page"}
    evil = client.post("/api/teams", json=body, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and "cross-site" in evil.get_json()["message"]
    assert client.post("/api/teams", json=body, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post("/api/teams", json=body, headers={"Origin": "null"}).status_code == 403
    same = client.post("/api/teams", json=body, headers={"Origin": "http://localhost"})
    assert same.status_code == 201, same.get_json()
    assert client.get("/api/teams", headers={"Origin": "https://evil.example"}).status_code == 200


def test_cross_site_websocket_upgrades_are_refused(client):
    response = client.get("/ws/events", headers={"Origin": "https://evil.example", "Upgrade": "websocket",
                                                 "Connection": "Upgrade"})
    assert response.status_code == 403


@pytest.mark.parametrize("method,path,kwargs,status", [
    ("GET", "/api/no-such-thing", {}, 404),
    ("DELETE", "/api/health", {}, 405),
    ("POST", "/api/teams", {"data": "{not json", "content_type": "application/json"}, 400),
    ("POST", "/api/teams", {"data": "name=x", "content_type": "text/plain"}, 415),
    ("POST", "/api/teams", {"json": ["a", "list"]}, 400),
    ("POST", "/api/teams", {"json": {"name": 42}}, 422),
    ("POST", "/api/teams", {"json": {}}, 422),
    ("GET", "/api/teams/not-an-id", {}, 404),
    ("GET", "/api/teams/team_01M85DB1ZE153BYNA0SNPXDVTW", {}, 404),
    ("POST", "/api/teams", {"data": "x" * (5 * 1024 * 1024), "content_type": "application/json"}, 413),
])
def test_bad_requests_get_a_json_4xx_with_a_message(client, method, path, kwargs, status):
    response = client.open(path, method=method, **kwargs)
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    assert body["message"] and body["error"]
