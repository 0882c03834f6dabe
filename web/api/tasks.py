"""Tasks, as the user sees and manages them.

GET  /api/teams/<id>/tasks?stage=a,b&assignee=&round_id=&kind=&limit=   highest priority first
POST /api/teams/<id>/tasks     {title, description?, assignee?, kind?, priority?, depends_on?} → 201 (assignee:
                               name or id; default the lead; blocked until every task in depends_on is done) — or
                               {retry_of: task_id, …overrides} to redo a failed task (its dependents wait for it)
GET  /api/tasks/<id>           one task with its runs, dependencies, dependents and review steps
PATCH /api/tasks/<id>          {title?, description?, priority?, stage?, assignee?, message?} edit, move (by-hand
                               transitions only), reassign
POST /api/tasks/<id>/cancel    {reason?} cancel it and its runs
"""

from __future__ import annotations

from typing import Annotated, Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from orchestrator.domain import USER
from orchestrator.library.role_models import TaskKind
from orchestrator.workflows import delegation
from orchestrator.workflows.delegation import TaskSpec
from shared.vocabulary import TASK_STAGES
from web.api._helpers import (
    AgentName,
    Limit,
    LongText,
    Priority,
    ShortText,
    Title,
    csv_list,
    for_team,
    id_of,
    in_transaction,
    reply,
)
from web.errors import ApiError
from web.validation import json_body, path_id, query

bp = Blueprint("tasks", __name__)

StageList = Annotated[str, StringConstraints(max_length=200)]


class NewTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: LongText | None = None
    assignee: AgentName | None = None
    kind: TaskKind | None = None
    priority: Priority | None = None
    retry_of: id_of("task") | None = None
    depends_on: list[id_of("task")] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _title_unless_retry(self) -> NewTask:
        if self.retry_of is None and not self.title:
            raise ValueError("title is required (unless retry_of names a task to redo)")
        return self


class TaskQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: StageList | None = None
    assignee: id_of("agent") | None = None
    round_id: id_of("round") | None = None
    kind: TaskKind | None = None
    limit: Limit = 500


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ShortText = "cancelled by the user"


def stages_of(value: str | None) -> list[str] | None:
    stages = csv_list(value)
    unknown = [s for s in stages or [] if s not in TASK_STAGES]
    if unknown:
        raise ApiError(400, f"stage: unknown {', '.join(unknown)}; one of {', '.join(TASK_STAGES)}")
    return stages


@bp.get("/api/teams/<team_id>/tasks")
def list_tasks(team_id: str):
    path_id(team_id, "team")
    params = query(TaskQuery)
    stages = stages_of(params.stage)
    return reply({"tasks": for_team(team_id, lambda c: delegation.list_tasks(
        c, team_id, stages=stages, assignee=params.assignee, round_id=params.round_id, kind=params.kind,
        limit=params.limit))})


@bp.post("/api/teams/<team_id>/tasks")
def create_task(team_id: str):
    path_id(team_id, "team")
    body = json_body(NewTask)
    if body.retry_of:
        fields = body.model_dump(exclude={"retry_of", "depends_on"})
        return reply(in_transaction(lambda c: delegation.retry(c, team_id, body.retry_of, USER, **fields)), 201)
    spec = TaskSpec(title=body.title or "", description=body.description or "", assignee=body.assignee,
                    kind=body.kind or "generic", priority=body.priority or 0, depends_on=body.depends_on or [])
    return reply(in_transaction(lambda c: delegation.create(c, team_id, [spec])[0]), 201)


@bp.get("/api/tasks/<task_id>")
def get_task(task_id: str):
    path_id(task_id, "task")
    return reply(in_transaction(lambda c: delegation.view(c, task_id)))


@bp.post("/api/tasks/<task_id>/cancel")
def cancel_task(task_id: str):
    path_id(task_id, "task")
    body = json_body(CancelBody)
    return reply(in_transaction(lambda c: delegation.cancel(c, USER, task_id, body.reason or "cancelled by the user")))


class TaskPatch(BaseModel):
    """A user's change to a task: its text and priority, a move (allowed transitions only), a new assignee."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: LongText | None = None
    priority: Priority | None = None
    stage: Literal[TASK_STAGES] | None = None  # type: ignore[valid-type]
    assignee: AgentName | None = None
    message: LongText | None = None  # the feedback when sending work back, the reason when failing or cancelling

    @model_validator(mode="after")
    def _something(self) -> TaskPatch:
        if not self.model_fields_set - {"message"}:
            raise ValueError("nothing to change: give title, description, priority, stage or assignee")
        return self


@bp.patch("/api/tasks/<task_id>")
def change_task(task_id: str):
    path_id(task_id, "task")
    changes = json_body(TaskPatch).model_dump(exclude_none=True)
    return reply(in_transaction(lambda c: delegation.change(c, task_id, changes)))
