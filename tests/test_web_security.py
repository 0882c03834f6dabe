"""The web's safety rules: token when required, no cross-site writes, every error is JSON with a message."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared.config import ConfigError, Settings, load_settings
from tests.support.factories import create_agent, create_team
from web.app import create_app

TOKEN = "s3cret-token-for-tests-0123456789abcdef"  # GAMMA_API_TOKEN takes at least 32 characters
EVIL = {"Host": "evil.example:8700", "Origin": "http://evil.example:8700"}


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


def test_the_login_cookie_holds_a_derivation_of_the_token_not_the_token(guarded):
    first = guarded.get(f"/api/teams?token={TOKEN}")
    cookie = guarded.get_cookie("gamma_token")
    assert cookie is not None and TOKEN not in first.headers["Set-Cookie"]
    assert cookie.value == hmac.new(TOKEN.encode(), b"gamma login cookie v1", hashlib.sha256).hexdigest()
    guarded.set_cookie("gamma_token", TOKEN)
    assert guarded.get("/api/teams").status_code == 401, "the raw token is no login cookie"
    guarded.set_cookie("gamma_token", cookie.value[:-1] + ("0" if cookie.value[-1] != "0" else "1"))
    assert guarded.get("/api/teams").status_code == 401


@pytest.mark.parametrize("value", ["short", "x" * 31])
def test_a_short_api_token_stops_the_start_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("GAMMA_API_TOKEN", value)
    with pytest.raises(ConfigError) as stopped:
        load_settings()
    message = str(stopped.value)
    assert "GAMMA_API_TOKEN" in message and "32 characters" in message and "secrets.token_urlsafe(32)" in message
    assert value not in message.split("(got")[0].replace("GAMMA_API_TOKEN", ""), "the secret is not echoed"
    monkeypatch.setenv("GAMMA_API_TOKEN", "x" * 32)
    assert load_settings().api_token == "x" * 32


# ------------------------------------------------------------------------------------------- DNS rebinding


def test_a_foreign_host_is_refused_on_every_kind_of_path(client, database_url):
    team = create_team()
    agent_id = create_agent(team["id"])["id"]
    for method, path in [("POST", "/api/teams"), ("GET", f"/api/agents/{agent_id}/claude-md"), ("GET", "/"),
                         ("GET", f"/teams/{team['id']}"), ("GET", "/static/js/api.js"), ("GET", "/api/health"),
                         ("GET", "/agent/v1/me"), ("GET", "/api/no-such-thing")]:
        response = client.open(path, method=method, json={"name": "rebound"} if method == "POST" else None,
                               headers=EVIL)
        assert response.status_code == 421, (path, response.status_code)
        body = response.get_json()
        assert body["error"] == "misdirected_request" and "evil.example:8700" in body["message"], body
        assert "GAMMA_ALLOWED_HOSTS" in body["message"]


def test_a_foreign_host_cannot_upgrade_a_websocket(client):
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", **EVIL}
    assert client.get("/ws/events", headers=upgrade).status_code == 421


@pytest.mark.parametrize("host", ["127.0.0.1:8700", "localhost:8700", "[::1]:8700", "LOCALHOST:8700", "localhost",
                                  "127.0.0.1"])
def test_the_loopback_names_are_allowed_with_the_port(client, host):
    assert client.get("/api/teams", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1:8701", "localhost:80", "evil.example", "127.0.0.2:8700",
                                  "localhost.evil.example:8700", "", "a b"])
def test_other_names_and_ports_are_refused(client, host):
    assert client.get("/api/teams", headers={"Host": host}).status_code == 421


def test_the_api_url_host_the_bound_address_and_allowed_hosts_are_allowed(database_url):
    app = create_app(Settings(GAMMA_API_URL="http://agents.example:8800", GAMMA_HOST="10.1.2.3",
                              GAMMA_API_TOKEN=TOKEN, GAMMA_ALLOWED_HOSTS="gamma.example, other.example:9000"))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for host, status in [("agents.example:8800", 200), ("agents.example:8700", 421), ("10.1.2.3:8700", 200),
                         ("10.1.2.3:8800", 421), ("gamma.example:1234", 200), ("gamma.example", 200),
                         ("other.example:9000", 200), ("other.example:9001", 421), ("other.example", 421)]:
        assert client.get("/api/teams", headers={"Host": host, **auth}).status_code == status, host
    wildcard = create_app(Settings(GAMMA_HOST="0.0.0.0", GAMMA_API_TOKEN=TOKEN)).test_client()
    assert wildcard.get("/api/teams", headers={"Host": "0.0.0.0:8700", **auth}).status_code == 421


@pytest.mark.parametrize("value", ["a b", "x:99999", ":80", "host:port", "ok.example,,http://x"])
def test_a_bad_allowed_hosts_entry_stops_the_start(monkeypatch, value):
    monkeypatch.setenv("GAMMA_ALLOWED_HOSTS", value)
    with pytest.raises(ConfigError, match="GAMMA_ALLOWED_HOSTS"):
        load_settings()


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
