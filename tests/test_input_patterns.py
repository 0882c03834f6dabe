"""Every pattern that validates input matches the whole string: a trailing newline never passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.library import role_files
from shared.ids import is_id, new_id
from web.ui import content_security_policy

pytest_plugins = ("tests.support.orchestrator",)


@pytest.fixture
def client(database_url):
    """The whole app (this module's own: roles_api's `client` plugin fixture must not win)."""
    from tests.support.orchestrator import app_client  # noqa: PLC0415 - a plugin module: imported by pytest first

    return app_client()


@pytest.mark.parametrize("prefix", ["team", "agent", "task", "run", "evt", "msg", "amsg", "round"])
def test_an_id_with_a_trailing_newline_is_not_an_id(prefix):
    ident = new_id(prefix)
    assert is_id(ident, prefix)
    assert not is_id(ident + "\n", prefix)
    assert not is_id(ident + "\n")


def test_a_path_id_with_a_trailing_newline_is_refused(client, crew):
    response = client.get(f"/api/teams/{crew.team_id}%0A")
    assert response.status_code == 404, response.get_json()
    assert "not a valid team id" in response.get_json()["message"]
    page = client.get(f"/teams/{crew.team_id}%0A", headers={"Accept": "text/html"})
    assert page.status_code == 404


def test_a_websocket_cursor_with_a_trailing_newline_is_refused(client, crew):
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade"}
    assert client.get(f"/ws/teams/{crew.team_id}?after=x", headers=upgrade).status_code == 400
    response = client.get(f"/ws/teams/{crew.team_id}?after=0%0A", headers=upgrade)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["message"].startswith("after:")


def test_a_host_with_a_newline_gets_no_websocket_source_in_the_csp():
    assert "ws://127.0.0.1:8700" in content_security_policy("127.0.0.1:8700")
    assert "ws://" not in content_security_policy("127.0.0.1:8700\n")


@pytest.mark.parametrize("field,value", [
    ("role_id", "engineering/tech-lead\nx"),
    ("model", "sonnet\n--x"),
    ("allowed_tools", ["Read\n--x"]),
    ("disallowed_tools", ["Bash\n"" --x"]),
])
def test_body_patterns_match_the_whole_value(client, crew, field, value):
    body = {"name": "Pat", "role_id": "engineering/tech-lead", field: value}
    response = client.post(f"/api/teams/{crew.team_id}/agents", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["message"]


@pytest.mark.parametrize("relative", ["engineering/backend\n.md", "engineering\n/backend.md"])
def test_a_role_file_name_with_a_newline_is_not_a_role_id(relative):
    with pytest.raises(role_files.FileProblem, match="not usable in a role id"):
        role_files.role_id_for(Path(relative))


def test_a_blueprint_file_name_with_a_newline_is_not_a_blueprint_id(tmp_path):
    path = tmp_path / "api-service\n.yaml"
    path.write_text("name: x\n")
    with pytest.raises(role_files.FileProblem, match="not usable as a blueprint id"):
        role_files.parse_blueprint(path)
