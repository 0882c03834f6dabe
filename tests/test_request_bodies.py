"""Every field of every request body, public API and agent API, against hostile values.

For each field (nested ones too): null, a string with a NUL, an over-long string and an over-long list. Each is
answered 4xx with a JSON message that names the field — or, for null only, a 2xx where null documents "clear"
or "the default" — never a 5xx, and never PostgreSQL's wording. Deeply nested JSON is refused on every route
before it is parsed, and a NUL in a query parameter or a path segment never reaches the database.
"""

from __future__ import annotations

import copy
import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from shared import db
from tests.support.crew import bearer, finish, make_crew, start
from web.api import agent_api, chat, tasks, teams

pytest_plugins = ("tests.support.orchestrator",)


@pytest.fixture(scope="module")
def client(database_url):
    """The whole app, one for the module (this module's own: roles_api's `client` plugin fixture must not win)."""
    from tests.support.orchestrator import app_client  # noqa: PLC0415 - a plugin module: imported by pytest first

    return app_client()

LEAD_ROLE = "engineering/tech-lead"
MEMBER_ROLE = "engineering/backend-architect"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # formatted with the world's ids
    model: type[BaseModel]
    base: dict[str, Any]  # a valid body: the field under test is the only thing wrong
    caller: str = "user"  # "user" (public API), "lead" or "alice" (agent API, with that run's token)


ROUTES = [
    Route("POST", "/api/teams", teams.NewTeam, {
        "name": "T", "lead": {"name": "Boss", "role_id": LEAD_ROLE},
        "members": [{"name": "Dev", "role_id": MEMBER_ROLE}]}),
    Route("PATCH", "/api/teams/{team}", teams.TeamPatch, {"name": "Renamed"}),
    Route("POST", "/api/teams/{team}/agents", teams.NewAgent, {"name": "Carol", "role_id": MEMBER_ROLE}),
    Route("PATCH", "/api/agents/{bob}", teams.AgentPatch, {"specialization": "css"}),
    Route("POST", "/api/teams/{team}/messages", chat.NewMessage, {"message": "hi"}),
    Route("POST", "/api/teams/{team}/tasks", tasks.NewTask, {"title": "A task"}),
    Route("POST", "/api/tasks/{task}/cancel", tasks.CancelBody, {"reason": "no"}),
    Route("PATCH", "/api/tasks/{waiting_task}", tasks.TaskPatch, {"title": "Renamed task", "priority": 3}),
    Route("POST", "/agent/v1/tasks", agent_api.NewTask, {"title": "A task", "assignee": "Bob"}, "lead"),
    Route("POST", "/agent/v1/plan", agent_api.Plan, {"tasks": [{"title": "A task"}]}, "lead"),
    Route("POST", "/agent/v1/tasks/{task}/status", agent_api.StatusChange, {"status": "done", "summary": "ok"},
          "alice"),
    Route("POST", "/agent/v1/tasks/{task}/review", agent_api.ReviewRequest, {"message": "look"}, "alice"),
    Route("POST", "/agent/v1/tasks/{task}/block", agent_api.Blocker, {"reason": "stuck"}, "alice"),
    Route("POST", "/agent/v1/tasks/{waiting_task}/assign", agent_api.Assignment, {"assignee": "Alice"}, "lead"),
    Route("POST", "/agent/v1/messages", agent_api.DirectMessage, {"to": "Alice", "message": "hi"}, "lead"),
    Route("POST", "/agent/v1/inbox/read", agent_api.InboxRead, {"limit": 5}, "lead"),
    Route("POST", "/agent/v1/broadcast", agent_api.Broadcast, {"message": "hi all"}, "lead"),
    Route("POST", "/agent/v1/status", agent_api.StatusReport, {"status": "working", "task_id": "{task}"}, "alice"),
    Route("POST", "/agent/v1/goal-done", agent_api.GoalDone, {"summary": "done"}, "lead"),
]

# Write routes that take no body (anything sent is ignored).
NO_BODY = {
    ("DELETE", "/api/teams/<team_id>"), ("POST", "/api/teams/<team_id>/stop"), ("DELETE", "/api/agents/<agent_id>"),
    ("POST", "/api/agents/<agent_id>/reset-session"), ("POST", "/api/agents/<agent_id>/stop"),
    ("POST", "/api/runs/<run_id>/cancel"), ("POST", "/api/stop"),
}

# Write routes walked elsewhere: git's own protocol (not JSON), and a merge check's report, which needs a running
# check's token (both in tests/test_git_http.py, its refusals included).
NOT_JSON = {("POST", "/agent/git/<team_id>/project/<service>"), ("POST", "/agent/checks/<check_id>/result")}

# A valid element for each list field, so that only the list's length is wrong.
LIST_ITEMS = {
    "allowed_tools": lambda i: "Read",
    "disallowed_tools": lambda i: "Read",
    "files": lambda i: f"f{i}.py",
    "members": lambda i: {"name": f"M{i}", "role_id": MEMBER_ROLE},
    "tasks": lambda i: {"title": f"t{i}"},
}
OVERSIZE_LIST = 1000
OVERSIZE_STRING = 300_001  # longer than any text field accepts
POSTGRES_WORDING = ("violates", "constraint", "null value", "psycopg", "DETAIL", "byte sequence", "relation ",
                    "_check", "_fkey", "SQL")


def build_world(client, route: Route | None) -> dict[str, Any]:
    """A crew whose lead runs (its chat run) and whose Alice runs her task; ids and tokens to call with.

    A public-API route that names no task gets the crew alone (most cases: the runs are the slow part)."""
    crew = make_crew()
    if isinstance(route, Route) and route.caller == "user" and "task}" not in route.path:
        return {"ids": {"team": crew.team_id, "bob": crew.bob["id"]}, "headers": {"user": {}}}
    from orchestrator.workflows import conversation as messages  # noqa: PLC0415

    with db.transaction() as conn:
        messages.post_user_message(conn, crew.team_id, "Ship it")
    _, lead_token = start(crew.lead["id"])
    task = client.post("/agent/v1/tasks", json={"title": "Alice's task", "assignee": "Alice"},
                       headers=bearer(lead_token)).get_json()
    _, alice_token = start(crew.alice["id"])
    waiting = client.post("/agent/v1/tasks", json={"title": "Bob's task", "assignee": "Bob"},
                          headers=bearer(lead_token)).get_json()
    return {
        "ids": {"team": crew.team_id, "bob": crew.bob["id"], "task": task["id"], "waiting_task": waiting["id"]},
        "headers": {"user": {}, "lead": bearer(lead_token), "alice": bearer(alice_token)},
    }


@pytest.fixture
def world(client, request):
    """A fresh world for one test."""
    route = getattr(request.node, "callspec", None) and request.node.callspec.params.get("route")
    built = build_world(client, route)
    yield built
    settle(built["ids"]["team"])


@pytest.fixture(scope="module")
def refusing_worlds(database_url) -> Iterator[dict[str, dict[str, Any]]]:
    """One world per route, shared by the cases that must be refused by validation (a NUL, an over-long string
    or list): a refused request writes nothing, so the next case finds the world as the first did. (A case that
    was accepted fails its test anyway.) Building a world per case made this module take minutes."""
    worlds: dict[str, dict[str, Any]] = {}
    yield worlds
    for built in worlds.values():
        settle(built["ids"]["team"])


def settle(team_id: str) -> None:
    """End the team's runs and drop their queue messages: hundreds of these worlds must not leave work for the
    workers that later test modules start."""
    from orchestrator.workflows import stopping  # noqa: PLC0415

    with db.transaction() as conn:
        running = conn.execute("SELECT * FROM runs WHERE team_id = %s AND state = 'running'", (team_id,)).fetchall()
    for run in running:
        finish(run, "cancelled", text=None)
    with db.transaction() as conn:
        stopping.stop_team(conn, team_id)
        conn.execute("DELETE FROM dramatiq.queue WHERE message->'args'->>0 IN"
                     " (SELECT id FROM runs WHERE team_id = %s)", (team_id,))


# ------------------------------------------------------------------------------------------ walking the models


def _nested(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model inside a field's type (`M`, `M | None`, `list[M]`) and whether it is a list of them."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _nested(arg)
            if found[0] is not None:
                return found
        return None, False
    if origin is list:
        inner, _ = _nested(typing.get_args(annotation)[0])
        return inner, True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def field_paths(model: type[BaseModel], prefix: tuple = ()) -> Iterator[tuple]:
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        yield path
        inner, is_list = _nested(info.annotation)
        if inner is not None:
            yield from field_paths(inner, (*path, 0) if is_list else path)


def with_value(base: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    target: Any = body
    for step in path[:-1]:
        if isinstance(step, str) and step not in target:
            target[step] = {}
        target = target[step]
    target[path[-1]] = value
    return body


def hostile_values(path: tuple) -> dict[str, Any]:
    leaf = path[-1]
    item = LIST_ITEMS.get(leaf, lambda i: "x")
    return {
        "null": None,
        "nul": "bad\x00value",
        "long_string": "x" * OVERSIZE_STRING,
        "long_list": [item(i) for i in range(OVERSIZE_LIST)],
    }


CASES = [
    pytest.param(route, path, variant, id=f"{route.method} {route.path} {'.'.join(map(str, path))} {variant}")
    for route in ROUTES
    for path in field_paths(route.model)
    for variant in ("null", "nul", "long_string", "long_list")
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def call(client, world, route: Route, body: Any = None, data: str | None = None):
    path = route.path.format(**world["ids"])
    headers = world["headers"][route.caller]
    if data is not None:
        return client.open(path, method=route.method, data=data, content_type="application/json", headers=headers)
    return client.open(path, method=route.method, json=body, headers=headers)


# ------------------------------------------------------------------------------------------------------ tests


def test_every_write_route_with_a_body_is_walked(client):
    walked = {(r.method, r.path) for r in ROUTES}
    for rule in client.application.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & {"POST", "PATCH", "PUT"}):
            template = rule.rule.replace("<team_id>", "{team}").replace("<task_id>", "{task}")
            template = template.replace("<agent_id>", "{bob}")
            templates = {template, template.replace("{task}", "{waiting_task}")}
            assert any((method, t) in walked for t in templates) or (method, rule.rule) in NO_BODY | NOT_JSON, \
                f"{method} {rule.rule} not walked"


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
def test_the_valid_bodies_are_accepted(client, world, route):
    response = call(client, world, route, _fill(route.base, world["ids"]))
    assert response.status_code < 300, response.get_json()


def refusing_world(client, worlds: dict[str, dict[str, Any]], route: Route) -> dict[str, Any]:
    key = f"{route.method} {route.path}"
    if key not in worlds:
        worlds[key] = build_world(client, route)
    return worlds[key]


@pytest.mark.parametrize(("route", "path", "variant"), CASES)
def test_a_hostile_field_value_is_refused_naming_the_field(client, request, refusing_worlds, route, path, variant):
    # null may be accepted ("clear", "the default"), which changes the world: it gets a fresh one
    fresh = variant == "null"
    world = request.getfixturevalue("world") if fresh else refusing_world(client, refusing_worlds, route)
    value = hostile_values(path)[variant]
    body = with_value(_fill(route.base, world["ids"]), path, value)
    response = call(client, world, route, body)
    status = response.status_code
    answer = response.get_json()
    assert status < 500, (status, answer)
    assert isinstance(answer, dict), response.get_data(as_text=True)[:300]
    if status < 300:
        assert variant == "null", f"{'.'.join(map(str, path))}: {variant} was accepted"
        return
    assert 400 <= status < 500 and answer["error"] and answer["message"], answer
    message = answer["message"]
    if variant == "nul":
        assert status == 400 and "NUL" in message, (status, message)
    assert str(path[-1]) in message, f"the message does not name {path[-1]!r}: {message[:300]}"
    assert not any(word in message for word in POSTGRES_WORDING), message[:300]
    assert len(message) < 2000, "the message never echoes a huge value back"


def _deep(levels: int, opener: str, closer: str) -> str:
    return opener * levels + "1" + closer * levels


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
@pytest.mark.parametrize("shape", ["array", "object"])
def test_deeply_nested_json_is_refused_before_parsing(client, refusing_worlds, route, shape):
    world = refusing_world(client, refusing_worlds, route)
    data = _deep(100_000, "[", "]") if shape == "array" else _deep(100_000, '{"a":', "}")
    response = call(client, world, route, data=data)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "nested" in response.get_json()["message"]


def test_nesting_up_to_the_limit_is_parsed_and_strings_do_not_count(client, world):
    route = ROUTES[4]  # POST /api/teams/{team}/messages
    text = "[" * 5000 + "{" * 5000  # brackets inside a string are text, not nesting
    ok = call(client, world, route, data=json.dumps({"message": text, "x": _deep(60, "[", "]")}))
    assert ok.status_code == 422 and "x" in ok.get_json()["message"], ok.get_json()  # parsed: x is unknown
    assert call(client, world, route, data=json.dumps({"message": text})).status_code == 202


@pytest.mark.parametrize("url", [
    "/api/teams?include_archived=%00",
    "/api/teams?x%00y=1",
    "/api/roles?q=a%00b",
    "/api/roles/engineering%00/tech-lead",
    "/api/teams/team_%00",
    "/api/teams/{team}/tasks?stage=%00",
    "/api/teams/{team}/events?kind=a%00",
    "/agent/v1/tasks?status=%00",
    "/agent/v1/tasks?assignee=Bob%00",
])
def test_a_nul_in_a_query_parameter_or_path_segment_is_refused(client, world, url):
    response = client.get(url.format(**world["ids"]), headers=world["headers"]["lead"])
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    message = response.get_json()["message"]
    assert "NUL" in message, message
    name = url.split("?", 1)[1].split("=")[0].replace("%00", "\x00") if "?" in url else "path"
    assert name.split("\x00")[0] in message, message


def test_null_clears_an_agent_setting_and_is_refused_where_nothing_can_be_cleared(client, world):
    bob = world["ids"]["bob"]
    set_ = client.patch(f"/api/agents/{bob}", json={"model": "sonnet", "max_turns": 5, "budget_usd": 2.0,
                                                    "allowed_tools": ["Read"]})
    assert set_.status_code == 200, set_.get_json()
    cleared = client.patch(f"/api/agents/{bob}", json={"model": None, "max_turns": None, "budget_usd": None,
                                                       "allowed_tools": None, "permission_mode": None})
    assert cleared.status_code == 200, cleared.get_json()
    agent = cleared.get_json()
    assert agent["model"] is None and agent["max_turns"] is None and agent["budget_usd"] is None
    assert agent["allowed_tools"] is None
    for field in ("emoji", "backend", "name", "role_id", "specialization"):
        refused = client.patch(f"/api/agents/{bob}", json={field: None})
        assert refused.status_code == 422, refused.get_json()
        assert refused.get_json()["message"].startswith(f"{field}:"), refused.get_json()


@pytest.mark.parametrize(("sql", "status"), [
    ("UPDATE agents SET emoji = NULL WHERE id = %s", 422),  # NOT NULL
    ("UPDATE agents SET max_turns = -1 WHERE id = %s", 422),  # CHECK
    ("UPDATE agents SET name = 'Alice' WHERE id = %s", 409),  # unique name per team
])
def test_the_database_safety_net_keeps_postgres_text_in_the_log(world, caplog, sql, status):
    from web.api._helpers import in_transaction  # noqa: PLC0415
    from web.errors import ApiError  # noqa: PLC0415

    with pytest.raises(ApiError) as refused:
        in_transaction(lambda conn: conn.execute(sql, (world["ids"]["bob"],)))
    assert refused.value.status == status
    assert not any(word in refused.value.message for word in (*POSTGRES_WORDING, "agents")), refused.value.message
    assert "agents" in caplog.text, "the details are in the server log"
