"""Logging set-up shared by every process."""

from __future__ import annotations

import logging
import os

_FORMAT = "%(asctime)s %(levelname)s [%(process)d %(name)s] %(message)s"


class _TransientConnectionErrors(logging.Filter):
    """dramatiq logs a consumer's lost database connection as CRITICAL, then reconnects by itself: to us that is a
    warning (a PostgreSQL restart), not an alarm."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.CRITICAL and record.name.startswith("dramatiq.worker.ConsumerThread") \
                and str(record.msg).startswith("Consumer encountered a connection error"):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if getattr(root, "_gamma_configured", False):
        return
    logging.basicConfig(level=os.environ.get("GAMMA_LOG_LEVEL", level), format=_FORMAT)
    for handler in root.handlers:  # under dramatiq these are its own
        handler.addFilter(_TransientConnectionErrors())
    root._gamma_configured = True  # type: ignore[attr-defined]
