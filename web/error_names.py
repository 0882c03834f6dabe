"""The `error` field of every JSON error: a name for each HTTP status.

Imports nothing, so that gunicorn's master (which loads web.gunicorn_worker) stays a bare gunicorn.
"""

from __future__ import annotations


def error_name(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        414: "uri_too_long",
        415: "unsupported_media_type",
        421: "misdirected_request",
        422: "invalid",
        429: "too_many_requests",
        431: "header_fields_too_large",
        503: "unavailable",
    }.get(status, "error" if status < 500 else "internal_error")
