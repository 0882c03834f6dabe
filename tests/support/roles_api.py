"""`roles_client()`: the roles API as the real app serves it (no database needed).

It is `web.app.create_app` itself, not a bare Flask app with the roles blueprint: a bare app answers with other
shapes than the server does (keys sorted alphabetically instead of in the order the API builds them, no body-size
limit, no NUL refusal, none of web.security's checks). The roles routes never touch the database, so none is
needed. A test module wraps it in its own `client` fixture: a global plugin fixture of that name would replace
tests.support.orchestrator's for every module.
"""

from __future__ import annotations

from flask.testing import FlaskClient

from orchestrator.library.roles import reload_library
from shared.config import get_settings
from web.app import create_app


def roles_client() -> FlaskClient:
    reload_library()
    return create_app(get_settings()).test_client()
