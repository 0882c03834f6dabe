"""The agent API: what agents call (through `gamma-agent` or curl) while they run.

The caller is identified only by `Authorization: Bearer <GAMMA_AGENT_TOKEN>`, the per-run token, which is valid
while its run is running. Ids in bodies never say who the caller is. An agent acts only inside its team; the
lead-only actions (planning, assigning to others, reassigning, cancelling, broadcast, approving work in review,
goal done) answer 403 to members; a member's `done` submits its task for the lead's review.

GET  /agent/v1/me                          who am I: agent, team, run, current task, workspace paths
POST /agent/v1/tasks                       {title, assignee?, description?, kind?, priority?} → 201
POST /agent/v1/plan                        {tasks: [{title, assignee?, description?, kind?, priority?}, …]} → 201
GET  /agent/v1/tasks?mine=&status=a,b&assignee=NAME
GET  /agent/v1/tasks/<id>
POST /agent/v1/tasks/<id>/status           {status, summary?, files?, reason?, message?}
POST /agent/v1/tasks/<id>/review           {message?}   ask the lead to review
POST /agent/v1/tasks/<id>/block            {reason}     blocked: review with the blocker, the lead is told
POST /agent/v1/tasks/<id>/assign           {assignee}   (lead)
POST /agent/v1/messages                    {to, message}
POST /agent/v1/inbox/read                  {limit?}     unread messages, marked read (only those returned)
POST /agent/v1/broadcast                   {message}    (lead)
GET  /agent/v1/team                        teammates with live status
GET  /agent/v1/context                     team, workspace, task counts, finished results, unread count
POST /agent/v1/status                      {status, blocker?, task_id?}   a blocker also goes to the lead's inbox
POST /agent/v1/goal-done                   {summary}    (lead) open tasks are listed, never force-completed
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from flask import Blueprint, request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from orchestrator import agents, claude_md, messages, runs, tasks, teams, workspace
from orchestrator.common import Actor, Outbox, preview
from orchestrator.role_models import TaskKind
from orchestrator.tasks import TaskSpec
from web.api._helpers import (
    AgentName,
    ChatText,
    LongText,
    Priority,
    Required,
    Title,
    id_of,
    in_transaction,
    reply,
)
from web.api.tasks import stages_of
from web.errors import ApiError
from web.validation import json_body, path_id, query

bp = Blueprint("agent_api", __name__, url_prefix="/agent/v1")

PLAN_MAX = 50


# ------------------------------------------------------------------------------------------------------- auth


def authenticate(conn: psycopg.Connection) -> Actor:
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise ApiError(401, "missing agent token: send 'Authorization: Bearer $GAMMA_AGENT_TOKEN' (every agent run "
                            "has GAMMA_AGENT_TOKEN in its environment)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "malformed Authorization header: expected 'Bearer <GAMMA_AGENT_TOKEN>'")
    found = runs.authenticate(conn, token.strip())
    if found is None:
        raise ApiError(401, "invalid or expired agent token: it belongs to no running run (a token is valid only "
                            "while its run is running)")
    if found["agent_status"] == "archived":
        raise ApiError(403, f"agent {found['agent_name']} is archived")
    team = teams.get(conn, found["team_id"])
    if team["status"] != "active":
        raise ApiError(403, f"team {team['name']} is archived")
    return Actor(team_id=found["team_id"], agent_id=found["agent_id"], name=found["agent_name"],
                 is_lead=found["is_lead"], run_id=found["run_id"], task_id=found["task_id"])


def as_caller(work: Callable[[psycopg.Connection, Actor], Any]) -> Any:
    return in_transaction(lambda conn: work(conn, authenticate(conn)))


# ----------------------------------------------------------------------------------------------------- bodies


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewTask(Body):
    title: Title
    description: LongText = ""
    assignee: AgentName | None = None
    kind: TaskKind = "generic"
    priority: Priority = 0

    def spec(self) -> TaskSpec:
        return TaskSpec(**self.model_dump())


class Plan(Body):
    tasks: list[NewTask] = Field(min_length=1, max_length=PLAN_MAX)


class StatusChange(Body):
    status: Annotated[str, StringConstraints(max_length=40)]
    summary: LongText | None = None
    files: list[Title] | None = Field(default=None, max_length=200)
    reason: LongText | None = None
    message: LongText | None = None

    @field_validator("status")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in tasks.STAGES:
            raise ValueError(f"unknown status {value!r}; one of {', '.join(tasks.STAGES)}")
        return value


class ReviewRequest(Body):
    message: LongText | None = None


class Blocker(Body):
    reason: Required


class Assignment(Body):
    assignee: AgentName


class DirectMessage(Body):
    to: AgentName
    message: Required


class InboxRead(Body):
    limit: int = Field(default=50, ge=1, le=messages.INBOX_PAGE_MAX)


class Broadcast(Body):
    message: Required


class StatusReport(Body):
    status: Required
    blocker: LongText | None = None
    task_id: id_of("task") | None = None


class GoalDone(Body):
    summary: ChatText


class TaskQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    mine: bool = False
    status: str | None = Field(default=None, max_length=200)
    assignee: AgentName | None = None


# ------------------------------------------------------------------------------------------------------ tasks


@bp.get("/me")
def whoami():
    def me(conn: psycopg.Connection, actor: Actor) -> dict[str, Any]:
        team = teams.get(conn, actor.team_id or "")
        task = tasks.view(conn, actor.task_id, actor) if actor.task_id else None
        return {"agent": {"id": actor.agent_id, "name": actor.name, "is_lead": actor.is_lead},
                "team": {"id": team["id"], "name": team["name"]}, "run_id": actor.run_id, "task": task,
                "workspace": workspace.paths(team["id"], actor.agent_id)}

    return reply(as_caller(me))


@bp.post("/tasks")
def create_task():
    body = json_body(NewTask)
    return reply(as_caller(lambda c, a: tasks.create(c, a.team_id, [body.spec()], a)[0]), 201)


@bp.post("/plan")
def create_plan():
    body = json_body(Plan)
    specs = [t.spec() for t in body.tasks]
    return reply({"tasks": as_caller(lambda c, a: tasks.create(c, a.team_id, specs, a, plan=True))}, 201)


@bp.get("/tasks")
def list_tasks():
    params = query(TaskQuery)
    stages = stages_of(params.status)

    def listing(conn: psycopg.Connection, actor: Actor) -> dict[str, Any]:
        assignee = actor.agent_id if params.mine else None
        if params.assignee:
            assignee = agents.resolve(conn, actor.team_id or "", params.assignee)["id"]
        return {"tasks": tasks.list_tasks(conn, actor.team_id or "", stages=stages, assignee=assignee)}

    return reply(as_caller(listing))


@bp.get("/tasks/<task_id>")
def get_task(task_id: str):
    path_id(task_id, "task")
    return reply(as_caller(lambda c, a: tasks.view(c, task_id, a)))


@bp.post("/tasks/<task_id>/status")
def change_status(task_id: str):
    path_id(task_id, "task")
    body = json_body(StatusChange)
    return reply(as_caller(lambda c, a: tasks.update_status(
        c, a, task_id, body.status, summary=body.summary, files=body.files, reason=body.reason,
        message=body.message)))


@bp.post("/tasks/<task_id>/review")
def request_review(task_id: str):
    path_id(task_id, "task")
    body = json_body(ReviewRequest)
    return reply(as_caller(lambda c, a: tasks.request_review(c, a, task_id, body.message)))


@bp.post("/tasks/<task_id>/block")
def block_task(task_id: str):
    path_id(task_id, "task")
    body = json_body(Blocker)
    return reply(as_caller(lambda c, a: tasks.block(c, a, task_id, body.reason)))


@bp.post("/tasks/<task_id>/assign")
def assign_task(task_id: str):
    path_id(task_id, "task")
    body = json_body(Assignment)
    return reply(as_caller(lambda c, a: tasks.assign(c, a, task_id, body.assignee)))


# --------------------------------------------------------------------------------------------- messages, team


@bp.post("/messages")
def send_message():
    body = json_body(DirectMessage)
    return reply(as_caller(lambda c, a: messages.send(c, a, body.to, body.message)), 201)


@bp.post("/inbox/read")
def read_inbox():
    body = json_body(InboxRead)
    return reply(as_caller(lambda c, a: messages.read_inbox(c, a.agent_id or "", limit=body.limit)))


@bp.post("/broadcast")
def broadcast():
    body = json_body(Broadcast)
    return reply(as_caller(lambda c, a: messages.broadcast(c, a, body.message)), 201)


@bp.get("/team")
def roster():
    return reply(as_caller(lambda c, a: {"members": _roster(c, a)}))


def _roster(conn: psycopg.Connection, actor: Actor) -> list[dict[str, Any]]:
    members = claude_md.roster(conn, actor.team_id or "")
    for member in members:
        role = agents.find_role(member["role_id"])
        member["role_name"] = role.name if role is not None else member["role_id"]
        member["you"] = member["id"] == actor.agent_id
    return members


@bp.get("/context")
def context():
    def read(conn: psycopg.Connection, actor: Actor) -> dict[str, Any]:
        team = teams.get(conn, actor.team_id or "")
        counts = {r["stage"]: r["n"] for r in conn.execute(
            "SELECT stage, count(*) AS n FROM tasks WHERE team_id = %s GROUP BY stage", (team["id"],)).fetchall()}
        finished = conn.execute(
            "SELECT t.id, t.title, t.kind, t.stage, a.name AS assignee, t.result FROM tasks t"
            " LEFT JOIN agents a ON a.id = t.assigned_to WHERE t.team_id = %s AND t.stage IN ('review', 'done')"
            " ORDER BY t.completed_at DESC NULLS LAST, t.updated_at DESC LIMIT 20",
            (team["id"],),
        ).fetchall()
        return {"team": {"id": team["id"], "name": team["name"], "description": team["description"]},
                "you": {"id": actor.agent_id, "name": actor.name, "is_lead": actor.is_lead, "run_id": actor.run_id,
                        "task_id": actor.task_id},
                "workspace": workspace.paths(team["id"], actor.agent_id),
                "roster": _roster(conn, actor),
                "task_summary": {stage: counts.get(stage, 0) for stage in tasks.STAGES},
                "finished_tasks": finished,
                "unread_messages": messages.unread_count(conn, actor.agent_id or "")}

    return reply(as_caller(read))


@bp.post("/status")
def report_status():
    body = json_body(StatusReport)

    def report(conn: psycopg.Connection, actor: Actor) -> dict[str, Any]:
        if body.task_id:
            tasks.view(conn, body.task_id, actor)  # exists and is in the caller's team
        box = Outbox()
        lead = agents.lead_of(conn, actor.team_id or "")
        notified = False
        if body.blocker and lead is not None and lead["id"] != actor.agent_id:
            note = f"Status report from {actor.name}: {body.status}. Blocker: {body.blocker}"
            if body.task_id:
                note += f" (task {body.task_id})"
            messages.notify(conn, actor, lead, note, box)
            notified = True
        box.add("agent.status_report", actor.team_id or "", {
            "agent_name": actor.name, "status": preview(body.status, 2000), "blocker": body.blocker,
            "lead_notified": notified}, agent_id=actor.agent_id, task_id=body.task_id, run_id=actor.run_id)
        box.flush(conn)
        return {"ok": True, "lead_notified": notified}

    return reply(as_caller(report))


@bp.post("/goal-done")
def goal_done():
    body = json_body(GoalDone)
    return reply(as_caller(lambda c, a: teams.goal_done(c, a, body.summary)))

