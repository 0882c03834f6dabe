"""Text PostgreSQL can store, whatever bytes an agent printed.

PostgreSQL refuses NUL in `text` and `\\u0000` in `jsonb`, and psycopg cannot encode a lone surrogate — which is
what bytes that are not UTF-8 become when output is decoded with `decode_output` (`surrogateescape`). `storable`
escapes exactly those characters and leaves clean text untouched:

    NUL                        → the six characters \\u0000
    an undecodable byte 0xNN   → the four characters \\xNN
    any other lone surrogate   → \\uXXXX
"""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def decode_output(raw: bytes) -> str:
    """A line of process output as text: UTF-8, undecodable bytes kept (as lone surrogates) for `storable`."""
    return raw.decode("utf-8", "surrogateescape")


def storable(text: str) -> str:
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(_escape, text)


def needs_escaping(text: str) -> bool:
    return "\x00" in text or (not text.isascii() and _UNSTORABLE.search(text) is not None)


def storable_value(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, strings, numbers) with every string — keys too — made storable."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(key)): storable_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_value(item) for item in value]
    return value


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0:
        return "\\u0000"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"
