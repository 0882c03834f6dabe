"""Driving the UI with Playwright and Debian's Chromium (no browser download: `apt-get install chromium`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 768}


def chromium_path() -> Path | None:
    """GAMMA_CHROMIUM, else /usr/bin/chromium, else `chromium` on PATH."""
    configured = os.environ.get("GAMMA_CHROMIUM")
    candidates = [configured] if configured else ["/usr/bin/chromium", shutil.which("chromium") or ""]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def require_chromium() -> Path:
    """The browser, or a skip on a developer machine without it — but a failure in CI, where it must exist."""
    path = chromium_path()
    if path is not None:
        return path
    message = "Chromium not found (install Debian's package: apt-get install chromium, or set GAMMA_CHROMIUM)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " — CI must run the browser tests", pytrace=False)
    pytest.skip(message)


@contextmanager
def launch_browser(executable: Path) -> Iterator[Any]:
    """A headless Chromium (Playwright's sync API), closed when the block ends."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only the browser tests need it

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser: Any, *, viewport: dict[str, int] | None = None) -> Iterator[tuple[Any, list[str]]]:
    """A page in a fresh context (no shared cookies or storage), and the list collecting its console errors."""
    errors: list[str] = []
    context = browser.new_context(viewport=viewport or VIEWPORT, reduced_motion="reduce")
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error" else None)
        yield page, errors
    finally:
        context.close()


@contextmanager
def browser_page(executable: Path, *, viewport: dict[str, int] | None = None) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page in its own headless Chromium (for scripts that need just one)."""
    with launch_browser(executable) as browser, open_page(browser, viewport=viewport) as opened:
        yield opened
