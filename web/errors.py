"""Every error leaves as JSON with a message; nothing leaks an HTML page or a stack trace."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from orchestrator.domain import Conflict, DomainError, Forbidden, Invalid, NotFound
from orchestrator.workflows.agent_requests import Unauthenticated
from web.error_names import error_name

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status and a message that says what was wrong."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


# The one place a refused operation becomes an HTTP status (most specific first: a class may derive from two).
_STATUS_OF = ((Unauthenticated, 401), (NotFound, 404), (Forbidden, 403), (Conflict, 409), (Invalid, 422))


def status_for(error: DomainError) -> int:
    return next((status for kind, status in _STATUS_OF if isinstance(error, kind)), 400)


def from_domain(error: DomainError) -> ApiError:
    return ApiError(status_for(error), error.message, **error.details)


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, f"{what} {ident} not found")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        body = {"error": error_name(error.status), "message": error.message, **error.details}
        return jsonify(body), error.status

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return _api_error(from_domain(error))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        return jsonify({"error": error_name(status), "message": error.description}), status

    # The database restarting or out of reach is an outage, not a bug: the client gets a 503 it can retry and
    # the log one line, not a traceback per request.
    @app.errorhandler(psycopg.OperationalError)  # psycopg_pool.PoolTimeout is one too
    def _database_away(error: Exception):
        log.warning("database unavailable: %s", str(error).splitlines()[0] if str(error) else type(error).__name__)
        return jsonify({"error": "unavailable", "message": "the database is not reachable; retry shortly"}), 503

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return jsonify({"error": "internal_error", "message": "internal error; see the server log"}), 500
