"""Request parsing: JSON bodies and query strings validated with pydantic, errors as 400/422 naming the field.

Before a body is parsed its nesting depth is measured (json.loads recurses once per level: a few thousand
levels raise RecursionError), and after parsing any NUL character is refused naming its field, as is a NUL in
the path or a query parameter (PostgreSQL cannot store NUL in text, and nothing needs it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import accumulate
from typing import Any, TypeVar

from flask import Flask, current_app, request
from pydantic import BaseModel, ValidationError

from shared.ids import is_id
from web.errors import ApiError

M = TypeVar("M", bound=BaseModel)

MAX_JSON_DEPTH = 64
# A JSON string literal (escapes included), so that brackets inside strings are not counted as nesting.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def install(app: Flask) -> None:
    app.before_request(refuse_nul_in_url)


def describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def json_depth(text: str) -> int:
    """How deeply `text` nests arrays and objects, measured without parsing it (and without a loop in Python)."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_NESTING_STEP.__getitem__, brackets)), default=0)


def json_body(model: type[M]) -> M:
    if not request.data and not request.form:
        data: Any = {}
    else:
        if not request.is_json:
            raise ApiError(415, "expected a JSON body (Content-Type: application/json)")
        data = _parse_json(request.get_data(cache=True))
    if not isinstance(data, dict):
        raise ApiError(400, "the JSON body must be an object")
    nul_at = _nul_path(data)
    if nul_at is not None:
        raise ApiError(400, f"{_dotted(nul_at) or 'body'}: must not contain NUL characters")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ApiError(422, describe(error)) from None


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed JSON in the request body: not UTF-8") from None
    # Only a body with more openers than the limit can nest too deeply: most bodies skip the scan.
    openers = text.count("[") + text.count("{")
    depth = json_depth(text) if openers > MAX_JSON_DEPTH else 0
    if depth > MAX_JSON_DEPTH:
        raise ApiError(400, f"the JSON body is nested too deeply ({depth} levels; at most {MAX_JSON_DEPTH})")
    try:
        return current_app.json.loads(text)
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed JSON in the request body") from None


def _nul_path(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where the first NUL character is in a parsed body (a key or a string value), or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*path, key)
        found = _nul_path(item, (*path, key))
        if found is not None:
            return found
    return None


def _dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(step).replace("\x00", "\\x00") for step in path)


def refuse_nul_in_url() -> None:
    if "\x00" in request.path:
        raise ApiError(400, "path: must not contain NUL characters (%00)")
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            raise ApiError(400, f"{_dotted([key])}: query parameters must not contain NUL characters (%00)")


# Query parameters every route accepts besides its own: `token` is the login form of GAMMA_API_TOKEN
# (web/security.py reads it before any route does).
GLOBAL_QUERY_PARAMETERS = frozenset({"token"})


def query(model: type[M]) -> M:
    """The query string as `model`: an unknown or repeated parameter is refused (400, naming it) rather than
    ignored, so a misspelt filter never silently widens an answer."""
    args = request.args
    unknown = sorted(set(args) - set(model.model_fields) - GLOBAL_QUERY_PARAMETERS)
    if unknown:
        known = ", ".join(model.model_fields) or "none"
        raise ApiError(400, f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(map(repr, unknown))} (this endpoint takes: {known})")
    repeated = sorted(key for key in args if len(args.getlist(key)) > 1)
    if repeated:
        raise ApiError(400, f"{repeated[0]}: give it once (a list is comma-separated: a,b)")
    values = {k: v for k, v in args.items() if k not in GLOBAL_QUERY_PARAMETERS}
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ApiError(400, describe(error)) from None


def path_id(value: str, prefix: str) -> str:
    """Reject malformed ids early with a 404 that names them (never a database error)."""
    if not is_id(value, prefix):
        raise ApiError(404, f"{prefix} {value!r} not found (not a valid {prefix} id)")
    return value
