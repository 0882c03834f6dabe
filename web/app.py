"""The Flask application factory."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil

from flask import Blueprint, Flask

import web.api
from shared.config import Settings, get_settings
from shared.logging import configure_logging
from web import errors, security, validation
from web.extensions import sock


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        JSON_SORT_KEYS=False,
        SOCK_SERVER_OPTIONS={"ping_interval": 25, "max_message_size": 65536},
        GAMMA_SETTINGS=settings,
    )
    app.json.sort_keys = False
    security.install(app, settings)
    validation.install(app)
    errors.register_error_handlers(app)
    sock.init_app(app)
    for blueprint in discover_blueprints():
        app.register_blueprint(blueprint)
    logging.getLogger(__name__).debug("routes: %s", sorted(r.rule for r in app.url_map.iter_rules()))
    return app


def discover_blueprints() -> list[Blueprint]:
    """Every module under `web.api` (and `web.ws`, `web.ui`) that defines a module-level `bp`."""
    names = [f"web.api.{m.name}" for m in pkgutil.iter_modules(web.api.__path__)]
    names += [name for name in ("web.ws", "web.ui") if importlib.util.find_spec(name) is not None]
    found = []
    for name in sorted(names):
        module = importlib.import_module(name)
        bp = getattr(module, "bp", None)
        if isinstance(bp, Blueprint):
            found.append(bp)
    return found
