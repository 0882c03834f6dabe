"""Waiting for something to become true, instead of sleeping a fixed time and hoping it has.

The timeout of a poll is a hang guard, never a claim about speed: it should be generous (tens of seconds on a
loaded 2-CPU machine) and a test that needs a speed figure measures it under bench/ instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_MISSING = object()


Description = str | Callable[[], str]


def wait_for(
    predicate: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, what: Description = ""
) -> T:
    """Call `predicate` until it returns something truthy and return that value.

    Raises AssertionError naming `what` (a string, or a callable giving one at that moment, e.g. to show what was
    collected so far) and the last value seen once `timeout` seconds have passed. An
    exception raised by the predicate propagates at once (use `eventually` for assertions that may fail
    for a while).
    """
    deadline = time.monotonic() + timeout
    last: object = _MISSING
    while True:
        value = predicate()
        if value:
            return value
        last = value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {_describe(what, predicate)}; last value: {last!r}"
            )
        time.sleep(interval)


def eventually(
    check: Callable[[], T],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    what: Description = "",
    exceptions: tuple[type[BaseException], ...] = (AssertionError,),
) -> T:
    """Call `check` (which asserts) until it stops raising one of `exceptions`; return what it returned.

    On timeout the last failure is raised again as an AssertionError naming `what`, chained to the original.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except exceptions as error:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout:g}s waiting for {_describe(what, check)}; last failure: {error}"
                ) from error
        time.sleep(interval)


def _describe(what: Description, function: Callable[..., object]) -> str:
    if callable(what):
        return what()
    return what or getattr(function, "__qualname__", None) or repr(function)
