"""Who may talk to the web: a token when bound beyond loopback, and no cross-site writes or WebSocket upgrades."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Flask, request

from shared.config import Settings
from web.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_COOKIE = "gamma_token"
# The agent API authenticates callers with their per-run token instead (see web/api/agent_api.py).
AGENT_API_PREFIX = "/agent/"


def install(app: Flask, settings: Settings) -> None:
    if not settings.binds_loopback and not settings.api_token:
        raise SystemExit(
            f"GAMMA_HOST={settings.host} is not a loopback address: set GAMMA_API_TOKEN to a long random "
            "secret before exposing Gamma to the network."
        )

    @app.before_request
    def _guard():
        is_ws = request.headers.get("Upgrade", "").lower() == "websocket"
        if (request.method not in SAFE_METHODS or is_ws) and is_cross_site():
            raise ApiError(403, "cross-site request refused: the Origin does not match this server")
        exempt = request.path.startswith(AGENT_API_PREFIX) or request.path == "/api/health"
        if settings.api_token and not exempt and not token_matches(settings.api_token):
            raise ApiError(401, "missing or wrong API token (send Authorization: Bearer <GAMMA_API_TOKEN>)")

    @app.after_request
    def _remember_token(response):
        if settings.api_token and request.args.get("token") and token_matches(settings.api_token):
            response.set_cookie(TOKEN_COOKIE, settings.api_token, httponly=True, samesite="Strict")
        return response


def is_cross_site() -> bool:
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if not origin:
        return False  # not a browser-initiated cross-origin request (curl, agents, same-origin GET)
    if origin == "null":
        return True
    return urlsplit(origin).netloc.lower() != (request.host or "").lower()


def presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(TOKEN_COOKIE) or request.args.get("token")


def token_matches(expected: str) -> bool:
    given = presented_token()
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
