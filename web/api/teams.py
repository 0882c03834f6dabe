"""Teams and their agents.

GET    /api/teams?include_archived=        teams (newest first) with members
POST   /api/teams                           {name, description?, lead?, members?, blueprint_id?, budget_usd?,
                                             check_command?, worker_labels?} → 201
GET    /api/teams/<id>                      one team with members
PATCH  /api/teams/<id>                      {name?, description?, budget_usd?, check_command?, worker_labels?}
                                            (check_command: a shell command run on each accepted task's merged
                                            result, on a worker; the main line moves only if it passes.
                                            worker_labels: its runs and checks go only to workers with all of
                                            them, GAMMA_WORKER_LABELS; runs queued before a change keep theirs)
DELETE /api/teams/<id>                      archive: cancel its work, archive its agents (never undone)
POST   /api/teams/<id>/stop                 cancel all its runs; agents stay stopped until the user writes again
POST   /api/teams/<id>/agents               add an agent → 201
GET    /api/agents/<id>                     one agent
PATCH  /api/agents/<id>                     change settings (applied from its next run; worker_labels, which
                                            its runs need besides the team's, from its runs queued after it)
DELETE /api/agents/<id>                     archive: cancel its runs and open tasks
POST   /api/agents/<id>/reset-session       forget the CLI session (409 while it runs)
POST   /api/agents/<id>/stop                cancel its runs; it stays stopped until given work by the user
GET    /api/agents/<id>/claude-md           the CLAUDE.md its next run would get
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.domain import AgentSpec
from orchestrator.workflows import agent_context, stopping, team_setup, views
from web.api._helpers import (
    AgentName,
    BackendName,
    Budget,
    CheckCommand,
    Description,
    Emoji,
    ModelName,
    PermissionMode,
    RoleId,
    ShortText,
    TeamName,
    ToolList,
    WorkerLabels,
    in_transaction,
    reply,
)
from web.errors import ApiError
from web.validation import json_body, path_id, query

bp = Blueprint("teams", __name__)


class AgentSettings(BaseModel):
    """An agent's settings. On create, null (or absent) means the default: the role's emoji, GAMMA_BACKEND, and
    for model, max_turns, permission_mode, tools and budget the team-wide defaults. On PATCH, null clears those
    last ones back to the defaults; NOT_NULL fields always hold a value."""

    model_config = ConfigDict(extra="forbid")
    NOT_NULL: ClassVar[frozenset[str]] = frozenset({"name", "role_id", "specialization", "emoji", "backend",
                                                    "worker_labels"})

    specialization: ShortText = ""
    emoji: Emoji | None = None
    backend: BackendName | None = None
    model: ModelName | None = None
    max_turns: Annotated[int, Field(ge=1, le=10_000, strict=True)] | None = None  # strict: `true` is no count
    permission_mode: PermissionMode | None = None
    allowed_tools: ToolList | None = None
    disallowed_tools: ToolList | None = None
    budget_usd: Budget | None = None
    worker_labels: WorkerLabels | None = None  # besides the team's

    def spec(self, *, is_lead: bool) -> AgentSpec:
        return AgentSpec(**{**self.model_dump(), "is_lead": is_lead})


class AgentIn(AgentSettings):
    name: AgentName
    role_id: RoleId


class LeadIn(AgentSettings):
    name: AgentName = "Lead"
    role_id: RoleId = team_setup.DEFAULT_LEAD.role_id


class NewAgent(AgentIn):
    is_lead: bool = False


class NewTeam(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TeamName
    description: Description = ""
    budget_usd: Budget | None = None
    check_command: CheckCommand | None = None
    worker_labels: WorkerLabels = []
    blueprint_id: AgentName | None = None
    lead: LeadIn | None = None
    members: list[AgentIn] = Field(default=[], max_length=39, description="a team has at most 40 agents")

    @model_validator(mode="after")
    def _one_source(self) -> NewTeam:
        if self.blueprint_id and (self.lead or self.members):
            raise ValueError("give either blueprint_id or lead/members, not both")
        return self


class TeamPatch(BaseModel):
    """null budget_usd removes the team's budget."""

    model_config = ConfigDict(extra="forbid")
    NOT_NULL: ClassVar[frozenset[str]] = frozenset({"name", "description", "worker_labels"})

    name: TeamName | None = None
    description: Description | None = None
    budget_usd: Budget | None = None
    check_command: CheckCommand | None = None  # null: accepting a task merges it without a check
    worker_labels: WorkerLabels | None = None  # every run of the team needs them (and its agent's own)


class AgentPatch(AgentSettings):
    name: AgentName | None = None
    role_id: RoleId | None = None


class TeamListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_archived: bool = False


def _changes(model: TeamPatch | AgentPatch) -> dict[str, Any]:
    changes = model.model_dump(exclude_unset=True)
    if not changes:
        raise ApiError(422, "nothing to change: give at least one field")
    for key in sorted(model.NOT_NULL & changes.keys()):
        if changes[key] is None:
            raise ApiError(422, f"{key}: may not be null (it always has a value; null clears only optional settings)")
    return changes


def _team_specs(body: NewTeam) -> list[AgentSpec] | None:
    """The agents the request names (a blueprint's are expanded by team setup); None for the default lead."""
    if body.blueprint_id or (body.lead is None and not body.members):
        return None
    lead = (body.lead or LeadIn()).spec(is_lead=True)
    return [lead, *(member.spec(is_lead=False) for member in body.members)]


# ------------------------------------------------------------------------------------------------------ teams


@bp.get("/api/teams")
def list_teams():
    params = query(TeamListQuery)
    return reply({"teams": in_transaction(lambda c: views.team_list(c, include_archived=params.include_archived))})


@bp.post("/api/teams")
def create_team():
    body = json_body(NewTeam)
    specs = _team_specs(body)
    team = in_transaction(lambda c: team_setup.create_team(
        c, name=body.name, description=body.description, members=specs, blueprint_id=body.blueprint_id,
        budget_usd=body.budget_usd, check_command=body.check_command, labels=body.worker_labels))
    return reply(team, 201)


@bp.get("/api/teams/<team_id>")
def get_team(team_id: str):
    path_id(team_id, "team")
    return reply(in_transaction(lambda c: views.team(c, team_id)))


@bp.patch("/api/teams/<team_id>")
def update_team(team_id: str):
    path_id(team_id, "team")
    changes = _changes(json_body(TeamPatch))
    return reply(in_transaction(lambda c: team_setup.update_team(c, team_id, changes)))


@bp.delete("/api/teams/<team_id>")
def archive_team(team_id: str):
    path_id(team_id, "team")
    return reply(in_transaction(lambda c: stopping.archive_team(c, team_id)))


@bp.post("/api/teams/<team_id>/stop")
def stop_team(team_id: str):
    path_id(team_id, "team")
    return reply(in_transaction(lambda c: stopping.stop_team(c, team_id)))


# ----------------------------------------------------------------------------------------------------- agents


@bp.post("/api/teams/<team_id>/agents")
def create_agent(team_id: str):
    path_id(team_id, "team")
    body = json_body(NewAgent)
    spec = body.spec(is_lead=body.is_lead)
    return reply(in_transaction(lambda c: team_setup.create_agent(c, team_id, spec)), 201)


@bp.get("/api/agents/<agent_id>")
def get_agent(agent_id: str):
    path_id(agent_id, "agent")
    return reply(in_transaction(lambda c: views.agent_by_id(c, agent_id)))


@bp.patch("/api/agents/<agent_id>")
def update_agent(agent_id: str):
    path_id(agent_id, "agent")
    changes = _changes(json_body(AgentPatch))
    return reply(in_transaction(lambda c: team_setup.update_agent(c, agent_id, changes)))


@bp.delete("/api/agents/<agent_id>")
def archive_agent(agent_id: str):
    path_id(agent_id, "agent")
    return reply(in_transaction(lambda c: stopping.archive_agent(c, agent_id)))


@bp.post("/api/agents/<agent_id>/reset-session")
def reset_session(agent_id: str):
    path_id(agent_id, "agent")
    return reply(in_transaction(lambda c: team_setup.reset_session(c, agent_id)))


@bp.post("/api/agents/<agent_id>/stop")
def stop_agent(agent_id: str):
    path_id(agent_id, "agent")
    return reply(in_transaction(lambda c: stopping.stop_agent(c, agent_id)))


@bp.get("/api/agents/<agent_id>/claude-md")
def preview_claude_md(agent_id: str):
    path_id(agent_id, "agent")
    return reply({"agent_id": agent_id, "content": in_transaction(lambda c: agent_context.render(c, agent_id))})
