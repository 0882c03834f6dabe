"""The browser UI: two server-rendered page shells (dashboard, team) driven by ES modules in web/static/js.

The pages carry no data of their own: the modules fetch it from the public REST API and follow the WebSocket
streams. Every UI response gets a strict Content-Security-Policy (same-origin scripts and styles only, no inline
code, no external hosts), so even a rendering bug cannot run text an agent wrote.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, jsonify, render_template, request
from werkzeug.exceptions import NotFound

from shared.ids import is_id

bp = Blueprint("ui", __name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Paths that always answer JSON, never an HTML page (the API, the agent API, WebSockets, static files).
_MACHINE_PREFIXES = ("/api/", "/agent/", "/ws/", "/static/")
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")  # used with fullmatch

def content_security_policy(host: str) -> str:
    """Same-origin everything; WebSockets only back to this host."""
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        f"connect-src 'self'{sockets}",
        "object-src 'none'",
        "frame-src 'self'",  # the app preview (/preview/…), itself sandboxed in an opaque origin
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ])


@lru_cache(maxsize=1)
def asset_version() -> str:
    """A short hash of the static files, appended to the entry points so a new release is never served stale."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(STATIC_DIR)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:10]


@bp.app_context_processor
def _template_globals() -> dict[str, str]:
    return {"asset_version": asset_version()}


@bp.after_request
def _harden(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", content_security_policy(request.host))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.get("/")
def dashboard() -> str:
    return render_template("dashboard.html", page="dashboard")


@bp.get("/runs/<run_id>")
def run_page(run_id: str) -> str | tuple[str, int]:
    if not is_id(run_id, "run"):
        return _not_found_page(f"“{run_id}” is not a run id.")
    return render_template("run.html", page="run", run_id=run_id)


@bp.get("/doctor")
def doctor_page() -> str:
    return render_template("doctor.html", page="doctor")


@bp.get("/trace")
def trace_page() -> str:
    """Every team's events; the filters live in the query string (read by js/tracepage.js), so a filtered view
    is a URL of its own."""
    return render_template("trace.html", page="trace")


@bp.get("/teams/<team_id>")
def team_page(team_id: str) -> str | tuple[str, int]:
    if not is_id(team_id, "team"):
        return _not_found_page(f"“{team_id}” is not a team id.")
    return render_template("team.html", page="team", team_id=team_id)


def _not_found_page(detail: str) -> tuple[str, int]:
    return render_template("not_found.html", page="not-found", detail=detail), 404


def _wants_html() -> bool:
    if request.method != "GET" or request.path.startswith(_MACHINE_PREFIXES):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] >= request.accept_mimetypes["application/json"]


@bp.app_errorhandler(NotFound)
def _page_not_found(error: NotFound):
    """A person who mistypes a page URL gets a page; programs keep getting the JSON error shape."""
    if _wants_html():
        return _not_found_page(f"Nothing lives at {request.path}.")
    return jsonify({"error": "not_found", "message": error.description}), 404
