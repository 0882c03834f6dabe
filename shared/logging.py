"""Logging set-up shared by every process."""

from __future__ import annotations

import logging
import os

_FORMAT = "%(asctime)s %(levelname)s [%(process)d %(name)s] %(message)s"


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if getattr(root, "_gamma_configured", False):
        return
    logging.basicConfig(level=os.environ.get("GAMMA_LOG_LEVEL", level), format=_FORMAT)
    root._gamma_configured = True  # type: ignore[attr-defined]
