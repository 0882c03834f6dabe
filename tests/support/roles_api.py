"""pytest fixture `client`: the roles API on a bare Flask app (no database needed).

Use with `pytest_plugins = ("tests.support.roles_api",)`.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from orchestrator.library.roles import reload_library
from web import errors
from web.api import roles as roles_api


@pytest.fixture
def client() -> FlaskClient:
    reload_library()
    app = Flask(__name__)
    errors.register_error_handlers(app)
    app.register_blueprint(roles_api.bp)
    return app.test_client()
