"""Request parsing: JSON bodies and query strings validated with pydantic, errors as 400/422 naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from shared.ids import is_id
from web.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def json_body(model: type[M]) -> M:
    if not request.data and not request.form:
        data: Any = {}
    else:
        if not request.is_json:
            raise ApiError(415, "expected a JSON body (Content-Type: application/json)")
        data = request.get_json(silent=True)
        if data is None:
            raise ApiError(400, "malformed JSON in the request body")
    if not isinstance(data, dict):
        raise ApiError(400, "the JSON body must be an object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ApiError(422, describe(error)) from None


def query(model: type[M]) -> M:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise ApiError(400, describe(error)) from None


def path_id(value: str, prefix: str) -> str:
    """Reject malformed ids early with a 404 that names them (never a database error)."""
    if not is_id(value, prefix):
        raise ApiError(404, f"{prefix} {value!r} not found (not a valid {prefix} id)")
    return value
