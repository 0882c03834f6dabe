"""`GET /api/openapi.json`: the OpenAPI 3.1 document of the public API (/api/…) and the agent API (/agent/v1/…),
and `GET /api/docs`, a page that renders it.

The document is built from what the server really does: the Flask url_map gives every route and method, the
pydantic models that validate the requests (web.validation.json_body / query) give the bodies and query
parameters, and OPERATIONS below — one entry per (rule, method) — names those models, the success status and
the success shape. A route missing from OPERATIONS is a test failure (tests/test_openapi.py), not a silent gap.
Every error answers {"error", "message"} (web/errors.py), so each operation documents that shape for 4XX and
as its default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, render_template
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from web.api import agent_api, chat, events, repository, roles, runs, tasks, teams
from web.ui import content_security_policy

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"
DOCUMENTED_PREFIXES = ("/api/", "/agent/v1/")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_CONVERTER = re.compile(r"<(?:[a-z_]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


# --------------------------------------------------------------------------------------------- response shapes


def obj(*required: str, **properties: Any) -> dict[str, Any]:
    """An object schema: `properties` described, `required` present; more keys may come (additions are not
    breaking changes)."""
    return {"type": "object", "required": list(required), "properties": properties}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


ANY_OBJECT: dict[str, Any] = {"type": "object"}
STRING = {"type": "string"}
INTEGER = {"type": "integer"}
ID = STRING
IDS = {"type": "array", "items": STRING}

WORKER_LABELS = ("the worker labels (GAMMA_WORKER_LABELS) its runs need, sorted: only a worker with all of them "
                 "takes them. A change applies to runs queued after it; a queued run no live worker can take says "
                 "why in its wait_reason")

# Shapes the responses share (components/schemas, next to the request models).
SHAPES: dict[str, dict[str, Any]] = {
    "Error": {**obj("error", "message", error=STRING, message=STRING),
              "description": "every 4xx/5xx answer: a machine-readable name and a message that says what was wrong"},
    "Event": obj("cursor", "id", "kind", "team_id", "agent_id", "task_id", "run_id", "payload", "created_at",
                 cursor={**INTEGER, "description": "the team's gap-free sequence number"}, id=STRING, kind=STRING,
                 team_id=STRING, agent_id=nullable(STRING), task_id=nullable(STRING), run_id=nullable(STRING),
                 payload=ANY_OBJECT, created_at={**STRING, "format": "date-time"}),
    "Team": obj("id", "name", "status", "members", "worker_labels", id=ID, name=STRING, status=STRING,
                members=array(ref("Agent")), worker_labels={**IDS, "description": WORKER_LABELS}),
    "Agent": obj("id", "team_id", "name", "role_id", "is_lead", "status", "backend", "worker_labels", id=ID,
                 team_id=ID, name=STRING, role_id=STRING, is_lead={"type": "boolean"}, status=STRING, backend=STRING,
                 worker_labels={**IDS, "description": WORKER_LABELS + " (besides its team's)"},
                 doing=nullable({**ANY_OBJECT, "description": "in a team's members only: its running run, else its "
                                 "first queued one — {run_id, state, reason, task_id, task_title, started_at, "
                                 "created_at, cancel_requested_at} — or null"})),
    "Task": obj("id", "team_id", "title", "kind", "stage", "priority", "assigned_to", id=ID, team_id=ID,
                title=STRING, kind=STRING, stage=STRING, priority=INTEGER, assigned_to=nullable(ID)),
    "ChatMessage": obj("id", "team_id", "role", "content", "created_at", "kind", id=ID, team_id=ID, role=STRING,
                       content=STRING, kind=STRING, created_at={**STRING, "format": "date-time"}),
    "Run": obj("id", "team_id", "agent_id", "task_id", "state", "attempt", id=ID, team_id=ID, agent_id=ID,
               task_id=nullable(ID), state=STRING, attempt=INTEGER,
               worker_labels={**IDS, "description": "the worker labels it needs (its team's and agent's when it "
                              "was queued): only a worker with all of them takes it"},
               wait_reason=nullable({**STRING, "description": "while queued: why it does not start yet"})),
}
SHAPES["GlobalEvent"] = {"allOf": [ref("Event"), obj("global_cursor", global_cursor={
    **STRING, "description": "this event's position in the global order, <created_at>|<team_id>|<seq>"})]}


@dataclass(frozen=True)
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    response: dict[str, Any] = field(default_factory=lambda: dict(ANY_OBJECT))
    media_type: str = "application/json"
    description: str = ""


def op(summary: str, **kwargs: Any) -> Operation:
    return Operation(summary, **kwargs)


DIFF = obj("task_id", "branch", "started", "files", "commits", "added", "deleted", task_id=ID, branch=STRING,
           started={"type": "boolean"}, files=array(obj("path", "status", "added", "deleted", "binary",
                                                        path=STRING, status=STRING, added=nullable(INTEGER),
                                                        deleted=nullable(INTEGER), binary={"type": "boolean"})),
           commits=array(ANY_OBJECT), added=INTEGER, deleted=INTEGER,
           diff={**STRING, "description": "the unified diff (left out with stat=true)"})
TEAM = ref("Team")
AGENT = ref("Agent")
TASK = ref("Task")
RUN = ref("Run")

OPERATIONS: dict[tuple[str, str], Operation] = {
    # ----------------------------------------------------------------------------------------------- public
    ("/api/health", "GET"): op("database, migrations and live workers (503 when not ok, same shape)",
                               response=obj("ok", ok={"type": "boolean"})),
    ("/api/vocabulary", "GET"): op("every state, kind and mode the API uses (cacheable: ETag)",
                                   response=obj("event_kinds", event_kinds=array(STRING))),
    ("/api/openapi.json", "GET"): op("this document", response=obj("openapi", "paths", openapi=STRING)),
    ("/api/docs", "GET"): op("a page that renders this document", media_type="text/html", response={}),
    ("/api/teams", "GET"): op("teams, newest first, with members", query=teams.TeamListQuery,
                              response=obj("teams", teams=array(TEAM))),
    ("/api/teams", "POST"): op("create a team (a default lead, given agents, or a blueprint's)", body=teams.NewTeam,
                               status=201, response=TEAM),
    ("/api/teams/<team_id>", "GET"): op("one team with members", response=TEAM),
    ("/api/teams/<team_id>", "PATCH"): op("rename, describe, budget or pin a team", body=teams.TeamPatch,
                                          response=TEAM, description="worker_labels: " + WORKER_LABELS + "."),
    ("/api/teams/<team_id>", "DELETE"): op("archive a team: cancel its work, archive its agents (never undone)",
                                           response=obj("team", team=TEAM)),
    ("/api/teams/<team_id>/stop", "POST"): op("cancel all the team's runs; agents stay stopped until the user writes",
                                              response=obj("team", "cancelled_runs", team=TEAM, cancelled_runs=IDS)),
    ("/api/teams/<team_id>/agents", "POST"): op("add an agent", body=teams.NewAgent, status=201, response=AGENT),
    ("/api/agents/<agent_id>", "GET"): op("one agent", response=AGENT),
    ("/api/agents/<agent_id>", "PATCH"): op("change an agent's settings (applied from its next run)",
                                            body=teams.AgentPatch, response=AGENT,
                                            description="worker_labels: " + WORKER_LABELS + " (with the team's)."),
    ("/api/agents/<agent_id>", "DELETE"): op("archive an agent: cancel its runs and open tasks", response=obj(
        "agent", "cancelled_runs", "cancelled_tasks", agent=AGENT, cancelled_runs=IDS, cancelled_tasks=IDS)),
    ("/api/agents/<agent_id>/reset-session", "POST"): op("forget the CLI session (409 while it runs)",
                                                         response=AGENT),
    ("/api/agents/<agent_id>/stop", "POST"): op("cancel the agent's runs; it stays stopped until given work",
                                                response=obj("agent", "cancelled_runs", agent=AGENT,
                                                             cancelled_runs=IDS)),
    ("/api/agents/<agent_id>/claude-md", "GET"): op("the CLAUDE.md its next run would get",
                                                    response=obj("agent_id", "content", agent_id=ID, content=STRING)),
    ("/api/teams/<team_id>/messages", "POST"): op(
        "say something to the team's lead: stored, a lead run queued, answered at once", body=chat.NewMessage,
        status=202, response=obj("message", "run_id", message=ref("ChatMessage"), run_id=ID)),
    ("/api/teams/<team_id>/messages", "GET"): op("a page of the chat, oldest first", query=chat.PageQuery,
                                                 response=obj("messages", "has_more", "before",
                                                              messages=array(ref("ChatMessage")),
                                                              has_more={"type": "boolean"}, before=nullable(ID))),
    ("/api/teams/<team_id>/tasks", "GET"): op("the team's tasks, highest priority first", query=tasks.TaskQuery,
                                              response=obj("tasks", tasks=array(TASK))),
    ("/api/teams/<team_id>/tasks", "POST"): op("create a task (default assignee: the lead), or retry_of a failed one",
                                               body=tasks.NewTask, status=201, response=TASK),
    ("/api/tasks/<task_id>", "GET"): op("one task with its runs, dependencies, dependents and review steps",
                                        response=TASK),
    ("/api/tasks/<task_id>", "PATCH"): op("edit a task, move it (by-hand transitions only) or reassign it",
                                          body=tasks.TaskPatch, response=TASK),
    ("/api/tasks/<task_id>/cancel", "POST"): op("cancel a task and its runs", body=tasks.CancelBody, response=TASK),
    ("/api/tasks/<task_id>/diff", "GET"): op(
        "the task's change against the main line, as git measured it: files with line counts, commits, the "
        "unified diff (as merged, once it is)", query=repository.DiffQuery, response=DIFF),
    ("/api/teams/<team_id>/repo", "GET"): op(
        "the team's repository: the main line, the tasks' branches and worktrees, disk use",
        response=obj("main", "branches", "disk", main=nullable(STRING), branches=array(ANY_OBJECT),
                     disk=obj("project_bytes", "worktrees_bytes", "total_bytes", project_bytes=INTEGER,
                              worktrees_bytes=INTEGER, total_bytes=INTEGER))),
    ("/api/teams/<team_id>/repo/tree", "GET"): op(
        "one directory at a ref (main, a task's id or branch, a commit)", query=repository.AtRef,
        response=obj("ref", "commit", "path", "entries", ref=STRING, commit=STRING, path=STRING,
                     entries=array(obj("name", "path", "type", name=STRING, path=STRING, type=STRING)))),
    ("/api/teams/<team_id>/repo/file", "GET"): op(
        "a file at a ref: its text up to 1 MB, else binary/too_large and where to download it",
        query=repository.AtRef, response=obj("ref", "path", "size", "binary", "too_large", "text", "download",
                                             ref=STRING, path=STRING, size=INTEGER, binary={"type": "boolean"},
                                             too_large={"type": "boolean"}, text=nullable(STRING),
                                             download=STRING)),
    ("/api/teams/<team_id>/repo/raw", "GET"): op("a file's bytes at a ref, as a download", query=repository.AtRef,
                                                 media_type="application/octet-stream", response={}),
    ("/api/teams/<team_id>/repo/archive", "GET"): op("the whole project at a ref as a .tar.gz, streamed",
                                                     query=repository.RefOnly, media_type="application/gzip",
                                                     response={}),
    ("/api/teams/<team_id>/repo/log", "GET"): op(
        "the commits at a ref, newest first", query=repository.LogQuery,
        response=obj("ref", "commit", "commits", ref=STRING, commit=STRING, commits=array(ANY_OBJECT))),
    ("/api/teams/<team_id>/runs", "GET"): op("the team's runs, newest first (queued ones with their position)",
                                             query=runs.RunQuery, response=obj("runs", runs=array(RUN))),
    ("/api/runs/<run_id>", "GET"): op("one run: prompt, outcome, usage", response=RUN),
    ("/api/runs/<run_id>/lines", "GET"): op("the raw CLI output lines of a run attempt", query=runs.LinesQuery,
                                            response=obj("run_id", "attempt", "stream", "lines", "next_after",
                                                         run_id=ID, attempt=nullable(INTEGER), stream=STRING,
                                                         lines=array(ANY_OBJECT), next_after=INTEGER)),
    ("/api/runs/<run_id>/cancel", "POST"): op("cancel one run", response=obj("run", "cancelled_runs", run=RUN,
                                                                             cancelled_runs=IDS)),
    ("/api/stop", "POST"): op("stop everything: every team's runs; agents stay stopped",
                              response=obj("stopped_teams", "cancelled_runs", stopped_teams=IDS, cancelled_runs=IDS)),
    ("/api/teams/<team_id>/usage", "GET"): op("cost, tokens, turns and time per agent and for the team",
                                              response=obj("team_id", "total", "agents", team_id=ID, total=ANY_OBJECT,
                                                           agents=array(ANY_OBJECT))),
    ("/api/teams/<team_id>/events", "GET"): op(
        "a page of the team's event log, oldest first by cursor", query=events.TeamEventQuery,
        response=obj("events", "next_after", "head", events=array(ref("Event")),
                     next_after={**INTEGER, "description": "pass as after= for the next page"},
                     head={**INTEGER, "description": "the team's last cursor"})),
    ("/api/teams/<team_id>/events.jsonl", "GET"): op(
        "the team's whole event log (filtered) as JSON Lines: one Event object a line, oldest first",
        query=events.TeamStreamQuery, media_type="application/jsonl", response={},
        description="Streamed from one database snapshot in flat memory, whatever the log's length."),
    ("/api/events.jsonl", "GET"): op(
        "the global trace (filtered) as JSON Lines: one GlobalEvent object a line, in the order asked for",
        query=events.GlobalStreamQuery, media_type="application/jsonl", response={},
        description="Every page GET /api/events would give for the same filters, streamed from one database "
                    "snapshot in flat memory."),
    ("/api/events", "GET"): op(
        "the global trace: events of every team", query=events.GlobalEventQuery,
        response=obj("events", "next_after", "order", events=array(ref("GlobalEvent")),
                     next_after=nullable({**STRING, "description": "pass as after= for the next page"}),
                     order={"enum": ["oldest", "newest"]}),
        description=("Ordered by (created_at, team_id, seq) ascending (order=oldest) or descending (order=newest): "
                     "a total order, so paging with after=next_after neither repeats nor skips an event that was "
                     "committed before the first page. created_at is the insert time, so an event committing late "
                     "can land before a cursor already handed out: to follow events live use the WebSocket "
                     "/ws/events, whose per-team cursors are gap-free.")),
    ("/api/roles", "GET"): op("roles grouped by category, optionally searched", query=roles.RoleQuery,
                              response=obj("query", "count", "groups", query=STRING, count=INTEGER,
                                           groups=array(ANY_OBJECT))),
    ("/api/roles/<path:role_id>", "GET"): op("one role with its settings and persona text",
                                             response=obj("id", "category", "name", "body", id=STRING,
                                                          category=STRING, name=STRING, body=STRING)),
    ("/api/blueprints", "GET"): op("every team blueprint", response=obj("blueprints", blueprints=array(ANY_OBJECT))),
    ("/api/blueprints/<blueprint_id>", "GET"): op("one team blueprint", response=obj("id", id=STRING)),
    # ------------------------------------------------------------------------------------------- agent API
    ("/agent/v1/me", "GET"): op("who am I: agent, team, run, current task, workspace paths",
                                response=obj("agent", "team", "run_id", "workspace", agent=ANY_OBJECT,
                                             team=ANY_OBJECT, run_id=ID)),
    ("/agent/v1/tasks", "POST"): op("create a task in my team", body=agent_api.NewTask, status=201, response=TASK),
    ("/agent/v1/plan", "POST"): op("create several tasks as one plan (lead)", body=agent_api.Plan, status=201,
                                   response=obj("tasks", tasks=array(TASK))),
    ("/agent/v1/tasks", "GET"): op("my team's tasks", query=agent_api.TaskQuery,
                                   response=obj("tasks", tasks=array(TASK))),
    ("/agent/v1/tasks/<task_id>", "GET"): op("one task", response=TASK),
    ("/agent/v1/tasks/<task_id>/diff", "GET"): op("a task's change as git measured it (the lead's review)",
                                                  query=repository.DiffQuery, response=DIFF),
    ("/agent/v1/tasks/<task_id>/status", "POST"): op("move a task", body=agent_api.StatusChange),
    ("/agent/v1/tasks/<task_id>/review", "POST"): op("ask the lead to review a task", body=agent_api.ReviewRequest),
    ("/agent/v1/tasks/<task_id>/block", "POST"): op("blocked: to review with the blocker, the lead told",
                                                    body=agent_api.Blocker),
    ("/agent/v1/tasks/<task_id>/assign", "POST"): op("assign a task (lead)", body=agent_api.Assignment),
    ("/agent/v1/messages", "POST"): op("message a teammate", body=agent_api.DirectMessage, status=201),
    ("/agent/v1/inbox/read", "POST"): op("my unread messages, marked read (only those returned)",
                                         body=agent_api.InboxRead),
    ("/agent/v1/broadcast", "POST"): op("message every teammate (lead)", body=agent_api.Broadcast, status=201),
    ("/agent/v1/team", "GET"): op("teammates with live status", response=obj("members", members=array(ANY_OBJECT))),
    ("/agent/v1/context", "GET"): op("team, workspace, task counts, finished results, unread count",
                                     response=obj("team", "you", "workspace", "roster", "task_summary",
                                                  "finished_tasks", "unread_messages", roster=array(ANY_OBJECT),
                                                  finished_tasks=array(ANY_OBJECT))),
    ("/agent/v1/status", "POST"): op("report my status (a blocker also goes to the lead's inbox)",
                                     body=agent_api.StatusReport),
    ("/agent/v1/goal-done", "POST"): op("the goal is met (lead): open tasks are listed, never force-completed",
                                        body=agent_api.GoalDone),
}

SECURITY_SCHEMES = {
    "apiToken": {"type": "http", "scheme": "bearer", "description": (
        "GAMMA_API_TOKEN, required only when it is set (always when the web is bound beyond loopback). Also "
        "accepted as ?token=… (which sets a login cookie) or that cookie.")},
    "agentToken": {"type": "http", "scheme": "bearer", "description": (
        "GAMMA_AGENT_TOKEN: the per-run token an agent's run is given, valid while that run is running.")},
}


# ---------------------------------------------------------------------------------------------- the document


def openapi_path(rule: str) -> str:
    return _CONVERTER.sub(r"{\1}", rule)


def documented_routes(app: Flask) -> list[tuple[str, str]]:
    """Every (rule, method) of the public and agent APIs that the app serves."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(DOCUMENTED_PREFIXES):
            found.update((rule.rule, method) for method in METHODS if method in (rule.methods or ()))
    return sorted(found)


def _component_schemas() -> tuple[dict[Any, Any], dict[str, Any]]:
    """The request models' JSON Schemas as components (pydantic names them; two models of one class name in
    different modules get distinct names)."""
    models = sorted({m for o in OPERATIONS.values() for m in (o.body, o.query) if m is not None},
                    key=lambda m: (m.__module__, m.__qualname__))
    key_map, schema = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    return key_map, {**schema.get("$defs", {}), **SHAPES}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        # An absent parameter is the null of the model: a query string cannot carry a null.
        branches = prop.get("anyOf")
        if branches and {"type": "null"} in branches:
            rest = [b for b in branches if b != {"type": "null"}]
            prop.pop("anyOf")
            prop = {**(rest[0] if len(rest) == 1 else {"anyOf": rest}), **prop}
            if "default" in prop and prop["default"] is None:
                del prop["default"]
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _error_response(what: str) -> dict[str, Any]:
    return {"description": what, "content": {"application/json": {"schema": ref("Error")}}}


def _operation(rule: str, method: str, spec: Operation, key_map: dict[Any, Any]) -> dict[str, Any]:
    agent = rule.startswith("/agent/")
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": STRING}
        for name in _CONVERTER.findall(rule)
    ]
    if spec.query is not None:
        parameters += _query_parameters(spec.query)
    success: dict[str, Any] = {"description": spec.summary}
    if spec.media_type == "application/json":
        success["content"] = {"application/json": {"schema": spec.response}}
    else:
        success["content"] = {spec.media_type: {"schema": spec.response} if spec.response else {}}
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', rule).strip('_')}",
        "summary": spec.summary,
        "tags": ["agent API" if agent else rule.split("/")[2]],
        "parameters": parameters,
        "responses": {
            str(spec.status): success,
            "4XX": _error_response("the request was refused: the message says why"),
            "default": _error_response("an error (503: the database is away; retry)"),
        },
    }
    if spec.description:
        operation["description"] = spec.description
    if agent:
        operation["security"] = [{"agentToken": []}]
    elif rule == "/api/health":
        operation["security"] = []  # never behind the token: load balancers and `gamma doctor` probe it
    if spec.body is not None:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": key_map[(spec.body, "validation")]}},
        }
    return operation


def build_document(app: Flask) -> dict[str, Any]:
    key_map, schemas = _component_schemas()
    paths: dict[str, dict[str, Any]] = {}
    undocumented = []
    for rule, method in documented_routes(app):
        spec = OPERATIONS.get((rule, method))
        if spec is None:
            undocumented.append(f"{method} {rule}")
            continue
        paths.setdefault(openapi_path(rule), {})[method.lower()] = _operation(rule, method, spec, key_map)
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Gamma", "version": "1", "description": (
            "The public API (/api) and the agent API (/agent/v1) of a Gamma web. Every error answers "
            '{"error", "message"}. An unknown query parameter is refused (400) naming it.')},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
        # The public API needs a token only when GAMMA_API_TOKEN is set: none ({}) or the bearer token.
        "security": [{}, {"apiToken": []}],
    }
    if undocumented:
        document["x-undocumented"] = undocumented  # tests/test_openapi.py fails on any
    return document


@bp.get("/api/openapi.json")
def openapi_document():
    # Built once per app: the routes and models only change with the code.
    if "gamma_openapi" not in current_app.extensions:
        current_app.extensions["gamma_openapi"] = build_document(current_app)
    return jsonify(current_app.extensions["gamma_openapi"])


@bp.get("/api/docs")
def docs_page():
    response = current_app.make_response(render_template("api_docs.html", page="api-docs"))
    response.headers["Content-Security-Policy"] = content_security_policy("")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
