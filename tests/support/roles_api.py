"""`roles_client()`: the roles API on a bare Flask app (no database needed).

A test module wraps it in its own `client` fixture: a global plugin fixture of that name would
replace tests.support.orchestrator's for every module.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from orchestrator.library.roles import reload_library
from web import errors
from web.api import roles as roles_api


def roles_client() -> FlaskClient:
    reload_library()
    app = Flask(__name__)
    errors.register_error_handlers(app)
    app.register_blueprint(roles_api.bp)
    return app.test_client()
