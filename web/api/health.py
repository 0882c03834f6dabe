"""`GET /api/health`: database, migrations and live workers."""

from __future__ import annotations

from flask import Blueprint, jsonify

from shared import health

bp = Blueprint("health", __name__)


@bp.get("/api/health")
def get_health():
    report = health.check()
    return jsonify(report), (200 if report["ok"] else 503)
