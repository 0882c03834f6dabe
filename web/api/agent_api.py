"""The agent API: what agents call (through `gamma-agent` or curl) while they run.

The caller is identified only by `Authorization: Bearer <GAMMA_AGENT_TOKEN>`, the per-run token, which is valid
while its run is running. Ids in bodies never say who the caller is. An agent acts only inside its team; the
lead-only actions (planning, assigning to others, reassigning, cancelling, broadcast, approving work in review,
goal done) answer 403 to members; a member's `done` finishes its task, its `review` asks the lead to review.

GET  /agent/v1/me                          who am I: agent, team, run, current task, workspace paths
POST /agent/v1/tasks                       {title, assignee?, description?, kind?, priority?} → 201
POST /agent/v1/plan                        {tasks: [{title, assignee?, description?, kind?, priority?}, …]} → 201
GET  /agent/v1/tasks?mine=&status=a,b&assignee=NAME
GET  /agent/v1/tasks/<id>
POST /agent/v1/tasks/<id>/status           {status, summary?, files?, reason?, message?}
POST /agent/v1/tasks/<id>/review           {message?, summary?, files?}   ask the lead to review
POST /agent/v1/tasks/<id>/block            {reason}     blocked: review with the blocker, the lead is told
POST /agent/v1/tasks/<id>/assign           {assignee}   (lead)
POST /agent/v1/messages                    {to, message}
POST /agent/v1/inbox/read                  {limit?}     unread messages, marked read (only those returned)
POST /agent/v1/broadcast                   {message}    (lead)
GET  /agent/v1/team                        teammates with live status
GET  /agent/v1/context                     team, workspace, task counts, finished results, unread count
POST /agent/v1/status                      {status, blocker?, task_id?}   a blocker also goes to the lead's inbox
POST /agent/v1/goal-done                   {summary}    (lead) open tasks are listed, never force-completed

Idempotency: the actions (tasks, plan, status/review/block, messages, broadcast, status reports, goal done) take
an optional `Idempotency-Key` header (1–200 printable ASCII characters; `gamma-agent` derives one from the run and
the command with its arguments). Within one run — across its attempts — a repeated key gets the first answer
again (same status and body, plus `Idempotent-Replayed: true`) and changes nothing; the same key with another
request is a 422 naming it. The one place this happens: `acting` below → workflows/agent_actions.py:once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from flask import Blueprint, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from orchestrator.domain import Actor
from orchestrator.library.role_models import TaskKind
from orchestrator.workflows import agent_actions, agent_requests, conversation, delegation, work_product
from orchestrator.workflows.delegation import TaskSpec
from shared.vocabulary import TASK_STAGES
from web.api._helpers import (
    AgentName,
    ChatText,
    Dependencies,
    LongText,
    PlanKey,
    Priority,
    Required,
    Title,
    id_of,
    in_transaction,
    reply,
    shaped,
)
from web.api.repository import DiffQuery
from web.api.tasks import stages_of
from web.errors import ApiError
from web.validation import json_body, path_id, query

bp = Blueprint("agent_api", __name__, url_prefix="/agent/v1")

PLAN_MAX = 50


# ------------------------------------------------------------------------------------------------------- auth


def authenticate(conn: psycopg.Connection) -> Actor:
    return agent_requests.caller(conn, request.headers.get("Authorization", ""))


def as_caller(work: Callable[[psycopg.Connection, Actor], Any]) -> Any:
    return in_transaction(lambda conn: work(conn, authenticate(conn)))


# ----------------------------------------------------------------------------------------------- idempotency

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(rf"^[\x21-\x7e]{{1,{agent_actions.KEY_MAX}}}$")


def idempotency_key() -> str | None:
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    if not _KEY.match(raw):
        raise ApiError(400, f"{IDEMPOTENCY_HEADER} must be 1 to {agent_actions.KEY_MAX} printable ASCII "
                            "characters without spaces")
    return raw


def acting(action: str, body: BaseModel, work: Callable[[psycopg.Connection, Actor], Any], *,
           status: int = 200, target: str | None = None):
    """An agent action: performed once per idempotency key and run, and recorded for a resumed attempt."""
    key = idempotency_key()
    asked = body.model_dump(mode="json")

    def perform(conn: psycopg.Connection) -> agent_actions.Answer:
        actor = authenticate(conn)
        return agent_actions.once(conn, actor, action=action, key=key, target=target, request=asked,
                                  status=status, perform=lambda: shaped(work(conn, actor)))

    answer = in_transaction(perform)
    response = jsonify(answer.body)
    if answer.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response, answer.status


# ----------------------------------------------------------------------------------------------------- bodies


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewTask(Body):
    title: Title
    description: LongText = ""
    assignee: AgentName | None = None
    kind: TaskKind = "generic"
    priority: Priority = 0
    depends_on: Dependencies = []  # ids of the team's tasks (in a plan: also keys of its tasks)
    key: PlanKey | None = None  # in a plan: the name other tasks use in their depends_on

    def spec(self) -> TaskSpec:
        return TaskSpec(**self.model_dump())


class Plan(Body):
    tasks: list[NewTask] = Field(min_length=1, max_length=PLAN_MAX)


class StatusChange(Body):
    # Checked by _known (its message lists the stages); the enum tells the OpenAPI document the same.
    status: Annotated[str, StringConstraints(max_length=40), Field(json_schema_extra={"enum": list(TASK_STAGES)})]
    summary: LongText | None = None
    files: list[Title] | None = Field(default=None, max_length=200)
    reason: LongText | None = None
    message: LongText | None = None

    @field_validator("status")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in TASK_STAGES:
            raise ValueError(f"unknown status {value!r}; one of {', '.join(TASK_STAGES)}")
        return value


class ReviewRequest(Body):
    message: LongText | None = None
    summary: LongText | None = None
    files: list[Title] | None = Field(default=None, max_length=200)


class Blocker(Body):
    reason: Required


class Assignment(Body):
    assignee: AgentName


class DirectMessage(Body):
    to: AgentName
    message: Required
    ask: bool = False  # it wants an answer: an idle recipient is woken to give it


class InboxRead(Body):
    limit: int = Field(default=50, ge=1, le=conversation.INBOX_PAGE_MAX)


class Broadcast(Body):
    message: Required


class StatusReport(Body):
    status: Required
    blocker: LongText | None = None
    task_id: id_of("task") | None = None


class GoalDone(Body):
    summary: ChatText


class TaskQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mine: bool = False
    status: str | None = Field(default=None, max_length=200)
    assignee: AgentName | None = None


# ------------------------------------------------------------------------------------------------------ tasks


@bp.get("/me")
def whoami():
    return reply(as_caller(agent_requests.whoami))


@bp.post("/tasks")
def create_task():
    body = json_body(NewTask)
    return acting(agent_actions.TASK_CREATE, body,
                  lambda c, a: delegation.create(c, a.team_id, [body.spec()], a)[0], status=201)


@bp.post("/plan")
def create_plan():
    body = json_body(Plan)
    specs = [t.spec() for t in body.tasks]
    return acting(agent_actions.PLAN, body,
                  lambda c, a: {"tasks": delegation.create(c, a.team_id, specs, a, plan=True)}, status=201)


@bp.get("/tasks")
def list_tasks():
    params = query(TaskQuery)
    stages = stages_of(params.status)

    return reply(as_caller(lambda c, a: {"tasks": agent_requests.tasks_for(
        c, a, stages=stages, mine=params.mine, assignee=params.assignee)}))


@bp.get("/tasks/<task_id>")
def get_task(task_id: str):
    path_id(task_id, "task")
    return reply(as_caller(lambda c, a: delegation.view(c, task_id, a)))


@bp.get("/tasks/<task_id>/diff")
def task_diff(task_id: str):
    """The task's change as git measured it (`stat=true`: without the unified diff)."""
    path_id(task_id, "task")
    params = query(DiffQuery)
    found = as_caller(lambda conn, actor: work_product.task_diff(conn, task_id, actor))
    return reply({k: v for k, v in found.items() if k != "diff"} if params.stat else found)


@bp.post("/tasks/<task_id>/status")
def change_status(task_id: str):
    path_id(task_id, "task")
    body = json_body(StatusChange)
    return acting(agent_actions.TASK_STATUS, body, lambda c, a: delegation.update_status(
        c, a, task_id, body.status, summary=body.summary, files=body.files, reason=body.reason,
        message=body.message), target=task_id)


@bp.post("/tasks/<task_id>/review")
def request_review(task_id: str):
    path_id(task_id, "task")
    body = json_body(ReviewRequest)
    return acting(agent_actions.TASK_REVIEW, body,
                  lambda c, a: delegation.request_review(c, a, task_id, body.message, summary=body.summary,
                                                         files=body.files), target=task_id)


@bp.post("/tasks/<task_id>/block")
def block_task(task_id: str):
    path_id(task_id, "task")
    body = json_body(Blocker)
    return acting(agent_actions.TASK_BLOCK, body, lambda c, a: delegation.block(c, a, task_id, body.reason),
                  target=task_id)


@bp.post("/tasks/<task_id>/assign")
def assign_task(task_id: str):
    path_id(task_id, "task")
    body = json_body(Assignment)
    return reply(as_caller(lambda c, a: delegation.assign(c, a, task_id, body.assignee)))


# --------------------------------------------------------------------------------------------- messages, team


@bp.post("/messages")
def send_message():
    body = json_body(DirectMessage)
    return acting(agent_actions.MSG_SEND, body,
                  lambda c, a: conversation.send(c, a, body.to, body.message, ask=body.ask), status=201)


@bp.post("/inbox/read")
def read_inbox():
    body = json_body(InboxRead)
    return reply(as_caller(lambda c, a: conversation.read_inbox(c, a.agent_id or "", limit=body.limit)))


@bp.post("/broadcast")
def broadcast():
    body = json_body(Broadcast)
    return acting(agent_actions.MSG_BROADCAST, body, lambda c, a: conversation.broadcast(c, a, body.message),
                  status=201)


@bp.get("/team")
def roster():
    return reply(as_caller(lambda c, a: {"members": agent_requests.roster(c, a)}))


@bp.get("/context")
def context():
    return reply(as_caller(agent_requests.context))


@bp.post("/status")
def report_status():
    body = json_body(StatusReport)
    return acting(agent_actions.STATUS, body, lambda c, a: agent_requests.report_status(
        c, a, body.status, blocker=body.blocker, task_id=body.task_id))


@bp.post("/goal-done")
def goal_done():
    body = json_body(GoalDone)
    return acting(agent_actions.GOAL_DONE, body, lambda c, a: delegation.goal_done(c, a, body.summary))

