"""Logging set-up shared by every process."""

from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)s [%(process)d %(name)s] %(message)s"


class _TransientConnectionErrors(logging.Filter):
    """dramatiq logs a consumer's lost database connection as CRITICAL, then reconnects by itself: to us that is a
    warning (a PostgreSQL restart), not an alarm."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.CRITICAL and record.name.startswith("dramatiq.worker.ConsumerThread") \
                and str(record.msg).startswith("Consumer encountered a connection error"):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure_logging(level: str | None = None) -> None:
    """Configure the root logger once per process, at `level` or else GAMMA_LOG_LEVEL (the settings')."""
    root = logging.getLogger()
    if getattr(root, "_gamma_configured", False):
        return
    if level is None:
        from shared.config import get_settings  # noqa: PLC0415 - read when a process starts, not on import

        level = get_settings().log_level
    logging.basicConfig(level=level, format=_FORMAT)
    for handler in root.handlers:  # under dramatiq these are its own
        handler.addFilter(_TransientConnectionErrors())
    root._gamma_configured = True  # type: ignore[attr-defined]
