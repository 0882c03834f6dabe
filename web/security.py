"""Who may talk to the web, checked before every request in this order:

1. A connection that arrived on a non-loopback address while no GAMMA_API_TOKEN is set is refused (403),
   whatever GAMMA_HOST says: what counts is the socket really bound (`gunicorn -b 0.0.0.0 …` included).
2. The Host must be one of this server's names (web.hosts, 421): no DNS rebinding.
3. No cross-site writes or WebSocket upgrades (403): the Origin must match the (now trusted) Host; a page in an
   opaque origin (`Origin: null`: the sandboxed app preview) gets nothing of the API, not even a read.
4. With GAMMA_API_TOKEN set, every request but the agent API and /api/health carries it (401): as
   `Authorization: Bearer …`, as `?token=…` (which sets a login cookie), or as that cookie. The cookie holds
   an HMAC of a fixed label keyed by the token, never the token itself. A preview URL carries a key of its own
   (an HMAC of the team and ref, `preview_key`): the sandboxed preview's requests carry no cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import urlsplit

from flask import Flask, request

from shared.config import MAKE_A_TOKEN, Settings
from web import binding
from web.errors import ApiError
from web.hosts import check_host

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_COOKIE = "gamma_token"
_COOKIE_LABEL = b"gamma login cookie v1"
# The agent API authenticates callers with their per-run token instead (see web/api/agent_api.py).
AGENT_API_PREFIX = "/agent/"
_SIGNED_PREVIEW = re.compile(r"^/preview/k/([0-9a-f]{32})/([^/]+)/([^/]+)(?:/|$)")


def public_bind_refusal(where: str) -> str:
    return (f"{where} is not a loopback address and GAMMA_API_TOKEN is not set: set GAMMA_API_TOKEN to a long "
            f"random secret (make one with: {MAKE_A_TOKEN}) before exposing Gamma to the network.")


def install(app: Flask, settings: Settings) -> None:
    if not settings.binds_loopback and not settings.api_token:
        raise SystemExit(public_bind_refusal(f"GAMMA_HOST={settings.host}"))

    @app.before_request
    def _guard():
        local = binding.local_address(request.environ)
        if local is not None and not settings.api_token and not binding.is_loopback(local.host):
            raise ApiError(403, public_bind_refusal(f"this server answers on {local.host}, which"))
        check_host(settings)
        is_ws = request.headers.get("Upgrade", "").lower() == "websocket"
        if (request.method not in SAFE_METHODS or is_ws) and is_cross_site():
            raise ApiError(403, "cross-site request refused: the Origin does not match this server")
        if request.headers.get("Origin") == "null" and request.path.startswith(("/api/", "/ws/")):
            # an opaque origin — the sandboxed app preview (web/api/repository.py) — reads nothing of the API
            raise ApiError(403, "request from an opaque origin (a sandboxed page) refused")
        exempt = (request.path.startswith(AGENT_API_PREFIX) or request.path == "/api/health"
                  or signed_preview(settings.api_token))
        if settings.api_token and not exempt and not token_matches(settings.api_token):
            raise ApiError(401, "missing or wrong API token (send Authorization: Bearer <GAMMA_API_TOKEN>)")

    @app.after_request
    def _remember_token(response):
        token = settings.api_token
        if token and request.args.get("token") and _same(request.args.get("token"), token):
            response.set_cookie(TOKEN_COOKIE, cookie_value(token), httponly=True, samesite="Strict")
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


def preview_key(token: str, team_id: str, ref: str) -> str:
    """The key that opens one team's preview at one ref without the token: the preview runs in an opaque origin,
    so the browser sends no login cookie with the requests of its pages (their scripts, styles, images)."""
    return hmac.new(token.encode(), f"preview:{team_id}:{ref}".encode(), hashlib.sha256).hexdigest()[:32]


def signed_preview(token: str | None) -> bool:
    """Whether this request is for a preview under a key (`/preview/k/<key>/<team>/<ref>/…`) that matches."""
    match = _SIGNED_PREVIEW.match(request.path)
    return bool(token and match and _same(match.group(1), preview_key(token, match.group(2), match.group(3))))


def cookie_value(token: str) -> str:
    """What the login cookie holds: proof of the token that is useless as the token (a stolen cookie does not
    give the Bearer token away)."""
    return hmac.new(token.encode(), _COOKIE_LABEL, hashlib.sha256).hexdigest()


def token_matches(expected: str) -> bool:
    """Whether the request presents the token: as a Bearer header, `?token=`, or the login cookie."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer ") and _same(header[7:].strip(), expected):
        return True
    query = request.args.get("token")
    if query and _same(query, expected):
        return True
    cookie = request.cookies.get(TOKEN_COOKIE)
    return bool(cookie) and _same(cookie, cookie_value(expected))


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
